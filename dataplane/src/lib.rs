//! `cxb-dataplane`: thread-per-core shards terminating SIP and RTP, the per-call media
//! pipeline and the voice agent runtime.
#![forbid(unsafe_code)]

pub mod engine;
pub mod http;
pub mod media;
pub mod recording;
pub mod records;
pub mod rtp;
pub mod ws;
