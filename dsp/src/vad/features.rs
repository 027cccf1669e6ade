//! Per-frame VAD features, computed on the 0–4 kHz band at 8 kHz (wideband input is band-limited
//! and decimated first, so 8 and 16 kHz streams share this code path and the classifier).
//!
//! Every 10 ms frame (80 samples at 8 kHz) yields a base vector of [`NBASE`] features:
//! band energies over a minimum-statistics noise floor (16 bands), the 300–3750 Hz total SNR,
//! level, band flatness, spectral flux, harmonicity (normalised autocorrelation peak over the
//! 60–400 Hz pitch range, on a 4 kHz copy), spectral peak concentration (pure tones), energy
//! modulation over 200 ms, centroid, the noise-floor level and the pitch lag. On top of those, a
//! small temporal context (fast and slow averages, recent maxima) is kept. All buffers are sized
//! at construction (the FFT's work buffers once per thread, shared by its extractors); nothing
//! allocates per frame.

mod filters;

pub(crate) use filters::Decimator2;

use crate::simd::{Isa, vad as kernels};
use filters::MinBank;
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::{Arc, LazyLock};

/// Samples per 10 ms frame at 8 kHz.
pub const FRAME: usize = 80;
/// FFT analysis window (32 ms at 8 kHz).
const WIN: usize = 256;
const NBINS: usize = WIN / 2 + 1;
/// Number of analysis bands.
pub const NBANDS: usize = 16;
/// Band edges in FFT bins (31.25 Hz per bin): ~94 Hz … 3750 Hz, roughly mel-spaced.
const BAND_EDGES: [usize; NBANDS + 1] = [3, 6, 9, 12, 15, 19, 24, 29, 35, 42, 50, 59, 69, 80, 92, 105, 120];
/// Band widths in bins, as floats.
const BAND_WIDTH: [f32; NBANDS] = {
    let mut a = [0.0f32; NBANDS];
    let mut k = 0;
    while k < NBANDS {
        a[k] = (BAND_EDGES[k + 1] - BAND_EDGES[k]) as f32;
        k += 1;
    }
    a
};
const _: () = assert!(NBANDS == 16, "band_sums! in Features::push lists 16 bands");
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
/// Pitch-buffer samples per frame (one 10 ms block at 4 kHz).
const PH: usize = FRAME / 2;
/// Frames a pitch-buffer sample stays in the buffer (rounded up), = prefix-sum chains in flight.
const PSQ_STAGES: usize = P_BUF.div_ceil(PH);
/// Samples of the oldest block that have already left the buffer.
const PSQ_SKIP: usize = PSQ_STAGES * PH - P_BUF;
const _: () = assert!(PSQ_STAGES == 4 && PSQ_SKIP < PH);
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

/// The Hann analysis window and the 256-point real FFT plan, shared by every extractor (the
/// plan is immutable; each extractor keeps its own buffers).
struct Shared {
    window: [f32; WIN],
    /// Power normalisation so band powers are mean squares relative to full scale.
    pscale: f32,
    fft: Arc<dyn RealToComplex<f32>>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let mut window = [0.0f32; WIN];
    let mut wsum = 0.0f32;
    for (i, w) in window.iter_mut().enumerate() {
        *w = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WIN as f64).cos()) as f32;
        wsum += *w * *w;
    }
    Shared {
        window,
        pscale: 2.0 / (WIN as f32 * wsum),
        fft: RealFftPlanner::<f32>::new().plan_fft_forward(WIN),
    }
});

/// The FFT's input, output and scratch: they only live during one [`Features::push`], so one set
/// per thread serves every extractor on it (a shard's calls share one set that stays in cache,
/// instead of each call carrying 3 KB of its own).
struct FftWork {
    input: Vec<f32>,
    spec: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

thread_local! {
    static FFT_WORK: std::cell::RefCell<FftWork> = std::cell::RefCell::new(FftWork {
        input: vec![0.0; WIN],
        spec: SHARED.fft.make_output_vec(),
        scratch: SHARED.fft.make_scratch_vec(),
    });
}

/// The feature extractor: 8 kHz frames in, model input vectors out.
pub struct Features {
    isa: Isa,
    shared: &'static Shared,
    /// The last `WIN` samples as a ring; the oldest is at `hpos`.
    hist: [f32; WIN],
    hpos: usize,
    power: [f32; NBINS],
    floors: MinBank<NBANDS>,
    speech_floor: MinBank<1>,
    prev_band_db: [f32; NBANDS],
    dec4k: Decimator2,
    pbuf: [f32; P_BUF],
    /// Prefix energies of the pitch buffer (`psq[i] = Σ_{j<i} pbuf[j]²`, summed in order), as
    /// [`PSQ_STAGES`] chains in flight: the one for frame `n` lives in slot `n % PSQ_STAGES` and is
    /// extended by `PH` samples in each of the frames `n - 3 ..= n` (every block of the buffer
    /// arrives once), so each frame runs four short add chains side by side instead of one of
    /// `P_BUF` — the same sums, in the same order.
    psq: [[f32; P_BUF + 1]; PSQ_STAGES],
    dots: [f32; P_NLAGS],
    mod_ring: [f32; MOD_LEN],
    harm_ring: [f32; MOD_LEN],
    voiced_ring: [bool; VOICED_LEN],
    voiced_count: usize,
    max_ring: [[f32; 2]; MAX_LEN],
    ema_fast: [f32; 4],
    ema_slow: [f32; 4],
    /// Base vectors of the last `LOOKAHEAD + 1` frames, frame `n` in slot `n % (LOOKAHEAD + 1)`.
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
        let shared: &'static Shared = &SHARED;
        Features {
            isa,
            shared,
            hist: [0.0; WIN],
            hpos: 0,
            power: [0.0; NBINS],
            floors: MinBank::new(),
            speech_floor: MinBank::new(),
            prev_band_db: [0.0; NBANDS],
            dec4k: Decimator2::new(isa, FRAME),
            pbuf: [0.0; P_BUF],
            psq: [[0.0; P_BUF + 1]; PSQ_STAGES],
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
        *self = Features::new(self.isa);
    }

    /// Frames processed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The model input built by the last [`Features::push`] (for the frame `LOOKAHEAD` back).
    pub fn input(&self) -> &[f32; NINPUT] {
        &self.input
    }

    /// The instruction set its kernels were chosen for.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Adds one 10 ms frame at 8 kHz (samples scaled to ±1; extra samples ignored, missing ones
    /// taken as zero) and rebuilds the model input. With [`Isa::Avx2`] the whole step is compiled
    /// for AVX2 (see [`kernels::features_push`]); the result is the same either way.
    pub fn push(&mut self, frame: &[f32]) {
        kernels::features_push(self, frame);
    }

    /// [`Features::push`], compiled for the caller's target features (it is inlined into the
    /// AVX2 entry point and into the portable one).
    #[inline(always)]
    pub(crate) fn push_generic(&mut self, frame: &[f32]) {
        // --- time-domain history: the new frame replaces the oldest one in the ring
        let mut cur = [0.0f32; FRAME];
        for (c, &v) in cur.iter_mut().zip(frame) {
            *c = v;
        }
        let (tail, head) = cur.split_at((WIN - self.hpos).min(FRAME));
        self.hist[self.hpos..self.hpos + tail.len()].copy_from_slice(tail);
        self.hist[..head.len()].copy_from_slice(head);
        self.hpos = (self.hpos + FRAME) % WIN;

        // --- spectrum (the window starts at the oldest sample, `hpos`)
        let sh = self.shared;
        let (old, new) = self.hist.split_at(self.hpos);
        let (w_new, w_old) = sh.window.split_at(WIN - self.hpos);
        let power = &mut self.power;
        FFT_WORK.with_borrow_mut(|work| {
            let FftWork { input, spec, scratch } = work;
            let (in_new, in_old) = input.split_at_mut(WIN - self.hpos);
            for ((o, &x), &w) in in_new.iter_mut().zip(new).zip(w_new) {
                *o = x * w;
            }
            for ((o, &x), &w) in in_old.iter_mut().zip(old).zip(w_old) {
                *o = x * w;
            }
            if sh.fft.process_with_scratch(input, spec, scratch).is_err() {
                spec.fill(Complex::new(0.0, 0.0));
            }
            for (p, c) in power.iter_mut().zip(spec.iter()) {
                *p = (c.re * c.re + c.im * c.im) * sh.pscale;
            }
        });

        // --- 4 kHz copy for the harmonicity, and the running sums: the frame energy and the
        // prefix energies of the pitch buffer (see `psq`), in one loop so their add chains overlap
        self.pbuf.copy_within(PH.., 0);
        self.dec4k.process(&cur, &mut self.pbuf[P_BUF - PH..]);
        let n = self.frames as usize;
        let slot = |t: usize| (n + t) % PSQ_STAGES;
        // Chain t (for frame n + t) is extended over pitch-buffer positions
        // P_BUF - PH·(t+1) .. P_BUF - PH·t, where this frame's new block sits in its buffer.
        let mut carry = [0.0f32; PSQ_STAGES];
        for (t, c) in carry.iter_mut().enumerate().take(PSQ_STAGES - 1) {
            *c = self.psq[slot(t)][P_BUF - PH * (t + 1)];
        }
        let mut ext = [[0.0f32; PH]; PSQ_STAGES];
        let mut ms = 0.0f32;
        let blk = &self.pbuf[P_BUF - PH..];
        for (i, (&v, c2)) in blk.iter().zip(cur.chunks_exact(2)).enumerate() {
            let q = v * v;
            for t in 0..PSQ_STAGES - 1 {
                carry[t] += q;
                ext[t][i] = carry[t];
            }
            // The newest chain starts at pitch-buffer position 0 = block offset PSQ_SKIP.
            if i >= PSQ_SKIP {
                carry[PSQ_STAGES - 1] += q;
                ext[PSQ_STAGES - 1][i] = carry[PSQ_STAGES - 1];
            }
            ms += c2[0] * c2[0];
            ms += c2[1] * c2[1];
        }
        for (t, e) in ext.iter().enumerate().take(PSQ_STAGES - 1) {
            let end = P_BUF - PH * t;
            self.psq[slot(t)][end - PH + 1..=end].copy_from_slice(e);
        }
        let newest = &mut self.psq[slot(PSQ_STAGES - 1)];
        newest[0] = 0.0;
        newest[1..=PH - PSQ_SKIP].copy_from_slice(&ext[PSQ_STAGES - 1][PSQ_SKIP..]);
        let psq = &self.psq[slot(0)];
        ms /= FRAME as f32;
        let level_db = db(ms);

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
        // One straight-line sum per band (constant bounds, so each is unrolled).
        macro_rules! band_sums {
            ($($k:literal)*) => {$(
                e[$k] = self.power[BAND_EDGES[$k]..BAND_EDGES[$k + 1]].iter().sum();
            )*};
        }
        band_sums!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        let mut per_bin = [0.0f32; NBANDS];
        for ((p, &e), &w) in per_bin.iter_mut().zip(&e).zip(&BAND_WIDTH) {
            *p = e / w;
        }
        let fl = self.floors.update(&e);
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
        let floor_db = db(self.speech_floor.update(&[speech_e])[0]);
        b[16] = ((speech_db - floor_db) / 10.0).clamp(-1.0, 6.0);
        b[17] = ((level_db + 60.0) / 20.0).clamp(0.0, 3.0);
        b[18] = ((flat_log / NBANDS as f32 - db(flat_lin / NBANDS as f32)) / 10.0).clamp(-4.0, 0.0);
        b[19] = if self.frames == 0 {
            0.0
        } else {
            (flux / NBANDS as f32 / 10.0).clamp(0.0, 4.0)
        };

        // --- harmonicity: normalised autocorrelation peak of the newest P_SEG samples at 4 kHz
        let base = P_BUF - P_SEG;
        kernels::lagged_dots(self.isa, &self.pbuf, base, P_SEG, P_LAG_MIN, &mut self.dots);
        let e0 = psq[P_BUF] - psq[base];
        let mut best = 0.0f32;
        let mut best_lag = 0usize;
        if e0 > 1e-7 {
            // Lag P_LAG_MIN + k correlates with the segment starting at s = base - P_LAG_MIN - k,
            // so lags ascend as s descends. All ratios first (vectorised divisions), then the
            // first maximum in lag order.
            const _: () = assert!(P_BUF - P_SEG - P_LAG_MIN + 1 == P_NLAGS);
            let mut r2 = [0.0f32; P_NLAGS];
            let seg_e = psq[P_SEG..P_SEG + P_NLAGS].iter().zip(&psq[..P_NLAGS]).rev();
            for ((r, &c), (&hi, &lo)) in r2.iter_mut().zip(&self.dots).zip(seg_e) {
                let q = c * c / (e0 * (hi - lo) + 1e-12);
                *r = if c > 0.0 { q } else { 0.0 };
            }
            // The maximum in eight lanes (plain compares: the ratios are never NaN), then the
            // first lag reaching it: the same winner as a running "greater than" scan.
            let mut lanes = [0.0f32; 8];
            for chunk in r2.chunks(8) {
                for (m, &r) in lanes.iter_mut().zip(chunk) {
                    *m = if r > *m { r } else { *m };
                }
            }
            best = lanes.iter().fold(0.0f32, |m, &r| if r > m { r } else { m });
            if best > 0.0 {
                best_lag = r2.iter().position(|&r| r == best).unwrap_or(0) + P_LAG_MIN;
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

        // Frame n's base vector goes to slot n % (LOOKAHEAD + 1), over frame n - LOOKAHEAD - 1's;
        // the oldest kept (frame n - LOOKAHEAD, zeros at first) is in the next slot.
        const NSLOT: u64 = LOOKAHEAD as u64 + 1;
        self.base[(self.frames % NSLOT) as usize] = b;
        let oldest = ((self.frames + 1) % NSLOT) as usize;
        self.frames += 1;

        self.input[..NBASE].copy_from_slice(&b);
        self.input[NBASE..2 * NBASE].copy_from_slice(&self.base[oldest]);
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
mod tests;
