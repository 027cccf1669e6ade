//! End-to-end: the real `cxb dataplane` process against SIPp (and raw UDP for refusals).
//! Each test starts its own dataplane on free loopback ports with a bots file, then reads the
//! call records from the spool (no control process in these tests).

mod dp_harness;
mod sip_harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dp_harness::{Dp, http};
use sip_harness::{Sipp, free_port, scenario};

const BOTS: &str = r#"{
  "bots": [
    {"id": "demo", "name": "Demo", "opening_message": "Hello, this is the cxb demo bot.", "answer_delay_ms": 100},
    {"id": "early", "name": "Early", "ring": "early_media", "answer_delay_ms": 300, "record": true,
     "opening_message": "Hello."},
    {"id": "slow", "name": "Slow", "answer_delay_ms": 5000},
    {"id": "short", "name": "Short", "max_call_seconds": 1, "answer_delay_ms": 50},
    {"id": "off", "name": "Off", "active": false}
  ],
  "dids": [{"number": "+15550100", "bot_id": "demo"}]
}"#;

fn by(r: &serde_json::Value) -> &str {
    r["disconnected_by"].as_str().unwrap_or("")
}

#[test]
fn sipp_uac_calls_at_a_steady_rate_all_succeed() {
    let dp = Dp::start("uac", BOTS, &[]);
    let (ok, errors) = dp.sipp(
        "uac",
        &[
            "-sn", "uac", "-s", "demo", "-m", "40", "-r", "20", "-l", "40", "-d", "600",
        ],
    );
    assert!(ok, "SIPp uac failed: {errors}");
    let recs = dp.wait_records(40, Duration::from_secs(10));
    assert_eq!(recs.len(), 40);
    // SIPp's uac sends no audio: the caller hung up without ever speaking (RNR).
    assert!(recs.iter().all(|r| by(r) == "RNR"), "{recs:?}");
}

#[test]
fn sipp_uac_pcap_speech_flows_both_ways() {
    pcap_speech_flows_both_ways("pcap", &[]);
}

/// The same with one receive task per media socket (the path for kernels without multishot
/// receive) instead of the shard's receive ring.
#[test]
fn sipp_uac_pcap_speech_flows_both_ways_without_the_receive_ring() {
    pcap_speech_flows_both_ways("pcap-tasks", &["--no-recv-ring"]);
}

fn pcap_speech_flows_both_ways(name: &str, flags: &[&str]) {
    let dp = Dp::start(name, BOTS, flags);
    // SIPp's built-in uac_pcap plays `pcap/g711a.pcap` relative to its working directory.
    let sipp_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sipp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(sipp_dir.join("pcap")).unwrap();
    for f in std::fs::read_dir("/usr/share/sip-tester").unwrap().flatten() {
        let _ = std::os::unix::fs::symlink(f.path(), sipp_dir.join("pcap").join(f.file_name()));
    }
    let (ok, errors) = dp.sipp(name, &["-sn", "uac_pcap", "-s", "demo", "-m", "1"]);
    assert!(ok, "SIPp uac_pcap failed: {errors}");
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1);
    let q = &recs[0]["quality"];
    assert!(q["packets_in"].as_u64().unwrap_or(0) > 100, "{q}");
    assert!(q["packets_out"].as_u64().unwrap_or(0) > 100, "{q}");
}

#[test]
fn cancel_late_offer_hold_and_bye_from_us() {
    let dp = Dp::start("flows", BOTS, &[]);
    let (ok, e) = dp.sipp("cancel", &["-sf", &scenario("uac_cancel.xml"), "-s", "slow", "-m", "1"]);
    assert!(ok, "cancel: {e}");
    let (ok, e) = dp.sipp(
        "late",
        &["-sf", &scenario("uac_late_offer.xml"), "-s", "demo", "-m", "1"],
    );
    assert!(ok, "late offer: {e}");
    let (ok, e) = dp.sipp("hold", &["-sf", &scenario("uac_hold.xml"), "-s", "demo", "-m", "1"]);
    assert!(ok, "hold: {e}");
    let (ok, e) = dp.sipp(
        "byeus",
        &["-sf", &scenario("uac_bot_hangs_up.xml"), "-s", "short", "-m", "1"],
    );
    assert!(ok, "bot hangs up: {e}");
    let recs = dp.wait_records(4, Duration::from_secs(10));
    let mut kinds: Vec<&str> = recs.iter().map(by).collect();
    kinds.sort();
    // Cancelled before the answer: customer; answered and left without a word (late offer,
    // hold): RNR; the bot's call limit: timeout.
    assert_eq!(kinds, ["RNR", "RNR", "customer", "timeout"], "{recs:?}");
}

#[test]
fn refusals_404_480_503() {
    let dp = Dp::start("refuse", BOTS, &[]);
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let r = dp
        .request("INVITE", "nobody", sdp, Duration::from_secs(3))
        .expect("answer");
    assert!(r.starts_with("SIP/2.0 404"), "{r}");
    let r = dp
        .request("INVITE", "off", sdp, Duration::from_secs(3))
        .expect("answer");
    assert!(r.starts_with("SIP/2.0 480"), "{r}");
    let recs = dp.wait_records(1, Duration::from_secs(5));
    assert_eq!(recs.len(), 1);
    assert_eq!(by(&recs[0]), "outside_hours");
    drop(dp);
    let full = Dp::start("full", BOTS, &["--calls-per-shard", "0"]);
    let r = full
        .request("INVITE", "demo", sdp, Duration::from_secs(3))
        .expect("answer");
    assert!(r.starts_with("SIP/2.0 503"), "{r}");
    assert!(r.contains("Retry-After: 5"), "{r}");
}

#[test]
fn malformed_invite_gets_400_and_the_dataplane_keeps_going() {
    let dp = Dp::start("bad", BOTS, &[]);
    let (ok, e) = dp.sipp(
        "malformed",
        &["-sf", &scenario("uac_malformed.xml"), "-s", "demo", "-m", "1"],
    );
    assert!(ok, "malformed: {e}");
    let (ok, e) = dp.sipp("after", &["-sn", "uac", "-s", "demo", "-m", "2", "-d", "200"]);
    assert!(ok, "uac after malformed: {e}");
}

/// One HTTP/1.1 request over a plain socket: (status, body).
const SECRET: &str = "test-secret-0123456789";

#[test]
fn internal_http_fleet_auth_and_dial_validation() {
    let dp = Dp::start("http", BOTS, &[]);
    assert_eq!(http(dp.http, "GET", "/internal/v1/fleet", None, "").0, 401);
    assert_eq!(
        http(dp.http, "GET", "/internal/v1/fleet", Some("wrong-secret"), "").0,
        401
    );
    let (status, body) = http(dp.http, "GET", "/internal/v1/fleet", Some(SECRET), "");
    assert_eq!(status, 200, "{body}");
    let fleet: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fleet["shards"].as_array().map(Vec::len), Some(2), "{fleet}");
    assert!(
        fleet["shards"].as_array().unwrap().iter().all(|s| s["healthy"] == true),
        "{fleet}"
    );
    let (status, body) = http(
        dp.http,
        "POST",
        "/internal/v1/dial",
        Some(SECRET),
        r#"{"bot_id":"demo"}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("to_number"), "{body}");
    let (status, body) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), "{not json");
    assert_eq!(status, 422, "{body}");
    let bad_trunk = r#"{"bot_id":"demo","to_number":"+15550123","trunk":{"address":"not-an-address"}}"#;
    let (status, body) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), bad_trunk);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("trunk.address"), "{body}");
    let unknown = r#"{"bot_id":"nobody","to_number":"+15550123","trunk":{"address":"127.0.0.1:5999"}}"#;
    assert_eq!(http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), unknown).0, 404);
}

#[test]
fn outbound_dial_through_a_trunk_reaches_sipp_uas() {
    let dp = Dp::start("dial", BOTS, &[]);
    let uas_port = free_port();
    let port = uas_port.to_string();
    let uas = Sipp::spawn("dial-uas", &["-sn", "uas", "-i", "127.0.0.1", "-p", &port, "-m", "1"]);
    std::thread::sleep(Duration::from_millis(300));
    let body = format!(
        r#"{{"bot_id":"short","to_number":"+15550123","from_number":"+15550999",
            "variables":{{"crm_id":"42"}},"trunk":{{"address":"127.0.0.1:{uas_port}"}}}}"#
    );
    let (status, resp) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), &body);
    assert_eq!(status, 202, "{resp}");
    let accepted: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let (st, errors) = uas.wait(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "SIPp uas: {errors}");
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["session_id"], accepted["session_id"]);
    assert_eq!(r["direction"], "outbound");
    assert_eq!(r["to_number"], "+15550123");
    // Dial-out variables are the call's `crm.*` namespace.
    assert_eq!(r["crm"]["crm_id"], "42");
    assert_eq!(by(r), "timeout", "{r}");
}

#[test]
fn killed_dataplane_calls_are_recorded_as_error_after_restart() {
    let mut dp = Dp::start("kill", BOTS, &[]);
    let target = format!("127.0.0.1:{}", dp.sip);
    let port = free_port().to_string();
    // Two calls that would last 20 s.
    let sipp = Sipp::spawn(
        "kill",
        &[
            &target,
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-sn",
            "uac",
            "-s",
            "demo",
            "-m",
            "2",
            "-d",
            "20000",
        ],
    );
    let end = Instant::now() + Duration::from_secs(10);
    let journal = dp.dir.join("spool").join("records.active");
    while Instant::now() < end
        && std::fs::read_dir(&journal)
            .map(|d| {
                d.flatten()
                    .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
                    .count()
            })
            .unwrap_or(0)
            < 2
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: no chance to hang up or write anything.
    dp.kill();
    drop(sipp);
    assert!(dp.records().is_empty());
    // The next start delivers (here: spools) the interrupted calls as ended by error.
    let restarted = Dp::restart(&dp);
    let recs = restarted.wait_records(2, Duration::from_secs(10));
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert!(recs.iter().all(|r| by(r) == "error"), "{recs:?}");
    assert!(recs.iter().all(|r| r["service_errors"][0]["fatal"] == true), "{recs:?}");
}

#[test]
fn sipp_uac_over_tcp() {
    let dp = Dp::start("tcp", BOTS, &[]);
    let (ok, errors) = dp.sipp(
        "tcp",
        &[
            "-sn", "uac", "-t", "t1", "-s", "demo", "-m", "5", "-r", "5", "-d", "300",
        ],
    );
    assert!(ok, "SIPp uac over TCP failed: {errors}");
    let recs = dp.wait_records(5, Duration::from_secs(10));
    assert_eq!(recs.len(), 5);
    // No audio from SIPp: the caller never spoke (RNR).
    assert!(recs.iter().all(|r| by(r) == "RNR"), "{recs:?}");
}

#[test]
fn control_pushes_routing_and_new_bots_answer() {
    let dp = Dp::start("routing", BOTS, &[]);
    let bad =
        r#"{"bots":[{"id":"new","name":"New","active_hours":{"time_zone":"Mars/Olympus","windows":[]}}],"dids":[]}"#;
    let (status, body) = http(dp.http, "PUT", "/internal/v1/routing", Some(SECRET), bad);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("bots[0].active_hours"), "{body}");
    let r = dp.request("OPTIONS", "demo", "", Duration::from_secs(2));
    assert!(r.is_some());
    let good =
        r#"{"bots":[{"id":"new","name":"New","answer_delay_ms":50}],"dids":[{"number":"+1 555 0100","bot_id":"new"}]}"#;
    let (status, body) = http(dp.http, "PUT", "/internal/v1/routing", Some(SECRET), good);
    assert_eq!(status, 200, "{body}");
    let (ok, e) = dp.sipp("pushed", &["-sn", "uac", "-s", "15550100", "-m", "1", "-d", "200"]);
    assert!(ok, "call to the pushed DID: {e}");
    let recs = dp.wait_records(1, Duration::from_secs(5));
    assert_eq!(recs[0]["bot_id"], "new");
}
