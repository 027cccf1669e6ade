//! The codec-agnostic packet buffer: slots, reordering, loss/late/duplicate classification,
//! playout timeline and DTMF pass-through.

use std::time::Duration;

use super::delay::DelayEstimator;
use super::metrics::JitterMetrics;
use super::{DtmfEvent, JitterConfig, JitterError, RtpPacketView, micros};

/// Extended timestamps further than this from the stream's base force a reset (keeps µs
/// conversions far from overflow).
const MAX_TS_SPAN: i64 = 1 << 40;
/// Remembered consumed sequence numbers (duplicate vs late after playout).
const PLAYED_RING: usize = 128;
/// Capacity of the DTMF event queue.
const EVENT_CAP: usize = 32;
/// Payload bytes stored in a slot itself: 40 ms of G.711 or G.722, an Opus packet up to
/// 128 kb/s at 20 ms. Larger payloads (up to `max_payload`) go to the overflow store, which
/// grows one `max_payload` entry at a time as a stream needs it.
pub const INLINE_PAYLOAD: usize = 320;
/// `Slot::big` of a payload stored inline.
const INLINE: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Empty,
    Audio,
    /// A non-audio packet (telephone-event) holding its sequence number.
    Skip,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    ext_seq: i64,
    ext_ts: i64,
    len: usize,
    payload_type: u8,
    marker: bool,
    /// Overflow entry holding the payload, or [`INLINE`].
    big: u16,
}

const EMPTY_SLOT: Slot = Slot {
    state: SlotState::Empty,
    ext_seq: i64::MIN,
    ext_ts: 0,
    len: 0,
    payload_type: 0,
    marker: false,
    big: INLINE,
};

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored for playout.
    Buffered,
    /// Dropped: already buffered or played.
    Duplicate,
    /// Dropped: its playout time has passed.
    Late,
    /// A telephone-event packet (surfaced through [`JitterBuffer::poll_event`] if new).
    Dtmf,
    /// Ignored: malformed (see [`JitterMetrics::invalid`]).
    Invalid,
}

/// The packet following a missing one, offered for forward error correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextPacket<'a> {
    /// Its payload.
    pub payload: &'a [u8],
    /// Its payload type.
    pub payload_type: u8,
}

/// One frame of playout as decided by the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// No stream yet (before the first packet or right after a reset): play silence.
    Idle,
    /// The packet due now.
    Packet {
        /// Codec payload.
        payload: &'a [u8],
        /// Payload type (comfort noise included).
        payload_type: u8,
        /// RTP sequence number.
        seq: u16,
        /// RTP timestamp.
        timestamp: u32,
        /// Marker bit.
        marker: bool,
    },
    /// This frame's packet is missing while a later one is buffered: conceal.
    Missing {
        /// The very next packet, if buffered (for FEC).
        next: Option<NextPacket<'a>>,
    },
    /// Nothing is buffered: conceal (or fade out).
    Underrun,
    /// The sender sent nothing for this interval (DTX, start-up prefill, re-anchoring): silence.
    Silence,
}

/// Fixed-capacity adaptive jitter buffer (codec-agnostic). See the [module docs](super).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    frame_ts: i64,
    frame_us: i64,
    slots: Vec<Slot>,
    /// Payloads stored inline: `slot_bytes` per slot.
    data: Vec<u8>,
    slot_bytes: usize,
    /// Overflow payloads (larger than `slot_bytes`): `max_payload` per entry.
    big: Vec<u8>,
    /// The sequence number each overflow entry was last stored for (the entry is in use while
    /// that packet's slot still holds it).
    big_owner: Vec<i64>,
    estimator: DelayEstimator,
    started: bool,
    ssrc: u32,
    /// Highest extended sequence number and its raw value.
    highest_seq: i64,
    highest_ts: i64,
    first_seq: i64,
    ts_base: i64,
    /// Unique packets received in this stream (for RFC 3550 loss).
    stream_received: u64,
    lost_before: u64,
    next_seq: i64,
    play_ts: i64,
    pending_audio: usize,
    /// Whether a sequence number was consumed since the stream (re)started: until then a
    /// reordered earlier packet moves the head back instead of being late.
    head_locked: bool,
    in_underrun: bool,
    played: [i64; PLAYED_RING],
    events: [DtmfEvent; EVENT_CAP],
    ev_head: usize,
    ev_len: usize,
    dtmf_ts: Option<(u32, bool)>,
    metrics: JitterMetrics,
    last_now_us: i64,
}

impl JitterBuffer {
    /// Starts loading what the next packet and the next pull touch into the cache: the slot
    /// table, the payloads of the next slot to play and the next to arrive, the delay histograms.
    #[inline]
    pub fn prefetch(&self) {
        crate::simd::prefetch_slice(&self.slots);
        for seq in [self.next_seq, self.highest_seq + 1] {
            let start = self.slot_of(seq) * self.slot_bytes;
            if let Some(d) = self.data.get(start..start + self.slot_bytes) {
                crate::simd::prefetch_slice(d);
            }
        }
        self.estimator.prefetch();
    }

    /// Creates a buffer; its memory (slots × at most [`INLINE_PAYLOAD`] bytes) is allocated
    /// here. Payloads larger than that take an overflow entry, allocated the first time a
    /// stream has more of them buffered at once than before.
    pub fn new(cfg: JitterConfig) -> Result<Self, JitterError> {
        cfg.validate()?;
        let frame_ts = i64::from(cfg.frame_ts());
        let estimator = DelayEstimator::new(&cfg);
        let empty_event = DtmfEvent {
            code: 0,
            timestamp: 0,
            duration: 0,
            volume: 0,
            end: false,
        };
        let mut jb = Self {
            frame_ts,
            frame_us: micros(cfg.frame),
            slots: vec![EMPTY_SLOT; cfg.capacity],
            data: vec![0; cfg.capacity * cfg.max_payload.min(INLINE_PAYLOAD)],
            slot_bytes: cfg.max_payload.min(INLINE_PAYLOAD),
            big: Vec::new(),
            big_owner: Vec::new(),
            estimator,
            started: false,
            ssrc: 0,
            highest_seq: 0,
            highest_ts: 0,
            first_seq: 0,
            ts_base: 0,
            stream_received: 0,
            lost_before: 0,
            next_seq: 0,
            play_ts: 0,
            pending_audio: 0,
            head_locked: false,
            in_underrun: false,
            played: [i64::MIN; PLAYED_RING],
            events: [empty_event; EVENT_CAP],
            ev_head: 0,
            ev_len: 0,
            dtmf_ts: None,
            metrics: JitterMetrics::default(),
            last_now_us: 0,
            cfg,
        };
        jb.metrics.target_delay_ms = jb.estimator.target_us(0) as f64 / 1000.0;
        Ok(jb)
    }

    /// The configuration this buffer was built with.
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    /// Metrics snapshot (cheap copy).
    pub fn metrics(&self) -> JitterMetrics {
        let mut m = self.metrics;
        m.lost = self.lost_before + self.stream_lost();
        m
    }

    pub(crate) fn metrics_mut(&mut self) -> &mut JitterMetrics {
        &mut self.metrics
    }

    /// The arrival-statistics estimator (read-only).
    pub fn estimator(&self) -> &DelayEstimator {
        &self.estimator
    }

    fn stream_lost(&self) -> u64 {
        if !self.started {
            return 0;
        }
        let expected = (self.highest_seq - self.first_seq + 1).max(0) as u64;
        expected.saturating_sub(self.stream_received)
    }

    /// Current target delay.
    pub fn target_delay(&self, now: Duration) -> Duration {
        Duration::from_micros(self.estimator.target_us(micros(now)) as u64)
    }

    fn target_ts(&self, now_us: i64) -> i64 {
        let t = self.estimator.target_us(now_us);
        // Whole frames, rounded up: the anchor lands on the pull grid.
        let frames = (t + self.frame_us - 1) / self.frame_us;
        frames * self.frame_ts
    }

    fn media_us(&self, ext_ts: i64) -> i64 {
        (ext_ts - self.ts_base) * 1_000_000 / i64::from(self.cfg.clock_rate)
    }

    /// Playout delay in µs of the audio at `queued_ts` timestamp units before the next frame the
    /// buffer will hand out: how long after the fastest recent packet's arrival it plays.
    pub fn delay_us(&self, now: Duration, queued_ts: i64) -> i64 {
        match self.estimator.min_transit_us() {
            Some(min) if self.started => micros(now) - (self.media_us(self.play_ts - queued_ts) + min),
            _ => 0,
        }
    }

    /// Pending RFC 4733 event reports, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        if self.ev_len == 0 {
            return None;
        }
        let ev = self.events[self.ev_head];
        self.ev_head = (self.ev_head + 1) % EVENT_CAP;
        self.ev_len -= 1;
        Some(ev)
    }

    /// Audio packets buffered and not yet played.
    pub fn pending_packets(&self) -> usize {
        self.pending_audio
    }

    /// Whether the next [`pull`](Self::pull) would return a packet.
    pub fn next_is_ready(&self) -> bool {
        if !self.started || self.pending_audio == 0 {
            return false;
        }
        let mut seq = self.next_seq;
        for _ in 0..self.slots.len() {
            let s = &self.slots[self.slot_of(seq)];
            if s.ext_seq == seq {
                match s.state {
                    SlotState::Audio => return s.ext_ts < self.play_ts + self.frame_ts,
                    SlotState::Skip => {
                        seq += 1;
                        continue;
                    }
                    SlotState::Empty => return false,
                }
            }
            return false;
        }
        false
    }

    fn slot_of(&self, ext_seq: i64) -> usize {
        ext_seq.rem_euclid(self.slots.len() as i64) as usize
    }

    /// Drops all buffered packets and forgets the stream (the delay histogram is kept).
    pub fn reset(&mut self) {
        self.lost_before += self.stream_lost();
        self.metrics.flushed += self.pending_audio as u64;
        self.started = false;
        self.stream_received = 0;
        self.slots.fill(EMPTY_SLOT);
        self.pending_audio = 0;
        self.in_underrun = false;
        self.played = [i64::MIN; PLAYED_RING];
        self.dtmf_ts = None;
        self.estimator.reset_window();
        self.metrics.resets += 1;
    }

    fn start_stream(&mut self, now_us: i64, pkt: &RtpPacketView<'_>) {
        self.started = true;
        self.ssrc = pkt.ssrc;
        self.highest_seq = i64::from(pkt.seq);
        self.first_seq = self.highest_seq;
        self.highest_ts = i64::from(pkt.timestamp);
        self.ts_base = self.highest_ts;
        self.next_seq = self.highest_seq;
        self.play_ts = self.highest_ts - self.target_ts(now_us);
        self.stream_received = 0;
        self.head_locked = false;
    }

    /// Re-positions the playout timeline so that `ext_ts` plays after the target delay.
    fn reanchor(&mut self, now_us: i64, ext_seq: i64, ext_ts: i64) {
        // Skipped sequence numbers (non-audio, or never sent) are not waited for.
        self.slots.fill(EMPTY_SLOT);
        self.pending_audio = 0;
        self.next_seq = ext_seq;
        self.play_ts = ext_ts - self.target_ts(now_us);
        self.head_locked = false;
        self.metrics.reanchors += 1;
    }

    /// Copies a packet into the buffer. `now` is its arrival time on the caller's clock.
    pub fn insert(&mut self, now: Duration, pkt: &RtpPacketView<'_>) -> Result<InsertOutcome, JitterError> {
        self.metrics.packets_received += 1;
        if pkt.payload.len() > self.cfg.max_payload {
            return Err(JitterError::PayloadTooLarge {
                len: pkt.payload.len(),
                max: self.cfg.max_payload,
            });
        }
        let now_us = micros(now);
        self.last_now_us = now_us;
        if self.started && pkt.ssrc != self.ssrc {
            self.reset();
        }
        if !self.started {
            self.start_stream(now_us, pkt);
        }
        let mut ext_seq = self.highest_seq + i64::from(pkt.seq.wrapping_sub(self.highest_seq as u16) as i16);
        let mut ext_ts = self.highest_ts + i64::from(pkt.timestamp.wrapping_sub(self.highest_ts as u32) as i32);
        if (ext_ts - self.ts_base).abs() > MAX_TS_SPAN {
            self.reset();
            self.start_stream(now_us, pkt);
            ext_seq = self.highest_seq;
            ext_ts = self.highest_ts;
        }
        let is_dtmf = self.cfg.dtmf_payload_type == Some(pkt.payload_type);

        // Before anything was consumed, an earlier packet (reordered start) moves the head back.
        if ext_seq < self.next_seq && !self.head_locked && ext_seq > self.highest_seq - self.slots.len() as i64 {
            self.next_seq = ext_seq;
            if self.first_seq > ext_seq {
                self.first_seq = ext_seq;
            }
        }
        let reordered = ext_seq < self.highest_seq;
        // Sequence numbers already consumed.
        if ext_seq < self.next_seq {
            if self.played[ext_seq.rem_euclid(PLAYED_RING as i64) as usize] == ext_seq {
                self.metrics.duplicates += 1;
                return Ok(InsertOutcome::Duplicate);
            }
            self.stream_received += 1;
            self.note_highest(ext_seq, ext_ts);
            if is_dtmf {
                return Ok(self.handle_dtmf(pkt));
            }
            // Still arrival statistics: late packets are what the target must learn from.
            let _ = self.estimator.update(now_us, self.media_us(ext_ts), reordered);
            self.metrics.reordered += u64::from(reordered);
            self.metrics.late += 1;
            return Ok(InsertOutcome::Late);
        }
        // Too far ahead for the slots: jump there if nothing is pending, else start over.
        if ext_seq >= self.next_seq + self.slots.len() as i64 {
            if self.pending_audio == 0 {
                self.reanchor(now_us, ext_seq, ext_ts);
            } else {
                self.reset();
                self.start_stream(now_us, pkt);
                ext_seq = self.highest_seq;
                ext_ts = self.highest_ts;
            }
        }
        let idx = self.slot_of(ext_seq);
        if self.slots[idx].ext_seq == ext_seq && self.slots[idx].state != SlotState::Empty {
            self.metrics.duplicates += 1;
            return Ok(InsertOutcome::Duplicate);
        }
        self.stream_received += 1;
        self.metrics.reordered += u64::from(reordered);
        self.note_highest(ext_seq, ext_ts);

        if is_dtmf {
            self.slots[idx] = Slot {
                state: SlotState::Skip,
                ext_seq,
                ext_ts,
                len: 0,
                payload_type: pkt.payload_type,
                marker: pkt.marker,
                big: INLINE,
            };
            return Ok(self.handle_dtmf(pkt));
        }

        // Arrival statistics (audio and comfort noise only).
        if self
            .estimator
            .update(now_us, self.media_us(ext_ts), reordered)
            .is_none()
            && self.pending_audio == 0
        {
            // Timestamp discontinuity with nothing pending: restart the timeline here.
            self.reanchor(now_us, ext_seq, ext_ts);
        } else if pkt.marker && self.pending_audio == 0 && ext_seq == self.highest_seq && self.stream_received > 1 {
            // Talkspurt start after silence: adapt the delay for free.
            self.reanchor(now_us, ext_seq, ext_ts);
        }
        if ext_ts + self.frame_ts <= self.play_ts {
            // (Counted as reordered above if it was.)
            self.metrics.late += 1;
            return Ok(InsertOutcome::Late);
        }
        let big = self.store(idx, ext_seq, pkt.payload);
        self.slots[idx] = Slot {
            state: SlotState::Audio,
            ext_seq,
            ext_ts,
            len: pkt.payload.len(),
            payload_type: pkt.payload_type,
            marker: pkt.marker,
            big,
        };
        self.pending_audio += 1;
        Ok(InsertOutcome::Buffered)
    }

    fn note_highest(&mut self, ext_seq: i64, ext_ts: i64) {
        if ext_seq > self.highest_seq {
            self.highest_seq = ext_seq;
            self.highest_ts = ext_ts;
        }
    }

    fn handle_dtmf(&mut self, pkt: &RtpPacketView<'_>) -> InsertOutcome {
        let p = pkt.payload;
        if p.len() < 4 {
            self.metrics.invalid += 1;
            return InsertOutcome::Invalid;
        }
        let end = p[1] & 0x80 != 0;
        let ev = DtmfEvent {
            code: p[0],
            timestamp: pkt.timestamp,
            duration: u16::from_be_bytes([p[2], p[3]]),
            volume: p[1] & 0x3f,
            end: false,
        };
        match self.dtmf_ts {
            Some((ts, ended)) if ts == pkt.timestamp => {
                if end && !ended {
                    self.dtmf_ts = Some((ts, true));
                    self.push_event(DtmfEvent { end: true, ..ev });
                }
            }
            // An older event than the current one: stale, already reported or superseded.
            Some((ts, _)) if (pkt.timestamp.wrapping_sub(ts) as i32) < 0 => {}
            _ => {
                self.dtmf_ts = Some((pkt.timestamp, end));
                self.push_event(ev);
                if end {
                    self.push_event(DtmfEvent { end: true, ..ev });
                }
            }
        }
        InsertOutcome::Dtmf
    }

    fn push_event(&mut self, ev: DtmfEvent) {
        if self.ev_len == EVENT_CAP {
            self.metrics.dtmf_dropped += 1;
            return;
        }
        self.events[(self.ev_head + self.ev_len) % EVENT_CAP] = ev;
        self.ev_len += 1;
        self.metrics.dtmf_events += 1;
    }

    /// Copies the payload for slot `idx` (inline, or into a free overflow entry) and returns
    /// where it went (`Slot::big`). The slot's previous payload is being replaced, so its
    /// overflow entry counts as free.
    #[inline]
    fn store(&mut self, idx: usize, ext_seq: i64, payload: &[u8]) -> u16 {
        if payload.len() <= self.slot_bytes {
            let start = idx * self.slot_bytes;
            self.data[start..start + payload.len()].copy_from_slice(payload);
            return INLINE;
        }
        self.store_big(idx, ext_seq, payload)
    }

    /// [`store`](Self::store) of a payload larger than a slot's inline room.
    #[cold]
    #[inline(never)]
    fn store_big(&mut self, idx: usize, ext_seq: i64, payload: &[u8]) -> u16 {
        let max = self.cfg.max_payload;
        let in_use = |b: usize| {
            let owner = self.big_owner[b];
            let i = self.slot_of(owner);
            let s = &self.slots[i];
            i != idx && s.ext_seq == owner && s.state == SlotState::Audio && usize::from(s.big) == b
        };
        // Each slot holds at most one entry, so there are never more entries than slots
        // (≤ 4096 < `INLINE`), and a free one exists once there are as many as slots.
        let b = match (0..self.big_owner.len()).find(|&b| !in_use(b)) {
            Some(b) => b,
            None => {
                self.big_owner.push(i64::MIN);
                self.big.resize(self.big_owner.len() * max, 0);
                self.big_owner.len() - 1
            }
        };
        self.big_owner[b] = ext_seq;
        self.big[b * max..b * max + payload.len()].copy_from_slice(payload);
        b as u16
    }

    /// Bytes held for payloads (inline slots and overflow entries).
    #[cfg(test)]
    pub(crate) fn payload_bytes(&self) -> usize {
        self.data.len() + self.big.len()
    }

    /// The stored payload of `slot` (which sits at index `idx`).
    #[inline]
    fn payload(&self, idx: usize, slot: &Slot) -> &[u8] {
        if slot.big == INLINE {
            let start = idx * self.slot_bytes;
            &self.data[start..start + slot.len]
        } else {
            let start = usize::from(slot.big) * self.cfg.max_payload;
            &self.big[start..start + slot.len]
        }
    }

    fn consume(&mut self, ext_seq: i64) {
        let idx = self.slot_of(ext_seq);
        if self.slots[idx].ext_seq == ext_seq {
            if self.slots[idx].state == SlotState::Audio {
                self.pending_audio -= 1;
            }
            self.slots[idx] = EMPTY_SLOT;
        }
        self.played[ext_seq.rem_euclid(PLAYED_RING as i64) as usize] = ext_seq;
        self.head_locked = true;
    }

    /// Hands out the next frame of playout and advances the timeline by one frame. Call it once
    /// per frame period (the [`Playout`](super::Playout) wrapper calls it when its PCM runs low).
    pub fn pull(&mut self, now: Duration) -> Frame<'_> {
        let now_us = micros(now);
        self.metrics.target_delay_ms = self.estimator.target_us(now_us) as f64 / 1000.0;
        if !self.started {
            return Frame::Idle;
        }
        self.metrics.current_delay_ms = self.delay_us(now, 0).max(0) as f64 / 1000.0;
        // Find the lowest buffered audio packet, consuming non-audio slots at the head.
        let mut found = None;
        let mut seq = self.next_seq;
        let cap = self.slots.len() as i64;
        while self.pending_audio > 0 && seq < self.next_seq + cap {
            let s = self.slots[self.slot_of(seq)];
            if s.ext_seq == seq {
                match s.state {
                    SlotState::Audio => {
                        if s.ext_ts + self.frame_ts <= self.play_ts {
                            // Its time passed while it waited behind a gap: late after all.
                            self.consume(seq);
                            self.metrics.late += 1;
                            if seq == self.next_seq {
                                self.next_seq += 1;
                            }
                            seq += 1;
                            continue;
                        }
                        found = Some(s);
                        break;
                    }
                    SlotState::Skip if seq == self.next_seq => {
                        self.consume(seq);
                        self.next_seq += 1;
                    }
                    _ => {}
                }
            }
            seq += 1;
        }
        let Some(slot) = found else {
            self.play_ts += self.frame_ts;
            if !self.in_underrun {
                self.in_underrun = true;
                self.metrics.underruns += 1;
            }
            self.metrics.underrun_frames += 1;
            self.metrics.concealed_ms += self.frame_us as f64 / 1000.0;
            return Frame::Underrun;
        };
        self.in_underrun = false;
        if slot.ext_ts < self.play_ts + self.frame_ts {
            // Due: play it (and re-align the timeline on it).
            self.consume(slot.ext_seq);
            self.next_seq = slot.ext_seq + 1;
            self.play_ts = slot.ext_ts + self.frame_ts;
            let idx = self.slot_of(slot.ext_seq);
            self.metrics.frames_played += 1;
            return Frame::Packet {
                payload: self.payload(idx, &slot),
                payload_type: slot.payload_type,
                seq: slot.ext_seq as u16,
                timestamp: slot.ext_ts as u32,
                marker: slot.marker,
            };
        }
        self.play_ts += self.frame_ts;
        if slot.ext_seq > self.next_seq {
            // The packet for this frame is missing; a later one is here.
            self.next_seq += 1;
            self.metrics.missing_frames += 1;
            self.metrics.concealed_ms += self.frame_us as f64 / 1000.0;
            let next = (slot.ext_seq == self.next_seq).then(|| NextPacket {
                payload: self.payload(self.slot_of(slot.ext_seq), &slot),
                payload_type: slot.payload_type,
            });
            return Frame::Missing { next };
        }
        // Contiguous sequence, later timestamp: the sender was silent (DTX) or we prefill.
        self.metrics.silence_frames += 1;
        Frame::Silence
    }
}
