//! End-to-end: answering-machine detection on a real outbound call. One dataplane holds both
//! ends (the trunk points back at it): bot `caller` dials the number of bot `machine`, whose
//! long, unbroken greeting sounds like a voicemail box. The caller's detector calls it a machine
//! from the audio alone and, with the default `hang_up` action, ends the call as `voicemail`.

mod dp_harness;
mod sip_harness;

use std::time::Duration;

use dp_harness::{Dp, http};

const SECRET: &str = "test-secret-0123456789";

#[test]
fn outbound_call_answered_by_a_machine_ends_as_voicemail() {
    let bots = r#"{
      "bots": [
        {"id": "caller", "name": "Caller", "opening_message": "Hello, this is the clinic calling.",
         "voicemail": {"action": "hang_up"}, "max_call_seconds": 60},
        {"id": "machine", "name": "Machine", "answer_delay_ms": 200,
         "opening_message": "Hi, you have reached the voicemail of Sam Jones. I am not available to take your call right now. Please leave your name, your number and a short message after the tone and I will call you back as soon as I can.",
         "behavior": {"reengage_gap_secs": 30}}
      ],
      "dids": [{"number": "+15550177", "bot_id": "machine"}]
    }"#;
    let dp = Dp::start("voicemail", bots, &[]);
    let body = format!(
        r#"{{"bot_id":"caller","to_number":"+15550177","from_number":"+15550100",
            "trunk":{{"address":"127.0.0.1:{}"}}}}"#,
        dp.sip
    );
    let (status, resp) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), &body);
    assert_eq!(status, 202, "{resp}");
    let records = dp.wait_records(2, Duration::from_secs(60));
    assert_eq!(records.len(), 2, "{records:?}");
    let caller = records.iter().find(|r| r["bot_id"] == "caller").expect("caller record");
    let machine = records
        .iter()
        .find(|r| r["bot_id"] == "machine")
        .expect("machine record");
    println!("amd: {}", caller["amd"]);
    assert_eq!(caller["direction"], "outbound");
    assert_eq!(caller["amd"]["verdict"], "machine", "{}", caller["amd"]);
    assert_eq!(caller["disconnected_by"], "voicemail", "{caller}");
    let at_ms = caller["amd"]["at_ms"].as_u64().unwrap();
    assert!(at_ms > 0 && at_ms < 10_000, "verdict time {at_ms} ms");
    // The caller hung up on the machine before its greeting ended, without a word (the
    // outbound bot waits for the callee to speak first).
    assert_eq!(machine["disconnected_by"], "RNR", "{machine}");
    assert!(machine["call_duration_seconds"].as_u64().unwrap() < 10, "{machine}");
}
