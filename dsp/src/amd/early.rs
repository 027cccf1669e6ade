//! Early media (before answer, outbound calls): ring-back, busy and the special information tone
//! (SIT) that precedes a network announcement ("the number you have dialled is not in service").
//!
//! A SIT is three consecutive sines of 274 or 380 ms: 913.8 or 985.2 Hz, then 1370.6 or
//! 1428.5 Hz, then 1776.7 Hz (ITU-T E.180 / Telcordia SR-2275). It is recognised when the three
//! segments follow one another in that order with gaps of at most [`MAX_SIT_GAP_MS`].

use crate::tone::{ToneConfig, ToneDetector, ToneError, ToneEvent, ToneFreqs, ToneKind, ToneSpec};

/// A tone heard in early media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EarlyTone {
    /// Ring-back (US 440+480 Hz or UK 400+450 Hz): the far end is ringing.
    Ringback,
    /// Busy tone (480+620 Hz).
    Busy,
    /// Special information tone: an announcement follows (number unobtainable, congestion, …).
    Sit,
}

/// Longest gap between two SIT segments (ms).
pub const MAX_SIT_GAP_MS: u64 = 120;

/// Shortest SIT segment reported by the tone detector (ms); real segments are 274 or 380 ms.
const SIT_MIN_MS: u32 = 180;

const SIT_FREQS: [(f32, u8); 5] = [(913.8, 0), (985.2, 0), (1370.6, 1), (1428.5, 1), (1776.7, 2)];

/// Ring-back, busy and SIT recognition on early media.
#[derive(Debug, Clone)]
pub(super) struct EarlyDetector {
    tones: ToneDetector,
    /// Index of the next SIT segment expected (0..=2) and where the sequence started.
    sit_next: u8,
    sit_start: u64,
    /// End sample of the last completed SIT segment.
    sit_last_end: u64,
    /// Segment currently sounding (its order), if any.
    sit_open: Option<u8>,
    sit_done: bool,
}

impl EarlyDetector {
    pub(super) fn new(rate: u32) -> Result<Self, ToneError> {
        let mut specs = [ToneSpec::ringback_us(); 8];
        specs[1] = ToneSpec::ringback_uk();
        specs[2] = ToneSpec::busy();
        for (i, &(f, _)) in SIT_FREQS.iter().enumerate() {
            specs[3 + i] = ToneSpec {
                kind: ToneKind::Custom,
                freqs: ToneFreqs::Single(f),
                min_duration_ms: SIT_MIN_MS,
            };
        }
        Ok(EarlyDetector {
            tones: ToneDetector::new(rate, &specs, ToneConfig::default())?,
            sit_next: 0,
            sit_start: 0,
            sit_last_end: 0,
            sit_open: None,
            sit_done: false,
        })
    }

    /// Analyses `pcm`; calls `emit(tone, start_sample)` for each ring-back or busy burst and once
    /// for a SIT (at the start of its first segment).
    pub(super) fn process(&mut self, pcm: &[i16], rate: u32, mut emit: impl FnMut(EarlyTone, u64)) {
        let max_gap = MAX_SIT_GAP_MS * u64::from(rate) / 1000;
        let Self {
            tones,
            sit_next,
            sit_start,
            sit_last_end,
            sit_open,
            sit_done,
        } = self;
        tones.process(pcm, |e| match e {
            ToneEvent::Start { tone, at, .. } => match tone {
                0 | 1 => emit(EarlyTone::Ringback, at),
                2 => emit(EarlyTone::Busy, at),
                _ => {
                    let order = SIT_FREQS[tone - 3].1;
                    let follows = order == *sit_next && (order == 0 || at.saturating_sub(*sit_last_end) <= max_gap);
                    if !follows {
                        *sit_next = 0;
                        if order != 0 {
                            *sit_open = None;
                            return;
                        }
                    }
                    if order == 0 {
                        *sit_start = at;
                    }
                    *sit_open = Some(order);
                    if order == 2 && !*sit_done {
                        *sit_done = true;
                        emit(EarlyTone::Sit, *sit_start);
                    }
                }
            },
            ToneEvent::End { tone, at, .. } => {
                if tone >= 3 && *sit_open == Some(SIT_FREQS[tone - 3].1) {
                    *sit_open = None;
                    *sit_last_end = at;
                    *sit_next = (SIT_FREQS[tone - 3].1 + 1) % 3;
                }
            }
        });
    }
}
