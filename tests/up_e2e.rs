//! End-to-end: `cxb up` on a fresh data directory, then the dial-out `curl` line it prints, run
//! as printed. The demo bot calls the demo customer (a second bot on the same dataplane) through
//! the seeded loopback trunk; the call loops back into the same SIP stack (a hairpin), both bots
//! hear each other, and both call records reach control.

mod ctl_harness;
mod sip_harness;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use ctl_harness::http;
use sip_harness::free_port;

#[test]
fn cxb_up_prints_a_working_dialout_command() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (sip, dp_http, ctl) = (free_port(), free_port(), free_port());
    let mut up = Command::new(env!("CARGO_BIN_EXE_cxb"))
        .arg("up")
        .arg("--data-dir")
        .arg(&dir)
        .args(["--sip", &format!("127.0.0.1:{sip}")])
        .args(["--http", &format!("127.0.0.1:{dp_http}")])
        .args(["--control-http", &format!("127.0.0.1:{ctl}")])
        .args(["--rtp-ports", "46000-46400"])
        .env_remove("CXB_ADMIN_API_KEY")
        .env_remove("CXB_ADMIN_PASSWORD")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cxb binary");
    let (tx, rx) = mpsc::channel();
    let stdout = up.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("up: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while !banner.iter().any(|l: &String| l.starts_with("running")) {
        let left = end.saturating_duration_since(Instant::now());
        banner.push(rx.recv_timeout(left).expect("cxb up prints its banner"));
    }
    let curl = banner
        .iter()
        .find(|l| l.trim_start().starts_with("curl") && l.contains("/api/v1/dialout"))
        .expect("a dial-out command")
        .trim()
        .to_owned();
    let key = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("admin API key: "))
        .and_then(|k| k.split_whitespace().next())
        .expect("an admin key")
        .to_owned();
    assert!(
        banner.iter().any(|l| l.contains("admin user \"admin\", password")),
        "{banner:?}"
    );

    let out = Command::new("sh").arg("-c").arg(&curl).output().expect("curl");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("\"status\":\"ok\""), "{curl}\n→ {body}");

    // Both legs end (the customer says goodbye after its three lines) and are ingested.
    let end = Instant::now() + Duration::from_secs(150);
    let calls = loop {
        let (status, v) = http(ctl, "GET", "/api/v1/calls", &[("X-API-Key", key.as_str())], None);
        assert_eq!(status, 200, "{v}");
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= 2 {
            break items;
        }
        assert!(Instant::now() < end, "call records did not arrive: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let record = |bot: &str| -> Value {
        let id = calls
            .iter()
            .find(|c| c["bot_id"] == bot)
            .unwrap_or_else(|| panic!("no {bot} call in {calls:?}"))["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, v) = http(
            ctl,
            "GET",
            &format!("/api/v1/calls/{id}/json"),
            &[("X-API-Key", key.as_str())],
            None,
        );
        assert_eq!(status, 200, "{v}");
        v.get("record").cloned().unwrap_or(v)
    };
    let clinic = record("demo");
    let customer = record("demo-customer");
    let said = |r: &Value, role: &str| {
        r["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["role"] == role && !t["text"].as_str().unwrap_or("").trim().is_empty())
            .count()
    };
    for r in [&clinic, &customer] {
        println!("{}: {}", r["bot_id"], r["transcript"]);
        assert!(
            r["quality"]["packets_in"].as_u64().unwrap() > 100,
            "no RTP: {}",
            r["quality"]
        );
        assert!(said(r, "bot") >= 2, "{}", r["transcript"]);
        assert!(said(r, "caller") >= 1, "{}", r["transcript"]);
        assert_ne!(r["disconnected_by"], "RNR");
    }
    assert_eq!(clinic["direction"], "outbound");
    assert_eq!(customer["direction"], "inbound");
    assert_eq!(clinic["amd"]["verdict"], "human", "{}", clinic["amd"]);
    // The customer's "Hello?" comes first; the clinic's opening answers it.
    assert_eq!(customer["transcript"][0]["text"], "Hello?");

    let _ = Command::new("kill").args(["-TERM", &up.id().to_string()]).status();
    let end = Instant::now() + Duration::from_secs(30);
    while up.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "cxb up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
