//! Deterministic post-call analysis and QC without a language model, for bots on the embedded
//! or sim LLM (so `cxb up` works offline), and the auto disposition of calls where the customer
//! never spoke.

use cxb_model::template::{TemplateContext, render};
use cxb_model::{BotConfig, CallRecord, DisconnectedBy, TranscriptRole};
use serde_json::{Value, json};

/// Longest summary produced locally, in characters.
const SUMMARY_CHARS: usize = 200;

/// Whether the caller said anything (a non-empty caller transcript line).
pub fn customer_spoke(record: &CallRecord) -> bool {
    record
        .transcript
        .iter()
        .any(|e| e.role == TranscriptRole::Caller && !e.text.trim().is_empty())
}

/// The analysis of a call where the customer never spoke (no LLM call).
pub fn no_speech_analysis() -> Value {
    json!({"disposition": "no_customer_speech", "auto": true})
}

fn lower_caller_text(record: &CallRecord) -> String {
    let mut s = String::new();
    for e in record.transcript.iter().filter(|e| e.role == TranscriptRole::Caller) {
        s.push(' ');
        s.push_str(&e.text.to_lowercase());
    }
    s
}

/// A disposition from how the call ended and keywords the caller used.
pub fn disposition(record: &CallRecord) -> &'static str {
    match record.disconnected_by {
        DisconnectedBy::Voicemail => return "voicemail",
        DisconnectedBy::TransferToAgent => return "transferred",
        DisconnectedBy::Error => return "error",
        _ if record.was_transferred => return "transferred",
        _ => {}
    }
    let text = lower_caller_text(record);
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&[
        "not interested",
        "no thanks",
        "no thank you",
        "stop calling",
        "don't call",
        "do not call",
        "remove me",
    ]) {
        "not_interested"
    } else if has(&[
        "call back",
        "call me back",
        "call later",
        "another time",
        "not a good time",
        "busy right now",
    ]) {
        "callback"
    } else if has(&[
        "interested",
        "sounds good",
        "sign me up",
        "book",
        "schedule",
        "yes please",
        "let's do it",
    ]) {
        "interested"
    } else if has(&["wrong number", "who is this"]) {
        "wrong_number"
    } else {
        "completed"
    }
}

/// Local analysis: disposition, summary (the first caller line), caller turn count.
pub fn analysis(record: &CallRecord) -> Value {
    let first = record
        .transcript
        .iter()
        .find(|e| e.role == TranscriptRole::Caller && !e.text.trim().is_empty())
        .map(|e| e.text.trim().chars().take(SUMMARY_CHARS).collect::<String>())
        .unwrap_or_default();
    let caller_turns = record
        .transcript
        .iter()
        .filter(|e| e.role == TranscriptRole::Caller)
        .count();
    json!({
        "disposition": disposition(record),
        "summary": first,
        "caller_turns": caller_turns,
        "local": true,
    })
}

/// Letters and digits only, lower case, single spaces.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w.to_lowercase());
    }
    out
}

/// Local QC: each policy step is `done` when the bot said its line (templates rendered with
/// `ctx`); `score` is the percentage of steps done (`null` without steps).
pub fn qc(record: &CallRecord, bot: &BotConfig, ctx: &TemplateContext) -> Value {
    let bot_text = normalize(
        &record
            .transcript
            .iter()
            .filter(|e| e.role == TranscriptRole::Bot)
            .map(|e| e.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    let steps: Vec<Value> = bot
        .policy
        .iter()
        .map(|step| {
            let said = normalize(&render(&step.say, ctx).text);
            let done = !said.is_empty() && bot_text.contains(&said);
            json!({"name": step.name, "done": done})
        })
        .collect();
    let done = steps.iter().filter(|s| s["done"] == true).count();
    let score = if steps.is_empty() {
        Value::Null
    } else {
        json!((done * 100 + steps.len() / 2) / steps.len())
    };
    json!({"score": score, "steps": steps, "local": true})
}
