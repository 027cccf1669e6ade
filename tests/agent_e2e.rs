//! End-to-end: a spoken conversation with the embedded offline stack. `cxb call --say …` calls a
//! real `cxb dataplane` whose bot runs pocketsphinx (STT), the local responder (policy steps +
//! knowledge base) and espeak-ng (TTS); the caller's lines are synthesised with espeak-ng and
//! sent over G.722. The call record must hold both sides of the conversation with per-turn
//! latencies, and what the bot said back must be heard in the caller's recording.

mod dp_harness;
mod phone_harness;
mod sip_harness;

use std::path::PathBuf;
use std::time::Duration;

use dp_harness::Dp;
use phone_harness::{cxb_call, recognise};

const BOTS: &str = r#"{
  "bots": [{
    "id": "clinic", "name": "Clinic", "answer_delay_ms": 100, "record": true,
    "opening_message": "Hello, this is the clinic. How can I help you today?",
    "system_prompt": "You are the receptionist of a clinic.",
    "policy": [
      {"name": "reason", "goal": "Why they call", "say": "Would you like to book an appointment?"},
      {"name": "name", "goal": "Their name", "say": "Great. May I have your name please?"},
      {"name": "day", "goal": "A day", "say": "Thank you. Which day would suit you best?"}
    ],
    "knowledge_base": [{"title": "Opening hours",
      "text": "The clinic is open Monday to Friday from nine in the morning to six in the evening."}],
    "behavior": {"reengage_gap_secs": 20, "min_words_to_interrupt": 3}
  }]
}"#;

fn dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("agent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Words pocketsphinx listens for in the caller's recording (the bot's lines).
const GRAMMAR: &str = "#JSGF V1.0;\ngrammar words;\npublic <utt> = <w>*;\n<w> = hello | this | is | the | clinic \
    | how | can | i | help | you | today | would | like | to | book | an | appointment | great | may | have | your \
    | name | please | thank | which | day | suit | best | are | still | there | open | monday | friday;\n";

#[test]
fn spoken_conversation_with_the_embedded_stack() {
    let d = dir("talk");
    let dp = Dp::start("agent-talk", BOTS, &[]);
    let target = format!("sip:clinic@127.0.0.1:{}", dp.sip);
    let wav = d.join("heard.wav");
    let out = cxb_call(
        &[
            &target,
            "--codec",
            "g722",
            "--say",
            "Yes please, I would like to book an appointment.",
            "--say",
            "My name is Sam.",
            "--say",
            "Monday please.",
            "--seconds",
            "60",
            "--record",
            wav.to_str().unwrap(),
        ],
        Duration::from_secs(90),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cxb call failed: {stderr}");
    let recs = dp.wait_records(1, Duration::from_secs(15));
    let r = &recs[0];
    let transcript = r["transcript"].as_array().expect("transcript");
    let lines = |role: &str| transcript.iter().filter(|t| t["role"] == role).count();
    // The opening message plus at least two answers; the caller's three lines heard as turns.
    assert!(lines("bot") >= 3, "bot lines: {r}");
    assert!(lines("caller") >= 2, "caller lines: {r}");
    let turns = r["turn_latencies"].as_array().expect("turn latencies");
    assert!(!turns.is_empty(), "{r}");
    for t in turns {
        let total = t["total_ms"].as_u64().expect("total_ms measured");
        assert!(total < 5000, "turn took {total} ms: {t}");
    }
    // The bot ends the call after its last step (end_call), or we hang up after the script.
    let by = r["disconnected_by"].as_str().unwrap_or("");
    assert!(by == "bot" || by == "customer", "{r}");
    // The caller hears the bot's answers, not just its greeting.
    let heard = recognise(&wav, GRAMMAR);
    let words: Vec<&str> = heard.split_whitespace().collect();
    let answer_words = ["appointment", "name", "day", "suit", "thank", "great"];
    let found: Vec<&&str> = answer_words.iter().filter(|w| words.contains(w)).collect();
    assert!(found.len() >= 2, "heard {heard:?} in {}; record {r}", wav.display());
}
