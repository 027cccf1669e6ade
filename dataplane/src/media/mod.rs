//! The per-call media pipeline, sans-IO: bytes and a monotonic `now` in, bytes, audio and
//! events out. No allocation, lock or log per packet or frame after construction.
//!
//! ```text
//!  RTP in ─► RtpMedia::on_rtp ─► latch / stats ─► jitter::Playout ─┐ (tick, every 20 ms)
//!                                                                   ▼
//!                             Uplink: line rate ─► 16 kHz ─► VAD (echo-gated) ─► caller ring (STT)
//!  bot audio 16 kHz ─► Downlink queue ─► 16 kHz ─► line rate ─► encode ─► RTP out (tick)
//!                              └──────────► echo gate far end, recorder tap
//! ```
//!
//! - [`Uplink`]: caller audio at the line rate → 16 kHz, VAD with echo veto, an `rtrb` ring for
//!   the speech-to-text side, `SpeechStarted` / `SpeechEnded` events.
//! - [`Downlink`]: a playout queue of up to 30 s of bot audio at 16 kHz with marks, `clear`
//!   for barge-in, 20 ms frames at the line rate.
//! - [`SharedPcm`]: a reference-counted slice of samples, so a cached phrase is queued on every
//!   call's downlink without a per-call copy.
//! - [`RtpMedia`]: one SIP call's RTP/RTCP: symmetric-RTP latching, jitter buffer, DTMF in and
//!   out (RFC 4733), RTCP reports every ~5 s, quality counters.

mod codec;
mod config;
mod downlink;
mod events;
mod pcm;
mod quality;
mod session;
mod session_rtcp;
mod uplink;

#[cfg(test)]
mod loopback_tests;
#[cfg(test)]
mod pcm_tests;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod tests;

pub use codec::MediaCodec;
pub use config::RtpMediaConfig;
pub use downlink::Downlink;
pub use events::MediaEvent;
pub use pcm::SharedPcm;
pub use quality::RtpQuality;
pub use session::RtpMedia;
pub use uplink::Uplink;

/// Internal sample rate of caller and bot audio.
pub const PIPELINE_RATE: u32 = 16_000;
/// Duration of one tick / frame.
pub const FRAME_MS: u32 = 20;
/// Samples of one 20 ms frame at [`PIPELINE_RATE`].
pub const FRAME_16K: usize = (PIPELINE_RATE * FRAME_MS / 1000) as usize;

/// Errors of the media pipeline (construction and reconfiguration; per-packet problems are
/// counted, never returned).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MediaError {
    /// The negotiated codec is not one the pipeline speaks.
    #[error("unsupported codec (payload type {payload_type}, clock rate {clock_rate} Hz)")]
    UnsupportedCodec {
        /// Its payload type.
        payload_type: u8,
        /// Its RTP clock rate.
        clock_rate: u32,
    },
    /// A line rate the resampler or ptime cannot serve.
    #[error("unsupported line rate {rate} Hz")]
    UnsupportedRate {
        /// The rate.
        rate: u32,
    },
    /// Jitter buffer / decoder setup failed.
    #[error("jitter buffer: {0}")]
    Jitter(#[from] cxb_dsp::jitter::JitterError),
    /// Resampler setup failed.
    #[error("resampler: {0}")]
    Resample(#[from] cxb_dsp::resample::ResampleError),
    /// VAD setup failed.
    #[error("vad: {0}")]
    Vad(#[from] cxb_dsp::vad::VadError),
    /// Echo gate setup failed.
    #[error("echo gate: {0}")]
    Echo(#[from] cxb_dsp::echo::EchoError),
    /// Opus encoder setup failed.
    #[error("opus: {0}")]
    Opus(#[from] cxb_dsp::opus::OpusError),
    /// DTMF sender setup or a digit to send was invalid.
    #[error("dtmf: {0}")]
    Dtmf(#[from] cxb_dsp::dtmf::DtmfError),
    /// Too many DTMF digits are queued for sending.
    #[error("DTMF send queue full ({capacity} digits)")]
    DtmfQueueFull {
        /// Queue capacity.
        capacity: usize,
    },
}
