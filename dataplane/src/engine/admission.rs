//! Overload admission: a shard refuses a new call (503 + Retry-After) when it is full
//! (`calls_per_shard`) or when its thread's recent CPU load is above a limit, so that the calls
//! it already carries keep their audio quality instead of every call degrading together.
//!
//! The load is the shard thread's CPU time over wall time, measured per shard thread (each shard
//! is one thread, so the meter lives in a thread-local) over windows of at least
//! [`WINDOW`], refreshed when a call asks to be admitted. `CXB_ADMIT_CPU_PERMILLE` (read once)
//! changes the limit; `1000` turns the CPU check off.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Default CPU limit: 85 % of one core.
pub const DEFAULT_LIMIT_PERMILLE: u64 = 850;
/// Shortest measuring window.
pub const WINDOW: Duration = Duration::from_millis(250);

/// What [`decide`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take the call.
    Admit,
    /// `calls_per_shard` reached.
    Full,
    /// The shard's CPU load (permille of one core) is above the limit.
    Overloaded {
        /// Measured load.
        load_permille: u64,
    },
}

/// The pure decision: `active` calls of `cap`, a measured load (if any) against `limit`.
pub fn decide(active: u64, cap: u64, load_permille: Option<u64>, limit_permille: u64) -> Verdict {
    if active >= cap {
        return Verdict::Full;
    }
    match load_permille {
        Some(l) if limit_permille < 1000 && l > limit_permille => Verdict::Overloaded { load_permille: l },
        _ => Verdict::Admit,
    }
}

/// CPU load meter of the calling thread.
#[derive(Debug)]
struct Meter {
    at: Instant,
    cpu: Option<Duration>,
    load: Option<u64>,
}

impl Meter {
    fn sample(&mut self, now: Instant) -> Option<u64> {
        let wall = now.saturating_duration_since(self.at);
        if wall >= WINDOW {
            let cpu = cpu_time::ThreadTime::try_now().ok().map(|t| t.as_duration());
            if let (Some(c0), Some(c1)) = (self.cpu, cpu) {
                let used = c1.saturating_sub(c0);
                self.load = Some((used.as_micros() * 1000 / wall.as_micros().max(1)).min(1000) as u64);
            }
            self.at = now;
            self.cpu = cpu;
        }
        self.load
    }
}

thread_local! {
    static METER: RefCell<Meter> = RefCell::new(Meter {
        at: Instant::now(),
        cpu: cpu_time::ThreadTime::try_now().ok().map(|t| t.as_duration()),
        load: None,
    });
}

/// The CPU limit in force (`CXB_ADMIT_CPU_PERMILLE`, default [`DEFAULT_LIMIT_PERMILLE`]).
pub fn limit_permille() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("CXB_ADMIT_CPU_PERMILLE")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_LIMIT_PERMILLE, |v| v.clamp(100, 1000))
    })
}

/// Whether the calling shard thread takes one more call (`active` of `cap` in use).
pub fn admit(active: u64, cap: u64) -> bool {
    let load = METER.with(|m| m.borrow_mut().sample(Instant::now()));
    let v = decide(active, cap, load, limit_permille());
    if let Verdict::Overloaded { load_permille } = v {
        tracing::debug!(load_permille, "call refused: shard CPU over the admission limit");
    }
    v == Verdict::Admit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_full_or_over_the_cpu_limit() {
        assert_eq!(decide(10, 10, None, 850), Verdict::Full);
        assert_eq!(
            decide(9, 10, Some(900), 850),
            Verdict::Overloaded { load_permille: 900 }
        );
        assert_eq!(decide(9, 10, Some(850), 850), Verdict::Admit);
        assert_eq!(decide(0, 10, None, 850), Verdict::Admit);
        assert_eq!(
            decide(0, 10, Some(1000), 1000),
            Verdict::Admit,
            "1000 turns the CPU check off"
        );
    }

    /// The meter reports the thread's CPU time over wall time. Checked against the thread's own
    /// CPU clock, not against a fixed figure: on a busy test machine a spinning thread does not
    /// get a whole core.
    #[test]
    fn a_busy_thread_measures_as_loaded() {
        let t0 = Instant::now();
        let c0 = cpu_time::ThreadTime::try_now().ok().map(|t| t.as_duration());
        let mut m = Meter {
            at: t0,
            cpu: c0,
            load: None,
        };
        let mut x = 0u64;
        while t0.elapsed() < WINDOW + Duration::from_millis(30) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let now = Instant::now();
        let load = m.sample(now).expect("a full window");
        let c1 = cpu_time::ThreadTime::try_now().unwrap().as_duration();
        let wall = now.duration_since(t0).as_micros() as u64;
        let expected = (c1 - c0.unwrap()).as_micros() as u64 * 1000 / wall;
        assert!(load > 0, "a spinning thread measured idle");
        assert!(
            load <= expected + 5 && load + 50 >= expected,
            "meter {load} permille, thread clock {expected} permille"
        );
    }
}
