//! SIMD kernels and CPU feature detection. The only module of `cxb-dsp` allowed `unsafe`;
//! every `unsafe` block carries a `// SAFETY:` comment. Each kernel here has a scalar
//! reference elsewhere in the crate and is property-tested against it.
#![allow(unsafe_code)]

pub mod g711;
pub mod resample;
pub mod vad;

/// The instruction set a kernel was chosen for, detected once at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable scalar code: the reference.
    Scalar,
    /// x86-64 AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// aarch64 Advanced SIMD.
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Isa::Neon;
            }
        }
        Isa::Scalar
    }
}

/// Bytes [`prefetch`] covers at most (a call's hot state fits; more would only evict).
pub const PREFETCH_MAX: usize = 32 * 1024;

/// Asks the CPU to start loading `v`'s memory (up to [`PREFETCH_MAX`] bytes) into the L2 cache,
/// one request per 64-byte line, without waiting for it: a shard calls it on the next call's
/// state before it works on the current one, so that call's first touches hit the cache instead
/// of memory. A hint only: no effect on results, and none on CPUs without a prefetch instruction.
#[inline]
pub fn prefetch<T: ?Sized>(v: &T) {
    prefetch_bytes((v as *const T).cast::<u8>(), std::mem::size_of_val(v));
}

/// [`prefetch`] of the elements of a slice.
#[inline]
pub fn prefetch_slice<T>(v: &[T]) {
    prefetch_bytes(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v));
}

#[inline]
fn prefetch_bytes(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let mut off = 0;
        while off < len.min(PREFETCH_MAX) {
            // SAFETY: a prefetch never faults and has no architectural effect; `p + off` stays
            // within the object `p` points to (`off < len`), so the pointer arithmetic is in
            // bounds. SSE (and so `prefetcht1`) is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.add(off).cast::<i8>()) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hint of any size, down to nothing, leaves memory as it was.
    #[test]
    fn prefetch_is_only_a_hint() {
        let big = vec![7u8; 3 * PREFETCH_MAX + 5];
        prefetch_slice(&big);
        prefetch_slice::<u64>(&[]);
        prefetch(&big[3]);
        prefetch(&big[..]);
        let odd = [1u16; 33];
        prefetch(&odd);
        assert!(big.iter().all(|&b| b == 7) && odd.iter().all(|&v| v == 1));
    }
}
