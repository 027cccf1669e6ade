//! The embedded offline voice stack: [`EmbeddedStt`] (pocketsphinx) and [`EmbeddedTts`]
//! (espeak-ng), both running on worker threads of their own so the shard thread only queues
//! work. With the local responder in place of an LLM, `cxb up` holds a spoken conversation with
//! no network. The C libraries come from Debian (`scripts/bootstrap`); without them the build
//! fails, and without the model data the providers answer `NotConfigured`.

mod stt;
mod tts;
mod vocab;

pub use crate::sys::pocketsphinx::ModelPaths;
pub use stt::{EmbeddedStt, PREROLL_MS, SttEngine, SttEngineConfig};
pub use tts::{ESPEAK_RATE, EmbeddedTts};
pub(crate) use tts::{Output as TtsOutput, espeak_to_16k, send_chunks, submit as submit_tts, voice_for};

#[cfg(test)]
mod tests;
