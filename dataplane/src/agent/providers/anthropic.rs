//! Anthropic Messages API: streamed events, tool use, prompt caching with cache read/creation
//! token counts.

use serde_json::{Value, json};

use super::openai_llm::{protocol, u32_of};
use super::pool::{self, BodyReader, HttpPool, Timeouts};
use super::sse::SseParser;
use crate::agent::api::{
    ChatRequest, EventRx, EventTx, Llm, LlmEvent, LlmUsage, ProviderError, ProviderErrorKind, Role, ToolCall,
    event_channel,
};
use cxb_model::{ProviderEndpoint, StageConfig};

/// Model used when neither the request nor the stage names one.
pub const DEFAULT_MODEL: &str = "claude-3-5-haiku-latest";
/// `anthropic-version` header sent.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` when neither the request nor the stage sets it (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// An Anthropic streaming chat model.
#[derive(Debug, Clone)]
pub struct AnthropicLlm {
    pool: HttpPool,
    url: String,
    api_key: Option<String>,
    model: String,
    temperature: Option<f32>,
    max_tokens: u32,
    timeouts: Timeouts,
}

impl AnthropicLlm {
    /// A client for `endpoint` with the stage's model, temperature and token limit as defaults.
    pub fn new(pool: HttpPool, endpoint: &ProviderEndpoint, stage: &StageConfig) -> AnthropicLlm {
        let base = pool::base_url(endpoint, stage);
        AnthropicLlm {
            pool,
            url: pool::join_url(base, "/v1/messages"),
            api_key: pool::api_key(endpoint),
            model: pool::or_default(&stage.model, DEFAULT_MODEL),
            temperature: stage.temperature,
            max_tokens: stage.max_tokens,
            timeouts: Timeouts::LLM,
        }
    }

    /// Replaces the default deadlines.
    pub fn with_timeouts(mut self, t: Timeouts) -> AnthropicLlm {
        self.timeouts = t;
        self
    }

    /// The JSON body of a streamed request. Consecutive messages of one role are merged (tool
    /// results go back as `tool_result` blocks of a user message); a conversation that starts
    /// with the bot's greeting gets a short user turn in front, as the API requires.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let model = if req.model.is_empty() { &self.model } else { &req.model };
        let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
        for m in &req.messages {
            let (role, blocks) = match m.role {
                Role::User => ("user", vec![json!({"type": "text", "text": m.content})]),
                Role::Tool => (
                    "user",
                    vec![
                        json!({"type": "tool_result", "tool_use_id": m.tool_call_id.as_deref().unwrap_or(""),
                        "content": m.content}),
                    ],
                ),
                Role::Assistant => {
                    let mut b = Vec::new();
                    if !m.content.is_empty() {
                        b.push(json!({"type": "text", "text": m.content}));
                    }
                    for c in &m.tool_calls {
                        let input: Value = serde_json::from_str(&c.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .unwrap_or_else(|| json!({}));
                        b.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                    }
                    ("assistant", b)
                }
            };
            if blocks.is_empty() {
                continue;
            }
            match messages.last_mut() {
                Some((r, b)) if *r == role => b.extend(blocks),
                _ => messages.push((role, blocks)),
            }
        }
        if messages.first().is_some_and(|(r, _)| *r == "assistant") {
            messages.insert(0, ("user", vec![json!({"type": "text", "text": "(call connected)"})]));
        }
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        let max = if req.max_tokens > 0 {
            req.max_tokens
        } else if self.max_tokens > 0 {
            self.max_tokens
        } else {
            DEFAULT_MAX_TOKENS
        };
        let mut body = json!({"model": model, "max_tokens": max, "stream": true, "messages": messages});
        if !req.system.is_empty() {
            let mut block = json!({"type": "text", "text": req.system});
            if req.cache_prompt {
                block["cache_control"] = json!({"type": "ephemeral"});
            }
            body["system"] = json!([block]);
        }
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
            body["tools"] = Value::from(tools);
        }
        if let Some(t) = req.temperature.or(self.temperature) {
            body["temperature"] = json!(t.min(1.0));
        }
        body
    }
}

impl Llm for AnthropicLlm {
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

impl AnthropicLlm {
    async fn run(self, req: ChatRequest, tx: EventTx<LlmEvent>) -> Result<(), ProviderError> {
        let body = self.request_body(&req);
        let build = |client: &reqwest::Client| {
            let rb = client
                .post(&self.url)
                .json(&body)
                .header("anthropic-version", API_VERSION)
                .header("accept", "text/event-stream");
            match &self.api_key {
                Some(k) => rb.header("x-api-key", k),
                None => rb,
            }
        };
        let resp = self
            .pool
            .send(&self.url, build, &self.timeouts, self.api_key.as_deref())
            .await?;
        let mut body = BodyReader::new(resp, &self.timeouts);
        let mut sse = SseParser::new();
        let mut parser = AnthropicStream::new();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await? {
            let mut res = Ok(());
            sse.push(&chunk, |ev| {
                if res.is_ok() {
                    res = parser.on_event(&ev.event, &ev.data, &mut out);
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
            parser.on_event(&ev.event, &ev.data, &mut out)?;
        }
        for ev in out {
            let _ = tx.send(Ok(ev));
        }
        if parser.is_done() {
            Ok(())
        } else {
            Err(ProviderError::new(
                ProviderErrorKind::Disconnected,
                "stream",
                "stream ended before message_stop",
            ))
        }
    }
}

#[derive(Debug)]
struct Block {
    index: u64,
    tool: Option<ToolCall>,
}

/// Sans-IO decoder of an Anthropic Messages event stream: each SSE event (name + data) in,
/// [`LlmEvent`]s out. Never panics on any input.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    blocks: Vec<Block>,
    usage: LlmUsage,
    done: bool,
}

/// Most content blocks tracked in one message.
const MAX_BLOCKS: usize = 256;

impl AnthropicStream {
    /// A new decoder.
    pub fn new() -> AnthropicStream {
        AnthropicStream::default()
    }

    /// Whether `message_stop` (and so [`LlmEvent::Done`]) was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// One event. The type comes from the JSON `type` field (the SSE `event:` name is a fallback).
    pub fn on_event(&mut self, event: &str, data: &str, out: &mut Vec<LlmEvent>) -> Result<(), ProviderError> {
        if self.done || data.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| protocol(format!("bad event JSON: {e}")))?;
        let ty = v.get("type").and_then(Value::as_str).unwrap_or(event);
        match ty {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.read_usage(u);
                }
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let cb = v.get("content_block");
                let tool = match cb.and_then(|c| c.get("type")).and_then(Value::as_str) {
                    Some("tool_use") => Some(ToolCall {
                        id: str_of(cb.and_then(|c| c.get("id"))),
                        name: str_of(cb.and_then(|c| c.get("name"))),
                        arguments: String::new(),
                    }),
                    _ => None,
                };
                if let Some(Some(text)) = cb.map(|c| c.get("text").and_then(Value::as_str))
                    && !text.is_empty()
                {
                    out.push(LlmEvent::Text(text.to_owned()));
                }
                if self.blocks.len() >= MAX_BLOCKS {
                    return Err(protocol("too many content blocks"));
                }
                self.blocks.push(Block { index, tool });
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = v.get("delta");
                match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = delta.and_then(|d| d.get("text")).and_then(Value::as_str)
                            && !t.is_empty()
                        {
                            out.push(LlmEvent::Text(t.to_owned()));
                        }
                    }
                    Some("input_json_delta") => {
                        let part = delta
                            .and_then(|d| d.get("partial_json"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if let Some(call) = self.tool_mut(index) {
                            call.arguments.push_str(part);
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(pos) = self.blocks.iter().position(|b| b.index == index && b.tool.is_some())
                    && let Some(mut call) = self.blocks[pos].tool.take()
                {
                    if call.arguments.trim().is_empty() {
                        call.arguments = "{}".to_owned();
                    }
                    out.push(LlmEvent::ToolCall(call));
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    self.read_usage(u);
                }
            }
            "message_stop" => {
                self.flush_tools(out);
                out.push(LlmEvent::Done { usage: self.usage });
                self.done = true;
            }
            "error" => return Err(api_error(v.get("error"))),
            _ => {} // ping and future event types
        }
        Ok(())
    }

    fn tool_mut(&mut self, index: u64) -> Option<&mut ToolCall> {
        self.blocks
            .iter_mut()
            .rev()
            .find(|b| b.index == index)
            .and_then(|b| b.tool.as_mut())
    }

    fn flush_tools(&mut self, out: &mut Vec<LlmEvent>) {
        for b in &mut self.blocks {
            if let Some(mut call) = b.tool.take() {
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".to_owned();
                }
                out.push(LlmEvent::ToolCall(call));
            }
        }
    }

    /// Usage objects: `message_start` carries the input side, `message_delta` the (cumulative)
    /// output count and sometimes updated input counts.
    fn read_usage(&mut self, u: &Value) {
        if let Some(n) = u.get("input_tokens").filter(|n| n.is_u64()) {
            self.usage.prompt_tokens = u32_of(Some(n));
        }
        if let Some(n) = u.get("cache_read_input_tokens").filter(|n| n.is_u64()) {
            self.usage.cache_read_tokens = u32_of(Some(n));
        }
        if let Some(n) = u.get("cache_creation_input_tokens").filter(|n| n.is_u64()) {
            self.usage.cache_creation_tokens = u32_of(Some(n));
        }
        if let Some(n) = u.get("output_tokens").filter(|n| n.is_u64()) {
            self.usage.completion_tokens = u32_of(Some(n));
        }
    }
}

fn str_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_owned()
}

/// An `error` event (`{"type": "overloaded_error", "message": …}`) as a provider error.
fn api_error(err: Option<&Value>) -> ProviderError {
    let ty = err
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("api_error");
    let msg: String = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or(ty)
        .chars()
        .take(300)
        .collect();
    let (kind, status) = match ty {
        "rate_limit_error" => (ProviderErrorKind::RateLimited, 429),
        "overloaded_error" => (ProviderErrorKind::Status, 529),
        "invalid_request_error" => (ProviderErrorKind::Status, 400),
        "authentication_error" => (ProviderErrorKind::Status, 401),
        "permission_error" => (ProviderErrorKind::Status, 403),
        "not_found_error" => (ProviderErrorKind::Status, 404),
        "request_too_large" => (ProviderErrorKind::Status, 413),
        _ => (ProviderErrorKind::Status, 500),
    };
    let mut e = ProviderError::new(kind, "stream", format!("{ty}: {msg}"));
    e.status = Some(status);
    e
}
