//! Filter design for the polyphase resampler: a Kaiser-windowed sinc prototype split into a bank
//! of `L` phases, computed once at construction in `f64` and stored as `f32`.
//!
//! # The design rule
//!
//! With `fs_low = min(in_rate, out_rate)`, the prototype runs at `F = L · in_rate` and has its
//! cutoff exactly at `fs_low / 2`, with a transition band symmetric around it:
//!
//! * passband `0 … pass · fs_low`, stopband from `stop · fs_low = (1 − pass) · fs_low`;
//!   [`Quality::Telephone`] uses `pass = 0.43` (3.44 kHz for 8 kHz
//!   audio), [`Quality::High`] `pass = 0.45`.
//! * Why the stopband may start above `fs_low / 2`: the lowest frequency whose image (when
//!   upsampling) or alias (when downsampling) lands inside the passband `0 … pass · fs_low` is the
//!   mirror of the passband edge about `fs_low / 2`, i.e. `(1 − pass) · fs_low`. Content between
//!   `pass · fs_low` and `(1 − pass) · fs_low` can only image or alias into the (unconstrained)
//!   transition band, never into the passband.
//! * Kaiser window with `β = 0.1102 (A − 8.7)` and length from Kaiser's formula
//!   `N − 1 ≥ (A − 7.95) / (2.285 · 2π · Δf / F)`, `A` the design attenuation. A windowed sinc
//!   has the same ripple δ in both bands, so the passband deviation is ~`δ` (far inside ±0.1 dB).
//! * Because the cutoff sits at `fs_low / 2`, the sinc is zero at every multiple of
//!   `max(L, M)` taps from the centre: for an integer upsampler one phase is a pure delay and for
//!   an integer downsampler every `M`-th tap is zero (a Nyquist / half-band filter).
//! * The length is rounded up to `N = 2 λ M + 1`, so the group delay `λ M` at rate `F` is exactly
//!   `λ` output samples: the latency is an integer number of output samples.
//! * Each phase is normalised to a DC gain of exactly 1.
//!
//! For 8 → 16 kHz this gives `N = 97` taps at 16 kHz: 49 per phase, one phase a pure delay, so
//! 48 multiply-adds per input sample, and 48 output samples (3 ms) of latency. The
//! `designed_bank_meets_the_mask_densely` test measures every pair: passband within
//! ±0.0001 dB, stopband −102.5 dB or lower (Telephone), −122.6 dB or lower (High).

use super::Quality;

/// Pass-band edge, stop-band edge (fractions of `fs_low`) and design attenuation in dB.
pub(crate) fn spec(quality: Quality) -> (f64, f64, f64) {
    match quality {
        // 100 dB is the requirement; 3.5 dB of margin covers Kaiser's length formula being an
        // approximation and the f32 rounding of the coefficients.
        Quality::Telephone => (0.43, 0.57, 103.5),
        Quality::High => (0.45, 0.55, 123.5),
    }
}

/// Greatest common divisor.
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The designed polyphase bank.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    /// Interpolation factor (number of phases).
    pub l: usize,
    /// Taps per phase (the prototype zero-padded to `l * taps`).
    pub taps: usize,
    /// Group delay in output samples.
    pub latency: usize,
    /// Phase-major bank: `bank[p * taps + k]` multiplies `x[i − k]` for outputs of phase `p`.
    pub bank: Vec<f32>,
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    while term > sum * 1e-18 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

impl Design {
    /// Design the bank for `l / m` (already reduced) at `in_rate`.
    pub fn new(in_rate: u32, out_rate: u32, l: usize, m: usize, quality: Quality) -> Design {
        let (pass, stop, atten) = spec(quality);
        let fs_in = f64::from(in_rate);
        let fs_low = f64::from(in_rate.min(out_rate));
        let f_rate = l as f64 * fs_in;
        let delta = (stop - pass) * fs_low / f_rate;
        let n_min = ((atten - 7.95) / (2.285 * 2.0 * std::f64::consts::PI * delta)).ceil() as usize + 1;
        let latency = (n_min - 1).div_ceil(2 * m);
        let centre = latency * m;
        let n = 2 * centre + 1;
        let taps = n.div_ceil(l);
        let beta = 0.1102 * (atten - 8.7);
        let i0_beta = bessel_i0(beta);
        let r = l.max(m);
        let mut proto = vec![0.0f64; taps * l];
        for (j, h) in proto.iter_mut().enumerate().take(n) {
            let d = j as isize - centre as isize;
            let sinc = if d == 0 {
                1.0
            } else if d % r as isize == 0 {
                0.0
            } else {
                let a = std::f64::consts::PI * d as f64 / r as f64;
                a.sin() / a
            };
            let t = d as f64 / centre as f64;
            let w = bessel_i0(beta * (1.0 - t * t).max(0.0).sqrt()) / i0_beta;
            *h = sinc * w;
        }
        let mut bank = vec![0.0f32; taps * l];
        for p in 0..l {
            let sum: f64 = (0..taps).map(|k| proto[k * l + p]).sum();
            for k in 0..taps {
                bank[p * taps + k] = (proto[k * l + p] / sum) as f32;
            }
        }
        Design { l, taps, latency, bank }
    }

    /// For an integer upsampler (`m == 1`): the phase that is a pure delay and its delay in input
    /// samples (`y[i L + p0] = x[i − k0]`).
    pub fn delay_phase(&self) -> (usize, usize) {
        (self.latency % self.l, self.latency / self.l)
    }
}
