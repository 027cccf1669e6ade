//! The `cxb-records` worker: spools queued records, then POSTs spooled ones to control with
//! capped exponential backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use cxb_model::CallRecord;

use super::{CALLS_PATH, RecordSinkConfig, RecordsError, Shared, SpoolError};

/// How often a record the disk refused is written again.
const SPOOL_RETRY: Duration = Duration::from_secs(1);

/// Messages from the sink handle to the worker.
#[derive(Debug)]
pub(super) enum Msg {
    /// A call started: journal this provisional record (delivered only if the process dies
    /// before the call's final record arrives).
    Begin(Box<CallRecord>),
    /// Spool and deliver this record.
    Record(Box<CallRecord>),
    /// Reply with the number of records not on disk once all earlier messages are handled.
    Flush(Sender<usize>),
    /// Stop once queued records are spooled and delivery is done or the instant has passed.
    Shutdown(Instant),
}

/// `{control_url}/internal/v1/calls`, or `None` if the URL is not http(s).
pub(super) fn endpoint(control_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(control_url).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    Some(format!("{}{CALLS_PATH}", control_url.trim_end_matches('/')))
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// 2xx.
    Delivered,
    /// 409: control already has it.
    Duplicate,
    /// Control refuses this record as invalid.
    Rejected(u16),
    /// Network, timeout or server-side failure: retry everything later.
    Transient(String),
}

fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        409 => Outcome::Duplicate,
        400 | 413 | 415 | 422 => Outcome::Rejected(status),
        _ => Outcome::Transient(format!("HTTP {status}")),
    }
}

/// Capped exponential backoff: `initial × 2^(failures-1)`, at most `max`.
pub(super) fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(20);
    initial.saturating_mul(1 << shift).min(max)
}

struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    secret: String,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Http {
    fn post(&self, record: &CallRecord, limit: Duration) -> Outcome {
        self.rt.block_on(async {
            let send = self
                .client
                .post(&self.url)
                .bearer_auth(&self.secret)
                .json(record)
                .send();
            match tokio::time::timeout(limit, send).await {
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    let _ = resp.bytes().await;
                    classify(status)
                }
                Ok(Err(e)) => Outcome::Transient(e.to_string()),
                Err(_) => Outcome::Transient("timed out".into()),
            }
        })
    }
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    next_at: Instant,
    /// Set while the disk refuses the record.
    in_memory: Option<Box<CallRecord>>,
}

/// The worker's state; runs on its own thread.
#[derive(Debug)]
pub(super) struct Worker {
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    http: Option<Http>,
    backoff_initial: Duration,
    backoff_max: Duration,
    request_timeout: Duration,
    pending: HashMap<String, Pending>,
    seq: u64,
    failures: u32,
    retry_at: Instant,
    spool_retry_at: Instant,
    shutdown: Option<Instant>,
}

impl Worker {
    /// Builds the worker (runtime and HTTP client included) on the caller's thread.
    pub(super) fn new(
        cfg: &RecordSinkConfig,
        endpoint: Option<String>,
        shared: Arc<Shared>,
        rx: Receiver<Msg>,
    ) -> Result<Worker, RecordsError> {
        let http = match endpoint {
            Some(url) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(RecordsError::Start)?;
                let client = {
                    let _guard = rt.enter();
                    reqwest::Client::builder()
                        .timeout(cfg.request_timeout)
                        .connect_timeout(cfg.request_timeout)
                        .build()
                        .map_err(RecordsError::Http)?
                };
                Some(Http {
                    rt,
                    client,
                    url,
                    secret: cfg.secret.clone(),
                })
            }
            None => None,
        };
        let now = Instant::now();
        Ok(Worker {
            shared,
            rx,
            http,
            backoff_initial: cfg.backoff_initial,
            backoff_max: cfg.backoff_max.max(cfg.backoff_initial),
            request_timeout: cfg.request_timeout,
            pending: HashMap::new(),
            seq: 0,
            failures: 0,
            retry_at: now,
            spool_retry_at: now,
            shutdown: None,
        })
    }

    /// Re-queues the spool, then serves messages and deliveries until shut down.
    pub(super) fn run(mut self) {
        self.rescan();
        loop {
            let msg = match self.next_wake() {
                Some(at) => self.rx.recv_deadline(at),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.shutdown.get_or_insert_with(Instant::now);
                }
            }
            self.drain();
            self.retry_spool();
            self.deliver_due();
            if let Some(deadline) = self.shutdown {
                let done = self.http.is_none() || self.pending.is_empty();
                if done || Instant::now() >= deadline {
                    break;
                }
            }
        }
        let in_memory = self.pending.values().filter(|p| p.in_memory.is_some()).count();
        if in_memory > 0 {
            tracing::error!(
                count = in_memory,
                "records worker stopped with records the disk refused"
            );
        }
    }

    /// Calls journalled as started by a process that died before they ended: their
    /// provisional records (ended by `error`) move to the spool.
    fn recover_active(&mut self) {
        let Ok(ids) = self.shared.active.list() else { return };
        for id in ids {
            match self.shared.active.get(&id) {
                Ok(Some(record)) => match self.shared.spool.put(&record) {
                    Ok(()) => {
                        let _ = self.shared.active.remove(&id);
                        tracing::warn!(session_id = %id, "call interrupted by a dataplane stop: recorded as error");
                    }
                    Err(e) => tracing::error!(session_id = %id, error = %e, "cannot recover journalled call"),
                },
                Ok(None) => {}
                Err(e) => tracing::error!(session_id = %id, error = %e, "journalled call record unreadable"),
            }
        }
    }

    fn rescan(&mut self) {
        self.recover_active();
        match self.shared.spool.list() {
            Ok(ids) => {
                let now = Instant::now();
                for id in ids {
                    self.enqueue(id, now, None);
                }
                if !self.pending.is_empty() {
                    tracing::info!(count = self.pending.len(), "re-sending spooled call records");
                }
            }
            Err(e) => {
                self.shared.stats.spool_errors.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "cannot list the records spool");
            }
        }
    }

    fn enqueue(&mut self, id: String, next_at: Instant, in_memory: Option<Box<CallRecord>>) {
        self.seq += 1;
        let seq = self.seq;
        let p = self.pending.entry(id).or_insert(Pending {
            seq,
            next_at,
            in_memory: None,
        });
        p.next_at = p.next_at.min(next_at);
        p.in_memory = in_memory;
        self.shared.stats.pending.store(self.pending.len() as u64, Relaxed);
    }

    fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut consider = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if self.http.is_some()
            && let Some(first) = self.pending.values().map(|p| p.next_at).min()
        {
            consider(first.max(self.retry_at));
        }
        if self.pending.values().any(|p| p.in_memory.is_some()) {
            consider(self.spool_retry_at);
        }
        if let Some(deadline) = self.shutdown {
            consider(deadline);
        }
        wake
    }

    fn drain(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => self.handle(msg),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.shutdown.get_or_insert_with(Instant::now);
                    return;
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Begin(record) => {
                if let Err(e) = self.shared.active.put(&record) {
                    tracing::warn!(session_id = %record.session_id, error = %e, "cannot journal call start");
                }
            }
            Msg::Record(record) => {
                let _ = self.shared.active.remove(&record.session_id);
                self.spool(record)
            }
            Msg::Flush(reply) => {
                let count = self.pending.values().filter(|p| p.in_memory.is_some()).count();
                let _ = reply.send(count);
            }
            Msg::Shutdown(deadline) => self.shutdown = Some(deadline),
        }
    }

    fn spool(&mut self, record: Box<CallRecord>) {
        let id = record.session_id.clone();
        match self.shared.spool.put(&record) {
            Ok(()) => {
                self.shared.stats.spooled.fetch_add(1, Relaxed);
                self.enqueue(id, Instant::now(), None);
            }
            Err(e @ SpoolError::BadSessionId { .. }) | Err(e @ SpoolError::Serialize { .. }) => {
                // Cannot be spooled ever: deliver from memory (this process only).
                self.shared.stats.spool_errors.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "call record cannot be spooled; delivering from memory only");
                self.enqueue(id, Instant::now(), Some(record));
            }
            Err(e) => {
                self.shared.stats.spool_errors.fetch_add(1, Relaxed);
                tracing::error!(session_id = %id, error = %e, "spooling call record failed; retrying");
                self.spool_retry_at = Instant::now() + SPOOL_RETRY;
                self.enqueue(id, Instant::now(), Some(record));
            }
        }
    }

    fn retry_spool(&mut self) {
        let now = Instant::now();
        if now < self.spool_retry_at {
            return;
        }
        let mut failed = false;
        for p in self.pending.values_mut() {
            let Some(record) = &p.in_memory else { continue };
            match self.shared.spool.put(record) {
                Ok(()) => {
                    self.shared.stats.spooled.fetch_add(1, Relaxed);
                    p.in_memory = None;
                }
                Err(SpoolError::BadSessionId { .. }) | Err(SpoolError::Serialize { .. }) => {}
                Err(_) => failed = true,
            }
        }
        if failed {
            self.spool_retry_at = now + SPOOL_RETRY;
        }
    }

    /// The due record with the earliest retry time (oldest first among equals).
    fn next_due(&self, now: Instant) -> Option<String> {
        self.pending
            .iter()
            .filter(|(_, p)| p.next_at <= now)
            .min_by_key(|(_, p)| (p.next_at, p.seq))
            .map(|(id, _)| id.clone())
    }

    fn deliver_due(&mut self) {
        if self.http.is_none() {
            return;
        }
        loop {
            let now = Instant::now();
            if now < self.retry_at {
                return;
            }
            let limit = match self.shutdown {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => self.request_timeout.min(deadline - now),
                None => self.request_timeout,
            };
            let Some(id) = self.next_due(now) else { return };
            if !self.attempt(&id, limit) {
                return;
            }
            // Keep spooling new records between posts of a long backlog.
            self.drain();
        }
    }

    /// Tries one record; `false` stops this round (control is unreachable or failing).
    fn attempt(&mut self, id: &str, limit: Duration) -> bool {
        let stats = &self.shared.stats;
        let from_disk;
        let record = match self.pending.get(id).and_then(|p| p.in_memory.as_deref()) {
            Some(r) => r,
            None => match self.shared.spool.get(id) {
                Ok(Some(r)) => {
                    from_disk = r;
                    &from_disk
                }
                Ok(None) => {
                    self.forget(id);
                    return true;
                }
                Err(e @ SpoolError::Corrupt { .. }) => {
                    stats.corrupt.fetch_add(1, Relaxed);
                    tracing::error!(session_id = %id, error = %e, "corrupt spooled call record");
                    self.forget(id);
                    return true;
                }
                Err(e) => {
                    stats.spool_errors.fetch_add(1, Relaxed);
                    tracing::error!(session_id = %id, error = %e, "reading spooled call record failed");
                    if let Some(p) = self.pending.get_mut(id) {
                        p.next_at = Instant::now() + self.backoff_max;
                    }
                    return true;
                }
            },
        };
        let Some(http) = &self.http else { return false };
        let outcome = http.post(record, limit);
        let now = Instant::now();
        match outcome {
            Outcome::Delivered | Outcome::Duplicate => {
                if outcome == Outcome::Duplicate {
                    stats.duplicates.fetch_add(1, Relaxed);
                } else {
                    stats.delivered.fetch_add(1, Relaxed);
                }
                self.failures = 0;
                match self.shared.spool.remove(id) {
                    Ok(()) | Err(SpoolError::BadSessionId { .. }) => {}
                    Err(e) => {
                        // It will be sent again at the next start and answered with 409.
                        stats.spool_errors.fetch_add(1, Relaxed);
                        tracing::warn!(session_id = %id, error = %e, "removing delivered record from the spool failed");
                    }
                }
                self.forget(id);
                true
            }
            Outcome::Rejected(status) => {
                stats.rejected.fetch_add(1, Relaxed);
                tracing::warn!(session_id = %id, status, "control rejected a call record; keeping it spooled");
                if let Some(p) = self.pending.get_mut(id) {
                    p.next_at = now + self.backoff_max;
                }
                true
            }
            Outcome::Transient(reason) => {
                stats.failed_attempts.fetch_add(1, Relaxed);
                self.failures = self.failures.saturating_add(1);
                let delay = backoff(self.backoff_initial, self.backoff_max, self.failures);
                let retry_in_ms = delay.as_millis() as u64;
                tracing::warn!(session_id = %id, %reason, retry_in_ms, "delivering call record failed");
                self.retry_at = now + delay;
                false
            }
        }
    }

    fn forget(&mut self, id: &str) {
        self.pending.remove(id);
        self.shared.stats.pending.store(self.pending.len() as u64, Relaxed);
    }
}
