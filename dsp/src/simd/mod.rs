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
