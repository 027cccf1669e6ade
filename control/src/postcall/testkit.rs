//! Test helpers for the post-call pipeline and CRM push: an [`AppState`] on a fresh SQLite file
//! and, when `CXB_TEST_PG_URL` is set (required when `CI` is set), on a fresh PostgreSQL database;
//! rows for bots and calls; polling.

use std::time::Duration;

use cxb_model::{BotConfig, CallRecord};
use sqlx::Row;

use crate::config::ControlConfig;
use crate::db::now_ms;
use crate::state::AppState;

/// One backend under test; the temp dir lives as long as this.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub backend: &'static str,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

async fn state_for(url: String, dir: &tempfile::TempDir) -> AppState {
    let mut cfg = ControlConfig::local(dir.path(), "test-internal-secret");
    cfg.database_url = url;
    cfg.dataplanes.clear();
    let (_, state) = crate::build(cfg).await.expect("control builds");
    state
}

/// Every backend to run on (SQLite always, PostgreSQL when configured).
pub(crate) async fn dbs(name: &str) -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let state = state_for(url, &dir).await;
    let mut out = vec![TestDb {
        backend: "sqlite",
        state,
        _dir: dir,
    }];
    if let Some(pg) = pg_database(name).await {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = state_for(pg, &dir).await;
        out.push(TestDb {
            backend: "postgres",
            state,
            _dir: dir,
        });
    }
    out
}

/// A new, empty PostgreSQL database on `CXB_TEST_PG_URL`'s server; `None` when unset (panics when
/// `CI` is set: both backends must run there).
async fn pg_database(name: &str) -> Option<String> {
    let Some(admin) = std::env::var("CXB_TEST_PG_URL").ok().filter(|s| !s.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CXB_TEST_PG_URL is not: PostgreSQL tests must run (scripts/test starts one)"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let suffix = crate::db::sha256_hex(&format!(
        "{:?}{}{name}",
        std::time::SystemTime::now(),
        std::process::id()
    ));
    let db = format!(
        "cxbpc_{}_{}",
        name.chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
        &suffix[..10]
    )
    .to_lowercase();
    let pool = sqlx::AnyPool::connect(&admin).await.expect("CXB_TEST_PG_URL connects");
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

/// Stores a bot.
pub(crate) async fn insert_bot(state: &AppState, bot: &BotConfig) {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO bots (id, name, active, config_json, created_at_ms, updated_at_ms) VALUES ($1, $2, 1, $3, $4, $4)",
    )
    .bind(&bot.id)
    .bind(&bot.name)
    .bind(serde_json::to_string(bot).unwrap())
    .bind(now)
    .execute(&state.db)
    .await
    .expect("insert bot");
}

/// Stores a call as ingest would (without queueing anything).
pub(crate) async fn insert_call(state: &AppState, r: &CallRecord) {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO calls (session_id, bot_id, direction, status, disconnected_by, from_number, to_number, \
         started_at, started_at_ms, duration_seconds, is_test, record_json, analysis_json, qc_json, \
         integration_log_json, postcall_usage_json, created_at_ms) \
         VALUES ($1, $2, $3, 'completed', $4, $5, $6, $7, $8, $9, 0, $10, NULL, NULL, '[]', NULL, $11)",
    )
    .bind(&r.session_id)
    .bind(&r.bot_id)
    .bind(serde_json::to_value(r.direction).unwrap().as_str().unwrap().to_owned())
    .bind(
        serde_json::to_value(r.disconnected_by)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned(),
    )
    .bind(r.from_number.clone())
    .bind(r.to_number.clone())
    .bind(r.started_at.to_string())
    .bind(r.started_at.as_millisecond())
    .bind(i64::try_from(r.call_duration_seconds).unwrap())
    .bind(serde_json::to_string(r).unwrap())
    .bind(now)
    .execute(&state.db)
    .await
    .expect("insert call");
}

/// A stored JSON column of a call, parsed (`Null` when SQL NULL).
pub(crate) async fn call_json(state: &AppState, call_id: &str, column: &str) -> serde_json::Value {
    let row = sqlx::query(&format!("SELECT {column} FROM calls WHERE session_id = $1"))
        .bind(call_id)
        .fetch_one(&state.db)
        .await
        .expect("call row");
    let text: Option<String> = row.try_get(0).expect("column");
    text.map_or(serde_json::Value::Null, |t| {
        serde_json::from_str(&t).expect("stored JSON")
    })
}

/// Polls `cond` every 20 ms until it holds; panics after `secs` seconds.
pub(crate) async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, secs: u64, mut cond: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The state and attempts of a job.
pub(crate) async fn job(state: &AppState, kind: &str, call_id: &str) -> Option<(String, u32)> {
    super::queue::state_of(&state.db, kind, call_id)
        .await
        .expect("job state")
}

/// A worker configuration for tests: fast polls, short backoffs.
pub(crate) fn fast_worker() -> super::WorkerConfig {
    let quick = |attempts| super::RetryPolicy {
        attempts,
        base: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    super::WorkerConfig {
        poll: Duration::from_millis(20),
        concurrency: 4,
        postcall_retry: quick(2),
        crm_retry: quick(5),
        crm_timeout: Duration::from_secs(5),
        stale_after: Duration::from_secs(900),
    }
}
