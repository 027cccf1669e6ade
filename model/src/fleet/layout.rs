//! The fleet segment's byte layout, version [`LAYOUT_VERSION`]. All integers are native-endian
//! `u64`s accessed atomically; the segment never leaves the host.
//!
//! ```text
//! offset 0    FleetHeader (64 bytes)
//! offset 64   SlotLayout for shard 0 (64 bytes, one cache line)
//! offset 128  SlotLayout for shard 1
//! …           file length = 64 + 64 × shard_count
//! ```
//!
//! Every field is its own `AtomicU64` rather than a seqlock over the slot: each shard is the
//! only writer of its slot, the values are independent gauges and monotonic counters, and a
//! reader that sees `active_calls` from one instant and `capacity` from the next makes the same
//! placement decision it would have made a microsecond later. A seqlock would add a retry loop
//! to every reader and a second store to every update for no decision that changes.

use std::sync::atomic::AtomicU64;

/// The first 8 bytes of the segment.
pub const MAGIC: [u8; 8] = *b"CXBFLEET";
/// Layout version; a reader refuses any other.
pub const LAYOUT_VERSION: u64 = 1;
/// Size of [`FleetHeader`] in bytes.
pub const HEADER_SIZE: usize = 64;
/// Size of one [`SlotLayout`] in bytes.
pub const SLOT_SIZE: usize = 64;
/// Most shards a segment may describe.
pub const MAX_SHARDS: usize = 4096;

/// Segment length for `shards` shards.
pub const fn segment_len(shards: usize) -> usize {
    HEADER_SIZE + SLOT_SIZE * shards
}

/// The header, written once by the node before the file appears under its final name.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct FleetHeader {
    /// [`MAGIC`] as `u64::from_ne_bytes`, so the file starts with the bytes `CXBFLEET`.
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`].
    pub version: AtomicU64,
    /// Number of slots that follow.
    pub shard_count: AtomicU64,
    /// [`SLOT_SIZE`], so a reader can check it.
    pub slot_size: AtomicU64,
    /// When the node started, Unix ms.
    pub node_start_unix_ms: AtomicU64,
    /// Process id of the writer.
    pub pid: AtomicU64,
    /// 0 while running; Unix ms of a clean stop afterwards.
    pub stopped_unix_ms: AtomicU64,
    /// Reserved, 0.
    pub reserved: AtomicU64,
}

/// One shard's slot, a cache line of its own so shards never share one.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct SlotLayout {
    /// Calls this shard will take at most.
    pub capacity: AtomicU64,
    /// Calls in progress.
    pub active_calls: AtomicU64,
    /// Calls set up since start (counter).
    pub calls_setup_total: AtomicU64,
    /// Calls refused since start (counter).
    pub calls_rejected_total: AtomicU64,
    /// Busy fraction of the shard thread, per mille.
    pub cpu_load_permille: AtomicU64,
    /// Last heartbeat, Unix ms (0: never).
    pub heartbeat_unix_ms: AtomicU64,
    /// Media ticks run since start (counter; one per 20 ms).
    pub ticks_total: AtomicU64,
    /// Ticks that started [`LATE_TICK_US`] or more after they were due (counter): every call's
    /// frame of that tick left off its 20 ms grid.
    pub ticks_late_total: AtomicU64,
}

/// A tick is late when it starts this many µs or more after it was due.
pub const LATE_TICK_US: u64 = 2_000;

const _: () = assert!(size_of::<FleetHeader>() == HEADER_SIZE);
const _: () = assert!(size_of::<SlotLayout>() == SLOT_SIZE);
const _: () = assert!(align_of::<SlotLayout>() == SLOT_SIZE);
