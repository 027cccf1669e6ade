//! The provider interface of the voice agent: language model, speech to text and text to speech.
//!
//! Everything here runs on the call's shard: a single-threaded tokio(-uring) runtime, so the
//! traits are not `Send` and implementations hand their network work to `tokio::task::spawn_local`
//! tasks. Results come back as a stream of events on an unbounded channel ([`EventRx`]); dropping
//! the receiver cancels the work (the task stops at its next send). Blocking work (pocketsphinx,
//! espeak-ng) never runs on the shard thread: embedded providers use their own worker threads.

use std::fmt;

use tokio::sync::mpsc;

use crate::media::SharedPcm;

/// Results of one provider operation, in order; the channel closes when the operation ends.
pub type EventRx<T> = mpsc::UnboundedReceiver<Result<T, ProviderError>>;
/// The sending side of an [`EventRx`].
pub type EventTx<T> = mpsc::UnboundedSender<Result<T, ProviderError>>;

/// A new event channel.
pub fn event_channel<T>() -> (EventTx<T>, EventRx<T>) {
    mpsc::unbounded_channel()
}

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller (transcribed).
    User,
    /// The bot (for an interrupted reply: only what the caller heard).
    Assistant,
    /// A tool result (`tool_call_id` says which call).
    Tool,
}

/// A function call requested by the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// Provider-assigned id (echoed in the tool result message).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as JSON text (as the provider streamed it; may be invalid JSON).
    pub arguments: String,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Speaker.
    pub role: Role,
    /// Text (for `Tool`: the tool result as JSON text).
    pub content: String,
    /// Tool calls the assistant made in this message.
    pub tool_calls: Vec<ToolCall>,
    /// For `Tool` messages: the call this answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A plain text message.
    pub fn text(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A function the model may call (JSON-schema parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON schema of the arguments (type object).
    pub parameters: serde_json::Value,
}

/// One streamed chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// Model name; empty: the provider default.
    pub model: String,
    /// System prompt (rendered).
    pub system: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools offered.
    pub tools: Vec<ToolSpec>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Most tokens in the reply; 0: provider default.
    pub max_tokens: u32,
    /// Ask the provider to cache the prompt prefix (system + tools) where it supports that.
    pub cache_prompt: bool,
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LlmUsage {
    /// Prompt tokens not served from the cache.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_tokens: u32,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_tokens: u32,
}

/// One event of a streamed completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmEvent {
    /// More reply text.
    Text(String),
    /// A complete tool call (arguments fully streamed).
    ToolCall(ToolCall),
    /// The completion ended; no more events follow.
    Done {
        /// Token counts (zeros when the provider gave none).
        usage: LlmUsage,
    },
}

/// A language model.
pub trait Llm {
    /// Starts a streamed completion.
    fn chat(&self, req: ChatRequest) -> EventRx<LlmEvent>;
}

/// Settings of one speech-to-text stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SttParams {
    /// Model; empty: provider default.
    pub model: String,
    /// BCP 47 language.
    pub language: String,
    /// Sample rate of the audio pushed (16000: the caller ring's rate).
    pub sample_rate: u32,
    /// Words and phrases to bias recognition toward (from the bot's prompts and policy).
    pub keywords: Vec<String>,
}

/// One event of a speech-to-text stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SttEvent {
    /// A provisional transcript of the current utterance (may change).
    Interim {
        /// Text so far.
        text: String,
    },
    /// A final transcript of a stretch of speech.
    Final {
        /// Text.
        text: String,
        /// The provider thinks the speaker finished their turn (Deepgram `speech_final`,
        /// or the end of a VAD-segmented utterance).
        end_of_turn: bool,
    },
}

/// The audio side of a speech-to-text stream: push caller audio, signal speech boundaries.
/// Calls must be cheap and never block (they hand audio to a task or worker thread).
pub trait SttStream {
    /// Caller audio, mono i16 at the stream's sample rate.
    fn push(&mut self, pcm: &[i16]);
    /// Our VAD says speech started (segmenting providers start an utterance).
    fn speech_started(&mut self);
    /// Our VAD says speech ended (segmenting providers transcribe the utterance now;
    /// streaming providers may finalize).
    fn speech_ended(&mut self);
    /// No more audio: finish and close the event channel.
    fn close(&mut self);
}

/// A speech-to-text provider.
pub trait Stt {
    /// Opens a stream for one call.
    fn open(&self, params: &SttParams) -> (Box<dyn SttStream>, EventRx<SttEvent>);
}

/// Settings of one synthesis.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TtsParams {
    /// Model; empty: provider default.
    pub model: String,
    /// Voice id; empty: provider default.
    pub voice: String,
    /// BCP 47 language.
    pub language: String,
    /// Preferred output rate (the provider may deliver another; chunks say which).
    pub sample_rate: u32,
}

/// A piece of synthesized audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsAudio {
    /// Rate of `pcm`.
    pub sample_rate: u32,
    /// Mono samples: a slice of a cached phrase (shared, not copied) or a fresh buffer.
    pub pcm: SharedPcm,
}

/// A text-to-speech provider.
pub trait Tts {
    /// Synthesizes `text` (one sentence or clause), streaming audio as it arrives.
    fn speak(&self, text: &str, params: &TtsParams) -> EventRx<TtsAudio>;
}

/// How a provider operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// Could not connect (refused, DNS, TLS).
    Connect,
    /// The provider answered with an error status (`status` says which).
    Status,
    /// HTTP 429 (`retry_after_ms` when the provider said).
    RateLimited,
    /// No answer, or the stream stalled, within the deadline.
    Timeout,
    /// The provider sent something we could not understand.
    Protocol,
    /// The connection or stream closed before the operation finished.
    Disconnected,
    /// The provider is not configured (no key, no model data).
    NotConfigured,
}

/// A provider failure, for a [`ServiceError`](cxb_model::ServiceError) on the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProviderError {
    /// What kind of failure.
    pub kind: ProviderErrorKind,
    /// HTTP status, when there was one.
    pub status: Option<u16>,
    /// Provider's Retry-After, ms.
    pub retry_after_ms: Option<u32>,
    /// Which step failed (`connect`, `first_token`, `stream`, …).
    pub stage: &'static str,
    /// For a person; never contains credentials.
    pub message: String,
}

impl ProviderError {
    /// A new error.
    pub fn new(kind: ProviderErrorKind, stage: &'static str, message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind,
            status: None,
            retry_after_ms: None,
            stage,
            message: message.into(),
        }
    }

    /// Whether trying again may succeed (connect errors, 429, 5xx, timeouts, disconnects).
    pub fn retryable(&self) -> bool {
        match self.kind {
            ProviderErrorKind::Connect
            | ProviderErrorKind::RateLimited
            | ProviderErrorKind::Timeout
            | ProviderErrorKind::Disconnected => true,
            ProviderErrorKind::Status => self.status.is_some_and(|s| s >= 500),
            ProviderErrorKind::Protocol | ProviderErrorKind::NotConfigured => false,
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {}", self.kind, self.stage)?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        write!(f, ": {}", self.message)
    }
}
