//! G.711 µ-law and A-law (ITU-T G.711), bit-exact with the ITU-T G.191 STL reference.
//!
//! The definition is [`reference`], a faithful transcription of the STL `g711.c`
//! (`ulaw_compress`/`ulaw_expand`/`alaw_compress`/`alaw_expand`) on 16-bit linear samples: µ-law
//! uses the top 14 bits (`x >> 2`), A-law the top 13 bits (`x >> 3`, i.e. a 12-bit magnitude).
//! The fast per-sample functions ([`ulaw_encode`], [`ulaw_decode`], [`alaw_encode`],
//! [`alaw_decode`]) use 256-entry decode tables and 16K/4K-entry encode tables (indexed by
//! `x >> 2` / `x >> 4`: the STL's A-law reads only the 12-bit magnitude of the one's complement),
//! all built at compile time from branch-free leading-zeros code. They are tested exhaustively
//! against the reference on all 65,536 inputs and all 256 codes. The slice functions dispatch once per process to the best kernel in
//! [`crate::simd::g711`] (AVX2 on x86-64), which is property-tested against the scalar code.

use std::sync::OnceLock;

use crate::simd::{self, Isa};

pub mod reference {
    //! Straight transcription of ITU-T G.191 STL `g711.c`: the scalar definition of G.711 here.
    //! Slow (loops per sample); use the functions of the parent module for real work.

    /// `alaw_compress` of the STL for one 16-bit linear sample.
    pub fn alaw_compress(lin: i16) -> u8 {
        let lin = i32::from(lin);
        // 0 <= ix < 2048; one's complement for negative values.
        let mut ix = if lin < 0 { (!lin) >> 4 } else { lin >> 4 };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if lin >= 0 {
            ix |= 0x0080;
        }
        (ix ^ 0x0055) as u8
    }

    /// `alaw_expand` of the STL for one code.
    pub fn alaw_expand(code: u8) -> i16 {
        let mut ix = i32::from(code) ^ 0x0055;
        ix &= 0x007F;
        let iexp = ix >> 4;
        let mut mant = ix & 0x000F;
        if iexp > 0 {
            mant += 16;
        }
        mant = (mant << 4) + 0x0008;
        if iexp > 1 {
            mant <<= iexp - 1;
        }
        (if code > 127 { mant } else { -mant }) as i16
    }

    /// `ulaw_compress` of the STL for one 16-bit linear sample.
    pub fn ulaw_compress(lin: i16) -> u8 {
        let lin = i32::from(lin);
        // 33 is the difference between the A-law and µ-law thresholds.
        let mut absno = if lin < 0 { ((!lin) >> 2) + 33 } else { (lin >> 2) + 33 };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high_nibble = 0x0008 - segno;
        let low_nibble = 0x000F - ((absno >> segno) & 0x000F);
        let mut code = (high_nibble << 4) | low_nibble;
        if lin >= 0 {
            code |= 0x0080;
        }
        code as u8
    }

    /// `ulaw_expand` of the STL for one code.
    pub fn ulaw_expand(code: u8) -> i16 {
        let code = i32::from(code);
        let sign = if code < 0x0080 { -1 } else { 1 };
        let mantissa = !code;
        let exponent = (mantissa >> 4) & 0x0007;
        let segment = exponent + 1;
        let mantissa = mantissa & 0x000F;
        let step = 4 << segment;
        (sign * ((0x0080 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16
    }
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut c = 0;
    while c < 256 {
        // Same arithmetic as `reference::ulaw_expand`, in a const context.
        let code = c as i32;
        let sign = if code < 0x80 { -1 } else { 1 };
        let m = !code;
        let e = (m >> 4) & 7;
        let step = 4 << (e + 1);
        t[c] = (sign * ((0x80 << e) + step * (m & 15) + step / 2 - 132)) as i16;
        c += 1;
    }
    t
}

const fn build_alaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut c = 0;
    while c < 256 {
        let ix = ((c as i32) ^ 0x55) & 0x7F;
        let e = ix >> 4;
        let mut mant = ix & 15;
        if e > 0 {
            mant += 16;
        }
        mant = (mant << 4) + 8;
        if e > 1 {
            mant <<= e - 1;
        }
        t[c] = (if c > 127 { mant } else { -mant }) as i16;
        c += 1;
    }
    t
}

/// µ-law code → 16-bit linear, per the STL `ulaw_expand`.
pub static ULAW_DECODE_TABLE: [i16; 256] = build_ulaw_table();
/// A-law code → 16-bit linear, per the STL `alaw_expand`.
pub static ALAW_DECODE_TABLE: [i16; 256] = build_alaw_table();

/// Branch-free µ-law encoder (leading-zeros segment search); builds [`ULAW_ENCODE_TABLE`].
#[inline]
pub const fn ulaw_encode_arith(x: i16) -> u8 {
    let x = x as i32;
    let sign = x >> 31; // 0 or -1
    let mut absno = ((x ^ sign) >> 2) + 33;
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let absno = absno as u32;
    // segno - 1 = bit length of absno >> 6 (0..=7).
    let seg = 32 - (absno >> 6).leading_zeros();
    let mant = (absno >> (seg + 1)) & 0xF;
    let code = ((seg << 4) | mant) ^ 0x7F;
    (code | ((!sign as u32) & 0x80)) as u8
}

const fn build_ulaw_encode() -> [u8; 1 << 14] {
    let mut t = [0u8; 1 << 14];
    let mut i = 0;
    while i < 1 << 14 {
        // Index = x >> 2 as 14-bit two's complement; the code depends on nothing else.
        let x = (((i as i32) << 18) >> 16) as i16;
        t[i] = ulaw_encode_arith(x);
        i += 1;
    }
    t
}

/// µ-law codes indexed by the 14-bit `x >> 2` (the code depends on nothing else).
pub static ULAW_ENCODE_TABLE: [u8; 1 << 14] = build_ulaw_encode();

/// Encodes one 16-bit linear sample to µ-law (bit-exact with the STL `ulaw_compress`):
/// one lookup in a 16 KiB table.
#[inline]
pub fn ulaw_encode(x: i16) -> u8 {
    ULAW_ENCODE_TABLE[usize::from((x >> 2) as u16 & 0x3FFF)]
}

/// Decodes one µ-law code to 16-bit linear (bit-exact with the STL `ulaw_expand`).
#[inline]
pub fn ulaw_decode(c: u8) -> i16 {
    ULAW_DECODE_TABLE[usize::from(c)]
}

/// Branch-free A-law encoder (leading-zeros exponent search); builds [`ALAW_ENCODE_TABLE`].
#[inline]
pub const fn alaw_encode_arith(x: i16) -> u8 {
    let x = x as i32;
    let sign = x >> 31;
    let ix = ((x ^ sign) >> 4) as u32; // 0..2048
    // exponent = bit length of ix >> 4 (0..=7); mantissa shift = max(exponent - 1, 0).
    let e = 32 - (ix >> 4).leading_zeros();
    let mant = (ix >> e.saturating_sub(1)) & 0xF;
    let code = (e << 4) | mant | ((!sign as u32) & 0x80);
    (code ^ 0x55) as u8
}

const fn build_alaw_encode() -> [u8; 1 << 12] {
    let mut t = [0u8; 1 << 12];
    let mut i = 0;
    while i < 1 << 12 {
        // Index = x >> 4 as 12-bit two's complement; the code depends on nothing else.
        let x = (((i as i32) << 20) >> 16) as i16;
        t[i] = alaw_encode_arith(x);
        i += 1;
    }
    t
}

/// A-law codes indexed by the 12-bit `x >> 4` (the code depends on nothing else).
pub static ALAW_ENCODE_TABLE: [u8; 1 << 12] = build_alaw_encode();

/// Encodes one 16-bit linear sample to A-law (bit-exact with the STL `alaw_compress`):
/// one lookup in a 4 KiB table.
#[inline]
pub fn alaw_encode(x: i16) -> u8 {
    ALAW_ENCODE_TABLE[usize::from((x >> 4) as u16 & 0x0FFF)]
}

/// Decodes one A-law code to 16-bit linear (bit-exact with the STL `alaw_expand`).
#[inline]
pub fn alaw_decode(c: u8) -> i16 {
    ALAW_DECODE_TABLE[usize::from(c)]
}

/// Scalar slice kernels: the reference the SIMD kernels are tested against.
pub mod scalar {
    use super::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};

    /// µ-law encodes `min(pcm.len(), out.len())` samples; returns that count.
    pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        for (o, &x) in out[..n].iter_mut().zip(&pcm[..n]) {
            *o = ulaw_encode(x);
        }
        n
    }

    /// µ-law decodes `min(codes.len(), out.len())` codes; returns that count.
    pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
        let n = codes.len().min(out.len());
        for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
            *o = ulaw_decode(c);
        }
        n
    }

    /// A-law encodes `min(pcm.len(), out.len())` samples; returns that count.
    pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        for (o, &x) in out[..n].iter_mut().zip(&pcm[..n]) {
            *o = alaw_encode(x);
        }
        n
    }

    /// A-law decodes `min(codes.len(), out.len())` codes; returns that count.
    pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
        let n = codes.len().min(out.len());
        for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
            *o = alaw_decode(c);
        }
        n
    }
}

/// The instruction set the slice functions of this module use, detected once per process.
pub fn selected_isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(Isa::detect)
}

/// µ-law encodes `min(pcm.len(), out.len())` samples with the selected kernel; returns that count.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    simd::g711::encode_ulaw(selected_isa(), pcm, out)
}

/// µ-law decodes `min(codes.len(), out.len())` codes with the selected kernel; returns that count.
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    simd::g711::decode_ulaw(selected_isa(), codes, out)
}

/// A-law encodes `min(pcm.len(), out.len())` samples with the selected kernel; returns that count.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    simd::g711::encode_alaw(selected_isa(), pcm, out)
}

/// A-law decodes `min(codes.len(), out.len())` codes with the selected kernel; returns that count.
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    simd::g711::decode_alaw(selected_isa(), codes, out)
}

/// The two G.711 companding laws (RTP payload types 0 = PCMU and 8 = PCMA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// µ-law (PCMU), North America and Japan.
    Ulaw,
    /// A-law (PCMA), the rest of the world.
    Alaw,
}

impl G711Law {
    /// The static RTP payload type of this law (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            G711Law::Ulaw => 0,
            G711Law::Alaw => 8,
        }
    }

    /// Encodes `min(pcm.len(), out.len())` samples; returns that count.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            G711Law::Ulaw => encode_ulaw(pcm, out),
            G711Law::Alaw => encode_alaw(pcm, out),
        }
    }

    /// Decodes `min(codes.len(), out.len())` codes; returns that count.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        match self {
            G711Law::Ulaw => decode_ulaw(codes, out),
            G711Law::Alaw => decode_alaw(codes, out),
        }
    }

    /// Encodes one sample.
    pub fn encode_sample(self, x: i16) -> u8 {
        match self {
            G711Law::Ulaw => ulaw_encode(x),
            G711Law::Alaw => alaw_encode(x),
        }
    }

    /// Decodes one code.
    pub fn decode_sample(self, c: u8) -> i16 {
        match self {
            G711Law::Ulaw => ulaw_decode(c),
            G711Law::Alaw => alaw_decode(c),
        }
    }

    /// The code of digital silence (linear 0) in this law: 0xFF for µ-law, 0xD5 for A-law.
    pub fn silence_code(self) -> u8 {
        self.encode_sample(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_encode_matches_reference_on_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            let want = reference::ulaw_compress(x);
            assert_eq!(ulaw_encode(x), want, "x = {x}");
            assert_eq!(ulaw_encode_arith(x), want, "arith x = {x}");
        }
    }

    #[test]
    fn alaw_encode_matches_reference_on_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            let want = reference::alaw_compress(x);
            assert_eq!(alaw_encode(x), want, "x = {x}");
            assert_eq!(alaw_encode_arith(x), want, "arith x = {x}");
        }
    }

    #[test]
    fn decoders_match_reference_on_all_codes() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_decode(c), reference::ulaw_expand(c), "µ-law code {c:#04x}");
            assert_eq!(alaw_decode(c), reference::alaw_expand(c), "A-law code {c:#04x}");
        }
    }

    #[test]
    fn known_codes() {
        // Well-known G.711 facts: silence codes, extremes, and re-encoding of decoded values.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(alaw_decode(0xAA), 32256);
        for c in 0..=255u8 {
            // Every code is a fixed point of decode→encode (except µ-law's negative zero 0x7F).
            if c != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(c)), c);
            }
            assert_eq!(alaw_encode(alaw_decode(c)), c);
        }
    }

    #[test]
    fn slice_functions_process_min_len() {
        let pcm = [0i16, 1000, -1000, 32767, -32768];
        let mut out = [0u8; 3];
        assert_eq!(encode_ulaw(&pcm, &mut out), 3);
        assert_eq!(out, [0xFF, ulaw_encode(1000), ulaw_encode(-1000)]);
        let mut dec = [0i16; 8];
        assert_eq!(decode_alaw(&out, &mut dec), 3);
        assert_eq!(G711Law::Alaw.encode(&[], &mut out), 0);
        assert_eq!(G711Law::Ulaw.silence_code(), 0xFF);
        assert_eq!(G711Law::Alaw.silence_code(), 0xD5);
    }

    #[test]
    fn slice_kernels_match_scalar_exhaustively() {
        let pcm: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut a = vec![0u8; pcm.len()];
        let mut b = vec![0u8; pcm.len()];
        for law in [G711Law::Ulaw, G711Law::Alaw] {
            law.encode(&pcm, &mut a);
            match law {
                G711Law::Ulaw => scalar::encode_ulaw(&pcm, &mut b),
                G711Law::Alaw => scalar::encode_alaw(&pcm, &mut b),
            };
            assert_eq!(a, b, "{law:?}");
        }
        let codes: Vec<u8> = (0..=255u8).cycle().take(1031).collect();
        let mut x = vec![0i16; codes.len()];
        let mut y = vec![0i16; codes.len()];
        for law in [G711Law::Ulaw, G711Law::Alaw] {
            law.decode(&codes, &mut x);
            match law {
                G711Law::Ulaw => scalar::decode_ulaw(&codes, &mut y),
                G711Law::Alaw => scalar::decode_alaw(&codes, &mut y),
            };
            assert_eq!(x, y, "{law:?}");
        }
    }
}
