use cxb_model::{
    CallDirection, CallEvent, CallEventKind, CallRecord, DisconnectedBy, KnowledgeSearch, Timestamp, ToolCallRecord,
    ToolCallStatus, TranscriptEntry, TranscriptRole, TurnLatency,
};
use sqlx::AnyPool;

use super::query::{CallFilter, CallQuery};
use super::*;

/// The databases every DB test runs on: a fresh SQLite file, and a fresh PostgreSQL database
/// when `CXB_TEST_PG_URL` is set (required when `CI` is set). The temp dir lives as long as the
/// returned guard.
pub(crate) async fn test_dbs(name: &str) -> Vec<(&'static str, AnyPool, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let (pool, _) = crate::db::connect(&url).await.expect("sqlite");
    let mut out = vec![("sqlite", pool, Some(dir))];
    if let Some(pg) = pg_database(name).await {
        let (pool, _) = crate::db::connect(&pg).await.expect("postgres");
        out.push(("postgres", pool, None));
    }
    out
}

/// A new, empty PostgreSQL database on `CXB_TEST_PG_URL`'s server; `None` when unset (panics
/// when `CI` is set: both backends must run there).
pub(crate) async fn pg_database(name: &str) -> Option<String> {
    let Some(admin) = std::env::var("CXB_TEST_PG_URL").ok().filter(|s| !s.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CXB_TEST_PG_URL is not: PostgreSQL tests must run (scripts/test starts one)"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let db = format!(
        "cxbt_{}_{}",
        name.chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
        crate::db::sha256_hex(&format!("{:?}{}", std::time::SystemTime::now(), std::process::id()))[..10].to_owned()
    )
    .to_lowercase();
    let pool = AnyPool::connect(&admin).await.expect("CXB_TEST_PG_URL connects");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin.as_str(), String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    Some(format!("{base}/{db}{query}"))
}

pub(crate) fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A completed outbound call with a transcript, a tool call, a knowledge search and two turns.
pub(crate) fn sample(id: &str, bot: &str, started: &str) -> CallRecord {
    let mut r = CallRecord::new(id, bot, CallDirection::Outbound, ts(started));
    r.from_number = Some("+4930111222".into());
    r.to_number = Some("+4915755566677".into());
    r.answered_at = Some(ts(started).checked_add(jiff::SignedDuration::from_secs(2)).unwrap());
    r.transcript = vec![
        TranscriptEntry {
            role: TranscriptRole::Bot,
            text: "Hello".into(),
            start_ms: 2100,
            end_ms: 3000,
        },
        TranscriptEntry {
            role: TranscriptRole::Caller,
            text: "What are your hours?".into(),
            start_ms: 3500,
            end_ms: 5000,
        },
        TranscriptEntry {
            role: TranscriptRole::Bot,
            text: "Nine to six.".into(),
            start_ms: 6000,
            end_ms: 7000,
        },
    ];
    r.knowledge_searches = vec![KnowledgeSearch {
        at_ms: 5200,
        turn: 1,
        query: "hours".into(),
        hits: 1,
        latency_us: 80,
        cached: false,
    }];
    r.tool_calls = vec![ToolCallRecord {
        at_ms: 5300,
        turn: 1,
        name: "lookup".into(),
        arguments: serde_json::json!({"q": "hours"}),
        status: ToolCallStatus::Ok,
        duration_ms: 40,
        result: None,
    }];
    r.events = vec![
        CallEvent {
            at_ms: 2000,
            kind: CallEventKind::Answered,
            detail: String::new(),
        },
        CallEvent {
            at_ms: 3500,
            kind: CallEventKind::SpeechStarted,
            detail: String::new(),
        },
        CallEvent {
            at_ms: 6500,
            kind: CallEventKind::Dtmf,
            detail: "5".into(),
        },
    ];
    r.turn_latencies = vec![
        TurnLatency {
            turn: 0,
            total_ms: Some(400),
            prompt_tokens: 100,
            completion_tokens: 10,
            ..TurnLatency::default()
        },
        TurnLatency {
            turn: 1,
            stt_ms: Some(100),
            total_ms: Some(600),
            prompt_tokens: 150,
            completion_tokens: 12,
            ..TurnLatency::default()
        },
    ];
    r.usage.prompt_tokens = 250;
    r.usage.completion_tokens = 22;
    r.recording_key = Some(format!("2026/11/21/{id}"));
    let end = ts(started).checked_add(jiff::SignedDuration::from_secs(12)).unwrap();
    r.finish(end, DisconnectedBy::Customer);
    r
}

fn filter(q: CallQuery) -> CallFilter {
    CallFilter::from_query(q, None).unwrap()
}

#[tokio::test]
async fn ingest_is_idempotent_and_get_round_trips() {
    for (backend, db, _g) in test_dbs("ingest").await {
        let r = sample("s1", "bot-a", "2026-11-20T10:00:00Z");
        assert_eq!(ingest(&db, &r, 1).await.unwrap(), IngestOutcome::Created, "{backend}");
        assert_eq!(ingest(&db, &r, 2).await.unwrap(), IngestOutcome::Duplicate, "{backend}");
        let got = get(&db, "s1").await.unwrap().unwrap();
        assert_eq!(got.record, r, "{backend}");
        assert_eq!(got.status, "completed");
        assert_eq!(got.created_at_ms, 1);
        assert_eq!(got.integration_log, serde_json::json!([]));
        assert!(get(&db, "nope").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn list_filters_pages_and_scopes() {
    for (backend, db, _g) in test_dbs("list").await {
        for i in 0..5 {
            let mut r = sample(
                &format!("c{i}"),
                if i < 3 { "bot-a" } else { "bot-b" },
                "2026-11-20T10:00:00Z",
            );
            r.started_at = ts(&format!("2026-11-2{i}T10:00:00Z"));
            if i == 4 {
                r.answered_at = None;
                r.finish(r.started_at, DisconnectedBy::NoAnswer);
                r.direction = CallDirection::Inbound;
                r.from_number = Some("+14155550100".into());
                r.variables.insert("is_test".into(), serde_json::json!(true));
            }
            ingest(&db, &r, 0).await.unwrap();
        }
        let all = list(&db, &filter(CallQuery::default())).await.unwrap();
        assert_eq!(all.total, 5, "{backend}");
        let ids: Vec<_> = all.items.iter().map(|c| c.session_id.as_str()).collect();
        assert_eq!(ids, ["c4", "c3", "c2", "c1", "c0"], "newest first on {backend}");

        let q = |f: fn(&mut CallQuery)| {
            let mut q = CallQuery::default();
            f(&mut q);
            filter(q)
        };
        let n = |p: CallPage| p.items.into_iter().map(|c| c.session_id).collect::<Vec<_>>();
        assert_eq!(
            n(list(&db, &q(|q| q.bot_id = Some("bot-b".into()))).await.unwrap()),
            ["c4", "c3"]
        );
        assert_eq!(
            n(list(&db, &q(|q| q.status = Some("failed".into()))).await.unwrap()),
            ["c4"]
        );
        assert_eq!(
            n(list(&db, &q(|q| q.direction = Some("inbound".into()))).await.unwrap()),
            ["c4"]
        );
        assert_eq!(
            n(list(&db, &q(|q| q.disconnected_by = Some("no_answer".into())))
                .await
                .unwrap()),
            ["c4"]
        );
        assert_eq!(
            n(list(&db, &q(|q| q.is_test = Some("true".into()))).await.unwrap()),
            ["c4"]
        );
        assert_eq!(
            n(list(&db, &q(|q| q.is_test = Some("false".into()))).await.unwrap()).len(),
            4
        );
        assert_eq!(
            n(list(&db, &q(|q| q.q = Some("415 555".into()))).await.unwrap()),
            ["c4"]
        );
        assert_eq!(n(list(&db, &q(|q| q.q = Some("57555".into()))).await.unwrap()).len(), 5);
        let range = q(|q| {
            q.from = Some("2026-11-21".into());
            q.to = Some("2026-11-22".into());
        });
        assert_eq!(n(list(&db, &range).await.unwrap()), ["c2", "c1"], "{backend}");
        let rfc = q(|q| q.from = Some("2026-11-23T00:00:00Z".into()));
        assert_eq!(n(list(&db, &rfc).await.unwrap()), ["c4", "c3"]);
        let page2 = q(|q| {
            q.page = Some("2".into());
            q.page_size = Some("2".into());
        });
        let p = list(&db, &page2).await.unwrap();
        assert_eq!((p.total, p.page, p.page_size), (5, 2, 2));
        assert_eq!(n(p), ["c2", "c1"]);

        let scoped = CallFilter::from_query(CallQuery::default(), Some(vec!["bot-a".into()])).unwrap();
        assert_eq!(list(&db, &scoped).await.unwrap().total, 3);
        let none = CallFilter::from_query(CallQuery::default(), Some(vec![])).unwrap();
        assert_eq!(list(&db, &none).await.unwrap().total, 0);
        // A scoped caller asking for another bot sees nothing.
        let other = CallQuery {
            bot_id: Some("bot-b".into()),
            ..Default::default()
        };
        let other = CallFilter::from_query(other, Some(vec!["bot-a".into()])).unwrap();
        assert_eq!(list(&db, &other).await.unwrap().total, 0);
    }
}

#[test]
fn bad_filters_name_the_field() {
    let bad = |f: fn(&mut CallQuery), field: &str| {
        let mut q = CallQuery::default();
        f(&mut q);
        let e = CallFilter::from_query(q, None).unwrap_err();
        assert_eq!(e.field, field);
    };
    bad(|q| q.status = Some("weird".into()), "status");
    bad(|q| q.direction = Some("sideways".into()), "direction");
    bad(|q| q.disconnected_by = Some("alien".into()), "disconnected_by");
    bad(|q| q.from = Some("yesterday".into()), "from");
    bad(|q| q.to = Some("2026-13-01".into()), "to");
    bad(|q| q.is_test = Some("maybe".into()), "is_test");
    bad(|q| q.page = Some("0".into()), "page");
    bad(|q| q.page_size = Some("201".into()), "page_size");
    bad(|q| q.page_size = Some("x".into()), "page_size");
}

#[test]
fn detail_interleaves_and_hides_costs() {
    let r = sample("d1", "bot-a", "2026-11-20T10:00:00Z");
    let call = StoredCall {
        record: r,
        status: "completed".into(),
        is_test: false,
        analysis: Some(serde_json::json!({"disposition": "info"})),
        qc: None,
        integration_log: serde_json::json!([]),
        postcall_usage: Some(serde_json::json!({"fresh": 10})),
        created_at_ms: 0,
    };
    let d = detail::detail(&call, true, None);
    let types: Vec<&str> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["event", "bot", "caller", "knowledge", "tool", "bot", "event"]);
    assert_eq!(d["latency"]["total_ms"], 500.0);
    assert_eq!(d["latency"]["stt_ms"], 100.0);
    assert!(d["latency"]["llm_first_token_ms"].is_null());
    assert_eq!(d["tokens"]["prompt_tokens"], 250);
    assert_eq!(d["postcall_cache"]["fresh"], 10);
    assert_eq!(d["turns"][1]["prompt_tokens"], 150);
    assert_eq!(d["analysis"]["disposition"], "info");
    assert!(d["transfer"].is_null());
    assert_eq!(d["summary"]["disconnected_by"], "customer");

    let hidden = detail::detail(&call, false, None);
    assert!(hidden.get("tokens").is_none());
    assert!(hidden.get("postcall_cache").is_none());
    assert!(hidden["turns"][1].get("prompt_tokens").is_none());
    assert!(!hidden.to_string().contains("prompt_tokens"));
}

#[test]
fn transfer_banner_and_timeline_entry() {
    let mut r = sample("t1", "bot-a", "2026-11-20T10:00:00Z");
    r.was_transferred = true;
    r.transfer_destination = Some("+4930999".into());
    r.transfer_method = Some(cxb_model::TransferMethod::SipRefer);
    r.transfer_at = Some(ts("2026-11-20T10:00:08Z"));
    let b = detail::transfer_banner(&r);
    assert_eq!(b["transfer_method"], "sip_refer");
    assert_eq!(b["transfer_destination"], "+4930999");
    let t = detail::timeline(&r);
    let last = t.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["at_ms"].as_u64()),
        (Some("transfer"), Some(8000))
    );
}
