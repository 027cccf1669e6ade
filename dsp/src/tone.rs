//! Call-progress and beep tone detection: ring-back, busy, 1 kHz beeps and voicemail beeps
//! anywhere in a band.
//!
//! A [`ToneDetector`] watches a set of [`ToneSpec`]s (single tone, dual tone, or the strongest
//! frequency of a swept bank over a band) with one shared Goertzel bank over 50 ms windows
//! hopping by 10 ms ([`crate::goertzel::BlockBank`]). A window *hits* a spec when its tone(s)
//! are above the minimum level and hold at least `energy_ratio` of the window's energy (speech
//! and music spread their energy over many partials, so they fail); a band spec's peak must also
//! stay within two bins of where the run started. A tone starts once its hit run covers
//! `min_duration_ms` and ends after `end_misses` windows without a hit; events carry sample
//! positions and the matched frequency.

use crate::goertzel::BlockBank;

/// Errors of the tone detector.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToneError {
    /// A sample rate outside 8000..=48000 Hz.
    #[error("unsupported sample rate {rate} Hz (supported 8000..=48000)")]
    UnsupportedRate {
        /// Rate asked for.
        rate: u32,
    },
    /// A frequency that is not below the Nyquist frequency, or not positive.
    #[error("frequency {freq_hz} Hz is outside (0, {nyquist_hz}) Hz")]
    FrequencyOutOfRange {
        /// The frequency.
        freq_hz: f32,
        /// Half the sample rate.
        nyquist_hz: f32,
    },
    /// A band whose step is not positive or whose bounds are reversed, or that has too many bins.
    #[error("invalid band {lo_hz}..{hi_hz} Hz step {step_hz} Hz")]
    InvalidBand {
        /// Low edge.
        lo_hz: f32,
        /// High edge.
        hi_hz: f32,
        /// Step between bins.
        step_hz: f32,
    },
    /// No tone to detect.
    #[error("no tone specified")]
    Empty,
}

/// The frequency pattern of a tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToneFreqs {
    /// One sine (Hz).
    Single(f32),
    /// Two simultaneous sines (Hz).
    Dual(f32, f32),
    /// A single sine anywhere in `lo..=hi` Hz, searched with bins every `step` Hz.
    Band {
        /// Low edge (Hz).
        lo: f32,
        /// High edge (Hz).
        hi: f32,
        /// Spacing of the searched frequencies (Hz); 10 Hz keeps the worst-case loss under 1 dB.
        step: f32,
    },
}

/// What kind of tone a spec is for (lets callers match presets without comparing names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToneKind {
    /// US ring-back, 440 + 480 Hz.
    RingbackUs,
    /// UK ring-back, 400 + 450 Hz.
    RingbackUk,
    /// US busy, 480 + 620 Hz.
    Busy,
    /// A 1 kHz beep (e.g. an answering machine's).
    Beep1k,
    /// A voicemail beep anywhere in 400–2000 Hz.
    VoicemailBeep,
    /// A caller-defined tone.
    Custom,
}

/// One tone to detect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// What it is.
    pub kind: ToneKind,
    /// Its frequencies.
    pub freqs: ToneFreqs,
    /// The shortest tone to report (ms).
    pub min_duration_ms: u32,
}

impl ToneSpec {
    /// US ring-back (440 + 480 Hz; 2 s on, 4 s off); reported after 300 ms.
    pub fn ringback_us() -> Self {
        ToneSpec {
            kind: ToneKind::RingbackUs,
            freqs: ToneFreqs::Dual(440.0, 480.0),
            min_duration_ms: 300,
        }
    }

    /// UK ring-back (400 + 450 Hz; 0.4 s on, 0.2 s off, 0.4 s on, 2 s off); reported after 250 ms.
    pub fn ringback_uk() -> Self {
        ToneSpec {
            kind: ToneKind::RingbackUk,
            freqs: ToneFreqs::Dual(400.0, 450.0),
            min_duration_ms: 250,
        }
    }

    /// Busy (480 + 620 Hz; 0.5 s on, 0.5 s off); reported after 250 ms.
    pub fn busy() -> Self {
        ToneSpec {
            kind: ToneKind::Busy,
            freqs: ToneFreqs::Dual(480.0, 620.0),
            min_duration_ms: 250,
        }
    }

    /// A 1 kHz beep of at least 150 ms.
    pub fn beep_1khz() -> Self {
        ToneSpec {
            kind: ToneKind::Beep1k,
            freqs: ToneFreqs::Single(1000.0),
            min_duration_ms: 150,
        }
    }

    /// A voicemail beep: one steady sine in 400–2000 Hz for at least 150 ms.
    pub fn voicemail_beep() -> Self {
        ToneSpec {
            kind: ToneKind::VoicemailBeep,
            freqs: ToneFreqs::Band {
                lo: 400.0,
                hi: 2000.0,
                step: 10.0,
            },
            min_duration_ms: 150,
        }
    }

    /// The call-progress presets: US and UK ring-back, busy, 1 kHz beep.
    pub fn call_progress() -> [ToneSpec; 4] {
        [
            Self::ringback_us(),
            Self::ringback_uk(),
            Self::busy(),
            Self::beep_1khz(),
        ]
    }
}

/// Detector thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneConfig {
    /// Minimum level of each tone in dB relative to a full-scale sine.
    pub min_level_dbfs: f32,
    /// Minimum share of the window energy in the two tones of a dual tone (0..1).
    pub energy_ratio: f32,
    /// Minimum share of the window energy in a single tone or band peak (0..1): higher than
    /// for dual tones, because single notes of music (and whistles) are sines too, only
    /// less pure than a beep (hold-music notes measure about 0.7, beeps above 0.9).
    pub single_energy_ratio: f32,
    /// Largest level difference between the two tones of a dual tone (dB).
    pub max_twist_db: f32,
    /// Consecutive windows without a hit that end a tone.
    pub end_misses: u32,
}

impl Default for ToneConfig {
    fn default() -> Self {
        ToneConfig {
            min_level_dbfs: -45.0,
            energy_ratio: 0.6,
            single_energy_ratio: 0.8,
            max_twist_db: 10.0,
            end_misses: 3,
        }
    }
}

/// A tone boundary, at a sample position counted from the first sample given to the detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToneEvent {
    /// A tone began about here.
    Start {
        /// Index of its spec in the detector's list.
        tone: usize,
        /// Its kind.
        kind: ToneKind,
        /// Matched frequency (Hz): the single tone, the lower of a dual tone, or the band peak.
        freq_hz: f32,
        /// Estimated first sample.
        at: u64,
    },
    /// The tone ended about here.
    End {
        /// Index of its spec.
        tone: usize,
        /// Its kind.
        kind: ToneKind,
        /// Matched frequency (Hz), as in `Start`.
        freq_hz: f32,
        /// Estimated sample after the last one.
        at: u64,
    },
}

/// Where a spec's frequencies sit in the shared bank.
#[derive(Debug, Clone, Copy)]
enum Bins {
    Single(usize),
    Dual(usize, usize),
    Band { first: usize, count: usize },
}

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    /// Consecutive hit windows.
    hits: u32,
    /// Start of the first hit window of the run.
    first: u64,
    /// Bank index of the run's frequency (band peak at the run's start).
    bin: usize,
    active: bool,
    misses: u32,
    /// End of the last hit window.
    last_end: u64,
}

const MAX_BAND_BINS: usize = 1024;

/// Detects a set of tones in one audio stream. Allocates only in [`ToneDetector::new`].
#[derive(Debug, Clone)]
pub struct ToneDetector {
    specs: Vec<ToneSpec>,
    bins: Vec<Bins>,
    freqs: Vec<f32>,
    tracks: Vec<Track>,
    bank: BlockBank,
    cfg: ToneConfig,
    min_power: f32,
    max_twist: f32,
    pos: u64,
}

impl ToneDetector {
    /// A detector for `specs` at `sample_rate` (8000..=48000 Hz).
    pub fn new(sample_rate: u32, specs: &[ToneSpec], cfg: ToneConfig) -> Result<Self, ToneError> {
        if !(8000..=48_000).contains(&sample_rate) {
            return Err(ToneError::UnsupportedRate { rate: sample_rate });
        }
        if specs.is_empty() {
            return Err(ToneError::Empty);
        }
        let nyquist = sample_rate as f32 / 2.0;
        let mut freqs: Vec<f32> = Vec::new();
        let index = |f: f32, freqs: &mut Vec<f32>| -> Result<usize, ToneError> {
            if !(f > 0.0 && f < nyquist) {
                return Err(ToneError::FrequencyOutOfRange {
                    freq_hz: f,
                    nyquist_hz: nyquist,
                });
            }
            if let Some(i) = freqs.iter().position(|&g| g == f) {
                return Ok(i);
            }
            freqs.push(f);
            Ok(freqs.len() - 1)
        };
        let mut bins = Vec::with_capacity(specs.len());
        for s in specs {
            bins.push(match s.freqs {
                ToneFreqs::Single(f) => Bins::Single(index(f, &mut freqs)?),
                ToneFreqs::Dual(a, b) => Bins::Dual(index(a, &mut freqs)?, index(b, &mut freqs)?),
                ToneFreqs::Band { lo, hi, step } => {
                    let bad = ToneError::InvalidBand {
                        lo_hz: lo,
                        hi_hz: hi,
                        step_hz: step,
                    };
                    if !(step > 0.0 && lo <= hi) || (hi - lo) / step >= MAX_BAND_BINS as f32 {
                        return Err(bad);
                    }
                    let count = ((hi - lo) / step) as usize + 1;
                    let first = freqs.len();
                    for k in 0..count {
                        let f = lo + step * k as f32;
                        if !(f > 0.0 && f < nyquist) {
                            return Err(ToneError::FrequencyOutOfRange {
                                freq_hz: f,
                                nyquist_hz: nyquist,
                            });
                        }
                        freqs.push(f);
                    }
                    Bins::Band { first, count }
                }
            });
        }
        let hop = (sample_rate / 100) as usize;
        let bank = BlockBank::new(sample_rate, &freqs, hop, 5);
        let amp = 10f32.powf(cfg.min_level_dbfs / 20.0);
        let min_power = amp * amp * bank.window_len() as f32 / 2.0;
        Ok(ToneDetector {
            specs: specs.to_vec(),
            bins,
            freqs,
            tracks: vec![Track::default(); specs.len()],
            bank,
            cfg,
            min_power,
            max_twist: 10f32.powf(cfg.max_twist_db / 10.0),
            pos: 0,
        })
    }

    /// The specs, in the order events refer to them.
    pub fn specs(&self) -> &[ToneSpec] {
        &self.specs
    }

    /// Forgets all state; positions restart at 0.
    pub fn reset(&mut self) {
        self.bank.reset();
        self.tracks.fill(Track::default());
        self.pos = 0;
    }

    /// Samples consumed since construction or reset.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Analyses `pcm`, calling `emit` for each tone start and end.
    pub fn process(&mut self, pcm: &[i16], mut emit: impl FnMut(ToneEvent)) {
        let mut buf = [0f32; 160];
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
                    self.on_window(&mut emit);
                }
            }
        }
    }

    /// Ends tones still sounding at the end of the stream.
    pub fn finish(&mut self, mut emit: impl FnMut(ToneEvent)) {
        for i in 0..self.tracks.len() {
            let margin = self.margin(i);
            let t = &mut self.tracks[i];
            if t.active {
                let (kind, freq_hz) = (self.specs[i].kind, self.freqs[t.bin]);
                emit(ToneEvent::End {
                    tone: i,
                    kind,
                    freq_hz,
                    at: t.last_end.saturating_sub(margin),
                });
            }
            *t = Track::default();
        }
    }

    /// How far inside a hit window's edge the edge of tone `i` is estimated to be.
    fn margin(&self, i: usize) -> u64 {
        let ratio = match self.bins[i] {
            Bins::Dual(..) => self.cfg.energy_ratio,
            Bins::Single(_) | Bins::Band { .. } => self.cfg.single_energy_ratio,
        };
        (self.bank.window_len() as f32 * (1.0 - ratio).clamp(0.0, 1.0)) as u64
    }

    /// Whether the window hits spec `i`, and at which bank index.
    fn hit(&self, i: usize) -> Option<usize> {
        let p = self.bank.powers();
        let e = self.bank.window_energy();
        match self.bins[i] {
            Bins::Single(a) => (p[a] >= self.min_power && p[a] >= self.cfg.single_energy_ratio * e).then_some(a),
            Bins::Dual(a, b) => (p[a] >= self.min_power
                && p[b] >= self.min_power
                && p[a] <= p[b] * self.max_twist
                && p[b] <= p[a] * self.max_twist
                && p[a] + p[b] >= self.cfg.energy_ratio * e)
                .then_some(a),
            Bins::Band { first, count } => {
                let band = &p[first..first + count];
                let (k, &pk) = band.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1))?;
                (pk >= self.min_power && pk >= self.cfg.single_energy_ratio * e).then_some(first + k)
            }
        }
    }

    fn on_window(&mut self, emit: &mut impl FnMut(ToneEvent)) {
        let end = self.pos;
        let n = self.bank.window_len() as u64;
        let hop = self.bank.hop() as u64;
        let start = end - n;
        for i in 0..self.specs.len() {
            let margin = self.margin(i);
            let hit = self.hit(i);
            let spec = self.specs[i];
            let t = &mut self.tracks[i];
            // A band peak must stay within two bins of the run's frequency.
            let run_bin = t.bin;
            match hit {
                Some(b) if t.hits > 0 && b.abs_diff(run_bin) <= 2 => {
                    t.hits += 1;
                    t.misses = 0;
                    t.last_end = end;
                }
                Some(b) => {
                    if t.active {
                        let freq_hz = self.freqs[t.bin];
                        emit(ToneEvent::End {
                            tone: i,
                            kind: spec.kind,
                            freq_hz,
                            at: t.last_end - margin,
                        });
                    }
                    *t = Track {
                        hits: 1,
                        first: start,
                        bin: b,
                        active: false,
                        misses: 0,
                        last_end: end,
                    };
                }
                None => {
                    t.misses += 1;
                    if t.misses >= self.cfg.end_misses {
                        if t.active {
                            let freq_hz = self.freqs[t.bin];
                            emit(ToneEvent::End {
                                tone: i,
                                kind: spec.kind,
                                freq_hz,
                                at: t.last_end - margin,
                            });
                        }
                        *t = Track::default();
                    } else if !t.active {
                        // Before acceptance a run must be unbroken.
                        t.hits = 0;
                    }
                }
            }
            if !t.active && t.hits > 0 {
                // Tone length covered by the run: from first window start + margin to last end - margin.
                let covered = (t.last_end - t.first).saturating_sub(2 * margin);
                let need = u64::from(spec.min_duration_ms) * hop * 100 / 1000;
                if covered >= need {
                    t.active = true;
                    let freq_hz = self.freqs[t.bin];
                    emit(ToneEvent::Start {
                        tone: i,
                        kind: spec.kind,
                        freq_hz,
                        at: t.first + margin,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
