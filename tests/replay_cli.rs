//! `cxb replay` end to end: a synthetic call (a labelled speech file of the VAD dev set as the
//! caller channel of a stereo recording, a transcript timed to its speech) replayed under an old
//! bot (long opening, any speech interrupts) and a new one (no opening, two words to interrupt).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cxb");
const DEV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/vad-dev");

/// A temporary directory, removed when the returned guard drops.
fn tmp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cxb-replay-")
        .tempdir()
        .expect("temp dir")
}

/// Writes a stereo 8 kHz WAV: caller (left) = dev-01, bot (right) = silence.
fn write_stereo(path: &Path) {
    let mut r = hound::WavReader::open(Path::new(DEV).join("dev-01.wav")).expect("dev-01.wav");
    let caller: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in caller {
        w.write_sample(s).expect("write");
        w.write_sample(0i16).expect("write");
    }
    w.finalize().expect("finalize");
}

fn line(role: &str, text: &str, start_ms: u64, end_ms: u64) -> serde_json::Value {
    serde_json::json!({"role": role, "text": text, "start_ms": start_ms, "end_ms": end_ms})
}

fn call_json() -> serde_json::Value {
    // Speech in dev-01 (from dev-01.scv): 0.35–3.65, 4.36–8.66, 9.41–10.03, 10.54–11.17 s.
    serde_json::json!({
        "session_id": "replay-test",
        "bot_id": "demo",
        "direction": "inbound",
        "started_at": "2026-01-05T10:00:00Z",
        "answered_at": "2026-01-05T10:00:00Z",
        "ended_at": "2026-01-05T10:00:13Z",
        "call_duration_seconds": 13,
        "disconnected_by": "customer",
        "recording_key": "replay-test.wav",
        "transcript": [
            line("caller", "hi I would like to check the status of my order please", 350, 3650),
            line("bot", "Sure, what is the order number?", 3700, 5700),
            line("caller", "the order number is five five five one two three four", 4360, 8660),
            line("bot", "Thanks, your order ships tomorrow.", 8700, 10900),
            line("caller", "great", 9410, 10030),
            line("bot", "Anything else?", 10100, 11000),
            line("caller", "no thanks", 10540, 11170),
            line("bot", "Goodbye.", 11200, 11700)
        ]
    })
}

fn bot_json(opening: &str, min_words: u32) -> serde_json::Value {
    serde_json::json!({
        "id": "demo",
        "name": "Demo",
        "opening_message": opening,
        "behavior": {"min_words_to_interrupt": min_words}
    })
}

#[test]
fn replay_compares_old_and_new_settings() {
    let tmp = tmp_dir();
    let dir = tmp.path();
    write_stereo(&dir.join("replay-test.wav"));
    std::fs::write(dir.join("call.json"), call_json().to_string()).expect("write call");
    std::fs::write(
        dir.join("old.json"),
        bot_json(
            "Hello, thank you for calling Acme, how can I help you today with your order?",
            1,
        )
        .to_string(),
    )
    .expect("write old");
    std::fs::write(dir.join("new.json"), bot_json("", 2).to_string()).expect("write new");
    let out = Command::new(BIN)
        .arg("replay")
        .arg(dir.join("call.json"))
        .arg("--bot")
        .arg(dir.join("new.json"))
        .arg("--old-bot")
        .arg(dir.join("old.json"))
        .arg("--recordings")
        .arg(dir)
        .output()
        .expect("run cxb replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    assert!(stdout.starts_with("metric"), "{stdout}");
    let last = stdout.lines().last().expect("output");
    let v: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    let (old, new) = (&v["old"], &v["new"]);
    // The old bot's long opening is interrupted by the caller's first words.
    assert!(old["barge_ins"].as_u64().expect("old barge_ins") >= 1, "{v}");
    // The new bot waits for the caller and answers each turn.
    assert!(new["turns"].as_u64().expect("new turns") >= 1, "{v}");
    assert!(
        new["p50_ms"].as_u64().is_some() && new["p95_ms"].as_u64() >= new["p50_ms"].as_u64(),
        "{v}"
    );
    // The bot never starts talking over the caller.
    assert_eq!(new["cut_offs"].as_u64(), Some(0), "{v}");
    assert_eq!(old["cut_offs"].as_u64(), Some(0), "{v}");

    // Missing audio is an error naming the file, not a panic.
    let out = Command::new(BIN)
        .arg("replay")
        .arg(dir.join("call.json"))
        .arg("--bot")
        .arg(dir.join("new.json"))
        .arg("--audio")
        .arg(dir.join("nope.wav"))
        .output()
        .expect("run cxb replay");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.wav"));
}
