//! DTMF: RFC 4733 telephone events (payload, sans-IO sender and receiver), an in-band Goertzel
//! detector and a dual-tone generator.
//!
//! - [`TelephoneEvent`], [`DtmfSender`], [`DtmfReceiver`]: out-of-band digits over RTP.
//! - [`DtmfDetector`]: in-band digits in 8/16 kHz audio, with start/end sample positions.
//! - [`DtmfGenerator`]: dual-tone synthesis at a configurable level, twist and duration.
//!
//! ```
//! use cxb_dsp::dtmf::{DtmfDetection, DtmfDetector, DtmfDigit, DtmfGenerator, ToneShape};
//!
//! let mut tones = DtmfGenerator::new(8000, ToneShape::default()).unwrap();
//! let mut det = DtmfDetector::new(8000).unwrap();
//! let mut frame = [0i16; 160];
//! let mut heard = String::new();
//! for digit in [DtmfDigit::D4, DtmfDigit::Pound] {
//!     tones.play(digit);
//!     loop {
//!         let n = tones.fill(&mut frame);
//!         if n == 0 {
//!             break;
//!         }
//!         det.process(&frame[..n], |e| {
//!             if let DtmfDetection::Start { digit, .. } = e {
//!                 heard.push(digit.as_char());
//!             }
//!         });
//!     }
//! }
//! assert_eq!(heard, "4#");
//! ```

mod detector;
mod digit;
mod generator;
mod rfc4733;

pub use detector::{DetectorConfig, DtmfDetection, DtmfDetector};
pub use digit::DtmfDigit;
pub use generator::{DtmfGenerator, ToneShape};
pub use rfc4733::{DtmfPacket, DtmfReceiver, DtmfSender, RtpDtmfEvent, SenderConfig, TelephoneEvent};

/// Errors of the DTMF module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// An RFC 4733 payload shorter than the 4-byte event block.
    #[error("telephone-event payload of {len} bytes is shorter than 4")]
    PayloadTooShort {
        /// Length received.
        len: usize,
    },
    /// An RFC 4733 payload whose length is not a multiple of 4.
    #[error("telephone-event payload of {len} bytes is not a multiple of 4")]
    PayloadLength {
        /// Length received.
        len: usize,
    },
    /// A volume outside 0..=63 (-dBm0).
    #[error("volume {volume} is outside 0..=63")]
    VolumeOutOfRange {
        /// Volume asked for.
        volume: u8,
    },
    /// An event longer than one 16-bit duration field can carry at this clock rate.
    #[error("duration {duration_ms} ms exceeds {max_ms} ms")]
    DurationTooLong {
        /// Duration asked for.
        duration_ms: u32,
        /// The longest duration allowed.
        max_ms: u32,
    },
    /// A zero duration or packet interval.
    #[error("duration or interval of 0 ms")]
    ZeroDuration,
    /// A sample or clock rate this module does not support.
    #[error("unsupported rate {rate} Hz (supported {min}..={max})")]
    UnsupportedRate {
        /// Rate asked for.
        rate: u32,
        /// Lowest rate supported.
        min: u32,
        /// Highest rate supported.
        max: u32,
    },
    /// A character that names no DTMF digit.
    #[error("{ch:?} is not a DTMF digit")]
    InvalidDigit {
        /// The character.
        ch: char,
    },
}

#[cfg(test)]
pub(crate) mod detector_tests;

#[cfg(test)]
pub(crate) mod vad_dev_tests;
