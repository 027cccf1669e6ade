//! Call recording: stereo 16-bit WAV files (caller left, bot right), written by one background
//! thread per process so that shards never block on disk.
//!
//! A shard [`RecorderService::open`]s a [`RecordingHandle`] per call and pushes each tick's
//! caller and bot frames with [`RecordingHandle::push_stereo`] (an `rtrb` ring: never blocks;
//! when the writer falls behind, frames are dropped and counted). [`RecordingHandle::finish`]
//! hands back a [`RecordingDone`] to poll for the [`RecordingInfo`] (bytes, duration, where it
//! ended up) once the recording is stored.
//!
//! The writer always finalizes a local file first (`<key>.wav.part`, renamed to `<key>.wav`
//! when complete). With [`Storage::Local`] that file is the recording. With [`Storage::S3`] the
//! writer hands it to an uploader thread that PUTs it as `<prefix>/<key>.wav`, retrying with
//! capped backoff, and deletes the local copy once the upload is confirmed; WAVs still in the
//! staging directory at start (a crash, or an outage at shutdown) are uploaded again.

#[cfg(test)]
mod s3_tests;
mod storage;
#[cfg(test)]
mod tests;
mod upload;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rtrb::{Producer, RingBuffer};

pub use storage::{RecordingLocation, S3Target, Storage};
use writer::Command;

/// Ring capacity per recording: 2 s of stereo audio at 48 kHz (the writer drains every 20 ms).
const RING_SECONDS: usize = 2;

/// Errors of the recorder.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The recording key is not a safe relative path.
    #[error("invalid recording key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The sample rate is not one we record at.
    #[error("unsupported recording rate {rate} Hz (8000, 16000, 24000 or 48000)")]
    UnsupportedRate {
        /// The rate.
        rate: u32,
    },
    /// The writer thread is gone.
    #[error("recorder service stopped")]
    Stopped,
    /// A file or directory operation failed.
    #[error("recording i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The WAV writer failed.
    #[error("wav: {0}")]
    Wav(#[from] hound::Error),
    /// A `--recordings` URL is not one we understand.
    #[error("invalid recordings URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The object store rejected a configuration or a request.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// An object name could not be formed.
    #[error("object name: {0}")]
    ObjectName(#[from] object_store::path::Error),
    /// The upload had not succeeded when the service stopped; the file stays in the staging
    /// directory and is uploaded at the next start.
    #[error("upload of recording {key} failed (kept for the next start): {source}")]
    Upload {
        /// The recording key.
        key: String,
        /// The last attempt's error.
        source: Box<RecordingError>,
    },
}

/// Checks that a key is a relative path of plain segments (`2026/11/21/<session_id>`).
pub fn validate_key(key: &str) -> Result<(), RecordingError> {
    let bad = |reason| Err(RecordingError::InvalidKey { reason });
    if key.is_empty() || key.len() > 512 {
        return bad("empty or longer than 512 bytes");
    }
    if key.starts_with('/') || key.contains('\\') || key.contains(':') {
        return bad("absolute path or drive/backslash");
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad("empty, '.' or '..' segment");
        }
        if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return bad("characters other than A-Z a-z 0-9 - _ . /");
        }
    }
    Ok(())
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The key it was opened with.
    pub key: String,
    /// The local file written (with S3, the staging file, removed once uploaded).
    pub path: PathBuf,
    /// Where the recording is stored: the local file, or `s3://bucket/prefix/key.wav`.
    pub location: RecordingLocation,
    /// File size in bytes.
    pub bytes: u64,
    /// Stereo frames written.
    pub frames: u64,
    /// Audio duration.
    pub duration: Duration,
    /// Stereo frames dropped because the writer fell behind.
    pub dropped_frames: u64,
}

/// The process-wide recording writer. Cheap to share (`open` takes `&self`); dropping it
/// finalizes open recordings and joins the thread.
#[derive(Debug)]
pub struct RecorderService {
    tx: Sender<Command>,
    storage: Storage,
    thread: Option<JoinHandle<()>>,
    uploader: Option<JoinHandle<()>>,
    uploads: Arc<AtomicUsize>,
    next_id: std::sync::atomic::AtomicU64,
}

impl RecorderService {
    /// Starts the writer thread for local files under `root` (created if missing).
    pub fn start(root: impl Into<PathBuf>) -> Result<RecorderService, RecordingError> {
        RecorderService::with_storage(Storage::Local { root: root.into() })
    }

    /// Starts the writer thread (and for S3 the uploader, which first queues the WAVs left
    /// in the staging directory) for `storage`.
    pub fn with_storage(storage: Storage) -> Result<RecorderService, RecordingError> {
        std::fs::create_dir_all(storage.local_root())?;
        let uploads = Arc::new(AtomicUsize::new(0));
        let uploader = match &storage {
            Storage::Local { .. } => None,
            Storage::S3(target) => {
                let up = upload::spawn(target.clone(), uploads.clone())?;
                for (key, path) in storage::staged(&target.staging) {
                    uploads.fetch_add(1, Ordering::Relaxed);
                    let job = upload::Job {
                        key,
                        path,
                        info: None,
                        done: None,
                    };
                    let _ = up.tx.send(job);
                }
                Some(up)
            }
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let st = storage.clone();
        let (up_tx, up_thread) = match uploader {
            Some(u) => (Some(u.tx), Some(u.thread)),
            None => (None, None),
        };
        let pending = uploads.clone();
        let thread = std::thread::Builder::new()
            .name("cxb-recorder".into())
            .spawn(move || writer::run(&st, &rx, up_tx.as_ref(), &pending))?;
        Ok(RecorderService {
            tx,
            storage,
            thread: Some(thread),
            uploader: up_thread,
            uploads,
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Uploads queued or in flight (always 0 for local storage).
    pub fn uploads_pending(&self) -> usize {
        self.uploads.load(Ordering::Relaxed)
    }

    /// The storage recordings go to.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Opens a stereo recording at `rate` Hz to be stored as `<recording_key>.wav`. The key is
    /// checked here; file errors are reported through [`RecordingDone`] when finishing.
    pub fn open(&self, recording_key: &str, rate: u32) -> Result<RecordingHandle, RecordingError> {
        validate_key(recording_key)?;
        if ![8000, 16_000, 24_000, 48_000].contains(&rate) {
            return Err(RecordingError::UnsupportedRate { rate });
        }
        let (producer, consumer) = RingBuffer::new(2 * RING_SECONDS * rate as usize);
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx
            .send(Command::Open {
                id,
                key: recording_key.to_owned(),
                rate,
                consumer,
                done: done_tx,
            })
            .map_err(|_| RecordingError::Stopped)?;
        Ok(RecordingHandle {
            id,
            producer,
            tx: self.tx.clone(),
            done: Some(done_rx),
            dropped: 0,
        })
    }
}

impl Drop for RecorderService {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The writer dropped the uploader's queue: pending uploads get one last attempt.
        if let Some(t) = self.uploader.take() {
            let _ = t.join();
        }
    }
}

/// One call's recording, owned by the shard. Dropping it without [`finish`](Self::finish)
/// finalizes the file too.
#[derive(Debug)]
pub struct RecordingHandle {
    id: u64,
    producer: Producer<i16>,
    tx: Sender<Command>,
    done: Option<Receiver<Result<RecordingInfo, RecordingError>>>,
    dropped: u64,
}

impl RecordingHandle {
    /// Appends one frame of caller (left) and bot (right) audio; the shorter side is padded
    /// with silence. Never blocks: when the ring is full the frame is dropped and counted.
    pub fn push_stereo(&mut self, caller: &[i16], bot: &[i16]) {
        let n = caller.len().max(bot.len());
        match self.producer.write_chunk_uninit(2 * n) {
            Ok(chunk) => {
                let samples =
                    (0..n).flat_map(|i| [caller.get(i).copied().unwrap_or(0), bot.get(i).copied().unwrap_or(0)]);
                chunk.fill_from_iter(samples);
            }
            Err(_) => self.dropped += n as u64,
        }
    }

    /// Stereo frames dropped so far because the writer fell behind.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Ends the recording; the writer drains what was pushed and finalizes the file.
    pub fn finish(mut self) -> RecordingDone {
        RecordingDone { rx: self.send_finish() }
    }

    fn send_finish(&mut self) -> Option<Receiver<Result<RecordingInfo, RecordingError>>> {
        let rx = self.done.take()?;
        let sent = self.tx.send(Command::Finish {
            id: self.id,
            dropped: self.dropped,
        });
        sent.ok().map(|_| rx)
    }
}

impl Drop for RecordingHandle {
    fn drop(&mut self) {
        let _ = self.send_finish();
    }
}

/// The completion of a finished recording.
#[derive(Debug)]
pub struct RecordingDone {
    rx: Option<Receiver<Result<RecordingInfo, RecordingError>>>,
}

impl RecordingDone {
    /// The outcome once the writer is done (`None` while it is still writing).
    pub fn poll(&self) -> Option<Result<RecordingInfo, RecordingError>> {
        match &self.rx {
            Some(rx) => match rx.try_recv() {
                Ok(r) => Some(r),
                Err(crossbeam_channel::TryRecvError::Empty) => None,
                Err(crossbeam_channel::TryRecvError::Disconnected) => Some(Err(RecordingError::Stopped)),
            },
            None => Some(Err(RecordingError::Stopped)),
        }
    }

    /// Blocks up to `timeout` for the outcome (not for shard threads: tests and shutdown).
    pub fn wait(&self, timeout: Duration) -> Option<Result<RecordingInfo, RecordingError>> {
        match &self.rx {
            Some(rx) => match rx.recv_timeout(timeout) {
                Ok(r) => Some(r),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Some(Err(RecordingError::Stopped)),
            },
            None => Some(Err(RecordingError::Stopped)),
        }
    }
}
