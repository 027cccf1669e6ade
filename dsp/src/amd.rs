//! Answering-machine detection (AMD): is the callee a person or a voicemail greeting, and when
//! does the greeting's beep sound?
//!
//! [`AmdDetector`] is fed the callee's audio after answer, one frame at a time (20 ms at 16 kHz
//! or 8 kHz) together with the VAD's speech decision for that frame, and optionally the early
//! media before answer. It decides from the shape of the first words, as Asterisk's `app_amd`
//! does, with the same parameter set ([`AmdConfig`]):
//!
//! * **initial silence**: nobody speaks within `initial_silence_ms` → `initial_silence_verdict`;
//! * **words**: a speech run of at least `min_word_ms` after at least `between_words_ms` of
//!   silence is a word; more than `max_words` words → machine (a cadence of many short runs is a
//!   recorded sentence, a person says one or two words and waits);
//! * **greeting length**: speech totalling `greeting_ms` before the first long pause → machine
//!   (a person says "Hello?" in well under 1.5 s, a greeting talks for 3–15 s);
//! * **after-greeting silence**: a pause of `after_greeting_silence_ms` after a short greeting →
//!   human (the person waits for us to speak);
//! * **beep**: a voicemail beep (a steady sine in 400–2000 Hz, or 1 kHz) before any other
//!   decision, or within `beep_watch_ms` after a human or unknown one (a short "Hi, leave a
//!   message" greeting then a beep) → machine;
//! * **transcript cues** ([`transcript_cue`]): "leave a message", "voicemail", … → machine, even
//!   after an acoustic human or unknown verdict;
//! * nothing decided within `total_analysis_ms` → unknown.
//!
//! So a machine verdict may follow a human or unknown one (a correction); nothing follows a
//! machine verdict.
//!
//! After a machine verdict it keeps listening for the beep ([`AmdEvent::Beep`]) and then for the
//! silence after it ([`AmdEvent::SilenceAfterBeep`]: leave the message now), or reports
//! [`AmdEvent::NoBeep`] when the greeting ended without one. On early media it recognises
//! ring-back, busy and SIT tones ([`AmdEvent::EarlyTone`]).
//!
//! Sans-IO: no clock (time is the sample count), no allocation after [`AmdDetector::new`].
//! Times in events are milliseconds from the first post-answer sample, or for early-media
//! events from the first early-media sample.

mod config;
mod cue;
mod early;

pub use config::AmdConfig;
pub use cue::{MACHINE_CUES, transcript_cue};
pub use early::{EarlyTone, MAX_SIT_GAP_MS};

use crate::tone::{ToneConfig, ToneDetector, ToneError, ToneEvent, ToneSpec};
use early::EarlyDetector;

/// Errors of the AMD module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmdError {
    /// The detector runs at 8000 or 16000 Hz.
    #[error("unsupported sample rate {rate} Hz; AMD takes 8000 or 16000 Hz")]
    UnsupportedRate {
        /// The rate asked for.
        rate: u32,
    },
    /// An [`AmdConfig`] field is out of range.
    #[error("AMD setting {field} = {value} is out of range ({range})")]
    InvalidConfig {
        /// Name of the field.
        field: &'static str,
        /// The rejected value.
        value: u32,
        /// The accepted range, for the message.
        range: &'static str,
    },
    /// The tone detector refused its specs (a bug, reported rather than panicking).
    #[error("tone detector: {0}")]
    Tone(#[from] ToneError),
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// A person.
    Human,
    /// An answering machine, voicemail or network announcement.
    Machine,
    /// Could not tell.
    Unknown,
}

/// Why a verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdReason {
    /// Nobody spoke within `initial_silence_ms`.
    InitialSilence,
    /// The callee spoke `greeting_ms` before pausing.
    LongGreeting,
    /// More than `max_words` words before a pause.
    MaxWords,
    /// A short greeting followed by `after_greeting_silence_ms` of silence.
    AfterGreetingSilence,
    /// A voicemail beep.
    Beep,
    /// A voicemail phrase in the transcript.
    TranscriptCue,
    /// Nothing decided within `total_analysis_ms`.
    Timeout,
}

/// What the detector reports, through [`AmdDetector::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmdEvent {
    /// The decision. A `Machine` verdict may follow a `Human` or `Unknown` one (a beep within
    /// `beep_watch_ms`, or a transcript cue); nothing follows a `Machine` verdict.
    Verdict {
        /// Human, machine or unknown.
        verdict: Verdict,
        /// When it was reached (ms after answer).
        at_ms: u64,
        /// Why.
        reason: AmdReason,
    },
    /// A voicemail beep started (ms after answer; estimated onset of the tone).
    Beep {
        /// Onset of the beep.
        at_ms: u64,
    },
    /// Silence of `silence_after_beep_ms` followed the beep: time to leave the message.
    SilenceAfterBeep {
        /// When the silence was confirmed (ms after answer).
        at_ms: u64,
    },
    /// The machine's greeting ended (`no_beep_silence_ms` of silence) or `beep_timeout_ms`
    /// passed without a beep: leave the message now if at all.
    NoBeep {
        /// When it was decided (ms after answer).
        at_ms: u64,
    },
    /// A tone on early media (ms after the first early-media sample).
    EarlyTone {
        /// Which tone.
        tone: EarlyTone,
        /// Its estimated onset.
        at_ms: u64,
    },
}

/// Where the detector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No verdict yet.
    Analysing,
    /// Machine: waiting for the beep, then the silence after it.
    AwaitBeep,
    /// Human or unknown: a beep before this position still makes it a machine.
    BeepWatch { until: u64 },
    /// Nothing more to report (human or unknown verdict, or the beep business is over).
    Done,
}

/// Events waiting for [`AmdDetector::poll_event`].
const QUEUE: usize = 16;

/// Thresholds in samples.
#[derive(Debug, Clone, Copy)]
struct Limits {
    initial_silence: u64,
    greeting: u64,
    after_greeting_silence: u64,
    total_analysis: u64,
    min_word: u64,
    between_words: u64,
    silence_after_beep: u64,
    no_beep_silence: u64,
    beep_timeout: u64,
    beep_watch: u64,
}

/// The answering-machine detector for one call. Allocates only in [`AmdDetector::new`].
#[derive(Debug, Clone)]
pub struct AmdDetector {
    cfg: AmdConfig,
    lim: Limits,
    phase: Phase,
    verdict: Option<Verdict>,
    /// Post-answer samples consumed.
    pos: u64,
    /// Consecutive speech and silence (samples).
    voice_run: u64,
    silence_run: u64,
    /// Total speech since the first word (samples).
    greeting_voice: u64,
    words: u32,
    in_word: bool,
    /// A word has been heard.
    in_greeting: bool,
    beeps: ToneDetector,
    /// Beep specs currently sounding, and where the last beep ended.
    beep_on: u32,
    beep_heard: bool,
    beep_end: u64,
    /// Position of the machine verdict.
    machine_at: u64,
    early: EarlyDetector,
    queue: [Option<AmdEvent>; QUEUE],
    head: usize,
    len: usize,
}

impl AmdDetector {
    /// A detector with `cfg` (validated).
    pub fn new(cfg: AmdConfig) -> Result<Self, AmdError> {
        cfg.validate()?;
        let rate = u64::from(cfg.sample_rate);
        let s = |ms: u32| u64::from(ms) * rate / 1000;
        let lim = Limits {
            initial_silence: s(cfg.initial_silence_ms),
            greeting: s(cfg.greeting_ms),
            after_greeting_silence: s(cfg.after_greeting_silence_ms),
            total_analysis: s(cfg.total_analysis_ms),
            min_word: s(cfg.min_word_ms),
            between_words: s(cfg.between_words_ms),
            silence_after_beep: s(cfg.silence_after_beep_ms),
            no_beep_silence: s(cfg.no_beep_silence_ms),
            beep_timeout: s(cfg.beep_timeout_ms),
            beep_watch: s(cfg.beep_watch_ms),
        };
        let specs = [ToneSpec::voicemail_beep(), ToneSpec::beep_1khz()];
        Ok(AmdDetector {
            cfg,
            lim,
            phase: Phase::Analysing,
            verdict: None,
            pos: 0,
            voice_run: 0,
            silence_run: 0,
            greeting_voice: 0,
            words: 0,
            in_word: false,
            in_greeting: false,
            beeps: ToneDetector::new(cfg.sample_rate, &specs, ToneConfig::default())?,
            beep_on: 0,
            beep_heard: false,
            beep_end: 0,
            machine_at: 0,
            early: EarlyDetector::new(cfg.sample_rate)?,
            queue: [None; QUEUE],
            head: 0,
            len: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AmdConfig {
        &self.cfg
    }

    /// The latest verdict, if any.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Milliseconds of post-answer audio consumed.
    pub fn position_ms(&self) -> u64 {
        self.ms(self.pos)
    }

    /// Whether the detector still wants audio: no verdict yet, a human or unknown verdict still
    /// open to a beep, or a machine verdict waiting for its beep.
    pub fn is_active(&self) -> bool {
        self.phase != Phase::Done
    }

    /// Feeds one frame of early media (before answer). Reports ring-back, busy and SIT tones.
    pub fn process_early(&mut self, frame: &[i16]) {
        let rate = self.cfg.sample_rate;
        let mut found = [None; 4];
        let mut n = 0;
        self.early.process(frame, rate, |tone, at| {
            if n < found.len() {
                found[n] = Some((tone, at));
                n += 1;
            }
        });
        for (tone, at) in found.into_iter().flatten() {
            let at_ms = self.ms(at);
            self.push(AmdEvent::EarlyTone { tone, at_ms });
        }
    }

    /// Feeds one frame of the callee's audio after answer with the VAD's decision for it
    /// (any length works; 20 ms is the intended size). Does nothing once the detector is done.
    pub fn process(&mut self, frame: &[i16], speech: bool) {
        let dur = frame.len() as u64;
        self.pos += dur;
        if self.phase == Phase::Done || dur == 0 {
            return;
        }
        self.tones(frame);
        if speech {
            self.voice_run += dur;
            self.silence_run = 0;
        } else {
            self.silence_run += dur;
            if self.silence_run >= self.lim.between_words {
                self.voice_run = 0;
                self.in_word = false;
            }
        }
        match self.phase {
            Phase::Analysing => self.analyse(speech, dur),
            Phase::AwaitBeep => self.await_beep(),
            Phase::BeepWatch { until } => {
                if self.pos >= until {
                    self.phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
    }

    /// Takes a transcript of the callee's words (`at_ms` after answer): a voicemail cue gives a
    /// machine verdict if there is none yet or the verdict was human or unknown.
    pub fn transcript(&mut self, text: &str, at_ms: u64) {
        if self.verdict == Some(Verdict::Machine) {
            return;
        }
        if transcript_cue(text) == Some(Verdict::Machine) {
            self.decide(Verdict::Machine, AmdReason::TranscriptCue, at_ms);
        }
    }

    /// The next event, oldest first. Poll after every frame: at most 16 events are kept.
    pub fn poll_event(&mut self) -> Option<AmdEvent> {
        if self.len == 0 {
            return None;
        }
        let e = self.queue[self.head].take();
        self.head = (self.head + 1) % QUEUE;
        self.len -= 1;
        e
    }

    fn ms(&self, samples: u64) -> u64 {
        samples * 1000 / u64::from(self.cfg.sample_rate)
    }

    fn push(&mut self, e: AmdEvent) {
        if self.len < QUEUE {
            self.queue[(self.head + self.len) % QUEUE] = Some(e);
            self.len += 1;
        }
    }

    fn decide(&mut self, verdict: Verdict, reason: AmdReason, at_ms: u64) {
        self.verdict = Some(verdict);
        self.push(AmdEvent::Verdict { verdict, at_ms, reason });
        if verdict == Verdict::Machine {
            self.phase = Phase::AwaitBeep;
            self.machine_at = self.pos;
        } else {
            self.phase = Phase::BeepWatch {
                until: self.pos + self.lim.beep_watch,
            };
        }
    }

    /// Runs the beep detector over the frame and reports beep onsets.
    fn tones(&mut self, frame: &[i16]) {
        let mut starts = [0u64; 4];
        let mut n_starts = 0;
        let (mut on, mut end) = (self.beep_on, self.beep_end);
        self.beeps.process(frame, |e| match e {
            ToneEvent::Start { at, .. } => {
                if on == 0 && n_starts < starts.len() {
                    starts[n_starts] = at;
                    n_starts += 1;
                }
                on += 1;
            }
            ToneEvent::End { at, .. } => {
                on = on.saturating_sub(1);
                if on == 0 {
                    end = at;
                }
            }
        });
        self.beep_on = on;
        self.beep_end = end;
        for &at in &starts[..n_starts] {
            self.beep_heard = true;
            let at_ms = self.ms(at);
            if matches!(self.phase, Phase::Analysing | Phase::BeepWatch { .. }) {
                let now = self.ms(self.pos);
                self.decide(Verdict::Machine, AmdReason::Beep, now);
            }
            self.push(AmdEvent::Beep { at_ms });
        }
    }

    fn analyse(&mut self, speech: bool, dur: u64) {
        let now = self.ms(self.pos);
        if speech {
            if self.in_greeting {
                self.greeting_voice += dur;
            }
            if !self.in_word && self.voice_run >= self.lim.min_word {
                self.in_word = true;
                self.words += 1;
                if !self.in_greeting {
                    self.in_greeting = true;
                    self.greeting_voice = self.voice_run;
                }
            }
            if self.words > self.cfg.max_words {
                return self.decide(Verdict::Machine, AmdReason::MaxWords, now);
            }
            if self.in_greeting && self.greeting_voice >= self.lim.greeting {
                return self.decide(Verdict::Machine, AmdReason::LongGreeting, now);
            }
        } else {
            if !self.in_greeting && self.pos >= self.lim.initial_silence {
                return self.decide(self.cfg.initial_silence_verdict, AmdReason::InitialSilence, now);
            }
            if self.in_greeting && self.silence_run >= self.lim.after_greeting_silence {
                return self.decide(Verdict::Human, AmdReason::AfterGreetingSilence, now);
            }
        }
        if self.pos >= self.lim.total_analysis {
            self.decide(Verdict::Unknown, AmdReason::Timeout, now);
        }
    }

    fn await_beep(&mut self) {
        let now = self.ms(self.pos);
        if self.beep_heard {
            if self.beep_on == 0 {
                // Quiet since both the end of the beep and the last speech.
                let quiet = self.silence_run.min(self.pos.saturating_sub(self.beep_end));
                if quiet >= self.lim.silence_after_beep {
                    self.push(AmdEvent::SilenceAfterBeep { at_ms: now });
                    self.phase = Phase::Done;
                }
            }
            return;
        }
        if self.beep_on > 0 {
            return;
        }
        if self.silence_run >= self.lim.no_beep_silence || self.pos - self.machine_at >= self.lim.beep_timeout {
            self.push(AmdEvent::NoBeep { at_ms: now });
            self.phase = Phase::Done;
        }
    }
}

#[cfg(test)]
mod tests;
