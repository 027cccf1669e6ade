//! [`CallRecord`]: the result of one call as the API shows it (field names fixed by the API docs).
//!
//! Times of day are [`jiff::Timestamp`]s, serialised as RFC 3339 UTC strings
//! (`"2024-01-08T12:00:00.250Z"`). Offsets inside the call (`at_ms`, `start_ms`, …) are
//! milliseconds since `started_at`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::bot::Variables;

/// Who or what ended the call (serde values exactly as the API docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisconnectedBy {
    /// The bot hung up.
    #[serde(rename = "bot")]
    Bot,
    /// The caller / callee hung up.
    #[serde(rename = "customer")]
    Customer,
    /// A voicemail / answering machine answered.
    #[serde(rename = "voicemail")]
    Voicemail,
    /// Ring, no reply: the callee's side gave up ringing (e.g. 480/487 from the network).
    #[serde(rename = "RNR")]
    Rnr,
    /// The bot is outside its active hours.
    #[serde(rename = "outside_hours")]
    OutsideHours,
    /// Our own ring timeout expired before an answer.
    #[serde(rename = "no_answer")]
    NoAnswer,
    /// Rejected (busy, declined, inactive bot, no capacity).
    #[serde(rename = "rejected")]
    Rejected,
    /// The bot's `max_call_seconds` was reached, or media stopped.
    #[serde(rename = "timeout")]
    Timeout,
    /// Handed to a human agent.
    #[serde(rename = "transfer_to_agent")]
    TransferToAgent,
    /// Ended by a failure (see `service_errors`).
    #[serde(rename = "error")]
    Error,
}

/// How the call reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// A carrier or softphone called in over SIP.
    Inbound,
    /// We dialled out (REST or campaign).
    Outbound,
    /// A browser or app connected over WebSocket.
    Websocket,
}

/// Who spoke a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptRole {
    /// The human on the line.
    Caller,
    /// The bot.
    Bot,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Speaker.
    pub role: TranscriptRole,
    /// What was said (for the bot: what was actually played, cut at a barge-in).
    pub text: String,
    /// Start, ms since `started_at`.
    pub start_ms: u64,
    /// End, ms since `started_at`.
    pub end_ms: u64,
}

/// Kinds of [`CallEvent`]; unknown kinds from a newer peer read as `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEventKind {
    /// INVITE received or sent.
    Invite,
    /// Provisional response (180/183) sent or received.
    Ringing,
    /// The call was answered (200 OK).
    Answered,
    /// The caller started speaking.
    SpeechStarted,
    /// The caller stopped speaking.
    SpeechEnded,
    /// The caller interrupted the bot.
    BargeIn,
    /// A DTMF digit (the digit is in `detail`).
    Dtmf,
    /// The bot started a reply.
    BotTurnStarted,
    /// The bot finished a reply.
    BotTurnEnded,
    /// A tool / function call by the bot (`detail` names it).
    ToolCall,
    /// Recording started.
    RecordingStarted,
    /// A transfer was started.
    TransferStarted,
    /// A transfer completed.
    TransferCompleted,
    /// A transfer failed.
    TransferFailed,
    /// No RTP for too long.
    MediaTimeout,
    /// BYE sent or received.
    Hangup,
    /// Anything else.
    #[serde(other)]
    Other,
}

/// Something that happened during the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    /// When, ms since `started_at`.
    pub at_ms: u64,
    /// What.
    pub kind: CallEventKind,
    /// Free text (digit, tool name, SIP status …); may be empty.
    #[serde(default)]
    pub detail: String,
}

/// Latency and usage of one bot turn, measured on the wire; a stage that did not run is `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TurnLatency {
    /// Turn number, from 0.
    pub turn: u32,
    /// End of caller speech → final transcript.
    pub stt_ms: Option<u32>,
    /// Request → first LLM token.
    pub llm_first_token_ms: Option<u32>,
    /// Request → last LLM token.
    #[serde(default)]
    pub llm_total_ms: Option<u32>,
    /// Knowledge-base retrieval.
    #[serde(default)]
    pub rag_ms: Option<u32>,
    /// Tool calls (sum) in this turn.
    #[serde(default)]
    pub tool_ms: Option<u32>,
    /// First text sent to TTS → first TTS audio byte.
    pub tts_first_audio_ms: Option<u32>,
    /// Caller's last audio frame → our first RTP packet of the reply.
    pub total_ms: Option<u32>,
    /// LLM prompt tokens (fresh, not from cache).
    #[serde(default)]
    pub prompt_tokens: u32,
    /// LLM prompt tokens read from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u32,
    /// LLM prompt tokens written to the provider's prompt cache.
    #[serde(default)]
    pub cache_creation_tokens: u32,
    /// LLM completion tokens.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Characters sent to TTS.
    #[serde(default)]
    pub tts_characters: u32,
    /// The caller interrupted this turn (barge-in).
    #[serde(default)]
    pub interrupted: bool,
}

/// Outcome of one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallStatus {
    /// It answered (2xx).
    Ok,
    /// It failed (non-2xx, connection error, bad arguments).
    Error,
    /// It did not answer in time.
    Timeout,
}

/// One tool call made by the bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// When it started, ms since `started_at`.
    pub at_ms: u64,
    /// Bot turn it belongs to.
    #[serde(default)]
    pub turn: u32,
    /// Tool name.
    pub name: String,
    /// Arguments the LLM gave.
    #[serde(default)]
    pub arguments: serde_json::Value,
    /// Outcome.
    pub status: ToolCallStatus,
    /// How long it took, ms.
    pub duration_ms: u32,
    /// What it returned (truncated), or the error.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
}

/// One knowledge-base retrieval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeSearch {
    /// When, ms since `started_at`.
    pub at_ms: u64,
    /// Bot turn it belongs to.
    #[serde(default)]
    pub turn: u32,
    /// The query.
    pub query: String,
    /// How many chunks matched.
    pub hits: u32,
    /// Time to search, microseconds.
    pub latency_us: u32,
    /// Served from the per-call cache.
    pub cached: bool,
}

/// Totals over the call, for cost reporting.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CallUsage {
    /// LLM prompt tokens (fresh).
    pub prompt_tokens: u64,
    /// LLM prompt tokens read from cache.
    pub cache_read_tokens: u64,
    /// LLM prompt tokens written to cache.
    pub cache_creation_tokens: u64,
    /// LLM completion tokens.
    pub completion_tokens: u64,
    /// Characters synthesised.
    pub tts_characters: u64,
    /// Seconds of caller audio sent to STT.
    pub stt_seconds: f64,
}

/// Answering-machine detection result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmdVerdict {
    /// A person answered.
    Human,
    /// A voicemail / answering machine answered.
    Machine,
    /// Could not tell.
    Unknown,
}

/// When and how the call was classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmdResult {
    /// The verdict.
    pub verdict: AmdVerdict,
    /// When it was reached, ms since `answered_at`.
    pub at_ms: u64,
    /// Why (`long_greeting`, `beep`, `transcript:leave a message` …).
    #[serde(default)]
    pub reason: String,
    /// When the beep was heard, ms since `answered_at`.
    #[serde(default)]
    pub beep_at_ms: Option<u64>,
}

/// Media quality from RTP counters and RTCP reports.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CallQuality {
    /// RTP packets received.
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// Packets we lost (sequence gaps).
    pub packets_lost: u64,
    /// Interarrival jitter at the end of the call, ms (RFC 3550).
    pub jitter_ms: f32,
    /// Highest jitter seen, ms.
    pub max_jitter_ms: f32,
    /// Round-trip time from RTCP, ms, when the peer sent receiver reports.
    pub rtt_ms: Option<f32>,
    /// Cumulative loss the peer reported (RTCP RR; may be negative with duplicates).
    pub remote_packets_lost: Option<i64>,
    /// Fraction lost the peer last reported, 0 to 1.
    pub remote_fraction_lost: Option<f32>,
}

/// Which service failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Speech to text.
    Stt,
    /// Language model.
    Llm,
    /// Text to speech.
    Tts,
    /// SIP signalling.
    Sip,
    /// RTP / media.
    Media,
    /// Recording storage.
    Recording,
    /// Call transfer.
    Transfer,
    /// A webhook / tool call.
    Webhook,
    /// Anything else.
    #[serde(other)]
    Other,
}

/// A failure of a service during the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    /// Which service.
    pub service: ServiceKind,
    /// Which stage (`connect`, `stream`, `first_token`, …).
    pub stage: String,
    /// When, ms since `started_at`.
    pub at_ms: u64,
    /// Whether it ended the call.
    pub fatal: bool,
    /// What went wrong, for a person.
    pub message: String,
}

/// How a transfer was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMethod {
    /// The WebSocket client was told to take the call back.
    WebsocketReverseTransfer,
    /// SIP REFER to the destination.
    SipRefer,
    /// The peer refused REFER, so we dialled the destination and bridged the caller to it.
    SipBridge,
}

/// The result of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unique id of the call (the spool file name and the idempotency key).
    pub session_id: String,
    /// The bot that handled it.
    pub bot_id: String,
    /// Inbound, outbound or WebSocket.
    pub direction: CallDirection,
    /// Caller id presented (display name or number), if any.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Calling number.
    #[serde(default)]
    pub from_number: Option<String>,
    /// Called number.
    #[serde(default)]
    pub to_number: Option<String>,
    /// INVITE received / sent.
    pub started_at: Timestamp,
    /// 200 OK, if answered.
    #[serde(default)]
    pub answered_at: Option<Timestamp>,
    /// Call ended.
    pub ended_at: Timestamp,
    /// Whole seconds from answer to end, rounded to nearest (0 if never answered).
    pub call_duration_seconds: u64,
    /// Who ended the call.
    pub disconnected_by: DisconnectedBy,
    /// Final SIP status of the INVITE (200 if answered), if SIP was involved.
    #[serde(default)]
    pub sip_status: Option<u16>,
    /// What was said.
    #[serde(default)]
    pub transcript: Vec<TranscriptEntry>,
    /// What happened.
    #[serde(default)]
    pub events: Vec<CallEvent>,
    /// Per-turn latencies and usage.
    #[serde(default)]
    pub turn_latencies: Vec<TurnLatency>,
    /// Tool calls, in order.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallRecord>,
    /// Knowledge-base searches, in order.
    #[serde(default)]
    pub knowledge_searches: Vec<KnowledgeSearch>,
    /// Token and character totals.
    #[serde(default)]
    pub usage: CallUsage,
    /// Voicemail detection, when it ran.
    #[serde(default)]
    pub amd: Option<AmdResult>,
    /// The `crm.*` namespace: dialout variables merged with the pre-fetch response.
    #[serde(default)]
    pub crm: Variables,
    /// Allowed SIP headers of the INVITE (`call.sip_headers`).
    #[serde(default)]
    pub sip_headers: std::collections::BTreeMap<String, String>,
    /// Template variables that rendered empty because they were unknown.
    #[serde(default)]
    pub unknown_variables: Vec<String>,
    /// Media quality.
    #[serde(default)]
    pub quality: CallQuality,
    /// Failures of STT/LLM/TTS/… during the call.
    #[serde(default)]
    pub service_errors: Vec<ServiceError>,
    /// Storage key of the recording.
    #[serde(default)]
    pub recording_key: Option<String>,
    /// URL of the recording.
    #[serde(default)]
    pub recording_url: Option<String>,
    /// The call's variables (`call.*`).
    #[serde(default)]
    pub variables: Variables,
    /// Filled by control after the call.
    #[serde(default)]
    pub post_call_analysis: Option<serde_json::Value>,
    /// Whether a transfer was attempted successfully.
    #[serde(default)]
    pub was_transferred: bool,
    /// The number or URI transferred to.
    #[serde(default)]
    pub transfer_destination: Option<String>,
    /// The named target (agent queue, department) the bot chose.
    #[serde(default)]
    pub transfer_target: Option<String>,
    /// Why the bot transferred.
    #[serde(default)]
    pub transfer_reason: Option<String>,
    /// How the transfer was done.
    #[serde(default)]
    pub transfer_method: Option<TransferMethod>,
    /// When the transfer happened.
    #[serde(default)]
    pub transfer_at: Option<Timestamp>,
    /// Why a transfer failed, if it did.
    #[serde(default)]
    pub transfer_failed_reason: Option<String>,
}

impl CallRecord {
    /// A record of a call that starts at `started_at` (ended at the same instant, by
    /// `error`, until [`CallRecord::finish`] is called).
    pub fn new(
        session_id: impl Into<String>,
        bot_id: impl Into<String>,
        direction: CallDirection,
        started_at: Timestamp,
    ) -> CallRecord {
        CallRecord {
            session_id: session_id.into(),
            bot_id: bot_id.into(),
            direction,
            caller_id: None,
            from_number: None,
            to_number: None,
            started_at,
            answered_at: None,
            ended_at: started_at,
            call_duration_seconds: 0,
            disconnected_by: DisconnectedBy::Error,
            sip_status: None,
            transcript: Vec::new(),
            events: Vec::new(),
            turn_latencies: Vec::new(),
            tool_calls: Vec::new(),
            knowledge_searches: Vec::new(),
            usage: CallUsage::default(),
            amd: None,
            crm: Variables::new(),
            sip_headers: std::collections::BTreeMap::new(),
            unknown_variables: Vec::new(),
            quality: CallQuality::default(),
            service_errors: Vec::new(),
            recording_key: None,
            recording_url: None,
            variables: Variables::new(),
            post_call_analysis: None,
            was_transferred: false,
            transfer_destination: None,
            transfer_target: None,
            transfer_reason: None,
            transfer_method: None,
            transfer_at: None,
            transfer_failed_reason: None,
        }
    }

    /// Sets `ended_at`, `disconnected_by` and `call_duration_seconds` (from `answered_at`).
    pub fn finish(&mut self, ended_at: Timestamp, by: DisconnectedBy) {
        self.ended_at = ended_at;
        self.disconnected_by = by;
        self.call_duration_seconds = match self.answered_at {
            Some(a) if ended_at > a => {
                let ms = ended_at.as_millisecond() - a.as_millisecond();
                ((ms + 500) / 1000) as u64
            }
            _ => 0,
        };
    }

    /// Milliseconds since `started_at` at `now` (0 before the start): the offset events use.
    pub fn offset_ms(&self, now: Timestamp) -> u64 {
        (now.as_millisecond() - self.started_at.as_millisecond()).max(0) as u64
    }
}

#[cfg(test)]
mod tests;
