//! End-to-end: transfer by bridging. The caller (`cxb call`, whose user agent refuses REFER as
//! many carriers' trunks do) asks for an agent; the bot (`--providers sim`) calls
//! `transfer_call`, our REFER is refused, so the dataplane dials the transfer destination (a
//! SIPp `uas` echoing RTP) itself and bridges the caller to it. The bot leaves; the caller's hang-up
//! ends the bridged leg too.

mod dp_harness;
mod phone_harness;
mod sip_harness;

use std::time::Duration;

use dp_harness::Dp;
use phone_harness::cxb_call;
use sip_harness::{Sipp, free_port};

#[test]
fn refused_refer_becomes_a_bridged_transfer() {
    let agent_port = free_port();
    let bots = format!(
        r#"{{"bots": [{{
            "id": "desk", "name": "Desk", "answer_delay_ms": 50, "record": true,
            "opening_message": "Hello.",
            "behavior": {{"reengage_gap_secs": 30}},
            "transfer_targets": [{{"name": "agent", "destination": "sip:agent@127.0.0.1:{agent_port}",
                                   "description": "a human agent"}}]
        }}]}}"#
    );
    let dp = Dp::start("bridge", &bots, &["--providers", "sim"]);
    let port = agent_port.to_string();
    let agent = Sipp::spawn(
        "bridge-agent",
        &["-sn", "uas", "-i", "127.0.0.1", "-p", &port, "-m", "1", "-rtp_echo"],
    );
    // A long utterance is the sim STT's "Can I talk to an agent please".
    let out = cxb_call(
        &[
            &format!("sip:desk@127.0.0.1:{}", dp.sip),
            "--codec",
            "pcmu",
            "--say",
            "Hello there, I would really like to talk to a real person about my booking today please.",
            "--seconds",
            "14",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cxb call failed:\n{stdout}\n{stderr}");
    let (status, errors) = agent.wait(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the agent's SIPp did not get (and end) one call: {status:?} {errors}"
    );
    let records = dp.wait_records(1, Duration::from_secs(30));
    assert_eq!(records.len(), 1, "the bridge leg has no record of its own: {records:?}");
    let r = &records[0];
    println!("{}", serde_json::to_string_pretty(&r["events"]).unwrap());
    assert_eq!(r["was_transferred"], true, "{r}");
    assert_eq!(r["transfer_method"], "sip_bridge", "{r}");
    assert_eq!(r["transfer_target"], "agent", "{r}");
    assert_eq!(r["disconnected_by"], "transfer_to_agent", "{r}");
    let events = r["events"].as_array().unwrap();
    let has = |needle: &str| {
        events
            .iter()
            .any(|e| e["detail"].as_str().unwrap_or("").contains(needle))
    };
    assert!(has("REFER refused"), "{events:?}");
    assert!(has("bridged"), "{events:?}");
    // The caller heard the agent side: SIPp echoes the caller's own audio back through the bridge.
    assert!(r["quality"]["packets_out"].as_u64().unwrap() > 100, "{}", r["quality"]);
}
