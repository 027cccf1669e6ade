//! Enum-indexed per-transaction timer table (quinn-proto style) and the layer-wide deadline heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The RFC 3261 / RFC 6026 timers, named as in RFC 3261 Table 4, plus the automatic
/// `100 Trying` timer and a memory-bounding guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmit (unreliable only), doubling from T1.
    A,
    /// INVITE transaction timeout, 64·T1.
    B,
    /// Wait for response retransmits (32 s unreliable, 0 reliable).
    D,
    /// Non-INVITE request retransmit (unreliable only), doubling to T2.
    E,
    /// Non-INVITE transaction timeout, 64·T1.
    F,
    /// INVITE non-2xx final response retransmit (unreliable only), doubling to T2.
    G,
    /// Wait for ACK receipt, 64·T1.
    H,
    /// Wait for ACK retransmits (T4 unreliable, 0 reliable).
    I,
    /// Wait for non-INVITE request retransmits (64·T1 unreliable, 0 reliable).
    J,
    /// Wait for non-INVITE response retransmits (T4 unreliable, 0 reliable).
    K,
    /// RFC 6026: INVITE server waits in Accepted for retransmitted INVITEs / ACKs, 64·T1.
    L,
    /// RFC 6026: INVITE client waits in Accepted for 2xx retransmissions, 64·T1.
    M,
    /// Automatic `100 Trying` for INVITE (200 ms, [`super::Config::trying_delay`]).
    Trying,
    /// Safety limit while waiting for a final response ([`super::Config::invite_guard`] for
    /// INVITE, 64·T1 for non-INVITE server transactions whose TU never answers).
    Guard,
}

/// Slots of the per-transaction timer table. Timers that never run at the same time in one
/// transaction share a slot (A/E/G retransmit; B/F/H timeout; D/I/J/K/L/M linger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Slot {
    Retransmit = 0,
    Timeout = 1,
    Linger = 2,
    Trying = 3,
    Guard = 4,
}

impl Slot {
    pub(crate) const COUNT: usize = 5;
    pub(crate) const ALL: [Slot; Slot::COUNT] =
        [Slot::Retransmit, Slot::Timeout, Slot::Linger, Slot::Trying, Slot::Guard];

    pub(crate) fn from_index(i: u8) -> Option<Slot> {
        Slot::ALL.get(i as usize).copied()
    }
}

impl Timer {
    pub(crate) fn slot(self) -> Slot {
        match self {
            Timer::A | Timer::E | Timer::G => Slot::Retransmit,
            Timer::B | Timer::F | Timer::H => Slot::Timeout,
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::L | Timer::M => Slot::Linger,
            Timer::Trying => Slot::Trying,
            Timer::Guard => Slot::Guard,
        }
    }
}

/// Per-transaction deadlines, indexed by [`Slot`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; Slot::COUNT],
}

impl TimerTable {
    pub(crate) fn get(&self, slot: Slot) -> Option<Instant> {
        self.data[slot as usize]
    }

    /// Sets a deadline; returns true if the slot was empty before.
    pub(crate) fn set(&mut self, slot: Slot, at: Instant) -> bool {
        self.data[slot as usize].replace(at).is_none()
    }

    /// Clears a slot; returns true if it held a deadline.
    pub(crate) fn stop(&mut self, slot: Slot) -> bool {
        self.data[slot as usize].take().is_some()
    }

    /// Number of armed slots.
    pub(crate) fn armed(&self) -> usize {
        self.data.iter().filter(|d| d.is_some()).count()
    }
}

/// One heap entry: a deadline for `(slot index, generation, timer slot)`; stale entries (the
/// transaction ended or the timer was re-armed/stopped) are skipped when they surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    pub(crate) index: u32,
    pub(crate) generation: u32,
    pub(crate) slot: u8,
}

/// Min-heap of deadlines with lazy invalidation.
#[derive(Debug, Default)]
pub(crate) struct DeadlineHeap {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl DeadlineHeap {
    pub(crate) fn push(&mut self, e: Entry) {
        self.heap.push(Reverse(e));
    }

    pub(crate) fn peek(&self) -> Option<&Entry> {
        self.heap.peek().map(|r| &r.0)
    }

    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.heap.pop().map(|r| r.0)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only entries for which `live` is true (used to drop stale entries when the heap
    /// grows much larger than the number of armed timers).
    pub(crate) fn retain(&mut self, mut live: impl FnMut(&Entry) -> bool) {
        self.heap.retain(|r| live(&r.0));
    }
}

/// The RFC name of the timer in `slot` for a transaction of `kind` in `state`.
pub(crate) fn timer_name(kind: super::TxKind, state: super::TxState, slot: Slot) -> Option<Timer> {
    use super::TxKind::*;
    Some(match (kind, slot) {
        (_, Slot::Trying) => Timer::Trying,
        (_, Slot::Guard) => Timer::Guard,
        (InviteClient, Slot::Retransmit) => Timer::A,
        (InviteClient, Slot::Timeout) => Timer::B,
        (InviteClient, Slot::Linger) if state == super::TxState::Accepted => Timer::M,
        (InviteClient, Slot::Linger) => Timer::D,
        (NonInviteClient, Slot::Retransmit) => Timer::E,
        (NonInviteClient, Slot::Timeout) => Timer::F,
        (NonInviteClient, Slot::Linger) => Timer::K,
        (InviteServer, Slot::Retransmit) => Timer::G,
        (InviteServer, Slot::Timeout) => Timer::H,
        (InviteServer, Slot::Linger) if state == super::TxState::Accepted => Timer::L,
        (InviteServer, Slot::Linger) => Timer::I,
        (NonInviteServer, Slot::Linger) => Timer::J,
        (NonInviteServer, _) => return None,
    })
}
