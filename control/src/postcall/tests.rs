use std::time::Duration;

use cxb_model::{
    BotConfig, CallDirection, CallRecord, DisconnectedBy, PolicyStep, ProviderKind, Timestamp, TranscriptEntry,
    TranscriptRole,
};
use serde_json::json;

use super::testkit::{call_json, dbs, fast_worker, insert_bot, insert_call, job, wait_until};
use super::*;
use crate::llm::fake::{Canned, FakeServer};

fn line(role: TranscriptRole, text: &str, at: u64) -> TranscriptEntry {
    TranscriptEntry {
        role,
        text: text.into(),
        start_ms: at,
        end_ms: at + 500,
    }
}

fn call(id: &str, bot: &str, caller_lines: &[&str]) -> CallRecord {
    let t0: Timestamp = "2024-03-01T10:00:00Z".parse().unwrap();
    let mut r = CallRecord::new(id, bot, CallDirection::Outbound, t0);
    r.from_number = Some("+4930111".into());
    r.to_number = Some("+4930222".into());
    r.answered_at = Some(t0);
    r.transcript.push(line(
        TranscriptRole::Bot,
        "Hello, this is Acme. Would you like a demo?",
        0,
    ));
    for (i, l) in caller_lines.iter().enumerate() {
        r.transcript
            .push(line(TranscriptRole::Caller, l, 1000 * (i as u64 + 1)));
    }
    r.finish("2024-03-01T10:01:00Z".parse().unwrap(), DisconnectedBy::Customer);
    r
}

fn llm_bot(id: &str, kind: ProviderKind, url: &str) -> BotConfig {
    let mut b = BotConfig::new(id, "Sales");
    b.pipeline.llm.provider = kind;
    b.pipeline.llm.base_url = url.to_owned();
    b.analysis_prompt = "Classify the call for {{crm.company}}: disposition, summary.".into();
    b
}

fn openai_answer(content: serde_json::Value) -> Canned {
    Canned::json(
        200,
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 10,
                         "prompt_tokens_details": {"cached_tokens": 64}}}),
    )
}

fn anthropic_answer(text: serde_json::Value, read: u64, created: u64) -> Canned {
    Canned::json(
        200,
        json!({"type": "message", "role": "assistant", "content": [{"type": "text", "text": text.to_string()}],
               "usage": {"input_tokens": 30, "output_tokens": 8, "cache_read_input_tokens": read,
                         "cache_creation_input_tokens": created}}),
    )
}

#[test]
fn retry_policy_doubles_up_to_max() {
    let p = RetryPolicy {
        attempts: 5,
        base: Duration::from_secs(1),
        max: Duration::from_secs(5),
    };
    let d: Vec<u64> = (1..=5).map(|a| p.delay(a).as_secs()).collect();
    assert_eq!(d, vec![1, 2, 4, 5, 5]);
    assert_eq!(p.delay(200), Duration::from_secs(5));
    let dflt = WorkerConfig::default().crm_retry;
    assert_eq!(
        (dflt.attempts, dflt.delay(1), dflt.delay(3)),
        (5, Duration::from_secs(1), Duration::from_secs(4))
    );
}

#[tokio::test]
async fn enqueue_is_idempotent_and_lease_is_exclusive() {
    for t in dbs("lease").await {
        let db = &t.state.db;
        enqueue(db, "c1", 1000).await.unwrap();
        enqueue(db, "c1", 1000).await.unwrap();
        enqueue(db, "c2", 5000).await.unwrap();
        let jobs = queue::lease(db, 2000, 10).await.unwrap();
        assert_eq!(jobs.len(), 1, "{}: only c1 is due", t.backend);
        assert_eq!((jobs[0].call_id.as_str(), jobs[0].attempt), ("c1", 1));
        assert!(
            queue::lease(db, 2000, 10).await.unwrap().is_empty(),
            "{}: leased once",
            t.backend
        );
        queue::fail(db, &jobs[0].id, "boom", Some(3000), 2000).await.unwrap();
        let again = queue::lease(db, 6000, 10).await.unwrap();
        assert_eq!(again.len(), 2, "{}", t.backend);
        assert_eq!(again.iter().find(|j| j.call_id == "c1").unwrap().attempt, 2);
        assert_eq!(queue::requeue_running(db, i64::MAX, 7000).await.unwrap(), 2);
        assert_eq!(
            job(&t.state, queue::KIND_POSTCALL, "c2").await,
            Some(("queued".into(), 1))
        );
    }
}

#[tokio::test]
async fn queue_survives_a_worker_restart() {
    for t in dbs("restart").await {
        let llm = FakeServer::start(
            vec![Canned::hang(), openai_answer(json!({"disposition": "interested"}))],
            Canned::text(500, "unexpected"),
        )
        .await;
        insert_bot(
            &t.state,
            &llm_bot("sales", ProviderKind::Openai, &format!("{}/v1", llm.url())),
        )
        .await;
        insert_call(&t.state, &call("r1", "sales", &["Yes, I'd like that"])).await;
        enqueue(&t.state.db, "r1", crate::db::now_ms()).await.unwrap();

        let first = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the first LLM request", 20, async || llm.seen().len() == 1).await;
        first.abort();
        let _ = first.await;
        assert_eq!(
            job(&t.state, queue::KIND_POSTCALL, "r1").await,
            Some(("running".into(), 1)),
            "{}",
            t.backend
        );

        let second = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the job to finish", 20, async || {
            job(&t.state, queue::KIND_POSTCALL, "r1")
                .await
                .is_some_and(|(s, _)| s == "done")
        })
        .await;
        second.abort();
        assert_eq!(
            job(&t.state, queue::KIND_POSTCALL, "r1").await,
            Some(("done".into(), 2))
        );
        assert_eq!(
            call_json(&t.state, "r1", "analysis_json").await,
            json!({"disposition": "interested"})
        );
        let record = call_json(&t.state, "r1", "record_json").await;
        assert_eq!(
            record["post_call_analysis"]["disposition"], "interested",
            "{}",
            t.backend
        );
        assert_eq!(llm.seen().len(), 2);
    }
}

#[tokio::test]
async fn no_customer_speech_gets_auto_disposition_without_llm() {
    for t in dbs("nospeech").await {
        let llm = FakeServer::start(vec![], Canned::text(500, "must not be called")).await;
        let mut bot = llm_bot("sales", ProviderKind::Openai, &llm.url());
        bot.qc_prompt = "Check the policy.".into();
        insert_bot(&t.state, &bot).await;
        insert_call(&t.state, &call("n1", "sales", &["  "])).await;
        enqueue(&t.state.db, "n1", crate::db::now_ms()).await.unwrap();
        let w = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the job to finish", 20, async || {
            job(&t.state, queue::KIND_POSTCALL, "n1")
                .await
                .is_some_and(|(s, _)| s == "done")
        })
        .await;
        w.abort();
        assert!(llm.seen().is_empty(), "{}: the LLM was called", t.backend);
        assert_eq!(
            call_json(&t.state, "n1", "analysis_json").await,
            json!({"disposition": "no_customer_speech", "auto": true})
        );
        assert_eq!(call_json(&t.state, "n1", "qc_json").await, serde_json::Value::Null);
        assert_eq!(
            call_json(&t.state, "n1", "postcall_usage_json").await,
            json!({"cached_read": 0, "cache_created": 0, "fresh": 0, "completion": 0})
        );
    }
}

#[tokio::test]
async fn analysis_and_qc_stored_with_cache_token_counts() {
    for t in dbs("cached").await {
        let llm = FakeServer::start(
            vec![
                anthropic_answer(json!({"disposition": "interested", "summary": "wants a demo"}), 0, 900),
                anthropic_answer(json!({"score": 80, "missed": ["close"]}), 850, 0),
            ],
            Canned::text(500, "unexpected"),
        )
        .await;
        let mut bot = llm_bot("acme", ProviderKind::Anthropic, &llm.url());
        bot.qc_prompt = "Score the bot 0-100 against the policy.".into();
        bot.policy = vec![PolicyStep {
            name: "greet".into(),
            goal: "introduce Acme".into(),
            say: String::new(),
        }];
        insert_bot(&t.state, &bot).await;
        cache::set_enabled(&t.state.db, "acme", true).await.unwrap();
        cache::refresh(&t.state.db, &bot, "admin").await.unwrap();
        let mut rec = call("a1", "acme", &["Yes, book me a demo please"]);
        rec.crm.insert("company".into(), json!("Initech"));
        insert_call(&t.state, &rec).await;
        enqueue(&t.state.db, "a1", crate::db::now_ms()).await.unwrap();
        let w = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the job to finish", 20, async || {
            job(&t.state, queue::KIND_POSTCALL, "a1")
                .await
                .is_some_and(|(s, _)| s == "done")
        })
        .await;
        w.abort();
        assert_eq!(
            call_json(&t.state, "a1", "analysis_json").await,
            json!({"disposition": "interested", "summary": "wants a demo"}),
            "{}",
            t.backend
        );
        assert_eq!(
            call_json(&t.state, "a1", "qc_json").await,
            json!({"score": 80, "missed": ["close"]})
        );
        assert_eq!(
            call_json(&t.state, "a1", "postcall_usage_json").await,
            json!({"cached_read": 850, "cache_created": 900, "fresh": 60, "completion": 16})
        );
        let seen = llm.seen();
        assert_eq!(seen.len(), 2);
        let body = seen[0].json();
        assert_eq!(body["system"][0]["cache_control"], json!({"type": "ephemeral"}));
        let system = body["system"][0]["text"].as_str().unwrap();
        assert!(system.contains("Classify the call for Initech"), "{system}");
        assert!(system.contains("1. greet (goal: introduce Acme)"), "{system}");
        assert!(system.contains("[post-call cache v1]"), "{system}");
        let user = body["messages"][0]["content"].as_str().unwrap();
        assert!(user.contains("Caller: Yes, book me a demo please"), "{user}");
        assert!(
            seen[1].json()["system"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Score the bot")
        );
    }
}

#[tokio::test]
async fn embedded_llm_analyses_locally() {
    for t in dbs("local").await {
        let mut bot = BotConfig::new("demo", "Demo");
        bot.analysis_prompt = "Disposition and summary.".into();
        bot.qc_prompt = "Did the bot follow the policy?".into();
        bot.policy = vec![
            PolicyStep {
                name: "greet".into(),
                goal: String::new(),
                say: "Hello, this is {{crm.brand}}.".into(),
            },
            PolicyStep {
                name: "close".into(),
                goal: String::new(),
                say: "Goodbye and thanks".into(),
            },
        ];
        insert_bot(&t.state, &bot).await;
        let mut rec = call("l1", "demo", &["I'm not interested, thanks", "Bye"]);
        rec.crm.insert("brand".into(), json!("Acme"));
        insert_call(&t.state, &rec).await;
        enqueue(&t.state.db, "l1", crate::db::now_ms()).await.unwrap();
        let w = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the job to finish", 20, async || {
            job(&t.state, queue::KIND_POSTCALL, "l1")
                .await
                .is_some_and(|(s, _)| s == "done")
        })
        .await;
        w.abort();
        let a = call_json(&t.state, "l1", "analysis_json").await;
        assert_eq!(a["disposition"], "not_interested", "{}", t.backend);
        assert_eq!(a["summary"], "I'm not interested, thanks");
        assert_eq!(a["local"], true);
        let q = call_json(&t.state, "l1", "qc_json").await;
        assert_eq!(q["score"], 50, "{q}");
        assert_eq!(q["steps"][0], json!({"name": "greet", "done": true}));
        assert_eq!(q["steps"][1], json!({"name": "close", "done": false}));
    }
}

#[tokio::test]
async fn llm_failures_retry_then_fail_and_the_crm_still_gets_the_call() {
    for t in dbs("llmfail").await {
        let llm = FakeServer::start(vec![], Canned::text(500, "{\"error\": \"overloaded\"}")).await;
        let crm = FakeServer::start(vec![], Canned::json(200, json!({"ok": true}))).await;
        let mut bot = llm_bot("sales", ProviderKind::Openai, &llm.url());
        bot.crm_push = Some(cxb_model::CrmPush {
            url: format!("{}/hook", crm.url()),
            token: None,
            method: cxb_model::HttpMethod::Post,
            key_mapper: [("disposition".to_owned(), "{{analysis.disposition}}".to_owned())].into(),
        });
        insert_bot(&t.state, &bot).await;
        insert_call(&t.state, &call("f1", "sales", &["Hello?"])).await;
        enqueue(&t.state.db, "f1", crate::db::now_ms()).await.unwrap();
        let w = Worker::spawn_with(t.state.clone(), fast_worker());
        wait_until("the CRM push", 20, async || {
            job(&t.state, queue::KIND_CRM_PUSH, "f1")
                .await
                .is_some_and(|(s, _)| s == "done")
        })
        .await;
        w.abort();
        assert_eq!(
            job(&t.state, queue::KIND_POSTCALL, "f1").await,
            Some(("failed".into(), 2)),
            "{}",
            t.backend
        );
        assert_eq!(llm.seen().len(), 2);
        let err: String = sqlx::query_scalar("SELECT last_error FROM jobs WHERE id = 'postcall:f1'")
            .fetch_one(&t.state.db)
            .await
            .unwrap();
        assert!(err.contains("HTTP 500"), "{err}");
        assert_eq!(crm.seen()[0].json(), json!({"disposition": ""}));
    }
}

#[tokio::test]
async fn cache_status_enable_and_refresh() {
    for t in dbs("cache").await {
        let db = &t.state.db;
        assert_eq!(cache::status(db, "b").await.unwrap(), CacheStatus::default());
        let s = cache::set_enabled(db, "b", true).await.unwrap();
        assert!(s.enabled && s.version == 0);
        let mut bot = BotConfig::new("b", "B");
        let e = cache::refresh(db, &bot, "alice").await.unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body()["error"]["field"], "analysis_prompt");
        bot.qc_prompt = "QC".into();
        let s = cache::refresh(db, &bot, "alice").await.unwrap();
        assert_eq!(
            (s.enabled, s.version, s.refreshed_by.as_deref()),
            (true, 1, Some("alice"))
        );
        assert!(s.refreshed_at.is_some());
        let s = cache::refresh(db, &bot, "bob").await.unwrap();
        assert_eq!(s.version, 2);
        let s = cache::set_enabled(db, "b", false).await.unwrap();
        assert_eq!(
            (s.enabled, s.version, s.refreshed_by.as_deref()),
            (false, 2, Some("bob"))
        );
        assert_eq!(cache::status(db, "b").await.unwrap(), s, "{}", t.backend);
        let v = serde_json::to_value(&s).unwrap();
        assert!(v["refreshed_at"].as_str().unwrap().ends_with('Z'));
    }
}
