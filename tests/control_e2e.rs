//! End-to-end: the real `cxb control` and `cxb dataplane` processes. A bot and a key scoped to it
//! are created through the API, `POST /api/v1/dialout` places a call through a trunk pointing at
//! a SIPp `uas` that answers as the customer, the call record reaches control (`GET
//! /api/v1/calls/{id}`), and a local HTTP server receives the bot's CRM push with its key mapper
//! resolved. Also: every endpoint of `/openapi.json` tried with a key scoped to another bot
//! never succeeds.
//!
//! Control runs on SQLite, and on PostgreSQL too when `CXB_TEST_PG_URL` is set.

mod ctl_harness;
mod dp_harness;
mod sip_harness;

use std::time::Duration;

use ctl_harness::{Control, Crm, http};
use dp_harness::Dp;
use serde_json::json;
use sip_harness::{Sipp, free_port};

const DP_BOTS: &str = r#"{"bots": []}"#;

fn e2e_dialout(db: Option<String>) {
    let control_port = free_port();
    let dp = Dp::start(
        &format!("ctl-e2e-{}", if db.is_some() { "pg" } else { "lite" }),
        DP_BOTS,
        &["--control-url", &format!("http://127.0.0.1:{control_port}")],
    );
    // The dataplane was told this port: control is started on it (once), not on another.
    let ctl = Control::start_on(control_port, dp.http, db);
    let admin = ctl.admin_key.clone();
    let crm = Crm::start();
    let bot = json!({
        "id": "e2e", "name": "E2E", "opening_message": "Hello {{crm.name}}.", "max_call_seconds": 1,
        "crm_push": {"url": crm.url(), "token": "crm-token", "method": "POST",
            "key_mapper": {"phone": "{{call.to_number}}", "who": "{{crm.name}}", "ended_by": "{{result.disconnected_by}}",
                "session": "{{call.session_id}}"}}
    });
    let (s, b) = ctl.req("POST", "/api/v1/bots", &admin, Some(&bot));
    assert_eq!(s, 201, "{b}");
    let (s, b) = ctl.req(
        "POST",
        "/api/v1/api-keys",
        &admin,
        Some(&json!({"name": "e2e", "bot_ids": ["e2e"]})),
    );
    assert_eq!(s, 201, "{b}");
    let key = b["key"].as_str().unwrap().to_owned();

    let uas_port = free_port();
    let trunk = json!({"name": "sipp", "host": "127.0.0.1", "port": uas_port, "transport": "udp",
        "default_from_number": "+15550999", "number_pool": [], "is_default": true});
    let (s, b) = ctl.req("POST", "/api/v1/trunks", &admin, Some(&trunk));
    assert!(s == 200 || s == 201, "{s} {b}");

    let (s, fleet) = ctl.req("GET", "/health/fleet", &key, None);
    assert_eq!(s, 200, "{fleet}");
    assert_eq!(fleet["fleet_available"], true, "{fleet}");

    let port = uas_port.to_string();
    let uas = Sipp::spawn(
        "ctl-e2e-uas",
        &["-sn", "uas", "-i", "127.0.0.1", "-p", &port, "-m", "1"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let body = json!({"bot_id": "e2e", "to_number": "+15550123", "variables": {"name": "Ann"}});
    let (s, b) = ctl.req("POST", "/api/v1/dialout", &key, Some(&body));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "ok");
    let call_id = b["call_id"].as_str().unwrap().to_owned();
    let (st, errors) = uas.wait(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "SIPp uas: {errors}");

    let detail = ctl.wait_for(&format!("/api/v1/calls/{call_id}"), &key, Duration::from_secs(20));
    assert_eq!(detail["summary"]["direction"], "outbound", "{detail}");
    assert_eq!(detail["summary"]["to_number"], "+15550123");
    assert_eq!(detail["summary"]["from_number"], "+15550999");
    let (s, list) = ctl.req("GET", "/api/v1/calls?bot_id=e2e", &key, None);
    assert_eq!((s, list["total"].as_i64()), (200, Some(1)), "{list}");

    let push = crm.wait(Duration::from_secs(30)).expect("CRM push received");
    assert_eq!(push.auth.as_deref(), Some("Bearer crm-token"));
    assert_eq!(push.body["phone"], "+15550123", "{}", push.body);
    assert_eq!(push.body["who"], "Ann");
    assert_eq!(push.body["session"], call_id.as_str());
    assert_eq!(push.body["ended_by"], "timeout");
    drop(dp);
}

#[test]
fn dialout_call_record_and_crm_push_sqlite() {
    e2e_dialout(None);
}

#[test]
fn dialout_call_record_and_crm_push_postgres() {
    match ctl_harness::pg_database("e2e") {
        Some(url) => e2e_dialout(Some(url)),
        None => eprintln!("CXB_TEST_PG_URL not set: PostgreSQL run skipped"),
    }
}

/// Substitutes path parameters: `{id}` and friends with objects of bot B.
fn fill(path: &str, call_b: &str) -> String {
    let mut out = String::new();
    for seg in path.split('/') {
        if !out.is_empty() || seg.is_empty() {
            out.push('/');
        }
        out.push_str(match seg {
            "{id}" if path.starts_with("/api/v1/calls") => call_b,
            "{id}" | "{bot_id}" => "bot-b",
            "{number}" => "+15550177",
            "{key}" | "{*key}" => "2026/11/21/callb",
            s if s.starts_with('{') => "x",
            s => s,
        });
    }
    out.replace("//", "/")
}

#[test]
fn every_endpoint_refuses_a_key_scoped_to_another_bot() {
    let dp = Dp::start("ctl-scope", DP_BOTS, &[]);
    let ctl = Control::start(dp.http, None);
    let admin = ctl.admin_key.clone();
    for id in ["bot-a", "bot-b"] {
        let (s, b) = ctl.req("POST", "/api/v1/bots", &admin, Some(&json!({"id": id, "name": id})));
        assert_eq!(s, 201, "{b}");
    }
    let (s, _) = ctl.req(
        "POST",
        "/api/v1/dids",
        &admin,
        Some(&json!({"number": "+15550177", "bot_id": "bot-b"})),
    );
    assert_eq!(s, 201);
    let (_, b) = ctl.req(
        "POST",
        "/api/v1/api-keys",
        &admin,
        Some(&json!({"name": "a", "bot_ids": ["bot-a"]})),
    );
    let key_a = b["key"].as_str().unwrap().to_owned();
    // A call of bot B, delivered the way the dataplane does.
    let record = json!({"session_id": "callb", "bot_id": "bot-b", "direction": "inbound",
        "started_at": "2026-11-21T10:00:00Z", "ended_at": "2026-11-21T10:00:05Z", "call_duration_seconds": 5,
        "disconnected_by": "customer", "recording_key": "2026/11/21/callb", "from_number": "+15550177"});
    let (s, b) = http(
        ctl.port,
        "POST",
        "/internal/v1/calls",
        &[("authorization", "Bearer test-secret-0123456789")],
        Some(&record),
    );
    assert_eq!(s, 201, "{b}");

    let (s, doc) = http(ctl.port, "GET", "/openapi.json", &[], None);
    assert_eq!(s, 200);
    // Lists are filtered, not refused; these must not show bot B's objects.
    let filtered = ["/api/v1/bots", "/api/v1/calls", "/api/v1/dids"];
    // Open to any authenticated caller (no bot data), or authenticated otherwise.
    let open = [
        "/health/fleet",
        "/api/v1/me",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/widget.js",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
    ];
    let mut tried = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            if open.contains(&path.as_str()) || path.starts_with("/internal/") {
                continue;
            }
            let url = fill(path, "callb");
            let body = json!({"bot_id": "bot-b", "to_number": "+15550123", "name": "x", "id": "bot-b",
                "bot_ids": ["bot-b"], "number": "+15550188", "enabled": true, "active": false});
            let (s, b) = ctl.req(&m, &url, &key_a, Some(&body));
            tried += 1;
            if m == "GET" && filtered.contains(&path.as_str()) {
                assert_eq!(s, 200, "{m} {url}: {b}");
                assert!(!b.to_string().contains("bot-b"), "{m} {url} leaks bot B: {b}");
                continue;
            }
            assert!(
                matches!(s, 401 | 403 | 404),
                "{m} {url} with a key scoped to bot-a gave {s}: {b}"
            );
        }
    }
    assert!(tried >= 20, "only {tried} endpoints in /openapi.json");
    // The bot and its call are intact.
    let (s, _) = ctl.req("GET", "/api/v1/bots/bot-b", &admin, None);
    assert_eq!(s, 200);
    let (s, _) = ctl.req("GET", "/api/v1/calls/callb", &admin, None);
    assert_eq!(s, 200);
}

#[test]
fn schemathesis_finds_no_server_errors() {
    let Some(st) = ctl_harness::schemathesis() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis missing (scripts/bootstrap installs it into the venv)"
        );
        eprintln!("schemathesis not installed: skipped");
        return;
    };
    let dp = Dp::start("ctl-st", DP_BOTS, &[]);
    let ctl = Control::start(dp.http, None);
    let admin = ctl.admin_key.clone();
    let (s, _) = ctl.req(
        "POST",
        "/api/v1/bots",
        &admin,
        Some(&json!({"id": "st-bot", "name": "ST"})),
    );
    assert_eq!(s, 201);
    let out = std::process::Command::new(st)
        .args(["run", &format!("http://127.0.0.1:{}/openapi.json", ctl.port)])
        .args(["--checks", "not_a_server_error"])
        .args(["--header", &format!("X-API-Key: {admin}")])
        .args(["--max-examples", "15", "--workers", "1", "--request-timeout", "10"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // Operations that make control contact URLs or hosts from the request (dial-out resolves
        // the trunk host, the fleet list is pushed to): loopback only in tests.
        .args(["--exclude-path-regex", "(dialout|settings/fleet)"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
}
