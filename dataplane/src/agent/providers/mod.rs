//! Networked provider clients behind the [`api`](crate::agent::api) traits: OpenAI-compatible and
//! Anthropic language models, Deepgram and OpenAI-compatible speech to text, OpenAI-compatible and
//! ElevenLabs text to speech. HTTP goes through one [`HttpPool`] per shard (HTTP/2: one pooled
//! connection per provider host carries every call's streams); Deepgram uses a WebSocket per stream.
//!
//! The wire decoders ([`SseParser`], [`OpenAiStream`], [`AnthropicStream`], [`DeepgramDecoder`])
//! are sans-IO and never panic on any input (property-tested and fuzzed).

pub mod anthropic;
pub mod deepgram;
pub mod openai_llm;
pub mod openai_stt;
pub mod pool;
pub mod sse;
pub mod tts;

#[cfg(test)]
pub(crate) mod tests;

pub use anthropic::{AnthropicLlm, AnthropicStream};
pub use deepgram::{DeepgramDecoder, DeepgramStt};
pub use openai_llm::{OpenAiLlm, OpenAiStream};
pub use openai_stt::OpenAiStt;
pub use pool::{HttpPool, PoolConfig, Timeouts};
pub use sse::{SseError, SseEvent, SseParser};
pub use tts::{ElevenLabsTts, OpenAiTts, PcmAssembler};
