//! The conversational part of a bot's configuration: prompt and policy, voice pipeline
//! (STT, LLM, TTS providers), behaviour (re-engagement, VAD, barge-in), tools, transfer targets,
//! voicemail handling, CRM pre-fetch and push, knowledge base, post-call prompts.
//!
//! Every type has serde defaults so a bot written before a field existed still loads, and a
//! `validate` that names the offending field (paths like `pipeline.llm.model`, `tools[1].url`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// Longest system prompt accepted, in bytes.
pub const MAX_PROMPT_LEN: usize = 64 * 1024;
/// Most tools one bot may define.
pub const MAX_TOOLS: usize = 32;
/// Longest knowledge base accepted, in bytes over all documents.
pub const MAX_KNOWLEDGE_BYTES: usize = 4 * 1024 * 1024;

/// Who provides a stage of the voice pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// In process, offline: pocketsphinx (STT), espeak-ng (TTS), the local responder (LLM).
    #[default]
    Embedded,
    /// Cost-free simulation for load runs: scripted text and pre-rendered audio, in process.
    Sim,
    /// OpenAI or any OpenAI-compatible server (vLLM, Ollama, llama.cpp): chat completions,
    /// audio transcriptions, audio speech.
    Openai,
    /// Anthropic Messages API (LLM only).
    Anthropic,
    /// Deepgram streaming speech to text (STT only).
    Deepgram,
    /// ElevenLabs streaming text to speech (TTS only).
    Elevenlabs,
}

impl ProviderKind {
    /// The name used in JSON and settings (`openai`, `deepgram`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Embedded => "embedded",
            ProviderKind::Sim => "sim",
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Deepgram => "deepgram",
            ProviderKind::Elevenlabs => "elevenlabs",
        }
    }
}

/// One stage of the pipeline: which provider, which model/voice.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StageConfig {
    /// The provider.
    #[serde(default)]
    pub provider: ProviderKind,
    /// Model name (`gpt-4o-mini`, `nova-2`, `eleven_flash_v2_5` …); empty: the provider default.
    #[serde(default)]
    pub model: String,
    /// Voice id (TTS only); empty: the provider default.
    #[serde(default)]
    pub voice: String,
    /// BCP 47 language; empty: the bot's language.
    #[serde(default)]
    pub language: String,
    /// Base URL overriding the provider's (for OpenAI-compatible servers); empty: the settings' one.
    #[serde(default)]
    pub base_url: String,
    /// Sampling temperature (LLM only).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Most tokens per reply (LLM only); 0: provider default.
    #[serde(default)]
    pub max_tokens: u32,
}

/// The voice pipeline: speech to text, language model, text to speech.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Speech to text.
    #[serde(default)]
    pub stt: StageConfig,
    /// Language model.
    #[serde(default)]
    pub llm: StageConfig,
    /// Text to speech.
    #[serde(default)]
    pub tts: StageConfig,
}

impl PipelineConfig {
    /// Checks that each stage's provider can do that stage.
    pub fn validate(&self) -> Result<(), FieldError> {
        use ProviderKind::*;
        let stt_ok = matches!(self.stt.provider, Embedded | Sim | Openai | Deepgram);
        let llm_ok = matches!(self.llm.provider, Embedded | Sim | Openai | Anthropic);
        let tts_ok = matches!(self.tts.provider, Embedded | Sim | Openai | Elevenlabs);
        if !stt_ok {
            return Err(FieldError::new(
                "pipeline.stt.provider",
                "must be embedded, sim, openai or deepgram",
            ));
        }
        if !llm_ok {
            return Err(FieldError::new(
                "pipeline.llm.provider",
                "must be embedded, sim, openai or anthropic",
            ));
        }
        if !tts_ok {
            return Err(FieldError::new(
                "pipeline.tts.provider",
                "must be embedded, sim, openai or elevenlabs",
            ));
        }
        for (name, st) in [("stt", &self.stt), ("llm", &self.llm), ("tts", &self.tts)] {
            let url_ok =
                st.base_url.is_empty() || st.base_url.starts_with("http://") || st.base_url.starts_with("https://");
            if !url_ok {
                return Err(FieldError::new(
                    format!("pipeline.{name}.base_url"),
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if let Some(t) = self.llm.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(FieldError::new("pipeline.llm.temperature", "must be 0 to 2"));
        }
        Ok(())
    }
}

/// Voice activity detection settings of a bot (the caller side).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VadSettings {
    /// Speech probability above which a frame is speech, 0 to 1.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// Speech needed to start a turn, seconds.
    #[serde(default = "default_start_secs")]
    pub start_secs: f32,
    /// Silence needed to end a turn, seconds.
    #[serde(default = "default_stop_secs")]
    pub stop_secs: f32,
    /// Frames quieter than this (dBFS) are never speech.
    #[serde(default = "default_min_volume")]
    pub min_volume_dbfs: f32,
}

fn default_confidence() -> f32 {
    0.5
}
fn default_start_secs() -> f32 {
    0.2
}
fn default_stop_secs() -> f32 {
    0.8
}
fn default_min_volume() -> f32 {
    -55.0
}

impl Default for VadSettings {
    fn default() -> Self {
        VadSettings {
            confidence: default_confidence(),
            start_secs: default_start_secs(),
            stop_secs: default_stop_secs(),
            min_volume_dbfs: default_min_volume(),
        }
    }
}

/// How the bot behaves in conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// Seconds of caller silence (after the bot finished speaking) before re-engaging; 0: never.
    #[serde(default = "default_reengage_gap")]
    pub reengage_gap_secs: u32,
    /// Re-engagement attempts before the bot ends the call.
    #[serde(default = "default_reengage_retries")]
    pub reengage_retries: u32,
    /// What the bot says to re-engage, in turn (the last one repeats); templates.
    #[serde(default = "default_reengage_messages")]
    pub reengage_messages: Vec<String>,
    /// Said before the bot hangs up at max duration or after the last re-engagement; template.
    #[serde(default = "default_closing_message")]
    pub closing_message: String,
    /// Said when a provider fails and the bot can go on; template.
    #[serde(default = "default_apology_message")]
    pub apology_message: String,
    /// Phrases that, said by the bot, end the call after they are played (`bot` hangs up).
    #[serde(default)]
    pub closing_phrases: Vec<String>,
    /// Words the caller must say before their speech interrupts the bot (backchannels such as
    /// "uh-huh" stay below it); 0 or 1: any speech interrupts.
    #[serde(default = "default_min_words")]
    pub min_words_to_interrupt: u32,
    /// Caller VAD.
    #[serde(default)]
    pub vad: VadSettings,
}

fn default_reengage_gap() -> u32 {
    8
}
fn default_reengage_retries() -> u32 {
    2
}
fn default_reengage_messages() -> Vec<String> {
    vec!["Are you still there?".to_owned()]
}
fn default_closing_message() -> String {
    "Thank you for calling. Goodbye.".to_owned()
}
fn default_apology_message() -> String {
    "Sorry, I am having trouble right now. Could you say that again?".to_owned()
}
fn default_min_words() -> u32 {
    2
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            reengage_gap_secs: default_reengage_gap(),
            reengage_retries: default_reengage_retries(),
            reengage_messages: default_reengage_messages(),
            closing_message: default_closing_message(),
            apology_message: default_apology_message(),
            closing_phrases: Vec::new(),
            min_words_to_interrupt: default_min_words(),
            vad: VadSettings::default(),
        }
    }
}

impl Behavior {
    /// Checks ranges; errors name `behavior.*`.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.reengage_gap_secs > 600 {
            return Err(FieldError::new("behavior.reengage_gap_secs", "must be at most 600"));
        }
        if self.reengage_retries > 10 {
            return Err(FieldError::new("behavior.reengage_retries", "must be at most 10"));
        }
        if self.reengage_gap_secs > 0 && self.reengage_messages.iter().all(|m| m.trim().is_empty()) {
            return Err(FieldError::new(
                "behavior.reengage_messages",
                "needs at least one message when reengage_gap_secs > 0",
            ));
        }
        if self.min_words_to_interrupt > 20 {
            return Err(FieldError::new("behavior.min_words_to_interrupt", "must be at most 20"));
        }
        let v = &self.vad;
        if !(0.0..=1.0).contains(&v.confidence) {
            return Err(FieldError::new("behavior.vad.confidence", "must be 0 to 1"));
        }
        if !(0.0..=5.0).contains(&v.start_secs) {
            return Err(FieldError::new("behavior.vad.start_secs", "must be 0 to 5"));
        }
        if !(0.05..=10.0).contains(&v.stop_secs) {
            return Err(FieldError::new("behavior.vad.stop_secs", "must be 0.05 to 10"));
        }
        if !(-96.0..=0.0).contains(&v.min_volume_dbfs) {
            return Err(FieldError::new("behavior.vad.min_volume_dbfs", "must be -96 to 0"));
        }
        Ok(())
    }
}

/// One step of the conversation policy: a goal the bot pursues in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStep {
    /// Short name (`greet`, `qualify`, `book`).
    pub name: String,
    /// What the step must achieve (shown to the LLM and checked by QC).
    #[serde(default)]
    pub goal: String,
    /// What the bot says for this step (a template; the local responder speaks it verbatim).
    #[serde(default)]
    pub say: String,
}

/// HTTP method of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET (arguments as query parameters).
    Get,
    /// POST (arguments as a JSON body).
    #[default]
    Post,
    /// PUT (JSON body).
    Put,
    /// PATCH (JSON body).
    Patch,
}

/// A function tool the LLM may call: an HTTP webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolConfig {
    /// Function name (`[a-zA-Z0-9_-]{1,64}`; not `end_call` / `transfer_call`, which are built in).
    pub name: String,
    /// What it does, for the LLM.
    #[serde(default)]
    pub description: String,
    /// JSON schema of the arguments (an object schema).
    #[serde(default = "empty_object_schema")]
    pub parameters: serde_json::Value,
    /// Webhook URL.
    pub url: String,
    /// Webhook method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Timeout, milliseconds.
    #[serde(default = "default_tool_timeout")]
    pub timeout_ms: u32,
    /// Value of the `Authorization` header sent to the webhook (a secret: never logged).
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Said while a slow tool runs (after `filler_after_ms`); empty: nothing.
    #[serde(default)]
    pub filler_message: String,
    /// How long the tool may run before the filler line is said, milliseconds.
    #[serde(default = "default_filler_after")]
    pub filler_after_ms: u32,
}

fn empty_object_schema() -> serde_json::Value {
    serde_json::json!({"type": "object", "properties": {}})
}
fn default_tool_timeout() -> u32 {
    5000
}
fn default_filler_after() -> u32 {
    1200
}

/// Names the LLM sees for the built-in tools.
pub const BUILTIN_TOOLS: [&str; 2] = ["end_call", "transfer_call"];

/// Where a call can be transferred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferTarget {
    /// Name the LLM uses (`sales`, `billing`).
    pub name: String,
    /// SIP URI or E.164 number.
    pub destination: String,
    /// When to use it, for the LLM.
    #[serde(default)]
    pub description: String,
}

/// What the bot does when a voicemail answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailAction {
    /// Hang up at once (`disconnected_by=voicemail`).
    #[default]
    HangUp,
    /// Wait for the beep, say `message`, hang up.
    LeaveMessage,
    /// Carry on as if a person answered.
    Ignore,
}

/// Voicemail / answering-machine detection settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoicemailConfig {
    /// Run detection (outbound calls only by default).
    #[serde(default = "default_true")]
    pub detect: bool,
    /// Also on inbound calls.
    #[serde(default)]
    pub detect_inbound: bool,
    /// What to do on a machine.
    #[serde(default)]
    pub action: VoicemailAction,
    /// Message left after the beep (template).
    #[serde(default)]
    pub message: String,
}

fn default_true() -> bool {
    true
}

impl Default for VoicemailConfig {
    fn default() -> Self {
        VoicemailConfig {
            detect: true,
            detect_inbound: false,
            action: VoicemailAction::HangUp,
            message: String::new(),
        }
    }
}

/// A webhook that fetches CRM data at call start into the `crm.*` namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmPrefetch {
    /// URL (a template over `call.*`, e.g. `https://crm/x?phone={{call.from_number}}`).
    pub url: String,
    /// Method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Bearer token (a secret).
    #[serde(default)]
    pub token: Option<String>,
    /// Give up after this long; the call goes on without CRM data.
    #[serde(default = "default_prefetch_timeout")]
    pub timeout_ms: u32,
}

fn default_prefetch_timeout() -> u32 {
    1500
}

/// Post-call push of the result to the customer's CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmPush {
    /// URL.
    pub url: String,
    /// Bearer token (a secret).
    #[serde(default)]
    pub token: Option<String>,
    /// Method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Output key → template over `call/crm/result/analysis/qc/system`.
    #[serde(default)]
    pub key_mapper: BTreeMap<String, String>,
}

/// One knowledge-base document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeDoc {
    /// Title.
    pub title: String,
    /// Plain text.
    pub text: String,
}

/// Checks a webhook-style URL field.
pub(crate) fn validate_url(url: &str, field: String) -> Result<(), FieldError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
        return Err(FieldError::new(field, "must be an http:// or https:// URL"));
    }
    Ok(())
}

/// Checks a tool list (names unique, not built-in, valid URLs and schemas).
pub(crate) fn validate_tools(tools: &[ToolConfig]) -> Result<(), FieldError> {
    if tools.len() > MAX_TOOLS {
        return Err(FieldError::new("tools", format!("at most {MAX_TOOLS} tools")));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in tools.iter().enumerate() {
        let ok = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(FieldError::new(
                format!("tools[{i}].name"),
                "must be 1-64 of [a-zA-Z0-9_-]",
            ));
        }
        if BUILTIN_TOOLS.contains(&t.name.as_str()) {
            return Err(FieldError::new(format!("tools[{i}].name"), "is a built-in tool name"));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(FieldError::new(format!("tools[{i}].name"), "is used twice"));
        }
        validate_url(&t.url, format!("tools[{i}].url"))?;
        if t.parameters.get("type").and_then(|v| v.as_str()) != Some("object") {
            return Err(FieldError::new(
                format!("tools[{i}].parameters"),
                "must be a JSON schema of type object",
            ));
        }
        if t.timeout_ms == 0 || t.timeout_ms > 60_000 {
            return Err(FieldError::new(format!("tools[{i}].timeout_ms"), "must be 1 to 60000"));
        }
    }
    Ok(())
}

/// Checks transfer targets (names unique, destination a SIP URI or a phone number).
pub(crate) fn validate_transfer_targets(targets: &[TransferTarget]) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, t) in targets.iter().enumerate() {
        if t.name.trim().is_empty() || !seen.insert(t.name.as_str()) {
            return Err(FieldError::new(
                format!("transfer_targets[{i}].name"),
                "must be non-empty and unique",
            ));
        }
        let d = t.destination.trim();
        let ok = if d.starts_with("sip:") || d.starts_with("sips:") || d.starts_with("tel:") {
            d.len() > 4 && !d.chars().any(|c| c.is_whitespace() || c.is_control())
        } else {
            crate::number::normalize(d).is_ok()
        };
        if !ok {
            return Err(FieldError::new(
                format!("transfer_targets[{i}].destination"),
                "must be a sip: URI or an E.164 number",
            ));
        }
    }
    Ok(())
}

/// Checks SIP header names a bot may read into `call.sip_headers`.
pub(crate) fn validate_sip_headers(names: &[String]) -> Result<(), FieldError> {
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() || n.len() > 64 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(FieldError::new(
                format!("allowed_sip_headers[{i}]"),
                "must be a SIP header name",
            ));
        }
    }
    Ok(())
}

/// Checks the knowledge base size.
pub(crate) fn validate_knowledge(docs: &[KnowledgeDoc]) -> Result<(), FieldError> {
    let total: usize = docs.iter().map(|d| d.title.len() + d.text.len()).sum();
    if total > MAX_KNOWLEDGE_BYTES {
        return Err(FieldError::new(
            "knowledge_base",
            format!("must be at most {MAX_KNOWLEDGE_BYTES} bytes"),
        ));
    }
    for (i, d) in docs.iter().enumerate() {
        if d.title.trim().is_empty() {
            return Err(FieldError::new(
                format!("knowledge_base[{i}].title"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

/// Where a networked provider is and how to authenticate: served by control from its (encrypted)
/// settings to the dataplane inside the [`DataplaneSnapshot`](crate::DataplaneSnapshot).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEndpoint {
    /// Which provider.
    pub kind: ProviderKind,
    /// Base URL (`https://api.openai.com/v1`, `https://api.anthropic.com`, …; a loopback
    /// `http://` URL for tests and local servers).
    pub base_url: String,
    /// API key (a secret: redacted in `Debug`, never logged).
    #[serde(default)]
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ProviderEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderEndpoint")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ProviderKind {
    /// The public base URL of a networked provider (`None` for in-process ones).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Deepgram => Some("https://api.deepgram.com"),
            ProviderKind::Elevenlabs => Some("https://api.elevenlabs.io"),
            ProviderKind::Embedded | ProviderKind::Sim => None,
        }
    }
}
