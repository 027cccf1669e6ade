//! Counters and gauges of one jitter buffer, readable at any time.

/// A snapshot of the jitter buffer / playout state. Counters are cumulative over the call
/// (they survive stream resets); `current_delay_ms` and `target_delay_ms` are gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterMetrics {
    /// Packets handed to `insert` (all kinds, including rejected ones).
    pub packets_received: u64,
    /// Packets dropped because the same sequence number was already buffered or played.
    pub duplicates: u64,
    /// Packets that arrived after their playout time (dropped).
    pub late: u64,
    /// Packets never received: RFC 3550 cumulative loss (expected − received) over all streams.
    pub lost: u64,
    /// Packets that arrived with a lower sequence number than one received before.
    pub reordered: u64,
    /// Full resets (SSRC change, sequence jump beyond capacity, timestamp discontinuity).
    pub resets: u64,
    /// Buffered packets discarded by resets.
    pub flushed: u64,
    /// Playout re-anchored to the target delay at a talkspurt start (marker bit) or timestamp jump.
    pub reanchors: u64,
    /// RFC 4733 events surfaced (start and end reports).
    pub dtmf_events: u64,
    /// DTMF reports dropped because the event queue was full.
    pub dtmf_dropped: u64,
    /// Malformed packets ignored (e.g. a telephone-event payload shorter than 4 bytes).
    pub invalid: u64,
    /// Frames played from a received packet.
    pub frames_played: u64,
    /// Frames concealed because their packet was missing while a later one was buffered.
    pub missing_frames: u64,
    /// Frames concealed because the buffer was empty.
    pub underrun_frames: u64,
    /// Number of times the buffer ran empty (transitions into underrun).
    pub underruns: u64,
    /// Frames played as silence: comfort noise, sender silence (DTX) and start-up prefill.
    pub silence_frames: u64,
    /// Audio synthesised by loss concealment (missing + underrun frames), in ms.
    pub concealed_ms: f64,
    /// Speech shortened by pitch-period accelerate, in ms.
    pub accelerate_ms: f64,
    /// Speech lengthened by pitch-period preemptive expand, in ms.
    pub expand_ms: f64,
    /// Low-energy audio dropped to shrink the delay, in ms.
    pub silence_dropped_ms: f64,
    /// Low-energy audio inserted to grow the delay, in ms.
    pub silence_inserted_ms: f64,
    /// Current playout delay over the fastest recent packet, in ms (gauge).
    pub current_delay_ms: f64,
    /// Current target delay, in ms (gauge).
    pub target_delay_ms: f64,
}
