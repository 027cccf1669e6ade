//! AVX2 + FMA resampler kernels (f32x8). Same results as `crate::resample::scalar` up to
//! floating-point reassociation (fused multiply-adds, lane-wise partial sums).

use std::arch::x86_64::*;

/// Sum of the 8 lanes of `v`: halves added lane-wise, then `(s0 + s1) + (s2 + s3)`; the same
/// tree [`dot4`] applies to each of its outputs.
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let h = _mm_hadd_ps(s, s);
    _mm_cvtss_f32(_mm_hadd_ps(h, h))
}

/// `Σ c[t] · x[t]` as one 8-lane FMA chain reduced by [`hsum`]: bit-identical to each output
/// of [`dot4`], so results do not depend on how outputs are grouped.
///
/// # Safety
/// The CPU must support avx2 and fma; `c.len() == x.len()`, a multiple of 8.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(c: &[f32], x: &[f32]) -> f32 {
    let (cp, xp) = (c.as_ptr(), x.as_ptr());
    let mut acc = _mm256_setzero_ps();
    for t in (0..c.len()).step_by(8) {
        // SAFETY: t + 8 <= c.len() = x.len().
        unsafe { acc = _mm256_fmadd_ps(_mm256_loadu_ps(cp.add(t)), _mm256_loadu_ps(xp.add(t)), acc) };
    }
    hsum(acc)
}

/// Four independent dot products of length `n`: `Σ_t bank[rows[j] + t] · x[starts[j] + t]`,
/// each computed exactly as [`dot`] computes one.
///
/// # Safety
/// The CPU must support avx2 and fma; `n` a multiple of 8, `rows[j] + n <= bank.len()` and
/// `starts[j] + n <= x.len()` for every `j`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot4(bank: &[f32], rows: [usize; 4], n: usize, x: &[f32], starts: [usize; 4]) -> [f32; 4] {
    let (bp, xp) = (bank.as_ptr(), x.as_ptr());
    let mut a = [_mm256_setzero_ps(); 4];
    for t in (0..n).step_by(8) {
        for j in 0..4 {
            // SAFETY: t + 8 <= n, rows[j] + n <= bank.len() and starts[j] + n <= x.len().
            unsafe {
                a[j] = _mm256_fmadd_ps(
                    _mm256_loadu_ps(bp.add(rows[j] + t)),
                    _mm256_loadu_ps(xp.add(starts[j] + t)),
                    a[j],
                );
            }
        }
    }
    let fold = |v: __m256| _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let h = _mm_hadd_ps(_mm_hadd_ps(fold(a[0]), fold(a[1])), _mm_hadd_ps(fold(a[2]), fold(a[3])));
    let mut out = [0.0f32; 4];
    // SAFETY: `out` holds 4 floats.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), h) };
    out
}

/// Integer upsampling by `L`, `B` blocks of 8 input samples per iteration; see
/// `crate::resample::scalar::upsample` for the definition.
///
/// # Safety
/// The CPU must support avx2 and fma; `bank.len() == L * taps`, `first + 1 >= taps`,
/// `first >= k0`, `p0 < L`, `x.len() >= first + count + 8 * B` and `out.len() >= count * L`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn upsample<const L: usize, const B: usize>(
    bank: &[f32],
    taps: usize,
    (p0, k0): (usize, usize),
    x: &[f32],
    first: usize,
    count: usize,
    out: &mut [f32],
) {
    let xp = x.as_ptr();
    let end = first + count;
    let mut i = first;
    let mut o = 0;
    let mut tmp = [[[0.0f32; 8]; B]; L];
    while i < end {
        let n = (end - i).min(8 * B);
        for (p, tmp_p) in tmp.iter_mut().enumerate() {
            // One phase at a time so its B accumulators (independent FMA chains that hide the
            // FMA latency) stay in registers.
            let mut acc = [_mm256_setzero_ps(); B];
            if p == p0 {
                for (b, a) in acc.iter_mut().enumerate() {
                    // SAFETY: i >= first >= k0, and i + 8b + 7 - k0 < end + 8B <= x.len().
                    *a = unsafe { _mm256_loadu_ps(xp.add(i + 8 * b - k0)) };
                }
            } else {
                let row = &bank[p * taps..(p + 1) * taps];
                for (k, &c) in row.iter().enumerate() {
                    let cv = _mm256_set1_ps(c);
                    for (b, a) in acc.iter_mut().enumerate() {
                        // SAFETY: k < taps <= first + 1 <= i + 1 so the index is >= 0, and
                        // i + 8b + 7 - k < end + 8B <= x.len().
                        let xv = unsafe { _mm256_loadu_ps(xp.add(i + 8 * b - k)) };
                        *a = _mm256_fmadd_ps(cv, xv, *a);
                    }
                }
            }
            for (t, a) in tmp_p.iter_mut().zip(acc) {
                // SAFETY: `t` is an 8-float array.
                unsafe { _mm256_storeu_ps(t.as_mut_ptr(), a) };
            }
        }
        if L == 2 && n == 8 * B {
            let dst = out[o..o + 16 * B].as_mut_ptr();
            for (b, (ev, od)) in tmp[0].iter().zip(&tmp[1]).enumerate() {
                // SAFETY: `ev` and `od` are 8-float arrays.
                let (even, odd) = unsafe { (_mm256_loadu_ps(ev.as_ptr()), _mm256_loadu_ps(od.as_ptr())) };
                let lo = _mm256_unpacklo_ps(even, odd);
                let hi = _mm256_unpackhi_ps(even, odd);
                // SAFETY: dst points at 16B floats of `out` (sliced above); 16b + 16 <= 16B.
                unsafe {
                    _mm256_storeu_ps(dst.add(16 * b), _mm256_permute2f128_ps::<0x20>(lo, hi));
                    _mm256_storeu_ps(dst.add(16 * b + 8), _mm256_permute2f128_ps::<0x31>(lo, hi));
                }
            }
        } else {
            for (j, group) in out[o..o + n * L].chunks_exact_mut(L).enumerate() {
                for (p, y) in group.iter_mut().enumerate() {
                    *y = tmp[p][j / 8][j % 8];
                }
            }
        }
        i += n;
        o += n * L;
    }
}

/// Integer downsampling by `M` on deinterleaved planes, `B` blocks of 8 outputs per iteration;
/// see `crate::resample::scalar::decimate` for the definition.
///
/// # Safety
/// The CPU must support avx2 and fma; `rows.len() == M * a`, `d0 < a`,
/// `planes.len() >= M * stride`, `stride >= count + a - 1 + 8 * B`, `out.len() >= count`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn decimate<const M: usize, const B: usize>(
    rows: &[f32],
    a: usize,
    (c0, d0): (f32, usize),
    planes: &[f32],
    stride: usize,
    count: usize,
    out: &mut [f32],
) {
    let pp = planes.as_ptr();
    let c0v = _mm256_set1_ps(c0);
    let mut g = 0;
    while g < count {
        let n = (count - g).min(8 * B);
        let i = g + a - 1;
        let mut acc = [_mm256_setzero_ps(); B];
        for (b, acc_b) in acc.iter_mut().enumerate() {
            // SAFETY: i - d0 >= 0 as d0 < a; i + 8b + 7 - d0 < count + a - 1 + 8B <= stride.
            *acc_b = _mm256_mul_ps(c0v, unsafe { _mm256_loadu_ps(pp.add(i + 8 * b - d0)) });
        }
        for q in 1..M {
            // SAFETY: q < M and planes.len() >= M * stride: the plane start is in bounds.
            let plane = unsafe { pp.add(q * stride) };
            for (j, &c) in rows[q * a..(q + 1) * a].iter().enumerate() {
                let cv = _mm256_set1_ps(c);
                for (b, acc_b) in acc.iter_mut().enumerate() {
                    // SAFETY: j < a so i - j >= g >= 0; i + 8b + 7 - j < count + a - 1 + 8B <=
                    // stride, inside plane q.
                    let xv = unsafe { _mm256_loadu_ps(plane.add(i + 8 * b - j)) };
                    *acc_b = _mm256_fmadd_ps(cv, xv, *acc_b);
                }
            }
        }
        if n == 8 * B {
            let dst = out[g..g + 8 * B].as_mut_ptr();
            for (b, acc_b) in acc.iter().enumerate() {
                // SAFETY: dst points at 8B floats of `out` (sliced above).
                unsafe { _mm256_storeu_ps(dst.add(8 * b), *acc_b) };
            }
        } else {
            let mut tmp = [[0.0f32; 8]; B];
            for (t, acc_b) in tmp.iter_mut().zip(&acc) {
                // SAFETY: `t` is an 8-float array.
                unsafe { _mm256_storeu_ps(t.as_mut_ptr(), *acc_b) };
            }
            for (j, y) in out[g..g + n].iter_mut().enumerate() {
                *y = tmp[j / 8][j % 8];
            }
        }
        g += n;
    }
}
