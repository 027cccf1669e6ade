//! NEON resampler kernels (f32x4). Same results as `crate::resample::scalar` up to
//! floating-point reassociation (fused multiply-adds, lane-wise partial sums).
//!
//! Note: written against the documented `core::arch::aarch64` API; the project's x86-64 CI
//! does not compile it.

use std::arch::aarch64::*;

/// `Σ c[t] · x[t]` as one 8-lane FMA chain (two f32x4), halves added, then `vaddvq`:
/// bit-identical to each output of [`dot4`], so results do not depend on how outputs are
/// grouped.
///
/// # Safety
/// The CPU must support neon; `c.len() == x.len()`, a multiple of 8.
#[target_feature(enable = "neon")]
pub(super) unsafe fn dot(c: &[f32], x: &[f32]) -> f32 {
    let (cp, xp) = (c.as_ptr(), x.as_ptr());
    let mut lo = vdupq_n_f32(0.0);
    let mut hi = vdupq_n_f32(0.0);
    for t in (0..c.len()).step_by(8) {
        // SAFETY: t + 8 <= c.len() = x.len().
        unsafe {
            lo = vfmaq_f32(lo, vld1q_f32(cp.add(t)), vld1q_f32(xp.add(t)));
            hi = vfmaq_f32(hi, vld1q_f32(cp.add(t + 4)), vld1q_f32(xp.add(t + 4)));
        }
    }
    vaddvq_f32(vaddq_f32(lo, hi))
}

/// Four independent dot products of length `n`: `Σ_t bank[rows[j] + t] · x[starts[j] + t]`,
/// each computed exactly as [`dot`] computes one.
///
/// # Safety
/// The CPU must support neon; `n` a multiple of 8, `rows[j] + n <= bank.len()` and
/// `starts[j] + n <= x.len()` for every `j`.
#[target_feature(enable = "neon")]
pub(super) unsafe fn dot4(bank: &[f32], rows: [usize; 4], n: usize, x: &[f32], starts: [usize; 4]) -> [f32; 4] {
    let (bp, xp) = (bank.as_ptr(), x.as_ptr());
    let mut a = [[vdupq_n_f32(0.0); 2]; 4];
    for t in (0..n).step_by(8) {
        for j in 0..4 {
            // SAFETY: t + 8 <= n, rows[j] + n <= bank.len() and starts[j] + n <= x.len().
            unsafe {
                a[j][0] = vfmaq_f32(
                    a[j][0],
                    vld1q_f32(bp.add(rows[j] + t)),
                    vld1q_f32(xp.add(starts[j] + t)),
                );
                a[j][1] = vfmaq_f32(
                    a[j][1],
                    vld1q_f32(bp.add(rows[j] + t + 4)),
                    vld1q_f32(xp.add(starts[j] + t + 4)),
                );
            }
        }
    }
    let mut out = [0.0f32; 4];
    for (o, v) in out.iter_mut().zip(&a) {
        *o = vaddvq_f32(vaddq_f32(v[0], v[1]));
    }
    out
}

/// Integer upsampling by `L`, `B` blocks of 8 input samples (two f32x4 each) per iteration; see
/// `crate::resample::scalar::upsample` for the definition.
///
/// # Safety
/// The CPU must support neon; `bank.len() == L * taps`, `first + 1 >= taps`, `first >= k0`,
/// `p0 < L`, `x.len() >= first + count + 8 * B` and `out.len() >= count * L`.
#[target_feature(enable = "neon")]
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
    while i < end {
        let n = (end - i).min(8 * B);
        let mut acc = [[vdupq_n_f32(0.0); 2]; B];
        let mut tmp = [[[0.0f32; 8]; B]; L];
        for (p, tmp_p) in tmp.iter_mut().enumerate() {
            if p == p0 {
                for (b, t) in tmp_p.iter_mut().enumerate() {
                    // SAFETY: i >= first >= k0, and i + 8b + 7 - k0 < end + 8B <= x.len();
                    // `t` holds 8 floats.
                    unsafe {
                        vst1q_f32(t.as_mut_ptr(), vld1q_f32(xp.add(i + 8 * b - k0)));
                        vst1q_f32(t.as_mut_ptr().add(4), vld1q_f32(xp.add(i + 8 * b + 4 - k0)));
                    }
                }
                continue;
            }
            for a in acc.iter_mut() {
                *a = [vdupq_n_f32(0.0); 2];
            }
            let row = &bank[p * taps..(p + 1) * taps];
            for (k, &c) in row.iter().enumerate() {
                let cv = vdupq_n_f32(c);
                for (b, a) in acc.iter_mut().enumerate() {
                    // SAFETY: k < taps <= first + 1 <= i + 1 so the index is >= 0, and
                    // i + 8b + 7 - k < end + 8B <= x.len().
                    unsafe {
                        a[0] = vfmaq_f32(a[0], cv, vld1q_f32(xp.add(i + 8 * b - k)));
                        a[1] = vfmaq_f32(a[1], cv, vld1q_f32(xp.add(i + 8 * b + 4 - k)));
                    }
                }
            }
            for (b, t) in tmp_p.iter_mut().enumerate() {
                // SAFETY: `t` holds 8 floats.
                unsafe {
                    vst1q_f32(t.as_mut_ptr(), acc[b][0]);
                    vst1q_f32(t.as_mut_ptr().add(4), acc[b][1]);
                }
            }
        }
        for (j, group) in out[o..o + n * L].chunks_exact_mut(L).enumerate() {
            for (p, y) in group.iter_mut().enumerate() {
                *y = tmp[p][j / 8][j % 8];
            }
        }
        i += n;
        o += n * L;
    }
}

/// Integer downsampling by `M` on deinterleaved planes, `B` blocks of 8 outputs (two f32x4
/// each) per iteration; see `crate::resample::scalar::decimate` for the definition.
///
/// # Safety
/// The CPU must support neon; `rows.len() == M * a`, `d0 < a`, `planes.len() >= M * stride`,
/// `stride >= count + a - 1 + 8 * B`, `out.len() >= count`.
#[target_feature(enable = "neon")]
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
    let c0v = vdupq_n_f32(c0);
    let mut g = 0;
    while g < count {
        let n = (count - g).min(8 * B);
        let i = g + a - 1;
        let mut acc = [[vdupq_n_f32(0.0); 2]; B];
        for (b, acc_b) in acc.iter_mut().enumerate() {
            // SAFETY: i - d0 >= 0 as d0 < a; i + 8b + 7 - d0 < count + a - 1 + 8B <= stride.
            unsafe {
                acc_b[0] = vmulq_f32(c0v, vld1q_f32(pp.add(i + 8 * b - d0)));
                acc_b[1] = vmulq_f32(c0v, vld1q_f32(pp.add(i + 8 * b + 4 - d0)));
            }
        }
        for q in 1..M {
            // SAFETY: q < M and planes.len() >= M * stride: the plane start is in bounds.
            let plane = unsafe { pp.add(q * stride) };
            for (j, &c) in rows[q * a..(q + 1) * a].iter().enumerate() {
                let cv = vdupq_n_f32(c);
                for (b, acc_b) in acc.iter_mut().enumerate() {
                    // SAFETY: j < a so i - j >= g >= 0; i + 8b + 7 - j < count + a - 1 + 8B
                    // <= stride, inside plane q.
                    unsafe {
                        acc_b[0] = vfmaq_f32(acc_b[0], cv, vld1q_f32(plane.add(i + 8 * b - j)));
                        acc_b[1] = vfmaq_f32(acc_b[1], cv, vld1q_f32(plane.add(i + 8 * b + 4 - j)));
                    }
                }
            }
        }
        let mut tmp = [[0.0f32; 8]; B];
        for (t, acc_b) in tmp.iter_mut().zip(&acc) {
            // SAFETY: `t` holds 8 floats.
            unsafe {
                vst1q_f32(t.as_mut_ptr(), acc_b[0]);
                vst1q_f32(t.as_mut_ptr().add(4), acc_b[1]);
            }
        }
        for (j, y) in out[g..g + n].iter_mut().enumerate() {
            *y = tmp[j / 8][j % 8];
        }
        g += n;
    }
}
