//! Echo awareness for the VAD: a delay-tracked energy gate, so the bot does not hear itself.
//!
//! We know what we send (the *far* signal, `push_far`) and what comes back (the *near* signal,
//! `push_near` or [`EchoGate::near_frame`]). Both are cut into 10 ms frames on one sample clock:
//! far frame `k` is what we sent while near frame `k` arrived. The gate
//!
//! 1. keeps 2.5 s of per-frame log energies of both sides;
//! 2. every 100 ms cross-correlates the near and far log-energy envelopes over the last 2 s for
//!    delays 0–500 ms, and adopts the best delay when the correlation is clear;
//! 3. tracks the echo return loss (ERL, near minus delayed far level, following its lower
//!    envelope so double talk does not inflate it);
//! 4. calls a near frame *echo* when the far end was active at the echo delay and the near level
//!    is explained by the delayed far level plus the ERL within a margin. A near talker over the
//!    echo raises the near level above that prediction (double talk), so the frame is not echo.
//!
//! Not an echo canceller (no NLMS): it gates, it does not subtract. Sans-IO, fixed buffers.

use std::collections::VecDeque;

/// Frames of envelope history (2.56 s).
const HIST: usize = 256;
/// Correlation window in frames (2 s).
const CORR_WIN: usize = 200;
/// Largest echo delay searched, in frames (500 ms).
const MAX_DELAY: usize = 50;
/// Frames between delay searches (100 ms).
const SEARCH_EVERY: u64 = 10;
/// Correlation needed to adopt a delay.
const MIN_CORR: f32 = 0.5;
/// Correlation gain needed to move from the delay in use to another one.
const SWITCH_MARGIN: f32 = 0.15;
/// Far-end level (dBFS) below which the far end counts as silent.
const FAR_ACTIVE_DB: f32 = -50.0;
/// How far (dB) above the predicted echo level a near frame may be and still count as echo.
const MARGIN_DB: f32 = 4.0;
/// Level used for silence / missing frames.
const SILENT_DB: f32 = -100.0;

/// Errors of the echo module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EchoError {
    /// The gate runs at 8000 or 16000 Hz only.
    #[error("unsupported sample rate {rate} Hz; the echo gate takes 8000 or 16000 Hz")]
    UnsupportedRate {
        /// The rate asked for.
        rate: u32,
    },
}

/// The gate's verdict on one near frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoDecision {
    /// First near sample of the frame (counted from the first near sample pushed).
    pub sample: u64,
    /// The frame's energy is explained by our own delayed outgoing audio.
    pub echo: bool,
    /// Near frame level, dBFS.
    pub near_db: f32,
    /// Predicted echo level (delayed far level + ERL), dBFS; [`f32::NEG_INFINITY`] while no
    /// delay is known.
    pub predicted_echo_db: f32,
}

/// Splits a sample stream into frames and returns each frame's level.
#[derive(Debug, Clone)]
struct Framer {
    buf: Vec<i16>,
    fill: usize,
}

impl Framer {
    fn new(n: usize) -> Self {
        Framer {
            buf: vec![0; n],
            fill: 0,
        }
    }

    /// Feeds samples; calls `f` with the level of each completed frame.
    fn push(&mut self, mut samples: &[i16], mut f: impl FnMut(f32)) {
        let n = self.buf.len();
        while !samples.is_empty() {
            let take = (n - self.fill).min(samples.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&samples[..take]);
            self.fill += take;
            samples = &samples[take..];
            if self.fill == n {
                self.fill = 0;
                f(level_db(&self.buf));
            }
        }
    }
}

/// RMS level of a frame in dBFS (floored at −100).
fn level_db(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return SILENT_DB;
    }
    let ms = frame.iter().map(|&s| f32::from(s) * f32::from(s)).sum::<f32>() / frame.len() as f32;
    (10.0 * (ms / (32768.0 * 32768.0)).max(1e-10).log10()).max(SILENT_DB)
}

/// Dot product of two equally long slices, in eight independent lanes (vectorisable).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Delay-tracked energy gate (see the module docs).
#[derive(Debug, Clone)]
pub struct EchoGate {
    frame_len: usize,
    far: Framer,
    near: Framer,
    far_db: [f32; HIST],
    near_db: [f32; HIST],
    far_frames: u64,
    near_frames: u64,
    delay: Option<usize>,
    erl_db: Option<f32>,
    decisions: VecDeque<EchoDecision>,
}

impl EchoGate {
    /// Starts loading the framing buffers into the cache (the rest of the gate is inline).
    #[inline]
    pub fn prefetch(&self) {
        crate::simd::prefetch_slice(&self.far.buf);
        crate::simd::prefetch_slice(&self.near.buf);
    }

    /// A gate for `rate` Hz (8000 or 16000).
    pub fn new(rate: u32) -> Result<Self, EchoError> {
        let frame_len = match rate {
            8000 => 80,
            16000 => 160,
            _ => return Err(EchoError::UnsupportedRate { rate }),
        };
        Ok(EchoGate {
            frame_len,
            far: Framer::new(frame_len),
            near: Framer::new(frame_len),
            far_db: [SILENT_DB; HIST],
            near_db: [SILENT_DB; HIST],
            far_frames: 0,
            near_frames: 0,
            delay: None,
            erl_db: None,
            decisions: VecDeque::with_capacity(16),
        })
    }

    /// Samples per 10 ms frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The echo delay in use, in ms (10 ms steps), once one has been found.
    pub fn delay_ms(&self) -> Option<u32> {
        self.delay.map(|d| d as u32 * 10)
    }

    /// The echo return loss estimate in dB (near level minus far level; negative = attenuated).
    pub fn erl_db(&self) -> Option<f32> {
        self.erl_db
    }

    /// Our outgoing audio, as sent (any chunk size).
    pub fn push_far(&mut self, samples: &[i16]) {
        let (ring, count) = (&mut self.far_db, &mut self.far_frames);
        self.far.push(samples, |db| {
            ring[(*count % HIST as u64) as usize] = db;
            *count += 1;
        });
    }

    /// Received audio (any chunk size); one [`EchoDecision`] per completed frame is queued for
    /// [`EchoGate::poll_decision`]. Use either this or [`EchoGate::near_frame`], not both.
    pub fn push_near(&mut self, samples: &[i16]) {
        let mut levels = [0.0f32; 64];
        let mut rest = samples;
        while !rest.is_empty() {
            // Bounded batches so no allocation is needed for any chunk size.
            let take = rest.len().min(levels.len() * self.frame_len);
            let mut n = 0;
            self.near.push(&rest[..take], |db| {
                levels[n] = db;
                n += 1;
            });
            for &db in &levels[..n] {
                let d = self.decide(db);
                self.decisions.push_back(d);
            }
            rest = &rest[take..];
        }
    }

    /// Next queued decision from [`EchoGate::push_near`].
    pub fn poll_decision(&mut self) -> Option<EchoDecision> {
        self.decisions.pop_front()
    }

    /// One complete received frame (`frame_len()` samples); returns whether it is our echo.
    /// Fits [`crate::vad::VadDetector::push_with_veto`].
    pub fn near_frame(&mut self, frame: &[i16]) -> bool {
        self.decide(level_db(frame)).echo
    }

    fn far_at(&self, k: i64) -> f32 {
        if k < 0 || k as u64 >= self.far_frames || (k as u64) + (HIST as u64) < self.far_frames + 1 {
            return SILENT_DB;
        }
        self.far_db[(k as u64 % HIST as u64) as usize]
    }

    fn near_at(&self, k: u64) -> f32 {
        self.near_db[(k % HIST as u64) as usize]
    }

    /// Records near frame `near_frames` with level `db` and judges it.
    fn decide(&mut self, db: f32) -> EchoDecision {
        let k = self.near_frames;
        self.near_db[(k % HIST as u64) as usize] = db;
        self.near_frames += 1;
        if self.near_frames.is_multiple_of(SEARCH_EVERY) && self.near_frames >= CORR_WIN as u64 {
            self.search_delay();
        }
        let mut decision = EchoDecision {
            sample: k * self.frame_len as u64,
            echo: false,
            near_db: db,
            predicted_echo_db: f32::NEG_INFINITY,
        };
        let Some(d) = self.delay else {
            return decision;
        };
        let c = k as i64 - d as i64;
        let far = self.far_at(c).max(self.far_at(c - 1)).max(self.far_at(c + 1));
        if far < FAR_ACTIVE_DB {
            return decision;
        }
        let diff = db - self.far_at(c);
        let erl = match self.erl_db {
            None => diff,
            Some(e) => {
                // Lower-envelope follower: quick down, slow up (double talk only raises `diff`).
                let a = if diff < e { 0.1 } else { 0.01 };
                e + a * (diff - e)
            }
        };
        self.erl_db = Some(erl);
        let predicted = far + erl;
        decision.predicted_echo_db = predicted;
        decision.echo = db <= predicted + MARGIN_DB;
        decision
    }

    /// Cross-correlates the near and far log-energy envelopes over the last [`CORR_WIN`]
    /// frames for delays 0..=[`MAX_DELAY`] and adopts a clear winner.
    ///
    /// Both envelopes are copied out of their rings into contiguous windows once; each delay's
    /// far mean and variance then come from prefix sums and its covariance is one dot product
    /// against the mean-removed near window (whose sum is zero, so the far mean drops out).
    fn search_delay(&mut self) {
        let end = self.near_frames; // exclusive
        let start = end - CORR_WIN as u64;
        let mut near = [0.0f32; CORR_WIN];
        for (i, v) in near.iter_mut().enumerate() {
            *v = self.near_at(start + i as u64);
        }
        let nm = near.iter().sum::<f32>() / CORR_WIN as f32;
        let mut nv = 0.0f32;
        for v in near.iter_mut() {
            *v -= nm;
            nv += *v * *v;
        }
        if nv < 1.0 {
            return;
        }
        // far[j] = far level at frame start - MAX_DELAY + j; delay d uses far[MAX_DELAY - d..][..CORR_WIN].
        let mut far = [0.0f32; CORR_WIN + MAX_DELAY];
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for (j, v) in far.iter_mut().enumerate() {
            *v = self.far_at(start as i64 - MAX_DELAY as i64 + j as i64);
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        // A flat far envelope (the bot silent over the whole span) has no variance at any delay.
        if (hi - lo) * (hi - lo) * (CORR_WIN as f32) < 1.0 {
            return;
        }
        let mut sum = [0.0f64; CORR_WIN + MAX_DELAY + 1];
        let mut sq = [0.0f64; CORR_WIN + MAX_DELAY + 1];
        for (j, &v) in far.iter().enumerate() {
            sum[j + 1] = sum[j] + f64::from(v);
            sq[j + 1] = sq[j] + f64::from(v) * f64::from(v);
        }
        let near_sum: f32 = near.iter().sum();
        let mut best = (MIN_CORR, None);
        let mut current = f32::NEG_INFINITY;
        for d in 0..=MAX_DELAY {
            let a = MAX_DELAY - d;
            let b = a + CORR_WIN;
            let fm = (sum[b] - sum[a]) / CORR_WIN as f64;
            let fv = ((sq[b] - sq[a]) - CORR_WIN as f64 * fm * fm) as f32;
            if fv < 1.0 {
                continue;
            }
            let cov = dot(&far[a..b], &near) - fm as f32 * near_sum;
            let r = cov / (nv * fv).sqrt();
            if self.delay == Some(d) {
                current = r;
            }
            if r > best.0 {
                best = (r, Some(d));
            }
        }
        // Hysteresis: a delay in use is only replaced by a clearly better one (double talk
        // blurs the correlation without moving the echo path).
        if let (r, Some(d)) = best {
            if self.delay == Some(d) || r < current + SWITCH_MARGIN {
                return;
            }
            self.erl_db = None;
            self.delay = Some(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like test signal: harmonic bursts with a syllabic envelope and pauses.
    fn talker(n: usize, f0: f32, seed: u32, level: f32) -> Vec<i16> {
        let mut out = vec![0i16; n];
        let mut s = seed;
        let mut on_until = 0usize;
        let mut off_until = 0usize;
        for (i, o) in out.iter_mut().enumerate() {
            if i >= on_until && i >= off_until {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let on = 800 + (s >> 20) as usize % 2400;
                let off = 400 + (s >> 8) as usize % 3000;
                on_until = i + on;
                off_until = on_until + off;
            }
            if i < on_until {
                let t = i as f32 / 8000.0;
                let env = (std::f32::consts::PI * (i + on_until) as f32 / 2000.0).sin().abs();
                let v: f32 = (1..6)
                    .map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32)
                    .sum();
                *o = (v * env * level) as i16;
            }
        }
        out
    }

    fn run() -> (usize, usize, EchoGate) {
        let n = 8000 * 12;
        let far = talker(n, 130.0, 11, 6000.0);
        let delay = 960; // 120 ms
        let g = 10f32.powf(-12.0 / 20.0);
        let mut near = vec![0i16; n];
        for i in 0..n {
            let echo = if i >= delay { f32::from(far[i - delay]) * g } else { 0.0 };
            near[i] = (echo + ((i * 7919 % 13) as f32 - 6.0)) as i16;
        }
        let mut gate = EchoGate::new(8000).unwrap();
        let (mut echo_frames, mut active_frames) = (0, 0);
        // Push in 20 ms packets, far first (we send before we hear it back).
        for (fc, nc) in far.chunks(160).zip(near.chunks(160)) {
            gate.push_far(fc);
            gate.push_near(nc);
        }
        while let Some(d) = gate.poll_decision() {
            // Judge after 3 s of convergence, on frames where something is audible.
            if d.sample >= 24000 && d.near_db > -45.0 {
                active_frames += 1;
                if d.echo {
                    echo_frames += 1;
                }
            }
        }
        (echo_frames, active_frames, gate)
    }

    #[test]
    fn pure_echo_is_gated() {
        let (echo, active, gate) = run();
        assert_eq!(gate.delay_ms(), Some(120));
        let erl = gate.erl_db().unwrap();
        assert!((-16.0..=-8.0).contains(&erl), "ERL {erl}");
        assert!(active > 200, "{active}");
        assert!(echo as f32 >= 0.9 * active as f32, "{echo}/{active} echo frames");
    }

    #[test]
    fn double_talk_is_not_gated() {
        // Echo alone for 4 s (the gate converges), then a near talker joins; count only frames
        // where the near talker is at least 3 dB above the echo.
        let n = 8000 * 12;
        let mut local = talker(n, 210.0, 77, 6000.0);
        local[..32000].fill(0);
        let mut gate = EchoGate::new(8000).unwrap();
        let far = talker(n, 130.0, 11, 6000.0);
        let g = 10f32.powf(-12.0 / 20.0);
        let mut talk_frames = 0;
        let mut talk_echo = 0;
        for k in 0..n / 80 {
            let fr = &far[k * 80..k * 80 + 80];
            gate.push_far(fr);
            let near: Vec<i16> = (k * 80..k * 80 + 80)
                .map(|i| {
                    let echo = if i >= 960 { f32::from(far[i - 960]) * g } else { 0.0 };
                    (echo + f32::from(local[i])) as i16
                })
                .collect();
            let is_echo = gate.near_frame(&near);
            let echo_only: Vec<i16> = (k * 80..k * 80 + 80)
                .map(|i| {
                    if i >= 960 {
                        (f32::from(far[i - 960]) * g) as i16
                    } else {
                        0
                    }
                })
                .collect();
            // Double talk proper: the near talker is audible and not buried under the echo.
            let local_db = level_db(&local[k * 80..k * 80 + 80]);
            let talking = local_db > -40.0 && local_db > level_db(&echo_only) + 3.0;
            if k >= 400 && talking {
                talk_frames += 1;
                talk_echo += usize::from(is_echo);
            }
        }
        assert_eq!(gate.delay_ms(), Some(120));
        assert!(talk_frames > 200, "{talk_frames}");
        assert!(
            (talk_echo as f32) < 0.1 * talk_frames as f32,
            "{talk_echo}/{talk_frames} near-talker frames gated"
        );
    }

    /// The delay search as first written (every delay's mean, variance and covariance summed
    /// straight from the rings): the optimised search must pick the same delay.
    fn reference_best_delay(g: &EchoGate) -> Option<(usize, f32)> {
        let end = g.near_frames;
        let start = end - CORR_WIN as u64;
        let nm = (start..end).map(|k| g.near_at(k)).sum::<f32>() / CORR_WIN as f32;
        let nv: f32 = (start..end).map(|k| (g.near_at(k) - nm).powi(2)).sum();
        if nv < 1.0 {
            return None;
        }
        let mut best: (f32, Option<usize>) = (MIN_CORR, None);
        for d in 0..=MAX_DELAY {
            let f = |k: u64| g.far_at(k as i64 - d as i64);
            let fm = (start..end).map(f).sum::<f32>() / CORR_WIN as f32;
            let fv: f32 = (start..end).map(|k| (f(k) - fm).powi(2)).sum();
            if fv < 1.0 {
                continue;
            }
            let cov: f32 = (start..end).map(|k| (f(k) - fm) * (g.near_at(k) - nm)).sum();
            let r = cov / (nv * fv).sqrt();
            if r > best.0 {
                best = (r, Some(d));
            }
        }
        best.1.map(|d| (d, best.0))
    }

    #[test]
    fn optimised_delay_search_matches_the_reference() {
        for (seed, delay_frames) in [(1u32, 3usize), (7, 12), (11, 0), (23, 37), (42, 50)] {
            let far = talker(8000 * 4, 140.0 + seed as f32, seed, 6000.0);
            let mut near = vec![0i16; far.len()];
            for (i, n) in near.iter_mut().enumerate().skip(delay_frames * 80) {
                *n = far[i - delay_frames * 80] / 4;
            }
            let other = talker(far.len(), 210.0, seed + 100, 3000.0);
            for (k, n) in near.iter_mut().enumerate() {
                if (k / 8000) % 2 == 1 {
                    *n = n.saturating_add(other[k]);
                }
            }
            let mut g = EchoGate::new(8000).unwrap();
            for (f, n) in far.chunks(160).zip(near.chunks(160)) {
                g.push_far(f);
                g.push_near(n);
                while g.poll_decision().is_some() {}
                if g.near_frames >= CORR_WIN as u64 && g.near_frames.is_multiple_of(SEARCH_EVERY) {
                    let before = g.delay;
                    let mut probe = g.clone();
                    probe.delay = None;
                    probe.search_delay();
                    let want = reference_best_delay(&g);
                    assert_eq!(probe.delay, want.map(|w| w.0), "seed {seed} frame {}", g.near_frames);
                    assert_eq!(g.delay, before);
                }
            }
        }
    }

    #[test]
    fn silence_and_odd_chunks_never_panic() {
        let mut gate = EchoGate::new(16000).unwrap();
        for n in [0usize, 1, 7, 159, 160, 161, 10_000] {
            gate.push_far(&vec![0; n]);
            gate.push_near(&vec![i16::MIN; n]);
        }
        while gate.poll_decision().is_some() {}
        assert_eq!(gate.delay_ms(), None);
        assert!(EchoGate::new(44100).is_err());
    }
}
