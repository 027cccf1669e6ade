//! The `sim` provider profile, **for benchmarking only** (`cxb load`, issue 7): STT, LLM and TTS
//! answered in process at next to no CPU, so a load run measures the dataplane rather than a
//! model. The rest of the pipeline still runs (jitter buffer, decode, resample, VAD, recording,
//! TTS playout, RTCP).
//!
//! - [`SimStt`] decodes nothing: shortly after each `speech_ended` it reports a final,
//!   end-of-turn result: [`SIM_TRANSCRIPT`], or [`SIM_TRANSFER_TRANSCRIPT`] when the utterance
//!   carried at least [`SIM_LONG_UTTERANCE`] of audio (so a test caller "asks for an agent" by
//!   speaking longer).
//! - [`SimLlm`] streams the fixed [`SIM_REPLY`] clauses with fixed small delays; when the
//!   caller's last words ask for an agent and `transfer_call` is offered, it says
//!   [`SIM_TRANSFER_LINE`] and calls `transfer_call` to the first target instead.
//! - [`SimTts`] plays pre-rendered audio: each distinct phrase is rendered once per process
//!   (by espeak-ng on the embedded worker, or as a deterministic speech-like signal when
//!   espeak-ng is unavailable or [`SimVoice::Synthetic`] is chosen), kept in a process-wide
//!   map and streamed in 200 ms chunks (as streaming TTS services send them; 20 ms chunks would
//!   make the load profile measure message passing rather than the media path).
//!
//! Delays use `tokio::task::spawn_local` timers, so non-zero delays need a `LocalSet` (the
//! shard's runtime); with zero delays everything is sent before the call returns.

use std::collections::HashMap;
use std::f32::consts::PI;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::agent::api::{
    ChatRequest, EventRx, EventTx, Llm, LlmEvent, LlmUsage, Role, Stt, SttEvent, SttParams, SttStream, ToolCall, Tts,
    TtsAudio, TtsParams, event_channel,
};
use crate::agent::embedded::{TtsOutput, espeak_to_16k, send_chunks, submit_tts, voice_for};

/// What [`SimStt`] hears in every utterance shorter than [`SIM_LONG_UTTERANCE`].
pub const SIM_TRANSCRIPT: &str = "I would like to book an appointment";
/// What [`SimStt`] hears in an utterance of at least [`SIM_LONG_UTTERANCE`].
pub const SIM_TRANSFER_TRANSCRIPT: &str = "Can I talk to an agent please";
/// Utterances carrying at least this much audio (between `speech_started` and `speech_ended`,
/// so the VAD's trailing silence included) are heard as [`SIM_TRANSFER_TRANSCRIPT`].
pub const SIM_LONG_UTTERANCE: Duration = Duration::from_millis(2500);
/// What [`SimLlm`] says before it calls `transfer_call`.
pub const SIM_TRANSFER_LINE: &str = "Sure, let me transfer you to an agent now.";
/// Words in the caller's last message that make [`SimLlm`] transfer.
const AGENT_WORDS: [&str; 4] = ["agent", "human", "person", "operator"];
/// What [`SimLlm`] answers, clause by clause.
pub const SIM_REPLY: [&str; 3] = [
    "Sure, I can help you with that. ",
    "Which day works best for you? ",
    "We have openings on Monday and Tuesday.",
];
/// Rate of [`SimTts`] audio: the pipeline's 16 kHz, so calls play it without resampling
/// (espeak-ng's output is converted once per phrase, when it is rendered).
pub const SIM_RATE: u32 = crate::media::PIPELINE_RATE;
/// Samples in one 200 ms chunk of [`SimTts`] audio.
const CHUNK: usize = (SIM_RATE / 5) as usize;

/// Delays of the simulated providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimTiming {
    /// From `speech_ended` to the final transcript.
    pub stt_final: Duration,
    /// From the request to the first clause.
    pub llm_first_token: Duration,
    /// Between clauses.
    pub llm_clause_gap: Duration,
}

impl Default for SimTiming {
    /// 100 ms to the final, 50 ms to the first clause, 20 ms between clauses.
    fn default() -> Self {
        SimTiming {
            stt_final: Duration::from_millis(100),
            llm_first_token: Duration::from_millis(50),
            llm_clause_gap: Duration::from_millis(20),
        }
    }
}

impl SimTiming {
    /// No delays: every event is sent before the call returns (no `LocalSet` needed).
    pub const IMMEDIATE: SimTiming = SimTiming {
        stt_final: Duration::ZERO,
        llm_first_token: Duration::ZERO,
        llm_clause_gap: Duration::ZERO,
    };
}

/// Simulated speech to text (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct SimStt {
    timing: SimTiming,
}

impl SimStt {
    /// A simulated STT with `timing`.
    pub fn new(timing: SimTiming) -> SimStt {
        SimStt { timing }
    }
}

impl Stt for SimStt {
    fn open(&self, params: &SttParams) -> (Box<dyn SttStream>, EventRx<SttEvent>) {
        let (tx, rx) = event_channel();
        let rate = if params.sample_rate == 0 {
            16_000
        } else {
            params.sample_rate
        };
        (
            Box::new(SimSttStream {
                tx: Some(tx),
                delay: self.timing.stt_final,
                long: (SIM_LONG_UTTERANCE.as_millis() as u64 * u64::from(rate) / 1000) as usize,
                speaking: false,
                heard: 0,
            }),
            rx,
        )
    }
}

#[derive(Debug)]
struct SimSttStream {
    tx: Option<EventTx<SttEvent>>,
    delay: Duration,
    /// Samples of [`SIM_LONG_UTTERANCE`].
    long: usize,
    speaking: bool,
    /// Samples pushed since `speech_started`.
    heard: usize,
}

impl SttStream for SimSttStream {
    fn push(&mut self, pcm: &[i16]) {
        if self.speaking {
            self.heard += pcm.len();
        }
    }

    fn speech_started(&mut self) {
        self.speaking = true;
        self.heard = 0;
    }

    fn speech_ended(&mut self) {
        let long = std::mem::take(&mut self.heard) >= self.long;
        self.speaking = false;
        let Some(tx) = &self.tx else { return };
        let text = if long { SIM_TRANSFER_TRANSCRIPT } else { SIM_TRANSCRIPT };
        let ev = SttEvent::Final {
            text: text.to_owned(),
            end_of_turn: true,
        };
        if self.delay.is_zero() {
            let _ = tx.send(Ok(ev));
            return;
        }
        let (tx, delay) = (tx.clone(), self.delay);
        tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Ok(ev));
        });
    }

    fn close(&mut self) {
        self.tx = None;
    }
}

/// Simulated language model (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct SimLlm {
    timing: SimTiming,
}

impl SimLlm {
    /// A simulated LLM with `timing`.
    pub fn new(timing: SimTiming) -> SimLlm {
        SimLlm { timing }
    }
}

/// The `transfer_call` [`SimLlm`] makes for `req`, if the caller's last message asks for an agent
/// and the tool is offered (to the first target of its `target` enum).
fn transfer_call(req: &ChatRequest) -> Option<ToolCall> {
    let last = req.messages.last().filter(|m| m.role == Role::User)?;
    let said = last.content.to_lowercase();
    let asks = said
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| AGENT_WORDS.contains(&w));
    let tool = req.tools.iter().find(|t| t.name == "transfer_call").filter(|_| asks)?;
    let target = tool.parameters["properties"]["target"]["enum"][0]
        .as_str()
        .unwrap_or("");
    let args = serde_json::json!({"target": target, "reason": "the caller asked for an agent"});
    Some(ToolCall {
        id: "sim-transfer_call".to_owned(),
        name: "transfer_call".to_owned(),
        arguments: args.to_string(),
    })
}

impl Llm for SimLlm {
    fn chat(&self, req: ChatRequest) -> EventRx<LlmEvent> {
        let (tx, rx) = event_channel();
        if let Some(call) = transfer_call(&req) {
            let _ = tx.send(Ok(LlmEvent::Text(SIM_TRANSFER_LINE.to_owned())));
            let _ = tx.send(Ok(LlmEvent::ToolCall(call)));
            let _ = tx.send(Ok(LlmEvent::Done {
                usage: LlmUsage::default(),
            }));
            return rx;
        }
        let timing = self.timing;
        if timing.llm_first_token.is_zero() && timing.llm_clause_gap.is_zero() {
            for c in SIM_REPLY {
                let _ = tx.send(Ok(LlmEvent::Text(c.to_owned())));
            }
            let _ = tx.send(Ok(LlmEvent::Done {
                usage: LlmUsage::default(),
            }));
            return rx;
        }
        tokio::task::spawn_local(async move {
            tokio::time::sleep(timing.llm_first_token).await;
            for (i, c) in SIM_REPLY.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(timing.llm_clause_gap).await;
                }
                if tx.send(Ok(LlmEvent::Text((*c).to_owned()))).is_err() {
                    return;
                }
            }
            let _ = tx.send(Ok(LlmEvent::Done {
                usage: LlmUsage::default(),
            }));
        });
        rx
    }
}

/// Where [`SimTts`] gets its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SimVoice {
    /// espeak-ng renders each phrase once (the synthetic signal if espeak-ng fails).
    #[default]
    Espeak,
    /// A deterministic speech-like signal, no espeak-ng at all.
    Synthetic,
}

enum Entry {
    Ready(Arc<[i16]>),
    Pending(Vec<EventTx<TtsAudio>>),
}

type Phrases = Mutex<HashMap<(SimVoice, String), Entry>>;

fn phrases() -> &'static Phrases {
    static PHRASES: OnceLock<Phrases> = OnceLock::new();
    PHRASES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Simulated text to speech (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct SimTts {
    voice: SimVoice,
}

impl SimTts {
    /// A simulated TTS using `voice`.
    pub fn new(voice: SimVoice) -> SimTts {
        SimTts { voice }
    }
}

impl Tts for SimTts {
    fn speak(&self, text: &str, params: &TtsParams) -> EventRx<TtsAudio> {
        let (tx, rx) = event_channel();
        let text = text.trim();
        if text.is_empty() {
            return rx;
        }
        let key = (self.voice, text.to_owned());
        let mut map = phrases().lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&key) {
            Some(Entry::Ready(pcm)) => send_chunks(&tx, SIM_RATE, pcm, CHUNK),
            Some(Entry::Pending(waiting)) => waiting.push(tx),
            None if self.voice == SimVoice::Synthetic => {
                let pcm: Arc<[i16]> = synthetic_speech(text).into();
                send_chunks(&tx, SIM_RATE, &pcm, CHUNK);
                map.insert(key, Entry::Ready(pcm));
            }
            None => {
                map.insert(key.clone(), Entry::Pending(vec![tx]));
                drop(map);
                let done = move |r: Result<Arc<[i16]>, _>| {
                    let pcm = r
                        .ok()
                        .filter(|p| !p.is_empty())
                        .and_then(|p| espeak_to_16k(&p))
                        .unwrap_or_else(|| synthetic_speech(&key.1).into());
                    let waiting = {
                        let mut map = phrases().lock().unwrap_or_else(|e| e.into_inner());
                        match map.insert(key, Entry::Ready(pcm.clone())) {
                            Some(Entry::Pending(w)) => w,
                            _ => Vec::new(),
                        }
                    };
                    for tx in waiting {
                        send_chunks(&tx, SIM_RATE, &pcm, CHUNK);
                    }
                };
                submit_tts(text, voice_for(params), TtsOutput::Whole(Box::new(done)));
            }
        }
        rx
    }
}

/// A deterministic speech-like signal for `text` at [`SIM_RATE`]: per word, voiced syllables
/// (a 110–150 Hz harmonic source under a raised-cosine envelope), with short pauses between
/// words; about as long as speaking the text.
pub fn synthetic_speech(text: &str) -> Vec<i16> {
    let rate = SIM_RATE as f32;
    let syllable = (0.18 * rate) as usize;
    let gap = (0.07 * rate) as usize;
    let mut out = Vec::new();
    for (wi, word) in text.split_whitespace().enumerate() {
        let letters = word.chars().filter(|c| c.is_alphanumeric()).count();
        let syllables = letters.div_ceil(3).max(1);
        for s in 0..syllables {
            let f0 = 110.0 + ((wi * 7 + s * 13 + letters) % 5) as f32 * 10.0;
            for i in 0..syllable {
                let t = i as f32 / rate;
                let env = 0.5 - 0.5 * (2.0 * PI * i as f32 / syllable as f32).cos();
                let x: f32 = (1..=8).map(|h| (2.0 * PI * f0 * h as f32 * t).sin() / h as f32).sum();
                out.push((x * env * 6_000.0) as i16);
            }
        }
        out.extend(std::iter::repeat_n(0, gap));
    }
    out
}

#[cfg(test)]
mod tests;
