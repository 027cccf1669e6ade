//! Detector settings.

use super::{AmdError, Verdict};

/// Detector thresholds; the defaults follow Asterisk's `amd.conf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmdConfig {
    /// 8000 or 16000 Hz. Default 16000.
    pub sample_rate: u32,
    /// Silence after answer before giving up on a greeting. Default 2500 ms.
    pub initial_silence_ms: u32,
    /// The verdict on initial silence. Default [`Verdict::Unknown`] (Asterisk says machine; a
    /// person screening an unknown number often waits silently too).
    pub initial_silence_verdict: Verdict,
    /// Speech before the first long pause that makes a greeting a machine's. Default 1500 ms.
    pub greeting_ms: u32,
    /// Silence after a short greeting that makes the callee a person. Default 800 ms.
    pub after_greeting_silence_ms: u32,
    /// Longest analysis before answering unknown. Default 5000 ms.
    pub total_analysis_ms: u32,
    /// Shortest speech run counted as a word. Default 100 ms.
    pub min_word_ms: u32,
    /// Shortest silence separating two words. Default 50 ms.
    pub between_words_ms: u32,
    /// A greeting of more words than this is a machine's. Default 3.
    pub max_words: u32,
    /// Silence after the beep before [`AmdEvent::SilenceAfterBeep`]. Default 400 ms.
    pub silence_after_beep_ms: u32,
    /// Silence after a machine's greeting, with no beep, before [`AmdEvent::NoBeep`].
    /// Default 3000 ms.
    pub no_beep_silence_ms: u32,
    /// Longest wait for a beep after a machine verdict. Default 30000 ms.
    pub beep_timeout_ms: u32,
    /// How long a human or unknown verdict stays open to a beep that turns it into a machine
    /// verdict. Default 2000 ms.
    pub beep_watch_ms: u32,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            sample_rate: 16_000,
            initial_silence_ms: 2500,
            initial_silence_verdict: Verdict::Unknown,
            greeting_ms: 1500,
            after_greeting_silence_ms: 800,
            total_analysis_ms: 5000,
            min_word_ms: 100,
            between_words_ms: 50,
            max_words: 3,
            silence_after_beep_ms: 400,
            no_beep_silence_ms: 3000,
            beep_timeout_ms: 30_000,
            beep_watch_ms: 2000,
        }
    }
}

impl AmdConfig {
    /// Checks the rate and that every duration is in 1..=600000 ms (`max_words` 1..=100).
    pub fn validate(&self) -> Result<(), AmdError> {
        if !matches!(self.sample_rate, 8000 | 16_000) {
            return Err(AmdError::UnsupportedRate { rate: self.sample_rate });
        }
        let ms = [
            ("initial_silence_ms", self.initial_silence_ms),
            ("greeting_ms", self.greeting_ms),
            ("after_greeting_silence_ms", self.after_greeting_silence_ms),
            ("total_analysis_ms", self.total_analysis_ms),
            ("min_word_ms", self.min_word_ms),
            ("between_words_ms", self.between_words_ms),
            ("silence_after_beep_ms", self.silence_after_beep_ms),
            ("no_beep_silence_ms", self.no_beep_silence_ms),
            ("beep_timeout_ms", self.beep_timeout_ms),
            ("beep_watch_ms", self.beep_watch_ms),
        ];
        for (field, value) in ms {
            if !(1..=600_000).contains(&value) {
                return Err(AmdError::InvalidConfig {
                    field,
                    value,
                    range: "1..=600000 ms",
                });
            }
        }
        if !(1..=100).contains(&self.max_words) {
            return Err(AmdError::InvalidConfig {
                field: "max_words",
                value: self.max_words,
                range: "1..=100",
            });
        }
        Ok(())
    }
}
