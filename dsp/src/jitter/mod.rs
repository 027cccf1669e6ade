//! Adaptive jitter buffer for RTP audio, with loss concealment and time-scaling.
//!
//! Two layers, both sans-IO (time comes in as a [`Duration`] since an arbitrary epoch of the
//! caller's monotonic clock; nothing here reads a clock):
//!
//! - [`JitterBuffer`] is codec-agnostic: it copies packets into preallocated slots, reorders them,
//!   drops duplicates and late packets, follows sequence/timestamp wrap, SSRC changes and
//!   talkspurt starts, passes RFC 4733 DTMF packets through as [`DtmfEvent`]s and estimates the
//!   target delay from arrival statistics ([`DelayEstimator`]). Each [`JitterBuffer::pull`] hands out
//!   one 20 ms (configurable) [`Frame`]: a packet, a known gap, an underrun or silence.
//! - [`Playout`] wraps it for one call: it decodes ([`Codec`]: PCMU, PCMA, G.722, Opus), conceals
//!   losses (G.711 Appendix I–style [`crate::plc::Plc`], or the Opus decoder's FEC/PLC), and keeps
//!   the playout delay on target by time-scaling speech (pitch-period accelerate / preemptive
//!   expand) or dropping/inserting silence. The dataplane calls [`Playout::insert`] per packet and
//!   [`Playout::pull`] every 20 ms; [`Playout::metrics`] can be read at any time.
//!
//! [`sim`] is a deterministic network simulator (Gilbert–Elliott loss, Pareto jitter, drift,
//! reordering, duplication) used by `cxb dsp jitter`, the tests and the benches.

mod buffer;
mod decode;
mod delay;
mod metrics;
mod playout;
pub mod sim;
mod stretch;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use buffer::{Frame, InsertOutcome, JitterBuffer, NextPacket};
pub use decode::Codec;
pub use delay::DelayEstimator;
pub use metrics::JitterMetrics;
pub use playout::{Playout, PlayoutConfig, PulledKind};

/// Errors of the jitter buffer and its playout wrapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitterError {
    /// A packet's payload does not fit a slot.
    #[error("RTP payload of {len} bytes exceeds the slot size of {max} bytes")]
    PayloadTooLarge {
        /// Payload length of the rejected packet.
        len: usize,
        /// Configured maximum payload size.
        max: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid jitter buffer configuration: {field} = {value}")]
    InvalidConfig {
        /// Name of the offending field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The output slice given to [`Playout::pull`] is not exactly one frame long.
    #[error("output buffer holds {len} samples, a frame is {frame} samples")]
    OutputLength {
        /// Length of the slice passed in.
        len: usize,
        /// Samples per frame at the codec rate.
        frame: usize,
    },
    /// The codec decoder failed to initialise (Opus).
    #[error("decoder init failed for {rate} Hz")]
    DecoderInit {
        /// Requested sample rate.
        rate: u32,
    },
}

/// A borrowed view of one received RTP packet (header fields the buffer uses plus the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacketView<'a> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source; a change resets the stream.
    pub ssrc: u32,
    /// Marker bit: first packet of a talkspurt for audio.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Codec payload.
    pub payload: &'a [u8],
}

/// One RFC 4733 telephone-event, surfaced once when it starts and once when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Event code (0–9 digits, 10 = `*`, 11 = `#`, 12–15 = A–D, others per RFC 4733).
    pub code: u8,
    /// RTP timestamp of the event start.
    pub timestamp: u32,
    /// Duration so far in timestamp units (final value when `end`).
    pub duration: u16,
    /// Volume in −dBm0 (0–63).
    pub volume: u8,
    /// `true` for the end report, `false` for the start report.
    pub end: bool,
}

impl DtmfEvent {
    /// The event as a keypad character, if it is one of the 16 DTMF events.
    pub fn digit(&self) -> Option<char> {
        b"0123456789*#ABCD".get(usize::from(self.code)).map(|&b| char::from(b))
    }
}

/// Configuration of the codec-agnostic [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// RTP clock rate of the audio payload (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// Duration of one packet and of one pulled frame.
    pub frame: Duration,
    /// Number of packet slots (reorder / delay capacity).
    pub capacity: usize,
    /// Largest payload a slot holds; larger ones are rejected with [`JitterError::PayloadTooLarge`].
    pub max_payload: usize,
    /// Lower clamp of the target delay.
    pub min_delay: Duration,
    /// Upper clamp of the target delay.
    pub max_delay: Duration,
    /// Target delay before any arrival statistics exist.
    pub initial_delay: Duration,
    /// Quantile of the relative arrival delay that becomes the target (0.95 by default; the
    /// target is this quantile, or the reorder optimiser's or peak detector's level if higher,
    /// plus one frame — see [`DelayEstimator`]).
    pub quantile: f32,
    /// Per-packet forgetting factor of the delay histogram (0.9993 ≈ 28 s memory at 50 pkt/s).
    pub forget_factor: f32,
    /// Payload type of RFC 4733 telephone-events, if negotiated.
    pub dtmf_payload_type: Option<u8>,
    /// Payload type of RFC 3389 comfort noise (13 for 8 kHz).
    pub cn_payload_type: Option<u8>,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            frame: Duration::from_millis(20),
            capacity: 32,
            max_payload: 640,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(60),
            quantile: 0.95,
            forget_factor: 0.9993,
            dtmf_payload_type: Some(101),
            cn_payload_type: Some(13),
        }
    }
}

impl JitterConfig {
    /// Checks ranges; every constructor calls this.
    pub fn validate(&self) -> Result<(), JitterError> {
        let bad = |field, value: u64| Err(JitterError::InvalidConfig { field, value });
        if !(1000..=384_000).contains(&self.clock_rate) {
            return bad("clock_rate", u64::from(self.clock_rate));
        }
        let frame_us = self.frame.as_micros();
        if !(2_500..=120_000).contains(&frame_us) || !(u128::from(self.clock_rate) * frame_us).is_multiple_of(1_000_000)
        {
            return bad("frame_us", frame_us as u64);
        }
        if !(4..=4096).contains(&self.capacity) {
            return bad("capacity", self.capacity as u64);
        }
        if !(1..=65_536).contains(&self.max_payload) {
            return bad("max_payload", self.max_payload as u64);
        }
        let max_ms = self.max_delay.as_millis();
        if self.min_delay > self.max_delay || max_ms > 10_000 || max_ms == 0 {
            return bad("max_delay_ms", max_ms as u64);
        }
        // The whole max delay must fit the slots, with room to spare for reordering.
        if (self.capacity as u128) * frame_us < 2 * self.max_delay.as_micros() {
            return bad("capacity", self.capacity as u64);
        }
        if !(0.5..1.0).contains(&self.quantile) {
            return bad("quantile_permille", (self.quantile * 1000.0) as u64);
        }
        if !(0.5..1.0).contains(&self.forget_factor) {
            return bad("forget_factor_permille", (self.forget_factor * 1000.0) as u64);
        }
        Ok(())
    }

    /// RTP timestamp units per frame.
    pub fn frame_ts(&self) -> u32 {
        (u128::from(self.clock_rate) * self.frame.as_micros() / 1_000_000) as u32
    }
}

/// Microseconds of a [`Duration`], saturated to a range where sums never overflow.
pub(crate) fn micros(d: Duration) -> i64 {
    d.as_micros().min(1 << 60) as i64
}
