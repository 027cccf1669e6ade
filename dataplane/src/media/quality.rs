//! [`RtpQuality`]: one call's media counters and RTCP-derived quality.

use std::net::SocketAddr;

use cxb_model::CallQuality;

/// Quality snapshot of one call's media ([`RtpMedia::quality`](super::RtpMedia::quality)).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RtpQuality {
    /// Valid RTP packets received from the latched source.
    pub packets_in: u64,
    /// Their bytes (whole datagrams).
    pub bytes_in: u64,
    /// RTP packets sent (audio and DTMF).
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Malformed datagrams or unexpected payload types.
    pub invalid_in: u64,
    /// Valid packets from a source other than the latched one (dropped).
    pub foreign_in: u64,
    /// RTCP datagrams received.
    pub rtcp_in: u64,
    /// Packets lost (RFC 3550 cumulative loss, summed over SSRC changes).
    pub lost: u64,
    /// Interarrival jitter now, ms.
    pub jitter_ms: f64,
    /// Highest interarrival jitter seen, ms.
    pub max_jitter_ms: f64,
    /// Fraction lost the remote last reported about our stream, 0..=1.
    pub remote_fraction_lost: Option<f32>,
    /// Cumulative loss the remote last reported.
    pub remote_cumulative_lost: Option<i64>,
    /// Jitter the remote last reported, ms.
    pub remote_jitter_ms: Option<f64>,
    /// Round-trip time from RTCP LSR/DLSR, ms.
    pub rtt_ms: Option<f64>,
    /// The latched remote RTP address.
    pub latched: Option<SocketAddr>,
    /// Audio concealed by the jitter buffer (loss, late packets, underruns), ms.
    pub concealed_ms: f64,
    /// Current playout delay of the jitter buffer, ms.
    pub playout_delay_ms: f64,
    /// Caller samples dropped because the STT ring was full.
    pub caller_ring_overflow: u64,
    /// Media events dropped because nobody polled them.
    pub events_dropped: u64,
}

impl From<RtpQuality> for CallQuality {
    fn from(q: RtpQuality) -> CallQuality {
        CallQuality {
            packets_in: q.packets_in,
            packets_out: q.packets_out,
            packets_lost: q.lost,
            jitter_ms: q.jitter_ms as f32,
            max_jitter_ms: q.max_jitter_ms as f32,
            rtt_ms: q.rtt_ms.map(|r| r as f32),
            remote_packets_lost: q.remote_cumulative_lost,
            remote_fraction_lost: q.remote_fraction_lost,
        }
    }
}
