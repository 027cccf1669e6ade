//! WebSocket media streams in the Twilio Media Streams format, sans-IO.
//!
//! A telephony provider opens a WebSocket to us and streams the call's audio as JSON text frames
//! (`connected`, `start`, `media`, `dtmf`, `mark`, `stop`, and `transfer_result`); on a bidirectional
//! stream we answer with `media` (base64 µ-law 8 kHz), `mark`, `clear` and `transfer` (websocket
//! reverse transfer: the peer moves the caller and answers `transfer_result`). [`WsCall`] is the per-call state machine: the
//! shard feeds it every text frame with [`WsCall::on_text`] and drives it in the poll style of the
//! rest of cxb:
//!
//! ```text
//! socket text ─► on_text(now, text) ─► poll_event()      ─► Started / CallerAudio / Dtmf / MarkPlayed / Stopped …
//!                                      read_caller_audio() ─► i16 PCM at 8 kHz (preallocated ring)
//! bot PCM 8 kHz ─► push_bot_frame(pcm) / send_mark(name) / clear() / send_transfer(…) ─► poll_outgoing() ─► socket text
//! timers:  poll_timeout() ─► handle_timeout(now)   (peer silent for `idle_timeout`)
//! ```
//!
//! Nothing here reads a clock or a socket. Bad input never panics: a malformed frame returns a
//! [`WsError`] and the call goes on. Per inbound media frame nothing is allocated (borrowed JSON
//! strings, preallocated base64 scratch and sample ring); each outgoing message is one `String`,
//! since the WebSocket layer takes ownership of the text.
//!
//! ```
//! use std::time::Duration;
//! use cxb_dataplane::ws::{WsCall, WsConfig, WsEvent};
//!
//! let mut call = WsCall::new(WsConfig::default());
//! let now = Duration::ZERO;
//! call.on_text(now, r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#).unwrap();
//! call.on_text(now, r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1"},"streamSid":"MZ1"}"#).unwrap();
//! call.on_text(now, r#"{"event":"media","streamSid":"MZ1","media":{"payload":"//8="}}"#).unwrap();
//! let mut pcm = [0i16; 160];
//! while let Some(ev) = call.poll_event() {
//!     match ev {
//!         WsEvent::Started { call_sid, .. } => assert_eq!(call_sid.as_deref(), Some("CA1")),
//!         WsEvent::CallerAudio { samples, .. } => assert_eq!(call.read_caller_audio(&mut pcm), samples),
//!         _ => {}
//!     }
//! }
//! call.push_bot_frame(&[0; 160]).unwrap(); // every 20 ms, paced by the shard's clock
//! let text = call.poll_outgoing().unwrap(); // → socket.send(Message::Text(text.into()))
//! assert!(text.starts_with(r#"{"event":"media","streamSid":"MZ1""#));
//! ```
//!
//! # Messages
//!
//! | direction | `event` | shape / meaning |
//! |---|---|---|
//! | peer → us | `connected` | `{"event":"connected","protocol":"Call","version":"1.0.0"}` (+ `callerId`, any custom field) |
//! | peer → us | `start` | `streamSid`, `start.{callSid, accountSid, customParameters, mediaFormat}` (µ-law 8 kHz mono only) |
//! | both | `media` | `{"event":"media","streamSid":…,"media":{"payload":BASE64_ULAW}}`, 20 ms per frame |
//! | peer → us | `dtmf` | `dtmf.digit`: `0-9 * # A-D` |
//! | both | `mark` | `{"event":"mark","streamSid":…,"mark":{"name":…}}`: we send one after each stretch of bot audio (the first, after the opening message, is `greeting`); the peer echoes it once played |
//! | us → peer | `clear` | `{"event":"clear","streamSid":…}`: the caller barged in; drop buffered bot audio (and echo the marks held) |
//! | us → peer | `transfer` | `{"event":"transfer","streamSid":…,"transfer":{"target":NAME,"destination":DEST,"reason":REASON}}`: websocket reverse transfer, the peer moves the caller to `destination` |
//! | peer → us | `transfer_result` | `{"event":"transfer_result","streamSid":…,"status":"ok"\|"failed","reason":…}` (`reason` optional). `ok`, or closing the stream after our `transfer`, ends the call as `transfer_to_agent`; `failed`, or no answer in 10 s, keeps the caller with the bot. A malformed or unexpected one is ignored |
//! | peer → us | `stop` | the stream ended |
//!
//! - [`messages`]: serde types of every message, both directions, and [`Inbound::parse`].
//! - [`call`]: [`WsCall`] and its [`WsConfig`].
//! - [`events`]: what it reports: [`WsEvent`], [`WsState`], [`WsStats`].
//! - [`ring`]: [`SampleRing`], the caller-audio ring.

pub mod call;
pub mod events;
mod fields;
pub mod messages;
pub mod ring;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transfer_tests;

pub use call::{WsCall, WsConfig};
pub use events::{WsEvent, WsState, WsStats};
pub use messages::{
    Connected, Dtmf, DtmfBody, Inbound, Mark, MarkBody, Media, MediaBody, MediaFormat, Outbound, OutboundMedia, Start,
    StartMeta, Stop, StopBody, TransferBody, TransferResult, TransferStatus,
};
pub use ring::SampleRing;

/// Largest text frame accepted from the peer (64 KiB).
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// The kind of a media-stream message (its `event` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `connected`: first message, names the protocol.
    Connected,
    /// `start`: stream metadata, once.
    Start,
    /// `media`: a chunk of base64 audio.
    Media,
    /// `dtmf`: a key pressed by the caller.
    Dtmf,
    /// `mark`: a named position in the audio (echoed back once played).
    Mark,
    /// `stop`: the stream ended.
    Stop,
    /// `clear`: drop audio buffered on the peer (sent by us only).
    Clear,
    /// `transfer`: move the caller to a human (sent by us only).
    Transfer,
    /// `transfer_result`: the peer's answer to `transfer`.
    TransferResult,
}

impl EventKind {
    /// The `event` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Connected => "connected",
            EventKind::Start => "start",
            EventKind::Media => "media",
            EventKind::Dtmf => "dtmf",
            EventKind::Mark => "mark",
            EventKind::Stop => "stop",
            EventKind::Clear => "clear",
            EventKind::Transfer => "transfer",
            EventKind::TransferResult => "transfer_result",
        }
    }

    /// The kind of an inbound `event` value (`clear` and `transfer` are outbound only, so they are
    /// not).
    pub fn from_inbound(event: &str) -> Option<Self> {
        Some(match event {
            "connected" => EventKind::Connected,
            "start" => EventKind::Start,
            "media" => EventKind::Media,
            "dtmf" => EventKind::Dtmf,
            "mark" => EventKind::Mark,
            "stop" => EventKind::Stop,
            "transfer_result" => EventKind::TransferResult,
            _ => return None,
        })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of the media-stream protocol. None of them ends the call by itself: the frame is dropped
/// and the [`WsCall`] stays usable.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// A text frame longer than the limit.
    #[error("text frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame is not JSON, or has no string `event` field.
    #[error("frame is not a JSON message with an `event`: {source}")]
    BadJson {
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// The `event` is not one this protocol defines for the peer.
    #[error("unknown event {event:?}")]
    UnknownEvent {
        /// The event name (cut to 32 characters).
        event: String,
    },
    /// A known event whose body does not have the documented shape.
    #[error("malformed {event} message: {source}")]
    Malformed {
        /// The event.
        event: EventKind,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A required field is missing or empty.
    #[error("{event} message without {field}")]
    MissingField {
        /// The event.
        event: EventKind,
        /// The field's wire name.
        field: &'static str,
    },
    /// The media payload is not valid base64.
    #[error("media payload is not base64: {source}")]
    BadBase64 {
        /// What the decoder reported.
        #[source]
        source: base64::DecodeError,
    },
    /// `start` announced audio other than µ-law, 8000 Hz, mono.
    #[error("unsupported media format {encoding} {sample_rate} Hz × {channels}")]
    UnsupportedMediaFormat {
        /// `mediaFormat.encoding`.
        encoding: String,
        /// `mediaFormat.sampleRate`.
        sample_rate: u32,
        /// `mediaFormat.channels`.
        channels: u16,
    },
    /// An event that is not allowed in the current state (media before start, a second start,
    /// anything after stop).
    #[error("{event} message not expected in state {state:?}")]
    OutOfOrder {
        /// The event.
        event: EventKind,
        /// The state of the call when it arrived.
        state: WsState,
    },
    /// A message whose `streamSid` is not the one `start` announced.
    #[error("{event} message for another stream")]
    StreamSidMismatch {
        /// The event.
        event: EventKind,
    },
    /// A `dtmf` digit that is not one of `0-9 * # A-D`.
    #[error("invalid DTMF digit {digit:?}")]
    BadDigit {
        /// The digit field (cut to 8 characters).
        digit: String,
    },
    /// The peer echoed a mark we never sent (or already saw).
    #[error("mark {name:?} was not sent")]
    UnknownMark {
        /// The mark name (cut to 64 characters).
        name: String,
    },
    /// Bot audio, a mark or a clear while no stream is running (before `start` or after `stop`).
    #[error("no stream is running (state {state:?})")]
    NotStreaming {
        /// The state of the call.
        state: WsState,
    },
    /// A bot frame longer than [`WsConfig::max_bot_frame_samples`].
    #[error("bot frame of {samples} samples exceeds {max}")]
    BotFrameTooLong {
        /// Samples given.
        samples: usize,
        /// The limit.
        max: usize,
    },
    /// A mark name that is empty or longer than 256 bytes.
    #[error("mark name of {len} bytes (1..=256 allowed)")]
    BadMarkName {
        /// The name's length in bytes.
        len: usize,
    },
    /// A `transfer_result` while no `transfer` of ours is waiting for one.
    #[error("transfer_result without a pending transfer")]
    UnexpectedTransferResult,
    /// The outgoing queue is full (nobody polls it); the message was dropped.
    #[error("outgoing queue full ({capacity} messages)")]
    OutgoingFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The event queue is full (nobody polls it); the event was dropped.
    #[error("event queue full ({capacity} events)")]
    EventQueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
}

/// `s` cut to at most `max` characters (for error fields that echo peer input).
pub(crate) fn truncated(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
