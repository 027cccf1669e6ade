//! Fleet capacity in shared memory: each dataplane shard publishes its capacity, load and
//! heartbeat in a slot of a small file under `/dev/shm`; control (or `cxb` tools) map it
//! read-only and take a [`FleetSnapshot`] without any system call.
//!
//! The byte layout is in [`layout`]. The writer builds the file under a temporary name and
//! renames it into place, so a reader never sees a half-written header; a restarted node
//! replaces the file (a reader still mapping the old one sees its heartbeats go stale and
//! should reopen). The file must not be truncated while mapped (the mapping would fault).

pub mod layout;
#[allow(unsafe_code)]
mod sys;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use serde::{Deserialize, Serialize};

use layout::{LAYOUT_VERSION, MAGIC, MAX_SHARDS, SLOT_SIZE, SlotLayout, segment_len};
use sys::Mapping;

/// Errors creating or opening a fleet segment.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `open`, `map`, `rename`, …).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Shard count 0 or above [`MAX_SHARDS`].
    #[error("shard count {shards} is not 1 to {MAX_SHARDS}")]
    ShardCount {
        /// The count given or found.
        shards: u64,
    },
    /// The file is shorter than its header says.
    #[error("fleet file is {len} bytes, {needed} needed")]
    TooShort {
        /// Actual length.
        len: u64,
        /// Length needed.
        needed: u64,
    },
    /// The file does not start with `CXBFLEET`.
    #[error("not a fleet file (magic {found:?})")]
    BadMagic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// A layout version this build does not read.
    #[error("fleet layout version {found}, this build reads {LAYOUT_VERSION}")]
    Version {
        /// Version in the file.
        found: u64,
    },
    /// A slot size other than [`layout::SLOT_SIZE`].
    #[error("fleet slot size {found}, expected {SLOT_SIZE}")]
    SlotSize {
        /// Slot size in the file.
        found: u64,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FleetError + 'a {
    move |source| FleetError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Where a node named `name` keeps its segment: `/dev/shm/cxb-fleet-<name>` (the system temp
/// directory where `/dev/shm` does not exist).
pub fn default_path(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("cxb-fleet-{name}"))
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The node's side: owns the segment and hands one [`ShardSlot`] to each shard.
#[derive(Debug)]
pub struct FleetWriter {
    map: Arc<Mapping>,
    path: PathBuf,
}

impl FleetWriter {
    /// Creates (or replaces) the segment at `path` for `shards` shards: all counters 0, the
    /// header stamped with this process's pid and the current time.
    pub fn create(path: impl AsRef<Path>, shards: usize) -> Result<FleetWriter, FleetError> {
        let path = path.as_ref();
        if shards == 0 || shards > MAX_SHARDS {
            return Err(FleetError::ShardCount { shards: shards as u64 });
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let built = Self::build(&tmp, shards);
        let map = match built {
            Ok(map) => map,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(source) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(FleetError::Io {
                op: "rename",
                path: path.to_owned(),
                source,
            });
        }
        Ok(FleetWriter {
            map: Arc::new(map),
            path: path.to_owned(),
        })
    }

    fn build(tmp: &Path, shards: usize) -> Result<Mapping, FleetError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)
            .map_err(io_err("create", tmp))?;
        let len = segment_len(shards);
        file.set_len(len as u64).map_err(io_err("size", tmp))?;
        let raw = Mapping::read_write(&file).map_err(io_err("map", tmp))?;
        let map = Mapping::new(raw, shards).map_err(|raw| FleetError::TooShort {
            len: raw.len() as u64,
            needed: len as u64,
        })?;
        let h = map.header();
        h.version.store(LAYOUT_VERSION, Relaxed);
        h.shard_count.store(shards as u64, Relaxed);
        h.slot_size.store(SLOT_SIZE as u64, Relaxed);
        h.node_start_unix_ms.store(now_unix_ms(), Relaxed);
        h.pid.store(u64::from(std::process::id()), Relaxed);
        h.stopped_unix_ms.store(0, Relaxed);
        h.magic.store(u64::from_ne_bytes(MAGIC), Release);
        Ok(map)
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.map.slots().len()
    }

    /// The handle shard `index` keeps to publish its state.
    ///
    /// # Panics
    /// If `index >= self.shards()` (a wiring bug, not an input error).
    pub fn shard(&self, index: usize) -> ShardSlot {
        assert!(index < self.shards(), "shard {index} of {}", self.shards());
        ShardSlot {
            map: Arc::clone(&self.map),
            index,
        }
    }

    /// Marks the node cleanly stopped at `now_ms`: readers report every shard unhealthy at once
    /// instead of waiting for heartbeats to go stale.
    pub fn mark_stopped(&self, now_ms: u64) {
        self.map.header().stopped_unix_ms.store(now_ms.max(1), Release);
    }
}

/// One shard's slot: cheap to clone, `Send`, every method a single atomic operation.
#[derive(Debug, Clone)]
pub struct ShardSlot {
    map: Arc<Mapping>,
    index: usize,
}

impl ShardSlot {
    fn slot(&self) -> &SlotLayout {
        &self.map.slots()[self.index]
    }

    /// The shard index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Sets the most calls this shard takes.
    pub fn set_capacity(&self, calls: u64) {
        self.slot().capacity.store(calls, Relaxed);
    }

    /// Sets the number of calls in progress.
    pub fn set_active(&self, calls: u64) {
        self.slot().active_calls.store(calls, Relaxed);
    }

    /// Counts one call set up.
    pub fn inc_setup(&self) {
        self.slot().calls_setup_total.fetch_add(1, Relaxed);
    }

    /// Counts one call refused.
    pub fn inc_rejected(&self) {
        self.slot().calls_rejected_total.fetch_add(1, Relaxed);
    }

    /// Sets the shard thread's busy fraction, per mille (clamped to 1000).
    pub fn set_load(&self, permille: u64) {
        self.slot().cpu_load_permille.store(permille.min(1000), Relaxed);
    }

    /// Counts `ticks` media ticks, `late` of them late ([`layout::LATE_TICK_US`]).
    pub fn add_ticks(&self, ticks: u64, late: u64) {
        self.slot().ticks_total.fetch_add(ticks, Relaxed);
        self.slot().ticks_late_total.fetch_add(late, Relaxed);
    }

    /// Publishes a heartbeat at `now_ms` (Unix ms).
    pub fn heartbeat(&self, now_ms: u64) {
        self.slot().heartbeat_unix_ms.store(now_ms, Release);
    }
}

/// Control's side: a read-only mapping of a node's segment.
#[derive(Debug)]
pub struct FleetReader {
    map: Mapping,
    path: PathBuf,
}

impl FleetReader {
    /// Maps the segment at `path` read-only after checking its length, magic, version, slot
    /// size and shard count.
    pub fn open(path: impl AsRef<Path>) -> Result<FleetReader, FleetError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io_err("open", path))?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let header_len = segment_len(0) as u64;
        if len < header_len {
            return Err(FleetError::TooShort {
                len,
                needed: header_len,
            });
        }
        let raw = Mapping::read_only(&file).map_err(io_err("map", path))?;
        let too_short = |raw: memmap2::MmapRaw, needed: u64| FleetError::TooShort {
            len: raw.len() as u64,
            needed,
        };
        let map = Mapping::new(raw, 0).map_err(|raw| too_short(raw, header_len))?;
        let h = map.header();
        let magic = h.magic.load(Acquire).to_ne_bytes();
        if magic != MAGIC {
            return Err(FleetError::BadMagic { found: magic });
        }
        let version = h.version.load(Relaxed);
        if version != LAYOUT_VERSION {
            return Err(FleetError::Version { found: version });
        }
        let slot_size = h.slot_size.load(Relaxed);
        if slot_size != SLOT_SIZE as u64 {
            return Err(FleetError::SlotSize { found: slot_size });
        }
        let shards = h.shard_count.load(Relaxed);
        if shards == 0 || shards > MAX_SHARDS as u64 {
            return Err(FleetError::ShardCount { shards });
        }
        let needed = segment_len(shards as usize) as u64;
        let map = map.with_slots(shards as usize).map_err(|raw| too_short(raw, needed))?;
        Ok(FleetReader {
            map,
            path: path.to_owned(),
        })
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.map.slots().len()
    }

    /// Writer's process id.
    pub fn pid(&self) -> u32 {
        self.map.header().pid.load(Relaxed) as u32
    }

    /// Reads every slot (atomic loads only, no system call). A shard is healthy when the node
    /// has not stopped and its heartbeat is at most `stale_after_ms` away from `now_ms`.
    pub fn snapshot(&self, now_ms: u64, stale_after_ms: u64) -> FleetSnapshot {
        let h = self.map.header();
        let stopped_unix_ms = h.stopped_unix_ms.load(Acquire);
        let mut totals = FleetTotals::default();
        let shards = self
            .map
            .slots()
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let heartbeat_unix_ms = s.heartbeat_unix_ms.load(Acquire);
                let healthy = stopped_unix_ms == 0
                    && heartbeat_unix_ms != 0
                    && heartbeat_unix_ms.abs_diff(now_ms) <= stale_after_ms;
                let status = ShardStatus {
                    index: index as u32,
                    capacity: s.capacity.load(Relaxed),
                    active_calls: s.active_calls.load(Relaxed),
                    calls_setup_total: s.calls_setup_total.load(Relaxed),
                    calls_rejected_total: s.calls_rejected_total.load(Relaxed),
                    cpu_load_permille: s.cpu_load_permille.load(Relaxed),
                    heartbeat_unix_ms,
                    healthy,
                    ticks_total: s.ticks_total.load(Relaxed),
                    ticks_late_total: s.ticks_late_total.load(Relaxed),
                };
                totals.add(&status);
                status
            })
            .collect();
        FleetSnapshot {
            layout_version: h.version.load(Relaxed),
            pid: h.pid.load(Relaxed) as u32,
            node_start_unix_ms: h.node_start_unix_ms.load(Relaxed),
            stopped_unix_ms: (stopped_unix_ms != 0).then_some(stopped_unix_ms),
            shards,
            totals,
        }
    }
}

/// One shard as a reader saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStatus {
    /// Shard index.
    pub index: u32,
    /// Calls it takes at most.
    pub capacity: u64,
    /// Calls in progress.
    pub active_calls: u64,
    /// Calls set up since start.
    pub calls_setup_total: u64,
    /// Calls refused since start.
    pub calls_rejected_total: u64,
    /// Busy fraction, per mille.
    pub cpu_load_permille: u64,
    /// Last heartbeat, Unix ms (0: never).
    pub heartbeat_unix_ms: u64,
    /// Heartbeat fresh and node not stopped.
    pub healthy: bool,
    /// Media ticks run since start.
    #[serde(default)]
    pub ticks_total: u64,
    /// Of which late: started ≥ 2 ms after they were due ([`layout::LATE_TICK_US`]).
    #[serde(default)]
    pub ticks_late_total: u64,
}

impl ShardStatus {
    /// Calls it can still take: `capacity - active_calls` when healthy, else 0.
    pub fn free(&self) -> u64 {
        if self.healthy {
            self.capacity.saturating_sub(self.active_calls)
        } else {
            0
        }
    }
}

/// Sums over a node's shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetTotals {
    /// Shards in the segment.
    pub shards: u32,
    /// Shards with a fresh heartbeat.
    pub healthy_shards: u32,
    /// Capacity of the healthy shards.
    pub capacity: u64,
    /// Calls in progress on all shards.
    pub active_calls: u64,
    /// Calls the healthy shards can still take.
    pub free: u64,
    /// Calls set up since start.
    pub calls_setup_total: u64,
    /// Calls refused since start.
    pub calls_rejected_total: u64,
}

impl FleetTotals {
    fn add(&mut self, s: &ShardStatus) {
        self.shards += 1;
        self.active_calls += s.active_calls;
        self.calls_setup_total += s.calls_setup_total;
        self.calls_rejected_total += s.calls_rejected_total;
        if s.healthy {
            self.healthy_shards += 1;
            self.capacity += s.capacity;
            self.free += s.free();
        }
    }
}

/// A node's capacity at one instant (also served as JSON over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    /// Layout version of the segment.
    pub layout_version: u64,
    /// Writer's process id.
    pub pid: u32,
    /// When the node started, Unix ms.
    pub node_start_unix_ms: u64,
    /// When the node stopped cleanly, if it did.
    pub stopped_unix_ms: Option<u64>,
    /// Per shard.
    pub shards: Vec<ShardStatus>,
    /// Sums.
    pub totals: FleetTotals,
}

#[cfg(test)]
mod tests;
