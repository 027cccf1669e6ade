//! OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server): streamed over
//! SSE, with tool calls and usage (cached prompt tokens included).

use serde_json::{Value, json};

use super::pool::{self, BodyReader, HttpPool, Timeouts};
use super::sse::SseParser;
use crate::agent::api::{
    ChatRequest, EventRx, EventTx, Llm, LlmEvent, LlmUsage, ProviderError, ProviderErrorKind, Role, ToolCall,
    event_channel,
};
use cxb_model::{ProviderEndpoint, StageConfig};

/// Model used when neither the request nor the stage names one.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// An OpenAI-compatible streaming chat model.
#[derive(Debug, Clone)]
pub struct OpenAiLlm {
    pool: HttpPool,
    url: String,
    api_key: Option<String>,
    model: String,
    temperature: Option<f32>,
    max_tokens: u32,
    timeouts: Timeouts,
}

impl OpenAiLlm {
    /// A client for `endpoint` with the stage's model, temperature and token limit as defaults.
    pub fn new(pool: HttpPool, endpoint: &ProviderEndpoint, stage: &StageConfig) -> OpenAiLlm {
        let base = pool::base_url(endpoint, stage);
        OpenAiLlm {
            pool,
            url: pool::join_url(base, "/chat/completions"),
            api_key: pool::api_key(endpoint),
            model: pool::or_default(&stage.model, DEFAULT_MODEL),
            temperature: stage.temperature,
            max_tokens: stage.max_tokens,
            timeouts: Timeouts::LLM,
        }
    }

    /// Replaces the default deadlines.
    pub fn with_timeouts(mut self, t: Timeouts) -> OpenAiLlm {
        self.timeouts = t;
        self
    }

    /// The JSON body of a streamed request.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let model = if req.model.is_empty() { &self.model } else { &req.model };
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if !req.system.is_empty() {
            messages.push(json!({"role": "system", "content": req.system}));
        }
        for m in &req.messages {
            messages.push(match m.role {
                Role::User => json!({"role": "user", "content": m.content}),
                Role::Assistant if m.tool_calls.is_empty() => json!({"role": "assistant", "content": m.content}),
                Role::Assistant => {
                    let calls: Vec<Value> = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                    let content = if m.content.is_empty() {
                        Value::Null
                    } else {
                        Value::from(m.content.as_str())
                    };
                    json!({"role": "assistant", "content": content, "tool_calls": calls})
                }
                Role::Tool => json!({"role": "tool", "tool_call_id": m.tool_call_id.as_deref().unwrap_or(""),
                    "content": m.content}),
            });
        }
        let mut body = json!({
            "model": model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": messages,
        });
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function":
                        {"name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body["tools"] = Value::from(tools);
        }
        if let Some(t) = req.temperature.or(self.temperature) {
            body["temperature"] = json!(t);
        }
        let max = if req.max_tokens > 0 {
            req.max_tokens
        } else {
            self.max_tokens
        };
        if max > 0 {
            body["max_tokens"] = json!(max);
        }
        body
    }
}

impl Llm for OpenAiLlm {
    fn chat(&self, req: ChatRequest) -> EventRx<LlmEvent> {
        let (tx, rx) = event_channel();
        let this = self.clone();
        pool::spawn_op(
            tx,
            self.timeouts.total,
            move |tx| async move { this.run(req, tx).await },
        );
        rx
    }
}

impl OpenAiLlm {
    async fn run(self, req: ChatRequest, tx: EventTx<LlmEvent>) -> Result<(), ProviderError> {
        let body = self.request_body(&req);
        let build = |client: &reqwest::Client| {
            let rb = client.post(&self.url).json(&body).header("accept", "text/event-stream");
            match &self.api_key {
                Some(k) => rb.bearer_auth(k),
                None => rb,
            }
        };
        let resp = self
            .pool
            .send(&self.url, build, &self.timeouts, self.api_key.as_deref())
            .await?;
        let mut body = BodyReader::new(resp, &self.timeouts);
        let mut sse = SseParser::new();
        let mut parser = OpenAiStream::new();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await? {
            let mut res = Ok(());
            sse.push(&chunk, |ev| {
                if res.is_ok() {
                    res = parser.on_data(&ev.data, &mut out);
                }
            })
            .map_err(|e| ProviderError::new(ProviderErrorKind::Protocol, "stream", e.to_string()))?;
            for ev in out.drain(..) {
                if tx.send(Ok(ev)).is_err() {
                    return Ok(());
                }
            }
            res?;
            if parser.is_done() {
                return Ok(());
            }
        }
        if let Some(ev) = sse.finish() {
            parser.on_data(&ev.data, &mut out)?;
        }
        parser.finish(&mut out)?;
        for ev in out {
            let _ = tx.send(Ok(ev));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    emitted: bool,
}

/// Sans-IO decoder of an OpenAI chat-completion event stream: each SSE `data` payload in,
/// [`LlmEvent`]s out. Never panics on any input.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    calls: Vec<PartialCall>,
    usage: LlmUsage,
    finish_seen: bool,
    done: bool,
}

/// Most parallel tool calls tracked in one completion.
const MAX_TOOL_CALLS: usize = 64;

impl OpenAiStream {
    /// A new decoder.
    pub fn new() -> OpenAiStream {
        OpenAiStream::default()
    }

    /// Whether `[DONE]` (and so [`LlmEvent::Done`]) was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// One `data:` payload.
    pub fn on_data(&mut self, data: &str, out: &mut Vec<LlmEvent>) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        let data = data.trim();
        if data == "[DONE]" {
            self.flush_calls(out);
            out.push(LlmEvent::Done { usage: self.usage });
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| protocol(format!("bad chunk JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(stream_error(err));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let prompt = u32_of(u.get("prompt_tokens"));
            let cached = u32_of(u.pointer("/prompt_tokens_details/cached_tokens"));
            self.usage.prompt_tokens = prompt.saturating_sub(cached);
            self.usage.cache_read_tokens = cached;
            self.usage.completion_tokens = u32_of(u.get("completion_tokens"));
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return Ok(());
        };
        for choice in choices {
            let delta = choice.get("delta");
            if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str)
                && !text.is_empty()
            {
                out.push(LlmEvent::Text(text.to_owned()));
            }
            if let Some(calls) = delta.and_then(|d| d.get("tool_calls")).and_then(Value::as_array) {
                for c in calls {
                    self.on_tool_delta(c)?;
                }
            }
            if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                self.finish_seen = true;
                self.flush_calls(out);
            }
        }
        Ok(())
    }

    fn on_tool_delta(&mut self, c: &Value) -> Result<(), ProviderError> {
        let index = match c.get("index").and_then(Value::as_u64) {
            Some(i) => i as usize,
            None => self.calls.len().saturating_sub(1),
        };
        if index >= MAX_TOOL_CALLS {
            return Err(protocol("too many tool calls"));
        }
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, PartialCall::default);
        }
        let call = &mut self.calls[index];
        if let Some(id) = c.get("id").and_then(Value::as_str) {
            call.id = id.to_owned();
        }
        if let Some(f) = c.get("function") {
            if let Some(n) = f.get("name").and_then(Value::as_str) {
                call.name.push_str(n);
            }
            if let Some(a) = f.get("arguments").and_then(Value::as_str) {
                call.arguments.push_str(a);
            }
        }
        Ok(())
    }

    fn flush_calls(&mut self, out: &mut Vec<LlmEvent>) {
        for (i, c) in self.calls.iter_mut().enumerate() {
            if c.emitted || c.name.is_empty() {
                continue;
            }
            c.emitted = true;
            let id = if c.id.is_empty() {
                format!("call_{i}")
            } else {
                std::mem::take(&mut c.id)
            };
            out.push(LlmEvent::ToolCall(ToolCall {
                id,
                name: std::mem::take(&mut c.name),
                arguments: std::mem::take(&mut c.arguments),
            }));
        }
    }

    /// The body ended. Without `[DONE]` the completion counts as finished only if a
    /// `finish_reason` was seen; otherwise the stream was cut.
    pub fn finish(&mut self, out: &mut Vec<LlmEvent>) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        if !self.finish_seen {
            return Err(ProviderError::new(
                ProviderErrorKind::Disconnected,
                "stream",
                "stream ended before [DONE]",
            ));
        }
        self.flush_calls(out);
        out.push(LlmEvent::Done { usage: self.usage });
        self.done = true;
        Ok(())
    }
}

pub(crate) fn u32_of(v: Option<&Value>) -> u32 {
    v.and_then(Value::as_u64).map_or(0, |n| n.min(u32::MAX as u64) as u32)
}

pub(crate) fn protocol(msg: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, "stream", msg)
}

/// An `{"error": {...}}` object inside the stream.
fn stream_error(err: &Value) -> ProviderError {
    let msg: String = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("provider error")
        .chars()
        .take(300)
        .collect();
    let code = err.get("code").and_then(Value::as_u64).map(|c| c as u16);
    let kind = match (code, err.get("type").and_then(Value::as_str)) {
        (Some(429), _) | (_, Some("rate_limit_exceeded")) => ProviderErrorKind::RateLimited,
        _ => ProviderErrorKind::Status,
    };
    let mut e = ProviderError::new(kind, "stream", msg);
    e.status = code.filter(|c| (400..600).contains(c)).or(Some(500));
    e
}
