//! [`RtpMedia`]: one SIP call's RTP — receive path, 20 ms tick, DTMF, latching, hold, codec change.

use std::net::SocketAddr;
use std::time::Duration;

use cxb_dsp::dtmf::{DtmfDigit, DtmfPacket, DtmfSender, SenderConfig};
use cxb_dsp::jitter::{DtmfEvent, Playout, PlayoutConfig, RtpPacketView};

use super::codec::Encoder;
use super::events::EventQueue;
use super::{Downlink, FRAME_MS, MediaCodec, MediaError, MediaEvent, RtpMediaConfig, Uplink};
use crate::rtp::{
    RTP_HEADER_LEN, ReceiverStats, RemoteView, RtpHeader, RtpPacket, is_rtcp, write_rtp, write_rtp_header,
};

/// RFC 3389 comfort noise payload type (tolerated, played as silence).
const PT_CN: u8 = 13;
/// Largest encoded payload we produce.
const MAX_PAYLOAD: usize = 1500;
/// Smallest payload room of a packet (RFC 4733 events are 4 bytes; G.711 needs a byte a sample).
const MIN_PAYLOAD_ROOM: usize = 64;
/// DTMF digits that can wait to be sent.
const DTMF_QUEUE: usize = 32;
/// Pause between two sent digits.
const DTMF_GAP: Duration = Duration::from_millis(60);

/// Per-direction packet counters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) packets_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) packets_out: u64,
    pub(crate) bytes_out: u64,
    /// Payload octets sent (for the SR).
    pub(crate) octets_out: u64,
    pub(crate) invalid_in: u64,
    pub(crate) foreign_in: u64,
    pub(crate) rtcp_in: u64,
    pub(crate) rtcp_invalid: u64,
}

#[derive(Debug, Clone, Copy)]
struct DtmfTx {
    started: Duration,
    pending: Option<DtmfPacket>,
}

/// One call's media. See the [module docs](super).
#[derive(Debug)]
pub struct RtpMedia {
    pub(crate) cfg: RtpMediaConfig,
    pub(crate) playout: Playout,
    encoder: Encoder,
    uplink: Uplink,
    downlink: Downlink,
    dtmf_sender: DtmfSender,
    dtmf_queue: [(DtmfDigit, u32); DTMF_QUEUE],
    dtmf_head: usize,
    dtmf_len: usize,
    dtmf_tx: Option<DtmfTx>,
    dtmf_next_start: Duration,
    /// Next RTP sequence number and the timestamp of the next 20 ms frame.
    seq: u16,
    pub(crate) ts: u32,
    frame_ts: u32,
    marker_next: bool,
    was_playing: bool,
    line_in: Vec<i16>,
    line_out: Vec<i16>,
    line_out_len: usize,
    packet_samples: usize,
    pkt_ts: u32,
    /// One outgoing packet: header, then the payload encoded in place (sized by the codec and
    /// packet time in `size_buffers`).
    packet: Vec<u8>,
    latched: Option<SocketAddr>,
    latched_ssrc: Option<u32>,
    candidate: Option<(SocketAddr, u32)>,
    pub(crate) rtcp_src: Option<SocketAddr>,
    pub(crate) stats: ReceiverStats,
    pub(crate) lost_before: u64,
    pub(crate) max_jitter_ms: f64,
    pub(crate) remote: RemoteView,
    dtmf_open: Option<DtmfEvent>,
    pub(crate) counters: Counters,
    pub(crate) packets_at_report: u64,
    pub(crate) next_rtcp: Duration,
    /// Latching, DTMF and RTCP BYE events (the shard drains them every tick).
    pub(crate) events: EventQueue<16>,
    pub(crate) cname: Vec<u8>,
    pub(crate) rtcp_buf: Vec<u8>,
}

fn playout_for(cfg: &RtpMediaConfig) -> Result<Playout, MediaError> {
    let mut pc = PlayoutConfig::new(cfg.codec.jitter_codec());
    pc.jitter.dtmf_payload_type = cfg.dtmf_rx_pt;
    pc.jitter.cn_payload_type = Some(PT_CN);
    Ok(Playout::new(pc)?)
}

fn dtmf_sender_for(cfg: &RtpMediaConfig) -> Result<DtmfSender, MediaError> {
    Ok(DtmfSender::new(SenderConfig {
        clock_rate: cfg.codec.clock_rate(),
        ..SenderConfig::default()
    })?)
}

impl RtpMedia {
    /// Starts loading what [`tick_send`](Self::tick_send) touches into the cache (see
    /// [`cxb_dsp::simd::prefetch`]): the shard calls it on the next call before it works on the
    /// current one, so that call's first touches hit the cache instead of memory.
    #[inline]
    pub fn prefetch_send(&self) {
        cxb_dsp::simd::prefetch(&self.downlink);
        self.downlink.prefetch();
        cxb_dsp::simd::prefetch(&self.encoder);
        cxb_dsp::simd::prefetch_slice(&self.line_out);
        cxb_dsp::simd::prefetch_slice(&self.packet);
    }

    /// Like [`prefetch_send`](Self::prefetch_send), for the caller side of a tick (the packets
    /// received, the jitter buffer, the uplink DSP), but only the heap buffers: the caller
    /// prefetches the whole media state one call earlier (`cxb_dsp::simd::prefetch(&media)`, by
    /// address), so the buffer pointers read here are in the cache by then.
    #[inline]
    pub fn prefetch_receive(&self) {
        self.playout.prefetch();
        self.uplink.prefetch();
        cxb_dsp::simd::prefetch_slice(&self.line_in);
    }

    /// Builds the pipeline; every buffer is allocated here.
    pub fn new(cfg: RtpMediaConfig) -> Result<Self, MediaError> {
        let line_rate = cfg.codec.line_rate();
        let playout = playout_for(&cfg)?;
        let mut m = RtpMedia {
            encoder: Encoder::new(cfg.codec)?,
            uplink: Uplink::new(line_rate, cfg.vad, cfg.caller_ring_samples, cfg.start)?,
            downlink: Downlink::new(line_rate)?,
            dtmf_sender: dtmf_sender_for(&cfg)?,
            dtmf_queue: [(DtmfDigit::ALL[0], 0); DTMF_QUEUE],
            dtmf_head: 0,
            dtmf_len: 0,
            dtmf_tx: None,
            dtmf_next_start: Duration::ZERO,
            // Random-looking but deterministic starting points derived from the SSRC.
            seq: (cfg.ssrc >> 16) as u16 ^ 0x5a5a,
            ts: cfg.ssrc.rotate_left(13),
            frame_ts: 0,
            marker_next: true,
            was_playing: false,
            line_in: Vec::new(),
            line_out: Vec::new(),
            line_out_len: 0,
            packet_samples: 0,
            pkt_ts: 0,
            packet: Vec::new(),
            latched: None,
            latched_ssrc: None,
            candidate: None,
            rtcp_src: None,
            stats: ReceiverStats::new(cfg.codec.clock_rate()),
            lost_before: 0,
            max_jitter_ms: 0.0,
            remote: RemoteView::default(),
            dtmf_open: None,
            counters: Counters::default(),
            packets_at_report: 0,
            next_rtcp: cfg.start + cfg.rtcp_interval / 2,
            events: EventQueue::new(),
            cname: format!("cxb-{:08x}", cfg.ssrc).into_bytes(),
            rtcp_buf: vec![0; 512],
            playout,
            cfg,
        };
        m.size_buffers();
        Ok(m)
    }

    fn size_buffers(&mut self) {
        let line_rate = self.cfg.codec.line_rate() as usize;
        let frame = line_rate * FRAME_MS as usize / 1000;
        self.line_in = vec![0; self.playout.frame_len()];
        self.packet_samples = line_rate * self.cfg.effective_ptime_ms() as usize / 1000;
        self.line_out = vec![0; self.packet_samples + frame];
        // G.711 and G.722 encode at most a byte per sample; Opus up to its largest packet.
        let payload = match self.cfg.codec {
            MediaCodec::Opus => MAX_PAYLOAD,
            _ => self.packet_samples.max(MIN_PAYLOAD_ROOM),
        };
        self.packet = vec![0; RTP_HEADER_LEN + payload];
        self.line_out_len = 0;
        self.frame_ts = self.cfg.codec.clock_rate() * FRAME_MS / 1000;
    }

    /// Reconfigures after a re-INVITE: a codec change rebuilds decoder, encoder and resamplers
    /// (allocates); sequence numbers, queued bot audio and counters are kept. Latching is kept
    /// unless the SDP's remote RTP address changed (then the new address is used if trusted,
    /// and the next packet latches again).
    pub fn update(&mut self, cfg: RtpMediaConfig) -> Result<(), MediaError> {
        if cfg.codec != self.cfg.codec || cfg.dtmf_rx_pt != self.cfg.dtmf_rx_pt {
            self.playout = playout_for(&cfg)?;
        }
        if cfg.codec != self.cfg.codec {
            self.encoder = Encoder::new(cfg.codec)?;
            self.uplink.set_line_rate(cfg.codec.line_rate())?;
            self.downlink.set_line_rate(cfg.codec.line_rate())?;
            self.dtmf_sender = dtmf_sender_for(&cfg)?;
            self.dtmf_tx = None;
            self.stats.set_clock_rate(cfg.codec.clock_rate());
            self.marker_next = true;
        }
        if cfg.remote_rtp != self.cfg.remote_rtp {
            // The SDP moved the media (transfer, new media server): follow it at once; the
            // first packet from wherever the peer now sends latches again.
            self.latched = None;
            self.latched_ssrc = None;
            self.candidate = None;
            self.rtcp_src = None;
        }
        let keep_start = self.cfg.start;
        self.cfg = RtpMediaConfig {
            start: keep_start,
            ..cfg
        };
        self.size_buffers();
        Ok(())
    }

    /// The configuration in use.
    pub fn config(&self) -> &RtpMediaConfig {
        &self.cfg
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.cfg.ssrc
    }

    /// The remote address RTP was latched to, if any packet arrived yet.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Where RTP goes now: the latched source, else the SDP address when trusted.
    pub fn rtp_target(&self) -> Option<SocketAddr> {
        self.latched
            .or_else(|| self.cfg.remote_rtp.filter(|_| self.cfg.remote_trusted))
    }

    /// The caller side.
    pub fn uplink(&self) -> &Uplink {
        &self.uplink
    }

    /// The caller side, mutable (to take the caller ring).
    pub fn uplink_mut(&mut self) -> &mut Uplink {
        &mut self.uplink
    }

    /// The bot side.
    pub fn downlink(&self) -> &Downlink {
        &self.downlink
    }

    /// The bot side, mutable (push bot audio, marks, clear).
    pub fn downlink_mut(&mut self) -> &mut Downlink {
        &mut self.downlink
    }

    /// The recorder tap: this tick's caller and bot audio at 16 kHz (20 ms each, time-aligned).
    pub fn last_frames_16k(&self) -> (&[i16], &[i16]) {
        (self.uplink.last_frame_16k(), self.downlink.last_frame_16k())
    }

    /// Stops (true) or resumes (false) sending; receiving goes on.
    pub fn set_hold(&mut self, hold: bool) {
        if self.cfg.hold && !hold {
            self.marker_next = true;
        }
        self.cfg.hold = hold;
    }

    /// Queues an RFC 4733 digit (`0-9 * # A-D`) of `duration_ms` to send after those queued.
    pub fn send_dtmf(&mut self, digit: char, duration_ms: u32) -> Result<(), MediaError> {
        let d = DtmfDigit::from_char(digit)?;
        if duration_ms == 0 || duration_ms > self.dtmf_sender.max_duration_ms() {
            // Let the sender produce the precise error.
            self.dtmf_sender.clone().start(d, duration_ms, 0)?;
        }
        if self.dtmf_len == DTMF_QUEUE {
            return Err(MediaError::DtmfQueueFull { capacity: DTMF_QUEUE });
        }
        self.dtmf_queue[(self.dtmf_head + self.dtmf_len) % DTMF_QUEUE] = (d, duration_ms);
        self.dtmf_len += 1;
        Ok(())
    }

    /// Next event: media (latching, DTMF, BYE), then caller speech, then bot playout.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events
            .pop()
            .or_else(|| self.uplink.poll_event())
            .or_else(|| self.downlink.poll_event())
    }

    /// An RTP-socket datagram from `src` at `now` (RTCP too when rtcp-mux is on). Malformed or
    /// foreign packets are counted and dropped.
    pub fn on_rtp(&mut self, now: Duration, src: SocketAddr, datagram: &[u8]) {
        if is_rtcp(datagram) {
            // Taken even without negotiated rtcp-mux: some peers mux anyway.
            self.handle_rtcp(now, src, datagram);
            return;
        }
        let Ok(pkt) = RtpPacket::parse(datagram) else {
            self.counters.invalid_in += 1;
            return;
        };
        let codec_pt = pkt.pt == self.cfg.payload_type || Some(pkt.pt) == self.cfg.codec.static_payload_type();
        let dtmf = Some(pkt.pt) == self.cfg.dtmf_rx_pt;
        if !(codec_pt || dtmf || pkt.pt == PT_CN) {
            self.counters.invalid_in += 1;
            return;
        }
        if !self.latch(src, pkt.ssrc) {
            self.counters.foreign_in += 1;
            return;
        }
        self.counters.packets_in += 1;
        self.counters.bytes_in += datagram.len() as u64;
        if self.stats.ssrc().is_some_and(|s| s != pkt.ssrc) {
            // New stream: keep what was lost on the old one; the jitter buffer resets itself.
            self.lost_before += self.stats.cumulative_lost().max(0) as u64;
            self.dtmf_open = None;
        }
        self.stats.record(now, pkt.ssrc, pkt.seq, pkt.ts, !dtmf);
        self.max_jitter_ms = self.max_jitter_ms.max(self.stats.jitter_ms());
        let view = RtpPacketView {
            seq: pkt.seq,
            timestamp: pkt.ts,
            ssrc: pkt.ssrc,
            marker: pkt.marker,
            payload_type: pkt.pt,
            payload: pkt.payload,
        };
        if self.playout.insert(now, &view).is_err() {
            self.counters.invalid_in += 1;
        }
        while let Some(ev) = self.playout.poll_event() {
            self.on_dtmf_event(ev);
        }
    }

    /// Symmetric RTP: latch on the first packet; move to a new source after `relatch_packets`
    /// consecutive valid packets from it with none from the latched source in between. Returns
    /// whether the packet is from the (possibly new) latched source.
    fn latch(&mut self, src: SocketAddr, ssrc: u32) -> bool {
        match self.latched {
            None => {
                self.set_latch(src, ssrc);
                true
            }
            Some(l) if l == src => {
                self.candidate = None;
                self.latched_ssrc = Some(ssrc);
                true
            }
            Some(_) => {
                let count = match self.candidate {
                    Some((a, n)) if a == src => n + 1,
                    _ => 1,
                };
                if count >= self.cfg.relatch_packets.max(1) {
                    self.set_latch(src, ssrc);
                    true
                } else {
                    self.candidate = Some((src, count));
                    false
                }
            }
        }
    }

    fn set_latch(&mut self, src: SocketAddr, ssrc: u32) {
        self.latched = Some(src);
        self.latched_ssrc = Some(ssrc);
        self.candidate = None;
        self.events.push(MediaEvent::RemoteLatched { addr: src });
    }

    fn on_dtmf_event(&mut self, ev: DtmfEvent) {
        if !ev.end {
            if let Some(open) = self.dtmf_open.replace(ev) {
                // The previous event's end packets never came: report it now.
                self.emit_dtmf(open);
            }
        } else {
            self.dtmf_open = None;
            self.emit_dtmf(ev);
        }
    }

    fn emit_dtmf(&mut self, ev: DtmfEvent) {
        if let Some(digit) = ev.digit() {
            let duration_ms = u32::from(ev.duration) * 1000 / self.cfg.codec.clock_rate();
            self.events.push(MediaEvent::Dtmf { digit, duration_ms });
        }
    }

    /// The 20 ms tick: [`tick_send`](Self::tick_send) then [`tick_receive`](Self::tick_receive).
    pub fn tick(&mut self, now: Duration, tx: &mut impl FnMut(SocketAddr, &[u8])) {
        self.tick_send(now, tx);
        self.tick_receive(now);
    }

    /// First half of the 20 ms tick: one frame of bot audio out (a packet every ptime), DTMF
    /// packets, RTCP when due. `tx(destination, datagram)` sends. A shard runs this for every
    /// call before any call's [`tick_receive`](Self::tick_receive), so that each call's packet
    /// leaves at a steady offset from the tick whatever the other calls' uplink DSP costs.
    pub fn tick_send(&mut self, now: Duration, tx: &mut impl FnMut(SocketAddr, &[u8])) {
        if self.line_out_len == 0 {
            self.pkt_ts = self.ts;
        }
        let can_send = self.rtp_target().is_some();
        let out = &mut self.line_out[self.line_out_len..];
        let n = if can_send {
            self.downlink.next_frame(out)
        } else {
            // Nowhere to send yet: bot audio waits (a greeting is not clipped by late latching).
            self.downlink.skip_frame(out)
        };
        self.line_out_len += n;
        self.ts = self.ts.wrapping_add(self.frame_ts);
        let playing = self.downlink.is_playing();
        if playing && !self.was_playing {
            self.marker_next = true;
        }
        self.was_playing = playing;

        let target = self.rtp_target().filter(|_| self.cfg.send && !self.cfg.hold);
        let dtmf_busy = self.tick_dtmf(now, target, tx);
        if self.line_out_len >= self.packet_samples {
            match target {
                Some(to) if !dtmf_busy => self.send_audio(to, tx),
                _ => self.marker_next = true,
            }
            self.line_out_len = 0;
        }
        if now >= self.next_rtcp {
            self.next_rtcp = now + self.cfg.rtcp_interval;
            self.send_report(now, None, tx);
        }
    }

    /// Second half of the 20 ms tick: one frame of caller audio from the jitter buffer through
    /// the uplink (decode, resample, echo gate against the bot frame just sent, VAD).
    pub fn tick_receive(&mut self, now: Duration) {
        self.uplink
            .push_far(self.downlink.last_frame_16k(), self.downlink.last_frame_line());
        if self.playout.pull(now, &mut self.line_in).is_err() {
            self.line_in.fill(0);
        }
        self.uplink.push_line_frame(&self.line_in);
    }

    fn send_audio(&mut self, to: SocketAddr, tx: &mut impl FnMut(SocketAddr, &[u8])) {
        // Encoded in place after the header.
        let len = self.encoder.encode(
            &self.line_out[..self.packet_samples],
            &mut self.packet[RTP_HEADER_LEN..],
        );
        if len == 0 {
            return;
        }
        let hdr = RtpHeader {
            pt: self.cfg.payload_type,
            marker: self.marker_next,
            seq: self.seq,
            ts: self.pkt_ts,
            ssrc: self.cfg.ssrc,
        };
        write_rtp_header(&mut self.packet, &hdr);
        let n = RTP_HEADER_LEN + len;
        self.marker_next = false;
        self.seq = self.seq.wrapping_add(1);
        self.counters.packets_out += 1;
        self.counters.bytes_out += n as u64;
        self.counters.octets_out += len as u64;
        tx(to, &self.packet[..n]);
    }

    /// Sends the DTMF packets due; returns whether a digit is being sent (audio is muted then).
    fn tick_dtmf(&mut self, now: Duration, target: Option<SocketAddr>, tx: &mut impl FnMut(SocketAddr, &[u8])) -> bool {
        let Some(pt) = self.cfg.dtmf_tx_pt else {
            self.dtmf_len = 0;
            return false;
        };
        if self.dtmf_tx.is_none() && self.dtmf_len > 0 && now >= self.dtmf_next_start {
            let (digit, ms) = self.dtmf_queue[self.dtmf_head];
            self.dtmf_head = (self.dtmf_head + 1) % DTMF_QUEUE;
            self.dtmf_len -= 1;
            // The event starts at this frame's timestamp.
            let ts = self.ts.wrapping_sub(self.frame_ts);
            if self.dtmf_sender.start(digit, ms, ts).is_ok() {
                self.dtmf_tx = Some(DtmfTx {
                    started: now,
                    pending: self.dtmf_sender.next_packet(),
                });
            }
        }
        let Some(mut st) = self.dtmf_tx else { return false };
        let elapsed = now.saturating_sub(st.started);
        while let Some(p) = st.pending {
            if Duration::from_millis(u64::from(p.send_at_ms)) > elapsed {
                break;
            }
            if let (Some(to), Ok(payload)) = (target, p.event.encode()) {
                let hdr = RtpHeader {
                    pt,
                    marker: p.marker,
                    seq: self.seq,
                    ts: p.timestamp,
                    ssrc: self.cfg.ssrc,
                };
                let n = write_rtp(&mut self.packet, &hdr, &payload);
                self.seq = self.seq.wrapping_add(1);
                self.counters.packets_out += 1;
                self.counters.bytes_out += n as u64;
                self.counters.octets_out += payload.len() as u64;
                tx(to, &self.packet[..n]);
            }
            st.pending = self.dtmf_sender.next_packet();
        }
        if st.pending.is_none() {
            self.dtmf_tx = None;
            self.dtmf_next_start = now + DTMF_GAP;
            self.marker_next = true;
            return true;
        }
        self.dtmf_tx = Some(st);
        true
    }
}
