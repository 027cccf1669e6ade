//! `cxb-dataplane`: thread-per-core shards terminating SIP and RTP, the per-call media
//! pipeline and the voice agent runtime.
#![deny(unsafe_code)]

pub mod agent;
pub mod engine;
pub mod http;
pub mod media;
pub mod recording;
pub mod records;
pub mod rtp;
#[allow(unsafe_code)]
pub mod sys;
pub mod ws;
