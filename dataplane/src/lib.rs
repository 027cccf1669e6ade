//! `cxb-dataplane`: thread-per-core shards terminating SIP and RTP, the per-call media
//! pipeline and the voice agent runtime.
