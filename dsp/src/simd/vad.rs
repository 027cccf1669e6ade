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

/// Runs [`Features::push`](crate::vad::features::Features::push): with [`Isa::Avx2`], a copy of
/// the whole step compiled for AVX2 and FMA, so its scalar feature code (band sums, logarithms,
/// ratios, rings) is vectorised 8 wide instead of 4. Rust never fuses a multiply and an add by
/// itself, and LLVM keeps the order of floating-point operations, so both copies give the same
/// bits.
pub(crate) fn features_push(f: &mut crate::vad::features::Features, frame: &[f32]) {
    match f.isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") => {
            // SAFETY: AVX2 and FMA support were just checked at run time.
            unsafe { avx2::features_push(f, frame) }
        }
        _ => f.push_generic(frame),
    }
}

/// Polyphase decimate-by-two FIR: `out[i] = Σ_k taps[k] · x[k + 1 + 2i]`, where the full-rate
/// input `x` is given split into its phases, `even[j] = x[2j]` and `odd[j] = x[2j + 1]`, so tap
/// `k` reads `odd[k / 2 + i]` for even `k` and `even[(k + 1) / 2 + i]` for odd `k`. Taps are
/// accumulated in ascending order from 0.0, with separate multiply and add (no FMA), so every
/// ISA gives the same bits.
///
/// Outputs whose inputs would run past the end of `even` or `odd` are left untouched.
pub fn poly_decimate(isa: Isa, taps: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            let m = poly_outputs(taps, even, odd, out);
            // SAFETY: AVX2 support was just checked at run time; `poly_outputs` bounds `m` so
            // every read stays inside `even` and `odd`.
            unsafe { avx2::poly_decimate(taps, even, odd, &mut out[..m]) }
        }
        _ => poly_decimate_scalar(taps, even, odd, out),
    }
}

/// Number of outputs of [`poly_decimate`] whose inputs all lie inside `even` and `odd`.
fn poly_outputs(taps: &[f32], even: &[f32], odd: &[f32], out: &[f32]) -> usize {
    let reach = taps.len() / 2; // phase samples read past output `i`, for either phase
    out.len()
        .min(even.len().saturating_sub(reach))
        .min(odd.len().saturating_sub(reach))
}

/// Scalar reference of [`poly_decimate`].
pub fn poly_decimate_scalar(taps: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
    let m = poly_outputs(taps, even, odd, out);
    if m == 0 {
        return;
    }
    // Tap-outer order (each output still sums its taps in ascending order from 0.0), so the
    // inner loop runs over contiguous samples and vectorises.
    let out = &mut out[..m];
    out.fill(0.0);
    for (k, &t) in taps.iter().enumerate() {
        let src = if k % 2 == 1 {
            &even[k.div_ceil(2)..k.div_ceil(2) + m]
        } else {
            &odd[k / 2..k / 2 + m]
        };
        for (o, &x) in out.iter_mut().zip(src) {
            *o += t * x;
        }
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

    /// [`super::features_push`] compiled for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn features_push(f: &mut crate::vad::features::Features, frame: &[f32]) {
        f.push_generic(frame);
    }

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

    /// Dot products of the first `n` items of `x` with the `N` rows `w`, `w + stride`, …,
    /// `w + (N - 1) * stride` (sharing the loads of `x`), each in the order of [`dot`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `x` must hold at least `n` items and `w` at least
    /// `(N - 1) * stride + n` items.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_rows<const N: usize>(w: *const f32, stride: usize, x: *const f32, n: usize) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        // SAFETY: row j < N starts at `w + j * stride`, inside `w`'s allocation (caller contract).
        let rows: [*const f32; N] = std::array::from_fn(|j| unsafe { w.add(j * stride) });
        let full = n / 8 * 8;
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= full <= n; `x` covers n items and each row covers n items (caller
            // contract).
            unsafe {
                let vx = _mm256_loadu_ps(x.add(i));
                for (acc, &row) in acc.iter_mut().zip(&rows) {
                    *acc = _mm256_fmadd_ps(_mm256_loadu_ps(row.add(i)), vx, *acc);
                }
            }
            i += 8;
        }
        let mut s = [0.0f32; N];
        for (s, &acc) in s.iter_mut().zip(&acc) {
            *s = hsum(acc);
        }
        while i < n {
            for (j, s) in s.iter_mut().enumerate() {
                // SAFETY: i < n; `x` and every row cover n items (caller contract).
                *s += unsafe { *w.add(j * stride + i) * *x.add(i) };
            }
            i += 1;
        }
        s
    }

    /// `N` rows of [`matvec`] from row `r`; false (nothing written) when `w`, `b` or `y` lack them.
    /// (Safe to call from code compiled with AVX2 and FMA enabled.)
    #[target_feature(enable = "avx2,fma")]
    fn rows_block<const N: usize>(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32], r: usize) -> bool {
        let cols = x.len();
        let (Some(rows), Some(bias), Some(y)) = (w.get(r * cols..(r + N) * cols), b.get(r..r + N), y.get_mut(r..r + N))
        else {
            return false;
        };
        // SAFETY: `rows` holds N * cols items (N rows of `cols`) and `x` holds `cols`; AVX2+FMA
        // per this fn's contract.
        let d = unsafe { dot_rows::<N>(rows.as_ptr(), cols, x.as_ptr(), cols) };
        for ((o, &bj), dj) in y.iter_mut().zip(bias).zip(d) {
            *o = bj + dj;
        }
        true
    }

    /// AVX2 [`super::matvec`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
        let cols = x.len();
        let mut r = 0;
        // Blocks of eight, then four rows sharing the loads of `x`.
        while r + 8 <= y.len() && rows_block::<8>(w, x, b, y, r) {
            r += 8;
        }
        while r + 4 <= y.len() && rows_block::<4>(w, x, b, y, r) {
            r += 4;
        }
        for (r, out) in y.iter_mut().enumerate().skip(r) {
            let (Some(row), Some(&bias)) = (w.get(r * cols..(r + 1) * cols), b.get(r)) else {
                return;
            };
            // SAFETY: `row` and `x` both hold exactly `cols` items; AVX2+FMA per this fn's contract.
            *out = bias + unsafe { dot(row.as_ptr(), x.as_ptr(), cols) };
        }
    }

    /// Dot products of the first `n` items of `a` with those of `b`, `b - 1`, …, `b - (N - 1)`
    /// (`N` consecutive lags sharing the loads of `a`), each in the order of [`dot`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` must hold at least `n` items and `b - (N - 1)` must
    /// point at least `n + N - 1` valid items.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_lags<const N: usize>(a: *const f32, b: *const f32, n: usize) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        let full = n / 8 * 8;
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= full <= n; `a` covers n items and `b - j` (j < N) covers n items
            // (caller contract).
            unsafe {
                let va = _mm256_loadu_ps(a.add(i));
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(va, _mm256_loadu_ps(b.add(i).sub(j)), *acc);
                }
            }
            i += 8;
        }
        let mut s = [0.0f32; N];
        for (s, &acc) in s.iter_mut().zip(&acc) {
            *s = hsum(acc);
        }
        while i < n {
            for (j, s) in s.iter_mut().enumerate() {
                // SAFETY: i < n; `a` covers n items and `b - j` (j < N) covers n items (caller
                // contract).
                *s += unsafe { *a.add(i) * *b.add(i).sub(j) };
            }
            i += 1;
        }
        s
    }

    /// AVX2 [`super::lagged_dots`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn lagged_dots(x: &[f32], base: usize, len: usize, lag_min: usize, out: &mut [f32]) {
        let Some(seg) = x.get(base..base + len) else {
            out.fill(0.0);
            return;
        };
        let mut k = 0;
        // Blocks of eight, then four lags whose delayed segments all start inside `x`.
        while k + 8 <= out.len() && lag_min + k + 7 <= base {
            let start = base - lag_min - k;
            // `del` spans the eight delayed segments: x[start - 7 .. start + len].
            let del = &x[start - 7..start + len];
            // SAFETY: `seg` holds `len` items; `del[7..]` holds `len` items and is preceded by
            // seven more items of `del`, so `b - j` covers `len` items for j < 8; AVX2+FMA per
            // this fn's contract.
            let d = unsafe { dot_lags::<8>(seg.as_ptr(), del.as_ptr().add(7), len) };
            out[k..k + 8].copy_from_slice(&d);
            k += 8;
        }
        while k + 4 <= out.len() && lag_min + k + 3 <= base {
            let start = base - lag_min - k;
            // `del` spans the four delayed segments: x[start - 3 .. start + len].
            let del = &x[start - 3..start + len];
            // SAFETY: as above with four lags.
            let d = unsafe { dot_lags::<4>(seg.as_ptr(), del.as_ptr().add(3), len) };
            out[k..k + 4].copy_from_slice(&d);
            k += 4;
        }
        for (k, o) in out.iter_mut().enumerate().skip(k) {
            let lag = lag_min + k;
            *o = match base.checked_sub(lag) {
                Some(start) => {
                    let del = &x[start..start + len];
                    // SAFETY: `seg` and `del` both hold exactly `len` items; AVX2+FMA per contract.
                    unsafe { dot(seg.as_ptr(), del.as_ptr(), len) }
                }
                None => 0.0,
            };
        }
    }

    /// `N` vectors (8·`N` consecutive outputs) of [`super::poly_decimate`], as `N` independent
    /// accumulator chains so the adds of one tap overlap across outputs (each output still sums
    /// its taps in ascending order from 0.0, multiply then add).
    ///
    /// # Safety
    /// The CPU must support AVX2; `o` and `e` must each point at least `taps.len() / 2 + 8 * N`
    /// valid items and `out` at least `8 * N` writable items.
    #[target_feature(enable = "avx2")]
    unsafe fn poly_block<const N: usize>(taps: &[f32], e: *const f32, o: *const f32, out: *mut f32) {
        let mut acc = [_mm256_setzero_ps(); N];
        let pairs = taps.len() / 2;
        // Tap 2j reads odd[j + ·], tap 2j + 1 reads even[j + 1 + ·].
        for (j, t) in taps.chunks_exact(2).enumerate() {
            let (v0, v1) = (_mm256_set1_ps(t[0]), _mm256_set1_ps(t[1]));
            // SAFETY: j + 1 + 8 * N <= pairs + 8 * N items are valid behind `o` and `e` (contract).
            unsafe {
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(v0, _mm256_loadu_ps(o.add(j + 8 * c))));
                }
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(v1, _mm256_loadu_ps(e.add(j + 1 + 8 * c))));
                }
            }
        }
        if taps.len() % 2 == 1 {
            let v = _mm256_set1_ps(taps[taps.len() - 1]);
            // SAFETY: pairs + 8 * N items are valid behind `o` (contract).
            unsafe {
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(v, _mm256_loadu_ps(o.add(pairs + 8 * c))));
                }
            }
        }
        for (c, a) in acc.iter().enumerate() {
            // SAFETY: 8 * c + 8 <= 8 * N writable items behind `out` (contract).
            unsafe { _mm256_storeu_ps(out.add(8 * c), *a) };
        }
    }

    /// AVX2 [`super::poly_decimate`] (multiply then add, as the scalar reference).
    ///
    /// # Safety
    /// The CPU must support AVX2; `even` and `odd` must each hold at least
    /// `out.len() + taps.len() / 2` items.
    #[target_feature(enable = "avx2")]
    pub unsafe fn poly_decimate(taps: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
        let m = out.len();
        let (e, o, y) = (even.as_ptr(), odd.as_ptr(), out.as_mut_ptr());
        let mut i = 0;
        // Blocks of 40 outputs (five independent chains: enough to cover the add latency), then
        // 16 and 8, then the scalar tail.
        while i + 40 <= m {
            // SAFETY: i + 40 <= m, so the phases hold taps.len() / 2 + 40 items from i and `out`
            // 40 from i (contract); AVX2 per this fn's contract.
            unsafe { poly_block::<5>(taps, e.add(i), o.add(i), y.add(i)) };
            i += 40;
        }
        while i + 16 <= m {
            // SAFETY: as above with 16 outputs.
            unsafe { poly_block::<2>(taps, e.add(i), o.add(i), y.add(i)) };
            i += 16;
        }
        while i + 8 <= m {
            // SAFETY: as above with 8 outputs.
            unsafe { poly_block::<1>(taps, e.add(i), o.add(i), y.add(i)) };
            i += 8;
        }
        super::poly_decimate_scalar(taps, &even[i..], &odd[i..], &mut out[i..]);
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

    proptest! {
        #[test]
        fn poly_decimate_selected_matches_scalar(
            ntaps in 0usize..40, ne in 0usize..120, no in 0usize..120, nout in 0usize..100, seed in any::<u64>()
        ) {
            let mut s = seed | 1;
            let mut rnd = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % 2001) as f32 / 1000.0 - 1.0 };
            let taps: Vec<f32> = (0..ntaps).map(|_| rnd()).collect();
            let even: Vec<f32> = (0..ne).map(|_| rnd()).collect();
            let odd: Vec<f32> = (0..no).map(|_| rnd()).collect();
            let mut o0 = vec![7.0; nout];
            let mut o1 = vec![7.0; nout];
            poly_decimate_scalar(&taps, &even, &odd, &mut o0);
            poly_decimate(Isa::detect(), &taps, &even, &odd, &mut o1);
            prop_assert_eq!(o0, o1);
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
