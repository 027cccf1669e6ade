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

/// Writes `n` outputs of each of the `L` phases in `tmp` (blocks of 8) interleaved into `out`
/// (`out[j * L + p] = phase p's output j`; `out.len() == n * L`); a full block of two phases
/// with vector unpacks.
///
/// # Safety
/// The CPU must support avx2.
#[target_feature(enable = "avx2")]
unsafe fn interleave_phases<const L: usize, const B: usize>(tmp: &[[[f32; 8]; B]; L], n: usize, out: &mut [f32]) {
    if L == 2 && n == 8 * B {
        let dst = out[..16 * B].as_mut_ptr();
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
        for (j, group) in out[..n * L].chunks_exact_mut(L).enumerate() {
            for (p, y) in group.iter_mut().enumerate() {
                *y = tmp[p][j / 8][j % 8];
            }
        }
    }
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
        // SAFETY: the caller checked avx2 (this function's own contract).
        unsafe { interleave_phases::<L, B>(&tmp, n, &mut out[o..o + n * L]) };
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

/// 16-bit samples to `f32` scaled by 1/32768 over the common length; bit-identical to
/// `crate::resample::scalar::i16_to_f32` (the conversion and the power-of-two scale are exact).
///
/// # Safety
/// The CPU must support avx2.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn i16_to_f32(src: &[i16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let scale = _mm256_set1_ps(1.0 / 32768.0);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n <= src.len() and <= dst.len().
        unsafe {
            let v = _mm256_cvtepi16_epi32(_mm_loadu_si128(sp.add(i).cast()));
            _mm256_storeu_ps(dp.add(i), _mm256_mul_ps(_mm256_cvtepi32_ps(v), scale));
        }
        i += 8;
    }
    crate::resample::scalar::i16_to_f32(&src[i..n], &mut dst[i..n]);
}

/// Round (ties to even) and saturate floats scaled by 32768 to 16-bit, NaN to 0, over the
/// common length; bit-identical to `crate::resample::scalar::f32_to_i16`.
///
/// # Safety
/// The CPU must support avx2; the MXCSR rounding mode must be the default (round to nearest
/// even), as Rust code may assume.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn f32_to_i16(src: &[f32], dst: &mut [i16]) {
    let n = src.len().min(dst.len());
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let scale = _mm256_set1_ps(32768.0);
    let (lo, hi) = (_mm256_set1_ps(-32768.0), _mm256_set1_ps(32767.0));
    let conv = |v: __m256| {
        let v = _mm256_mul_ps(v, scale);
        // NaN lanes to 0 (an ordered self-compare is all ones except for NaN), then clamp: the
        // rounded value is then in i16 range and `cvtps` rounds to nearest even.
        let v = _mm256_and_ps(v, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
        _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi))
    };
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n <= src.len() and <= dst.len().
        unsafe {
            let a = conv(_mm256_loadu_ps(sp.add(i)));
            let b = conv(_mm256_loadu_ps(sp.add(i + 8)));
            // packs works per 128-bit lane: [a0..3 b0..3 | a4..7 b4..7]; restore the order.
            let p = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(a, b));
            _mm256_storeu_si256(dp.add(i).cast(), p);
        }
        i += 16;
    }
    crate::resample::scalar::f32_to_i16(&src[i..n], &mut dst[i..n]);
}

/// Split interleaved pairs: `even[r] = src[2 r]`, `odd[r] = src[2 r + 1]` for `r < n`.
///
/// # Safety
/// The CPU must support avx2; `src.len() >= 2 n`, `even.len() >= n`, `odd.len() >= n`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn deinterleave2(src: &[f32], even: &mut [f32], odd: &mut [f32], n: usize) {
    let (sp, ep, op) = (src.as_ptr(), even.as_mut_ptr(), odd.as_mut_ptr());
    let mut r = 0;
    while r + 8 <= n {
        // SAFETY: 2 r + 16 <= 2 n <= src.len(); r + 8 <= n <= even.len(), odd.len().
        unsafe {
            let a = _mm256_loadu_ps(sp.add(2 * r));
            let b = _mm256_loadu_ps(sp.add(2 * r + 8));
            // Per 128-bit lane: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit pairs reordered.
            let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let fix = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
            _mm256_storeu_ps(ep.add(r), fix(e));
            _mm256_storeu_ps(op.add(r), fix(o));
        }
        r += 8;
    }
    crate::resample::scalar::deinterleave2(&src[2 * r..], &mut even[r..], &mut odd[r..], n - r);
}

/// `acc[b]` lane `j` `+= Σ_{k < TAPS} row[k] · x[at + 8 b + j − k]` for `B` blocks of 8
/// consecutive outputs, register-tiled: the taps are taken by residue `r = k mod 8`
/// ([`fir_residue`]); residues below `TAPS − 8 (NT − 1)` have `NT` taps, the others `NT − 1`
/// (`NT = ⌈TAPS / 8⌉`, `NT1 = NT − 1`: stable Rust cannot compute either from `TAPS`).
///
/// # Safety
/// Only called from (and always inlined into) `avx2,fma` target-feature functions;
/// `row.len() >= TAPS`, `at + 1 >= TAPS` and `x.add(at + 8 B − 1)` readable.
#[inline(always)]
unsafe fn fir_tile<const TAPS: usize, const NT: usize, const NT1: usize, const B: usize>(
    row: &[f32],
    x: *const f32,
    at: usize,
    acc: &mut [__m256; B],
) {
    const { assert!(NT == TAPS.div_ceil(8) && NT1 + 1 == NT && NT <= 8 && B <= 8) };
    let full = TAPS - 8 * NT1;
    for r in 0..8 {
        if r < full {
            // SAFETY: the last tap of residue r is r + 8 NT1 <= TAPS − 1 <= at; the rest is
            // the caller's contract.
            unsafe { fir_residue::<NT, B>(row, r, x, at, acc) };
        } else {
            // SAFETY: as above with r + 8 (NT1 − 1) < TAPS.
            unsafe { fir_residue::<NT1, B>(row, r, x, at, acc) };
        }
    }
}

/// The taps `r, r + 8, …, r + 8 (N − 1)` of [`fir_tile`]: each input vector
/// `x[at − r − 8 (N − 1) + 8 s ..]` is loaded once and multiplied into every block it feeds
/// (block `s + t − (N − 1)` with tap `r + 8 t`), the `N` coefficients held in registers. That
/// loads each input vector once per residue instead of once per tap, so the loop is bound by
/// the FMAs, not by (cache-line-splitting) unaligned loads. Every output lane sums its terms in
/// the same order (`r` ascending, then `t` descending), wherever it sits in the tile.
///
/// # Safety
/// Only called from (and always inlined into) `avx2,fma` target-feature functions;
/// `row.len() > r + 8 (N − 1)`, `at >= r + 8 (N − 1)` and `x.add(at + 8 B − 1)` readable.
#[inline(always)]
unsafe fn fir_residue<const N: usize, const B: usize>(
    row: &[f32],
    r: usize,
    x: *const f32,
    at: usize,
    acc: &mut [__m256; B],
) {
    // SAFETY: avx2 is enabled in the (inlining) caller.
    let c: [__m256; N] = std::array::from_fn(|t| unsafe { _mm256_set1_ps(row[r + 8 * t]) });
    let base = at - r - 8 * (N - 1);
    // Written out per `s` so every index is a constant and the accumulators stay in registers.
    macro_rules! steps {
        ($($s:literal)*) => {$(
            if $s < B + N - 1 {
                // SAFETY: base + 8 s >= 0 (checked subtraction above) and base + 8 s + 7 <=
                // at + 8 B − 1 for s <= B + N − 2; avx2 and fma are enabled in the (inlining) caller.
                let v = unsafe { _mm256_loadu_ps(x.add(base + 8 * $s)) };
                for (t, ct) in c.iter().enumerate() {
                    let b = $s + t;
                    if b + 1 >= N && b + 1 - N < B {
                        // SAFETY: fma is enabled in the (inlining) caller.
                        acc[b + 1 - N] = unsafe { _mm256_fmadd_ps(*ct, v, acc[b + 1 - N]) };
                    }
                }
            }
        )*};
    }
    steps!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14);
}

/// Integer upsampling by `L` for phases of exactly `TAPS` taps, 64 inputs per iteration,
/// with `fir_tile` (`NT`, `NT1` as there); see `crate::resample::scalar::upsample` for the definition.
///
/// # Safety
/// The CPU must support avx2 and fma; `bank.len() == L * TAPS`, `first + 1 >= TAPS`,
/// `first >= k0`, `p0 < L`, `x.len() >= first + count + 64` and `out.len() >= count * L`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn upsample_tiled<const L: usize, const TAPS: usize, const NT: usize, const NT1: usize>(
    bank: &[f32],
    (p0, k0): (usize, usize),
    x: &[f32],
    first: usize,
    count: usize,
    out: &mut [f32],
) {
    const B: usize = 8;
    let xp = x.as_ptr();
    let end = first + count;
    let mut i = first;
    let mut o = 0;
    let mut tmp = [[[0.0f32; 8]; B]; L];
    while i < end {
        let n = (end - i).min(8 * B);
        for (p, tmp_p) in tmp.iter_mut().enumerate() {
            let mut acc = [_mm256_setzero_ps(); B];
            if p == p0 {
                for (b, a) in acc.iter_mut().enumerate() {
                    // SAFETY: i >= first >= k0, and i + 8b + 7 - k0 < end + 8B <= x.len().
                    *a = unsafe { _mm256_loadu_ps(xp.add(i + 8 * b - k0)) };
                }
            } else if n <= 32 {
                // A short tail (a 20 ms chunk of 160 is 64 + 64 + 32): half a tile.
                let mut half = [_mm256_setzero_ps(); 4];
                // SAFETY: i + 1 >= first + 1 >= TAPS; i + 31 < end + 64 <= x.len().
                unsafe { fir_tile::<TAPS, NT, NT1, 4>(&bank[p * TAPS..(p + 1) * TAPS], xp, i, &mut half) };
                acc[..4].copy_from_slice(&half);
            } else {
                // SAFETY: i + 1 >= first + 1 >= TAPS; i + 63 < end + 64 <= x.len().
                unsafe { fir_tile::<TAPS, NT, NT1, 8>(&bank[p * TAPS..(p + 1) * TAPS], xp, i, &mut acc) };
            }
            for (t, a) in tmp_p.iter_mut().zip(acc) {
                // SAFETY: `t` is an 8-float array.
                unsafe { _mm256_storeu_ps(t.as_mut_ptr(), a) };
            }
        }
        // SAFETY: the caller checked avx2 (this function's own contract).
        unsafe { interleave_phases::<L, B>(&tmp, n, &mut out[o..o + n * L]) };
        i += n;
        o += n * L;
    }
}

/// Integer downsampling by `M` on deinterleaved planes of exactly `TAPS` rows, 64 outputs per
/// iteration, with [`fir_tile`]; see `crate::resample::scalar::decimate` for the definition.
///
/// # Safety
/// The CPU must support avx2 and fma; `rows.len() == M * TAPS`, `d0 < TAPS`,
/// `planes.len() >= M * stride`, `stride >= count + TAPS - 1 + 64`, `out.len() >= count`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn decimate_tiled<const M: usize, const TAPS: usize, const NT: usize, const NT1: usize>(
    rows: &[f32],
    (c0, d0): (f32, usize),
    planes: &[f32],
    stride: usize,
    count: usize,
    out: &mut [f32],
) {
    const B: usize = 8;
    let pp = planes.as_ptr();
    let c0v = _mm256_set1_ps(c0);
    let mut g = 0;
    while g < count {
        let n = (count - g).min(8 * B);
        let i = g + TAPS - 1;
        let mut acc = [_mm256_setzero_ps(); B];
        for (b, acc_b) in acc.iter_mut().enumerate() {
            // SAFETY: i - d0 >= 0 as d0 < TAPS; i + 8b + 7 - d0 < count + TAPS - 1 + 8B <= stride.
            *acc_b = _mm256_mul_ps(c0v, unsafe { _mm256_loadu_ps(pp.add(i + 8 * b - d0)) });
        }
        for q in 1..M {
            let row = &rows[q * TAPS..(q + 1) * TAPS];
            // SAFETY: q < M and planes.len() >= M * stride: the plane start is in bounds; in
            // plane q, i + 1 >= TAPS and i + 63 < count + TAPS - 1 + 64 <= stride.
            let plane = unsafe { pp.add(q * stride) };
            if n <= 32 {
                // A short tail (160 outputs of a 20 ms chunk are 64 + 64 + 32): half a tile.
                let mut half: [__m256; 4] = std::array::from_fn(|b| acc[b]);
                // SAFETY: as above, reading up to i + 31 only.
                unsafe { fir_tile::<TAPS, NT, NT1, 4>(row, plane, i, &mut half) };
                acc[..4].copy_from_slice(&half);
            } else {
                // SAFETY: as above.
                unsafe { fir_tile::<TAPS, NT, NT1, 8>(row, plane, i, &mut acc) };
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
