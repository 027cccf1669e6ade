//! The call detail view: summary, latency averages, tokens, post-call cache usage, one timeline
//! (transcript interleaved with tool calls, knowledge searches, transfers and events), integration
//! log, analysis, QC, per-turn metrics, events, service errors and the transfer banner.

use cxb_model::{CallEventKind, CallRecord, TranscriptRole, TurnLatency};
use serde_json::{Value, json};

use super::{StoredCall, direction_name, disconnected_by_name};

/// Averages of the turns' latencies (ms); `null` for a stage no turn measured.
pub fn latency_averages(turns: &[TurnLatency]) -> Value {
    fn avg(turns: &[TurnLatency], f: impl Fn(&TurnLatency) -> Option<u32>) -> Value {
        let (sum, n) = turns
            .iter()
            .filter_map(&f)
            .fold((0u64, 0u64), |(s, n), v| (s + u64::from(v), n + 1));
        if n == 0 {
            Value::Null
        } else {
            json!((sum as f64 / n as f64 * 10.0).round() / 10.0)
        }
    }
    json!({
        "turns": turns.len(),
        "stt_ms": avg(turns, |t| t.stt_ms),
        "llm_first_token_ms": avg(turns, |t| t.llm_first_token_ms),
        "llm_total_ms": avg(turns, |t| t.llm_total_ms),
        "rag_ms": avg(turns, |t| t.rag_ms),
        "tool_ms": avg(turns, |t| t.tool_ms),
        "tts_first_audio_ms": avg(turns, |t| t.tts_first_audio_ms),
        "total_ms": avg(turns, |t| t.total_ms),
    })
}

/// One turn's metrics; token and character counts only when `costs`.
fn turn_json(t: &TurnLatency, costs: bool) -> Value {
    let mut v = json!({
        "turn": t.turn,
        "stt_ms": t.stt_ms,
        "llm_first_token_ms": t.llm_first_token_ms,
        "llm_total_ms": t.llm_total_ms,
        "rag_ms": t.rag_ms,
        "tool_ms": t.tool_ms,
        "tts_first_audio_ms": t.tts_first_audio_ms,
        "total_ms": t.total_ms,
        "interrupted": t.interrupted,
    });
    if costs {
        v["prompt_tokens"] = json!(t.prompt_tokens);
        v["cache_read_tokens"] = json!(t.cache_read_tokens);
        v["cache_creation_tokens"] = json!(t.cache_creation_tokens);
        v["completion_tokens"] = json!(t.completion_tokens);
        v["tts_characters"] = json!(t.tts_characters);
    }
    v
}

fn event_name(kind: CallEventKind) -> String {
    match serde_json::to_value(kind) {
        Ok(Value::String(s)) => s,
        _ => "other".into(),
    }
}

/// Transcript, tool calls, knowledge searches, transfer and notable events in one list sorted by
/// `at_ms` (ms since `started_at`), each with `type` ∈ caller|bot|tool|knowledge|transfer|event.
pub fn timeline(r: &CallRecord) -> Vec<Value> {
    let mut items: Vec<(u64, usize, Value)> = Vec::new();
    let mut add = |at: u64, v: Value| {
        let n = items.len();
        items.push((at, n, v));
    };
    for t in &r.transcript {
        let ty = match t.role {
            TranscriptRole::Caller => "caller",
            TranscriptRole::Bot => "bot",
        };
        add(
            t.start_ms,
            json!({"type": ty, "at_ms": t.start_ms, "end_ms": t.end_ms, "text": t.text}),
        );
    }
    for c in &r.tool_calls {
        add(
            c.at_ms,
            json!({"type": "tool", "at_ms": c.at_ms, "turn": c.turn, "name": c.name, "arguments": c.arguments,
                   "status": c.status, "duration_ms": c.duration_ms, "result": c.result}),
        );
    }
    for k in &r.knowledge_searches {
        add(
            k.at_ms,
            json!({"type": "knowledge", "at_ms": k.at_ms, "turn": k.turn, "query": k.query, "hits": k.hits,
                   "latency_us": k.latency_us, "cached": k.cached}),
        );
    }
    for e in &r.events {
        let ty = match e.kind {
            // Shown by the transcript and tool entries already.
            CallEventKind::SpeechStarted
            | CallEventKind::SpeechEnded
            | CallEventKind::BotTurnStarted
            | CallEventKind::BotTurnEnded
            | CallEventKind::ToolCall => continue,
            CallEventKind::TransferStarted | CallEventKind::TransferCompleted | CallEventKind::TransferFailed => {
                "transfer"
            }
            _ => "event",
        };
        add(
            e.at_ms,
            json!({"type": ty, "at_ms": e.at_ms, "kind": event_name(e.kind), "detail": e.detail}),
        );
    }
    let has_transfer_event = r.events.iter().any(|e| {
        matches!(
            e.kind,
            CallEventKind::TransferStarted | CallEventKind::TransferCompleted | CallEventKind::TransferFailed
        )
    });
    if let Some(at) = r.transfer_at
        && !has_transfer_event
    {
        let at_ms = r.offset_ms(at);
        add(
            at_ms,
            json!({"type": "transfer", "at_ms": at_ms, "kind": "transfer", "detail": r.transfer_destination}),
        );
    }
    items.sort_by_key(|(at, n, _)| (*at, *n));
    items.into_iter().map(|(_, _, v)| v).collect()
}

/// The transfer banner, or `null` when no transfer was attempted.
pub fn transfer_banner(r: &CallRecord) -> Value {
    if !r.was_transferred && r.transfer_destination.is_none() && r.transfer_failed_reason.is_none() {
        return Value::Null;
    }
    json!({
        "was_transferred": r.was_transferred,
        "transfer_destination": r.transfer_destination,
        "transfer_target": r.transfer_target,
        "transfer_reason": r.transfer_reason,
        "transfer_method": r.transfer_method,
        "transfer_at": r.transfer_at.map(|t| t.to_string()),
        "transfer_failed_reason": r.transfer_failed_reason,
    })
}

/// The detail document of `call`. `costs = false` (calls-only users) drops tokens, characters and
/// post-call usage. `integration_log` is the `integration_log` table's rows when available.
pub fn detail(call: &StoredCall, costs: bool, integration_log: Option<Vec<Value>>) -> Value {
    let r = &call.record;
    let summary = json!({
        "session_id": r.session_id,
        "bot_id": r.bot_id,
        "direction": direction_name(r.direction),
        "status": call.status,
        "disconnected_by": disconnected_by_name(r.disconnected_by),
        "caller_id": r.caller_id,
        "from_number": r.from_number,
        "to_number": r.to_number,
        "started_at": r.started_at.to_string(),
        "answered_at": r.answered_at.map(|t| t.to_string()),
        "ended_at": r.ended_at.to_string(),
        "call_duration_seconds": r.call_duration_seconds,
        "sip_status": r.sip_status,
        "is_test": call.is_test,
        "has_recording": r.recording_key.is_some(),
        "amd": r.amd,
        "quality": r.quality,
        "variables": r.variables,
        "crm": r.crm,
        "unknown_variables": r.unknown_variables,
    });
    let mut v = json!({
        "session_id": r.session_id,
        "summary": summary,
        "latency": latency_averages(&r.turn_latencies),
        "timeline": timeline(r),
        "integration_log": integration_log.map(Value::from).unwrap_or_else(|| call.integration_log.clone()),
        "analysis": call.analysis.clone().or_else(|| r.post_call_analysis.clone()),
        "qc": call.qc,
        "turns": r.turn_latencies.iter().map(|t| turn_json(t, costs)).collect::<Vec<_>>(),
        "events": r.events,
        "service_errors": r.service_errors,
        "transfer": transfer_banner(r),
    });
    if costs {
        v["tokens"] = json!(r.usage);
        v["postcall_cache"] = call.postcall_usage.clone().unwrap_or(Value::Null);
    }
    v
}
