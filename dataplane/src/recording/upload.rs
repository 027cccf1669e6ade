//! The uploader thread: PUTs finalized WAVs to the bucket (a small current-thread tokio runtime,
//! never a shard), retries with capped backoff, and deletes the local file once the upload is
//! confirmed. Files whose upload never succeeded stay in the staging directory for the next
//! start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::sync::{Semaphore, mpsc, watch};

use super::{RecordingError, RecordingInfo, RecordingLocation, S3Target};

/// First retry delay; doubled after each failure up to [`BACKOFF_CAP`].
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Uploads in flight at once.
const PARALLEL: usize = 4;
/// Files up to this size go in one PUT; larger ones as a multipart upload.
const SINGLE_PUT_MAX: u64 = 16 << 20;
/// Multipart part size (S3's minimum is 5 MiB).
const PART: usize = 8 << 20;

type Done = crossbeam_channel::Sender<Result<RecordingInfo, RecordingError>>;

/// A finalized recording to upload.
pub(super) struct Job {
    /// The recording key.
    pub key: String,
    /// The finalized local file.
    pub path: PathBuf,
    /// What the writer knows of it (location still local).
    pub info: Option<RecordingInfo>,
    /// Where to report the outcome (`None` for files found at start).
    pub done: Option<Done>,
}

/// The running uploader: the writer sends jobs; closing the channel asks it to stop (each
/// pending upload gets one last attempt).
pub(super) struct Uploader {
    /// Job queue.
    pub tx: mpsc::UnboundedSender<Job>,
    /// The thread.
    pub thread: JoinHandle<()>,
}

struct Ctx {
    store: AmazonS3,
    target: S3Target,
    slots: Semaphore,
    pending: Arc<AtomicUsize>,
}

/// Starts the uploader thread for `target`; `pending` counts queued and in-flight uploads.
pub(super) fn spawn(target: S3Target, pending: Arc<AtomicUsize>) -> Result<Uploader, RecordingError> {
    let store = target.build()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        store,
        target,
        slots: Semaphore::new(PARALLEL),
        pending,
    });
    let thread = std::thread::Builder::new()
        .name("cxb-rec-upload".into())
        .spawn(move || rt.block_on(run(ctx, rx)))?;
    Ok(Uploader { tx, thread })
}

async fn run(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(job) = rx.recv().await {
        tasks.spawn(upload(ctx.clone(), job, stop_rx.clone()));
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

/// Uploads one file until it succeeds, or until shutdown after one last attempt.
async fn upload(ctx: Arc<Ctx>, job: Job, mut stop: watch::Receiver<bool>) {
    let object = ctx.target.object_name(&job.key);
    let mut backoff = BACKOFF_START;
    let mut attempt = 0u32;
    let result = loop {
        attempt += 1;
        let r = {
            let _slot = ctx.slots.acquire().await;
            put_file(&ctx.store, &object, &job.path).await
        };
        match r {
            Ok(()) => break Ok(()),
            Err(e) if *stop.borrow() => break Err(e),
            Err(e) => {
                if attempt == 1 || attempt.is_multiple_of(10) {
                    tracing::warn!(key = %job.key, attempt, error = %e, "recording upload failed; retrying");
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
    };
    ctx.pending.fetch_sub(1, Ordering::Relaxed);
    let outcome = match result {
        Ok(()) => {
            if let Err(e) = std::fs::remove_file(&job.path) {
                tracing::warn!(key = %job.key, error = %e, "uploaded recording could not be removed locally");
            }
            let location = RecordingLocation::S3 {
                bucket: ctx.target.bucket.clone(),
                object,
            };
            tracing::debug!(key = %job.key, %location, "recording uploaded");
            job.info.map(|info| Ok(RecordingInfo { location, ..info }))
        }
        Err(e) => {
            tracing::warn!(key = %job.key, attempts = attempt, error = %e,
                "recording upload failed at shutdown; kept for the next start");
            Some(Err(RecordingError::Upload {
                key: job.key,
                source: Box::new(e),
            }))
        }
    };
    if let (Some(done), Some(outcome)) = (job.done, outcome) {
        let _ = done.send(outcome);
    }
}

/// PUTs `path` as `object` (multipart above [`SINGLE_PUT_MAX`]).
async fn put_file(store: &AmazonS3, object: &str, path: &Path) -> Result<(), RecordingError> {
    let location = ObjectPath::parse(object)?;
    let size = std::fs::metadata(path)?.len();
    if size <= SINGLE_PUT_MAX {
        let bytes = std::fs::read(path)?;
        store.put(&location, PutPayload::from(bytes)).await?;
        return Ok(());
    }
    let upload = store.put_multipart(&location).await?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
    let sent = async {
        use std::io::Read;
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok::<(), RecordingError>(());
            }
            w.write(&buf[..n]);
            w.wait_for_capacity(2).await?;
        }
    }
    .await;
    match sent {
        Ok(()) => {
            w.finish().await?;
            Ok(())
        }
        Err(e) => {
            let _ = w.abort().await;
            Err(e)
        }
    }
}
