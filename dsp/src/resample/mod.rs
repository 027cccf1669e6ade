//! Streaming polyphase FIR resampler, sans-IO and allocation-free in [`Resampler::process`].
//!
//! Supported pairs: any input in [`INPUT_RATES`] (8, 16, 22.05, 24, 44.1, 48 kHz) to any output
//! in [`OUTPUT_RATES`] (8, 16, 24, 48 kHz). The ratio is reduced to `L / M` (44.1 → 16 kHz is
//! `L = 160, M = 441`) and a bank of `L` phases is designed at construction (see [`design`] for
//! the filter: a Kaiser-windowed sinc, ≥ 100 dB image and alias rejection, passband flat to
//! `0.43 · min(in, out)` for [`Quality::Telephone`]).
//!
//! Three computation paths, chosen at construction, each with a scalar reference kernel and
//! AVX2+FMA / NEON kernels ([`crate::simd::resample`]):
//! * integer upsampling ×2, ×3, ×6: vectorised across consecutive inputs (one broadcast
//!   coefficient times 8 contiguous inputs per FMA), the pure-delay phase copied;
//! * integer downsampling /2, /3, /6: the input split into `M` planes, vectorised across
//!   consecutive outputs, the plane holding the filter centre reduced to its single tap;
//! * every other ratio: per output one contiguous dot product with its phase's coefficient row,
//!   rows stored in output order, four outputs at a time.
//!
//! With the [`Quality::Telephone`] filters (49 taps per phase / plane) the AVX2 integer kernels
//! are register-tiled: 64 outputs per tile, each input vector loaded once per tap residue
//! (mod 8) instead of once per tap. Planes for /2 are split with a vector deinterleave.
//! [`Resampler::process_i16`] converts its input straight into the history buffer and its
//! output with vector kernels (bit-identical to the scalar conversions), and the history is
//! compacted only when the buffer runs out of room, not on every call.
//!
//! # Streaming contract
//!
//! * Output sample `n` is the filtered signal at input time `n · M / L` input samples, and
//!   represents input time `(n − latency) / out_rate`: the group delay is exactly
//!   [`Resampler::latency_samples`] output samples.
//! * [`Resampler::process`] consumes the longest prefix of `input` whose outputs all fit in
//!   `output` and writes them; with `output.len() >= output_len_for(input.len())` it consumes
//!   everything. After `t` consumed input samples exactly `ceil(t · L / M)` outputs have been
//!   produced, whatever the chunking, and the values are identical to one-shot processing.
//! * [`Resampler::flush`] writes exactly `latency_samples()` more outputs (the tail, as if
//!   zeros followed) and resets the resampler. Total output for `in_len` samples is therefore
//!   `ceil(in_len · L / M) + latency`; dropping the first `latency` outputs aligns output 0
//!   with input time 0 and leaves `ceil(in_len · out_rate / in_rate)` samples.
//! * Equal input and output rates are a plain copy with zero latency.
//!
//! # Example
//!
//! ```
//! use cxb_dsp::resample::{Quality, Resampler};
//!
//! let mut r = Resampler::new(8000, 16000, Quality::Telephone)?;
//! let frame = [0.25f32; 160]; // 20 ms at 8 kHz
//! let mut out = [0.0f32; 320];
//! assert_eq!(r.output_len_for(frame.len()), 320);
//! let done = r.process(&frame, &mut out);
//! assert_eq!((done.consumed, done.produced), (160, 320));
//! // End of stream: the tail is exactly `latency_samples()` long.
//! let mut tail = vec![0.0f32; r.latency_samples()];
//! assert_eq!(r.flush(&mut tail)?, r.latency_samples());
//! # Ok::<(), cxb_dsp::resample::ResampleError>(())
//! ```

pub mod design;
#[cfg(test)]
mod quality_tests;
pub(crate) mod scalar;
#[cfg(test)]
mod tests;

use crate::simd::Isa;
use crate::simd::resample::{DECIMATE_SLACK, Kernel, UPSAMPLE_SLACK};
use design::Design;

/// Input rates the resampler accepts, in Hz.
pub const INPUT_RATES: [u32; 6] = [8000, 16000, 22050, 24000, 44100, 48000];
/// Output rates the resampler produces, in Hz.
pub const OUTPUT_RATES: [u32; 4] = [8000, 16000, 24000, 48000];

/// Input samples buffered per internal step (beyond the filter history): one 20 ms frame at
/// 16 kHz. It sizes each stream's history and plane buffers, which a call carries for its whole
/// life (a longer block buys nothing for 20 ms frames and costs every call memory and cache).
const BLOCK: usize = 320;
/// Input samples per step of the `i16` path (sizes its `f32` output scratch).
const I16_BLOCK: usize = 256;
/// Length of the `i16` path's `f32` output scratch: one [`I16_BLOCK`] step at the largest
/// upsampling ratio (×6), plus slack.
const I16_SCRATCH_LEN: usize = I16_BLOCK * 6 + 8;

thread_local! {
    /// `f32` outputs of [`Resampler::process_i16`] before their conversion to 16-bit. They only
    /// live during one call, so every resampler on a thread shares one buffer that stays in cache
    /// (a shard's calls would otherwise carry one each).
    static I16_SCRATCH: std::cell::RefCell<Vec<f32>> = std::cell::RefCell::new(vec![0.0; I16_SCRATCH_LEN]);
}

/// Zeros fed by [`Resampler::flush`].
static ZEROS: [f32; 64] = [0.0; 64];

/// Filter quality; both meet the image/alias rejection and flatness they state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quality {
    /// Passband to `0.43 · min(in, out)` within ±0.1 dB (3.44 kHz for 8 kHz audio), stopband
    /// from `0.57 · min(in, out)`, ≥ 100 dB image and alias rejection.
    #[default]
    Telephone,
    /// Passband to `0.45 · min(in, out)`, stopband from `0.55 · min(in, out)`, ≥ 120 dB
    /// rejection (longer filter).
    High,
}

/// Errors of the resampler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// The rate pair is not supported.
    #[error(
        "unsupported resampling {in_rate} Hz -> {out_rate} Hz (inputs: 8000, 16000, 22050, 24000, 44100, 48000 Hz; \
         outputs: 8000, 16000, 24000, 48000 Hz)"
    )]
    UnsupportedRates {
        /// Requested input rate in Hz.
        in_rate: u32,
        /// Requested output rate in Hz.
        out_rate: u32,
    },
    /// The output slice given to [`Resampler::flush`] cannot hold the tail.
    #[error("flush needs room for {needed} output samples, got {available}")]
    OutputTooShort {
        /// Samples the tail needs.
        needed: usize,
        /// Length of the slice given.
        available: usize,
    },
}

/// What one [`Resampler::process`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Produced {
    /// Input samples consumed (a prefix of the input).
    pub consumed: usize,
    /// Output samples written (a prefix of the output).
    pub produced: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Equal rates.
    Copy,
    /// `M = 1`, `L ∈ {2, 3, 6}`: vectorised across consecutive inputs, one phase a pure delay.
    Upsample,
    /// `L = 1`, `M ∈ {2, 3, 6}`: input split into `M` planes, vectorised across consecutive
    /// outputs; plane 0 has a single non-zero tap.
    Downsample,
    /// Everything else: one dot product of a contiguous window per output.
    Generic,
}

/// A streaming resampler for one mono stream. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    quality: Quality,
    l: usize,
    m: usize,
    taps: usize,
    latency: usize,
    path: Path,
    kernel: Kernel,
    /// `Upsample`: phase-major `taps` per phase, `bank[p taps + k]` multiplies `x[i − k]`.
    /// `Generic`: `kpad` per output of one period (`L` outputs) in output order, reversed:
    /// `bank[r kpad + t]` multiplies `x[i − kpad + 1 + t]` for outputs `n ≡ r (mod L)`, whose
    /// phase is `r M mod L`. Output order makes the walk through the bank sequential.
    /// `Downsample`: plane-major `plane_taps` per plane, `bank[q plane_taps + j]` multiplies
    /// `x[i − j M − q]`.
    bank: Vec<f32>,
    kpad: usize,
    /// `Upsample`: the pure-delay phase and its delay.
    delay: (usize, usize),
    /// `Downsample`: taps per plane, plane 0's only tap and its delay, the planes and their
    /// stride (outputs per run plus history plus slack), outputs per run.
    plane_taps: usize,
    center: (f32, usize),
    planes: Vec<f32>,
    stride: usize,
    run_max: usize,
    /// History kept before the newest needed sample.
    hist: usize,
    buf: Vec<f32>,
    /// Valid samples in `buf`.
    len: usize,
    /// Index in `buf` of the newest input the next output needs (`>= len` between calls).
    pos: usize,
    /// Index of the next output within its period (`n mod L`); its phase is `seq M mod L`.
    seq: usize,
    /// For each `seq`, how far the next output's newest input is ahead
    /// (`⌊(seq + 1) M / L⌋ − ⌊seq M / L⌋`), so the hot loop has no division.
    advance: Vec<usize>,
}

/// The input of one processing step: converted to `f32` as it enters the history buffer.
#[derive(Clone, Copy)]
enum Input<'a> {
    F32(&'a [f32]),
    I16(&'a [i16]),
}

impl Input<'_> {
    fn len(self) -> usize {
        match self {
            Input::F32(x) => x.len(),
            Input::I16(x) => x.len(),
        }
    }
}

impl Resampler {
    /// Starts loading the buffers a step touches into the cache (see [`crate::simd::prefetch`]).
    #[inline]
    pub fn prefetch(&self) {
        crate::simd::prefetch_slice(&self.buf);
        crate::simd::prefetch_slice(&self.planes);
        crate::simd::prefetch_slice(&self.bank);
        crate::simd::prefetch_slice(&self.advance);
    }

    /// A resampler from `in_rate` to `out_rate` Hz using the best kernel for this CPU.
    pub fn new(in_rate: u32, out_rate: u32, quality: Quality) -> Result<Resampler, ResampleError> {
        Self::with_isa(in_rate, out_rate, quality, Isa::detect())
    }

    /// Like [`new`](Self::new) with an explicit instruction set (falls back to scalar if this
    /// CPU lacks it); used to compare kernels against the scalar reference.
    pub fn with_isa(in_rate: u32, out_rate: u32, quality: Quality, isa: Isa) -> Result<Resampler, ResampleError> {
        Self::build(in_rate, out_rate, quality, isa, false)
    }

    /// The constructor; `generic` forces the general one-dot-product-per-output path (the
    /// reference the integer paths are tested against).
    fn build(
        in_rate: u32,
        out_rate: u32,
        quality: Quality,
        isa: Isa,
        generic: bool,
    ) -> Result<Resampler, ResampleError> {
        if !INPUT_RATES.contains(&in_rate) || !OUTPUT_RATES.contains(&out_rate) {
            return Err(ResampleError::UnsupportedRates { in_rate, out_rate });
        }
        let g = design::gcd(u64::from(in_rate), u64::from(out_rate));
        let l = (u64::from(out_rate) / g) as usize;
        let m = (u64::from(in_rate) / g) as usize;
        let kernel = Kernel::new(isa);
        let (path, d) = if l == m {
            (
                Path::Copy,
                Design {
                    l: 1,
                    taps: 1,
                    latency: 0,
                    bank: vec![1.0],
                },
            )
        } else if generic {
            (Path::Generic, Design::new(in_rate, out_rate, l, m, quality))
        } else if m == 1 && matches!(l, 2 | 3 | 6) {
            (Path::Upsample, Design::new(in_rate, out_rate, l, m, quality))
        } else if l == 1 && matches!(m, 2 | 3 | 6) {
            (Path::Downsample, Design::new(in_rate, out_rate, l, m, quality))
        } else {
            (Path::Generic, Design::new(in_rate, out_rate, l, m, quality))
        };
        let kpad = d.taps.next_multiple_of(8);
        let plane_taps = d.taps.div_ceil(m);
        let mut center = (0.0, 0);
        let (bank, delay) = match path {
            Path::Copy => (Vec::new(), (0, 0)),
            Path::Upsample => (d.bank.clone(), d.delay_phase()),
            Path::Downsample => {
                let mut bank = vec![0.0f32; m * plane_taps];
                for (k, &c) in d.bank.iter().enumerate() {
                    bank[(k % m) * plane_taps + k / m] = c;
                }
                center = (bank[d.latency], d.latency);
                (bank, (0, 0))
            }
            Path::Generic => {
                let mut bank = vec![0.0f32; l * kpad];
                for r in 0..l {
                    let p = r * m % l;
                    for k in 0..d.taps {
                        bank[r * kpad + kpad - 1 - k] = d.bank[p * d.taps + k];
                    }
                }
                (bank, (0, 0))
            }
        };
        let hist = if path == Path::Downsample {
            (kpad - 1).max(plane_taps * m - 1)
        } else {
            kpad - 1
        };
        let (run_max, stride) = if path == Path::Downsample {
            let run_max = BLOCK / m + 1;
            (run_max, run_max + plane_taps - 1 + DECIMATE_SLACK)
        } else {
            (0, 0)
        };
        let mut r = Resampler {
            in_rate,
            out_rate,
            quality,
            l,
            m,
            taps: d.taps,
            latency: d.latency,
            path,
            kernel,
            bank,
            kpad,
            delay,
            plane_taps,
            center,
            planes: vec![0.0; m * stride],
            stride,
            run_max,
            hist,
            buf: vec![0.0; hist + BLOCK + UPSAMPLE_SLACK],
            len: 0,
            pos: 0,
            seq: 0,
            advance: (0..l).map(|r| (r + 1) * m / l - r * m / l).collect(),
        };
        r.reset();
        Ok(r)
    }

    /// Forget all history: the next sample is treated as the start of a new stream.
    pub fn reset(&mut self) {
        self.buf.fill(0.0);
        self.len = self.hist;
        self.pos = self.hist;
        self.seq = 0;
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Filter quality.
    pub fn quality(&self) -> Quality {
        self.quality
    }

    /// The reduced ratio `(L, M)`: `L` output samples per `M` input samples.
    pub fn ratio(&self) -> (usize, usize) {
        (self.l, self.m)
    }

    /// Filter taps per output sample (per polyphase phase).
    pub fn taps_per_phase(&self) -> usize {
        self.taps
    }

    /// The instruction set of the kernel in use.
    pub fn isa(&self) -> Isa {
        self.kernel.isa()
    }

    /// Group delay in output samples: output `n` represents input time
    /// `(n − latency_samples()) / out_rate`. Also the number of samples [`flush`](Self::flush)
    /// writes.
    pub fn latency_samples(&self) -> usize {
        self.latency
    }

    /// Exactly how many outputs the next [`process`](Self::process) call writes if it is given
    /// `input_len` samples and enough room; never more than `ceil(input_len · L / M)`.
    pub fn output_len_for(&self, input_len: usize) -> usize {
        let m_rel = ((self.pos - self.len) * self.l + self.seq * self.m % self.l) as u128;
        let want = input_len as u128 * self.l as u128;
        if want <= m_rel {
            return 0;
        }
        (want - m_rel).div_ceil(self.m as u128).min(usize::MAX as u128) as usize
    }

    /// Resample `input` into `output`: consumes the longest prefix of `input` whose outputs fit
    /// in `output`, writes them, and says how many of each. Never allocates.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Produced {
        if self.path == Path::Copy {
            return copy_through(input, output);
        }
        self.process_input(Input::F32(input), output)
    }

    /// [`process`](Self::process) for any input type (not [`Path::Copy`]): the input is
    /// converted straight into the history buffer.
    fn process_input(&mut self, input: Input<'_>, output: &mut [f32]) -> Produced {
        let mut done = Produced::default();
        loop {
            let space = (output.len() - done.produced) as u128;
            let m_rel = ((self.pos - self.len) * self.l + self.seq * self.m % self.l) as u128;
            let fits = ((space * self.m as u128 + m_rel) / self.l as u128).min(usize::MAX as u128) as usize;
            let want = (input.len() - done.consumed).min(fits);
            if want == 0 {
                return done;
            }
            if self.hist + BLOCK - self.len < want {
                // Drop what no future output needs; only when the buffer is short of room, so
                // small chunks move the history once per ~BLOCK samples, not once per call.
                let drop = (self.pos - self.hist).min(self.len);
                self.buf.copy_within(drop..self.len, 0);
                self.len -= drop;
                self.pos -= drop;
            }
            let take = want.min(self.hist + BLOCK - self.len);
            let (from, dst) = (done.consumed, &mut self.buf[self.len..self.len + take]);
            match input {
                Input::F32(x) => dst.copy_from_slice(&x[from..from + take]),
                Input::I16(x) => self.kernel.i16_to_f32(&x[from..from + take], dst),
            }
            self.len += take;
            done.consumed += take;
            done.produced += self.run(&mut output[done.produced..]);
        }
    }

    /// Compute every output whose newest input is buffered; the caller guaranteed room.
    fn run(&mut self, out: &mut [f32]) -> usize {
        match self.path {
            Path::Copy => 0,
            Path::Upsample => {
                let count = self.len.saturating_sub(self.pos);
                self.kernel.upsample(
                    &self.bank,
                    self.l,
                    self.taps,
                    self.delay,
                    &self.buf,
                    self.pos,
                    count,
                    &mut out[..count * self.l],
                );
                self.pos += count;
                count * self.l
            }
            Path::Downsample => {
                let (m, a) = (self.m, self.plane_taps);
                let mut o = 0;
                while self.pos < self.len {
                    let count = (self.len - self.pos).div_ceil(m).min(self.run_max);
                    // Row r of plane q is x at buffer index base + r m − q; row a − 1 + g
                    // holds output g's newest input.
                    let base = self.pos - (a - 1) * m;
                    let rows = count + a - 1;
                    if m == 2 {
                        // Plane 1 row r is buf[base − 1 + 2 r], plane 0 row r the sample after.
                        let (p0, p1) = self.planes.split_at_mut(self.stride);
                        self.kernel.deinterleave2(&self.buf[base - 1..], p1, p0, rows);
                    } else {
                        for (q, plane) in self.planes.chunks_exact_mut(self.stride).enumerate() {
                            for (r, v) in plane[..rows].iter_mut().enumerate() {
                                *v = self.buf[base + r * m - q];
                            }
                        }
                    }
                    self.kernel.decimate(
                        &self.bank,
                        a,
                        m,
                        self.center,
                        &self.planes,
                        self.stride,
                        count,
                        &mut out[o..o + count],
                    );
                    o += count;
                    self.pos += count * m;
                }
                o
            }
            Path::Generic => {
                let (kpad, l) = (self.kpad, self.l);
                let mut o = 0;
                // Four outputs at a time while their newest inputs are all buffered.
                loop {
                    let mut seq = [self.seq; 4];
                    let mut pos = [self.pos; 4];
                    for j in 1..4 {
                        seq[j] = if seq[j - 1] + 1 == l { 0 } else { seq[j - 1] + 1 };
                        pos[j] = pos[j - 1] + self.advance[seq[j - 1]];
                    }
                    if pos[3] >= self.len {
                        break;
                    }
                    let y = self.kernel.dot4(
                        &self.bank,
                        seq.map(|r| r * kpad),
                        kpad,
                        &self.buf,
                        pos.map(|p| p + 1 - kpad),
                    );
                    out[o..o + 4].copy_from_slice(&y);
                    o += 4;
                    self.seq = if seq[3] + 1 == l { 0 } else { seq[3] + 1 };
                    self.pos = pos[3] + self.advance[seq[3]];
                }
                while self.pos < self.len {
                    let row = &self.bank[self.seq * kpad..(self.seq + 1) * kpad];
                    let window = &self.buf[self.pos + 1 - kpad..=self.pos];
                    out[o] = self.kernel.dot(row, window);
                    o += 1;
                    self.pos += self.advance[self.seq];
                    self.seq = if self.seq + 1 == l { 0 } else { self.seq + 1 };
                }
                debug_assert!(self.seq < l);
                o
            }
        }
    }

    /// End the stream: write exactly [`latency_samples`](Self::latency_samples) outputs (the
    /// filter tail, as if zeros followed the input), then [`reset`](Self::reset).
    pub fn flush(&mut self, output: &mut [f32]) -> Result<usize, ResampleError> {
        let need = self.latency;
        if output.len() < need {
            return Err(ResampleError::OutputTooShort {
                needed: need,
                available: output.len(),
            });
        }
        let mut produced = 0;
        while produced < need {
            let r = self.process(&ZEROS, &mut output[produced..need]);
            produced += r.produced;
            if r.consumed == 0 {
                // The next input's outputs straddle the end of the tail: compute them aside.
                let mut tmp = [0.0f32; 8];
                let r = self.process(&ZEROS[..1], &mut tmp);
                let want = need - produced;
                debug_assert!(r.produced >= want);
                output[produced..need].copy_from_slice(&tmp[..want]);
                produced = need;
            }
        }
        self.reset();
        Ok(need)
    }

    /// [`process`](Self::process) for 16-bit samples (scaled by 1/32768; outputs rounded (ties to even) and
    /// saturated). Input is converted straight into the history buffer; outputs go through the
    /// thread's `f32` scratch (allocated once per thread, on its first use).
    pub fn process_i16(&mut self, input: &[i16], output: &mut [i16]) -> Produced {
        if self.path == Path::Copy {
            // The round trip through f32 is exact.
            return copy_through(input, output);
        }
        let mut done = Produced::default();
        I16_SCRATCH.with_borrow_mut(|scratch| {
            let per_step = (I16_BLOCK * self.l.div_ceil(self.m) + 8).min(scratch.len());
            while done.consumed < input.len() {
                let room = (output.len() - done.produced).min(per_step);
                let r = self.process_input(Input::I16(&input[done.consumed..]), &mut scratch[..room]);
                let dst = &mut output[done.produced..done.produced + r.produced];
                self.kernel.f32_to_i16(&scratch[..r.produced], dst);
                done.consumed += r.consumed;
                done.produced += r.produced;
                if r.consumed == 0 {
                    break;
                }
            }
        });
        done
    }

    /// [`flush`](Self::flush) for 16-bit samples.
    pub fn flush_i16(&mut self, output: &mut [i16]) -> Result<usize, ResampleError> {
        let need = self.latency;
        if output.len() < need {
            return Err(ResampleError::OutputTooShort {
                needed: need,
                available: output.len(),
            });
        }
        I16_SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < need {
                // Only a filter longer than any built-in quality gets here (once per thread).
                scratch.resize(need, 0.0);
            }
            let n = self.flush(&mut scratch[..need]);
            self.kernel.f32_to_i16(&scratch[..need], output);
            n
        })
    }
}

/// Equal rates: copies as much of `input` as fits in `output`.
fn copy_through<T: Copy>(input: &[T], output: &mut [T]) -> Produced {
    let n = input.len().min(output.len());
    output[..n].copy_from_slice(&input[..n]);
    Produced {
        consumed: n,
        produced: n,
    }
}
