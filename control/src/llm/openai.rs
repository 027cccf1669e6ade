//! OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server), non-streaming,
//! with `response_format: {"type": "json_object"}`.

use cxb_model::ProviderEndpoint;
use serde_json::{Value, json};

use super::{LlmError, LlmOutput, LlmRequest, OPENAI_DEFAULT_MODEL, REQUEST_TIMEOUT, Usage};

const NAME: &str = "openai";

/// The request body.
pub(super) fn body(req: &LlmRequest) -> Value {
    let model = if req.model.is_empty() {
        OPENAI_DEFAULT_MODEL
    } else {
        req.model.as_str()
    };
    let mut b = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": req.system},
            {"role": "user", "content": req.user},
        ],
        "response_format": {"type": "json_object"},
        "stream": false,
    });
    if let Some(t) = req.temperature {
        b["temperature"] = json!(t);
    }
    if req.max_tokens > 0 {
        b["max_tokens"] = json!(req.max_tokens);
    }
    if let Some(key) = &req.cache_key {
        b["prompt_cache_key"] = json!(key);
    }
    b
}

/// Usage from `usage.{prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens}`.
pub(super) fn usage(v: &Value) -> Usage {
    let u = &v["usage"];
    let prompt = u["prompt_tokens"].as_u64().unwrap_or(0);
    let cached = u["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0)
        .min(prompt);
    Usage {
        cached_read: cached,
        cache_created: 0,
        fresh: prompt - cached,
        completion: u["completion_tokens"].as_u64().unwrap_or(0),
    }
}

pub(super) async fn complete(
    http: &reqwest::Client,
    endpoint: &ProviderEndpoint,
    req: &LlmRequest,
) -> Result<LlmOutput, LlmError> {
    let url = super::join_url(&endpoint.base_url, "chat/completions");
    let mut rb = http.post(url).timeout(REQUEST_TIMEOUT).json(&body(req));
    if let Some(key) = endpoint.api_key.as_deref().filter(|k| !k.is_empty()) {
        rb = rb.bearer_auth(key);
    }
    let v: Value = super::send_json(NAME, rb).await?;
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .ok_or(LlmError::Malformed {
            provider: NAME,
            what: "no choices[0].message.content",
        })?;
    Ok(LlmOutput {
        json: super::parse_object(NAME, text)?,
        usage: usage(&v),
    })
}
