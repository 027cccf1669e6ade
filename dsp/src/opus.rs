//! Opus encode/decode through libopus (the `opus` crate), with typed errors, checked frame
//! sizes, in-band FEC recovery and packet-loss concealment.
//!
//! Sizes are in samples *per channel* unless said otherwise; PCM is interleaved `i16`.

use opus::{Application, Bitrate, Channels};

/// Errors of the Opus wrapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpusError {
    /// A sample rate Opus does not support (8, 12, 16, 24 or 48 kHz).
    #[error("unsupported sample rate {rate} Hz (Opus takes 8000, 12000, 16000, 24000 or 48000)")]
    UnsupportedRate {
        /// Rate asked for.
        rate: u32,
    },
    /// A channel count other than 1 or 2.
    #[error("unsupported channel count {channels} (1 or 2)")]
    UnsupportedChannels {
        /// Channels asked for.
        channels: u8,
    },
    /// An input frame that is not 2.5, 5, 10, 20, 40 or 60 ms of whole samples on every channel.
    #[error("{samples} samples is not a valid Opus frame at {rate} Hz with {channels} channel(s)")]
    InvalidFrameSize {
        /// Interleaved samples given.
        samples: usize,
        /// Sample rate.
        rate: u32,
        /// Channels.
        channels: u8,
    },
    /// An output buffer too small for the result.
    #[error("output holds {available} samples, {needed} needed")]
    OutputTooSmall {
        /// Interleaved samples needed.
        needed: usize,
        /// Interleaved samples available.
        available: usize,
    },
    /// An empty packet given to `decode` (use `conceal` for a lost packet).
    #[error("empty packet")]
    EmptyPacket,
    /// A packet-loss percentage above 100.
    #[error("packet loss {percent}% is above 100%")]
    LossOutOfRange {
        /// Percentage asked for.
        percent: u8,
    },
    /// A bitrate outside 500..=512000 bit/s.
    #[error("bitrate {bps} bit/s is outside 500..=512000")]
    BitrateOutOfRange {
        /// Bitrate asked for.
        bps: u32,
    },
    /// A packet longer than any valid Opus packet.
    #[error("packet of {len} bytes is too long")]
    PacketTooLong {
        /// Its length.
        len: usize,
    },
    /// `conceal` or `decode_fec` before any packet told the frame size.
    #[error("no frame decoded yet, frame size unknown")]
    NoFrameSize,
    /// libopus refused the call.
    #[error("libopus {function}: {code:?}")]
    Codec {
        /// The libopus function.
        function: &'static str,
        /// Its error.
        code: OpusCode,
    },
}

/// libopus error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpusCode {
    /// An invalid or out-of-range argument.
    BadArg,
    /// Not enough room in the output buffer.
    BufferTooSmall,
    /// An internal error.
    InternalError,
    /// A corrupted packet.
    InvalidPacket,
    /// An unsupported request.
    Unimplemented,
    /// An invalid codec state.
    InvalidState,
    /// Allocation failed.
    AllocFail,
    /// Anything else.
    Unknown,
}

impl From<opus::Error> for OpusError {
    fn from(e: opus::Error) -> Self {
        use opus::ErrorCode as C;
        let code = match e.code() {
            C::BadArg => OpusCode::BadArg,
            C::BufferTooSmall => OpusCode::BufferTooSmall,
            C::InternalError => OpusCode::InternalError,
            C::InvalidPacket => OpusCode::InvalidPacket,
            C::Unimplemented => OpusCode::Unimplemented,
            C::InvalidState => OpusCode::InvalidState,
            C::AllocFail => OpusCode::AllocFail,
            C::Unknown => OpusCode::Unknown,
        };
        OpusError::Codec {
            function: e.function(),
            code,
        }
    }
}

/// What the encoder optimises for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OpusApplication {
    /// Speech intelligibility (telephony): the right choice for calls.
    #[default]
    Voip,
    /// Fidelity to the input (music).
    Audio,
    /// Lowest delay (disables speech-optimised modes).
    LowDelay,
}

fn check_rate(rate: u32) -> Result<(), OpusError> {
    match rate {
        8000 | 12000 | 16000 | 24000 | 48000 => Ok(()),
        _ => Err(OpusError::UnsupportedRate { rate }),
    }
}

fn check_channels(channels: u8) -> Result<Channels, OpusError> {
    match channels {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        _ => Err(OpusError::UnsupportedChannels { channels }),
    }
}

/// The longest frame Opus produces (120 ms), per channel, at `rate`.
fn max_frame(rate: u32) -> usize {
    rate as usize * 120 / 1000
}

/// Upper bound of a packet: 120 ms of frames at the 1275-byte maximum, with framing.
const MAX_PACKET: usize = 48 * 1276;

fn check_packet(packet: &[u8]) -> Result<(), OpusError> {
    match packet.len() {
        0 => Err(OpusError::EmptyPacket),
        len if len > MAX_PACKET => Err(OpusError::PacketTooLong { len }),
        _ => Ok(()),
    }
}

/// Opus encoder for one stream.
pub struct OpusEncoder {
    inner: opus::Encoder,
    rate: u32,
    channels: u8,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

impl OpusEncoder {
    /// An encoder at `rate` Hz (8/12/16/24/48 kHz) with 1 or 2 channels.
    pub fn new(rate: u32, channels: u8, app: OpusApplication) -> Result<Self, OpusError> {
        check_rate(rate)?;
        let ch = check_channels(channels)?;
        let app = match app {
            OpusApplication::Voip => Application::Voip,
            OpusApplication::Audio => Application::Audio,
            OpusApplication::LowDelay => Application::LowDelay,
        };
        Ok(OpusEncoder {
            inner: opus::Encoder::new(rate, ch, app)?,
            rate,
            channels,
        })
    }

    /// Target bitrate in bit/s (500..=512000).
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), OpusError> {
        if !(500..=512_000).contains(&bps) {
            return Err(OpusError::BitrateOutOfRange { bps });
        }
        Ok(self.inner.set_bitrate(Bitrate::Bits(bps as i32))?)
    }

    /// Turns in-band forward error correction on or off (used in SILK and hybrid modes, i.e.
    /// speech at moderate bitrates; it needs an expected loss above 0 to be sent).
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), OpusError> {
        Ok(self.inner.set_inband_fec(on)?)
    }

    /// Expected packet loss in percent (0..=100): how much redundancy FEC carries.
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<(), OpusError> {
        if percent > 100 {
            return Err(OpusError::LossOutOfRange { percent });
        }
        Ok(self.inner.set_packet_loss_perc(i32::from(percent))?)
    }

    /// Computational complexity 0..=10 (clamped).
    pub fn set_complexity(&mut self, complexity: u8) -> Result<(), OpusError> {
        Ok(self.inner.set_complexity(i32::from(complexity.min(10)))?)
    }

    /// Discontinuous transmission: very small packets during silence.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), OpusError> {
        Ok(self.inner.set_dtx(on)?)
    }

    /// Encoder look-ahead in samples per channel (part of the codec delay).
    pub fn lookahead(&mut self) -> Result<usize, OpusError> {
        Ok(self.inner.get_lookahead()?.max(0) as usize)
    }

    /// Encodes one frame of interleaved PCM (2.5, 5, 10, 20, 40 or 60 ms) into `out`
    /// (1275 bytes always suffice for one frame; 4000 for anything). Returns the packet length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        let ch = usize::from(self.channels);
        let per_ch = pcm.len() / ch;
        let tenth_ms = (per_ch * 10_000).checked_div(self.rate as usize).unwrap_or(0);
        let valid = pcm.len().is_multiple_of(ch)
            && per_ch * 10_000 == tenth_ms * self.rate as usize
            && matches!(tenth_ms, 25 | 50 | 100 | 200 | 400 | 600);
        if !valid {
            return Err(OpusError::InvalidFrameSize {
                samples: pcm.len(),
                rate: self.rate,
                channels: self.channels,
            });
        }
        let out_len = out.len().min(4000);
        Ok(self.inner.encode(pcm, &mut out[..out_len])?)
    }
}

/// Opus decoder for one stream, with loss handling.
pub struct OpusDecoder {
    inner: opus::Decoder,
    rate: u32,
    channels: u8,
    /// Samples per channel of the last decoded frame: the size of concealed/FEC frames.
    last_frame: Option<usize>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("last_frame", &self.last_frame)
            .finish()
    }
}

impl OpusDecoder {
    /// A decoder producing `rate` Hz (8/12/16/24/48 kHz) with 1 or 2 channels, whatever the
    /// rate the packets were encoded at.
    pub fn new(rate: u32, channels: u8) -> Result<Self, OpusError> {
        check_rate(rate)?;
        let ch = check_channels(channels)?;
        Ok(OpusDecoder {
            inner: opus::Decoder::new(rate, ch)?,
            rate,
            channels,
            last_frame: None,
        })
    }

    fn out_cap(&self, out: &[i16]) -> usize {
        (out.len() / usize::from(self.channels)).min(max_frame(self.rate))
    }

    /// Decodes one packet into `out` (interleaved); returns samples per channel.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        check_packet(packet)?;
        let needed = self.inner.get_nb_samples(packet)?;
        let cap = self.out_cap(out);
        if needed > cap {
            return Err(OpusError::OutputTooSmall {
                needed: needed * usize::from(self.channels),
                available: out.len(),
            });
        }
        let n = self
            .inner
            .decode(packet, &mut out[..cap * usize::from(self.channels)], false)?;
        self.last_frame = Some(n);
        Ok(n)
    }

    /// Recovers the frame lost just before `next_packet` from that packet's in-band FEC data
    /// (falls back to concealment inside libopus when it carries none). Decode `next_packet`
    /// itself with [`Self::decode`] afterwards. Returns samples per channel (the last frame
    /// size, or the next packet's when nothing was decoded yet).
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        check_packet(next_packet)?;
        let frame = match self.last_frame {
            Some(f) => f,
            None => opus::packet::get_samples_per_frame(next_packet, self.rate)?,
        };
        let n = self.lost_frame(next_packet, frame, out)?;
        Ok(n)
    }

    /// Packet-loss concealment: synthesises one frame of the last frame's size into `out`.
    /// Returns samples per channel.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        let frame = self.last_frame.ok_or(OpusError::NoFrameSize)?;
        self.lost_frame(&[], frame, out)
    }

    fn lost_frame(&mut self, packet: &[u8], frame: usize, out: &mut [i16]) -> Result<usize, OpusError> {
        let ch = usize::from(self.channels);
        let frame = frame.min(max_frame(self.rate));
        if frame * ch > out.len() {
            return Err(OpusError::OutputTooSmall {
                needed: frame * ch,
                available: out.len(),
            });
        }
        Ok(self.inner.decode(packet, &mut out[..frame * ch], !packet.is_empty())?)
    }

    /// Samples per channel of the last decoded frame, if any.
    pub fn last_frame_size(&self) -> Option<usize> {
        self.last_frame
    }

    /// Returns to the initial state (e.g. after a long gap or a new stream).
    pub fn reset(&mut self) -> Result<(), OpusError> {
        self.last_frame = None;
        Ok(self.inner.reset_state()?)
    }
}

#[cfg(test)]
mod tests;
