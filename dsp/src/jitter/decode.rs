//! Codec selection and decoding for [`Playout`](super::Playout).
//!
//! G.711 goes through [`crate::g711`], G.722 through [`crate::g722::G722Decoder`] (RTP clock
//! 8000, decoded at 16 kHz: the RFC 3551 quirk), Opus through [`crate::opus::OpusDecoder`] (mono): its
//! in-band FEC recovers a lost frame when the next packet is already buffered, otherwise its
//! own packet-loss concealment runs.

use super::JitterError;
use crate::g722::{G722Decoder, G722Mode};
use crate::opus::OpusDecoder;

/// Audio codec of the stream being played out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law (PT 0), 8 kHz.
    Pcmu,
    /// G.711 A-law (PT 8), 8 kHz.
    Pcma,
    /// G.722 (PT 9): RTP clock 8000 (RFC 3551), decoded at 16 kHz.
    G722,
    /// Opus (RTP clock 48 kHz), decoded mono at `rate` (8000, 12000, 16000, 24000 or 48000).
    Opus {
        /// Output sample rate.
        rate: u32,
    },
}

impl Codec {
    /// Sample rate of the decoded PCM.
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 => 16_000,
            Codec::Opus { rate } => rate,
        }
    }

    /// RTP clock rate of the payload format.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus { .. } => 48_000,
        }
    }

    /// Largest sensible payload: 40 ms of G.711 or G.722, or the Opus maximum of 1275 bytes.
    pub fn max_payload(self) -> usize {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 320,
            Codec::Opus { .. } => 1275,
        }
    }
}

/// The decoder behind a [`Codec`].
#[derive(Debug)]
pub(crate) enum Decoder {
    Pcmu,
    Pcma,
    G722(Box<G722Decoder>),
    Opus(Box<OpusDecoder>),
}

impl Decoder {
    pub(crate) fn new(codec: Codec) -> Result<Self, JitterError> {
        Ok(match codec {
            Codec::Pcmu => Decoder::Pcmu,
            Codec::Pcma => Decoder::Pcma,
            Codec::G722 => Decoder::G722(Box::new(G722Decoder::new(G722Mode::Mode1))),
            Codec::Opus { rate } => {
                let dec = OpusDecoder::new(rate, 1).map_err(|_| JitterError::DecoderInit { rate })?;
                Decoder::Opus(Box::new(dec))
            }
        })
    }

    /// Whether this is a waveform codec concealed by [`crate::plc::Plc`] (fed its good frames).
    pub(crate) fn uses_plc(&self) -> bool {
        !matches!(self, Decoder::Opus(_))
    }

    /// Decodes a payload into `out`; returns samples written (0 = undecodable).
    pub(crate) fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Decoder::Pcmu => crate::g711::decode_ulaw(payload, out),
            Decoder::Pcma => crate::g711::decode_alaw(payload, out),
            Decoder::G722(d) => d.decode(payload, out).unwrap_or(0),
            Decoder::Opus(d) => d.decode(payload, out).unwrap_or(0),
        }
    }

    /// Codec-internal concealment of one frame (`out.len()` samples), FEC from `next` if given.
    /// `None` for codecs without their own (G.711, G.722: the caller uses [`crate::plc::Plc`]).
    pub(crate) fn conceal(&mut self, next: Option<&[u8]>, out: &mut [i16]) -> Option<usize> {
        match self {
            Decoder::Pcmu | Decoder::Pcma | Decoder::G722(_) => None,
            Decoder::Opus(d) => {
                let fec = next.filter(|n| !n.is_empty()).and_then(|n| d.decode_fec(n, out).ok());
                let n = fec.or_else(|| d.conceal(out).ok()).unwrap_or(0).min(out.len());
                if n < out.len() {
                    // Fewer samples than a frame (or a decoder error): pad with silence.
                    out[n..].fill(0);
                }
                Some(out.len())
            }
        }
    }
}
