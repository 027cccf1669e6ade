//! [`Throttle`]: login failures per username in a sliding minute; past the limit, `429`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failed logins allowed per username per window.
pub const MAX_FAILURES: u32 = 10;
/// Window length, milliseconds.
pub const WINDOW_MS: i64 = 60_000;

/// Per-username failure counters (in memory; a restart forgets them).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (i64, u32)>>,
}

impl Throttle {
    /// Whether `username` may try to log in at `now_ms`.
    pub fn allowed(&self, username: &str, now_ms: i64) -> bool {
        let Ok(m) = self.failures.lock() else { return true };
        match m.get(username) {
            Some(&(start, n)) => now_ms - start >= WINDOW_MS || n < MAX_FAILURES,
            None => true,
        }
    }

    /// Records a failed attempt.
    pub fn fail(&self, username: &str, now_ms: i64) {
        let Ok(mut m) = self.failures.lock() else { return };
        if m.len() > 100_000 {
            m.retain(|_, (start, _)| now_ms - *start < WINDOW_MS);
        }
        let e = m.entry(username.to_owned()).or_insert((now_ms, 0));
        if now_ms - e.0 >= WINDOW_MS {
            *e = (now_ms, 0);
        }
        e.1 += 1;
    }

    /// Clears the counter after a successful login.
    pub fn succeed(&self, username: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(username);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_recovers_after_window() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES {
            assert!(t.allowed("a", 1000));
            t.fail("a", 1000);
        }
        assert!(!t.allowed("a", 2000));
        assert!(t.allowed("b", 2000));
        assert!(t.allowed("a", 1000 + WINDOW_MS));
        t.succeed("a");
        assert!(t.allowed("a", 2000));
    }
}
