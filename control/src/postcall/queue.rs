//! The durable job queue (`jobs` table): insert, lease atomically, finish, retry with backoff,
//! and re-queue jobs a crashed worker left `running`.

use sqlx::{AnyPool, Row};

/// Job kind: analysis + QC of a call, then the CRM push.
pub const KIND_POSTCALL: &str = "postcall";
/// Job kind: one CRM push attempt per run.
pub const KIND_CRM_PUSH: &str = "crm_push";

/// A leased job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `<kind>:<call_id>`.
    pub id: String,
    /// [`KIND_POSTCALL`] or [`KIND_CRM_PUSH`].
    pub kind: String,
    /// The call (`calls.session_id`).
    pub call_id: String,
    /// This run's attempt number, from 1.
    pub attempt: u32,
}

/// Adds a `kind` job for `call_id`, due at `run_after_ms`; a second insert of the same job is a
/// no-op (the id is `<kind>:<call_id>`).
pub async fn insert(
    db: &AnyPool,
    kind: &str,
    call_id: &str,
    run_after_ms: i64,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, call_id, state, attempts, run_after_ms, last_error, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, 'queued', 0, $4, NULL, $5, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(format!("{kind}:{call_id}"))
    .bind(kind)
    .bind(call_id)
    .bind(run_after_ms)
    .bind(now_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// Leases up to `max` due jobs: each `queued → running` with one conditional UPDATE, so two
/// workers never run the same job.
pub async fn lease(db: &AnyPool, now_ms: i64, max: u32) -> Result<Vec<Job>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, kind, call_id, attempts FROM jobs WHERE state = 'queued' AND run_after_ms <= $1 \
         ORDER BY run_after_ms, id LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(max))
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at_ms = $2 \
             WHERE id = $1 AND state = 'queued'",
        )
        .bind(&id)
        .bind(now_ms)
        .execute(db)
        .await?;
        if done.rows_affected() == 1 {
            let attempts: i64 = r.try_get("attempts")?;
            out.push(Job {
                id,
                kind: r.try_get("kind")?,
                call_id: r.try_get("call_id")?,
                attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
            });
        }
    }
    Ok(out)
}

/// Marks a job done.
pub async fn finish(db: &AnyPool, id: &str, now_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET state = 'done', last_error = NULL, updated_at_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a failure: back to `queued` at `retry_at_ms`, or `failed` for good when `None`.
pub async fn fail(
    db: &AnyPool,
    id: &str,
    error: &str,
    retry_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let error: String = error.chars().take(1000).collect();
    let (state, run_after) = match retry_at_ms {
        Some(t) => ("queued", t),
        None => ("failed", now_ms),
    };
    sqlx::query("UPDATE jobs SET state = $2, run_after_ms = $3, last_error = $4, updated_at_ms = $5 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(run_after)
        .bind(error)
        .bind(now_ms)
        .execute(db)
        .await?;
    Ok(())
}

/// Puts `running` jobs last touched before `older_than_ms` back in the queue (all of them with
/// `i64::MAX`, as a starting worker does: their worker died). Returns how many.
pub async fn requeue_running(db: &AnyPool, older_than_ms: i64, now_ms: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE jobs SET state = 'queued', run_after_ms = $2, updated_at_ms = $2 \
         WHERE state = 'running' AND updated_at_ms < $1",
    )
    .bind(older_than_ms)
    .bind(now_ms)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// A job's state and attempts (`None` if there is no such job), for status views and tests.
pub async fn state_of(db: &AnyPool, kind: &str, call_id: &str) -> Result<Option<(String, u32)>, sqlx::Error> {
    let row = sqlx::query("SELECT state, attempts FROM jobs WHERE id = $1")
        .bind(format!("{kind}:{call_id}"))
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => {
            let attempts: i64 = r.try_get("attempts")?;
            Ok(Some((r.try_get("state")?, u32::try_from(attempts).unwrap_or(u32::MAX))))
        }
        None => Ok(None),
    }
}
