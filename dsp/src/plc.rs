//! Packet-loss concealment for waveform codecs, after ITU-T G.711 Appendix I.
//!
//! The concealer keeps 48.75 ms of history. When a frame is lost it estimates the pitch
//! period (5–15 ms) by normalised cross-correlation of the last 20 ms against earlier
//! history, then synthesises the lost audio by repeating the last pitch period — the last two
//! after 10 ms, three after 20 ms — with a quarter-period overlap-add at every wrap. After the
//! first 10 ms the output is attenuated linearly by 20 % per 10 ms, so it is silent from 60 ms
//! on. The first good frame after a gap is cross-faded in from the continued synthetic signal
//! over a quarter period plus 4 ms per extra 10 ms of erasure (at most 10 ms).
//!
//! Works at any rate from 8 to 48 kHz (lengths scale with the rate); no allocation after
//! [`Plc::new`].

/// Errors of [`Plc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlcError {
    /// The sample rate is outside 8–48 kHz.
    #[error("unsupported PLC sample rate {rate} Hz (8000..=48000)")]
    UnsupportedRate {
        /// The rate asked for.
        rate: u32,
    },
}

/// Normalised cross-correlation of two equally long segments (0 if either is silent).
pub(crate) fn norm_xcorr(a: &[i16], b: &[i16]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (i64::from(x), i64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0 || bb == 0 {
        return 0.0;
    }
    (ab as f64 / ((aa as f64) * (bb as f64)).sqrt()) as f32
}

/// Best pitch period in `pmin..=pmax` for the last `win` samples of `x` against the window
/// `p` samples earlier: coarse search with `step`, then refinement around the best lag.
pub(crate) fn pitch_search(x: &[i16], win: usize, pmin: usize, pmax: usize, step: usize) -> (usize, f32) {
    let n = x.len();
    let pmax = pmax.min(n.saturating_sub(win));
    if pmax < pmin || win == 0 {
        return (pmin.max(1), 0.0);
    }
    let corr = |p: usize| norm_xcorr(&x[n - win..], &x[n - win - p..n - p]);
    let mut best = (pmin, f32::MIN);
    let mut p = pmin;
    while p <= pmax {
        let c = corr(p);
        if c > best.1 {
            best = (p, c);
        }
        p += step.max(1);
    }
    if step > 1 {
        let lo = best.0.saturating_sub(step - 1).max(pmin);
        let hi = (best.0 + step - 1).min(pmax);
        for p in lo..=hi {
            let c = corr(p);
            if c > best.1 {
                best = (p, c);
            }
        }
    }
    best
}

/// G.711 Appendix I–style concealer for one channel of 16-bit PCM.
#[derive(Debug, Clone)]
pub struct Plc {
    rate: u32,
    /// Linear history, newest sample last.
    hist: Vec<i16>,
    /// Snapshot of the history taken when an erasure starts (the pitch buffer).
    pitch_buf: Vec<i16>,
    /// Synthetic continuation for the cross-fade into the first good frame.
    fade: Vec<i16>,
    pmin: usize,
    pmax: usize,
    corr_win: usize,
    step: usize,
    ms10: usize,
    /// Samples concealed in the current erasure (0 = not concealing).
    erased: usize,
    period: usize,
    periods: usize,
    /// Read position in `pitch_buf`.
    pos: usize,
}

impl Plc {
    /// Starts loading the history every good frame updates into the cache.
    #[inline]
    pub fn prefetch(&self) {
        crate::simd::prefetch_slice(&self.hist);
    }

    /// A concealer for `rate` Hz audio.
    pub fn new(rate: u32) -> Result<Self, PlcError> {
        if !(8000..=48_000).contains(&rate) {
            return Err(PlcError::UnsupportedRate { rate });
        }
        let ms = |x: u32| (rate * x / 1000) as usize;
        let hist_len = (rate as usize * 39) / 800; // 48.75 ms
        Ok(Self {
            rate,
            hist: vec![0; hist_len],
            pitch_buf: vec![0; hist_len],
            fade: vec![0; ms(10)],
            pmin: ms(5),
            pmax: ms(15),
            corr_win: ms(20),
            step: (rate / 8000) as usize,
            ms10: ms(10),
            erased: 0,
            period: ms(5),
            periods: 1,
            pos: 0,
        })
    }

    /// Sample rate this concealer runs at.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Whether the last frame was concealed.
    pub fn is_concealing(&self) -> bool {
        self.erased > 0
    }

    /// Pitch period chosen for the current (or last) erasure, in samples.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Feeds a correctly received frame. If it follows an erasure its start is cross-faded in
    /// place from the continued concealment signal.
    pub fn good_frame(&mut self, frame: &mut [i16]) {
        if self.erased > 0 {
            let extra_10ms = (self.erased / self.ms10.max(1)).saturating_sub(1);
            let len = (self.period / 4 + extra_10ms * self.ms10 * 4 / 10)
                .min(self.fade.len())
                .min(frame.len());
            let mut fade = std::mem::take(&mut self.fade);
            self.synthesize(&mut fade[..len]);
            for (i, (f, s)) in frame.iter_mut().zip(&fade[..len]).enumerate() {
                let w = (i + 1) as f32 / (len + 1) as f32;
                *f = (f32::from(*s) * (1.0 - w) + f32::from(*f) * w) as i16;
            }
            self.fade = fade;
            self.erased = 0;
        }
        self.push_history(frame);
    }

    /// Synthesises one lost frame into `out`.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.erased == 0 {
            self.start_erasure();
        }
        self.synthesize(out);
        self.push_history(out);
    }

    fn push_history(&mut self, x: &[i16]) {
        let h = self.hist.len();
        if x.len() >= h {
            self.hist.copy_from_slice(&x[x.len() - h..]);
        } else {
            self.hist.copy_within(x.len().., 0);
            self.hist[h - x.len()..].copy_from_slice(x);
        }
    }

    fn start_erasure(&mut self) {
        let (p, _) = pitch_search(&self.hist, self.corr_win, self.pmin, self.pmax, self.step);
        self.period = p;
        self.periods = 1;
        self.pitch_buf.copy_from_slice(&self.hist);
        // Continue one period back: the sample after the last one is (about) this one.
        self.pos = self.pitch_buf.len() - p;
    }

    fn gain_at(&self, t: usize) -> f32 {
        if t < self.ms10 {
            return 1.0;
        }
        (1.0 - 0.2 * (t - self.ms10) as f32 / self.ms10 as f32).max(0.0)
    }

    fn synthesize(&mut self, out: &mut [i16]) {
        let n = self.pitch_buf.len();
        let q = (self.period / 4).max(1);
        for o in out.iter_mut() {
            // 2 periods after 10 ms, 3 after 20 ms (the window grows backwards, so `pos` stays valid).
            let want = (1 + self.erased / self.ms10).min(3);
            if want > self.periods && want * self.period + q <= n {
                self.periods = want;
            }
            let span = self.periods * self.period;
            let g = self.gain_at(self.erased);
            let mut s = f32::from(self.pitch_buf[self.pos]);
            let to_end = n - self.pos;
            if to_end <= q && self.pos >= span {
                // Overlap-add towards the sample one span back, where playback wraps to.
                let a = (q + 1 - to_end) as f32 / (q + 1) as f32;
                s = s * (1.0 - a) + a * f32::from(self.pitch_buf[self.pos - span]);
            }
            *o = (s * g) as i16;
            self.pos += 1;
            if self.pos >= n {
                self.pos = n - span;
            }
            self.erased += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, f: f32, n: usize, amp: f32) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin()) as i16)
            .collect()
    }

    fn peak(x: &[i16]) -> i32 {
        x.iter().map(|&s| i32::from(s).abs()).max().unwrap_or(0)
    }

    #[test]
    fn rejects_bad_rates() {
        assert_eq!(Plc::new(4000).unwrap_err(), PlcError::UnsupportedRate { rate: 4000 });
        assert!(Plc::new(96_000).is_err());
    }

    #[test]
    fn finds_pitch_of_periodic_signal() {
        // 125 Hz at 8 kHz: period 64 samples.
        let x = tone(8000, 125.0, 390, 8000.0);
        let (p, c) = pitch_search(&x, 160, 40, 120, 1);
        assert_eq!(p, 64);
        assert!(c > 0.99);
    }

    #[test]
    fn concealment_attenuates_and_mutes_after_60ms() {
        let mut plc = Plc::new(8000).unwrap();
        let sig = tone(8000, 125.0, 8000, 10_000.0);
        for chunk in sig[..1600].chunks(160) {
            let mut f = chunk.to_vec();
            plc.good_frame(&mut f);
        }
        // Conceal 100 ms in 10 ms pieces and look at each piece's peak.
        let mut peaks = Vec::new();
        for _ in 0..10 {
            let mut f = [0i16; 80];
            plc.conceal(&mut f);
            peaks.push(peak(&f));
        }
        assert!(plc.is_concealing());
        assert!(peaks[0] > 9_000, "first 10 ms at full level: {peaks:?}");
        for w in peaks[1..6].windows(2) {
            assert!(w[1] < w[0], "attenuating: {peaks:?}");
        }
        // 50–60 ms at most 20 % of full level, silent from 60 ms on.
        assert!(peaks[5] <= 2_100, "{peaks:?}");
        assert!(peaks[6..].iter().all(|&p| p == 0), "{peaks:?}");
    }

    #[test]
    fn concealment_continues_the_waveform() {
        let mut plc = Plc::new(8000).unwrap();
        let sig = tone(8000, 125.0, 2000, 10_000.0);
        for chunk in sig[..1600].chunks(160) {
            let mut f = chunk.to_vec();
            plc.good_frame(&mut f);
        }
        let mut f = [0i16; 80];
        plc.conceal(&mut f);
        // A pure tone is continued almost exactly for the first 10 ms.
        let err: i64 = f
            .iter()
            .zip(&sig[1600..1680])
            .map(|(&a, &b)| (i64::from(a) - i64::from(b)).abs())
            .sum();
        assert!(err / 80 < 500, "mean abs error {}", err / 80);
    }

    #[test]
    fn good_frame_after_gap_is_cross_faded() {
        let mut plc = Plc::new(8000).unwrap();
        let sig = tone(8000, 125.0, 8000, 10_000.0);
        for chunk in sig[..1600].chunks(160) {
            let mut f = chunk.to_vec();
            plc.good_frame(&mut f);
        }
        let mut lost = [0i16; 160];
        plc.conceal(&mut lost);
        let mut f = vec![0i16; 160];
        // A silent frame after the gap: the start is the fading concealment, not an abrupt zero.
        plc.good_frame(&mut f);
        assert!(!plc.is_concealing());
        assert!(peak(&f[..8]) > 1_000);
        assert_eq!(peak(&f[80..]), 0);
    }

    #[test]
    fn odd_sizes_never_panic() {
        for rate in [8000, 11_025, 16_000, 44_100, 48_000] {
            let mut plc = Plc::new(rate).unwrap();
            for n in [0usize, 1, 7, 160, 961, 5000] {
                let mut f = vec![1234i16; n];
                plc.conceal(&mut f);
                plc.good_frame(&mut f);
                plc.conceal(&mut f);
            }
        }
    }
}
