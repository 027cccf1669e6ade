//! Per-frame VAD features, computed on the 0–4 kHz band at 8 kHz (wideband input is band-limited
//! and decimated first, so 8 and 16 kHz streams share this code path and the classifier).
//!
//! Every 10 ms frame (80 samples at 8 kHz) yields a base vector of [`NBASE`] features:
//! band energies over a minimum-statistics noise floor (16 bands), the 300–3750 Hz total SNR,
//! level, band flatness, spectral flux, harmonicity (normalised autocorrelation peak over the
//! 60–400 Hz pitch range, on a 4 kHz copy), spectral peak concentration (pure tones), energy
//! modulation over 200 ms, centroid, the noise-floor level and the pitch lag. On top of those, a
//! small temporal context (fast and slow averages, recent maxima) is kept. All buffers are sized
//! at construction; nothing allocates per frame.

use crate::simd::{Isa, vad as kernels};
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Samples per 10 ms frame at 8 kHz.
pub const FRAME: usize = 80;
/// FFT analysis window (32 ms at 8 kHz).
const WIN: usize = 256;
const NBINS: usize = WIN / 2 + 1;
/// Number of analysis bands.
pub const NBANDS: usize = 16;
/// Band edges in FFT bins (31.25 Hz per bin): ~94 Hz … 3750 Hz, roughly mel-spaced.
const BAND_EDGES: [usize; NBANDS + 1] = [3, 6, 9, 12, 15, 19, 24, 29, 35, 42, 50, 59, 69, 80, 92, 105, 120];
/// First band of the "speech band" total (281 Hz).
const SPEECH_BAND_FIRST: usize = 2;
/// Features per frame.
pub const NBASE: usize = 26;
/// Temporal-context features.
pub const NCTX: usize = 12;
/// Model input length: base(newest) + base(centre) + context.
pub const NINPUT: usize = 64;
/// Frames of look-ahead: the probability for frame `n` is produced once frame `n + 2` is in.
pub const LOOKAHEAD: usize = 2;

/// Minimum statistics: sub-window length (frames) and number of sub-windows (1.5 s in total).
const SUBWIN: usize = 25;
const NSUB: usize = 6;
/// Frames of the energy-modulation window (200 ms).
const MOD_LEN: usize = 20;
/// Frames of the recent-maximum window (100 ms).
const MAX_LEN: usize = 10;
/// Frames of the voicing-persistence window (1 s).
const VOICED_LEN: usize = 100;
/// Harmonicity above which a frame counts as voiced for the persistence feature.
const VOICED_THR: f32 = 0.6;
/// Pitch analysis at 4 kHz: segment length and lag range (60–400 Hz).
const P_SEG: usize = 80;
const P_LAG_MIN: usize = 10;
const P_LAG_MAX: usize = 66;
const P_NLAGS: usize = P_LAG_MAX - P_LAG_MIN + 1;
const P_BUF: usize = P_SEG + P_LAG_MAX;
/// Taps of the half-band decimation filters.
const DEC_TAPS: usize = 31;
/// Energy floor added before logarithms (−100 dBFS).
const EPS: f32 = 1e-10;
/// FFT bin indices as floats (for the spectral centroid).
const BIN_INDEX: [f32; NBINS] = {
    let mut a = [0.0f32; NBINS];
    let mut k = 0;
    while k < NBINS {
        a[k] = k as f32;
        k += 1;
    }
    a
};
/// 10·log10(2), to turn log2 into decibels.
const DB_PER_LOG2: f32 = 3.010_3;

/// Fast log2 (5th-order polynomial on the mantissa, error < 4e-5); the training tool uses this
/// very code through the feature dump, so its approximation is part of the model's definition.
#[inline]
pub(crate) fn fast_log2(x: f32) -> f32 {
    let x = if x > 1e-30 { x } else { 1e-30 };
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let p =
        ((((0.043_429_51 * m - 0.404_872_58) * m + 1.593_92) * m - 3.492_525_6) * m + 5.046_901_7) * m - 2.786_821_1;
    e as f32 + p
}

/// Decibels of a power value, with the [`EPS`] floor.
#[inline]
fn db(p: f32) -> f32 {
    DB_PER_LOG2 * fast_log2(p + EPS)
}

/// Decimate-by-two FIR low-pass (windowed sinc, cut-off at 0.92 of the output Nyquist).
///
/// Polyphase: the history and the incoming block are stored split into their even- and
/// odd-indexed samples, and only the kept outputs are computed, each as the taps in ascending
/// order (so every output is the same sum as a per-output dot product over the full-rate input).
#[derive(Debug, Clone)]
pub(crate) struct Decimator2 {
    isa: Isa,
    taps: [f32; DEC_TAPS],
    /// Even- and odd-indexed samples of the history (`DEC_TAPS - 1` samples, i.e. `DEC_HIST`
    /// per phase) followed by the current input block.
    even: Vec<f32>,
    odd: Vec<f32>,
}

/// History samples per polyphase branch of [`Decimator2`].
const DEC_HIST: usize = (DEC_TAPS - 1) / 2;
const _: () = assert!(DEC_TAPS % 2 == 1, "odd number of taps");

impl Decimator2 {
    /// A decimator taking input blocks of at most `max_in` samples, using the kernels of `isa`.
    pub(crate) fn new(isa: Isa, max_in: usize) -> Self {
        let mut taps = [0.0f32; DEC_TAPS];
        let c = (DEC_TAPS / 2) as f64;
        let fc = 0.23f64; // cut-off as a fraction of the input rate
        let mut sum = 0.0;
        for (k, t) in taps.iter_mut().enumerate() {
            let n = k as f64 - c;
            let sinc = if n == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * n).sin() / (std::f64::consts::PI * n)
            };
            let w = 0.54 - 0.46 * (2.0 * std::f64::consts::PI * k as f64 / (DEC_TAPS - 1) as f64).cos();
            *t = (sinc * w) as f32;
            sum += f64::from(*t);
        }
        for t in &mut taps {
            *t = (f64::from(*t) / sum) as f32;
        }
        let len = DEC_HIST + max_in / 2;
        Decimator2 {
            isa,
            taps,
            even: vec![0.0; len],
            odd: vec![0.0; len],
        }
    }

    /// Filters `input` (even length, at most `max_in`) into `out` (half as long).
    pub(crate) fn process(&mut self, input: &[f32], out: &mut [f32]) {
        let m = (input.len() / 2).min(self.even.len() - DEC_HIST).min(out.len());
        for ((e, o), pair) in self.even[DEC_HIST..DEC_HIST + m]
            .iter_mut()
            .zip(&mut self.odd[DEC_HIST..DEC_HIST + m])
            .zip(input.chunks_exact(2))
        {
            *e = pair[0];
            *o = pair[1];
        }
        // Output i is Σ_k taps[k] · x[k + 1 + 2i] over the history-prefixed input x.
        kernels::poly_decimate(
            self.isa,
            &self.taps,
            &self.even[..DEC_HIST + m],
            &self.odd[..DEC_HIST + m],
            &mut out[..m],
        );
        self.even.copy_within(m..m + DEC_HIST, 0);
        self.odd.copy_within(m..m + DEC_HIST, 0);
    }

    /// Clears the filter history.
    pub(crate) fn reset(&mut self) {
        self.even.fill(0.0);
        self.odd.fill(0.0);
    }
}

/// Minimum-statistics noise-floor tracker for one band (power domain).
#[derive(Debug, Clone, Copy)]
struct MinTrack {
    smooth: f32,
    cur_min: f32,
    subs: [f32; NSUB],
    idx: usize,
    count: usize,
    init: bool,
}

impl MinTrack {
    const fn new() -> Self {
        MinTrack {
            smooth: 0.0,
            cur_min: f32::INFINITY,
            subs: [f32::INFINITY; NSUB],
            idx: 0,
            count: 0,
            init: false,
        }
    }

    /// Feeds one frame's band power and returns the floor estimate.
    fn update(&mut self, e: f32) -> f32 {
        if self.init {
            self.smooth = 0.8 * self.smooth + 0.2 * e;
        } else {
            self.smooth = e;
            self.init = true;
        }
        self.cur_min = self.cur_min.min(self.smooth);
        self.count += 1;
        let mut floor = self.cur_min;
        for &s in &self.subs {
            // Plain compare (not `f32::min`, which handles NaN): powers are never NaN.
            floor = if s < floor { s } else { floor };
        }
        if self.count == SUBWIN {
            self.subs[self.idx] = self.cur_min;
            self.idx = (self.idx + 1) % NSUB;
            self.cur_min = f32::INFINITY;
            self.count = 0;
        }
        floor
    }
}

/// The feature extractor: 8 kHz frames in, model input vectors out.
pub struct Features {
    isa: Isa,
    fft: Arc<dyn RealToComplex<f32>>,
    window: [f32; WIN],
    /// Power normalisation so band powers are mean squares relative to full scale.
    pscale: f32,
    hist: [f32; WIN],
    fft_in: Vec<f32>,
    spec: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: [f32; NBINS],
    floors: [MinTrack; NBANDS + 1],
    prev_band_db: [f32; NBANDS],
    dec4k: Decimator2,
    pbuf: [f32; P_BUF],
    psq: [f32; P_BUF + 1],
    dots: [f32; P_NLAGS],
    mod_ring: [f32; MOD_LEN],
    harm_ring: [f32; MOD_LEN],
    voiced_ring: [bool; VOICED_LEN],
    voiced_count: usize,
    max_ring: [[f32; 2]; MAX_LEN],
    ema_fast: [f32; 4],
    ema_slow: [f32; 4],
    base: [[f32; NBASE]; LOOKAHEAD + 1],
    frames: u64,
    input: [f32; NINPUT],
}

impl std::fmt::Debug for Features {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Features")
            .field("isa", &self.isa)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Features {
    /// A fresh extractor using the kernels of `isa`.
    pub fn new(isa: Isa) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(WIN);
        let mut window = [0.0f32; WIN];
        let mut wsum = 0.0f32;
        for (i, w) in window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WIN as f64).cos()) as f32;
            wsum += *w * *w;
        }
        let scratch = fft.make_scratch_vec();
        let spec = fft.make_output_vec();
        Features {
            isa,
            fft,
            window,
            pscale: 2.0 / (WIN as f32 * wsum),
            hist: [0.0; WIN],
            fft_in: vec![0.0; WIN],
            spec,
            scratch,
            power: [0.0; NBINS],
            floors: [MinTrack::new(); NBANDS + 1],
            prev_band_db: [0.0; NBANDS],
            dec4k: Decimator2::new(isa, FRAME),
            pbuf: [0.0; P_BUF],
            psq: [0.0; P_BUF + 1],
            dots: [0.0; P_NLAGS],
            mod_ring: [0.0; MOD_LEN],
            harm_ring: [0.0; MOD_LEN],
            voiced_ring: [false; VOICED_LEN],
            voiced_count: 0,
            max_ring: [[0.0; 2]; MAX_LEN],
            ema_fast: [0.0; 4],
            ema_slow: [0.0; 4],
            base: [[0.0; NBASE]; LOOKAHEAD + 1],
            frames: 0,
            input: [0.0; NINPUT],
        }
    }

    /// Back to the state of a fresh extractor.
    pub fn reset(&mut self) {
        let isa = self.isa;
        let fft = self.fft.clone();
        let spec = std::mem::take(&mut self.spec);
        let scratch = std::mem::take(&mut self.scratch);
        let fft_in = std::mem::take(&mut self.fft_in);
        *self = Features::new(isa);
        self.fft = fft;
        self.spec = spec;
        self.scratch = scratch;
        self.fft_in = fft_in;
    }

    /// Frames processed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The model input built by the last [`Features::push`] (for the frame `LOOKAHEAD` back).
    pub fn input(&self) -> &[f32; NINPUT] {
        &self.input
    }

    /// Adds one 10 ms frame at 8 kHz (samples scaled to ±1; extra samples ignored, missing ones
    /// taken as zero) and rebuilds the model input.
    pub fn push(&mut self, frame: &[f32]) {
        // --- time-domain history and level
        self.hist.copy_within(FRAME.., 0);
        let mut ms = 0.0f32;
        for (i, h) in self.hist[WIN - FRAME..].iter_mut().enumerate() {
            let v = frame.get(i).copied().unwrap_or(0.0);
            *h = v;
            ms += v * v;
        }
        ms /= FRAME as f32;
        let level_db = db(ms);

        // --- spectrum
        for ((o, &x), &w) in self.fft_in.iter_mut().zip(&self.hist).zip(&self.window) {
            *o = x * w;
        }
        if self
            .fft
            .process_with_scratch(&mut self.fft_in, &mut self.spec, &mut self.scratch)
            .is_err()
        {
            self.spec.fill(Complex::new(0.0, 0.0));
        }
        for (p, c) in self.power.iter_mut().zip(&self.spec) {
            *p = (c.re * c.re + c.im * c.im) * self.pscale;
        }

        // --- bands, floors, flatness, flux
        let mut b = [0.0f32; NBASE];
        let mut band_db = [0.0f32; NBANDS];
        let mut speech_e = 0.0f32;
        let mut flat_log = 0.0f32;
        let mut flat_lin = 0.0f32;
        let mut flux = 0.0f32;
        // Band powers and floors first, then the logarithms over whole arrays (vectorised), then
        // the sums in band order.
        let mut e = [0.0f32; NBANDS];
        let mut fl = [0.0f32; NBANDS];
        let mut per_bin = [0.0f32; NBANDS];
        for k in 0..NBANDS {
            let (lo, hi) = (BAND_EDGES[k], BAND_EDGES[k + 1]);
            e[k] = self.power[lo..hi].iter().sum();
            fl[k] = self.floors[k].update(e[k]);
            per_bin[k] = e[k] / (hi - lo) as f32;
        }
        let mut floor_band_db = [0.0f32; NBANDS];
        let mut per_bin_db = [0.0f32; NBANDS];
        for k in 0..NBANDS {
            band_db[k] = db(e[k]);
            floor_band_db[k] = db(fl[k]);
            per_bin_db[k] = db(per_bin[k]);
            b[k] = ((band_db[k] - floor_band_db[k]) / 10.0).clamp(-1.0, 6.0);
        }
        for k in 0..NBANDS {
            if k >= SPEECH_BAND_FIRST {
                speech_e += e[k];
            }
            flat_log += per_bin_db[k];
            flat_lin += per_bin[k];
            flux += (band_db[k] - self.prev_band_db[k]).abs();
        }
        self.prev_band_db = band_db;
        let speech_db = db(speech_e);
        let floor_db = db(self.floors[NBANDS].update(speech_e));
        b[16] = ((speech_db - floor_db) / 10.0).clamp(-1.0, 6.0);
        b[17] = ((level_db + 60.0) / 20.0).clamp(0.0, 3.0);
        b[18] = ((flat_log / NBANDS as f32 - db(flat_lin / NBANDS as f32)) / 10.0).clamp(-4.0, 0.0);
        b[19] = if self.frames == 0 {
            0.0
        } else {
            (flux / NBANDS as f32 / 10.0).clamp(0.0, 4.0)
        };

        // --- harmonicity on a 4 kHz copy
        let mut half = [0.0f32; FRAME / 2];
        self.dec4k.process(&self.hist[WIN - FRAME..], &mut half);
        self.pbuf.copy_within(FRAME / 2.., 0);
        self.pbuf[P_BUF - FRAME / 2..].copy_from_slice(&half);
        self.psq[0] = 0.0;
        let mut acc = 0.0f32;
        for (p, &v) in self.psq[1..].iter_mut().zip(&self.pbuf) {
            acc += v * v;
            *p = acc;
        }
        let base = P_BUF - P_SEG;
        kernels::lagged_dots(self.isa, &self.pbuf, base, P_SEG, P_LAG_MIN, &mut self.dots);
        let e0 = self.psq[P_BUF] - self.psq[base];
        let mut best = 0.0f32;
        let mut best_lag = 0usize;
        if e0 > 1e-7 {
            for (k, &c) in self.dots.iter().enumerate() {
                let s = base - P_LAG_MIN - k;
                let el = self.psq[s + P_SEG] - self.psq[s];
                if c > 0.0 {
                    let r2 = c * c / (e0 * el + 1e-12);
                    if r2 > best {
                        best = r2;
                        best_lag = k + P_LAG_MIN;
                    }
                }
            }
        }
        b[20] = best.min(1.0).sqrt();
        b[25] = best_lag as f32 / P_LAG_MAX as f32;

        // --- peak concentration and centroid over 94–3750 Hz
        let lo = BAND_EDGES[0];
        let hi = BAND_EDGES[NBANDS];
        // Eight interleaved partial sums (and maxima), added at the end.
        const L: usize = 8;
        let (mut tot8, mut mom8, mut peak8) = ([0.0f32; L], [0.0f32; L], [0.0f32; L]);
        let nfull = (hi - lo) / L * L;
        for (c, w) in self.power[lo - 1..lo + nfull + 1].windows(L + 2).step_by(L).enumerate() {
            let Ok(w) = <&[f32; L + 2]>::try_from(w) else { break };
            for l in 0..L {
                let p = w[l + 1];
                tot8[l] += p;
                mom8[l] += p * BIN_INDEX[lo + c * L + l];
                // Plain compare (not `f32::max`): powers are never NaN, and this maps to `maxps`.
                let tri = w[l] + p + w[l + 2];
                peak8[l] = if tri > peak8[l] { tri } else { peak8[l] };
            }
        }
        let mut tot = EPS + tot8.iter().sum::<f32>();
        let mut mom = mom8.iter().sum::<f32>();
        let mut peak = peak8.iter().fold(0.0f32, |m, &v| m.max(v));
        for k in lo + nfull..hi {
            let p = self.power[k];
            tot += p;
            mom += p * k as f32;
            let tri = self.power[k - 1] + p + self.power[k + 1];
            peak = peak.max(tri);
        }
        b[21] = (peak / tot).min(1.0);
        b[23] = mom / tot / WIN as f32 * 2.0;

        // --- modulation over 200 ms
        let slot = (self.frames % MOD_LEN as u64) as usize;
        self.mod_ring[slot] = speech_db;
        let n = (self.frames as usize + 1).min(MOD_LEN);
        let mean = self.mod_ring[..n].iter().sum::<f32>() / n as f32;
        let var = self.mod_ring[..n].iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        b[22] = (var.sqrt() / 10.0).min(4.0);
        self.harm_ring[slot] = b[20];
        let hmean = self.harm_ring[..n].iter().sum::<f32>() / n as f32;
        let hvar = self.harm_ring[..n]
            .iter()
            .map(|v| (v - hmean) * (v - hmean))
            .sum::<f32>()
            / n as f32;
        let vslot = (self.frames % VOICED_LEN as u64) as usize;
        let voiced = b[20] > VOICED_THR;
        if self.voiced_ring[vslot] {
            self.voiced_count -= 1;
        }
        self.voiced_ring[vslot] = voiced;
        self.voiced_count += usize::from(voiced);
        let vfrac = self.voiced_count as f32 / (self.frames as usize + 1).min(VOICED_LEN) as f32;
        b[24] = ((floor_db + 60.0) / 20.0).clamp(0.0, 3.0);

        // --- temporal context
        let key = [b[16], b[20], b[19], b[21]];
        if self.frames == 0 {
            self.ema_fast = key;
            self.ema_slow = key;
        } else {
            for ((f, s), k) in self.ema_fast.iter_mut().zip(&mut self.ema_slow).zip(key) {
                *f += 0.3 * (k - *f);
                *s += 0.05 * (k - *s);
            }
        }
        self.max_ring[(self.frames % MAX_LEN as u64) as usize] = [b[20], b[16]];
        let m = (self.frames as usize + 1).min(MAX_LEN);
        let (mut mh, mut ms2) = (f32::MIN, f32::MIN);
        for r in &self.max_ring[..m] {
            mh = mh.max(r[0]);
            ms2 = ms2.max(r[1]);
        }

        self.base.copy_within(1.., 0);
        self.base[LOOKAHEAD] = b;
        self.frames += 1;

        self.input[..NBASE].copy_from_slice(&self.base[LOOKAHEAD]);
        self.input[NBASE..2 * NBASE].copy_from_slice(&self.base[0]);
        let c = &mut self.input[2 * NBASE..2 * NBASE + NCTX];
        c[..4].copy_from_slice(&self.ema_fast);
        c[4..8].copy_from_slice(&self.ema_slow);
        c[8] = mh;
        c[9] = ms2;
        c[10] = hvar.sqrt();
        c[11] = vfrac;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log2_is_close() {
        for &x in &[1e-9f32, 0.001, 0.5, 1.0, 1.5, 2.0, 3.0, 1000.0, 12345.6] {
            assert!((fast_log2(x) - x.log2()).abs() < 2e-4, "{x}");
        }
    }

    #[test]
    fn decimator_passes_low_and_stops_high() {
        let gain = |f: f64| {
            let mut d = Decimator2::new(Isa::detect(), 160);
            let mut out = [0.0f32; 80];
            let mut peak = 0.0f32;
            for blk in 0..20 {
                let input: Vec<f32> = (0..160)
                    .map(|i| ((blk * 160 + i) as f64 * 2.0 * std::f64::consts::PI * f / 16000.0).sin() as f32)
                    .collect();
                d.process(&input, &mut out);
                if blk > 2 {
                    peak = out.iter().fold(peak, |m, v| m.max(v.abs()));
                }
            }
            peak
        };
        assert!((gain(1000.0) - 1.0).abs() < 0.02);
        assert!(gain(5000.0) < 0.01);
    }

    #[test]
    fn voiced_tone_complex_is_harmonic_and_noise_is_not() {
        let mut f = Features::new(Isa::detect());
        let mut frame = [0.0f32; FRAME];
        for n in 0..30 {
            for (i, s) in frame.iter_mut().enumerate() {
                let t = (n * FRAME + i) as f32 / 8000.0;
                *s = (1..8)
                    .map(|h| (2.0 * std::f32::consts::PI * 120.0 * h as f32 * t).sin() * 0.05)
                    .sum();
            }
            f.push(&frame);
        }
        assert!(f.input()[20] > 0.9, "harmonicity {}", f.input()[20]);
        let mut g = Features::new(Isa::detect());
        let mut s = 12345u32;
        for _ in 0..30 {
            for v in frame.iter_mut() {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *v = (s >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1;
            }
            g.push(&frame);
        }
        assert!(g.input()[20] < 0.5, "harmonicity {}", g.input()[20]);
        assert!(g.input().iter().all(|v| v.is_finite()));
    }
}
