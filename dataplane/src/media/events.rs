//! Media events and the fixed-capacity queue that carries them (no allocation).

use std::net::SocketAddr;
use std::time::Duration;

/// Something the shard or the agent should know about a call's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// The caller started speaking; `at` is the media time of the first speech sample.
    SpeechStarted {
        /// Media time (same clock as `now`).
        at: Duration,
    },
    /// The caller stopped speaking; `at` is the media time just after the last speech sample.
    SpeechEnded {
        /// Media time (same clock as `now`).
        at: Duration,
    },
    /// An RFC 4733 DTMF digit was received (reported once per event).
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// Event duration in ms.
        duration_ms: u32,
    },
    /// The downlink started playing bot audio after being idle.
    BotAudioStarted,
    /// The downlink ran out of bot audio (or was cleared).
    BotAudioDrained,
    /// Playout reached a mark inserted with [`Downlink::mark`](super::Downlink::mark) (or the
    /// queue holding it was cleared).
    MarkPlayed {
        /// The mark's id.
        id: u64,
    },
    /// The remote media address was learned (first packets) or changed (re-latch).
    RemoteLatched {
        /// Where RTP now goes.
        addr: SocketAddr,
    },
    /// The remote sent an RTCP BYE.
    RemoteBye,
}

/// A fixed-capacity FIFO of `CAP` events; when full, new events are dropped and counted. The
/// shard drains every queue each tick, so a few more than one tick's events suffice (every call
/// carries its queues: their size is per-call memory).
#[derive(Debug, Clone)]
pub(crate) struct EventQueue<const CAP: usize> {
    buf: [MediaEvent; CAP],
    head: usize,
    len: usize,
    dropped: u64,
}

impl<const CAP: usize> EventQueue<CAP> {
    pub(crate) fn new() -> Self {
        EventQueue {
            buf: [MediaEvent::RemoteBye; CAP],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, ev: MediaEvent) {
        if self.len == CAP {
            self.dropped += 1;
            return;
        }
        self.buf[(self.head + self.len) % CAP] = ev;
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) -> Option<MediaEvent> {
        if self.len == 0 {
            return None;
        }
        let ev = self.buf[self.head];
        self.head = (self.head + 1) % CAP;
        self.len -= 1;
        Some(ev)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
