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

/// The bot of the barge-in test: a long opening, and any caller speech interrupts it.
const TALKER: &str = r#"{
  "bots": [{
    "id": "talker", "name": "Talker", "answer_delay_ms": 100,
    "opening_message": "Hello and welcome to the clinic. We are open from Monday to Friday, from nine in the morning until six in the evening, and on Saturday mornings. How can I help you today?",
    "system_prompt": "You are the receptionist of a clinic.",
    "behavior": {"reengage_gap_secs": 20, "min_words_to_interrupt": 1}
  }]
}"#;

/// Barge-in on the wire: the caller talks over the opening; the bot's audio stops and the caller
/// measures, on what it hears, how long after it started talking that was. The record shows the
/// barge-in and the opening cut to what was played.
#[test]
fn barge_in_stops_the_bot_on_the_wire() {
    let dp = Dp::start("agent-barge", TALKER, &[]);
    let out = cxb_call(
        &[
            &format!("sip:talker@127.0.0.1:{}", dp.sip),
            "--codec",
            "pcmu",
            "--barge-in-after",
            "1500",
            "--say",
            "Sorry, I need to change my appointment.",
            "--seconds",
            "12",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cxb call failed: {stdout}\n{stderr}");
    let stop_line = stdout
        .lines()
        .find(|l| l.starts_with("barge-in: far end stopped"))
        .unwrap_or_else(|| panic!("the bot did not stop talking: {stdout}"));
    println!("{stop_line}");
    let recs = dp.wait_records(1, Duration::from_secs(15));
    let r = &recs[0];
    let events = r["events"].as_array().unwrap();
    let at = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .and_then(|e| e["at_ms"].as_u64())
    };
    println!(
        "record: speech_started at {:?} ms, barge_in at {:?} ms",
        at("speech_started"),
        at("barge_in")
    );
    assert!(at("barge_in").is_some(), "{r}");
    let opening = r["transcript"][0]["text"].as_str().unwrap_or("");
    assert!(
        !opening.is_empty() && !opening.contains("How can I help you today"),
        "the opening was not cut at the barge-in: {opening:?}"
    );
}
