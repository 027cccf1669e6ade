//! Deterministic network simulation for the jitter buffer (used by `cxb dsp jitter`, tests and
//! benches). Not for the media path: it allocates the whole trace up front.
//!
//! - **Loss**: Gilbert–Elliott two-state model with loss probability 0 in the good state and 1 in
//!   the bad state (the classic Gilbert case). With mean loss `p` and mean burst length `b`
//!   packets: P(bad→good) = 1/b, P(good→bad) = p/(b·(1−p)).
//! - **Jitter**: per-packet extra delay from a Pareto (type I) distribution with shape α = 3 and
//!   scale x_m = ⅔·`jitter_ms`, so the mean extra delay is `jitter_ms` (minimum ⅔·`jitter_ms`,
//!   capped at 1 s), drawn independently per packet (like netem: when the jitter exceeds the
//!   packet interval, packets overtake each other).
//! - **Reordering**: with probability `reorder` a packet is delayed by one to three extra packet
//!   intervals, arriving after its successors.
//! - **Duplication**: with probability `duplicate` a second copy arrives 0–30 ms later.
//! - **Drift**: the sender clock runs `drift_ppm` fast (positive) or slow (negative): its 20 ms
//!   packet interval lasts 20·(1 − ppm·10⁻⁶) ms of receiver time.
//! - **Signal**: speech-like 8 kHz audio (voiced talkspurts with a gliding 100–180 Hz pitch and
//!   decaying harmonics, syllable-rate envelope, short low-noise pauses), µ-law encoded.
//!
//! Random numbers come from a xorshift64* generator seeded through SplitMix64.

use std::time::Duration;

use super::{Codec, JitterConfig, JitterError, JitterMetrics, Playout, PlayoutConfig, RtpPacketView};

/// Small deterministic PRNG (xorshift64*, seeded through SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Parameters of one simulation run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Stream length in seconds of sender time.
    pub seconds: f64,
    /// Mean packet loss probability (0–0.9).
    pub loss: f64,
    /// Mean loss burst length in packets (≥ 1).
    pub burst: f64,
    /// Mean extra (Pareto) delay in ms.
    pub jitter_ms: f64,
    /// Sender clock error in parts per million (positive = sender fast).
    pub drift_ppm: f64,
    /// Probability that a packet is reordered.
    pub reorder: f64,
    /// Probability that a packet is duplicated.
    pub duplicate: f64,
    /// Constant one-way network delay in ms.
    pub base_delay_ms: f64,
    /// PRNG seed.
    pub seed: u64,
    /// Buffer settings (clock rate and payload size come from PCMU).
    pub jitter: JitterConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seconds: 60.0,
            loss: 0.0,
            burst: 1.0,
            jitter_ms: 0.0,
            drift_ppm: 0.0,
            reorder: 0.0,
            duplicate: 0.0,
            base_delay_ms: 30.0,
            seed: 1,
            jitter: PlayoutConfig::new(Codec::Pcmu).jitter,
        }
    }
}

/// One packet delivery of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Arrival time on the receiver clock, µs.
    pub arrival_us: i64,
    /// Send time on the receiver clock, µs.
    pub send_us: i64,
    /// Index of the 20 ms frame (into [`Trace::payloads`]).
    pub frame: usize,
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit (first packet).
    pub marker: bool,
}

/// A generated packet trace: deliveries in arrival order plus the µ-law payload of each frame.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Deliveries sorted by arrival time.
    pub arrivals: Vec<Arrival>,
    /// 160-byte µ-law payload per frame.
    pub payloads: Vec<[u8; 160]>,
    /// Packets sent.
    pub sent: usize,
    /// Packets lost by the network.
    pub network_lost: usize,
    /// SSRC used.
    pub ssrc: u32,
}

/// Speech-like test signal at 8 kHz, one 20 ms frame at a time.
#[derive(Debug, Clone)]
pub struct SpeechLike {
    rng: Rng,
    n: u64,
    phase: f64,
    spurt_left: u32,
    pause_left: u32,
}

impl SpeechLike {
    /// A signal generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed ^ 0x5EED),
            n: 0,
            phase: 0.0,
            spurt_left: 0,
            pause_left: 0,
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out.iter_mut() {
            if self.spurt_left == 0 && self.pause_left == 0 {
                self.spurt_left = 8000 + (self.rng.next_f64() * 8000.0) as u32; // 1–2 s
                self.pause_left = 2400 + (self.rng.next_f64() * 4000.0) as u32; // 0.3–0.8 s
            }
            let t = self.n as f64 / 8000.0;
            let noise = (self.rng.next_f64() - 0.5) * 20.0;
            let v = if self.spurt_left > 0 {
                self.spurt_left -= 1;
                let f0 = 140.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
                self.phase += 2.0 * std::f64::consts::PI * f0 / 8000.0;
                let mut s = 0.0;
                for k in 1..=12 {
                    let kf = f64::from(k);
                    let formant = 1.0 + 2.0 * (-((kf * f0 - 700.0) / 300.0).powi(2)).exp();
                    s += (self.phase * kf).sin() * formant / kf;
                }
                let env = 0.55 + 0.45 * (2.0 * std::f64::consts::PI * 4.0 * t).sin();
                s * 3500.0 * env + noise
            } else {
                self.pause_left -= 1;
                noise
            };
            *o = v.clamp(-32_000.0, 32_000.0) as i16;
            self.n += 1;
        }
    }
}

/// Generates the packet trace of `cfg` (deterministic for a given seed).
pub fn trace(cfg: &SimConfig) -> Trace {
    let mut rng = Rng::new(cfg.seed);
    let frame_us = cfg.jitter.frame.as_micros() as f64;
    let frames = (cfg.seconds.max(0.0) * 1e6 / frame_us) as usize;
    let mut speech = SpeechLike::new(cfg.seed);
    let mut pcm = [0i16; 160];
    let payloads = (0..frames)
        .map(|_| {
            speech.fill(&mut pcm);
            let mut p = [0u8; 160];
            for (c, &s) in p.iter_mut().zip(&pcm) {
                *c = crate::g711::ulaw_encode(s);
            }
            p
        })
        .collect();
    let loss = cfg.loss.clamp(0.0, 0.9);
    let burst = cfg.burst.max(1.0);
    let p_bg = 1.0 / burst;
    let p_gb = loss * p_bg / (1.0 - loss);
    let alpha = 3.0;
    let xm = cfg.jitter_ms.max(0.0) * (alpha - 1.0) / alpha;
    let interval = frame_us * (1.0 - cfg.drift_ppm * 1e-6);
    let seq0 = (rng.next_u64() & 0xFFFF) as u16;
    let ts0 = rng.next_u64() as u32;
    let ssrc = rng.next_u64() as u32;
    let frame_ts = cfg.jitter.frame_ts();
    let mut bad = false;
    let mut arrivals = Vec::with_capacity(frames + frames / 8);
    let mut network_lost = 0;
    for i in 0..frames {
        let send_us = (i as f64 * interval) as i64;
        let lost = bad;
        bad = if bad {
            rng.next_f64() >= p_bg
        } else {
            rng.next_f64() < p_gb
        };
        let u = rng.next_f64();
        let extra_ms = if xm > 0.0 {
            (xm * (1.0 - u).powf(-1.0 / alpha)).min(1000.0)
        } else {
            0.0
        };
        let reorder = rng.next_f64() < cfg.reorder;
        let reorder_by = 1 + (rng.next_u64() % 3) as i64;
        let dup = rng.next_f64() < cfg.duplicate;
        let dup_after = (rng.next_f64() * 30_000.0) as i64;
        if lost {
            network_lost += 1;
            continue;
        }
        let raw = send_us + ((cfg.base_delay_ms + extra_ms) * 1000.0) as i64;
        let arrival_us = if reorder {
            raw + reorder_by * frame_us as i64
        } else {
            raw
        };
        let a = Arrival {
            arrival_us,
            send_us,
            frame: i,
            seq: seq0.wrapping_add(i as u16),
            timestamp: ts0.wrapping_add(frame_ts.wrapping_mul(i as u32)),
            marker: i == 0,
        };
        arrivals.push(a);
        if dup {
            arrivals.push(Arrival {
                arrival_us: arrival_us + dup_after,
                ..a
            });
        }
    }
    arrivals.sort_by_key(|a| (a.arrival_us, a.frame));
    Trace {
        arrivals,
        payloads,
        sent: frames,
        network_lost,
        ssrc,
    }
}

/// Outcome of [`run`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimReport {
    /// Packets sent.
    pub sent: usize,
    /// Packets lost by the network.
    pub network_lost: usize,
    /// Frames pulled while the stream was playing.
    pub frames_out: usize,
    /// Median playout delay over the fastest packet, sampled every frame (ms).
    pub delay_p50_ms: f64,
    /// 95th percentile of the same.
    pub delay_p95_ms: f64,
    /// Largest of the same.
    pub delay_max_ms: f64,
    /// Median target delay (ms).
    pub target_p50_ms: f64,
    /// Concealed audio as a share of the stream length (%).
    pub concealed_pct: f64,
    /// Packets dropped as late, as a share of packets sent (%).
    pub late_loss_pct: f64,
    /// Packets lost by the network, as a share of packets sent (%).
    pub lost_pct: f64,
    /// Final buffer metrics.
    pub metrics: JitterMetrics,
}

/// Runs the trace of `cfg` through a PCMU [`Playout`] pulled every 20 ms, offset 7 ms from the
/// send grid, until every delivered packet has been played or dropped.
pub fn run(cfg: &SimConfig) -> Result<SimReport, JitterError> {
    let tr = trace(cfg);
    let pcfg = PlayoutConfig {
        codec: Codec::Pcmu,
        jitter: cfg.jitter,
    };
    let mut playout = Playout::new(pcfg)?;
    let frame_us = cfg.jitter.frame.as_micros() as i64;
    let mut out = vec![0i16; playout.frame_len()];
    let mut delays = Vec::with_capacity(tr.sent + 64);
    let mut targets = Vec::with_capacity(tr.sent + 64);
    let mut next = 0;
    let mut k: i64 = 0;
    loop {
        let now_us = k * frame_us + 7_000;
        while next < tr.arrivals.len() && tr.arrivals[next].arrival_us <= now_us {
            let a = tr.arrivals[next];
            let pkt = RtpPacketView {
                seq: a.seq,
                timestamp: a.timestamp,
                ssrc: tr.ssrc,
                marker: a.marker,
                payload_type: 0,
                payload: &tr.payloads[a.frame],
            };
            playout.insert(Duration::from_micros(a.arrival_us as u64), &pkt)?;
            next += 1;
        }
        if next == tr.arrivals.len() && playout.buffer().pending_packets() == 0 {
            break;
        }
        let now = Duration::from_micros(now_us as u64);
        playout.pull(now, &mut out)?;
        if next > 0 {
            let m = playout.metrics();
            delays.push(m.current_delay_ms);
            targets.push(m.target_delay_ms);
        }
        k += 1;
    }
    let m = playout.metrics();
    let pct = |x: f64| if tr.sent == 0 { 0.0 } else { 100.0 * x / tr.sent as f64 };
    let frame_ms = frame_us as f64 / 1000.0;
    Ok(SimReport {
        sent: tr.sent,
        network_lost: tr.network_lost,
        frames_out: delays.len(),
        delay_p50_ms: percentile(&mut delays, 0.5),
        delay_p95_ms: percentile(&mut delays, 0.95),
        delay_max_ms: percentile(&mut delays, 1.0),
        target_p50_ms: percentile(&mut targets, 0.5),
        concealed_pct: pct(m.concealed_ms / frame_ms),
        late_loss_pct: pct(m.late as f64),
        lost_pct: pct(tr.network_lost as f64),
        metrics: m,
    })
}

/// The `q` quantile (nearest rank) of `xs` (sorted in place); 0 when empty.
pub fn percentile(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let idx = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[idx]
}
