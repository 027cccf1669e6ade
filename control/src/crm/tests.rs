use cxb_model::template::TemplateContext;
use cxb_model::{BotConfig, CallDirection, CallRecord, CrmPush, DisconnectedBy, HttpMethod, Timestamp};
use serde_json::json;

use super::*;
use crate::llm::fake::{Canned, FakeServer};
use crate::postcall::testkit::{call_json, dbs, fast_worker, insert_bot, insert_call, job, wait_until};
use crate::postcall::{Worker, enqueue, queue};

const TOKEN: &str = "crm-secret-token-123";

fn push(url: String, method: HttpMethod) -> CrmPush {
    CrmPush {
        url,
        token: Some(TOKEN.into()),
        method,
        key_mapper: [
            ("phone", "{{call.number}}"),
            ("name", "{{crm.name}}"),
            ("disposition", "{{analysis.disposition}}"),
            ("seconds", "{{result.duration}}"),
            ("note", "Called {{crm.name}} on {{system.date}}"),
            ("score", "{{qc.score}}"),
            ("missing", "{{crm.nope}}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

fn record(id: &str) -> CallRecord {
    let t0: Timestamp = "2024-03-01T10:00:00Z".parse().unwrap();
    let mut r = CallRecord::new(id, "crmbot", CallDirection::Outbound, t0);
    r.from_number = Some("+4930111".into());
    r.to_number = Some("+4930222".into());
    r.answered_at = Some(t0);
    r.crm.insert("name".into(), json!("Ada"));
    r.transcript.push(cxb_model::TranscriptEntry {
        role: cxb_model::TranscriptRole::Caller,
        text: "Sounds good, book it".into(),
        start_ms: 100,
        end_ms: 900,
    });
    r.finish("2024-03-01T10:00:42Z".parse().unwrap(), DisconnectedBy::Bot);
    r
}

#[test]
fn body_renders_key_mapper_with_types_and_unknowns() {
    let rec = record("b1");
    let mut ctx = cxb_model::template::record_context(&rec, "2024-03-01T10:05:00Z".parse().unwrap(), "UTC");
    ctx.insert("analysis", json!({"disposition": "interested"}));
    let (body, unknown) = build_body(&push("http://x".into(), HttpMethod::Post), &ctx);
    assert_eq!(
        body,
        json!({"phone": "+4930222", "name": "Ada", "disposition": "interested", "seconds": 42,
               "note": "Called Ada on 2024-03-01", "score": "", "missing": ""})
    );
    let mut sorted = unknown.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["crm.nope", "qc.score"]);
    let empty = CrmPush {
        url: "http://x".into(),
        token: None,
        method: HttpMethod::Post,
        key_mapper: Default::default(),
    };
    let (all, unknown) = build_body(&empty, &ctx);
    assert_eq!(all["crm"]["name"], "Ada");
    assert_eq!(all["analysis"]["disposition"], "interested");
    assert!(all["qc"].is_null() && unknown.is_empty());
    let (_, u) = build_body(&empty, &TemplateContext::new());
    assert!(u.is_empty());
}

#[tokio::test]
async fn push_is_retried_with_backoff_and_every_attempt_logged() {
    for t in dbs("crmretry").await {
        let crm = FakeServer::start(
            vec![Canned::text(500, "oops"), Canned::text(503, "busy")],
            Canned::json(200, json!({"id": "crm-1"})),
        )
        .await;
        let mut bot = BotConfig::new("crmbot", "CRM bot");
        bot.analysis_prompt = "Disposition.".into();
        bot.crm_push = Some(push(format!("{}/calls", crm.url()), HttpMethod::Post));
        insert_bot(&t.state, &bot).await;
        insert_call(&t.state, &record("p1")).await;
        enqueue(&t.state.db, "p1", crate::db::now_ms()).await.unwrap();
        let w = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the CRM push", 20, async || {
            job(&t.state, queue::KIND_CRM_PUSH, "p1")
                .await
                .is_some_and(|(s, _)| s == "done")
        })
        .await;
        w.abort();
        assert_eq!(
            job(&t.state, queue::KIND_CRM_PUSH, "p1").await,
            Some(("done".into(), 3)),
            "{}",
            t.backend
        );
        let seen = crm.seen();
        assert_eq!(seen.len(), 3);
        for s in &seen {
            assert_eq!(s.method, axum::http::Method::POST);
            assert_eq!(s.uri.path(), "/calls");
            assert_eq!(s.header("authorization").as_deref(), Some(&*format!("Bearer {TOKEN}")));
        }
        let body = seen[2].json();
        assert_eq!(body["phone"], "+4930222");
        assert_eq!(
            body["disposition"], "interested",
            "local analysis of 'Sounds good, book it'"
        );
        assert_eq!(body["seconds"], 42);
        assert_eq!(body["missing"], "");

        let log = log::entries(&t.state.db, "p1").await.unwrap();
        let summary: Vec<_> = log
            .iter()
            .map(|e| (e.attempt, e.status.as_str(), e.http_status))
            .collect();
        assert_eq!(
            summary,
            vec![(1, "error", Some(500)), (2, "error", Some(503)), (3, "ok", Some(200))]
        );
        assert!(log.iter().all(|e| e.kind == "crm_push" && !e.detail.contains(TOKEN)));
        assert!(log[2].detail.contains("unknown variables: "), "{}", log[2].detail);
        assert!(
            log[2].detail.contains("qc.score") && log[2].detail.contains("crm.nope"),
            "{}",
            log[2].detail
        );
        let on_call = call_json(&t.state, "p1", "integration_log_json").await;
        let list = on_call.as_array().unwrap();
        assert_eq!(list.len(), 3, "{}", t.backend);
        assert_eq!(list[0]["status"], "error");
        assert_eq!(list[2]["http_status"], 200);
        assert_eq!(list[2]["unknown_variables"].as_array().map(Vec::len), Some(2));
        assert!(!on_call.to_string().contains(TOKEN));
    }
}

#[tokio::test]
async fn client_errors_are_not_retried_and_retries_give_up() {
    for t in dbs("crmgiveup").await {
        let bad = FakeServer::start(vec![], Canned::text(400, "bad field")).await;
        let down = FakeServer::start(vec![], Canned::text(502, "down")).await;
        for (bot_id, srv) in [("b400", &bad), ("b502", &down)] {
            let mut bot = BotConfig::new(bot_id, "Bot");
            bot.crm_push = Some(push(format!("{}/x", srv.url()), HttpMethod::Put));
            insert_bot(&t.state, &bot).await;
            let mut rec = record(&format!("c-{bot_id}"));
            rec.bot_id = bot_id.into();
            insert_call(&t.state, &rec).await;
            enqueue(&t.state.db, &rec.session_id, crate::db::now_ms())
                .await
                .unwrap();
        }
        let w = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("both pushes to end", 20, async || {
            let a = job(&t.state, queue::KIND_CRM_PUSH, "c-b400").await;
            let b = job(&t.state, queue::KIND_CRM_PUSH, "c-b502").await;
            a.is_some_and(|(s, _)| s == "failed") && b.is_some_and(|(s, _)| s == "failed")
        })
        .await;
        w.abort();
        assert_eq!(
            job(&t.state, queue::KIND_CRM_PUSH, "c-b400").await,
            Some(("failed".into(), 1)),
            "{}",
            t.backend
        );
        assert_eq!(
            job(&t.state, queue::KIND_CRM_PUSH, "c-b502").await,
            Some(("failed".into(), 5))
        );
        assert_eq!(bad.seen().len(), 1);
        assert_eq!(down.seen().len(), 5);
        assert_eq!(bad.seen()[0].method, axum::http::Method::PUT);
        let l400 = log::entries(&t.state.db, "c-b400").await.unwrap();
        assert!(l400[0].detail.contains("not retried"), "{}", l400[0].detail);
        let l502 = log::entries(&t.state.db, "c-b502").await.unwrap();
        assert_eq!(l502.len(), 5);
        assert!(l502[4].detail.contains("giving up"), "{}", l502[4].detail);
    }
}

#[tokio::test]
async fn get_push_sends_query_parameters() {
    let crm = FakeServer::start(vec![], Canned::text(204, "")).await;
    let http = reqwest::Client::new();
    let p = CrmPush {
        url: format!("{}/hook", crm.url()),
        token: None,
        method: HttpMethod::Get,
        key_mapper: Default::default(),
    };
    let status = send(&http, &p, &json!({"a": "x y", "n": 3, "z": null}), DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let seen = crm.seen();
    assert_eq!(seen[0].method, axum::http::Method::GET);
    assert_eq!(seen[0].uri.query(), Some("a=x+y&n=3&z="));
    assert!(seen[0].header("authorization").is_none());
}
