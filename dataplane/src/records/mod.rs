//! Call records: no record is ever lost.
//!
//! A shard hands a finished [`CallRecord`] to [`RecordSink::submit`], which only queues it on a
//! crossbeam channel (no I/O on the shard). The sink's own thread (`cxb-records`, a small
//! current-thread tokio runtime, never a shard) first writes the record durably to the
//! [`Spool`] (`<spool_dir>/<session_id>.json`: tmp file, fsync, rename, fsync dir), and only then
//! POSTs it to `{control_url}/internal/v1/calls` with `Authorization: Bearer <secret>`. The
//! file is removed on `2xx`, or `409` (control already has it). Anything else keeps the file
//! and retries with capped exponential backoff. At start the spool is re-scanned, so records
//! left by a crashed or stopped process are sent again; control de-duplicates by `session_id`.
//!
//! # Guarantees
//! - When `submit` returns `Ok`, the record is queued; it is on disk once a later
//!   [`RecordSink::flush`] returns `Ok` (FIFO), or once [`RecordSink::shutdown`] returns.
//!   A crash of the whole process between `submit` and the spool write loses the queued
//!   records (typically well under a millisecond's worth).
//! - If the worker thread is gone, `submit` writes to the spool itself before returning.
//! - If the disk refuses a write, the record stays in memory, is retried every second and is
//!   still delivered from memory.
//! - Records rejected by control as invalid (`400`, `413`, `415`, `422`) stay in the spool and
//!   are retried at the maximum backoff without holding up other records.
//! - With `control_url: None` (embedded mode before control exists) records only accumulate
//!   in the spool.

mod delivery;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use cxb_model::CallRecord;
use serde::Serialize;

pub use spool::{Spool, SpoolError};

use delivery::{Msg, Worker};

/// Path of the endpoint on control that takes call records.
pub const CALLS_PATH: &str = "/internal/v1/calls";

/// Errors of the record sink.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// `control_url` is not an `http://` or `https://` URL.
    #[error("control url {url:?} is not an http(s) URL")]
    BadControlUrl {
        /// The URL given.
        url: String,
    },
    /// The worker thread or its runtime could not be started.
    #[error("starting the records worker: {0}")]
    Start(#[source] std::io::Error),
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    /// The worker thread has stopped.
    #[error("the records worker has stopped")]
    WorkerGone,
    /// `flush` did not finish in time.
    #[error("flush did not finish within {0:?}")]
    FlushTimeout(Duration),
    /// Some records could not be written to disk (they are held in memory and retried).
    #[error("{count} records are not on disk yet")]
    NotOnDisk {
        /// How many.
        count: usize,
    },
}

/// Configuration of a [`RecordSink`].
#[derive(Clone)]
pub struct RecordSinkConfig {
    /// Spool directory (default `./data/spool/records`).
    pub spool_dir: PathBuf,
    /// Control's base URL, e.g. `http://127.0.0.1:8080`; `None` keeps records in the spool.
    pub control_url: Option<String>,
    /// Shared secret sent as `Authorization: Bearer <secret>`.
    pub secret: String,
    /// First retry delay after a failure (default 0.5 s).
    pub backoff_initial: Duration,
    /// Longest retry delay (default 30 s).
    pub backoff_max: Duration,
    /// Timeout of one POST (default 10 s).
    pub request_timeout: Duration,
}

impl std::fmt::Debug for RecordSinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSinkConfig")
            .field("spool_dir", &self.spool_dir)
            .field("control_url", &self.control_url)
            .field("secret", &"<redacted>")
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for RecordSinkConfig {
    fn default() -> RecordSinkConfig {
        RecordSinkConfig {
            spool_dir: Spool::default_dir(),
            control_url: None,
            secret: String::new(),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RecordSinkConfig {
    /// Defaults with the given spool directory, control URL and secret.
    pub fn new(spool_dir: impl Into<PathBuf>, control_url: Option<String>, secret: impl Into<String>) -> Self {
        RecordSinkConfig {
            spool_dir: spool_dir.into(),
            control_url,
            secret: secret.into(),
            ..Default::default()
        }
    }
}

/// Counters of a [`RecordSink`] (since it started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    /// Records handed to `submit`.
    pub submitted: u64,
    /// Records written to the spool.
    pub spooled: u64,
    /// Records control accepted (2xx).
    pub delivered: u64,
    /// Records control already had (409); also removed from the spool.
    pub duplicates: u64,
    /// POSTs that failed (network, timeout, 5xx, 401 …) and will be retried.
    pub failed_attempts: u64,
    /// POSTs control refused as invalid (400/413/415/422); the record stays spooled.
    pub rejected: u64,
    /// Spool files found corrupt and moved to `*.bad`.
    pub corrupt: u64,
    /// Spool writes or reads that failed.
    pub spool_errors: u64,
    /// Records spooled (or held in memory) and not yet delivered.
    pub pending: u64,
}

#[derive(Debug, Default)]
struct Stats {
    submitted: AtomicU64,
    spooled: AtomicU64,
    delivered: AtomicU64,
    duplicates: AtomicU64,
    failed_attempts: AtomicU64,
    rejected: AtomicU64,
    corrupt: AtomicU64,
    spool_errors: AtomicU64,
    pending: AtomicU64,
}

impl Stats {
    fn snapshot(&self) -> SinkStats {
        SinkStats {
            submitted: self.submitted.load(Relaxed),
            spooled: self.spooled.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            failed_attempts: self.failed_attempts.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
            spool_errors: self.spool_errors.load(Relaxed),
            pending: self.pending.load(Relaxed),
        }
    }
}

/// Ends `record` as a call the dataplane stopped during (`error`, with a fatal service error at
/// `at_ms`): the provisional record journalled by [`RecordSink::begin`].
pub fn mark_interrupted(record: &mut CallRecord, at_ms: u64) {
    record.service_errors.push(cxb_model::record::ServiceError {
        service: cxb_model::record::ServiceKind::Other,
        stage: "dataplane".into(),
        at_ms,
        fatal: true,
        message: "the dataplane stopped during the call".into(),
    });
    record.finish(cxb_model::Timestamp::now(), cxb_model::DisconnectedBy::Error);
}

/// Where provisional records of calls in progress live: beside the spool, `<spool_dir>.active`.
pub fn active_dir(spool_dir: &Path) -> PathBuf {
    let mut name = spool_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "records".into());
    name.push(".active");
    spool_dir.with_file_name(name)
}

/// State shared by the sink handle and its worker.
#[derive(Debug)]
struct Shared {
    spool: Spool,
    /// Provisional records of calls in progress (`<spool_dir>.active/`).
    active: Spool,
    stats: Stats,
}

/// Spools call records and delivers them to control from a background thread.
#[derive(Debug)]
pub struct RecordSink {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl RecordSink {
    /// Opens (and locks) the spool, then starts the worker, which first re-queues every record
    /// already in the spool.
    pub fn start(cfg: RecordSinkConfig) -> Result<RecordSink, RecordsError> {
        let endpoint = match &cfg.control_url {
            Some(url) => Some(delivery::endpoint(url).ok_or_else(|| RecordsError::BadControlUrl { url: url.clone() })?),
            None => None,
        };
        let spool = Spool::open(&cfg.spool_dir)?;
        let active = Spool::open(active_dir(&cfg.spool_dir))?;
        let shared = Arc::new(Shared {
            spool,
            active,
            stats: Stats::default(),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let worker = Worker::new(&cfg, endpoint, Arc::clone(&shared), rx)?;
        let handle = std::thread::Builder::new()
            .name("cxb-records".into())
            .spawn(move || worker.run())
            .map_err(RecordsError::Start)?;
        Ok(RecordSink {
            tx,
            shared,
            worker: Some(handle),
        })
    }

    /// Journals the provisional record of a call that just started (typically ended by `error`
    /// with a service error saying the dataplane stopped). If the process dies before
    /// [`RecordSink::submit`] brings the final record, the next start delivers this one, so control
    /// learns the call ended. Never blocks.
    pub fn begin(&self, provisional: CallRecord) {
        let _ = self.tx.send(Msg::Begin(Box::new(provisional)));
    }

    /// Queues `record` for spooling and delivery without blocking. If the worker is gone, the
    /// record is written to the spool on the caller's thread before this returns.
    pub fn submit(&self, record: CallRecord) -> Result<(), RecordsError> {
        self.shared.stats.submitted.fetch_add(1, Relaxed);
        match self.tx.send(Msg::Record(Box::new(record))) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::SendError(msg)) => {
                let Msg::Record(record) = msg else {
                    return Err(RecordsError::WorkerGone);
                };
                self.shared.spool.put(&record).inspect_err(|_| {
                    self.shared.stats.spool_errors.fetch_add(1, Relaxed);
                })?;
                self.shared.stats.spooled.fetch_add(1, Relaxed);
                Ok(())
            }
        }
    }

    /// Blocks until every record submitted before this call is on disk, at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), RecordsError> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.tx
            .send(Msg::Flush(reply_tx))
            .map_err(|_| RecordsError::WorkerGone)?;
        match reply_rx.recv_timeout(timeout) {
            Ok(0) => Ok(()),
            Ok(count) => Err(RecordsError::NotOnDisk { count }),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(RecordsError::FlushTimeout(timeout)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(RecordsError::WorkerGone),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> SinkStats {
        self.shared.stats.snapshot()
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> &Path {
        self.shared.spool.dir()
    }

    /// Stops the worker: everything queued is spooled, then delivery goes on until the spool is
    /// empty or `grace` has passed; what is left stays in the spool for the next start.
    pub fn shutdown(mut self, grace: Duration) -> SinkStats {
        self.stop(grace);
        self.stats()
    }

    fn stop(&mut self, grace: Duration) {
        if let Some(handle) = self.worker.take() {
            let _ = self.tx.send(Msg::Shutdown(Instant::now() + grace));
            if handle.join().is_err() {
                tracing::error!("records worker panicked");
            }
        }
    }
}

impl Drop for RecordSink {
    /// Spools everything queued (no further delivery attempt) and joins the worker.
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests;
