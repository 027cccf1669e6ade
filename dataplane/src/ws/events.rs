//! What a [`super::WsCall`] reports: its state, its events and its counters.

use std::collections::BTreeMap;

#[cfg(doc)]
use super::{WsCall, WsConfig};

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsState {
    /// Nothing received yet.
    AwaitingConnected,
    /// `connected` received, `start` not yet.
    Connected,
    /// `start` received: audio flows.
    Started,
    /// `stop` received or the socket closed.
    Stopped,
}

/// What happened on the stream, for the call's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// The stream started: who is calling and the call variables (`{{call.<name>}}`), gathered from
    /// the extra fields of `connected` (`callerId`, `streamId`, any other) and from
    /// `start.customParameters` (which win on a clash).
    Started {
        /// `streamSid`.
        stream_sid: String,
        /// `start.callSid`.
        call_sid: Option<String>,
        /// `start.accountSid`.
        account_sid: Option<String>,
        /// `callerId` of `connected`, else the `callerId`, `caller_id`, `From` or `from` custom parameter.
        caller_id: Option<String>,
        /// Call variables by name.
        variables: BTreeMap<String, String>,
    },
    /// `samples` more caller samples (8 kHz) are waiting in [`WsCall::read_caller_audio`]
    /// (consecutive frames are merged into one event until it is polled).
    CallerAudio {
        /// Samples added.
        samples: usize,
        /// `media.timestamp` (ms since the stream started) of the first of them, if sent.
        timestamp_ms: Option<u64>,
    },
    /// The caller pressed a key (`0-9`, `*`, `#`, `A-D`).
    Dtmf {
        /// The key.
        digit: char,
    },
    /// The peer echoed our mark: the audio queued before it has played (or was cleared on the peer).
    MarkPlayed {
        /// The mark's name.
        name: String,
    },
    /// A mark of ours was dropped by [`WsCall::clear`] before it was sent; the peer will not echo it.
    MarkCleared {
        /// The mark's name.
        name: String,
    },
    /// The peer answered our `transfer` ([`WsCall::send_transfer`]).
    TransferResult {
        /// `status` was `ok`: the peer took the caller over.
        ok: bool,
        /// `reason`, if sent (cut to 256 characters).
        reason: Option<String>,
    },
    /// The peer sent `stop`, or [`WsCall::on_closed`] was called.
    Stopped,
    /// The peer sent nothing for [`WsConfig::idle_timeout`].
    IdleTimeout,
}

/// Counters of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsStats {
    /// Text frames given to [`WsCall::on_text`].
    pub frames_in: u64,
    /// Frames rejected with an error.
    pub errors: u64,
    /// Inbound-track media frames decoded.
    pub media_frames: u64,
    /// Caller samples decoded.
    pub caller_samples: u64,
    /// Caller samples dropped because the ring was full.
    pub caller_overrun_samples: u64,
    /// Media frames of the `outbound` track, ignored.
    pub outbound_track_frames: u64,
    /// Times `sequenceNumber` did not follow the previous one.
    pub sequence_gaps: u64,
    /// Bot frames queued.
    pub bot_frames: u64,
    /// Outgoing messages dropped by [`WsCall::clear`].
    pub cleared_messages: u64,
}
