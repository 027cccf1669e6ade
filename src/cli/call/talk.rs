//! `--say`: the softphone holds a conversation. Each line is synthesised once with espeak-ng and
//! spoken as the caller's next turn when the far end has finished talking (it spoke, then went
//! quiet for [`REPLY_AFTER`]) — or after [`NUDGE_AFTER`] of silence if it never speaks first.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::audio;

/// Far-end silence after its speech before we answer.
pub const REPLY_AFTER: Duration = Duration::from_millis(900);
/// Silence from the start (or since our last line) after which we speak anyway.
pub const NUDGE_AFTER: Duration = Duration::from_secs(6);
/// A 20 ms frame louder than this (RMS, dBFS) counts as far-end speech.
const SPEECH_DBFS: f32 = -42.0;
const FRAME: Duration = Duration::from_millis(20);

/// The caller's script and where the conversation is.
#[derive(Debug, Default)]
pub struct Talk {
    lines: Vec<(String, Vec<i16>)>,
    next: usize,
    /// Far end spoke since our last line.
    heard_speech: bool,
    /// Quiet time since the far end last spoke (or since our line ended).
    quiet: Duration,
    /// Our line is still playing.
    speaking_until: Option<Duration>,
    elapsed: Duration,
}

impl Talk {
    /// Synthesises every line (16 kHz mono) with `espeak-ng`.
    pub fn new(lines: &[String]) -> anyhow::Result<Talk> {
        let mut out = Vec::with_capacity(lines.len());
        for text in lines {
            out.push((text.clone(), synthesize(text)?));
        }
        Ok(Talk {
            lines: out,
            ..Talk::default()
        })
    }

    /// Whether every line has been said.
    pub fn done(&self) -> bool {
        self.next >= self.lines.len() && self.speaking_until.is_none()
    }

    /// The script is said and the far end answered the last line and went quiet: hang up.
    pub fn finished(&self) -> bool {
        self.done() && !self.lines.is_empty() && self.heard_speech && self.quiet >= Duration::from_secs(3)
    }

    /// One 20 ms step with the far end's audio of this step; returns a line to play now.
    pub fn step(&mut self, far: &[i16]) -> Option<(&str, &[i16])> {
        self.elapsed += FRAME;
        if let Some(until) = self.speaking_until {
            if self.elapsed < until {
                return None;
            }
            self.speaking_until = None;
            self.quiet = Duration::ZERO;
        }
        if cxb_dsp::level::dbfs(far) > SPEECH_DBFS {
            self.heard_speech = true;
            self.quiet = Duration::ZERO;
        } else {
            self.quiet += FRAME;
        }
        let due = (self.heard_speech && self.quiet >= REPLY_AFTER) || self.quiet >= NUDGE_AFTER;
        if !due || self.next >= self.lines.len() {
            return None;
        }
        let (text, pcm) = &self.lines[self.next];
        self.next += 1;
        self.heard_speech = false;
        let secs = pcm.len() as f64 / f64::from(audio::RATE);
        self.speaking_until = Some(self.elapsed + Duration::from_secs_f64(secs));
        Some((text.as_str(), pcm.as_slice()))
    }
}

/// `text` spoken by espeak-ng, as 16 kHz mono.
fn synthesize(text: &str) -> anyhow::Result<Vec<i16>> {
    let dir = std::env::temp_dir().join(format!("cxb-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let wav = dir.join("line.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run espeak-ng for --say (run scripts/bootstrap)")?;
    if !status.success() {
        bail!("espeak-ng failed on {text:?}");
    }
    let pcm = audio::read_as_16k_mono(&wav)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(pcm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(n: usize) -> Talk {
        let lines = (0..n).map(|i| (format!("line {i}"), vec![1000i16; 16_000])).collect();
        Talk {
            lines,
            ..Talk::default()
        }
    }

    #[test]
    fn answers_after_the_far_end_finishes() {
        let mut t = talk(2);
        let loud = vec![8000i16; 320];
        let quiet = vec![0i16; 320];
        for _ in 0..50 {
            assert!(t.step(&loud).is_none());
        }
        let mut said = None;
        for i in 0..100 {
            if let Some((text, _)) = t.step(&quiet) {
                said = Some((i, text.to_owned()));
                break;
            }
        }
        let (i, text) = said.unwrap();
        assert_eq!(text, "line 0");
        assert_eq!(i + 1, (REPLY_AFTER.as_millis() / 20) as usize);
        // While our line plays (1 s) nothing else is said, even in silence.
        for _ in 0..49 {
            assert!(t.step(&quiet).is_none());
        }
    }

    #[test]
    fn nudges_when_the_far_end_stays_silent_and_stops_after_the_script() {
        let mut t = talk(1);
        let quiet = vec![0i16; 320];
        let steps = (0..1000).position(|_| t.step(&quiet).is_some()).unwrap();
        assert_eq!(steps + 1, (NUDGE_AFTER.as_millis() / 20) as usize);
        for _ in 0..1000 {
            assert!(t.step(&quiet).is_none());
        }
        assert!(t.done());
    }
}
