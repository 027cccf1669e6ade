//! The voice agent runtime: providers (LLM, STT, TTS) behind [`api`], the conversation state
//! machine that does turn-taking and barge-in, the knowledge base, tools and the embedded
//! offline stack. Everything runs on the call's shard.

pub mod api;
pub mod chunker;
pub mod conversation;
pub mod embedded;
pub mod factory;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod knowledge;
pub mod providers;
pub mod responder;
pub mod sim;
pub mod webhook;
