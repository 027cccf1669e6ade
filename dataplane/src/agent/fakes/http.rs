//! The HTTP routes of the fake servers: each provider's streamed wire format, driven by [`Reply`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{FakeUsage, RecordedRequest, Reply, Shared};

/// Which provider API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Messages,
    Speech(u32),
    Transcribe,
    Webhook,
}

impl Route {
    fn of(path: &str, query: &str) -> Route {
        if path.ends_with("/chat/completions") {
            Route::Chat
        } else if path.ends_with("/v1/messages") {
            Route::Messages
        } else if path.ends_with("/audio/speech") {
            Route::Speech(24_000)
        } else if path.contains("/text-to-speech/") {
            let rate = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("output_format=pcm_"))
                .and_then(|r| r.parse().ok())
                .unwrap_or(16_000);
            Route::Speech(rate)
        } else if path.ends_with("/audio/transcriptions") {
            Route::Transcribe
        } else {
            Route::Webhook
        }
    }
}

/// What follows the scripted body parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    End,
    Stall,
    Break,
}

pub(super) fn record(sh: &Shared, parts: &axum::http::request::Parts, body: Bytes) {
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    sh.lock().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        version: format!("{:?}", parts.version),
        headers,
        body,
    });
}

pub(super) async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 32 << 20).await.unwrap_or_default();
    record(&sh, &parts, body);
    let route = Route::of(parts.uri.path(), parts.uri.query().unwrap_or(""));
    let (mut reply, usage) = sh.next_reply();
    while let Reply::Slow { delay_ms, then } = reply {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        reply = *then;
    }
    match reply {
        Reply::Status(code) => error_response(code),
        Reply::RateLimit { retry_after_secs } => {
            let mut r = error_response(429);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        other => match route {
            Route::Chat => openai_chat(&other, usage),
            Route::Messages => anthropic(&other, usage),
            Route::Speech(rate) => speech(&other, rate),
            Route::Transcribe => transcription(&other),
            Route::Webhook => webhook(&other),
        },
    }
}

/// An error status with an OpenAI/Anthropic-style JSON error body.
pub(super) fn error_response(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"type": "error", "error": {"type": "api_error", "message": format!("fake failure {code}")}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn streamed(content_type: &'static str, parts: Vec<Bytes>, tail: Tail) -> Response {
    let stream = futures_util::stream::unfold((parts.into_iter(), Some(tail)), |(mut it, tail)| async move {
        if let Some(p) = it.next() {
            // Separate writes, so clients see the stream in several pieces.
            tokio::time::sleep(Duration::from_millis(1)).await;
            return Some((Ok(p), (it, tail)));
        }
        match tail {
            None | Some(Tail::End) => None,
            Some(Tail::Stall) => {
                std::future::pending::<()>().await;
                None
            }
            Some(Tail::Break) => {
                // Let the client read what was sent before the stream breaks.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Err(std::io::Error::other("fake disconnect")), (it, None)))
            }
        }
    });
    ([(header::CONTENT_TYPE, content_type)], Body::from_stream(stream)).into_response()
}

fn tail_of(reply: &Reply) -> Tail {
    match reply {
        Reply::Stall => Tail::Stall,
        Reply::Disconnect => Tail::Break,
        _ => Tail::End,
    }
}

fn text_of(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Text(chunks) => chunks.clone(),
        Reply::Json(v) => vec![v.to_string()],
        Reply::ToolCall { args, .. } => vec![args.clone()],
        _ => vec!["ok".to_owned()],
    }
}

fn sse_data(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn openai_chunk(delta: Value, finish: Value) -> Bytes {
    sse_data(
        &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
    )
}

fn openai_chat(reply: &Reply, u: FakeUsage) -> Response {
    let mut parts = vec![openai_chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    match reply {
        Reply::Malformed => {
            parts.push(Bytes::from_static(b"data: {\"choices\": [oops\n\n"));
            return streamed("text/event-stream", parts, Tail::End);
        }
        Reply::Stall | Reply::Disconnect => {
            parts.push(openai_chunk(json!({"content": "Hel"}), Value::Null));
            return streamed("text/event-stream", parts, tail_of(reply));
        }
        Reply::ToolCall { name, args } => {
            let mid = (0..=args.len() / 2)
                .rev()
                .find(|&i| args.is_char_boundary(i))
                .unwrap_or(0);
            parts.push(openai_chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_fake_1", "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in [&args[..mid], &args[mid..]] {
                parts.push(openai_chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
            parts.push(openai_chunk(json!({}), json!("tool_calls")));
        }
        other => {
            for t in text_of(other) {
                parts.push(openai_chunk(json!({"content": t}), Value::Null));
            }
            parts.push(openai_chunk(json!({}), json!("stop")));
        }
    }
    let prompt = u.prompt + u.cache_read;
    parts.push(sse_data(
        &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": u.completion, "total_tokens": prompt + u.completion,
            "prompt_tokens_details": {"cached_tokens": u.cache_read}}}),
    ));
    parts.push(Bytes::from_static(b"data: [DONE]\n\n"));
    streamed("text/event-stream", parts, Tail::End)
}

fn anthropic_event(v: Value) -> Bytes {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    Bytes::from(format!("event: {ty}\ndata: {v}\n\n"))
}

fn anthropic(reply: &Reply, u: FakeUsage) -> Response {
    let mut parts = vec![anthropic_event(json!({"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": "fake",
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": u.prompt, "cache_creation_input_tokens": u.cache_creation,
            "cache_read_input_tokens": u.cache_read, "output_tokens": 1}}}))];
    let stop_reason = match reply {
        Reply::Malformed => {
            parts.push(Bytes::from_static(b"event: content_block_delta\ndata: {oops\n\n"));
            return streamed("text/event-stream", parts, Tail::End);
        }
        Reply::Stall | Reply::Disconnect => {
            parts.push(anthropic_event(json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}})));
            parts.push(anthropic_event(json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"}})));
            return streamed("text/event-stream", parts, tail_of(reply));
        }
        Reply::ToolCall { name, args } => {
            parts.push(anthropic_event(json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": {}}})));
            let mid = (0..=args.len() / 2)
                .rev()
                .find(|&i| args.is_char_boundary(i))
                .unwrap_or(0);
            for piece in [&args[..mid], &args[mid..]] {
                parts.push(anthropic_event(json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": piece}})));
            }
            parts.push(anthropic_event(json!({"type": "content_block_stop", "index": 0})));
            "tool_use"
        }
        other => {
            parts.push(anthropic_event(json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}})));
            parts.push(anthropic_event(json!({"type": "ping"})));
            for t in text_of(other) {
                parts.push(anthropic_event(json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": t}})));
            }
            parts.push(anthropic_event(json!({"type": "content_block_stop", "index": 0})));
            "end_turn"
        }
    };
    parts.push(anthropic_event(json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": u.completion}})));
    parts.push(anthropic_event(json!({"type": "message_stop"})));
    streamed("text/event-stream", parts, Tail::End)
}

/// Deterministic audio for a text: 20 ms per character of a sawtooth.
pub fn synth(text: &str, rate: u32) -> Vec<i16> {
    let n = text.chars().count() * rate as usize / 50;
    (0..n).map(|i| ((i * 37) % 2000) as i16 - 1000).collect()
}

fn speech(reply: &Reply, rate: u32) -> Response {
    let pcm = match reply {
        Reply::Audio(pcm) => pcm.clone(),
        Reply::Malformed => return streamed("audio/pcm", vec![Bytes::from_static(&[1, 2, 3])], Tail::End),
        Reply::Stall | Reply::Disconnect => synth("Hello", rate),
        other => synth(&text_of(other).concat(), rate),
    };
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    // Odd-sized pieces, so samples straddle chunk boundaries.
    let mut parts: Vec<Bytes> = bytes.chunks(999).map(Bytes::copy_from_slice).collect();
    let tail = tail_of(reply);
    if tail != Tail::End {
        parts.truncate(1);
    }
    streamed("audio/pcm", parts, tail)
}

fn transcription(reply: &Reply) -> Response {
    match reply {
        Reply::Malformed => streamed("application/json", vec![Bytes::from_static(b"{oops")], Tail::End),
        Reply::Stall | Reply::Disconnect => {
            streamed("application/json", vec![Bytes::from_static(b"{\"te")], tail_of(reply))
        }
        Reply::Json(v) => streamed("application/json", vec![Bytes::from(v.to_string())], Tail::End),
        other => {
            let v = json!({"text": text_of(other).concat()});
            streamed("application/json", vec![Bytes::from(v.to_string())], Tail::End)
        }
    }
}

fn webhook(reply: &Reply) -> Response {
    match reply {
        Reply::Json(v) => streamed("application/json", vec![Bytes::from(v.to_string())], Tail::End),
        Reply::Malformed => streamed("application/json", vec![Bytes::from_static(b"{oops")], Tail::End),
        Reply::Stall | Reply::Disconnect => streamed(
            "application/json",
            vec![Bytes::from_static(b"{\"partial\":")],
            tail_of(reply),
        ),
        Reply::Audio(pcm) => {
            let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
            streamed("application/octet-stream", vec![Bytes::from(bytes)], Tail::End)
        }
        other => streamed(
            "text/plain",
            text_of(other).into_iter().map(Bytes::from).collect(),
            Tail::End,
        ),
    }
}
