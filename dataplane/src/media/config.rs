//! [`RtpMediaConfig`]: what one call's media needs, usually derived from SDP negotiation.

use std::net::SocketAddr;
use std::time::Duration;

use cxb_dsp::vad::VadConfig;
use cxb_sip::sdp::{Direction, Encoding, HoldState, NegotiatedAudio};

use super::{MediaCodec, MediaError, PIPELINE_RATE};

/// Configuration of one call's [`RtpMedia`](super::RtpMedia).
#[derive(Debug, Clone, PartialEq)]
pub struct RtpMediaConfig {
    /// The codec.
    pub codec: MediaCodec,
    /// Payload type of the codec in both directions (the number the SDP gave it).
    pub payload_type: u8,
    /// Telephone-event payload type we send DTMF with, if negotiated.
    pub dtmf_tx_pt: Option<u8>,
    /// Telephone-event payload type we accept, if negotiated.
    pub dtmf_rx_pt: Option<u8>,
    /// Packet time we send with, in ms: a multiple of the 20 ms tick the codec supports
    /// ([`MediaCodec::supports_ptime`]); anything else is sent as 20.
    pub ptime_ms: u32,
    /// Our SSRC.
    pub ssrc: u32,
    /// Remote RTP address from SDP, if any.
    pub remote_rtp: Option<SocketAddr>,
    /// Remote RTCP address from SDP (`a=rtcp` or RTP port + 1), if any.
    pub remote_rtcp: Option<SocketAddr>,
    /// Whether the SDP addresses may be used before latching (false for private, loopback and
    /// other unusable addresses: then nothing is sent until the first RTP packet arrives).
    pub remote_trusted: bool,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// The negotiated direction lets us send.
    pub send: bool,
    /// Call on hold: nothing is sent (see [`RtpMedia::set_hold`](super::RtpMedia::set_hold)).
    pub hold: bool,
    /// Media time at creation (the shard's monotonic clock): origin of the uplink timeline.
    pub start: Duration,
    /// Unix time when the shard's monotonic clock read zero, for RTCP SR NTP timestamps
    /// (zero is fine for RTT measurement, which only needs one consistent clock).
    pub wallclock_at_zero: Duration,
    /// Caller VAD settings.
    pub vad: VadConfig,
    /// Capacity of the caller-audio ring for the STT side, in 16 kHz samples (the agent drains
    /// it every 20 ms tick, so a fraction of a second is ample).
    pub caller_ring_samples: usize,
    /// Consecutive valid packets from a new source that move the latch there.
    pub relatch_packets: u32,
    /// Interval of RTCP reports.
    pub rtcp_interval: Duration,
}

impl RtpMediaConfig {
    /// Defaults for `codec` with its static payload type (or 111 for Opus), DTMF on PT 101,
    /// ptime 20, no remote address yet, rtcp-mux off, 125 ms caller ring, re-latch after 5 packets,
    /// RTCP every 5 s.
    pub fn new(codec: MediaCodec, ssrc: u32, start: Duration) -> Self {
        RtpMediaConfig {
            codec,
            payload_type: codec.static_payload_type().unwrap_or(111),
            dtmf_tx_pt: Some(101),
            dtmf_rx_pt: Some(101),
            ptime_ms: 20,
            ssrc,
            remote_rtp: None,
            remote_rtcp: None,
            remote_trusted: false,
            rtcp_mux: false,
            send: true,
            hold: false,
            start,
            wallclock_at_zero: Duration::ZERO,
            vad: VadConfig::default(),
            caller_ring_samples: PIPELINE_RATE as usize / 8,
            relatch_packets: 5,
            rtcp_interval: Duration::from_secs(5),
        }
    }

    /// From an SDP negotiation: codec, payload types, ptime, remote addresses (trusted only when
    /// public and usable), rtcp-mux, direction and hold. Fails for codecs other than PCMU,
    /// PCMA, G.722 and Opus.
    pub fn from_negotiated(neg: &NegotiatedAudio, ssrc: u32, now: Duration) -> Result<Self, MediaError> {
        let unsupported = MediaError::UnsupportedCodec {
            payload_type: neg.payload_type,
            clock_rate: neg.clock_rate,
        };
        let codec = match &neg.codec {
            Encoding::Pcmu => MediaCodec::Pcmu,
            Encoding::Pcma => MediaCodec::Pcma,
            Encoding::G722 => MediaCodec::G722,
            Encoding::Opus => MediaCodec::Opus,
            _ => return Err(unsupported),
        };
        if neg.clock_rate != codec.clock_rate() {
            return Err(unsupported);
        }
        let usable = |port: u16| port != 0;
        let remote_rtp = usable(neg.remote_rtp.port).then(|| neg.remote_rtp.socket_addr());
        let remote_rtcp = usable(neg.remote_rtcp.port).then(|| neg.remote_rtcp.socket_addr());
        Ok(RtpMediaConfig {
            payload_type: neg.payload_type,
            dtmf_tx_pt: neg.telephone_event_pt,
            dtmf_rx_pt: neg.telephone_event_pt,
            ptime_ms: if codec.supports_ptime(neg.ptime) { neg.ptime } else { 20 },
            remote_rtp,
            remote_rtcp,
            remote_trusted: !neg.remote_rtp.is_private_or_unusable(),
            rtcp_mux: neg.rtcp_mux,
            send: matches!(neg.direction, Direction::SendRecv | Direction::SendOnly),
            hold: neg.hold != HoldState::Active,
            ..RtpMediaConfig::new(codec, ssrc, now)
        })
    }

    /// Trusts the SDP addresses when the signalling itself comes from a private, loopback or
    /// otherwise non-public address: then no NAT stands between us that latching must work
    /// around (the usual NAT test: a public signalling source with a private SDP address), and
    /// waiting for the peer's first packet would deadlock two endpoints that both latch (a
    /// call looped back to us, a PBX on the same LAN). Unspecified addresses and port 0 stay
    /// untrusted.
    pub fn trust_for_peer(&mut self, peer: Option<SocketAddr>) {
        let Some(peer) = peer else { return };
        let sendable = self
            .remote_rtp
            .is_some_and(|a| a.port() != 0 && !a.ip().is_unspecified() && !a.ip().is_multicast());
        if sendable && cxb_sip::sdp::ip_is_private_or_unusable(peer.ip()) {
            self.remote_trusted = true;
        }
    }

    /// The packet time actually used (see [`ptime_ms`](Self::ptime_ms)).
    pub fn effective_ptime_ms(&self) -> u32 {
        if self.codec.supports_ptime(self.ptime_ms) {
            self.ptime_ms
        } else {
            20
        }
    }
}
