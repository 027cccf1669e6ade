//! Goertzel filter banks over sliding windows, shared by the DTMF and call-progress detectors.
//!
//! A window of `K` sub-blocks of `H` samples is analysed every `H` samples (hop `H`, overlap
//! `(K-1)/K`) without redoing work: each sub-block runs one Goertzel pass per frequency, which
//! yields the sub-block's complex DFT value at that frequency (phase included), and a window's
//! value is the phase-rotated sum of its sub-blocks' values. So the cost per sample is one
//! multiply-add per frequency whatever the overlap, and the result is exactly the DFT of the
//! window at the (non-integer) bin frequency.
//!
//! Powers are normalised so that a sine of peak amplitude `A` (full scale = 1.0) filling the
//! window at exactly a bin frequency gives `power ≈ A² N / 2`, the same scale as
//! [`BlockBank::window_energy`] (`Σ x²` over the window): a pure tone has power/energy ≈ 1.

use std::f32::consts::PI;

#[derive(Debug, Clone, Copy, Default)]
struct Cplx {
    re: f32,
    im: f32,
}

impl Cplx {
    fn mul(self, o: Cplx) -> Cplx {
        Cplx {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn add(self, o: Cplx) -> Cplx {
        Cplx {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn norm_sqr(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
}

#[derive(Debug, Clone, Copy)]
struct Bin {
    /// 2 cos ω.
    coeff: f32,
    cos: f32,
    sin: f32,
    /// e^{-jωH}: the rotation from one sub-block to the next.
    rot: Cplx,
}

/// Bins processed together in the inner loop.
const LANES: usize = 8;

/// A bank of Goertzel filters at arbitrary frequencies over a sliding window of
/// `sub_blocks × sub_len` samples, hopping by `sub_len`. Allocates only in [`BlockBank::new`].
#[derive(Debug, Clone)]
pub struct BlockBank {
    bins: Vec<Bin>,
    /// Goertzel state (s[n-1], s[n-2]) per bin, for the sub-block in progress.
    state: Vec<(f32, f32)>,
    /// Ring of the last `k` sub-block values per bin: `hist[slot * nbins + bin]`.
    hist: Vec<Cplx>,
    /// Ring of the last `k` sub-block energies.
    energy_hist: Vec<f32>,
    /// Window results, refreshed at each completed sub-block.
    power: Vec<f32>,
    energy: f32,
    sub_len: usize,
    k: usize,
    /// Samples already in the sub-block in progress.
    pos: usize,
    energy_acc: f32,
    /// Next ring slot to write.
    head: usize,
    /// Completed sub-blocks since reset, saturating at `k`.
    filled: usize,
}

impl BlockBank {
    /// A bank for `freqs` (Hz) at `sample_rate`, windows of `sub_blocks` sub-blocks of `sub_len`
    /// samples each. `sub_len` and `sub_blocks` are clamped to at least 1.
    pub fn new(sample_rate: u32, freqs: &[f32], sub_len: usize, sub_blocks: usize) -> Self {
        let sub_len = sub_len.max(1);
        let k = sub_blocks.max(1);
        let bins: Vec<Bin> = freqs
            .iter()
            .map(|&f| {
                let w = 2.0 * PI * f / sample_rate.max(1) as f32;
                let wh = (f64::from(w) * sub_len as f64) % std::f64::consts::TAU;
                Bin {
                    coeff: 2.0 * w.cos(),
                    cos: w.cos(),
                    sin: w.sin(),
                    rot: Cplx {
                        re: wh.cos() as f32,
                        im: -(wh.sin() as f32),
                    },
                }
            })
            .collect();
        let n = bins.len();
        BlockBank {
            bins,
            state: vec![(0.0, 0.0); n],
            hist: vec![Cplx::default(); n * k],
            energy_hist: vec![0.0; k],
            power: vec![0.0; n],
            energy: 0.0,
            sub_len,
            k,
            pos: 0,
            energy_acc: 0.0,
            head: 0,
            filled: 0,
        }
    }

    /// Clears all state, as if freshly built.
    pub fn reset(&mut self) {
        self.state.fill((0.0, 0.0));
        self.hist.fill(Cplx::default());
        self.energy_hist.fill(0.0);
        self.power.fill(0.0);
        self.energy = 0.0;
        self.pos = 0;
        self.energy_acc = 0.0;
        self.head = 0;
        self.filled = 0;
    }

    /// Samples per window.
    pub fn window_len(&self) -> usize {
        self.sub_len * self.k
    }

    /// Samples per hop (one sub-block).
    pub fn hop(&self) -> usize {
        self.sub_len
    }

    /// Number of frequencies in the bank.
    pub fn len(&self) -> usize {
        self.bins.len()
    }

    /// Whether the bank has no frequencies.
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Feeds samples (full scale = 1.0) until the end of `x` or of the current sub-block,
    /// whichever comes first. Returns how many samples were consumed and whether a window
    /// result is now ready (a sub-block completed and the window is full).
    pub fn push(&mut self, x: &[f32]) -> (usize, bool) {
        let take = (self.sub_len - self.pos).min(x.len());
        let chunk = &x[..take];
        // Eight independent recursions at a time: the per-bin recursion is latency-bound, so
        // interleaving bins lets the CPU (and the vectoriser) overlap them.
        let mut bins = self.bins.chunks_exact(LANES);
        let mut states = self.state.chunks_exact_mut(LANES);
        for (b, st) in (&mut bins).zip(&mut states) {
            let c: [f32; LANES] = std::array::from_fn(|j| b[j].coeff);
            let mut s1: [f32; LANES] = std::array::from_fn(|j| st[j].0);
            let mut s2: [f32; LANES] = std::array::from_fn(|j| st[j].1);
            for &v in chunk {
                for j in 0..LANES {
                    let s = v + c[j] * s1[j] - s2[j];
                    s2[j] = s1[j];
                    s1[j] = s;
                }
            }
            for j in 0..LANES {
                st[j] = (s1[j], s2[j]);
            }
        }
        for (bin, st) in bins.remainder().iter().zip(states.into_remainder()) {
            let (mut s1, mut s2) = *st;
            for &v in chunk {
                let s = v + bin.coeff * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            *st = (s1, s2);
        }
        self.energy_acc += chunk.iter().map(|v| v * v).sum::<f32>();
        self.pos += take;
        if self.pos < self.sub_len {
            return (take, false);
        }
        self.finish_sub_block();
        (take, self.filled >= self.k)
    }

    fn finish_sub_block(&mut self) {
        let n = self.bins.len();
        let slot = self.head;
        for (i, (bin, st)) in self.bins.iter().zip(self.state.iter_mut()).enumerate() {
            let (s1, s2) = *st;
            // Σ x[n] e^{jω(H-1-n)} = s[H-1] - e^{-jω} s[H-2]; the common phase factor
            // e^{-jω(H-1)} is the same for every sub-block and drops out of the magnitude.
            self.hist[slot * n + i] = Cplx {
                re: s1 - bin.cos * s2,
                im: bin.sin * s2,
            };
            *st = (0.0, 0.0);
        }
        self.energy_hist[slot] = self.energy_acc;
        self.energy_acc = 0.0;
        self.pos = 0;
        self.head = (self.head + 1) % self.k;
        self.filled = (self.filled + 1).min(self.k);
        if self.filled < self.k {
            return;
        }
        // Window = Σ_i r^i Y_i over sub-blocks oldest (i = 0) to newest; Horner from the newest.
        let norm = 2.0 / self.window_len() as f32;
        for (i, bin) in self.bins.iter().enumerate() {
            let mut acc = Cplx::default();
            for j in 0..self.k {
                // j = 0 is the newest sub-block.
                let s = (self.head + self.k - 1 - j) % self.k;
                acc = acc.mul(bin.rot).add(self.hist[s * n + i]);
            }
            self.power[i] = acc.norm_sqr() * norm;
        }
        self.energy = self.energy_hist.iter().sum();
    }

    /// Normalised power at frequency `i` over the last full window (0 before the first one).
    pub fn power(&self, i: usize) -> f32 {
        self.power.get(i).copied().unwrap_or(0.0)
    }

    /// All normalised powers over the last full window, in the order of the frequencies.
    pub fn powers(&self) -> &[f32] {
        &self.power
    }

    /// `Σ x²` over the last full window.
    pub fn window_energy(&self) -> f32 {
        self.energy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dft_power(x: &[f32], rate: f32, f: f32) -> f32 {
        let w = 2.0 * std::f64::consts::PI * f64::from(f) / f64::from(rate);
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (n, &v) in x.iter().enumerate() {
            re += f64::from(v) * (w * n as f64).cos();
            im -= f64::from(v) * (w * n as f64).sin();
        }
        ((re * re + im * im) * 2.0 / x.len() as f64) as f32
    }

    #[test]
    fn sliding_windows_equal_direct_dft() {
        let rate = 8000.0;
        let freqs = [697.0, 941.0, 1336.0, 1633.0, 2418.0];
        let x: Vec<f32> = (0..1000)
            .map(|n| {
                let t = n as f32 / rate;
                0.3 * (2.0 * PI * 700.0 * t).sin()
                    + 0.2 * (2.0 * PI * 1330.0 * t + 0.4).sin()
                    + 0.05 * ((n * 7919 % 97) as f32 / 97.0 - 0.5)
            })
            .collect();
        let (h, k) = (34, 3);
        let mut bank = BlockBank::new(8000, &freqs, h, k);
        let mut pos = 0;
        let mut windows = 0;
        while pos < x.len() {
            // Feed in odd-sized pieces to exercise the sub-block bookkeeping.
            let end = (pos + 13).min(x.len());
            let mut p = pos;
            while p < end {
                let (used, ready) = bank.push(&x[p..end]);
                p += used;
                if ready {
                    let w = &x[p - h * k..p];
                    for (i, &f) in freqs.iter().enumerate() {
                        let want = dft_power(w, rate, f);
                        let got = bank.power(i);
                        assert!((want - got).abs() <= 1e-3 * want.max(1.0), "f {f}: {want} vs {got}");
                    }
                    let e: f32 = w.iter().map(|v| v * v).sum();
                    assert!((bank.window_energy() - e).abs() < 1e-3 * e.max(1.0));
                    windows += 1;
                }
            }
            pos = end;
        }
        assert_eq!(windows, 1000 / h - (k - 1));
    }

    #[test]
    fn pure_tone_power_matches_energy() {
        let x: Vec<f32> = (0..400)
            .map(|n| 0.5 * (2.0 * PI * 1000.0 * n as f32 / 8000.0).sin())
            .collect();
        let mut bank = BlockBank::new(8000, &[1000.0], 80, 5);
        let mut p = 0;
        while p < x.len() {
            p += bank.push(&x[p..]).0;
        }
        let ratio = bank.power(0) / bank.window_energy();
        assert!((ratio - 1.0).abs() < 0.02, "{ratio}");
        assert_eq!(bank.power(7), 0.0);
    }
}
