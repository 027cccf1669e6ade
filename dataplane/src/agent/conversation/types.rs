//! Inputs and outputs of the [`Conversation`](super::Conversation): ids, [`Action`]s, the context
//! given at construction and the [`ConversationRecord`] handed back at the end.

use std::time::Duration;

use cxb_model::{
    AmdResult, BotConfig, CallDirection, CallEvent, CallRecord, CallUsage, DisconnectedBy, KnowledgeSearch,
    ServiceError, ToolCallRecord, ToolCallStatus, ToolConfig, TranscriptEntry, TransferMethod, TurnLatency, Variables,
};

use crate::agent::api::ChatRequest;
use crate::media::SharedPcm;

/// One LLM request (a turn may make several: retries, tool rounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LlmId(pub u32);

/// One text-to-speech segment (a sentence or clause, or a fixed line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub u64);

/// One webhook tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolCallId(pub u64);

/// Which provider operation failed (see [`Conversation::on_provider_error`](super::Conversation::on_provider_error)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderOp {
    /// The call's speech-to-text stream.
    Stt,
    /// An LLM request.
    Llm(LlmId),
    /// A synthesis.
    Tts(SegmentId),
}

/// How a webhook tool call ended (the driver runs it).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// ok / error / timeout.
    pub status: ToolCallStatus,
    /// What it returned (JSON), or an error description.
    pub result: serde_json::Value,
    /// How long it ran.
    pub duration: Duration,
}

/// Something the driver must do for the conversation, in the order polled.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a streamed completion; feed its events to `on_llm(now, id, …)`.
    StartLlm {
        /// Request id.
        id: LlmId,
        /// The request.
        request: ChatRequest,
    },
    /// Drop the completion (its later events are ignored anyway).
    CancelLlm {
        /// Request id.
        id: LlmId,
    },
    /// Synthesize `text`; feed its audio to `on_tts(now, seg, …)` and its end to `on_tts_done`.
    Speak {
        /// Segment id.
        seg: SegmentId,
        /// Text to say (trimmed, non-empty).
        text: String,
    },
    /// Drop the synthesis.
    CancelTts {
        /// Segment id.
        seg: SegmentId,
    },
    /// Push this 16 kHz audio onto the downlink (`Downlink::push_pcm`), after earlier audio. A
    /// segment's audio comes as one or more of these in a row.
    PlayAudio {
        /// The segment it belongs to.
        seg: SegmentId,
        /// Mono 16 kHz samples (non-empty): a slice of a cached phrase when the TTS audio was at
        /// 16 kHz (not copied), else freshly resampled.
        pcm16k: SharedPcm,
    },
    /// Barge-in: clear the downlink now (`Downlink::clear`), before sending the next frame.
    StopPlayout,
    /// Search the knowledge base; answer with `on_knowledge(now, turn, …)`.
    Search {
        /// Turn number.
        turn: u32,
        /// The caller's words.
        query: String,
    },
    /// Run a webhook tool; answer with `on_tool_result(now, id, …)`.
    CallTool {
        /// Call id.
        id: ToolCallId,
        /// The tool (from the bot's `tools`).
        tool: ToolConfig,
        /// Arguments the model gave (an object; `{}` when it gave invalid JSON).
        arguments: serde_json::Value,
    },
    /// Transfer the call; answer with `on_transfer_result`.
    Transfer {
        /// The named target the bot chose.
        target: String,
        /// SIP URI or number.
        destination: String,
        /// Why (from the model).
        reason: String,
    },
    /// End the call (send BYE); the conversation is over.
    Hangup {
        /// Who ended it.
        by: DisconnectedBy,
    },
}

/// What the conversation needs to know about the call besides the bot.
#[derive(Debug, Clone)]
pub struct ConversationCtx {
    /// How the call reached us (also picks the transfer method).
    pub direction: CallDirection,
    /// Media time of the call's `started_at`: record offsets (`at_ms`, …) are measured from it.
    pub started: Duration,
    /// `call.*` template variables (number, direction, DID, SIP headers, WS fields).
    pub call: Variables,
    /// `crm.*` template variables.
    pub crm: Variables,
    /// `system.*` template variables (now, date, timezone).
    pub system: Variables,
}

impl ConversationCtx {
    /// A context with no variables.
    pub fn new(direction: CallDirection, started: Duration) -> ConversationCtx {
        ConversationCtx {
            direction,
            started,
            call: Variables::new(),
            crm: Variables::new(),
            system: Variables::new(),
        }
    }
}

/// The conversation's part of the [`CallRecord`] (offsets in ms since the call's start).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationRecord {
    /// What was said (the bot's lines cut to what was played at a barge-in).
    pub transcript: Vec<TranscriptEntry>,
    /// Speech, barge-ins, DTMF, bot turns, tools, transfers.
    pub events: Vec<CallEvent>,
    /// One entry per LLM-answered turn.
    pub turn_latencies: Vec<TurnLatency>,
    /// Tool calls (built-ins included).
    pub tool_calls: Vec<ToolCallRecord>,
    /// Knowledge-base searches.
    pub knowledge_searches: Vec<KnowledgeSearch>,
    /// Token and character totals (`stt_seconds`: caller speech per VAD).
    pub usage: CallUsage,
    /// Provider failures.
    pub service_errors: Vec<ServiceError>,
    /// Voicemail verdict, when one came.
    pub amd: Option<AmdResult>,
    /// Template variables that rendered empty.
    pub unknown_variables: Vec<String>,
    /// A transfer succeeded and nothing failed after it.
    pub was_transferred: bool,
    /// Where the call was transferred.
    pub transfer_destination: Option<String>,
    /// The named target.
    pub transfer_target: Option<String>,
    /// Why.
    pub transfer_reason: Option<String>,
    /// How (from the call direction).
    pub transfer_method: Option<TransferMethod>,
    /// When the transfer was started, ms since the call's start.
    pub transfer_at_ms: Option<u64>,
    /// Why the transfer failed.
    pub transfer_failed_reason: Option<String>,
    /// Who ended the call, when the conversation knows (hang-up action or remote hang-up).
    pub disconnected_by: Option<DisconnectedBy>,
}

impl ConversationRecord {
    /// Copies everything into `rec` (events appended, offsets converted with `rec.started_at`);
    /// `disconnected_by` is left to [`CallRecord::finish`].
    pub fn apply_to(self, rec: &mut CallRecord) {
        rec.transcript = self.transcript;
        rec.events.extend(self.events);
        rec.events.sort_by_key(|e| e.at_ms);
        rec.turn_latencies = self.turn_latencies;
        rec.tool_calls = self.tool_calls;
        rec.knowledge_searches = self.knowledge_searches;
        rec.usage = self.usage;
        rec.service_errors.extend(self.service_errors);
        if self.amd.is_some() {
            rec.amd = self.amd;
        }
        for v in self.unknown_variables {
            if !rec.unknown_variables.contains(&v) {
                rec.unknown_variables.push(v);
            }
        }
        rec.was_transferred = self.was_transferred;
        rec.transfer_destination = self.transfer_destination;
        rec.transfer_target = self.transfer_target;
        rec.transfer_reason = self.transfer_reason;
        rec.transfer_method = self.transfer_method;
        rec.transfer_at = self
            .transfer_at_ms
            .and_then(|ms| cxb_model::Timestamp::from_millisecond(rec.started_at.as_millisecond() + ms as i64).ok());
        rec.transfer_failed_reason = self.transfer_failed_reason;
    }
}

/// Whether a bot has anything for the knowledge step.
pub(crate) fn has_knowledge(bot: &BotConfig) -> bool {
    !bot.knowledge_base.is_empty()
}
