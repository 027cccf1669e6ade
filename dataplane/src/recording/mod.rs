//! Call recording: stereo 16-bit WAV files (caller left, bot right), written by one background
//! thread per process so that shards never block on disk.
//!
//! A shard [`RecorderService::open`]s a [`RecordingHandle`] per call and pushes each tick's
//! caller and bot frames with [`RecordingHandle::push_stereo`] (an `rtrb` ring: never blocks;
//! when the writer falls behind, frames are dropped and counted). [`RecordingHandle::finish`]
//! hands back a [`RecordingDone`] to poll for the [`RecordingInfo`] (bytes, duration) once the
//! writer has finalized `root/<recording_key>.wav`.
//!
//! Files go through a [`Storage`]; only local files exist now. An object-store variant (S3)
//! would upload the finalized file in [`Storage::commit`], on the writer thread.

#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rtrb::{Producer, RingBuffer};

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
}

/// Where finished recordings go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Files under a root directory: `root/<key>.wav`.
    Local {
        /// The root directory.
        root: PathBuf,
    },
}

impl Storage {
    /// The local file a recording is written to.
    pub fn local_path(&self, key: &str) -> PathBuf {
        match self {
            Storage::Local { root } => root.join(format!("{key}.wav")),
        }
    }

    /// Makes a finalized local file durable in the store (nothing to do for local storage).
    pub fn commit(&self, _key: &str, _path: &Path) -> Result<(), RecordingError> {
        match self {
            Storage::Local { .. } => Ok(()),
        }
    }
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
    /// The file written.
    pub path: PathBuf,
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
    next_id: std::sync::atomic::AtomicU64,
}

impl RecorderService {
    /// Starts the writer thread for local files under `root` (created if missing).
    pub fn start(root: impl Into<PathBuf>) -> Result<RecorderService, RecordingError> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let storage = Storage::Local { root };
        let (tx, rx) = crossbeam_channel::unbounded();
        let st = storage.clone();
        let thread = std::thread::Builder::new()
            .name("cxb-recorder".into())
            .spawn(move || writer::run(&st, &rx))?;
        Ok(RecorderService {
            tx,
            storage,
            thread: Some(thread),
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
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
