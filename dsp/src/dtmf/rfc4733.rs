//! RFC 4733 telephone events: the 4-byte payload, a sans-IO sender producing the packet sequence
//! of one digit, and a receiver turning a packet stream into digit start/end events.

use super::{DtmfDigit, DtmfError};

/// One RFC 4733 event block:
/// `event (8) | E (1) | R (1) | volume (6) | duration (16)`, network byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are the DTMF digits).
    pub event: u8,
    /// End bit: the event has ended; `duration` is final.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Size of one event block in bytes.
    pub const LEN: usize = 4;

    /// Parses the first event block of a payload. The payload must be a non-empty multiple of
    /// 4 bytes. The reserved bit is ignored, as RFC 4733 asks of receivers.
    pub fn decode(payload: &[u8]) -> Result<Self, DtmfError> {
        let len = payload.len();
        match payload {
            [event, flags, d0, d1, ..] if len.is_multiple_of(Self::LEN) => Ok(TelephoneEvent {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ if len < Self::LEN => Err(DtmfError::PayloadTooShort { len }),
            _ => Err(DtmfError::PayloadLength { len }),
        }
    }

    /// The 4 payload bytes. Fails if `volume` exceeds 63.
    pub fn encode(&self) -> Result<[u8; 4], DtmfError> {
        if self.volume > 63 {
            return Err(DtmfError::VolumeOutOfRange { volume: self.volume });
        }
        let d = self.duration.to_be_bytes();
        Ok([self.event, (u8::from(self.end) << 7) | self.volume, d[0], d[1]])
    }

    /// The DTMF digit of this event, if it is one.
    pub fn digit(&self) -> Option<DtmfDigit> {
        DtmfDigit::from_event(self.event)
    }
}

/// Settings of a [`DtmfSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// RTP clock rate of the telephone-event payload type (8000 for `telephone-event/8000`).
    pub clock_rate: u32,
    /// Interval between duration updates, in ms (RFC 4733 suggests 50 ms).
    pub interval_ms: u32,
    /// Volume in -dBm0 (0..=63).
    pub volume: u8,
    /// Number of packets with the end bit (RFC 4733: three).
    pub end_packets: u8,
    /// Spacing of the end packets, in ms.
    pub end_spacing_ms: u32,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            clock_rate: 8000,
            interval_ms: 50,
            volume: 10,
            end_packets: 3,
            end_spacing_ms: 20,
        }
    }
}

/// One packet to send: put `event.encode()` in an RTP packet with this `timestamp` and `marker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// RTP timestamp: the start of the event, the same on every packet of it.
    pub timestamp: u32,
    /// RTP marker bit: set on the first packet of the event only.
    pub marker: bool,
    /// The payload.
    pub event: TelephoneEvent,
    /// When to send it, in ms after the first packet.
    pub send_at_ms: u32,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    event: u8,
    timestamp: u32,
    duration: u16,
    duration_ms: u32,
    /// Index of the next packet.
    next: u32,
    /// Number of update (non-end) packets.
    updates: u32,
}

/// Sans-IO RFC 4733 sender: [`DtmfSender::start`] a digit, then take its packets with
/// [`DtmfSender::next_packet`] and send each at its `send_at_ms`.
///
/// Update packets go out every `interval_ms` from the start, each carrying the duration it
/// covers (the first one with the marker bit), then `end_packets` copies of the final packet
/// with the end bit.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    cfg: SenderConfig,
    active: Option<Sending>,
}

impl DtmfSender {
    /// A sender with these settings. Fails on a zero clock rate or interval or a volume above 63.
    pub fn new(cfg: SenderConfig) -> Result<Self, DtmfError> {
        if cfg.clock_rate == 0 {
            return Err(DtmfError::UnsupportedRate {
                rate: 0,
                min: 1,
                max: u32::MAX,
            });
        }
        if cfg.interval_ms == 0 {
            return Err(DtmfError::ZeroDuration);
        }
        if cfg.volume > 63 {
            return Err(DtmfError::VolumeOutOfRange { volume: cfg.volume });
        }
        Ok(DtmfSender { cfg, active: None })
    }

    /// The longest digit this sender can carry in one event (the 16-bit duration field).
    pub fn max_duration_ms(&self) -> u32 {
        (u64::from(u16::MAX) * 1000 / u64::from(self.cfg.clock_rate)) as u32
    }

    /// Starts sending `digit` for `duration_ms`, with RTP timestamp `timestamp`. Replaces any
    /// digit still being sent.
    pub fn start(&mut self, digit: DtmfDigit, duration_ms: u32, timestamp: u32) -> Result<(), DtmfError> {
        if duration_ms == 0 {
            return Err(DtmfError::ZeroDuration);
        }
        let max_ms = self.max_duration_ms();
        if duration_ms > max_ms {
            return Err(DtmfError::DurationTooLong { duration_ms, max_ms });
        }
        let duration = self.ms_to_ts(duration_ms) as u16;
        let updates = duration_ms.div_ceil(self.cfg.interval_ms);
        self.active = Some(Sending {
            event: digit.event(),
            timestamp,
            duration,
            duration_ms,
            next: 0,
            updates,
        });
        Ok(())
    }

    fn ms_to_ts(&self, ms: u32) -> u32 {
        (u64::from(ms) * u64::from(self.cfg.clock_rate) / 1000).min(u64::from(u16::MAX)) as u32
    }

    /// Whether packets of the current digit remain.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// The next packet of the current digit, or `None` when all were taken.
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        let s = self.active.as_mut()?;
        let k = s.next;
        s.next += 1;
        let total = s.updates + u32::from(self.cfg.end_packets);
        let pkt = if k < s.updates {
            let covered = self.cfg.interval_ms.saturating_mul(k + 1).min(s.duration_ms);
            let duration = (u64::from(covered) * u64::from(self.cfg.clock_rate) / 1000).min(u64::from(s.duration));
            DtmfPacket {
                timestamp: s.timestamp,
                marker: k == 0,
                event: TelephoneEvent {
                    event: s.event,
                    end: false,
                    volume: self.cfg.volume,
                    duration: duration as u16,
                },
                send_at_ms: self.cfg.interval_ms.saturating_mul(k),
            }
        } else if k < total {
            let i = k - s.updates;
            DtmfPacket {
                timestamp: s.timestamp,
                marker: false,
                event: TelephoneEvent {
                    event: s.event,
                    end: true,
                    volume: self.cfg.volume,
                    duration: s.duration,
                },
                send_at_ms: s.duration_ms.saturating_add(self.cfg.end_spacing_ms.saturating_mul(i)),
            }
        } else {
            self.active = None;
            return None;
        };
        if k + 1 >= total {
            self.active = None;
        }
        Some(pkt)
    }
}

/// A digit event recovered from RFC 4733 packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpDtmfEvent {
    /// A digit began at this RTP timestamp.
    Start {
        /// The digit.
        digit: DtmfDigit,
        /// Its RTP timestamp.
        timestamp: u32,
    },
    /// A digit ended.
    End {
        /// The digit.
        digit: DtmfDigit,
        /// Its RTP timestamp (the start of the event).
        timestamp: u32,
        /// Its duration in RTP timestamp units (the largest seen).
        duration: u32,
        /// Whether an end-bit packet was seen (false: ended by a newer event or by `flush`).
        end_seen: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Current {
    digit: DtmfDigit,
    timestamp: u32,
    duration: u32,
}

const QUEUE: usize = 8;

/// Sans-IO RFC 4733 receiver: feed each telephone-event packet to
/// [`DtmfReceiver::handle_packet`], then drain [`DtmfReceiver::poll_event`].
///
/// An event is keyed by its RTP timestamp: the first packet seen of a new timestamp starts a
/// digit (so a lost marker packet is harmless), the first end-bit packet ends it, and end
/// retransmits and late packets of ended or older events are dropped. A packet with a newer
/// timestamp while a digit is open ends it first (its end packets were lost). Non-DTMF event
/// codes (16 and up) are ignored.
#[derive(Debug, Clone)]
pub struct DtmfReceiver {
    current: Option<Current>,
    /// (timestamp, event code) of the last ended event.
    last_ended: Option<(u32, u8)>,
    queue: [Option<RtpDtmfEvent>; QUEUE],
    head: usize,
    len: usize,
    dropped: u64,
}

impl Default for DtmfReceiver {
    fn default() -> Self {
        Self::new()
    }
}

/// `a` is strictly newer than `b` in RTP timestamp order (mod 2^32).
fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl DtmfReceiver {
    /// An empty receiver.
    pub fn new() -> Self {
        DtmfReceiver {
            current: None,
            last_ended: None,
            queue: [None; QUEUE],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Handles the payload of one telephone-event RTP packet with RTP timestamp `timestamp`.
    /// Packed payloads (several 4-byte blocks) are taken as consecutive events, each starting
    /// where the previous one's duration ends. Drain [`Self::poll_event`] after each call: at
    /// most 8 events are kept, the oldest are dropped beyond that.
    pub fn handle_packet(&mut self, timestamp: u32, payload: &[u8]) -> Result<(), DtmfError> {
        TelephoneEvent::decode(payload)?;
        let mut ts = timestamp;
        for block in payload.chunks_exact(TelephoneEvent::LEN) {
            let ev = TelephoneEvent::decode(block)?;
            self.handle_event(ts, ev);
            ts = ts.wrapping_add(u32::from(ev.duration));
        }
        Ok(())
    }

    fn handle_event(&mut self, ts: u32, ev: TelephoneEvent) {
        let Some(digit) = ev.digit() else { return };
        let duration = u32::from(ev.duration);
        if let Some(cur) = self.current.as_mut() {
            if ts == cur.timestamp && cur.digit == digit {
                cur.duration = cur.duration.max(duration);
                if ev.end {
                    let c = *cur;
                    self.end_current(c, true);
                }
                return;
            }
            if !newer(ts, cur.timestamp) {
                return; // late packet of an older event
            }
            let c = *cur;
            self.end_current(c, false);
        }
        if let Some((lts, lev)) = self.last_ended
            && !(newer(ts, lts) || (ts == lts && lev != digit.event()))
        {
            return; // end retransmit or late packet of an ended event
        }
        self.push(RtpDtmfEvent::Start { digit, timestamp: ts });
        let cur = Current {
            digit,
            timestamp: ts,
            duration,
        };
        if ev.end {
            self.end_current(cur, true);
        } else {
            self.current = Some(cur);
        }
    }

    fn end_current(&mut self, c: Current, end_seen: bool) {
        self.push(RtpDtmfEvent::End {
            digit: c.digit,
            timestamp: c.timestamp,
            duration: c.duration,
            end_seen,
        });
        self.last_ended = Some((c.timestamp, c.digit.event()));
        self.current = None;
    }

    fn push(&mut self, e: RtpDtmfEvent) {
        if self.len == QUEUE {
            self.head = (self.head + 1) % QUEUE;
            self.len -= 1;
            self.dropped += 1;
        }
        self.queue[(self.head + self.len) % QUEUE] = Some(e);
        self.len += 1;
    }

    /// Ends the open digit, if any (call when the stream stops or times out).
    pub fn flush(&mut self) {
        if let Some(c) = self.current {
            self.end_current(c, false);
        }
    }

    /// The digit currently open, if any.
    pub fn current_digit(&self) -> Option<DtmfDigit> {
        self.current.map(|c| c.digit)
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<RtpDtmfEvent> {
        if self.len == 0 {
            return None;
        }
        let e = self.queue[self.head].take();
        self.head = (self.head + 1) % QUEUE;
        self.len -= 1;
        e
    }

    /// Events dropped because the queue was not drained.
    pub fn dropped_events(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut DtmfReceiver) -> Vec<RtpDtmfEvent> {
        std::iter::from_fn(|| rx.poll_event()).collect()
    }

    #[test]
    fn payload_round_trip_and_errors() {
        let ev = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 1600,
        };
        let b = ev.encode().unwrap();
        assert_eq!(b, [11, 0x8A, 0x06, 0x40]);
        assert_eq!(TelephoneEvent::decode(&b), Ok(ev));
        // Reserved bit is ignored.
        assert_eq!(TelephoneEvent::decode(&[11, 0xCA, 0x06, 0x40]), Ok(ev));
        assert_eq!(
            TelephoneEvent::decode(&[1, 2, 3]),
            Err(DtmfError::PayloadTooShort { len: 3 })
        );
        assert_eq!(
            TelephoneEvent::decode(&[1, 2, 3, 4, 5]),
            Err(DtmfError::PayloadLength { len: 5 })
        );
        let bad = TelephoneEvent { volume: 64, ..ev };
        assert_eq!(bad.encode(), Err(DtmfError::VolumeOutOfRange { volume: 64 }));
        assert_eq!(ev.digit(), Some(DtmfDigit::Pound));
    }

    #[test]
    fn sender_sequence() {
        let mut tx = DtmfSender::new(SenderConfig::default()).unwrap();
        tx.start(DtmfDigit::D5, 120, 1000).unwrap();
        let pkts: Vec<DtmfPacket> = std::iter::from_fn(|| tx.next_packet()).collect();
        assert!(!tx.is_active());
        // Updates at 0, 50, 100 ms with durations 400, 800, 960; then three end packets.
        assert_eq!(pkts.len(), 6);
        assert!(pkts.iter().all(|p| p.timestamp == 1000 && p.event.event == 5));
        assert!(pkts[0].marker && pkts[1..].iter().all(|p| !p.marker));
        let durs: Vec<u16> = pkts.iter().map(|p| p.event.duration).collect();
        assert_eq!(durs, [400, 800, 960, 960, 960, 960]);
        let ends: Vec<bool> = pkts.iter().map(|p| p.event.end).collect();
        assert_eq!(ends, [false, false, false, true, true, true]);
        let at: Vec<u32> = pkts.iter().map(|p| p.send_at_ms).collect();
        assert_eq!(at, [0, 50, 100, 120, 140, 160]);
        assert_eq!(tx.next_packet(), None);
    }

    #[test]
    fn sender_errors() {
        assert!(
            DtmfSender::new(SenderConfig {
                interval_ms: 0,
                ..SenderConfig::default()
            })
            .is_err()
        );
        assert_eq!(
            DtmfSender::new(SenderConfig {
                volume: 70,
                ..SenderConfig::default()
            })
            .unwrap_err(),
            DtmfError::VolumeOutOfRange { volume: 70 }
        );
        let mut tx = DtmfSender::new(SenderConfig::default()).unwrap();
        assert_eq!(tx.start(DtmfDigit::D1, 0, 0), Err(DtmfError::ZeroDuration));
        assert_eq!(
            tx.start(DtmfDigit::D1, 10_000, 0),
            Err(DtmfError::DurationTooLong {
                duration_ms: 10_000,
                max_ms: 8191
            })
        );
    }

    #[test]
    fn sender_to_receiver_dedups_end_retransmits() {
        let mut tx = DtmfSender::new(SenderConfig::default()).unwrap();
        let mut rx = DtmfReceiver::new();
        let mut events = Vec::new();
        for (i, d) in [DtmfDigit::D1, DtmfDigit::Star, DtmfDigit::D1].into_iter().enumerate() {
            tx.start(d, 100, 5000 + i as u32 * 2000).unwrap();
            while let Some(p) = tx.next_packet() {
                rx.handle_packet(p.timestamp, &p.event.encode().unwrap()).unwrap();
                events.extend(drain(&mut rx));
            }
        }
        use RtpDtmfEvent::*;
        assert_eq!(
            events,
            [
                Start {
                    digit: DtmfDigit::D1,
                    timestamp: 5000
                },
                End {
                    digit: DtmfDigit::D1,
                    timestamp: 5000,
                    duration: 800,
                    end_seen: true
                },
                Start {
                    digit: DtmfDigit::Star,
                    timestamp: 7000
                },
                End {
                    digit: DtmfDigit::Star,
                    timestamp: 7000,
                    duration: 800,
                    end_seen: true
                },
                Start {
                    digit: DtmfDigit::D1,
                    timestamp: 9000
                },
                End {
                    digit: DtmfDigit::D1,
                    timestamp: 9000,
                    duration: 800,
                    end_seen: true
                },
            ]
        );
    }

    #[test]
    fn receiver_handles_loss_and_timestamp_changes() {
        use RtpDtmfEvent::*;
        let mut rx = DtmfReceiver::new();
        let p = |event, end, duration| {
            TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .encode()
            .unwrap()
        };
        // Start packet lost: the first update still starts the digit.
        rx.handle_packet(100, &p(7, false, 800)).unwrap();
        assert_eq!(
            drain(&mut rx),
            [Start {
                digit: DtmfDigit::D7,
                timestamp: 100
            }]
        );
        assert_eq!(rx.current_digit(), Some(DtmfDigit::D7));
        // All end packets lost; a new timestamp ends the old digit and starts the new one.
        rx.handle_packet(2000, &p(8, false, 400)).unwrap();
        assert_eq!(
            drain(&mut rx),
            [
                End {
                    digit: DtmfDigit::D7,
                    timestamp: 100,
                    duration: 800,
                    end_seen: false
                },
                Start {
                    digit: DtmfDigit::D8,
                    timestamp: 2000
                }
            ]
        );
        // A late packet of the old event is ignored.
        rx.handle_packet(100, &p(7, true, 900)).unwrap();
        assert_eq!(drain(&mut rx), []);
        // Only an end packet arrives for a new event: start and end together.
        rx.handle_packet(2000, &p(8, true, 900)).unwrap();
        rx.handle_packet(2000, &p(8, true, 900)).unwrap();
        rx.handle_packet(4000, &p(15, true, 640)).unwrap();
        rx.handle_packet(4000, &p(15, true, 640)).unwrap();
        assert_eq!(
            drain(&mut rx),
            [
                End {
                    digit: DtmfDigit::D8,
                    timestamp: 2000,
                    duration: 900,
                    end_seen: true
                },
                Start {
                    digit: DtmfDigit::D,
                    timestamp: 4000
                },
                End {
                    digit: DtmfDigit::D,
                    timestamp: 4000,
                    duration: 640,
                    end_seen: true
                },
            ]
        );
        // Non-DTMF events are ignored; short payloads are typed errors.
        rx.handle_packet(6000, &p(40, false, 100)).unwrap();
        assert_eq!(drain(&mut rx), []);
        assert_eq!(rx.handle_packet(6000, &[1]), Err(DtmfError::PayloadTooShort { len: 1 }));
        // Timestamp wrap-around: u32::MAX - 10 is older than 5.
        let mut rx = DtmfReceiver::new();
        rx.handle_packet(u32::MAX - 10, &p(1, false, 160)).unwrap();
        rx.flush();
        rx.handle_packet(5, &p(2, false, 160)).unwrap();
        rx.handle_packet(u32::MAX - 10, &p(1, true, 320)).unwrap();
        rx.flush();
        let ev = drain(&mut rx);
        assert_eq!(ev.len(), 4);
        assert_eq!(
            ev[2],
            Start {
                digit: DtmfDigit::D2,
                timestamp: 5
            }
        );
        assert_eq!(rx.dropped_events(), 0);
    }
}
