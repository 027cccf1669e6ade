//! Per-call playout: jitter buffer → decoder → concealment → time-scaling → 20 ms PCM frames.

use std::time::Duration;

use super::buffer::{Frame, InsertOutcome, JitterBuffer};
use super::decode::{Codec, Decoder};
use super::metrics::JitterMetrics;
use super::stretch::{energy, find_period, insert_period, remove_period};
use super::{DtmfEvent, JitterConfig, JitterError, RtpPacketView, micros};
use crate::plc::Plc;

/// Start shrinking when the delay exceeds the target by more than this…
const SHRINK_START_US: i64 = 10_000;
/// …and keep shrinking until it is within this of the target.
const SHRINK_STOP_US: i64 = 2_500;
/// Start growing when the delay is below the target by more than this (and grow up to target).
const GROW_START_US: i64 = 2_500;
/// Pitch-period time-scaling only where the two periods correlate at least this well.
const MIN_PERIOD_CORR: f32 = 0.6;
/// Below this mean square (about −50 dBFS) audio is silence whatever the floor.
const ABS_SILENCE: f32 = 100.0;

/// Configuration of a [`Playout`]: the codec plus the buffer settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayoutConfig {
    /// Codec of the stream.
    pub codec: Codec,
    /// Jitter buffer settings (`clock_rate` and `max_payload` are set from the codec by
    /// [`PlayoutConfig::new`]).
    pub jitter: JitterConfig,
}

impl PlayoutConfig {
    /// Defaults for `codec`: 20 ms frames, 20–200 ms target delay, quantile 0.95.
    pub fn new(codec: Codec) -> Self {
        let jitter = JitterConfig {
            clock_rate: codec.clock_rate(),
            max_payload: codec.max_payload(),
            ..JitterConfig::default()
        };
        Self { codec, jitter }
    }
}

/// What a [`Playout::pull`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PulledKind {
    /// Decoded audio from received packets.
    Audio,
    /// Concealment was involved (loss, late packet or underrun).
    Concealed,
    /// Silence (no stream yet, comfort noise, DTX).
    Silence,
}

/// The per-call jitter buffer with decoding, concealment and delay adaptation. Feed every RTP
/// packet of the call to [`insert`](Self::insert); call [`pull`](Self::pull) every frame period
/// (20 ms) on the playout clock.
#[derive(Debug)]
pub struct Playout {
    jb: JitterBuffer,
    codec: Codec,
    decoder: Decoder,
    plc: Plc,
    frame_len: usize,
    /// Decoded PCM waiting for output; `queue[..qlen]`.
    queue: Vec<i16>,
    qlen: usize,
    pmin: usize,
    pmax: usize,
    step: usize,
    floor: f32,
    last_kind: PulledKind,
    /// Direction of the adaptation in progress (hysteresis).
    adapting: Adapt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adapt {
    Hold,
    Shrink,
    Grow,
}

impl Playout {
    /// Starts loading the heap buffers the next packet and pull touch into the cache (see
    /// [`crate::simd::prefetch`]); the playout itself is inline in its owner, which prefetches it.
    #[inline]
    pub fn prefetch(&self) {
        self.jb.prefetch();
        crate::simd::prefetch_slice(&self.queue);
        self.plc.prefetch();
    }

    /// Builds the buffer, decoder and concealer; all memory is allocated here.
    pub fn new(cfg: PlayoutConfig) -> Result<Self, JitterError> {
        let jitter = JitterConfig {
            clock_rate: cfg.codec.clock_rate(),
            ..cfg.jitter
        };
        let jb = JitterBuffer::new(jitter)?;
        let rate = cfg.codec.sample_rate();
        let decoder = Decoder::new(cfg.codec)?;
        let plc = Plc::new(rate).map_err(|_| JitterError::DecoderInit { rate })?;
        let frame_len = (u128::from(rate) * jitter.frame.as_micros() / 1_000_000) as usize;
        let ms = |x: u32| (rate * x / 2000) as usize; // half-milliseconds
        // One frame out, one frame in flight, the largest packet (120 ms Opus / G.711 bytes),
        // room for expansion.
        let max_packet = (rate as usize * 120 / 1000).max(jitter.max_payload);
        let cap = 3 * frame_len + max_packet + 4 * ms(25);
        Ok(Self {
            jb,
            codec: cfg.codec,
            decoder,
            plc,
            frame_len,
            queue: vec![0; cap],
            qlen: 0,
            pmin: ms(5),
            pmax: ms(25),
            step: (rate / 8000).max(1) as usize,
            floor: f32::MAX,
            last_kind: PulledKind::Silence,
            adapting: Adapt::Hold,
        })
    }

    /// The codec being decoded.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Samples per output frame at the codec rate.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The underlying codec-agnostic buffer.
    pub fn buffer(&self) -> &JitterBuffer {
        &self.jb
    }

    /// Metrics snapshot.
    pub fn metrics(&self) -> JitterMetrics {
        self.jb.metrics()
    }

    /// Next pending DTMF event report, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.jb.poll_event()
    }

    /// Buffers one RTP packet that arrived at `now`.
    pub fn insert(&mut self, now: Duration, pkt: &RtpPacketView<'_>) -> Result<InsertOutcome, JitterError> {
        self.jb.insert(now, pkt)
    }

    fn queued_ts(&self) -> i64 {
        self.qlen as i64 * i64::from(self.codec.clock_rate()) / i64::from(self.codec.sample_rate())
    }

    /// Current playout delay over the fastest recent packet, including decoded PCM not yet out.
    pub fn delay(&self, now: Duration) -> Duration {
        Duration::from_micros(self.jb.delay_us(now, self.queued_ts()).max(0) as u64)
    }

    /// Writes the next frame (exactly [`frame_len`](Self::frame_len) samples) into `out`.
    pub fn pull(&mut self, now: Duration, out: &mut [i16]) -> Result<PulledKind, JitterError> {
        if out.len() != self.frame_len {
            return Err(JitterError::OutputLength {
                len: out.len(),
                frame: self.frame_len,
            });
        }
        let mut kind = None;
        while self.qlen < self.frame_len {
            let k = self.fetch(now);
            kind = Some(match (kind, k) {
                (Some(PulledKind::Concealed), _) | (_, PulledKind::Concealed) => PulledKind::Concealed,
                (Some(PulledKind::Audio), _) | (_, PulledKind::Audio) => PulledKind::Audio,
                _ => PulledKind::Silence,
            });
        }
        let kind = kind.unwrap_or(self.last_kind);
        self.adapt(now);
        out.copy_from_slice(&self.queue[..self.frame_len]);
        self.queue.copy_within(self.frame_len..self.qlen, 0);
        self.qlen -= self.frame_len;
        let now_us = micros(now);
        let delay_ms = self
            .jb
            .delay_us(now, self.queued_ts() + i64::from(self.jb.config().frame_ts())) as f64
            / 1000.0;
        let target_ms = self.jb.estimator().target_us(now_us) as f64 / 1000.0;
        let m = self.jb.metrics_mut();
        m.current_delay_ms = delay_ms.max(0.0);
        m.target_delay_ms = target_ms;
        self.last_kind = kind;
        Ok(kind)
    }

    /// Pulls one frame from the buffer and appends its PCM to the queue.
    fn fetch(&mut self, now: Duration) -> PulledKind {
        let flen = self.frame_len;
        let start = self.qlen;
        let room = self.queue.len() - start;
        let cn = self.jb.config().cn_payload_type;
        let (frame_kind, n) = {
            let tail = &mut self.queue[start..];
            match self.jb.pull(now) {
                Frame::Idle | Frame::Silence => (PulledKind::Silence, silence(tail, flen)),
                Frame::Packet { payload_type, .. } if Some(payload_type) == cn => {
                    (PulledKind::Silence, silence(tail, flen))
                }
                Frame::Packet { payload, .. } => {
                    let n = self.decoder.decode(payload, &mut tail[..room]);
                    if n == 0 {
                        (PulledKind::Concealed, 0)
                    } else {
                        (PulledKind::Audio, n)
                    }
                }
                Frame::Missing { next } => {
                    let n = self
                        .decoder
                        .conceal(next.map(|p| p.payload), &mut tail[..flen])
                        .unwrap_or(0);
                    (PulledKind::Concealed, n)
                }
                Frame::Underrun => {
                    let n = self.decoder.conceal(None, &mut tail[..flen]).unwrap_or(0);
                    (PulledKind::Concealed, n)
                }
            }
        };
        let seg = &mut self.queue[start..];
        let n = match frame_kind {
            PulledKind::Concealed if n == 0 => {
                // Waveform codec (or undecodable packet): G.711 Appendix I concealment.
                self.plc.conceal(&mut seg[..flen]);
                flen
            }
            PulledKind::Concealed => n,
            _ => {
                if self.decoder.uses_plc() {
                    self.plc.good_frame(&mut seg[..n]);
                }
                if frame_kind == PulledKind::Audio {
                    let e = energy(&seg[..n]);
                    self.floor = if e < self.floor { e.max(1.0) } else { self.floor * 1.005 };
                }
                n
            }
        };
        let n = if n == 0 { silence(seg, flen) } else { n };
        self.qlen += n.min(room);
        frame_kind
    }

    fn is_quiet(&self, seg: &[i16]) -> bool {
        let e = energy(seg);
        e < ABS_SILENCE || (self.floor < f32::MAX && e < 4.0 * self.floor)
    }

    /// Keeps the delay on target: drop/insert low-energy audio, or accelerate/expand speech by
    /// one pitch period. At most one operation per output frame.
    fn adapt(&mut self, now: Duration) {
        let now_us = micros(now);
        let delay = self.jb.delay_us(now, self.queued_ts());
        if delay == 0 && self.jb.estimator().min_transit_us().is_none() {
            return;
        }
        let target = self.jb.estimator().target_us(now_us);
        let rate = i64::from(self.codec.sample_rate());
        let to_samples = |us: i64| (us * rate / 1_000_000) as usize;
        let flen = self.frame_len;
        self.adapting = match self.adapting {
            _ if delay > target + SHRINK_START_US => Adapt::Shrink,
            _ if delay < target - GROW_START_US => Adapt::Grow,
            Adapt::Shrink if delay > target + SHRINK_STOP_US => Adapt::Shrink,
            Adapt::Grow if delay < target => Adapt::Grow,
            _ => Adapt::Hold,
        };
        if self.adapting == Adapt::Shrink {
            // Having one more frame decoded gives room to find a period; only if it is there.
            if self.qlen < flen + 2 * self.pmax && self.jb.next_is_ready() {
                self.fetch(now);
            }
            let excess = to_samples(delay - target).max(1);
            let spare = self.qlen.saturating_sub(flen);
            let quiet_len = (2 * excess.min(flen)).min(self.qlen);
            if self.is_quiet(&self.queue[..quiet_len]) {
                let p = excess.min(flen).min(spare).min(self.qlen / 2);
                self.qlen = remove_period(&mut self.queue, self.qlen, p);
                self.jb.metrics_mut().silence_dropped_ms += ms_of(p, rate);
            } else if let Some((p, c)) =
                find_period(&self.queue[..self.qlen], self.pmin, self.pmax.min(spare), self.step)
                && c >= MIN_PERIOD_CORR
            {
                self.qlen = remove_period(&mut self.queue, self.qlen, p);
                self.jb.metrics_mut().accelerate_ms += ms_of(p, rate);
            }
        } else if self.adapting == Adapt::Grow {
            let deficit = to_samples(target - delay).max(1);
            let room = self.queue.len() - self.qlen;
            let quiet_len = (2 * deficit.min(flen)).min(self.qlen);
            if self.is_quiet(&self.queue[..quiet_len]) {
                let p = deficit.min(self.qlen / 2).min(room);
                self.qlen = insert_period(&mut self.queue, self.qlen, p);
                self.jb.metrics_mut().silence_inserted_ms += ms_of(p, rate);
            } else if let Some((p, c)) =
                find_period(&self.queue[..self.qlen], self.pmin, self.pmax.min(room), self.step)
                && c >= MIN_PERIOD_CORR
            {
                self.qlen = insert_period(&mut self.queue, self.qlen, p);
                self.jb.metrics_mut().expand_ms += ms_of(p, rate);
            }
        }
    }
}

fn silence(tail: &mut [i16], n: usize) -> usize {
    let n = n.min(tail.len());
    tail[..n].fill(0);
    n
}

fn ms_of(samples: usize, rate: i64) -> f64 {
    samples as f64 * 1000.0 / rate as f64
}
