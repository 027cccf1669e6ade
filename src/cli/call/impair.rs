//! Network impairment for the RTP `cxb call` sends: loss, reordering, duplication and jitter,
//! deterministic from a seed. Sans-IO: packets go in with [`Impairer::push`] at `now`, come out
//! with [`Impairer::pop_due`] once their release time has come.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Most packets held at once (a 20 ms stream with ≤ 1 s of delay holds ~50).
const MAX_HELD: usize = 256;
/// How far a reordered packet is held behind the stream (two 20 ms frames).
const REORDER_HOLD: Duration = Duration::from_millis(45);
/// Largest packet kept (bigger ones pass through unimpaired).
const MAX_PACKET: usize = 1500;

/// Why an `--impair` spec is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpairSpecError {
    /// An item is not `key=value`.
    #[error("`{item}` is not key=value (keys: loss, reorder, dup, jitter)")]
    NotKeyValue {
        /// The item.
        item: String,
    },
    /// An unknown key.
    #[error("unknown impairment `{key}` (keys: loss, reorder, dup, jitter)")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A value is not a number in range.
    #[error("{key}={value}: want {range}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What is accepted.
        range: &'static str,
    },
}

/// What to do to the packets we send: `loss=5,reorder=5,dup=2,jitter=30`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ImpairSpec {
    /// Percent of packets dropped.
    pub loss_pct: f64,
    /// Percent of packets held back ~45 ms so later ones overtake them.
    pub reorder_pct: f64,
    /// Percent of packets sent twice.
    pub dup_pct: f64,
    /// Extra delay of each packet, uniform in `0..=jitter_ms` (order kept).
    pub jitter_ms: u32,
}

impl ImpairSpec {
    /// Whether nothing is impaired.
    pub fn is_none(&self) -> bool {
        *self == ImpairSpec::default()
    }
}

impl FromStr for ImpairSpec {
    type Err = ImpairSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = ImpairSpec::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| ImpairSpecError::NotKeyValue { item: item.to_owned() })?;
            let (k, v) = (k.trim(), v.trim());
            let pct = |key: &'static str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| ImpairSpecError::BadValue {
                        key,
                        value: v.to_owned(),
                        range: "a percentage 0..=100",
                    })
            };
            match k {
                "loss" => spec.loss_pct = pct("loss")?,
                "reorder" => spec.reorder_pct = pct("reorder")?,
                "dup" => spec.dup_pct = pct("dup")?,
                "jitter" => {
                    spec.jitter_ms =
                        v.parse::<u32>()
                            .ok()
                            .filter(|ms| *ms <= 1000)
                            .ok_or_else(|| ImpairSpecError::BadValue {
                                key: "jitter",
                                value: v.to_owned(),
                                range: "milliseconds 0..=1000",
                            })?
                }
                _ => return Err(ImpairSpecError::UnknownKey { key: k.to_owned() }),
            }
        }
        Ok(spec)
    }
}

/// Counters of what the impairer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets pushed.
    pub pushed: u64,
    /// Packets dropped on purpose.
    pub dropped: u64,
    /// Packets held back to be overtaken.
    pub reordered: u64,
    /// Extra copies sent.
    pub duplicated: u64,
    /// Packets dropped because the delay line was full or the packet too big.
    pub overflow: u64,
}

#[derive(Debug)]
struct Slot {
    due: Duration,
    order: u64,
    to: SocketAddr,
    len: usize,
    /// Index of its buffer in the arena.
    buf: usize,
}

/// The delay line. All buffers are allocated up front.
#[derive(Debug)]
pub struct Impairer {
    spec: ImpairSpec,
    rng: u64,
    held: Vec<Slot>,
    /// `MAX_HELD` packet buffers of `MAX_PACKET` bytes.
    arena: Vec<u8>,
    free: Vec<usize>,
    /// Release time of the last in-order packet (jitter never reorders).
    last_due: Duration,
    order: u64,
    stats: ImpairStats,
}

impl Impairer {
    /// An impairer applying `spec`, its random choices drawn from `seed`.
    pub fn new(spec: ImpairSpec, seed: u64) -> Impairer {
        Impairer {
            spec,
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            held: Vec::with_capacity(MAX_HELD),
            arena: vec![0; MAX_HELD * MAX_PACKET],
            free: (0..MAX_HELD).rev().collect(),
            last_due: Duration::ZERO,
            order: 0,
            stats: ImpairStats::default(),
        }
    }

    /// What was done so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, pct: f64) -> bool {
        pct > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 100.0 < pct
    }

    /// Takes a packet to `to` sent at `now`: drops, delays, duplicates or holds it.
    pub fn push(&mut self, now: Duration, to: SocketAddr, packet: &[u8]) {
        self.stats.pushed += 1;
        if self.chance(self.spec.loss_pct) {
            self.stats.dropped += 1;
            return;
        }
        let jitter = if self.spec.jitter_ms > 0 {
            Duration::from_millis(self.next_u64() % (u64::from(self.spec.jitter_ms) + 1))
        } else {
            Duration::ZERO
        };
        let due = if self.chance(self.spec.reorder_pct) {
            self.stats.reordered += 1;
            (now + jitter).max(self.last_due) + REORDER_HOLD
        } else {
            let d = (now + jitter).max(self.last_due);
            self.last_due = d;
            d
        };
        self.hold(due, to, packet);
        if self.chance(self.spec.dup_pct) {
            self.stats.duplicated += 1;
            self.hold(due + Duration::from_millis(1), to, packet);
        }
    }

    fn hold(&mut self, due: Duration, to: SocketAddr, packet: &[u8]) {
        if packet.len() > MAX_PACKET {
            self.stats.overflow += 1;
            return;
        }
        let Some(buf) = self.free.pop() else {
            self.stats.overflow += 1;
            return;
        };
        self.arena[buf * MAX_PACKET..][..packet.len()].copy_from_slice(packet);
        self.order += 1;
        self.held.push(Slot {
            due,
            order: self.order,
            to,
            len: packet.len(),
            buf,
        });
    }

    /// When the next held packet is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.held.iter().map(|s| s.due).min()
    }

    /// The next packet whose time has come (earliest first, ties in push order).
    pub fn pop_due(&mut self, now: Duration) -> Option<(SocketAddr, &[u8])> {
        let i = self
            .held
            .iter()
            .enumerate()
            .filter(|(_, s)| s.due <= now)
            .min_by_key(|(_, s)| (s.due, s.order))
            .map(|(i, _)| i)?;
        let slot = self.held.swap_remove(i);
        // The buffer is free again but untouched until the next push, which needs `&mut self`.
        self.free.push(slot.buf);
        Some((slot.to, &self.arena[slot.buf * MAX_PACKET..][..slot.len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    /// Pushes `n` packets 20 ms apart (payload = index), returns indices in release order.
    fn run(spec: ImpairSpec, seed: u64, n: u16) -> (Vec<u16>, ImpairStats) {
        let mut imp = Impairer::new(spec, seed);
        let mut out = Vec::new();
        let step = Duration::from_millis(1);
        let mut now = Duration::ZERO;
        for i in 0..n {
            imp.push(now, addr(), &i.to_be_bytes());
            for _ in 0..20 {
                while let Some((_, p)) = imp.pop_due(now) {
                    out.push(u16::from_be_bytes([p[0], p[1]]));
                }
                now += step;
            }
        }
        now += Duration::from_secs(2);
        while let Some((_, p)) = imp.pop_due(now) {
            out.push(u16::from_be_bytes([p[0], p[1]]));
        }
        (out, imp.stats())
    }

    #[test]
    fn parses_specs_and_rejects_bad_ones() {
        let s: ImpairSpec = "loss=5,reorder=5,dup=2,jitter=30".parse().unwrap();
        assert_eq!(
            s,
            ImpairSpec {
                loss_pct: 5.0,
                reorder_pct: 5.0,
                dup_pct: 2.0,
                jitter_ms: 30
            }
        );
        assert!("".parse::<ImpairSpec>().unwrap().is_none());
        assert!(matches!(
            "loss".parse::<ImpairSpec>(),
            Err(ImpairSpecError::NotKeyValue { .. })
        ));
        assert!(matches!(
            "delay=3".parse::<ImpairSpec>(),
            Err(ImpairSpecError::UnknownKey { .. })
        ));
        assert!(matches!(
            "loss=101".parse::<ImpairSpec>(),
            Err(ImpairSpecError::BadValue { key: "loss", .. })
        ));
        assert!(matches!(
            "jitter=-1".parse::<ImpairSpec>(),
            Err(ImpairSpecError::BadValue { key: "jitter", .. })
        ));
    }

    #[test]
    fn no_impairment_passes_everything_at_once_in_order() {
        let (out, st) = run(ImpairSpec::default(), 1, 100);
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        assert_eq!(st.dropped + st.reordered + st.duplicated + st.overflow, 0);
    }

    #[test]
    fn jitter_alone_delays_but_keeps_order() {
        let spec = "jitter=40".parse().unwrap();
        let (out, _) = run(spec, 7, 500);
        assert_eq!(out, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn rates_are_close_to_the_spec_and_deterministic() {
        let spec: ImpairSpec = "loss=5,reorder=5,dup=2,jitter=40".parse().unwrap();
        let (a, st) = run(spec, 42, 4000);
        let (b, _) = run(spec, 42, 4000);
        assert_eq!(a, b, "same seed, same result");
        let (c, _) = run(spec, 43, 4000);
        assert_ne!(a, c, "another seed differs");
        let pct = |x: u64| x as f64 * 100.0 / 4000.0;
        assert!((3.5..6.5).contains(&pct(st.dropped)), "{st:?}");
        assert!((3.5..6.5).contains(&pct(st.reordered)), "{st:?}");
        assert!((1.0..3.0).contains(&pct(st.duplicated)), "{st:?}");
        assert_eq!(st.overflow, 0);
        assert_eq!(a.len() as u64, 4000 - st.dropped + st.duplicated);
        let inversions = a.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 0, "reordering happened");
    }

    #[test]
    fn a_full_delay_line_drops_instead_of_growing() {
        let mut imp = Impairer::new("jitter=1000".parse().unwrap(), 3);
        for _ in 0..(MAX_HELD + 10) {
            imp.push(Duration::ZERO, addr(), &[1, 2, 3]);
        }
        assert_eq!(imp.stats().overflow, 10);
        imp.push(Duration::ZERO, addr(), &[0u8; MAX_PACKET + 1]);
        assert_eq!(imp.stats().overflow, 11);
    }
}
