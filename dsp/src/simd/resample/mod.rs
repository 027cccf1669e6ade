//! Resampler kernels, chosen once at construction (`Kernel::new`) and dispatched by `match`:
//! the scalar reference lives in `crate::resample::scalar`, the vector versions in `avx2.rs`
//! (x86-64 AVX2 + FMA, f32x8) and `neon.rs` (aarch64, f32x4). The `i16` ↔ `f32` conversions
//! and the 2-plane deinterleave have AVX2 versions; on NEON they use the scalar loops (NEON is
//! baseline on aarch64, so the compiler may auto-vectorise them; a NEON port is future work).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "aarch64")]
mod neon;

use super::Isa;
use crate::resample::scalar;

/// Extra readable (initialised) samples the vector upsampling kernels may load past the last
/// valid input; their lanes are computed and discarded.
pub(crate) const UPSAMPLE_SLACK: usize = 80;

/// Extra readable samples per plane the vector downsampling kernels may load past the last
/// valid one; their lanes are computed and discarded.
pub(crate) const DECIMATE_SLACK: usize = 80;

// The tiled AVX2 kernels read up to 64 samples past the last valid one.
const _: () = assert!(UPSAMPLE_SLACK >= 64 && DECIMATE_SLACK >= 64);

/// The kernel set of one resampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Scalar reference.
    Scalar,
    /// AVX2 + FMA; only constructed when the CPU has both.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// NEON; only constructed when the CPU has it.
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Kernel {
    /// The kernel for `isa`, falling back to scalar when this CPU lacks the requested
    /// instruction set (so the vector variants are only ever built where they may run).
    pub(crate) fn new(isa: Isa) -> Kernel {
        match isa {
            Isa::Scalar => Kernel::Scalar,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    Kernel::Avx2
                } else {
                    Kernel::Scalar
                }
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                if std::arch::is_aarch64_feature_detected!("neon") {
                    Kernel::Neon
                } else {
                    Kernel::Scalar
                }
            }
        }
    }

    /// The instruction set this kernel runs.
    pub(crate) fn isa(self) -> Isa {
        match self {
            Kernel::Scalar => Isa::Scalar,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => Isa::Avx2,
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => Isa::Neon,
        }
    }

    /// `Σ c[t] · x[t]`; `c.len() == x.len()`, a multiple of 8.
    #[inline]
    pub(crate) fn dot(self, c: &[f32], x: &[f32]) -> f32 {
        assert!(c.len() == x.len() && c.len().is_multiple_of(8));
        match self {
            Kernel::Scalar => scalar::dot(c, x),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only constructed after detecting avx2 and fma; the
            // lengths were checked above.
            Kernel::Avx2 => unsafe { avx2::dot(c, x) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: `Kernel::Neon` is only constructed after detecting neon; the lengths were
            // checked above.
            Kernel::Neon => unsafe { neon::dot(c, x) },
        }
    }

    /// Four dot products of length `n` (a multiple of 8), output `j` being
    /// `Σ_t bank[rows[j] + t] · x[starts[j] + t]`. Each equals what [`dot`](Self::dot) returns
    /// for it, bit for bit, so outputs do not depend on how they were grouped.
    #[inline]
    pub(crate) fn dot4(self, bank: &[f32], rows: [usize; 4], n: usize, x: &[f32], starts: [usize; 4]) -> [f32; 4] {
        assert!(
            n.is_multiple_of(8)
                && rows.iter().all(|&r| r + n <= bank.len())
                && starts.iter().all(|&s| s + n <= x.len())
        );
        match self {
            Kernel::Scalar => scalar::dot4(bank, rows, n, x, starts),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only constructed after detecting avx2 and fma; the
            // bounds were checked above.
            Kernel::Avx2 => unsafe { avx2::dot4(bank, rows, n, x, starts) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: `Kernel::Neon` is only constructed after detecting neon; the bounds were
            // checked above.
            Kernel::Neon => unsafe { neon::dot4(bank, rows, n, x, starts) },
        }
    }

    /// Integer upsampling by `l ∈ {2, 3, 6}`; see [`scalar::upsample`] for the definition. The
    /// vector versions read up to [`UPSAMPLE_SLACK`] samples past `first + count`, so `x` must
    /// hold that many more.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn upsample(
        self,
        bank: &[f32],
        l: usize,
        taps: usize,
        delay: (usize, usize),
        x: &[f32],
        first: usize,
        count: usize,
        out: &mut [f32],
    ) {
        assert!(
            bank.len() == l * taps
                && first + 1 >= taps
                && first >= delay.1
                && delay.0 < l
                && x.len() >= first + count + UPSAMPLE_SLACK
                && out.len() >= count * l
        );
        match self {
            Kernel::Scalar => scalar::upsample(bank, l, taps, delay, x, first, count, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => match (l, taps) {
                // SAFETY: avx2+fma detected at construction (see `Kernel::new`); the bounds the
                // kernel relies on (history before `first`, slack after, output room) were
                // asserted above, and `taps` is the kernel's `TAPS`.
                (2, 49) => unsafe { avx2::upsample_tiled::<2, 49, 7, 6>(bank, delay, x, first, count, out) },
                // SAFETY: as above.
                (3, 49) => unsafe { avx2::upsample_tiled::<3, 49, 7, 6>(bank, delay, x, first, count, out) },
                // SAFETY: as above.
                (6, 49) => unsafe { avx2::upsample_tiled::<6, 49, 7, 6>(bank, delay, x, first, count, out) },
                // SAFETY: as above.
                (2, _) => unsafe { avx2::upsample::<2, 10>(bank, taps, delay, x, first, count, out) },
                // SAFETY: as above.
                (3, _) => unsafe { avx2::upsample::<3, 10>(bank, taps, delay, x, first, count, out) },
                // SAFETY: as above.
                (6, _) => unsafe { avx2::upsample::<6, 10>(bank, taps, delay, x, first, count, out) },
                _ => scalar::upsample(bank, l, taps, delay, x, first, count, out),
            },
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => match l {
                // SAFETY: neon detected at construction (see `Kernel::new`); the bounds the
                // kernel relies on were asserted above.
                2 => unsafe { neon::upsample::<2, 4>(bank, taps, delay, x, first, count, out) },
                // SAFETY: as above.
                3 => unsafe { neon::upsample::<3, 4>(bank, taps, delay, x, first, count, out) },
                // SAFETY: as above.
                6 => unsafe { neon::upsample::<6, 4>(bank, taps, delay, x, first, count, out) },
                _ => scalar::upsample(bank, l, taps, delay, x, first, count, out),
            },
        }
    }

    /// Integer downsampling by `m ∈ {2, 3, 6}` on deinterleaved planes; see
    /// [`scalar::decimate`] for the definition. The vector versions read up to
    /// [`DECIMATE_SLACK`] samples past `count + a − 1` in each plane.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn decimate(
        self,
        rows: &[f32],
        a: usize,
        m: usize,
        center: (f32, usize),
        planes: &[f32],
        stride: usize,
        count: usize,
        out: &mut [f32],
    ) {
        assert!(
            rows.len() == m * a
                && a >= 1
                && center.1 < a
                && planes.len() >= m * stride
                && stride >= count + a - 1 + DECIMATE_SLACK
                && out.len() >= count
        );
        match self {
            Kernel::Scalar => scalar::decimate(rows, a, m, center, planes, stride, count, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => match (m, a) {
                // SAFETY: avx2+fma detected at construction (see `Kernel::new`); the plane
                // bounds and slack the kernel relies on were asserted above, and `a` is the
                // kernel's `TAPS`.
                (2, 49) => unsafe { avx2::decimate_tiled::<2, 49, 7, 6>(rows, center, planes, stride, count, out) },
                // SAFETY: as above.
                (3, 49) => unsafe { avx2::decimate_tiled::<3, 49, 7, 6>(rows, center, planes, stride, count, out) },
                // SAFETY: as above.
                (6, 49) => unsafe { avx2::decimate_tiled::<6, 49, 7, 6>(rows, center, planes, stride, count, out) },
                // SAFETY: as above.
                (2, _) => unsafe { avx2::decimate::<2, 10>(rows, a, center, planes, stride, count, out) },
                // SAFETY: as above.
                (3, _) => unsafe { avx2::decimate::<3, 10>(rows, a, center, planes, stride, count, out) },
                // SAFETY: as above.
                (6, _) => unsafe { avx2::decimate::<6, 10>(rows, a, center, planes, stride, count, out) },
                _ => scalar::decimate(rows, a, m, center, planes, stride, count, out),
            },
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => match m {
                // SAFETY: neon detected at construction (see `Kernel::new`); the plane bounds
                // and slack the kernel relies on were asserted above.
                2 => unsafe { neon::decimate::<2, 4>(rows, a, center, planes, stride, count, out) },
                // SAFETY: as above.
                3 => unsafe { neon::decimate::<3, 4>(rows, a, center, planes, stride, count, out) },
                // SAFETY: as above.
                6 => unsafe { neon::decimate::<6, 4>(rows, a, center, planes, stride, count, out) },
                _ => scalar::decimate(rows, a, m, center, planes, stride, count, out),
            },
        }
    }
    /// 16-bit samples to `f32` scaled by 1/32768, over the common length of `src` and `dst`;
    /// bit-identical to [`scalar::i16_to_f32`] on every kernel.
    #[inline]
    pub(crate) fn i16_to_f32(self, src: &[i16], dst: &mut [f32]) {
        match self {
            Kernel::Scalar => scalar::i16_to_f32(src, dst),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only constructed after detecting avx2 and fma; the kernel
            // bounds itself to the common length.
            Kernel::Avx2 => unsafe { avx2::i16_to_f32(src, dst) },
            // NEON is baseline on aarch64, so the scalar loop is auto-vectorised there.
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => scalar::i16_to_f32(src, dst),
        }
    }

    /// Round (ties to even) and saturate `f32` scaled by 32768 to 16-bit, NaN to 0, over the
    /// common length of `src` and `dst`; bit-identical to [`scalar::f32_to_i16`] on every kernel.
    #[inline]
    pub(crate) fn f32_to_i16(self, src: &[f32], dst: &mut [i16]) {
        match self {
            Kernel::Scalar => scalar::f32_to_i16(src, dst),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only constructed after detecting avx2 and fma; the kernel
            // bounds itself to the common length; Rust code runs with the default MXCSR
            // rounding mode (nearest even).
            Kernel::Avx2 => unsafe { avx2::f32_to_i16(src, dst) },
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => scalar::f32_to_i16(src, dst),
        }
    }

    /// Split interleaved pairs: `even[r] = src[2 r]`, `odd[r] = src[2 r + 1]` for `r < n`;
    /// a pure copy, identical on every kernel.
    #[inline]
    pub(crate) fn deinterleave2(self, src: &[f32], even: &mut [f32], odd: &mut [f32], n: usize) {
        assert!(src.len() >= 2 * n && even.len() >= n && odd.len() >= n);
        match self {
            Kernel::Scalar => scalar::deinterleave2(src, even, odd, n),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only constructed after detecting avx2 and fma; the
            // lengths were checked above.
            Kernel::Avx2 => unsafe { avx2::deinterleave2(src, even, odd, n) },
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => scalar::deinterleave2(src, even, odd, n),
        }
    }
}
