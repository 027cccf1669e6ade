//! The codecs of the pipeline and their encoders.

use cxb_dsp::g711::G711Law;
use cxb_dsp::g722::G722Encoder;
use cxb_dsp::jitter::Codec;
use cxb_dsp::opus::{OpusApplication, OpusEncoder};

use super::MediaError;

/// Opus bitrate we send with (wideband speech, room for FEC).
const OPUS_BITRATE: u32 = 32_000;
/// Opus complexity (0..=10): a per-call CPU budget compromise.
const OPUS_COMPLEXITY: u8 = 5;
/// Expected loss we tell the Opus encoder (enables in-band FEC).
const OPUS_LOSS_PERCENT: u8 = 5;

/// An audio codec the pipeline can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaCodec {
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// G.722: 16 kHz audio, RTP clock 8000 (RFC 3551).
    G722,
    /// Opus, RTP clock 48000; the pipeline encodes and decodes it at 16 kHz mono.
    Opus,
}

impl MediaCodec {
    /// RTP timestamp clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            MediaCodec::Pcmu | MediaCodec::Pcma | MediaCodec::G722 => 8000,
            MediaCodec::Opus => 48_000,
        }
    }

    /// Rate of the PCM the codec takes and gives (the *line rate*).
    pub fn line_rate(self) -> u32 {
        match self {
            MediaCodec::Pcmu | MediaCodec::Pcma => 8000,
            MediaCodec::G722 | MediaCodec::Opus => 16_000,
        }
    }

    /// The RFC 3551 static payload type, if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            MediaCodec::Pcmu => Some(0),
            MediaCodec::Pcma => Some(8),
            MediaCodec::G722 => Some(9),
            MediaCodec::Opus => None,
        }
    }

    /// Whether a packet time in ms can be produced from 20 ms frames by this codec.
    pub fn supports_ptime(self, ptime_ms: u32) -> bool {
        match self {
            MediaCodec::Opus => matches!(ptime_ms, 20 | 40 | 60),
            _ => ptime_ms.is_multiple_of(20) && (20..=120).contains(&ptime_ms),
        }
    }

    pub(crate) fn jitter_codec(self) -> Codec {
        match self {
            MediaCodec::Pcmu => Codec::Pcmu,
            MediaCodec::Pcma => Codec::Pcma,
            MediaCodec::G722 => Codec::G722,
            MediaCodec::Opus => Codec::Opus { rate: 16_000 },
        }
    }
}

/// The encoder of a [`MediaCodec`].
#[derive(Debug)]
pub(crate) enum Encoder {
    G711(G711Law),
    G722(Box<G722Encoder>),
    Opus(Box<OpusEncoder>),
}

impl Encoder {
    pub(crate) fn new(codec: MediaCodec) -> Result<Self, MediaError> {
        Ok(match codec {
            MediaCodec::Pcmu => Encoder::G711(G711Law::Ulaw),
            MediaCodec::Pcma => Encoder::G711(G711Law::Alaw),
            MediaCodec::G722 => Encoder::G722(Box::new(G722Encoder::new())),
            MediaCodec::Opus => {
                let mut e = OpusEncoder::new(16_000, 1, OpusApplication::Voip)?;
                e.set_bitrate(OPUS_BITRATE)?;
                e.set_complexity(OPUS_COMPLEXITY)?;
                e.set_inband_fec(true)?;
                e.set_packet_loss_percent(OPUS_LOSS_PERCENT)?;
                Encoder::Opus(Box::new(e))
            }
        })
    }

    /// Encodes line-rate PCM (a whole packet's worth) into `out`; 0 on failure.
    pub(crate) fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Encoder::G711(law) => law.encode(pcm, out),
            Encoder::G722(e) => e.encode(pcm, out).unwrap_or(0),
            Encoder::Opus(e) => e.encode(pcm, out).unwrap_or(0),
        }
    }
}
