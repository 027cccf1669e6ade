//! Receiver statistics of RFC 3550 appendix A (A.1 sequence tracking, A.3 loss, A.8 jitter) and
//! the view of our own stream the remote reports back (loss, jitter, round-trip time).

use std::time::Duration;

use super::rtcp::{ReportBlock, SenderInfo};

const RTP_SEQ_MOD: u32 = 1 << 16;
/// A jump ahead of more than this many sequence numbers is suspicious (A.1).
const MAX_DROPOUT: u16 = 3000;
/// A jump back of more than this many is a restart, not reordering (A.1).
const MAX_MISORDER: u16 = 100;

/// Per-source reception statistics (one remote SSRC). Call [`record`](Self::record) for every
/// valid RTP packet, [`on_sender_report`](Self::on_sender_report) for every SR from the source,
/// and [`report_block`](Self::report_block) when building an RTCP report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverStats {
    clock_rate: u32,
    started: bool,
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: i64,
    have_transit: bool,
    jitter: f64,
    max_jitter: f64,
    lsr: u32,
    lsr_at: Option<Duration>,
}

impl ReceiverStats {
    /// Statistics for a payload with this RTP clock rate (used to express arrival times in
    /// timestamp units for the jitter).
    pub fn new(clock_rate: u32) -> Self {
        ReceiverStats {
            clock_rate: clock_rate.max(1),
            started: false,
            ssrc: 0,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: 0,
            have_transit: false,
            jitter: 0.0,
            max_jitter: 0.0,
            lsr: 0,
            lsr_at: None,
        }
    }

    /// Forgets the source (SSRC change); the clock rate is kept.
    pub fn reset(&mut self) {
        *self = Self::new(self.clock_rate);
    }

    /// Changes the clock rate (codec change); the jitter estimate restarts.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate.max(1);
        self.have_transit = false;
        self.jitter = 0.0;
    }

    /// The source being tracked, once a packet was recorded.
    pub fn ssrc(&self) -> Option<u32> {
        self.started.then_some(self.ssrc)
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Records one packet that arrived at `now` (A.1 without probation: the source was already
    /// validated by latching). Returns `false` when the sequence number was judged invalid (a
    /// large jump that is not yet confirmed by the following packet). `timed` is `false` for
    /// packets that must not enter the jitter estimate (telephone-events repeat timestamps).
    pub fn record(&mut self, now: Duration, ssrc: u32, seq: u16, ts: u32, timed: bool) -> bool {
        if !self.started || ssrc != self.ssrc {
            let rate = self.clock_rate;
            *self = Self::new(rate);
            self.started = true;
            self.ssrc = ssrc;
            self.init_seq(seq);
        } else {
            let udelta = seq.wrapping_sub(self.max_seq);
            if udelta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
                }
                self.max_seq = seq;
            } else if udelta <= (RTP_SEQ_MOD - u32::from(MAX_MISORDER)) as u16 {
                // A very large jump: accept only if the next packet follows it.
                if u32::from(seq) == self.bad_seq {
                    self.init_seq(seq);
                } else {
                    self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                    return false;
                }
            }
            // else: duplicate or reordered packet.
        }
        self.received = self.received.wrapping_add(1);
        if timed {
            self.update_jitter(now, ts);
        }
        true
    }

    /// A.8: interarrival jitter, arrival time converted to timestamp units.
    fn update_jitter(&mut self, now: Duration, ts: u32) {
        let arrival = (now.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as i64;
        // Modulo-2^32 transit (the difference of two is what matters).
        let transit = i64::from((arrival as u32).wrapping_sub(ts) as i32);
        if self.have_transit {
            let d = i64::from((transit - self.transit) as i32).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
            self.max_jitter = self.max_jitter.max(self.jitter);
        }
        self.transit = transit;
        self.have_transit = true;
    }

    /// Notes an SR from the source that arrived at `now` (for LSR/DLSR).
    pub fn on_sender_report(&mut self, now: Duration, info: &SenderInfo) {
        self.lsr = info.ntp_middle();
        self.lsr_at = Some(now);
    }

    /// Extended highest sequence number received (cycles + max).
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected (A.3).
    pub fn expected(&self) -> u32 {
        if !self.started {
            return 0;
        }
        self.extended_max().wrapping_sub(self.base_seq).wrapping_add(1)
    }

    /// Packets received (duplicates included, as in A.3).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost (A.3; may be negative with duplicates), clamped to 24 bits.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        lost.clamp(-(1 << 23), (1 << 23) - 1) as i32
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// Largest jitter seen, in milliseconds.
    pub fn max_jitter_ms(&self) -> f64 {
        self.max_jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// The fraction lost since the previous call (in 1/256) without advancing the interval.
    pub fn fraction_lost_peek(&self) -> u8 {
        let expected_interval = self.expected().wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        }
    }

    /// The report block about this source at `now`, starting a new fraction-lost interval;
    /// `None` before any packet.
    pub fn report_block(&mut self, now: Duration) -> Option<ReportBlock> {
        if !self.started {
            return None;
        }
        let fraction_lost = self.fraction_lost_peek();
        self.expected_prior = self.expected();
        self.received_prior = self.received;
        let dlsr = match self.lsr_at {
            Some(at) => (now.saturating_sub(at).as_nanos() * 65_536 / 1_000_000_000).min(u128::from(u32::MAX)) as u32,
            None => 0,
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            highest_seq: self.extended_max(),
            jitter: self.jitter as u32,
            lsr: self.lsr,
            dlsr,
        })
    }
}

/// What the remote reports about the stream we send (from the report blocks naming our SSRC).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RemoteView {
    /// Reports received.
    pub reports: u32,
    /// Latest fraction lost, 0..=1.
    pub fraction_lost: f32,
    /// Latest cumulative loss.
    pub cumulative_lost: i32,
    /// Latest interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// Latest round-trip time in milliseconds (from LSR/DLSR), once the remote echoed an SR.
    pub rtt_ms: Option<f64>,
}

impl RemoteView {
    /// Takes in a block about our stream that arrived when our NTP clock read `ntp_now`; our
    /// payload's clock rate converts the jitter.
    pub fn on_block(&mut self, block: &ReportBlock, ntp_now: u64, clock_rate: u32) {
        self.reports = self.reports.saturating_add(1);
        self.fraction_lost = f32::from(block.fraction_lost) / 256.0;
        self.cumulative_lost = block.cumulative_lost;
        self.jitter_ms = f64::from(block.jitter) * 1000.0 / f64::from(clock_rate.max(1));
        if block.lsr != 0 {
            let a = (ntp_now >> 16) as u32;
            let rtt = a.wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
            // A negative (wrapped) value means clocks or the echo are off: ignore it.
            if rtt < 1 << 31 {
                self.rtt_ms = Some(f64::from(rtt) * 1000.0 / 65_536.0);
            }
        }
    }
}
