//! CPU time and resident memory of a process, read from `/proc`.

use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ is 100 on every Linux ABI we run on).
const USER_HZ: u64 = 100;

/// On-CPU time of every thread of `pid`: the sum of `/proc/PID/task/*/schedstat` run times
/// (nanosecond resolution), or `utime + stime` of `/proc/PID/stat` (10 ms ticks) when schedstat
/// is not available.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    schedstat_sum(pid).or_else(|| stat_time(pid))
}

fn schedstat_sum(pid: u32) -> Option<Duration> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    let mut any = false;
    for e in dir.flatten() {
        let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) else {
            continue;
        };
        if let Some(v) = s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            ns += v;
            any = true;
        }
    }
    any.then(|| Duration::from_nanos(ns))
}

/// `utime + stime` of `/proc/PID/stat`.
pub fn stat_time(pid: u32) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&s).map(|t| Duration::from_millis(t * 1000 / USER_HZ))
}

/// utime + stime ticks from the text of `/proc/PID/stat` (the command may hold spaces and parens).
pub fn parse_stat_ticks(s: &str) -> Option<u64> {
    let after = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS of `pid`, KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_with_spaces() {
        let s = "1234 (cxb shard (0)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 3 0 99 1 2";
        assert_eq!(parse_stat_ticks(s), Some(287));
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(cpu_time(me).is_some());
        assert!(rss_kb(me).unwrap() > 0);
    }
}
