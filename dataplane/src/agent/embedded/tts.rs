//! [`EmbeddedTts`]: libespeak-ng on one worker thread (espeak-ng has global state), streaming
//! 22050 Hz audio as it is produced, with a process-wide cache of recent phrases (opening and
//! re-engagement lines repeat on every call; a hit is answered on the caller's thread at once).
//! Cached phrases are kept at the pipeline's 16 kHz, converted once on the worker: a hit plays
//! out of the one shared buffer in every call, with no per-call resampling or copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_channel::{Receiver, Sender};

use crate::agent::api::{EventRx, EventTx, ProviderError, ProviderErrorKind, Tts, TtsAudio, TtsParams, event_channel};
use crate::media::SharedPcm;
use crate::sys::espeak::{Espeak, EspeakError};

/// espeak-ng's output rate.
pub const ESPEAK_RATE: u32 = 22_050;
/// Rate of the phrase cache's audio: the media pipeline's.
const CACHE_RATE: u32 = crate::media::PIPELINE_RATE;
/// Size of the audio chunks espeak-ng hands out (and cached phrases are replayed in), ms.
const CHUNK_MS: u32 = 100;
/// Speaking rate, words per minute.
const WPM: u32 = 155;
/// Most phrases cached.
const CACHE_PHRASES: usize = 256;
/// Most samples cached in all (about 125 s of 16 kHz audio, 4 MB).
const CACHE_SAMPLES: usize = 2_000_000;
/// Longest phrase cached, characters.
const CACHE_TEXT: usize = 400;

/// What to do with a rendered phrase.
pub(crate) enum Output {
    /// Stream chunks to a speak() caller as they come.
    Stream(EventTx<TtsAudio>),
    /// Hand over the whole phrase at the end (on the worker thread).
    Whole(WholeFn),
}

/// Receives a whole rendered phrase (or why it failed).
pub(crate) type WholeFn = Box<dyn FnOnce(Result<Arc<[i16]>, ProviderError>) + Send>;

/// Cached phrases by (voice, text): audio at [`CACHE_RATE`] and last use.
type CacheMap = HashMap<(String, String), (Arc<[i16]>, u64)>;

struct Job {
    text: String,
    voice: String,
    out: Output,
}

#[derive(Debug, Default)]
struct Cache {
    map: CacheMap,
    samples: usize,
    clock: u64,
}

impl Cache {
    fn get(&mut self, voice: &str, text: &str) -> Option<Arc<[i16]>> {
        self.clock += 1;
        let clock = self.clock;
        // The key is owned: build it only on the lookup path of a cacheable phrase.
        let entry = self.map.get_mut(&(voice.to_owned(), text.to_owned()))?;
        entry.1 = clock;
        Some(entry.0.clone())
    }

    fn put(&mut self, voice: &str, text: &str, pcm: Arc<[i16]>) {
        if text.len() > CACHE_TEXT || pcm.len() > CACHE_SAMPLES / 4 {
            return;
        }
        self.clock += 1;
        self.samples += pcm.len();
        if let Some((old, _)) = self.map.insert((voice.to_owned(), text.to_owned()), (pcm, self.clock)) {
            self.samples -= old.len();
        }
        while self.map.len() > CACHE_PHRASES || self.samples > CACHE_SAMPLES {
            let Some(oldest) = self.map.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some((pcm, _)) = self.map.remove(&oldest) {
                self.samples -= pcm.len();
            }
        }
    }
}

/// The process's espeak-ng worker and phrase cache.
struct Engine {
    jobs: Sender<Job>,
    cache: Mutex<Cache>,
    queued: AtomicUsize,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let spawned = std::thread::Builder::new()
            .name("cxb-tts".into())
            .spawn(move || worker(&queue));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the espeak-ng worker");
        }
        Engine {
            jobs,
            cache: Mutex::new(Cache::default()),
            queued: AtomicUsize::new(0),
        }
    })
}

fn not_configured(e: &EspeakError) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::NotConfigured,
        "synthesize",
        format!("embedded TTS unavailable: {e} (run scripts/bootstrap)"),
    )
}

fn worker(queue: &Receiver<Job>) {
    let mut espeak = Espeak::new(CHUNK_MS).and_then(|mut e| e.set_rate(WPM).map(|()| e));
    for job in queue.iter() {
        engine().queued.fetch_sub(1, Ordering::Relaxed);
        let result = match &mut espeak {
            Ok(es) => render(es, job.text.as_str(), job.voice.as_str(), &job.out),
            Err(e) => Err(not_configured(e)),
        };
        match (job.out, result) {
            (Output::Stream(tx), Err(e)) => {
                let _ = tx.send(Err(e));
            }
            (Output::Whole(done), r) => done(r.map(|pcm| pcm.unwrap_or_default().into())),
            (Output::Stream(_), Ok(pcm)) => {
                if let Some(pcm16) = pcm.and_then(|p| espeak_to_16k(&p)) {
                    cache_put(&job.voice, &job.text, pcm16);
                }
            }
        }
    }
}

/// espeak-ng's audio at the pipeline's 16 kHz, filter tail included (`None` if it cannot be
/// converted).
pub(crate) fn espeak_to_16k(pcm: &[i16]) -> Option<Arc<[i16]>> {
    use cxb_dsp::resample::{Quality, Resampler};
    let mut r = Resampler::new(ESPEAK_RATE, CACHE_RATE, Quality::Telephone).ok()?;
    let mut out = vec![0i16; r.output_len_for(pcm.len()) + r.latency_samples() + 64];
    let p = r.process_i16(pcm, &mut out);
    let n = r.flush_i16(&mut out[p.produced..]).ok()?;
    out.truncate(p.produced + n);
    Some(out.into())
}

fn cache_put(voice: &str, text: &str, pcm: Arc<[i16]>) {
    engine()
        .cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .put(voice, text, pcm);
}

/// Renders `text`; streams chunks for [`Output::Stream`]. Returns the whole phrase, or `None`
/// when the listener went away mid-phrase.
fn render(es: &mut Espeak, text: &str, voice: &str, out: &Output) -> Result<Option<Vec<i16>>, ProviderError> {
    if es.set_voice(voice).is_err() {
        // An unknown voice name: fall back to the default rather than fail the call.
        tracing::warn!(voice, "unknown espeak-ng voice; using en-us");
        es.set_voice("en-us").map_err(|e| not_configured(&e))?;
    }
    let mut all = Vec::new();
    let mut gone = false;
    let rate = es.sample_rate();
    let mut sink = |pcm: &[i16]| {
        all.extend_from_slice(pcm);
        if let Output::Stream(tx) = out
            && tx
                .send(Ok(TtsAudio {
                    sample_rate: rate,
                    pcm: SharedPcm::from(pcm),
                }))
                .is_err()
        {
            gone = true;
            return false;
        }
        true
    };
    let r = es.synthesize(text, &mut sink);
    if gone {
        return Ok(None);
    }
    r.map_err(|e| ProviderError::new(ProviderErrorKind::Protocol, "synthesize", e.to_string()))?;
    Ok(Some(all))
}

/// The espeak-ng voice for `params`: the voice id, else the language in lower case
/// (`en-US` → `en-us`), else `en-us`.
pub(crate) fn voice_for(params: &TtsParams) -> String {
    if !params.voice.is_empty() {
        params.voice.clone()
    } else if !params.language.is_empty() {
        params.language.to_ascii_lowercase().replace('_', "-")
    } else {
        "en-us".to_owned()
    }
}

/// Queues `text` on the espeak-ng worker.
pub(crate) fn submit(text: &str, voice: String, out: Output) {
    let e = engine();
    e.queued.fetch_add(1, Ordering::Relaxed);
    if let Err(crossbeam_channel::SendError(job)) = e.jobs.send(Job {
        text: text.to_owned(),
        voice,
        out,
    }) {
        e.queued.fetch_sub(1, Ordering::Relaxed);
        let err = ProviderError::new(
            ProviderErrorKind::NotConfigured,
            "synthesize",
            "the espeak-ng worker is not running",
        );
        match job.out {
            Output::Stream(tx) => {
                let _ = tx.send(Err(err));
            }
            Output::Whole(done) => done(Err(err)),
        }
    }
}

/// Sends `pcm` as chunks of `chunk` samples: slices of the one buffer, not copies.
pub(crate) fn send_chunks(tx: &EventTx<TtsAudio>, rate: u32, pcm: &Arc<[i16]>, chunk: usize) {
    let all = SharedPcm::from(Arc::clone(pcm));
    let chunk = chunk.max(1);
    let mut at = 0;
    while at < all.len() {
        let end = (at + chunk).min(all.len());
        if tx
            .send(Ok(TtsAudio {
                sample_rate: rate,
                pcm: all.slice(at..end),
            }))
            .is_err()
        {
            return;
        }
        at = end;
    }
}

/// Offline text to speech with libespeak-ng (see the module docs). All instances share the
/// process's one espeak-ng worker and phrase cache.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedTts {
    _private: (),
}

impl EmbeddedTts {
    /// The provider (the worker thread starts with the first phrase).
    pub fn new() -> EmbeddedTts {
        EmbeddedTts { _private: () }
    }

    /// Phrases waiting for the espeak-ng worker.
    pub fn queued() -> usize {
        engine().queued.load(Ordering::Relaxed)
    }

    /// Whether `text` in `params`' voice is in the phrase cache.
    pub fn is_cached(text: &str, params: &TtsParams) -> bool {
        engine()
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&voice_for(params), text.trim())
            .is_some()
    }
}

impl Tts for EmbeddedTts {
    fn speak(&self, text: &str, params: &TtsParams) -> EventRx<TtsAudio> {
        let (tx, rx) = event_channel();
        let text = text.trim();
        if text.is_empty() {
            return rx;
        }
        let voice = voice_for(params);
        let hit = engine()
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&voice, text);
        match hit {
            Some(pcm) => send_chunks(&tx, CACHE_RATE, &pcm, (CACHE_RATE * CHUNK_MS / 1000) as usize),
            None => submit(text, voice, Output::Stream(tx)),
        }
        rx
    }
}
