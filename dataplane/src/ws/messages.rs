//! Serde types of the Twilio Media Streams messages, in both directions.
//!
//! Field names are the documented wire names (`streamSid`, `sequenceNumber`, `mediaFormat`, …).
//! Strings borrow from the frame when they contain no escapes, so parsing a `media` message
//! allocates nothing. Numbers that Twilio sends as strings (`sequenceNumber`, `chunk`,
//! `timestamp`) are read from a string or a JSON integer and written back as strings. Unknown
//! fields are ignored, so a provider adding fields breaks nothing.
//!
//! [`Inbound::parse`] reads a frame in two passes: the `event` tag first, then the typed body of
//! that event (one small struct per event, no buffering of the whole document).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fields::{de, num_str};
use super::{EventKind, WsError, truncated};

/// Any message from the telephony side, tagged by its `event` field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Inbound<'a> {
    /// `connected`.
    Connected(Connected<'a>),
    /// `start`.
    Start(Start<'a>),
    /// `media`.
    Media(Media<'a>),
    /// `dtmf`.
    Dtmf(Dtmf<'a>),
    /// `mark` (the echo of a mark we sent).
    Mark(Mark<'a>),
    /// `stop`.
    Stop(Stop<'a>),
    /// `transfer_result`: the answer to our `transfer` (websocket reverse transfer).
    #[serde(rename = "transfer_result")]
    TransferResult(TransferResult<'a>),
}

impl<'a> Inbound<'a> {
    /// Parses one text frame; strings borrow from `text` where they can.
    pub fn parse(text: &'a str) -> Result<Self, WsError> {
        let tag: EventTag<'a> = serde_json::from_str(text).map_err(|source| WsError::BadJson { source })?;
        let kind = EventKind::from_inbound(&tag.event).ok_or_else(|| WsError::UnknownEvent {
            event: truncated(&tag.event, 32),
        })?;
        let malformed = |source| WsError::Malformed { event: kind, source };
        Ok(match kind {
            EventKind::Connected => {
                let mut c: Connected<'a> = serde_json::from_str(text).map_err(malformed)?;
                // The tag lands in the flattened map; it is not a custom field.
                c.extra.remove("event");
                Inbound::Connected(c)
            }
            EventKind::Start => Inbound::Start(serde_json::from_str(text).map_err(malformed)?),
            EventKind::Media => Inbound::Media(serde_json::from_str(text).map_err(malformed)?),
            EventKind::Dtmf => Inbound::Dtmf(serde_json::from_str(text).map_err(malformed)?),
            EventKind::Mark => Inbound::Mark(serde_json::from_str(text).map_err(malformed)?),
            EventKind::Stop => Inbound::Stop(serde_json::from_str(text).map_err(malformed)?),
            EventKind::TransferResult => Inbound::TransferResult(serde_json::from_str(text).map_err(malformed)?),
            // `clear` and `transfer` are ours to send; `from_inbound` never yields them, but answer
            // them as unknown anyway.
            EventKind::Clear | EventKind::Transfer => {
                return Err(WsError::UnknownEvent {
                    event: truncated(&tag.event, 32),
                });
            }
        })
    }

    /// The kind of this message.
    pub fn kind(&self) -> EventKind {
        match self {
            Inbound::Connected(_) => EventKind::Connected,
            Inbound::Start(_) => EventKind::Start,
            Inbound::Media(_) => EventKind::Media,
            Inbound::Dtmf(_) => EventKind::Dtmf,
            Inbound::Mark(_) => EventKind::Mark,
            Inbound::Stop(_) => EventKind::Stop,
            Inbound::TransferResult(_) => EventKind::TransferResult,
        }
    }
}

/// First parse pass: only the `event` field.
#[derive(Deserialize)]
struct EventTag<'a> {
    #[serde(borrow, deserialize_with = "de::cow")]
    event: Cow<'a, str>,
}

/// `connected`: `{"event":"connected","protocol":"Call","version":"1.0.0"}`, plus optional
/// `callerId`, `streamId` and any other fields (which become call variables when they are strings,
/// numbers or booleans).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected<'a> {
    /// `protocol`, `"Call"` for Twilio.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol: Option<Cow<'a, str>>,
    /// `version`, e.g. `"1.0.0"`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<Cow<'a, str>>,
    /// `callerId`: the caller's number, when the peer sends it.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub caller_id: Option<Cow<'a, str>>,
    /// `streamId`: the peer's stream id, when it sends one.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_id: Option<Cow<'a, str>>,
    /// Every other field (without the `event` tag when read by [`Inbound::parse`]).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Connected<'_> {
    /// The custom fields as `(name, text)`: strings as they are, numbers and booleans as their
    /// JSON text; `event`, objects, arrays and nulls are skipped.
    pub fn custom_fields(&self) -> impl Iterator<Item = (&str, String)> {
        self.extra
            .iter()
            .filter(|(k, _)| k.as_str() != "event")
            .filter_map(|(k, v)| Some((k.as_str(), value_text(v)?)))
    }
}

/// A scalar JSON value as variable text (`None` for objects, arrays and null).
pub(crate) fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `start`: stream metadata, sent once after `connected`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start<'a> {
    /// `sequenceNumber`.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// `start`: the metadata.
    #[serde(borrow)]
    pub start: StartMeta<'a>,
    /// `streamSid` (top level; the same as `start.streamSid`).
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
}

/// The `start` object of a `start` message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartMeta<'a> {
    /// `streamSid`: the stream's id, repeated in every later message.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
    /// `accountSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_sid: Option<Cow<'a, str>>,
    /// `callSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_sid: Option<Cow<'a, str>>,
    /// `tracks`: `"inbound"`, `"outbound"`.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// `customParameters`: the `<Parameter>`s of the stream; they become call variables.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, serde_json::Value>,
    /// `mediaFormat`; µ-law 8 kHz mono when absent.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub media_format: Option<MediaFormat<'a>>,
}

/// `start.mediaFormat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat<'a> {
    /// `encoding`: `"audio/x-mulaw"`.
    #[serde(borrow, deserialize_with = "de::cow")]
    pub encoding: Cow<'a, str>,
    /// `sampleRate`: 8000.
    pub sample_rate: u32,
    /// `channels`: 1.
    pub channels: u16,
}

impl Default for MediaFormat<'_> {
    fn default() -> Self {
        Self {
            encoding: Cow::Borrowed(MULAW_ENCODING),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

/// The only `mediaFormat.encoding` supported (µ-law).
pub const MULAW_ENCODING: &str = "audio/x-mulaw";

/// `media` from the peer: one chunk of base64 µ-law audio.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media<'a> {
    /// `sequenceNumber`.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// `media`: the chunk.
    #[serde(borrow)]
    pub media: MediaBody<'a>,
    /// `streamSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
}

/// The `media` object of an inbound `media` message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MediaBody<'a> {
    /// `track`: `"inbound"` (the caller) or `"outbound"` (what the caller hears).
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub track: Option<Cow<'a, str>>,
    /// `chunk`: counts up from 1.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u64>,
    /// `timestamp`: milliseconds since the stream started.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// `payload`: base64 of raw µ-law bytes, no header.
    #[serde(borrow, deserialize_with = "de::cow")]
    pub payload: Cow<'a, str>,
}

/// `dtmf`: a key the caller pressed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dtmf<'a> {
    /// `sequenceNumber`.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// `streamSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
    /// `dtmf`: the key.
    #[serde(borrow)]
    pub dtmf: DtmfBody<'a>,
}

/// The `dtmf` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DtmfBody<'a> {
    /// `track`: `"inbound_track"`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub track: Option<Cow<'a, str>>,
    /// `digit`: `0-9`, `*`, `#` (`A-D` also accepted).
    #[serde(borrow, deserialize_with = "de::cow")]
    pub digit: Cow<'a, str>,
}

/// `mark`, both directions: from the peer it is the echo of our mark once the audio before it
/// has played (or been cleared).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark<'a> {
    /// `sequenceNumber` (peer → us only).
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// `streamSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
    /// `mark`: the name.
    #[serde(borrow)]
    pub mark: MarkBody<'a>,
}

/// The `mark` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MarkBody<'a> {
    /// `name`: chosen by us.
    #[serde(borrow, deserialize_with = "de::cow")]
    pub name: Cow<'a, str>,
}

/// `stop`: the stream ended.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stop<'a> {
    /// `sequenceNumber`.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// `streamSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
    /// `stop`: which call.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopBody<'a>>,
}

/// The `stop` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopBody<'a> {
    /// `accountSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_sid: Option<Cow<'a, str>>,
    /// `callSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_sid: Option<Cow<'a, str>>,
}

/// `transfer_result`: `{"event":"transfer_result","streamSid":…,"status":"ok"|"failed","reason":…}`,
/// the peer's answer to our `transfer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferResult<'a> {
    /// `sequenceNumber`.
    #[serde(default, with = "num_str", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// `streamSid`.
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_sid: Option<Cow<'a, str>>,
    /// `status`: `ok` (the peer took the call over) or `failed`.
    pub status: TransferStatus,
    /// `reason`: why it failed (optional).
    #[serde(
        borrow,
        default,
        deserialize_with = "de::opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<Cow<'a, str>>,
}

/// `transfer_result.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferStatus {
    /// `ok`: the peer transferred the caller; the stream ends.
    Ok,
    /// `failed`: the caller stays with the bot.
    Failed,
}

/// The `transfer` object of an outbound `transfer` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferBody<'a> {
    /// `target`: the bot's name for the transfer target.
    #[serde(borrow, deserialize_with = "de::cow")]
    pub target: Cow<'a, str>,
    /// `destination`: the number or SIP URI configured for the target.
    #[serde(borrow, deserialize_with = "de::cow")]
    pub destination: Cow<'a, str>,
    /// `reason`: why (from the model).
    #[serde(borrow, deserialize_with = "de::cow")]
    pub reason: Cow<'a, str>,
}

/// Any message we send to the peer, tagged by `event`. [`super::WsCall`] writes `media` by hand on
/// the hot path; this type is the reference its output is tested against, and what a fake
/// telephony peer uses to read our messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Outbound<'a> {
    /// `media`: bot audio.
    Media {
        /// `streamSid`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// `media`.
        #[serde(borrow)]
        media: OutboundMedia<'a>,
    },
    /// `mark`: echoed by the peer once the audio queued before it has played.
    Mark {
        /// `streamSid`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// `mark`.
        #[serde(borrow)]
        mark: MarkBody<'a>,
    },
    /// `clear`: drop the audio buffered on the peer.
    Clear {
        /// `streamSid`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
    },
    /// `transfer`: websocket reverse transfer; the peer moves the caller to `transfer.destination`
    /// and answers with `transfer_result`.
    Transfer {
        /// `streamSid`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// `transfer`.
        #[serde(borrow)]
        transfer: TransferBody<'a>,
    },
}

/// The `media` object of an outbound `media` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMedia<'a> {
    /// `payload`: base64 of µ-law 8 kHz bytes.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}
