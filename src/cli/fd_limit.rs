//! The open-file limit. A dataplane holds [`FDS_PER_CALL`] descriptors per call, so the soft
//! limit most shells start with (1,024) makes it refuse calls with 503 past ≈ 250. Every `cxb`
//! process raises its soft limit to the hard one at start, as Go's runtime does for every
//! program, and the dataplane warns when even that is short of the calls it is configured for.

use cxb_dataplane::engine::FDS_PER_CALL;
use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};

/// Descriptors kept aside for everything but calls (SIP, HTTP, rings, logs, the runtime).
pub const RESERVED: u64 = 256;

/// The kernel's ceiling for one process when the hard limit is unlimited.
const NR_OPEN: &str = "/proc/sys/fs/nr_open";

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (to `fs.nr_open` when that is unlimited);
/// returns the soft limit in force afterwards, `None` when it cannot be read.
pub fn raise() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let target = if hard == RLIM_INFINITY {
        std::fs::read_to_string(NR_OPEN)
            .ok()
            .and_then(|s| s.trim().parse().ok())?
    } else {
        hard
    };
    if soft >= target {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => Some(target),
        Err(_) => Some(soft),
    }
}

/// The soft `RLIMIT_NOFILE` in force (`None` when it cannot be read).
pub fn soft_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE).ok().map(|(soft, _)| soft)
}

/// How many calls `limit` open files leave room for (recording adds one file per call).
pub fn calls_for(limit: u64, recording: bool) -> u64 {
    let per_call = FDS_PER_CALL + u64::from(recording);
    limit.saturating_sub(RESERVED) / per_call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_for_keeps_room_for_the_rest_of_the_process() {
        assert_eq!(calls_for(1024, false), 192);
        assert_eq!(calls_for(1024, true), 153);
        assert_eq!(calls_for(524_288, false), 131_008);
        assert_eq!(calls_for(100, false), 0);
    }
}
