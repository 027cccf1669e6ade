//! End-to-end: the CRM pre-fetch at call start. A real `cxb dataplane` (sim providers) calls a
//! small HTTP server on 127.0.0.1 playing the CRM while the call rings; `cxb call` is the caller.
//! The bot's opening is "Hello {{crm.first_name}}": with a CRM answering `{"first_name":"Alice"}`
//! the record's first bot line is "Hello Alice" and its `crm` holds the name; a CRM answering 500,
//! or too slowly, never stops the call: it is answered within the pre-fetch timeout, the opening
//! goes without the name and a non-fatal service error is recorded.

mod dp_harness;
mod phone_harness;
mod sip_harness;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dp_harness::Dp;
use phone_harness::cxb_call;
use serde_json::Value;

/// Pre-fetch timeout of the test bots.
const TIMEOUT_MS: u64 = 800;
const TOKEN: &str = "crm-secret-token-42";

/// What the fake CRM saw: request target and Authorization header, per request.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A one-thread HTTP/1.1 CRM: `/ok` answers the JSON object, `/fail` 500, `/slow` after 3 s.
fn fake_crm() -> (u16, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let seen = Arc::clone(&s2);
            std::thread::spawn(move || serve(conn, &seen));
        }
    });
    (port, seen)
}

fn serve(conn: TcpStream, seen: &Seen) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            auth = v.trim().to_owned();
        }
    }
    seen.lock().unwrap().push((target.clone(), auth));
    let (status, body) = if target.starts_with("/ok") {
        ("200 OK", r#"{"first_name":"Alice","tier":"gold"}"#)
    } else if target.starts_with("/slow") {
        std::thread::sleep(Duration::from_secs(3));
        ("200 OK", r#"{"first_name":"Late"}"#)
    } else {
        ("500 Internal Server Error", r#"{"error":"boom"}"#)
    };
    let mut w = conn;
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn bots(crm_port: u16) -> String {
    let bot = |id: &str, path: &str| {
        serde_json::json!({
            "id": id, "name": id, "answer_delay_ms": 100,
            "opening_message": "Hello {{crm.first_name}}",
            "system_prompt": "You talk to {{crm.first_name}}.",
            "crm_prefetch": {
                "url": format!("http://127.0.0.1:{crm_port}/{path}?phone={{{{call.from_number}}}}"),
                "token": TOKEN,
                "timeout_ms": TIMEOUT_MS
            }
        })
    };
    serde_json::json!({"bots": [bot("crm-ok", "ok"), bot("crm-fail", "fail"), bot("crm-slow", "slow")]}).to_string()
}

/// Calls `bot` as `+15550100` for 2 s and returns its record.
fn call(dp: &Dp, bot: &str) -> Value {
    let target = format!("sip:{bot}@127.0.0.1:{}", dp.sip);
    let before = dp.records().len();
    let out = cxb_call(
        &[&target, "--codec", "pcmu", "--seconds", "2", "--from", "+15550100"],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = dp.wait_records(before + 1, Duration::from_secs(15));
    recs.into_iter()
        .find(|r| r["bot_id"] == bot)
        .unwrap_or_else(|| panic!("no record for {bot}"))
}

fn first_bot_line(rec: &Value) -> String {
    rec["transcript"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["role"] == "bot"))
        .and_then(|e| e["text"].as_str())
        .unwrap_or_else(|| panic!("no bot line: {rec}"))
        .to_owned()
}

fn event_at(rec: &Value, kind: &str) -> Option<u64> {
    rec["events"]
        .as_array()?
        .iter()
        .find(|e| e["kind"] == kind)
        .and_then(|e| e["at_ms"].as_u64())
}

fn has_event(rec: &Value, detail_start: &str) -> bool {
    rec["events"].as_array().is_some_and(|ev| {
        ev.iter()
            .any(|e| e["detail"].as_str().is_some_and(|d| d.starts_with(detail_start)))
    })
}

fn crm_errors(rec: &Value) -> Vec<Value> {
    rec["service_errors"]
        .as_array()
        .map(|v| v.iter().filter(|e| e["stage"] == "crm_prefetch").cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crm_prefetch_fills_crm_and_a_failing_crm_never_blocks_the_call() {
    let (port, seen) = fake_crm();
    let dp = Dp::start("crm-prefetch", &bots(port), &["--providers", "sim"]);

    // The CRM answers: the opening greets Alice, the record keeps what was used.
    let rec = call(&dp, "crm-ok");
    assert_eq!(first_bot_line(&rec), "Hello Alice", "{rec}");
    assert_eq!(rec["crm"]["first_name"], "Alice");
    assert_eq!(rec["crm"]["tier"], "gold");
    assert!(has_event(&rec, "crm prefetch ok"), "{rec}");
    assert!(crm_errors(&rec).is_empty(), "{rec}");
    {
        let seen = seen.lock().unwrap();
        let (target, auth) = &seen[0];
        // The URL template was rendered with the caller's number, percent-encoded.
        assert_eq!(target, "/ok?phone=%2B15550100");
        assert_eq!(auth, &format!("Bearer {TOKEN}"));
    }

    // The CRM fails: answered anyway, no name, a non-fatal service error.
    let rec = call(&dp, "crm-fail");
    let line = first_bot_line(&rec);
    assert!(line.starts_with("Hello") && !line.contains("Alice"), "{rec}");
    let errs = crm_errors(&rec);
    assert_eq!(errs.len(), 1, "{rec}");
    assert_eq!(errs[0]["fatal"], false);
    assert!(errs[0]["message"].as_str().is_some_and(|m| m.contains("500")), "{rec}");
    assert!(!rec.to_string().contains(TOKEN), "the token leaked into the record");
    assert!(has_event(&rec, "crm prefetch failed"), "{rec}");
    assert!(rec["crm"].get("first_name").is_none(), "{rec}");

    // The CRM is too slow: the answer waits at most about the timeout.
    let rec = call(&dp, "crm-slow");
    let answered = event_at(&rec, "answered").unwrap_or_else(|| panic!("not answered: {rec}"));
    assert!(
        answered >= TIMEOUT_MS / 2,
        "answered before the pre-fetch gave up: {answered} ms"
    );
    assert!(answered < TIMEOUT_MS + 1500, "answer held too long: {answered} ms");
    let line = first_bot_line(&rec);
    assert!(line.starts_with("Hello") && !line.contains("Late"), "{rec}");
    assert_eq!(crm_errors(&rec).len(), 1, "{rec}");
    assert!(
        rec["unknown_variables"]
            .as_array()
            .is_some_and(|u| u.iter().any(|v| v == "crm.first_name")),
        "{rec}"
    );
    assert!(has_event(&rec, "unknown template variable {{crm.first_name}}"), "{rec}");
}
