//! Scalar reference kernels of the resampler: the definition the SIMD kernels in
//! [`crate::simd::resample`] are property-tested against.

/// `Σ c[t] · x[t]` over the common length (both are a multiple of 8 in practice).
pub(crate) fn dot(c: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = c.chunks_exact(8).zip(x.chunks_exact(8));
    for (cc, xx) in chunks {
        for lane in 0..8 {
            acc[lane] += cc[lane] * xx[lane];
        }
    }
    let rem = c.len() / 8 * 8;
    let mut tail = 0.0;
    for (a, b) in c[rem..].iter().zip(&x[rem..]) {
        tail += a * b;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Four independent dot products of length `n`: `Σ_t bank[rows[j] + t] · x[starts[j] + t]`.
pub(crate) fn dot4(bank: &[f32], rows: [usize; 4], n: usize, x: &[f32], starts: [usize; 4]) -> [f32; 4] {
    std::array::from_fn(|j| dot(&bank[rows[j]..rows[j] + n], &x[starts[j]..starts[j] + n]))
}

/// Integer upsampler by `l` (`bank` phase-major, `taps` per phase): for each input index
/// `i` in `first .. first + count` write the `l` outputs `out[(i − first) l + p] = Σ_k
/// bank[p taps + k] · x[i − k]`, phase `p0` being the pure delay `x[i − k0]`.
///
/// Requires `first + 1 ≥ taps`, `first ≥ k0`, `x.len() ≥ first + count` and
/// `out.len() ≥ count · l`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn upsample(
    bank: &[f32],
    l: usize,
    taps: usize,
    (p0, k0): (usize, usize),
    x: &[f32],
    first: usize,
    count: usize,
    out: &mut [f32],
) {
    for (j, group) in out[..count * l].chunks_exact_mut(l).enumerate() {
        let i = first + j;
        for (p, y) in group.iter_mut().enumerate() {
            if p == p0 {
                *y = x[i - k0];
                continue;
            }
            let row = &bank[p * taps..(p + 1) * taps];
            let mut acc = 0.0f32;
            for (k, c) in row.iter().enumerate() {
                acc += c * x[i - k];
            }
            *y = acc;
        }
    }
}

/// Integer downsampler by `m`, on the input split into `m` planes (`planes[q stride + r] =
/// x[(r − (a − 1)) m − q]` relative to the first output's newest input): output `g` is
/// `c0 · plane_0[g + a − 1 − d0] + Σ_{q ≥ 1} Σ_j rows[q a + j] · plane_q[g + a − 1 − j]`,
/// where `(c0, d0)` is the one non-zero tap of plane 0 (the filter has a zero every `m` taps
/// from its centre).
///
/// Requires `rows.len() == m · a`, `d0 < a`, `planes.len() ≥ m · stride`,
/// `stride ≥ count + a − 1` and `out.len() ≥ count`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decimate(
    rows: &[f32],
    a: usize,
    m: usize,
    (c0, d0): (f32, usize),
    planes: &[f32],
    stride: usize,
    count: usize,
    out: &mut [f32],
) {
    for (g, y) in out[..count].iter_mut().enumerate() {
        let i = g + a - 1;
        let mut acc = c0 * planes[i - d0];
        for q in 1..m {
            let plane = &planes[q * stride..(q + 1) * stride];
            for (j, c) in rows[q * a..(q + 1) * a].iter().enumerate() {
                acc += c * plane[i - j];
            }
        }
        *y = acc;
    }
}

/// Adding and then subtracting 1.5 × 2²³ rounds an `f32` of magnitude below 2²² to the nearest
/// integer, ties to even, in two vectorisable additions (`f32::round` is a libm call per sample).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// 16-bit samples to `f32` scaled by 1/32768 (exact) over the common length.
pub(crate) fn i16_to_f32(src: &[i16], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32::from(s) / 32768.0;
    }
}

/// Round (to nearest, ties to even) and saturate `[-1, 1)` floats to 16-bit (NaN becomes 0),
/// over the common length.
pub(crate) fn f32_to_i16(src: &[f32], dst: &mut [i16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = (((s * 32768.0).clamp(-32768.0, 32767.0) + ROUND_MAGIC) - ROUND_MAGIC) as i16;
    }
}

/// Split interleaved pairs: `even[r] = src[2 r]`, `odd[r] = src[2 r + 1]` for `r < n`.
pub(crate) fn deinterleave2(src: &[f32], even: &mut [f32], odd: &mut [f32], n: usize) {
    for (r, pair) in src[..2 * n].chunks_exact(2).enumerate() {
        even[r] = pair[0];
        odd[r] = pair[1];
    }
}
