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
/// After a barge-in, far-end quiet this long means it stopped talking (longer than the pauses
/// between a synthetic voice's sentences).
const STOPPED_AFTER: Duration = Duration::from_millis(600);

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
    /// `--barge-in-after`: the first line interrupts the far end this long after it starts.
    barge_in: Option<Duration>,
    /// When the far end first spoke.
    far_started: Option<Duration>,
    /// The barge-in under way: when our line started, the far end's last loud frame since,
    /// the quiet run after it, and (once quiet long enough) how long it took to stop.
    barge: Option<Barge>,
}

#[derive(Debug, Clone, Copy)]
struct Barge {
    started: Duration,
    last_loud: Option<Duration>,
    quiet: Duration,
    stopped_after: Option<Duration>,
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

    /// The first line interrupts the far end `after` it starts talking (instead of waiting
    /// for it to finish), and the time the far end takes to fall silent is measured.
    pub fn barge_in_after(mut self, after: Duration) -> Talk {
        self.barge_in = Some(after);
        self
    }

    /// After a barge-in: how long after our line started the far end's audio stopped (its
    /// last loud frame ended), as heard here; `None` without a barge-in or while it talks on.
    pub fn barge_in_stop(&self) -> Option<Duration> {
        self.barge.and_then(|b| b.stopped_after)
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
        let loud = cxb_dsp::level::dbfs(far) > SPEECH_DBFS;
        if loud && self.far_started.is_none() {
            self.far_started = Some(self.elapsed);
        }
        if let Some(b) = self.barge.as_mut()
            && b.stopped_after.is_none()
        {
            if loud {
                b.last_loud = Some(self.elapsed);
                b.quiet = Duration::ZERO;
            } else {
                b.quiet += FRAME;
                if b.quiet >= STOPPED_AFTER {
                    b.stopped_after = Some(b.last_loud.map_or(Duration::ZERO, |l| l.saturating_sub(b.started)));
                }
            }
        }
        if let (Some(after), Some(start)) = (self.barge_in, self.far_started)
            && self.next == 0
            && self.speaking_until.is_none()
            && !self.lines.is_empty()
            && self.elapsed >= start + after
        {
            self.barge = Some(Barge {
                started: self.elapsed,
                last_loud: None,
                quiet: Duration::ZERO,
                stopped_after: None,
            });
            return self.say_next();
        }
        if let Some(until) = self.speaking_until {
            if self.elapsed < until {
                return None;
            }
            self.speaking_until = None;
            self.quiet = Duration::ZERO;
        }
        if loud {
            self.heard_speech = true;
            self.quiet = Duration::ZERO;
        } else {
            self.quiet += FRAME;
        }
        let due = (self.heard_speech && self.quiet >= REPLY_AFTER) || self.quiet >= NUDGE_AFTER;
        if !due || self.next >= self.lines.len() || (self.barge_in.is_some() && self.next == 0) {
            return None;
        }
        self.say_next()
    }

    /// Starts the next line.
    fn say_next(&mut self) -> Option<(&str, &[i16])> {
        let (text, pcm) = self.lines.get(self.next)?;
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
    fn barge_in_interrupts_and_measures_when_the_far_end_stops() {
        let mut t = talk(1).barge_in_after(Duration::from_millis(400));
        let loud = vec![8000i16; 320];
        let quiet = vec![0i16; 320];
        // Far end talks; 400 ms in, our line starts over it.
        let at = (0..100).position(|_| t.step(&loud).is_some()).unwrap();
        assert_eq!(at, 20, "said at frame {at}");
        // It talks on for 5 more frames (100 ms), then stops.
        for _ in 0..5 {
            assert!(t.step(&loud).is_none());
        }
        for _ in 0..40 {
            assert!(t.step(&quiet).is_none());
        }
        assert_eq!(t.barge_in_stop(), Some(Duration::from_millis(100)));
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
