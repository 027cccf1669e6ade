//! The only `unsafe` of `cxb-model`: mapping the fleet file and viewing its bytes as the
//! atomics of [`super::layout`].

use std::fs::File;
use std::io;

use memmap2::{MmapOptions, MmapRaw};

use super::layout::{FleetHeader, HEADER_SIZE, SLOT_SIZE, SlotLayout};

/// Shared mapping of a fleet file, at least long enough for the header and `slots` slots.
#[derive(Debug)]
pub(crate) struct Mapping {
    raw: MmapRaw,
    slots: usize,
}

impl Mapping {
    /// Maps `file` (opened read-write, already sized) shared and writable.
    pub(crate) fn read_write(file: &File) -> io::Result<MmapRaw> {
        MmapOptions::new().map_raw(file)
    }

    /// Maps `file` shared and read-only.
    pub(crate) fn read_only(file: &File) -> io::Result<MmapRaw> {
        MmapOptions::new().map_raw_read_only(file)
    }

    /// Wraps `raw` if it holds the header and `slots` slots; `None` if it is too short.
    pub(crate) fn new(raw: MmapRaw, slots: usize) -> Result<Mapping, MmapRaw> {
        let needed = slots.checked_mul(SLOT_SIZE).and_then(|s| s.checked_add(HEADER_SIZE));
        match needed {
            Some(n) if raw.len() >= n => Ok(Mapping { raw, slots }),
            _ => Err(raw),
        }
    }

    /// The same mapping, now covering `slots` slots, or back the raw mapping if too short.
    pub(crate) fn with_slots(self, slots: usize) -> Result<Mapping, MmapRaw> {
        Mapping::new(self.raw, slots)
    }

    /// The header.
    pub(crate) fn header(&self) -> &FleetHeader {
        let ptr = self.raw.as_ptr().cast::<FleetHeader>();
        // SAFETY: `new` checked the mapping holds at least HEADER_SIZE = size_of::<FleetHeader>()
        // bytes; mmap returns page-aligned memory, so the 64-byte alignment holds. FleetHeader is
        // `repr(C)` made only of AtomicU64, for which every bit pattern is valid, and all access
        // goes through atomics, so concurrent writes from other processes are not data races.
        // Loads from a read-only mapping are allowed for lock-free atomics of native size
        // (std::sync::atomic, "Atomic accesses to read-only memory"); the read-only reader never
        // stores. The reference lives no longer than `self`, which keeps the mapping alive.
        unsafe { &*ptr }
    }

    /// The `slots` slots.
    pub(crate) fn slots(&self) -> &[SlotLayout] {
        // SAFETY: HEADER_SIZE <= mapping length (checked in `new`), so the offset stays inside
        // the mapping or one past its end.
        let ptr = unsafe { self.raw.as_ptr().add(HEADER_SIZE) }.cast::<SlotLayout>();
        // SAFETY: `new` checked HEADER_SIZE + slots × SLOT_SIZE bytes are mapped; page alignment
        // plus the 64-byte header offset gives the 64-byte alignment SlotLayout needs. SlotLayout
        // is `repr(C)` of AtomicU64 only (any bits valid, accessed only atomically, see `header`).
        // The slice borrows `self`, which keeps the mapping alive.
        unsafe { std::slice::from_raw_parts(ptr, self.slots) }
    }
}
