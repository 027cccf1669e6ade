//! [`EmbeddedStt`]: pocketsphinx on a pool of worker threads, VAD-segmented.
//!
//! The shard side ([`SttStream`]) never decodes: between `speech_started` and `speech_ended`
//! it writes caller audio into a lock-free ring (rtrb, no allocation per frame) that a worker
//! drains every 20 ms, so the final transcript comes right after the end of speech. Before
//! speech starts, the last [`PREROLL_MS`] of audio are kept and given to the utterance, since
//! the VAD reports a start only after some speech. Each worker owns one decoder, loaded at its
//! first utterance and reused for every call; the bot's vocabulary becomes a grammar search
//! compiled once per worker ([`super::vocab`]).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use cxb_dsp::resample::{Quality, Resampler};

use super::vocab::{Vocabulary, word_loop_jsgf};
use crate::agent::api::{
    EventRx, EventTx, ProviderError, ProviderErrorKind, Stt, SttEvent, SttParams, SttStream, event_channel,
};
use crate::sys::pocketsphinx::{Decoder, ModelPaths, PsError};

/// Caller audio kept from before the VAD's speech start, milliseconds.
pub const PREROLL_MS: u32 = 400;
/// Longest backlog one utterance may hold while waiting for a worker, seconds.
const RING_SECONDS: u32 = 30;
/// How often a worker publishes an interim hypothesis, in decoded audio (16 kHz samples: 300 ms).
const INTERIM_SAMPLES: usize = 4_800;
/// How long a worker waits for more audio before looking again.
const POLL: Duration = Duration::from_millis(20);
/// Grammars a worker keeps compiled before it starts over.
const MAX_GRAMMARS: usize = 64;
/// Language weight of keyword grammars: low, so the acoustics decide among the words.
const GRAMMAR_LW: f32 = 4.0;
/// Word insertion penalty of keyword grammars: high, so short words are not sprinkled in.
const GRAMMAR_WIP: f32 = 1e-6;
/// The decoder's rate.
const PS_RATE: u32 = 16_000;

/// Settings of an [`SttEngine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SttEngineConfig {
    /// The pocketsphinx model.
    pub model: ModelPaths,
    /// Worker threads (decoders), started as utterances arrive.
    pub workers: usize,
}

impl Default for SttEngineConfig {
    /// Debian's en-us model, one worker per core.
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        SttEngineConfig {
            model: ModelPaths::debian_en_us(),
            workers,
        }
    }
}

/// One utterance handed to a worker.
struct Job {
    audio: rtrb::Consumer<i16>,
    /// Dropped by the stream at the end of speech.
    end: Receiver<()>,
    tx: EventTx<SttEvent>,
    vocab: Arc<Vocabulary>,
    rate: u32,
}

/// The process's pocketsphinx workers, shared by every shard: utterances queue here and the
/// first free worker decodes them.
#[derive(Debug)]
pub struct SttEngine {
    config: SttEngineConfig,
    /// The first missing model file, found once at creation.
    missing: Option<PathBuf>,
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    started: Mutex<usize>,
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("rate", &self.rate).finish_non_exhaustive()
    }
}

impl SttEngine {
    /// An engine; no thread starts until the first utterance.
    pub fn new(config: SttEngineConfig) -> Arc<SttEngine> {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let missing = config.model.missing().map(Path::to_path_buf);
        Arc::new(SttEngine {
            config,
            missing,
            jobs,
            queue,
            started: Mutex::new(0),
            queued: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The process-wide engine: Debian's en-us model, one worker per core.
    pub fn shared() -> Arc<SttEngine> {
        static SHARED: OnceLock<Arc<SttEngine>> = OnceLock::new();
        SHARED
            .get_or_init(|| SttEngine::new(SttEngineConfig::default()))
            .clone()
    }

    /// Utterances waiting for a free worker.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Why this engine cannot work (its model is missing), as the provider error.
    pub fn check(&self) -> Result<(), ProviderError> {
        match &self.missing {
            Some(path) => Err(not_configured(&PsError::MissingModel { path: path.clone() })),
            None => Ok(()),
        }
    }

    fn submit(&self, job: Job) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.ensure_workers(self.config.workers);
        // The engine holds a receiver, so this cannot fail.
        let _ = self.jobs.send(job);
    }

    /// Starts workers until `n` run.
    fn ensure_workers(&self, n: usize) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        while *started < n {
            let queue = self.queue.clone();
            let model = self.config.model.clone();
            let queued = self.queued.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cxb-stt-{}", *started))
                .spawn(move || worker(&model, &queue, &queued));
            if spawned.is_err() {
                break;
            }
            *started += 1;
        }
    }

    /// Starts one more worker beyond the configured count (tests start a worker-less engine
    /// and add one to show that stream calls only queue work).
    #[cfg(test)]
    pub(crate) fn add_worker(&self) {
        let n = *self.started.lock().unwrap_or_else(|e| e.into_inner()) + 1;
        self.ensure_workers(n);
    }
}

fn not_configured(e: &PsError) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::NotConfigured,
        "model",
        format!("embedded STT unavailable: {e} (run scripts/bootstrap)"),
    )
}

fn worker(model: &ModelPaths, queue: &Receiver<Job>, queued: &AtomicUsize) {
    let mut decoder: Option<Result<Decoder, PsError>> = None;
    let mut grammars: HashMap<u64, Option<String>> = HashMap::new();
    let mut buf = vec![0i16; 8_192];
    for job in queue.iter() {
        queued.fetch_sub(1, Ordering::Relaxed);
        let dec = decoder.get_or_insert_with(|| {
            Decoder::new(model).map(|mut d| {
                d.set_grammar_weights(GRAMMAR_LW, GRAMMAR_WIP);
                d
            })
        });
        match dec {
            Ok(dec) => {
                if let Err(e) = decode(dec, &mut grammars, job, &mut buf) {
                    tracing::warn!(error = %e, "embedded STT utterance failed");
                }
            }
            Err(e) => {
                let _ = job.tx.send(Err(not_configured(e)));
            }
        }
    }
}

/// Selects the search for `vocab`: its grammar (compiled on first use), or the language model.
fn select_search(
    dec: &mut Decoder,
    grammars: &mut HashMap<u64, Option<String>>,
    vocab: &Vocabulary,
) -> Result<(), PsError> {
    if vocab.words.is_empty() {
        return dec.use_default_search();
    }
    if !grammars.contains_key(&vocab.key) {
        if grammars.len() >= MAX_GRAMMARS {
            for name in grammars.drain().filter_map(|(_, n)| n) {
                dec.use_default_search()?;
                let _ = dec.unset_search(&name);
            }
        }
        let known: Vec<&str> = vocab
            .words
            .iter()
            .map(String::as_str)
            .filter(|w| dec.knows(w))
            .collect();
        let name = if known.is_empty() {
            None
        } else {
            let name = format!("cxb{:016x}", vocab.key);
            dec.set_jsgf(&name, &word_loop_jsgf(&known))?;
            Some(name)
        };
        grammars.insert(vocab.key, name);
    }
    match &grammars[&vocab.key] {
        Some(name) => dec.use_search(name),
        None => dec.use_default_search(),
    }
}

/// Decodes one utterance as its audio arrives; sends interims and the final.
fn decode(
    dec: &mut Decoder,
    grammars: &mut HashMap<u64, Option<String>>,
    mut job: Job,
    buf: &mut [i16],
) -> Result<(), PsError> {
    select_search(dec, grammars, &job.vocab)?;
    let mut resampler = if job.rate == PS_RATE {
        None
    } else {
        Resampler::new(job.rate, PS_RATE, Quality::Telephone).ok()
    };
    let mut scratch = Vec::new();
    dec.start_utt()?;
    let mut since_interim = 0usize;
    let mut last_interim = String::new();
    loop {
        let ended = !matches!(job.end.recv_timeout(POLL), Err(RecvTimeoutError::Timeout));
        loop {
            let n = job.audio.slots().min(buf.len());
            if n == 0 {
                break;
            }
            let Ok(chunk) = job.audio.read_chunk(n) else { break };
            let (a, b) = chunk.as_slices();
            buf[..a.len()].copy_from_slice(a);
            buf[a.len()..n].copy_from_slice(b);
            chunk.commit_all();
            match resampler.as_mut() {
                Some(rs) => {
                    scratch.resize(rs.output_len_for(n) + 64, 0);
                    let done = rs.process_i16(&buf[..n], &mut scratch);
                    dec.process(&scratch[..done.produced])?;
                    since_interim += done.produced;
                }
                None => {
                    dec.process(&buf[..n])?;
                    since_interim += n;
                }
            }
        }
        if job.tx.is_closed() {
            return dec.end_utt();
        }
        if ended {
            break;
        }
        if since_interim >= INTERIM_SAMPLES {
            since_interim = 0;
            let hyp = dec.hypothesis();
            if !hyp.is_empty() && hyp != last_interim {
                let _ = job.tx.send(Ok(SttEvent::Interim { text: hyp.clone() }));
                last_interim = hyp;
            }
        }
    }
    dec.end_utt()?;
    let text = clean(&dec.hypothesis());
    let _ = job.tx.send(Ok(SttEvent::Final {
        text,
        end_of_turn: true,
    }));
    Ok(())
}

/// The hypothesis without filler tokens (`<sil>`, `[noise]`, `++garbage++`).
fn clean(hyp: &str) -> String {
    hyp.split_whitespace()
        .filter(|w| !(w.starts_with('<') || w.starts_with('[') || w.starts_with("++")))
        .map(|w| w.split('(').next().unwrap_or(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Offline speech to text with pocketsphinx (see the module docs). Cheap to clone; every clone
/// shares the engine's workers.
#[derive(Debug, Clone)]
pub struct EmbeddedStt {
    engine: Arc<SttEngine>,
}

impl EmbeddedStt {
    /// A provider on `engine`.
    pub fn new(engine: Arc<SttEngine>) -> EmbeddedStt {
        EmbeddedStt { engine }
    }

    /// A provider on the process-wide engine ([`SttEngine::shared`]).
    pub fn shared() -> EmbeddedStt {
        EmbeddedStt::new(SttEngine::shared())
    }
}

impl Stt for EmbeddedStt {
    fn open(&self, params: &SttParams) -> (Box<dyn SttStream>, EventRx<SttEvent>) {
        let (tx, rx) = event_channel();
        let rate = if params.sample_rate == 0 {
            PS_RATE
        } else {
            params.sample_rate
        };
        let tx = match self.engine.check() {
            Ok(()) => Some(tx),
            Err(e) => {
                let _ = tx.send(Err(e));
                None
            }
        };
        let preroll = (rate * PREROLL_MS / 1000) as usize;
        let stream = EmbeddedStream {
            engine: self.engine.clone(),
            tx,
            vocab: Arc::new(Vocabulary::from_keywords(&params.keywords)),
            rate,
            preroll: VecDeque::with_capacity(preroll),
            preroll_cap: preroll,
            utt: None,
            dropped: 0,
        };
        (Box::new(stream), rx)
    }
}

/// The shard side of an utterance in progress.
#[derive(Debug)]
struct Utterance {
    audio: rtrb::Producer<i16>,
    /// Dropping it tells the worker that speech ended.
    _end: Sender<()>,
}

/// One call's stream.
#[derive(Debug)]
struct EmbeddedStream {
    engine: Arc<SttEngine>,
    /// `None` after `close` (or when the engine is unusable).
    tx: Option<EventTx<SttEvent>>,
    vocab: Arc<Vocabulary>,
    rate: u32,
    preroll: VecDeque<i16>,
    preroll_cap: usize,
    utt: Option<Utterance>,
    /// Samples lost because a worker fell more than [`RING_SECONDS`] behind.
    dropped: u64,
}

impl SttStream for EmbeddedStream {
    fn push(&mut self, pcm: &[i16]) {
        if self.tx.is_none() {
            return;
        }
        match &mut self.utt {
            Some(u) => {
                let n = pcm.len().min(u.audio.slots());
                if let Ok(chunk) = u.audio.write_chunk_uninit(n) {
                    chunk.fill_from_iter(pcm[..n].iter().copied());
                }
                self.dropped += (pcm.len() - n) as u64;
            }
            None => {
                let cap = self.preroll_cap;
                let pcm = &pcm[pcm.len().saturating_sub(cap)..];
                let excess = (self.preroll.len() + pcm.len()).saturating_sub(cap);
                self.preroll.drain(..excess);
                self.preroll.extend(pcm.iter().copied());
            }
        }
    }

    fn speech_started(&mut self) {
        let Some(tx) = &self.tx else { return };
        if self.utt.is_some() {
            return;
        }
        let size = (self.rate * RING_SECONDS) as usize;
        let (mut producer, consumer) = rtrb::RingBuffer::new(size);
        let n = self.preroll.len().min(size);
        if let Ok(chunk) = producer.write_chunk_uninit(n) {
            chunk.fill_from_iter(self.preroll.drain(..));
        }
        self.preroll.clear();
        let (end_tx, end_rx) = crossbeam_channel::bounded(0);
        self.engine.submit(Job {
            audio: consumer,
            end: end_rx,
            tx: tx.clone(),
            vocab: self.vocab.clone(),
            rate: self.rate,
        });
        self.utt = Some(Utterance {
            audio: producer,
            _end: end_tx,
        });
    }

    fn speech_ended(&mut self) {
        self.utt = None;
    }

    fn close(&mut self) {
        self.utt = None;
        self.tx = None;
        if self.dropped > 0 {
            tracing::warn!(
                samples = self.dropped,
                "embedded STT fell behind and dropped caller audio"
            );
            self.dropped = 0;
        }
    }
}

impl Drop for EmbeddedStream {
    fn drop(&mut self) {
        self.close();
    }
}
