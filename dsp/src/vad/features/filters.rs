//! The stateful building blocks of the feature extractor: the decimate-by-two FIR and the
//! minimum-statistics noise-floor trackers.

use crate::simd::{Isa, vad as kernels};

/// Taps of the half-band decimation filters.
const DEC_TAPS: usize = 31;
/// History samples per polyphase branch of [`Decimator2`].
const DEC_HIST: usize = (DEC_TAPS - 1) / 2;
const _: () = assert!(DEC_TAPS % 2 == 1, "odd number of taps");

/// Decimate-by-two FIR low-pass (windowed sinc, cut-off at 0.92 of the output Nyquist).
///
/// Polyphase: the history and the incoming block are stored split into their even- and
/// odd-indexed samples, and only the kept outputs are computed, each as the taps in ascending
/// order (so every output is the same sum as a per-output dot product over the full-rate input).
#[derive(Debug, Clone)]
pub(crate) struct Decimator2 {
    isa: Isa,
    taps: [f32; DEC_TAPS],
    /// Even- and odd-indexed samples of the history (`DEC_HIST` per phase) followed by the
    /// current input block.
    even: Vec<f32>,
    odd: Vec<f32>,
}

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
        let m = self.load(input.chunks_exact(2).map(|p| (p[0], p[1])), out.len());
        self.filter(m, out);
    }

    /// [`Decimator2::process`] of 16-bit samples scaled to ±1 (`s / 32768`), without an
    /// intermediate buffer.
    pub(crate) fn process_i16(&mut self, input: &[i16], out: &mut [f32]) {
        const SCALE: f32 = 1.0 / 32768.0;
        let pairs = input
            .chunks_exact(2)
            .map(|p| (f32::from(p[0]) * SCALE, f32::from(p[1]) * SCALE));
        let m = self.load(pairs, out.len());
        self.filter(m, out);
    }

    /// Stores up to `max_out` input pairs behind the history, split into phases; returns the
    /// number stored (= outputs to compute).
    fn load(&mut self, pairs: impl Iterator<Item = (f32, f32)>, max_out: usize) -> usize {
        let cap = (self.even.len() - DEC_HIST).min(self.odd.len() - DEC_HIST).min(max_out);
        let mut m = 0;
        for ((e, o), (a, b)) in self.even[DEC_HIST..DEC_HIST + cap]
            .iter_mut()
            .zip(&mut self.odd[DEC_HIST..DEC_HIST + cap])
            .zip(pairs)
        {
            *e = a;
            *o = b;
            m += 1;
        }
        m
    }

    /// Computes `m` outputs from the loaded phases and keeps the last `DEC_HIST` of each phase.
    fn filter(&mut self, m: usize, out: &mut [f32]) {
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

/// Minimum statistics: sub-window length (frames) and number of sub-windows (1.5 s in total).
const SUBWIN: usize = 25;
const NSUB: usize = 6;

/// `N` minimum-statistics noise-floor trackers updated in lockstep (power domain), stored
/// lane-wise so one frame's update vectorises across the trackers.
#[derive(Debug, Clone, Copy)]
pub(super) struct MinBank<const N: usize> {
    smooth: [f32; N],
    cur_min: [f32; N],
    subs: [[f32; N]; NSUB],
    idx: usize,
    count: usize,
    init: bool,
}

impl<const N: usize> MinBank<N> {
    /// Fresh trackers.
    pub(super) const fn new() -> Self {
        MinBank {
            smooth: [0.0; N],
            cur_min: [f32::INFINITY; N],
            subs: [[f32::INFINITY; N]; NSUB],
            idx: 0,
            count: 0,
            init: false,
        }
    }

    /// Feeds one frame's power per tracker and returns the floor estimates.
    pub(super) fn update(&mut self, e: &[f32; N]) -> [f32; N] {
        if self.init {
            for (s, &e) in self.smooth.iter_mut().zip(e) {
                *s = 0.8 * *s + 0.2 * e;
            }
        } else {
            self.smooth = *e;
            self.init = true;
        }
        for (m, &s) in self.cur_min.iter_mut().zip(&self.smooth) {
            *m = m.min(s);
        }
        self.count += 1;
        let mut floor = self.cur_min;
        for sub in &self.subs {
            for (f, &s) in floor.iter_mut().zip(sub) {
                // Plain compare (not `f32::min`, which handles NaN): powers are never NaN.
                *f = if s < *f { s } else { *f };
            }
        }
        if self.count == SUBWIN {
            self.subs[self.idx] = self.cur_min;
            self.idx = (self.idx + 1) % NSUB;
            self.cur_min = [f32::INFINITY; N];
            self.count = 0;
        }
        floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn decimator_i16_input_matches_scaled_float_input() {
        let mut a = Decimator2::new(Isa::detect(), 160);
        let mut b = Decimator2::new(Isa::detect(), 160);
        let (mut oa, mut ob) = ([0.0f32; 80], [0.0f32; 80]);
        let mut s = 3u32;
        for _ in 0..5 {
            let x: Vec<i16> = (0..160)
                .map(|_| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (s >> 16) as i16
                })
                .collect();
            let xf: Vec<f32> = x.iter().map(|&v| f32::from(v) * (1.0 / 32768.0)).collect();
            a.process_i16(&x, &mut oa);
            b.process(&xf, &mut ob);
            assert_eq!(oa, ob);
        }
    }

    #[test]
    fn min_bank_tracks_the_minimum_of_the_smoothed_power() {
        let mut m = MinBank::<2>::new();
        let mut f = [0.0; 2];
        for i in 0..(SUBWIN * NSUB * 2) {
            // Tracker 0: constant 1.0; tracker 1: a dip to 0.01 early on, then 1.0.
            let dip = if (10..40).contains(&i) { 0.01 } else { 1.0 };
            f = m.update(&[1.0, dip]);
            if i == 60 {
                assert!(f[1] < 0.05, "{f:?}");
            }
        }
        assert_eq!(f[0], 1.0);
        // The dip has aged out of every sub-window.
        assert!(f[1] > 0.9, "{f:?}");
    }
}
