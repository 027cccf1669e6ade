//! What a load run measures: fixed-bucket histograms (no allocation while recording), per-call
//! RTP receive state, the merged report and its machine-readable final line.

use std::fmt::Write as _;
use std::time::Duration;

/// Histogram bucket width, µs.
const BUCKET_US: u64 = 10;
/// Buckets: 0 … 500 ms in 10 µs steps; larger values land in the last one (the max is kept exactly).
const BUCKETS: usize = 50_000;

/// A histogram of durations in 10 µs buckets up to 500 ms, with the exact maximum.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u32>,
    n: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            n: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.counts[i] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Values recorded.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Adds `other`'s values.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The `q` quantile (0–1) in ms (bucket upper edge, capped at the maximum); 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let edge = (i as u64 + 1) * BUCKET_US;
                return edge.min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }

    /// The largest value, ms.
    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }
}

/// Receive state of one call's bot audio: sequence tracking and arrival times.
#[derive(Debug, Clone, Copy, Default)]
pub struct RxTrack {
    /// First packet seen.
    pub started: bool,
    first_seq: u64,
    max_seq: u64,
    /// Packets received.
    pub received: u64,
    last_at: Option<Duration>,
    last_seq: u64,
}

impl RxTrack {
    /// A packet with sequence number `seq` arrived at `at` (time since the run's start).
    /// Returns the deviation of its inter-arrival time from `20 ms × seq step` (None for the first
    /// packet, duplicates and reordered packets) and whether it counts as late (> 20 ms behind).
    pub fn on_packet(&mut self, seq: u16, at: Duration) -> Option<(Duration, bool)> {
        self.received += 1;
        if !self.started {
            self.started = true;
            self.first_seq = u64::from(seq);
            self.max_seq = u64::from(seq);
            self.last_seq = u64::from(seq);
            self.last_at = Some(at);
            return None;
        }
        // Extend the 16-bit sequence number around the highest one seen.
        let base = self.max_seq & !0xffff;
        let mut ext = base | u64::from(seq);
        if ext + 0x8000 < self.max_seq {
            ext += 0x1_0000;
        } else if ext > self.max_seq + 0x8000 && ext >= 0x1_0000 {
            ext -= 0x1_0000;
        }
        if ext <= self.max_seq {
            return None; // duplicate or reordered: counted, not timed
        }
        let step = ext - self.last_seq;
        self.max_seq = ext;
        let prev = self.last_at.replace(at).unwrap_or(at);
        self.last_seq = ext;
        if step > 50 {
            return None; // a long gap (hold, resync): not an inter-arrival sample
        }
        let expected = Duration::from_millis(20 * step);
        let gap = at.saturating_sub(prev);
        let dev = gap.abs_diff(expected);
        Some((dev, gap > expected + Duration::from_millis(20)))
    }

    /// Packets the sender sent in the span seen (highest − first + 1).
    pub fn expected(&self) -> u64 {
        if self.started {
            self.max_seq - self.first_seq + 1
        } else {
            0
        }
    }
}

/// Everything one generator thread measured.
#[derive(Debug, Clone, Default)]
pub struct GenStats {
    /// Calls attempted.
    pub attempted: u64,
    /// Calls answered (200).
    pub answered: u64,
    /// Calls refused with 503.
    pub refused_503: u64,
    /// Calls that failed otherwise (other final status, timeout, no answer).
    pub failed: u64,
    /// Answered calls the far end ended before our BYE.
    pub dropped: u64,
    /// INVITE → 200 latency, µs, one per answered call.
    pub setup_us: Vec<u32>,
    /// ACK → first bot RTP packet, µs.
    pub first_audio_us: Vec<u32>,
    /// Inter-arrival deviation from 20 ms of the bot's audio in the steady window (every call
    /// up, none hanging up).
    pub jitter: Histogram,
    /// Bot packets more than 20 ms behind in the steady window.
    pub late: u64,
    /// Bot packets timed in the steady window.
    pub timed: u64,
    /// The same deviation over the whole run (ramp-up and teardown included).
    pub jitter_all: Histogram,
    /// Late packets over the whole run.
    pub late_all: u64,
    /// Bot packets expected (per call: highest − first sequence + 1).
    pub expected: u64,
    /// Bot packets received.
    pub received: u64,
    /// RTP packets we sent.
    pub sent: u64,
    /// RTP packets our socket refused (full buffer).
    pub send_drops: u64,
    /// Answered calls that never received bot audio.
    pub silent_calls: u64,
}

impl GenStats {
    /// Adds another thread's figures.
    pub fn merge(&mut self, o: &GenStats) {
        self.attempted += o.attempted;
        self.answered += o.answered;
        self.refused_503 += o.refused_503;
        self.failed += o.failed;
        self.dropped += o.dropped;
        self.setup_us.extend_from_slice(&o.setup_us);
        self.first_audio_us.extend_from_slice(&o.first_audio_us);
        self.jitter.merge(&o.jitter);
        self.late += o.late;
        self.timed += o.timed;
        self.jitter_all.merge(&o.jitter_all);
        self.late_all += o.late_all;
        self.expected += o.expected;
        self.received += o.received;
        self.sent += o.sent;
        self.send_drops += o.send_drops;
        self.silent_calls += o.silent_calls;
    }
}

/// The `q` quantile of µs values, in ms.
pub fn quantile_ms(values: &mut [u32], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    f64::from(values[rank - 1]) / 1000.0
}

/// The figures of one run, as printed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Calls attempted.
    pub calls: u64,
    /// Setup success, percent.
    pub ok_pct: f64,
    /// Setup latency p50, ms.
    pub setup_p50_ms: f64,
    /// Setup latency p99, ms.
    pub setup_p99_ms: f64,
    /// First-audio latency p50, ms.
    pub first_audio_p50_ms: f64,
    /// First-audio latency p99, ms.
    pub first_audio_p99_ms: f64,
    /// Dataplane CPU per call-second, µs (None when no process was watched).
    pub cpu_us_per_call_s: Option<f64>,
    /// Dataplane RSS growth per call, KiB.
    pub rss_kb_per_call: Option<f64>,
    /// Jitter p50 / p99 / max, ms.
    pub jitter_p50_ms: f64,
    /// Jitter p99, ms.
    pub jitter_p99_ms: f64,
    /// Largest deviation, ms.
    pub jitter_max_ms: f64,
    /// Late packets, percent of received.
    pub late_pct: f64,
    /// Lost packets, percent of expected.
    pub loss_pct: f64,
    /// Calls refused with 503.
    pub refused_503: u64,
    /// Jitter p99 over the whole run, ms.
    pub all_jitter_p99_ms: f64,
    /// Largest deviation over the whole run, ms.
    pub all_jitter_max_ms: f64,
    /// Late packets over the whole run, percent of received.
    pub all_late_pct: f64,
    /// The dataplane's own media ticks in the steady window that started ≥ 2 ms late (their RTP
    /// left off the 20 ms grid), percent (from its fleet segment; None when not spawned). Jitter the generator sees
    /// beyond this comes from the path or the generator, not from the dataplane's clock.
    pub dp_late_ticks_pct: Option<f64>,
}

impl GenStats {
    /// Records one inter-arrival deviation; `steady` when it falls in the steady window.
    pub fn record_jitter(&mut self, dev: Duration, late: bool, steady: bool) {
        self.jitter_all.record(dev);
        self.late_all += u64::from(late);
        if steady {
            self.jitter.record(dev);
            self.late += u64::from(late);
            self.timed += 1;
        }
    }
}

impl Summary {
    /// Summarises merged generator figures.
    pub fn from_stats(s: &mut GenStats) -> Summary {
        let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 };
        let ok = s.answered.saturating_sub(s.dropped);
        Summary {
            calls: s.attempted,
            ok_pct: pct(ok, s.attempted),
            setup_p50_ms: quantile_ms(&mut s.setup_us, 0.5),
            setup_p99_ms: quantile_ms(&mut s.setup_us, 0.99),
            first_audio_p50_ms: quantile_ms(&mut s.first_audio_us, 0.5),
            first_audio_p99_ms: quantile_ms(&mut s.first_audio_us, 0.99),
            cpu_us_per_call_s: None,
            rss_kb_per_call: None,
            jitter_p50_ms: s.jitter.quantile_ms(0.5),
            jitter_p99_ms: s.jitter.quantile_ms(0.99),
            jitter_max_ms: s.jitter.max_ms(),
            late_pct: pct(s.late, s.timed),
            loss_pct: pct(s.expected.saturating_sub(s.received.min(s.expected)), s.expected),
            refused_503: s.refused_503,
            all_jitter_p99_ms: s.jitter_all.quantile_ms(0.99),
            all_jitter_max_ms: s.jitter_all.max_ms(),
            all_late_pct: pct(s.late_all, s.received),
            dp_late_ticks_pct: None,
        }
    }

    /// Within the capacity bounds: jitter p99 ≤ 5 ms, no packet > 20 ms late, loss ≤ 0.1 %,
    /// every call set up.
    pub fn within_bounds(&self) -> Result<(), String> {
        if self.ok_pct < 100.0 {
            return Err(format!("setup ok {:.2} % (503: {})", self.ok_pct, self.refused_503));
        }
        if self.jitter_p99_ms > 5.0 {
            return Err(format!("jitter p99 {:.2} ms > 5 ms", self.jitter_p99_ms));
        }
        if self.jitter_max_ms > 20.0 || self.late_pct > 0.0 {
            return Err(format!("a frame {:.1} ms late (> 20 ms)", self.jitter_max_ms));
        }
        if self.loss_pct > 0.1 {
            return Err(format!("loss {:.3} % > 0.1 %", self.loss_pct));
        }
        Ok(())
    }

    /// The final machine-readable line.
    pub fn line(&self) -> String {
        let opt = |v: Option<f64>, d: usize| v.map_or_else(|| "na".to_owned(), |v| format!("{v:.d$}"));
        let mut s = String::new();
        let _ = write!(
            s,
            "load: calls={} ok={:.2} setup_p50_ms={:.2} setup_p99_ms={:.2} first_audio_p50_ms={:.2} \
             first_audio_p99_ms={:.2} cpu_us_per_call_s={} rss_kb_per_call={} jitter_p50_ms={:.3} \
             jitter_p99_ms={:.3} jitter_max_ms={:.3} late={:.3} loss={:.3} refused_503={} \
             all_jitter_p99_ms={:.3} all_jitter_max_ms={:.3} all_late={:.3} dp_late_ticks={}",
            self.calls,
            self.ok_pct,
            self.setup_p50_ms,
            self.setup_p99_ms,
            self.first_audio_p50_ms,
            self.first_audio_p99_ms,
            opt(self.cpu_us_per_call_s, 1),
            opt(self.rss_kb_per_call, 1),
            self.jitter_p50_ms,
            self.jitter_p99_ms,
            self.jitter_max_ms,
            self.late_pct,
            self.loss_pct,
            self.refused_503,
            self.all_jitter_p99_ms,
            self.all_jitter_max_ms,
            self.all_late_pct,
            opt(self.dp_late_ticks_pct, 3),
        );
        s
    }
}

/// `key=value` pairs of a `load:` line.
#[cfg(test)]
pub fn parse_line(line: &str) -> Option<Vec<(String, String)>> {
    let rest = line.strip_prefix("load:")?;
    Some(
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_and_max() {
        let mut h = Histogram::default();
        for us in [100u64, 200, 300, 400, 10_000] {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 5);
        assert!((h.quantile_ms(0.5) - 0.31).abs() < 0.02, "{}", h.quantile_ms(0.5));
        assert_eq!(h.max_ms(), 10.0);
        assert_eq!(h.quantile_ms(1.0), 10.0);
        h.record(Duration::from_secs(3));
        assert_eq!(h.max_ms(), 3000.0);
    }

    #[test]
    fn rx_track_counts_loss_late_and_wrap() {
        let mut t = RxTrack::default();
        let ms = Duration::from_millis;
        assert!(t.on_packet(65_534, ms(0)).is_none());
        let (d, late) = t.on_packet(65_535, ms(21)).unwrap();
        assert_eq!((d, late), (ms(1), false));
        // seq 0 lost; 1 arrives on time for a two-step gap.
        let (d, late) = t.on_packet(1, ms(61)).unwrap();
        assert_eq!((d, late), (ms(0), false));
        let (_, late) = t.on_packet(2, ms(105)).unwrap();
        assert!(late);
        assert!(t.on_packet(2, ms(106)).is_none()); // duplicate
        assert_eq!(t.expected(), 5);
        assert_eq!(t.received, 5);
    }

    #[test]
    fn final_line_round_trips_and_bounds_apply() {
        let mut s = GenStats {
            attempted: 10,
            answered: 10,
            expected: 1000,
            received: 1000,
            ..Default::default()
        };
        s.record_jitter(Duration::from_micros(700), false, true);
        let mut sum = Summary::from_stats(&mut s);
        sum.cpu_us_per_call_s = Some(123.4);
        let kv = parse_line(&sum.line()).unwrap();
        let get = |k: &str| kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("calls"), "10");
        assert_eq!(get("ok"), "100.00");
        assert_eq!(get("cpu_us_per_call_s"), "123.4");
        assert_eq!(get("rss_kb_per_call"), "na");
        assert!(sum.within_bounds().is_ok());
        sum.loss_pct = 0.2;
        assert!(sum.within_bounds().is_err());
    }
}
