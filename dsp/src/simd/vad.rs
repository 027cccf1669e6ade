//! VAD kernels: dense matrix-vector product (the classifier layers) and lagged dot products (the
//! pitch autocorrelation), AVX2+FMA on x86-64.
//!
//! The scalar definitions are [`matvec_scalar`] and [`lagged_dots_scalar`]; they accumulate in
//! eight interleaved lanes, the same order the AVX2 kernels use, so results differ only by FMA
//! rounding. The AVX2 kernels are property-tested against them on random inputs of odd sizes.
//! On aarch64 the scalar code is used (LLVM vectorises its eight-lane loops for NEON).

use super::Isa;

/// Number of interleaved accumulator lanes of the reference order.
const LANES: usize = 8;

/// `y[r] = b[r] + Σ_c w[r * cols + c] · x[c]` for every row `r < y.len()`, with `cols = x.len()`.
///
/// Rows past the end of `w` or `b` are left untouched (never panics on short slices).
pub fn matvec(isa: Isa, w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") => {
            // SAFETY: AVX2 and FMA support were just checked at run time.
            unsafe { avx2::matvec(w, x, b, y) }
        }
        _ => matvec_scalar(w, x, b, y),
    }
}

/// `out[k] = Σ_{i < len} x[base + i] · x[base + i - lag_min - k]` for `k < out.len()`: the dot
/// products of the segment `x[base..base + len]` with itself delayed by `lag_min + k` samples.
///
/// Lags whose delayed segment would start before `x[0]`, or segments past the end of `x`, give 0.
pub fn lagged_dots(isa: Isa, x: &[f32], base: usize, len: usize, lag_min: usize, out: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") => {
            // SAFETY: AVX2 and FMA support were just checked at run time.
            unsafe { avx2::lagged_dots(x, base, len, lag_min, out) }
        }
        _ => lagged_dots_scalar(x, base, len, lag_min, out),
    }
}

/// Scalar reference of [`matvec`].
pub fn matvec_scalar(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    let cols = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        let (Some(row), Some(&bias)) = (w.get(r * cols..(r + 1) * cols), b.get(r)) else {
            return;
        };
        *out = bias + dot_scalar(row, x);
    }
}

/// Scalar reference of [`lagged_dots`].
pub fn lagged_dots_scalar(x: &[f32], base: usize, len: usize, lag_min: usize, out: &mut [f32]) {
    for (k, o) in out.iter_mut().enumerate() {
        let lag = lag_min + k;
        *o = match (base.checked_sub(lag), x.get(base..base + len)) {
            (Some(start), Some(seg)) => dot_scalar(seg, &x[start..start + len]),
            _ => 0.0,
        };
    }
}

/// Dot product in the reference order: eight interleaved partial sums, added pairwise at the end,
/// then the tail.
fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0.0f32; LANES];
    let full = n / LANES * LANES;
    for (ca, cb) in a[..full].chunks_exact(LANES).zip(b[..full].chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut s = hsum8(&acc);
    for i in full..n {
        s += a[i] * b[i];
    }
    s
}

/// Horizontal sum of eight lanes in the order the AVX2 kernel uses.
fn hsum8(a: &[f32; LANES]) -> f32 {
    let q = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let d = [q[0] + q[2], q[1] + q[3]];
    d[0] + d[1]
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Horizontal sum of an 8-lane vector (same pairing as the scalar `hsum8`).
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let q = _mm_add_ps(lo, hi);
        let d = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let s = _mm_add_ss(d, _mm_shuffle_ps::<0b01>(d, d));
        _mm_cvtss_f32(s)
    }

    /// Dot product of the first `n` items of `a` and `b`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` and `b` must both hold at least `n` items.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let full = n / 8 * 8;
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= full <= n and both pointers cover n items (caller contract).
            let (va, vb) = unsafe { (_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i))) };
            acc = _mm256_fmadd_ps(va, vb, acc);
            i += 8;
        }
        let mut s = hsum(acc);
        while i < n {
            // SAFETY: i < n and both pointers cover n items (caller contract).
            s += unsafe { *a.add(i) * *b.add(i) };
            i += 1;
        }
        s
    }

    /// AVX2 [`super::matvec`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
        let cols = x.len();
        for (r, out) in y.iter_mut().enumerate() {
            let (Some(row), Some(&bias)) = (w.get(r * cols..(r + 1) * cols), b.get(r)) else {
                return;
            };
            // SAFETY: `row` and `x` both hold exactly `cols` items; AVX2+FMA per this fn's contract.
            *out = bias + unsafe { dot(row.as_ptr(), x.as_ptr(), cols) };
        }
    }

    /// AVX2 [`super::lagged_dots`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn lagged_dots(x: &[f32], base: usize, len: usize, lag_min: usize, out: &mut [f32]) {
        for (k, o) in out.iter_mut().enumerate() {
            let lag = lag_min + k;
            *o = match (base.checked_sub(lag), x.get(base..base + len)) {
                (Some(start), Some(seg)) => {
                    let del = &x[start..start + len];
                    // SAFETY: `seg` and `del` both hold exactly `len` items; AVX2+FMA per contract.
                    unsafe { dot(seg.as_ptr(), del.as_ptr(), len) }
                }
                _ => 0.0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f32, b: f32, scale: f32) -> bool {
        (a - b).abs() <= 1e-5 * scale.max(1.0)
    }

    proptest! {
        #[test]
        fn matvec_selected_matches_scalar(
            rows in 1usize..40, cols in 1usize..75, seed in any::<u64>()
        ) {
            let mut s = seed | 1;
            let mut rnd = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % 2001) as f32 / 1000.0 - 1.0 };
            let w: Vec<f32> = (0..rows * cols).map(|_| rnd()).collect();
            let x: Vec<f32> = (0..cols).map(|_| rnd() * 3.0).collect();
            let b: Vec<f32> = (0..rows).map(|_| rnd()).collect();
            let mut y0 = vec![0.0; rows];
            let mut y1 = vec![0.0; rows];
            matvec_scalar(&w, &x, &b, &mut y0);
            matvec(Isa::detect(), &w, &x, &b, &mut y1);
            let scale: f32 = x.iter().map(|v| v.abs()).sum::<f32>() + 1.0;
            for r in 0..rows {
                prop_assert!(close(y0[r], y1[r], scale), "row {r}: {} vs {}", y0[r], y1[r]);
            }
        }

        #[test]
        fn lagged_dots_selected_matches_scalar(
            n in 1usize..200, base in 0usize..200, len in 0usize..90, lag_min in 0usize..30, nout in 0usize..70,
            seed in any::<u64>()
        ) {
            let mut s = seed | 1;
            let mut rnd = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % 2001) as f32 / 1000.0 - 1.0 };
            let x: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let mut o0 = vec![0.0; nout];
            let mut o1 = vec![0.0; nout];
            lagged_dots_scalar(&x, base, len, lag_min, &mut o0);
            lagged_dots(Isa::detect(), &x, base, len, lag_min, &mut o1);
            for k in 0..nout {
                prop_assert!(close(o0[k], o1[k], len as f32), "lag {k}: {} vs {}", o0[k], o1[k]);
            }
        }
    }

    #[test]
    fn short_slices_do_not_panic() {
        let mut y = [7.0f32; 4];
        matvec(Isa::detect(), &[1.0; 5], &[1.0, 2.0], &[0.5; 4], &mut y);
        assert_eq!(y, [3.5, 3.5, 7.0, 7.0]);
        let mut o = [1.0f32; 3];
        lagged_dots(Isa::detect(), &[1.0; 10], 8, 4, 7, &mut o);
        assert_eq!(o, [0.0; 3]);
    }
}
