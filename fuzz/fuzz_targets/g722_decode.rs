#![no_main]
//! Arbitrary octets through the G.722 decoder in every mode, in arbitrary chunk sizes, with
//! mode switches and resets; and arbitrary PCM through the encoder. Nothing may panic.
use cxb_dsp::g722::{G722Decoder, G722Encoder, G722Mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else { return };
    let chunk = usize::from(ctl & 0x3F) + 1;
    let mut out = [0i16; 128];
    for mode in [G722Mode::Mode1, G722Mode::Mode2, G722Mode::Mode3] {
        let mut dec = G722Decoder::new(mode);
        for (i, piece) in body.chunks(chunk).enumerate() {
            if ctl & 0x40 != 0 && i % 7 == 3 {
                dec.set_mode([G722Mode::Mode1, G722Mode::Mode2, G722Mode::Mode3][i % 3]);
            }
            if ctl & 0x80 != 0 && i % 11 == 5 {
                dec.reset();
            }
            let n = dec.decode(piece, &mut out).expect("64 samples hold 32 octets");
            assert_eq!(n, piece.len() * 2);
            // A too-small buffer is an error, never a panic.
            let _ = dec.decode(piece, &mut out[..piece.len()]);
        }
    }
    let pcm: Vec<i16> = body.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let mut enc = G722Encoder::new();
    let mut codes = [0u8; 64];
    for piece in pcm.chunks(chunk) {
        let _ = enc.encode(piece, &mut codes).expect("64 octets hold 64 samples");
    }
});
