//! The post-call pipeline: a durable job queue in the database (it survives restarts) and a
//! worker that runs it.
//!
//! [`enqueue`] adds a `postcall` job when a call is ingested. The [`Worker`] leases due jobs
//! atomically, runs them, marks them done, or re-queues them with exponential backoff until the
//! kind's attempt limit ([`RetryPolicy`]); jobs a crashed worker left `running` are re-queued when
//! a worker starts (and any still `running` after [`WorkerConfig::stale_after`]).
//!
//! - `postcall`: a call where the customer never spoke gets
//!   `{"disposition": "no_customer_speech", "auto": true}` without an LLM call; otherwise the
//!   bot's analysis and QC prompts (each only when set) run through its LLM ([`crate::llm`]) — or
//!   locally for the embedded/sim LLM ([`local`]) — into `analysis_json`, `qc_json` and
//!   `postcall_usage_json` (`{cached_read, cache_created, fresh, completion}`). Then the CRM push
//!   is queued (also when the analysis failed for good).
//! - `crm_push`: one attempt of [`crate::crm::push_call`] per run.
//!
//! [`cache`] holds the per-bot prompt-cache switch and version.

pub(crate) mod analysis;
pub mod cache;
pub mod local;
pub mod queue;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::time::Duration;

use sqlx::AnyPool;
use tokio::task::{JoinHandle, JoinSet};

pub use cache::CacheStatus;
pub use queue::Job;

use crate::db::now_ms;
use crate::error::ApiError;
use crate::llm::LlmError;
use crate::state::AppState;

/// Why a job run failed.
#[derive(Debug, thiserror::Error)]
pub enum PostcallError {
    /// The call is not in the database.
    #[error("call {0} not found")]
    CallNotFound(String),
    /// A query failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored JSON document (call record, bot config) does not parse.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading settings (provider keys, cache state) failed.
    #[error("settings: {0}")]
    Settings(#[source] ApiError),
    /// A post-call prompt failed.
    #[error("{prompt} prompt: {source}")]
    Llm {
        /// `analysis` or `qc`.
        prompt: &'static str,
        /// The LLM failure.
        #[source]
        source: LlmError,
    },
    /// The CRM push failed.
    #[error("{0}")]
    Crm(#[source] crate::crm::PushError),
    /// A job of a kind this version does not know.
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
}

impl PostcallError {
    /// Whether running the job again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PostcallError::Db(_) | PostcallError::Settings(_) => true,
            PostcallError::Llm { source, .. } => source.is_retryable(),
            PostcallError::Crm(e) => e.is_retryable(),
            PostcallError::CallNotFound(_) | PostcallError::Json(_) | PostcallError::UnknownKind(_) => false,
        }
    }

    /// The least wait the far side asked for (HTTP 429 `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PostcallError::Llm { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}

/// Queues the post-call job of a newly ingested call (a repeat for the same call is a no-op).
pub async fn enqueue(db: &AnyPool, call_id: &str, now_ms: i64) -> Result<(), sqlx::Error> {
    queue::insert(db, queue::KIND_POSTCALL, call_id, now_ms, now_ms).await
}

/// Attempts and backoff of one job kind: attempt `n` failing waits `base · 2^(n-1)` (at most
/// `max`) before attempt `n + 1`; after `attempts` attempts the job is `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Wait after the first failure.
    pub base: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// How the worker polls and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Sleep between polls when there is nothing to do.
    pub poll: Duration,
    /// Jobs run at the same time.
    pub concurrency: u32,
    /// Retries of the `postcall` job (LLM failures).
    pub postcall_retry: RetryPolicy,
    /// Retries of the `crm_push` job (5 attempts: 1 s, 2 s, 4 s, 8 s by default).
    pub crm_retry: RetryPolicy,
    /// Timeout of one CRM request.
    pub crm_timeout: Duration,
    /// A job `running` longer than this is presumed orphaned and re-queued.
    pub stale_after: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll: Duration::from_millis(500),
            concurrency: 4,
            postcall_retry: RetryPolicy {
                attempts: 4,
                base: Duration::from_secs(10),
                max: Duration::from_secs(600),
            },
            crm_retry: RetryPolicy {
                attempts: 5,
                base: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            crm_timeout: crate::crm::DEFAULT_TIMEOUT,
            stale_after: Duration::from_secs(900),
        }
    }
}

/// The post-call worker (a tokio task; abort its handle to stop it).
#[derive(Debug)]
pub struct Worker;

impl Worker {
    /// Starts the worker with [`WorkerConfig::default`].
    pub fn spawn(state: AppState) -> JoinHandle<()> {
        Worker::spawn_with(state, WorkerConfig::default())
    }

    /// Starts the worker with `cfg`.
    pub fn spawn_with(state: AppState, cfg: WorkerConfig) -> JoinHandle<()> {
        tokio::spawn(run_loop(state, cfg))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn run_loop(state: AppState, cfg: WorkerConfig) {
    match queue::requeue_running(&state.db, i64::MAX, now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "post-call: re-queued jobs left running by a previous worker"),
        Err(e) => tracing::warn!(error = %e, "post-call: re-queueing orphaned jobs failed"),
    }
    let mut running: JoinSet<()> = JoinSet::new();
    let mut last_stale_check = tokio::time::Instant::now();
    let concurrency = cfg.concurrency.max(1);
    loop {
        if last_stale_check.elapsed() >= cfg.stale_after.min(Duration::from_secs(60)) {
            last_stale_check = tokio::time::Instant::now();
            let now = now_ms();
            if let Err(e) = queue::requeue_running(&state.db, now - ms(cfg.stale_after), now).await {
                tracing::warn!(error = %e, "post-call: re-queueing stale jobs failed");
            }
        }
        let free = concurrency.saturating_sub(u32::try_from(running.len()).unwrap_or(u32::MAX));
        if free > 0 {
            match queue::lease(&state.db, now_ms(), free).await {
                Ok(jobs) => {
                    for job in jobs {
                        let state = state.clone();
                        running.spawn(async move { run_job(&state, &cfg, job).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "post-call: leasing jobs failed"),
            }
        }
        if running.is_empty() {
            tokio::time::sleep(cfg.poll).await;
        } else {
            tokio::select! {
                _ = running.join_next() => {}
                _ = tokio::time::sleep(cfg.poll) => {}
            }
        }
    }
}

/// Runs one leased job and records the outcome.
async fn run_job(state: &AppState, cfg: &WorkerConfig, job: Job) {
    let (policy, result) = match job.kind.as_str() {
        queue::KIND_POSTCALL => (cfg.postcall_retry, analysis::run(state, &job.call_id).await),
        queue::KIND_CRM_PUSH => {
            let last = job.attempt >= cfg.crm_retry.attempts;
            let r = crate::crm::push_call(state, &job.call_id, job.attempt, last, cfg.crm_timeout).await;
            (cfg.crm_retry, r)
        }
        other => (cfg.postcall_retry, Err(PostcallError::UnknownKind(other.to_owned()))),
    };
    let now = now_ms();
    let outcome = match &result {
        Ok(()) => {
            state.metrics.job(&job.kind, "done");
            queue::finish(&state.db, &job.id, now).await
        }
        Err(e) => {
            let retry = e.is_retryable() && job.attempt < policy.attempts;
            state.metrics.job(&job.kind, if retry { "retry" } else { "failed" });
            let wait = policy.delay(job.attempt).max(e.retry_after().unwrap_or_default());
            let at = retry.then(|| now + ms(wait));
            tracing::warn!(job = %job.id, attempt = job.attempt, retry, error = %e, "post-call job failed");
            queue::fail(&state.db, &job.id, &e.to_string(), at, now).await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(job = %job.id, error = %e, "post-call: recording the job outcome failed");
    }
    // The CRM still gets the call when its analysis failed for good.
    if let Err(e) = &result
        && job.kind == queue::KIND_POSTCALL
        && !(e.is_retryable() && job.attempt < policy.attempts)
        && !matches!(e, PostcallError::CallNotFound(_))
    {
        let bot = match analysis::load_call(&state.db, &job.call_id).await {
            Ok(c) => analysis::load_bot(&state.db, &c.record.bot_id).await.ok().flatten(),
            Err(_) => None,
        };
        if let Err(e) = analysis::enqueue_crm(state, &job.call_id, bot.as_ref()).await {
            tracing::warn!(job = %job.id, error = %e, "post-call: queueing the CRM push failed");
        }
    }
}
