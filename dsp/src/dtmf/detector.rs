//! In-band DTMF detection with a Goertzel bank over sliding windows.
//!
//! Windows of 102 samples at 8 kHz (12.75 ms; 204 at 16 kHz) hop by a third of that (34
//! samples, 4.25 ms). A window is a *hit* for a digit when all of these hold:
//! - the strongest row and column powers are above the minimum level;
//! - twist: the low (row) tone is at most `normal_twist_db` above the high (column) tone and
//!   the high tone at most `reverse_twist_db` above the low one;
//! - each is `relative_peak_db` above the other bins of its group;
//! - the two tones carry at least `energy_ratio` of the window's energy (rejects speech and
//!   music, which spread energy over many partials, and noise);
//! - the column tone's second harmonic is `harmonic_db` below it (rejects harmonic-rich sources;
//!   row harmonics fall among the column tones, so they are left to the energy test).
//!
//! A digit starts after `start_hits` consecutive hit windows of the same digit (6 hops: a tone
//! must last about 28–34 ms, so ≥ 40 ms tones are accepted and ≤ 23 ms ones rejected) and ends
//! after `end_misses` windows without it (a 40 ms pause separates two digits).

use super::digit::{COLS, ROWS};
use super::{DtmfDigit, DtmfError};
use crate::goertzel::BlockBank;

/// Detection thresholds. The defaults follow the usual telephony rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Minimum level of each tone, in dB relative to a full-scale sine.
    pub min_level_dbfs: f32,
    /// How much louder the low-group tone may be than the high-group one (dB).
    pub normal_twist_db: f32,
    /// How much louder the high-group tone may be than the low-group one (dB).
    pub reverse_twist_db: f32,
    /// Minimum share of the window energy in the two tones (0..1).
    pub energy_ratio: f32,
    /// Minimum margin of each tone over the other frequencies of its group (dB).
    pub relative_peak_db: f32,
    /// Maximum level of the column tone's second harmonic relative to it (dB, negative).
    pub harmonic_db: f32,
    /// Consecutive hit windows needed to accept a digit.
    pub start_hits: u32,
    /// Consecutive windows without the digit that end it.
    pub end_misses: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_level_dbfs: -40.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            energy_ratio: 0.7,
            relative_peak_db: 6.0,
            harmonic_db: -10.0,
            start_hits: 6,
            end_misses: 3,
        }
    }
}

/// A digit boundary found in the audio, at a sample position counted from the first sample
/// given to the detector (or since the last reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfDetection {
    /// A digit started about here.
    Start {
        /// The digit.
        digit: DtmfDigit,
        /// Estimated first sample of the tone.
        at: u64,
    },
    /// The digit ended about here.
    End {
        /// The digit.
        digit: DtmfDigit,
        /// Estimated sample after the tone's last one.
        at: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Run {
    digit: DtmfDigit,
    hits: u32,
    /// Start of the first window of the run.
    first: u64,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    digit: DtmfDigit,
    misses: u32,
    /// End of the last hit window.
    last_end: u64,
}

/// Linear thresholds derived from a [`DetectorConfig`].
#[derive(Debug, Clone, Copy)]
struct Limits {
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    energy_ratio: f32,
    relative_peak: f32,
    harmonic: f32,
}

/// In-band DTMF detector for one audio stream at 8 kHz, 16 kHz (or any rate in
/// 8000..=48000 Hz). Allocates only in [`DtmfDetector::new`].
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    cfg: DetectorConfig,
    lim: Limits,
    bank: BlockBank,
    /// Samples consumed since construction or reset.
    pos: u64,
    run: Option<Run>,
    active: Option<Active>,
}

const FREQS: [f32; 12] = [
    ROWS[0],
    ROWS[1],
    ROWS[2],
    ROWS[3],
    COLS[0],
    COLS[1],
    COLS[2],
    COLS[3],
    2.0 * COLS[0],
    2.0 * COLS[1],
    2.0 * COLS[2],
    2.0 * COLS[3],
];

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

impl DtmfDetector {
    /// A detector with the default thresholds.
    pub fn new(sample_rate: u32) -> Result<Self, DtmfError> {
        Self::with_config(sample_rate, DetectorConfig::default())
    }

    /// A detector with these thresholds.
    pub fn with_config(sample_rate: u32, cfg: DetectorConfig) -> Result<Self, DtmfError> {
        if !(8000..=48_000).contains(&sample_rate) {
            return Err(DtmfError::UnsupportedRate {
                rate: sample_rate,
                min: 8000,
                max: 48_000,
            });
        }
        // 34 samples at 8 kHz, scaled with the rate.
        let hop = ((u64::from(sample_rate) * 34 + 4000) / 8000) as usize;
        let bank = BlockBank::new(sample_rate, &FREQS, hop, 3);
        let n = bank.window_len() as f32;
        let amp = 10f32.powf(cfg.min_level_dbfs / 20.0);
        let lim = Limits {
            min_power: amp * amp * n / 2.0,
            normal_twist: db_to_power(cfg.normal_twist_db),
            reverse_twist: db_to_power(cfg.reverse_twist_db),
            energy_ratio: cfg.energy_ratio,
            relative_peak: db_to_power(cfg.relative_peak_db),
            harmonic: db_to_power(cfg.harmonic_db),
        };
        Ok(DtmfDetector {
            cfg,
            lim,
            bank,
            pos: 0,
            run: None,
            active: None,
        })
    }

    /// Forgets all state; positions restart at 0.
    pub fn reset(&mut self) {
        self.bank.reset();
        self.pos = 0;
        self.run = None;
        self.active = None;
    }

    /// Samples consumed since construction or the last reset.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The digit currently sounding, if one has started and not ended.
    pub fn current_digit(&self) -> Option<DtmfDigit> {
        self.active.map(|a| a.digit)
    }

    /// Analyses `pcm` (any length), calling `emit` for each digit start and end found.
    pub fn process(&mut self, pcm: &[i16], mut emit: impl FnMut(DtmfDetection)) {
        let mut buf = [0f32; 128];
        for chunk in pcm.chunks(buf.len()) {
            let x = &mut buf[..chunk.len()];
            for (o, &v) in x.iter_mut().zip(chunk) {
                *o = f32::from(v) / 32768.0;
            }
            let mut p = 0;
            while p < x.len() {
                let (used, ready) = self.bank.push(&x[p..]);
                p += used;
                self.pos += used as u64;
                if ready {
                    let hit = self.classify();
                    self.track(hit, &mut emit);
                }
            }
        }
    }

    /// Ends a digit still sounding at the end of the stream.
    pub fn finish(&mut self, mut emit: impl FnMut(DtmfDetection)) {
        if let Some(a) = self.active.take() {
            emit(DtmfDetection::End {
                digit: a.digit,
                at: self.end_estimate(a.last_end),
            });
        }
        self.run = None;
    }

    fn window_len(&self) -> u64 {
        self.bank.window_len() as u64
    }

    fn end_estimate(&self, window_end: u64) -> u64 {
        window_end.saturating_sub(self.window_len() / 4)
    }

    /// The digit this window is a hit for, if any.
    fn classify(&self) -> Option<DtmfDigit> {
        let p = self.bank.powers();
        let (rows, rest) = p.split_at(4);
        let (cols, harm) = rest.split_at(4);
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        };
        let (r, pr) = argmax(rows);
        let (c, pc) = argmax(cols);
        let l = &self.lim;
        let ok = pr >= l.min_power
            && pc >= l.min_power
            && pr <= pc * l.normal_twist
            && pc <= pr * l.reverse_twist
            && pr + pc >= l.energy_ratio * self.bank.window_energy()
            && rows
                .iter()
                .enumerate()
                .all(|(i, &x)| i == r || x * l.relative_peak <= pr)
            && cols
                .iter()
                .enumerate()
                .all(|(i, &x)| i == c || x * l.relative_peak <= pc)
            && harm[c] <= pc * l.harmonic;
        if ok { DtmfDigit::at(r, c) } else { None }
    }

    fn track(&mut self, hit: Option<DtmfDigit>, emit: &mut impl FnMut(DtmfDetection)) {
        let end = self.pos;
        let start = end - self.window_len();
        self.run = match (hit, self.run) {
            (Some(d), Some(r)) if r.digit == d => Some(Run {
                hits: r.hits.saturating_add(1),
                ..r
            }),
            (Some(d), _) => Some(Run {
                digit: d,
                hits: 1,
                first: start,
            }),
            (None, _) => None,
        };
        if let Some(a) = self.active.as_mut() {
            if hit == Some(a.digit) {
                a.misses = 0;
                a.last_end = end;
                return;
            }
            a.misses += 1;
            if a.misses < self.cfg.end_misses {
                return;
            }
            let a = *a;
            self.active = None;
            emit(DtmfDetection::End {
                digit: a.digit,
                at: self.end_estimate(a.last_end),
            });
        }
        if let Some(r) = self.run
            && r.hits >= self.cfg.start_hits
        {
            self.active = Some(Active {
                digit: r.digit,
                misses: 0,
                last_end: end,
            });
            emit(DtmfDetection::Start {
                digit: r.digit,
                at: r.first + self.window_len() / 4,
            });
        }
    }
}
