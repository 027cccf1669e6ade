//! G.722 wideband codec (ITU-T G.722): 16 kHz audio as two sub-bands split by a 24-tap QMF,
//! each coded with adaptive differential PCM (6 bits low band, 2 bits high band), one octet per
//! pair of input samples (64 kbit/s).
//!
//! The encoder always produces mode-1 (64 kbit/s) octets. The decoder takes octets in any mode:
//! in modes 2 and 3 (56 and 48 kbit/s) the 1 or 2 least significant bits of the low-band code
//! carry auxiliary data and are ignored, as the recommendation specifies.
//!
//! Written from the recommendation's algorithm (blocks 1L–6L, 1H–6H, the QMFs) in its 16-bit
//! fixed-point arithmetic. Bit-exactness against the ITU test sequences has not been checked:
//! the sequences are not available here.
//!
//! The codec's end-to-end delay (transmit + receive QMF) is [`G722_DELAY`] samples.

mod adpcm;

use adpcm::{Band, IHN, IHP, ILN, ILP, Q6, QM2, QM4, QM5, QM6, sat};

/// Samples of delay through encoder and decoder (the two QMFs) at 16 kHz.
pub const G722_DELAY: usize = 22;

/// The 12 distinct coefficients of the symmetric 24-tap QMF.
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// Errors of the G.722 codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum G722Error {
    /// The output buffer cannot hold the result; nothing was processed.
    #[error("output holds {available} items, {needed} needed")]
    OutputTooSmall {
        /// Items the call would write.
        needed: usize,
        /// Items the buffer holds.
        available: usize,
    },
}

/// G.722 operating mode: how many low-band bits carry audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum G722Mode {
    /// 64 kbit/s: 6-bit low band.
    #[default]
    Mode1,
    /// 56 kbit/s: 5-bit low band, 1 auxiliary data bit.
    Mode2,
    /// 48 kbit/s: 4-bit low band, 2 auxiliary data bits.
    Mode3,
}

/// G.722 encoder (64 kbit/s). One per stream; allocation-free.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    low: Band,
    high: Band,
    /// QMF delay line, oldest first.
    x: [i32; 24],
    /// An odd input sample waiting for its pair.
    pending: Option<i16>,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the reset state.
    pub fn new() -> Self {
        G722Encoder {
            low: Band::new(false),
            high: Band::new(true),
            x: [0; 24],
            pending: None,
        }
    }

    /// Returns to the reset state.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Octets that encoding `samples` more samples will produce (an odd sample waits for the
    /// next call).
    pub fn output_len(&self, samples: usize) -> usize {
        (samples + usize::from(self.pending.is_some())) / 2
    }

    /// Encodes 16 kHz samples into `out`, one octet per sample pair, and returns the number of
    /// octets written. An odd trailing sample is kept for the next call. Fails, without
    /// consuming anything, when `out` is shorter than [`Self::output_len`].
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, G722Error> {
        let needed = self.output_len(pcm.len());
        if out.len() < needed {
            return Err(G722Error::OutputTooSmall {
                needed,
                available: out.len(),
            });
        }
        let mut samples = pcm.iter().copied();
        let mut n = 0;
        loop {
            let first = match self.pending.take() {
                Some(x) => x,
                None => match samples.next() {
                    Some(x) => x,
                    None => break,
                },
            };
            let Some(second) = samples.next() else {
                self.pending = Some(first);
                break;
            };
            out[n] = self.encode_pair(first, second);
            n += 1;
        }
        Ok(n)
    }

    fn encode_pair(&mut self, a: i16, b: i16) -> u8 {
        // Transmit QMF.
        self.x.copy_within(2.., 0);
        self.x[22] = i32::from(a);
        self.x[23] = i32::from(b);
        let (mut sumodd, mut sumeven) = (0i32, 0i32);
        for i in 0..12 {
            sumodd += self.x[2 * i] * QMF[i];
            sumeven += self.x[2 * i + 1] * QMF[11 - i];
        }
        let xlow = (sumeven + sumodd) >> 14;
        let xhigh = (sumeven - sumodd) >> 14;

        // Low band: SUBTRA, QUANTL.
        let el = sat(xlow - self.low.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && wd >= (Q6[i] * self.low.det) >> 12 {
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // INVQAL, LOGSCL/SCALEL, block 4.
        let ril = (ilow >> 2) as usize;
        let dlow = (self.low.det * QM4[ril]) >> 15;
        self.low.adapt_low(ril);
        self.low.block4(dlow);

        // High band: SUBTRA, QUANTH.
        let eh = sat(xhigh - self.high.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (564 * self.high.det) >> 12 { 2 } else { 1 };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        // INVQAH, LOGSCH/SCALEH, block 4.
        let dhigh = (self.high.det * QM2[ihigh as usize]) >> 15;
        self.high.adapt_high(ihigh as usize);
        self.high.block4(dhigh);

        ((ihigh << 6) | ilow) as u8
    }
}

/// G.722 decoder for modes 1–3. One per stream; allocation-free.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    mode: G722Mode,
    low: Band,
    high: Band,
    /// QMF delay line, oldest first.
    x: [i32; 24],
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new(G722Mode::Mode1)
    }
}

impl G722Decoder {
    /// A decoder in the reset state.
    pub fn new(mode: G722Mode) -> Self {
        G722Decoder {
            mode,
            low: Band::new(false),
            high: Band::new(true),
            x: [0; 24],
        }
    }

    /// Returns to the reset state (keeping the mode).
    pub fn reset(&mut self) {
        *self = Self::new(self.mode);
    }

    /// The operating mode.
    pub fn mode(&self) -> G722Mode {
        self.mode
    }

    /// Changes the operating mode (takes effect from the next octet, as mode switches do in-call).
    pub fn set_mode(&mut self, mode: G722Mode) {
        self.mode = mode;
    }

    /// Decodes octets into 16 kHz samples (two per octet) and returns the number of samples
    /// written. Every octet value is valid. Fails, without consuming anything, when `out` is
    /// shorter than `2 * codes.len()`.
    pub fn decode(&mut self, codes: &[u8], out: &mut [i16]) -> Result<usize, G722Error> {
        let needed = codes.len() * 2;
        if out.len() < needed {
            return Err(G722Error::OutputTooSmall {
                needed,
                available: out.len(),
            });
        }
        for (&c, o) in codes.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_octet(c);
            o[0] = a;
            o[1] = b;
        }
        Ok(needed)
    }

    fn decode_octet(&mut self, code: u8) -> (i16, i16) {
        let code = usize::from(code);
        let ihigh = (code >> 6) & 3;
        let il6 = code & 0x3F;
        // Low band output quantiser for the mode (INVQBL).
        let q = match self.mode {
            G722Mode::Mode1 => QM6[il6],
            G722Mode::Mode2 => QM5[il6 >> 1],
            G722Mode::Mode3 => QM4[il6 >> 2],
        };
        let rlow = (self.low.s + ((self.low.det * q) >> 15)).clamp(-16384, 16383);
        // Adaptation path always uses the 4 most significant bits (INVQAL, blocks 3L/4L).
        let il4 = il6 >> 2;
        let dlow = (self.low.det * QM4[il4]) >> 15;
        self.low.adapt_low(il4);
        self.low.block4(dlow);

        // High band (INVQAH, RECONS, LIMIT, blocks 3H/4H).
        let dhigh = (self.high.det * QM2[ihigh]) >> 15;
        let rhigh = (dhigh + self.high.s).clamp(-16384, 16383);
        self.high.adapt_high(ihigh);
        self.high.block4(dhigh);

        // Receive QMF.
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let (mut xout1, mut xout2) = (0i32, 0i32);
        for i in 0..12 {
            xout2 += self.x[2 * i] * QMF[i];
            xout1 += self.x[2 * i + 1] * QMF[11 - i];
        }
        (sat(xout1 >> 11) as i16, sat(xout2 >> 11) as i16)
    }
}

#[cfg(test)]
mod tests;
