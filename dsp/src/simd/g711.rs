//! G.711 slice kernels: AVX2 arithmetic encode and decode of 16 samples per step.
//!
//! The scalar definition is [`crate::g711::scalar`] (itself tested bit-exact against the ITU-T
//! G.191 reference); these kernels are tested against it exhaustively and on random slices of odd
//! lengths. Variable per-lane shifts, which AVX2 lacks for 16-bit lanes, are done as
//! multiplications by a power of two looked up with `pshufb`.
//!
//! Every function here processes `min(input.len(), output.len())` items and returns that count.

use super::Isa;
use crate::g711::scalar;

/// µ-law encodes with the kernel for `isa`.
pub fn encode_ulaw(isa: Isa, pcm: &[i16], out: &mut [u8]) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: AVX2 support was just checked at run time.
            unsafe { avx2::encode_ulaw(pcm, out) }
        }
        _ => scalar::encode_ulaw(pcm, out),
    }
}

/// A-law encodes with the kernel for `isa`.
pub fn encode_alaw(isa: Isa, pcm: &[i16], out: &mut [u8]) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: AVX2 support was just checked at run time.
            unsafe { avx2::encode_alaw(pcm, out) }
        }
        _ => scalar::encode_alaw(pcm, out),
    }
}

/// µ-law decodes with the kernel for `isa`.
pub fn decode_ulaw(isa: Isa, codes: &[u8], out: &mut [i16]) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: AVX2 support was just checked at run time.
            unsafe { avx2::decode_ulaw(codes, out) }
        }
        _ => scalar::decode_ulaw(codes, out),
    }
}

/// A-law decodes with the kernel for `isa`.
pub fn decode_alaw(isa: Isa, codes: &[u8], out: &mut [i16]) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: AVX2 support was just checked at run time.
            unsafe { avx2::decode_alaw(codes, out) }
        }
        _ => scalar::decode_alaw(codes, out),
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::g711::scalar;

    /// Bytes `0x80 >> k` for k = 0..8, in both 128-bit lanes (for `pshufb`).
    #[target_feature(enable = "avx2")]
    fn shr_table() -> __m256i {
        _mm256_setr_epi8(
            -128, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, -128, 0x40, 0x20, 0x10, 0x08, 0x04,
            0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
        )
    }

    /// Bytes `1 << k` for k = 0..8, in both 128-bit lanes (for `pshufb`).
    #[target_feature(enable = "avx2")]
    fn shl_table() -> __m256i {
        _mm256_setr_epi8(
            1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0,
        )
    }

    /// Per 16-bit lane `k` in 0..8: `0x8000 >> k` (multiplier for a right shift by `k + 1` via `mulhi`).
    #[target_feature(enable = "avx2")]
    fn pow_hi(k: __m256i) -> __m256i {
        // Low byte index 0x80 selects zero; high byte index k selects 0x80 >> k.
        let idx = _mm256_or_si256(_mm256_slli_epi16::<8>(k), _mm256_set1_epi16(0x0080));
        _mm256_shuffle_epi8(shr_table(), idx)
    }

    /// Per 16-bit lane `k` in 0..8: `1 << k` (multiplier for a left shift by `k` via `mullo`).
    #[target_feature(enable = "avx2")]
    fn pow_lo(k: __m256i) -> __m256i {
        let idx = _mm256_or_si256(k, _mm256_set1_epi16(-0x8000));
        _mm256_shuffle_epi8(shl_table(), idx)
    }

    /// Narrows 16 lanes holding values 0..=255 to 16 bytes.
    #[target_feature(enable = "avx2")]
    fn narrow(v: __m256i) -> __m128i {
        _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
    }

    #[target_feature(enable = "avx2")]
    fn ulaw_encode16(x: __m256i) -> __m128i {
        let sign = _mm256_srai_epi16::<15>(x);
        let mag = _mm256_xor_si256(x, sign);
        let a = _mm256_min_epi16(
            _mm256_add_epi16(_mm256_srli_epi16::<2>(mag), _mm256_set1_epi16(33)),
            _mm256_set1_epi16(0x1FFF),
        );
        // seg = bit length of a >> 6, counted with compares (each true lane is -1).
        let mut seg = _mm256_setzero_si256();
        for t in [63, 127, 255, 511, 1023, 2047, 4095] {
            seg = _mm256_sub_epi16(seg, _mm256_cmpgt_epi16(a, _mm256_set1_epi16(t)));
        }
        let mant = _mm256_and_si256(_mm256_mulhi_epu16(a, pow_hi(seg)), _mm256_set1_epi16(0xF));
        let code = _mm256_xor_si256(
            _mm256_or_si256(_mm256_slli_epi16::<4>(seg), mant),
            _mm256_set1_epi16(0x7F),
        );
        let code = _mm256_or_si256(code, _mm256_andnot_si256(sign, _mm256_set1_epi16(0x80)));
        narrow(code)
    }

    #[target_feature(enable = "avx2")]
    fn alaw_encode16(x: __m256i) -> __m128i {
        let sign = _mm256_srai_epi16::<15>(x);
        let ix = _mm256_srli_epi16::<4>(_mm256_xor_si256(x, sign));
        let mut e = _mm256_setzero_si256();
        for t in [15, 31, 63, 127, 255, 511, 1023] {
            e = _mm256_sub_epi16(e, _mm256_cmpgt_epi16(ix, _mm256_set1_epi16(t)));
        }
        // mant = (ix >> max(e - 1, 0)) & 15 = ((2 ix) >> (max(e - 1, 0) + 1)) & 15.
        let s = _mm256_subs_epu16(e, _mm256_set1_epi16(1));
        let mant = _mm256_and_si256(
            _mm256_mulhi_epu16(_mm256_slli_epi16::<1>(ix), pow_hi(s)),
            _mm256_set1_epi16(0xF),
        );
        let code = _mm256_or_si256(_mm256_slli_epi16::<4>(e), mant);
        let code = _mm256_or_si256(code, _mm256_andnot_si256(sign, _mm256_set1_epi16(0x80)));
        narrow(_mm256_xor_si256(code, _mm256_set1_epi16(0x55)))
    }

    #[target_feature(enable = "avx2")]
    fn ulaw_decode16(c: __m256i) -> __m256i {
        let m = _mm256_xor_si256(c, _mm256_set1_epi16(0xFF));
        let e = _mm256_and_si256(_mm256_srli_epi16::<4>(m), _mm256_set1_epi16(7));
        let mant = _mm256_and_si256(m, _mm256_set1_epi16(0xF));
        let base = _mm256_add_epi16(_mm256_slli_epi16::<3>(mant), _mm256_set1_epi16(132));
        let val = _mm256_sub_epi16(_mm256_mullo_epi16(base, pow_lo(e)), _mm256_set1_epi16(132));
        let neg = _mm256_cmpgt_epi16(_mm256_set1_epi16(0x80), c);
        _mm256_sub_epi16(_mm256_xor_si256(val, neg), neg)
    }

    #[target_feature(enable = "avx2")]
    fn alaw_decode16(c: __m256i) -> __m256i {
        let ix = _mm256_and_si256(_mm256_xor_si256(c, _mm256_set1_epi16(0x55)), _mm256_set1_epi16(0x7F));
        let e = _mm256_srli_epi16::<4>(ix);
        let lead = _mm256_and_si256(_mm256_cmpgt_epi16(e, _mm256_setzero_si256()), _mm256_set1_epi16(16));
        let mant = _mm256_or_si256(_mm256_and_si256(ix, _mm256_set1_epi16(0xF)), lead);
        let mant = _mm256_add_epi16(_mm256_slli_epi16::<4>(mant), _mm256_set1_epi16(8));
        let s = _mm256_subs_epu16(e, _mm256_set1_epi16(1));
        let val = _mm256_mullo_epi16(mant, pow_lo(s));
        let neg = _mm256_cmpgt_epi16(_mm256_set1_epi16(0x80), c);
        _mm256_sub_epi16(_mm256_xor_si256(val, neg), neg)
    }

    macro_rules! encoder {
        ($name:ident, $kernel:ident, $tail:path) => {
            #[target_feature(enable = "avx2")]
            pub(super) fn $name(pcm: &[i16], out: &mut [u8]) -> usize {
                let n = pcm.len().min(out.len());
                let done = n / 16 * 16;
                for (src, dst) in pcm[..done].chunks_exact(16).zip(out[..done].chunks_exact_mut(16)) {
                    // SAFETY: `src` holds exactly 16 i16 (32 bytes) and `dst` exactly 16 bytes;
                    // the loads/stores are unaligned, so any alignment is fine.
                    unsafe {
                        let x = _mm256_loadu_si256(src.as_ptr().cast());
                        _mm_storeu_si128(dst.as_mut_ptr().cast(), $kernel(x));
                    }
                }
                $tail(&pcm[done..n], &mut out[done..n]);
                n
            }
        };
    }

    macro_rules! decoder {
        ($name:ident, $kernel:ident, $tail:path) => {
            #[target_feature(enable = "avx2")]
            pub(super) fn $name(codes: &[u8], out: &mut [i16]) -> usize {
                let n = codes.len().min(out.len());
                let done = n / 16 * 16;
                for (src, dst) in codes[..done]
                    .chunks_exact(16)
                    .zip(out[..done].chunks_exact_mut(16))
                {
                    // SAFETY: `src` holds exactly 16 bytes and `dst` exactly 16 i16 (32 bytes);
                    // the loads/stores are unaligned, so any alignment is fine.
                    unsafe {
                        let c = _mm256_cvtepu8_epi16(_mm_loadu_si128(src.as_ptr().cast()));
                        _mm256_storeu_si256(dst.as_mut_ptr().cast(), $kernel(c));
                    }
                }
                $tail(&codes[done..n], &mut out[done..n]);
                n
            }
        };
    }

    encoder!(encode_ulaw, ulaw_encode16, scalar::encode_ulaw);
    encoder!(encode_alaw, alaw_encode16, scalar::encode_alaw);
    decoder!(decode_ulaw, ulaw_decode16, scalar::decode_ulaw);
    decoder!(decode_alaw, alaw_decode16, scalar::decode_alaw);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn all_isas() -> Vec<Isa> {
        let mut v = vec![Isa::Scalar];
        let best = Isa::detect();
        if best != Isa::Scalar {
            v.push(best);
        }
        v
    }

    #[test]
    fn every_isa_matches_scalar_exhaustively() {
        let pcm: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut want = vec![0u8; pcm.len()];
        let mut got = vec![0u8; pcm.len()];
        let codes: Vec<u8> = (0..=255u8).collect();
        let mut want_d = [0i16; 256];
        let mut got_d = [0i16; 256];
        for isa in all_isas() {
            scalar::encode_ulaw(&pcm, &mut want);
            assert_eq!(encode_ulaw(isa, &pcm, &mut got), pcm.len());
            assert_eq!(want, got, "µ-law encode {isa:?}");
            scalar::encode_alaw(&pcm, &mut want);
            encode_alaw(isa, &pcm, &mut got);
            assert_eq!(want, got, "A-law encode {isa:?}");
            scalar::decode_ulaw(&codes, &mut want_d);
            decode_ulaw(isa, &codes, &mut got_d);
            assert_eq!(want_d, got_d, "µ-law decode {isa:?}");
            scalar::decode_alaw(&codes, &mut want_d);
            decode_alaw(isa, &codes, &mut got_d);
            assert_eq!(want_d, got_d, "A-law decode {isa:?}");
        }
    }

    proptest! {
        #[test]
        fn random_odd_slices_match_scalar(pcm in proptest::collection::vec(any::<i16>(), 0..200), extra in 0usize..40) {
            let isa = Isa::detect();
            // Output buffers of a different (often odd) length than the input.
            let n = pcm.len().min(pcm.len().saturating_sub(extra).max(1));
            let mut want = vec![0u8; n];
            let mut got = vec![0u8; n];
            prop_assert_eq!(scalar::encode_ulaw(&pcm, &mut want), encode_ulaw(isa, &pcm, &mut got));
            prop_assert_eq!(&want, &got);
            prop_assert_eq!(scalar::encode_alaw(&pcm, &mut want), encode_alaw(isa, &pcm, &mut got));
            prop_assert_eq!(&want, &got);
            let codes: Vec<u8> = pcm.iter().map(|&x| x as u8).collect();
            let mut want_d = vec![0i16; codes.len() + extra];
            let mut got_d = vec![0i16; codes.len() + extra];
            prop_assert_eq!(scalar::decode_ulaw(&codes, &mut want_d), decode_ulaw(isa, &codes, &mut got_d));
            prop_assert_eq!(&want_d, &got_d);
            prop_assert_eq!(scalar::decode_alaw(&codes, &mut want_d), decode_alaw(isa, &codes, &mut got_d));
            prop_assert_eq!(&want_d, &got_d);
        }
    }
}
