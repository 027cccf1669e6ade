//! Anthropic Messages API, non-streaming. The system prompt is one text block, marked
//! `cache_control: {"type": "ephemeral"}` when the bot's post-call cache is on.

use cxb_model::ProviderEndpoint;
use serde_json::{Value, json};

use super::{ANTHROPIC_DEFAULT_MODEL, DEFAULT_MAX_TOKENS, LlmError, LlmOutput, LlmRequest, REQUEST_TIMEOUT, Usage};

const NAME: &str = "anthropic";
/// `anthropic-version` header sent.
pub(super) const API_VERSION: &str = "2023-06-01";

/// The request body.
pub(super) fn body(req: &LlmRequest) -> Value {
    let model = if req.model.is_empty() {
        ANTHROPIC_DEFAULT_MODEL
    } else {
        req.model.as_str()
    };
    let mut system = json!({"type": "text", "text": req.system});
    if req.cache_key.is_some() {
        system["cache_control"] = json!({"type": "ephemeral"});
    }
    let max_tokens = if req.max_tokens == 0 {
        DEFAULT_MAX_TOKENS
    } else {
        req.max_tokens
    };
    let mut b = json!({
        "model": model,
        "max_tokens": max_tokens,
        "system": [system],
        "messages": [{"role": "user", "content": req.user}],
    });
    if let Some(t) = req.temperature {
        b["temperature"] = json!(t.min(1.0));
    }
    b
}

/// Usage from `usage.{input_tokens, output_tokens, cache_read_input_tokens,
/// cache_creation_input_tokens}` (`input_tokens` excludes both cache counts).
pub(super) fn usage(v: &Value) -> Usage {
    let u = &v["usage"];
    Usage {
        cached_read: u["cache_read_input_tokens"].as_u64().unwrap_or(0),
        cache_created: u["cache_creation_input_tokens"].as_u64().unwrap_or(0),
        fresh: u["input_tokens"].as_u64().unwrap_or(0),
        completion: u["output_tokens"].as_u64().unwrap_or(0),
    }
}

pub(super) async fn complete(
    http: &reqwest::Client,
    endpoint: &ProviderEndpoint,
    req: &LlmRequest,
) -> Result<LlmOutput, LlmError> {
    let base = endpoint.base_url.trim_end_matches('/');
    let url = if base.ends_with("/v1") {
        super::join_url(base, "messages")
    } else {
        super::join_url(base, "v1/messages")
    };
    let mut rb = http
        .post(url)
        .timeout(REQUEST_TIMEOUT)
        .header("anthropic-version", API_VERSION)
        .json(&body(req));
    if let Some(key) = endpoint.api_key.as_deref().filter(|k| !k.is_empty()) {
        rb = rb.header("x-api-key", key);
    }
    let v: Value = super::send_json(NAME, rb).await?;
    let blocks = v["content"].as_array().ok_or(LlmError::Malformed {
        provider: NAME,
        what: "no content array",
    })?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    if text.is_empty() {
        return Err(LlmError::Malformed {
            provider: NAME,
            what: "no text content block",
        });
    }
    Ok(LlmOutput {
        json: super::parse_object(NAME, &text)?,
        usage: usage(&v),
    })
}
