//! The recorder's background thread: drains every recording's ring into its WAV file, and on
//! finish renames it into place and reports it (local storage) or hands it to the uploader (S3).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use hound::{SampleFormat, WavSpec, WavWriter};
use rtrb::Consumer;

use super::upload::Job;
use super::{RecordingError, RecordingInfo, RecordingLocation, Storage};

/// The uploader's queue (S3 storage only).
type Uploads = tokio::sync::mpsc::UnboundedSender<Job>;

/// How often rings are drained when no command arrives.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

type Done = Sender<Result<RecordingInfo, RecordingError>>;

/// Messages from shards to the writer.
pub(super) enum Command {
    Open {
        id: u64,
        key: String,
        rate: u32,
        consumer: Consumer<i16>,
        done: Done,
    },
    Finish {
        id: u64,
        dropped: u64,
    },
    Shutdown,
}

struct Active {
    key: String,
    rate: u32,
    consumer: Consumer<i16>,
    writer: Result<WavWriter<BufWriter<File>>, RecordingError>,
    samples: u64,
    done: Done,
}

impl Active {
    fn drain(&mut self) {
        let n = self.consumer.slots();
        let Ok(chunk) = self.consumer.read_chunk(n) else { return };
        if let Ok(w) = &mut self.writer {
            let (a, b) = chunk.as_slices();
            for &s in a.iter().chain(b) {
                if let Err(e) = w.write_sample(s) {
                    self.writer = Err(e.into());
                    break;
                }
            }
        }
        self.samples += n as u64;
        chunk.commit_all();
    }

    fn finish(mut self, storage: &Storage, dropped: u64, uploads: Option<&Uploads>, pending: &AtomicUsize) {
        self.drain();
        let path = storage.local_path(&self.key);
        let result = self
            .writer
            .and_then(|w| w.finalize().map_err(RecordingError::from))
            .and_then(|()| Ok(std::fs::rename(storage.partial_path(&self.key), &path)?))
            .and_then(|()| {
                let frames = self.samples / 2;
                Ok(RecordingInfo {
                    bytes: std::fs::metadata(&path)?.len(),
                    frames,
                    duration: Duration::from_micros(frames * 1_000_000 / u64::from(self.rate)),
                    dropped_frames: dropped,
                    key: self.key.clone(),
                    location: RecordingLocation::Local(path.clone()),
                    path: path.clone(),
                })
            });
        match (result, uploads) {
            (Ok(info), Some(up)) => {
                pending.fetch_add(1, Ordering::Relaxed);
                let job = Job {
                    key: self.key,
                    path,
                    info: Some(info),
                    done: Some(self.done),
                };
                if up.send(job).is_err() {
                    // The uploader is gone; the file stays staged for the next start.
                    pending.fetch_sub(1, Ordering::Relaxed);
                }
            }
            (result, _) => {
                let _ = self.done.send(result);
            }
        }
    }
}

fn create(storage: &Storage, key: &str, rate: u32) -> Result<WavWriter<BufWriter<File>>, RecordingError> {
    let path = storage.partial_path(key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let spec = WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    Ok(WavWriter::create(&path, spec)?)
}

/// The thread body: runs until [`Command::Shutdown`] or every sender is gone.
pub(super) fn run(storage: &Storage, rx: &Receiver<Command>, uploads: Option<&Uploads>, pending: &AtomicUsize) {
    let mut active: HashMap<u64, Active> = HashMap::new();
    loop {
        match rx.recv_timeout(DRAIN_EVERY) {
            Ok(Command::Open {
                id,
                key,
                rate,
                consumer,
                done,
            }) => {
                let writer = create(storage, &key, rate);
                active.insert(
                    id,
                    Active {
                        key,
                        rate,
                        consumer,
                        writer,
                        samples: 0,
                        done,
                    },
                );
            }
            Ok(Command::Finish { id, dropped }) => {
                if let Some(a) = active.remove(&id) {
                    a.finish(storage, dropped, uploads, pending);
                }
            }
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        for a in active.values_mut() {
            a.drain();
        }
    }
    for (_, a) in active.drain() {
        a.finish(storage, 0, uploads, pending);
    }
}
