//! A small non-streaming LLM client for post-call prompts (analysis, QC): one request, a JSON
//! object back, with token usage split into cache-read, cache-created, fresh and completion.
//!
//! Two wire formats: OpenAI-compatible chat completions (`response_format: json_object`; cached
//! tokens from `usage.prompt_tokens_details.cached_tokens`) and Anthropic Messages (the system
//! prompt as a block with `cache_control: {type: ephemeral}` when caching is on; usage
//! `cache_read_input_tokens` / `cache_creation_input_tokens`). The dataplane has its own
//! streaming clients; control never depends on it.

mod anthropic;
#[cfg(test)]
pub(crate) mod fake;
mod openai;
#[cfg(test)]
mod tests;

use std::time::Duration;

use cxb_model::{ProviderEndpoint, ProviderKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default model for OpenAI-compatible servers when the bot names none.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Default Anthropic model when the bot names none.
pub const ANTHROPIC_DEFAULT_MODEL: &str = "claude-3-5-haiku-latest";
/// Most tokens a post-call answer may use (Anthropic requires a limit).
pub const DEFAULT_MAX_TOKENS: u32 = 2048;
/// Longest a post-call LLM request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One post-call prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    /// Model name; empty: the provider's default.
    pub model: String,
    /// Instructions: the same for every call of a bot, so the provider can cache them.
    pub system: String,
    /// The call-specific part (transcript, facts).
    pub user: String,
    /// Prompt caching: `Some(key)` marks the system prompt cacheable (Anthropic `cache_control`,
    /// OpenAI `prompt_cache_key`); `None` sends no cache hints.
    pub cache_key: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Most completion tokens; 0: [`DEFAULT_MAX_TOKENS`].
    pub max_tokens: u32,
}

/// Token usage of one or more requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens read from the provider's cache.
    pub cached_read: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_created: u64,
    /// Prompt tokens neither read from nor written to the cache.
    pub fresh: u64,
    /// Completion tokens.
    pub completion: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.cached_read += o.cached_read;
        self.cache_created += o.cache_created;
        self.fresh += o.fresh;
        self.completion += o.completion;
    }
}

/// The answer: the JSON object the model produced, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmOutput {
    /// The parsed JSON object.
    pub json: Value,
    /// Token usage.
    pub usage: Usage,
}

/// Why a post-call LLM request failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider cannot run post-call prompts over HTTP (embedded, sim, STT/TTS-only).
    #[error("provider {0:?} has no post-call LLM API")]
    Unsupported(ProviderKind),
    /// Connecting, sending or reading failed (or timed out).
    #[error("{provider} request failed: {source}")]
    Transport {
        /// Provider name.
        provider: &'static str,
        /// The HTTP client error.
        #[source]
        source: reqwest::Error,
    },
    /// The provider asked us to slow down (HTTP 429).
    #[error("{provider} rate limited (HTTP 429)")]
    RateLimited {
        /// Provider name.
        provider: &'static str,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// A non-success HTTP status.
    #[error("{provider} answered HTTP {status}: {body}")]
    Status {
        /// Provider name.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The response is not the provider's documented shape.
    #[error("{provider} response malformed: {what}")]
    Malformed {
        /// Provider name.
        provider: &'static str,
        /// What was missing or wrong.
        what: &'static str,
    },
    /// The model's text is not a JSON object.
    #[error("{provider} output is not a JSON object")]
    NotJson {
        /// Provider name.
        provider: &'static str,
    },
}

impl LlmError {
    /// Whether trying again later may succeed (transport errors, 429, 5xx, 408).
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Transport { .. } | LlmError::RateLimited { .. } => true,
            LlmError::Status { status, .. } => *status >= 500 || *status == 408,
            LlmError::Malformed { .. } | LlmError::NotJson { .. } => true,
            LlmError::Unsupported(_) => false,
        }
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Sends `req` to `endpoint` and parses the JSON object answer.
pub async fn complete_json(
    http: &reqwest::Client,
    endpoint: &ProviderEndpoint,
    req: &LlmRequest,
) -> Result<LlmOutput, LlmError> {
    match endpoint.kind {
        ProviderKind::Openai => openai::complete(http, endpoint, req).await,
        ProviderKind::Anthropic => anthropic::complete(http, endpoint, req).await,
        other => Err(LlmError::Unsupported(other)),
    }
}

/// `base` + `path` with exactly one `/` between.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Sends `rb` and reads a successful response's JSON body; transport failures, non-success
/// statuses ([`status_error`]) and non-JSON bodies become errors of `provider`.
pub(crate) async fn send_json(
    provider: &'static str,
    rb: reqwest::RequestBuilder,
) -> Result<serde_json::Value, LlmError> {
    let resp = rb
        .send()
        .await
        .map_err(|source| LlmError::Transport { provider, source })?;
    if !resp.status().is_success() {
        return Err(status_error(provider, resp).await);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|source| LlmError::Transport { provider, source })?;
    serde_json::from_slice(&bytes).map_err(|_| LlmError::Malformed {
        provider,
        what: "body is not JSON",
    })
}

/// Maps a non-success response to an error (reads at most a short body excerpt).
pub(crate) async fn status_error(provider: &'static str, resp: reqwest::Response) -> LlmError {
    let status = resp.status().as_u16();
    if status == 429 {
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return LlmError::RateLimited { provider, retry_after };
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(300).collect();
    LlmError::Status { provider, status, body }
}

/// Parses the model's text as a JSON object, tolerating code fences and prose around it.
pub(crate) fn parse_object(provider: &'static str, text: &str) -> Result<Value, LlmError> {
    let t = text.trim();
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(t) {
        return Ok(v);
    }
    // ```json … ``` or "Here is the result: {…}": take the outermost braces.
    if let (Some(a), Some(b)) = (t.find('{'), t.rfind('}'))
        && a < b
        && let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&t[a..=b])
    {
        return Ok(v);
    }
    Err(LlmError::NotJson { provider })
}
