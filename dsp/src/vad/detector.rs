//! The stateful VAD wrapper: a bot's VAD settings applied to frame probabilities, with
//! speech-start / speech-end events at exact sample positions. Sans-IO: samples in through
//! [`VadDetector::push`] in chunks of any size, events out through [`VadDetector::poll_event`].

use super::{LOOKAHEAD_FRAMES, Vad, VadError};
use std::collections::VecDeque;

/// A bot's VAD settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Probability at or above which a frame counts as speech (0..=1).
    pub confidence: f32,
    /// Speech must persist this long (consecutive speech frames) before speech-start is emitted.
    pub start_secs: f32,
    /// Non-speech must persist this long before speech-end is emitted.
    pub stop_secs: f32,
    /// Frames whose RMS level is below this (dBFS, full-scale sine = −3 dBFS) never count as
    /// speech.
    pub min_volume_dbfs: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            confidence: 0.5,
            start_secs: 0.2,
            stop_secs: 0.8,
            min_volume_dbfs: -55.0,
        }
    }
}

impl VadConfig {
    /// Checks the ranges (confidence 0..=1, times 0..=60 s, volume −120..=0 dBFS).
    pub fn validate(&self) -> Result<(), VadError> {
        let check = |field, value: f32, lo: f32, hi: f32, range| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(VadError::InvalidConfig { field, value, range })
            }
        };
        check("confidence", self.confidence, 0.0, 1.0, "0..=1")?;
        check("start_secs", self.start_secs, 0.0, 60.0, "0..=60")?;
        check("stop_secs", self.stop_secs, 0.0, 60.0, "0..=60")?;
        check("min_volume_dbfs", self.min_volume_dbfs, -120.0, 0.0, "-120..=0")
    }
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech started; `sample` is the first sample of the first speech frame of the run
    /// (counted from the first sample pushed).
    SpeechStart {
        /// Sample index.
        sample: u64,
    },
    /// Speech ended; `sample` is the first sample after the last speech frame.
    SpeechEnd {
        /// Sample index.
        sample: u64,
    },
}

/// The start/stop state machine on per-frame speech decisions (frame-indexed, no audio).
#[derive(Debug, Clone)]
pub struct Segmenter {
    frame_len: u64,
    start_frames: u64,
    stop_frames: u64,
    speaking: bool,
    run_start: u64,
    run_len: u64,
    last_speech: u64,
    silence: u64,
}

impl Segmenter {
    /// A segmenter for frames of `frame_len` samples, 10 ms each.
    pub fn new(frame_len: usize, start_secs: f32, stop_secs: f32) -> Self {
        let frames = |s: f32| ((s * 100.0).round() as u64).max(1);
        Segmenter {
            frame_len: frame_len as u64,
            start_frames: frames(start_secs),
            stop_frames: frames(stop_secs),
            speaking: false,
            run_start: 0,
            run_len: 0,
            last_speech: 0,
            silence: 0,
        }
    }

    /// Whether a speech segment is open.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds the decision for frame `index` (frames must come in order); returns the event it
    /// causes, if any.
    pub fn frame(&mut self, index: u64, speech: bool) -> Option<VadEvent> {
        if !self.speaking {
            if !speech {
                self.run_len = 0;
                return None;
            }
            if self.run_len == 0 {
                self.run_start = index;
            }
            self.run_len += 1;
            self.last_speech = index;
            if self.run_len >= self.start_frames {
                self.speaking = true;
                self.silence = 0;
                return Some(VadEvent::SpeechStart {
                    sample: self.run_start * self.frame_len,
                });
            }
            return None;
        }
        if speech {
            self.last_speech = index;
            self.silence = 0;
            return None;
        }
        self.silence += 1;
        if self.silence >= self.stop_frames {
            self.speaking = false;
            self.run_len = 0;
            return Some(VadEvent::SpeechEnd {
                sample: (self.last_speech + 1) * self.frame_len,
            });
        }
        None
    }

    /// Ends the stream: closes an open segment at the first sample after its last speech frame.
    pub fn finish(&mut self) -> Option<VadEvent> {
        if !self.speaking {
            self.run_len = 0;
            return None;
        }
        self.speaking = false;
        self.run_len = 0;
        Some(VadEvent::SpeechEnd {
            sample: (self.last_speech + 1) * self.frame_len,
        })
    }
}

/// Per-frame facts kept while the VAD's look-ahead fills.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    level_dbfs: f32,
    vetoed: bool,
}

/// [`Vad`] + [`VadConfig`] + [`Segmenter`]: the bot-facing detector.
#[derive(Debug)]
pub struct VadDetector {
    vad: Vad,
    config: VadConfig,
    seg: Segmenter,
    buf: Vec<i16>,
    fill: usize,
    pending: [Pending; LOOKAHEAD_FRAMES + 1],
    frames_in: u64,
    last_probability: f32,
    events: VecDeque<VadEvent>,
}

impl VadDetector {
    /// Starts loading its frame buffer into the cache (the detector itself, feature state
    /// included, is inline in its owner, which prefetches it).
    #[inline]
    pub fn prefetch(&self) {
        crate::simd::prefetch_slice(&self.buf);
    }

    /// A detector for `rate` Hz (8000 or 16000) with `config`.
    pub fn new(rate: u32, config: VadConfig) -> Result<Self, VadError> {
        config.validate()?;
        let vad = Vad::new(rate)?;
        let n = vad.frame_len();
        Ok(VadDetector {
            seg: Segmenter::new(n, config.start_secs, config.stop_secs),
            vad,
            config,
            buf: vec![0; n],
            fill: 0,
            pending: [Pending::default(); LOOKAHEAD_FRAMES + 1],
            frames_in: 0,
            last_probability: 0.0,
            events: VecDeque::with_capacity(16),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Whether a speech segment is open.
    pub fn is_speaking(&self) -> bool {
        self.seg.is_speaking()
    }

    /// Probability of the most recently decided frame.
    pub fn last_probability(&self) -> f32 {
        self.last_probability
    }

    /// Feeds received samples (any chunk size).
    pub fn push(&mut self, samples: &[i16]) {
        self.push_with_veto(samples, |_| false);
    }

    /// Feeds received samples; `veto` sees each complete frame and returns `true` when that
    /// frame must not count as speech (e.g. [`crate::echo::EchoGate::near_frame`] saying it is
    /// our own echo).
    pub fn push_with_veto(&mut self, mut samples: &[i16], mut veto: impl FnMut(&[i16]) -> bool) {
        let n = self.buf.len();
        while !samples.is_empty() {
            let take = (n - self.fill).min(samples.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&samples[..take]);
            self.fill += take;
            samples = &samples[take..];
            if self.fill < n {
                break;
            }
            self.fill = 0;
            // Exact integer energy (each square < 2^31, at most a few hundred of them), no
            // float add chain.
            let energy: u64 = self.buf.iter().map(|&s| u64::from(s.unsigned_abs()).pow(2)).sum();
            let ms = energy as f32 / n as f32;
            let level_dbfs = 10.0 * (ms / (32768.0 * 32768.0) + 1e-12).log10();
            let vetoed = veto(&self.buf);
            let slot = (self.frames_in % (LOOKAHEAD_FRAMES as u64 + 1)) as usize;
            self.pending[slot] = Pending { level_dbfs, vetoed };
            self.frames_in += 1;
            // The frame length is right by construction, so this never errs.
            if let Ok(Some(p)) = self.vad.process_frame(&self.buf) {
                let index = self.frames_in - 1 - LOOKAHEAD_FRAMES as u64;
                self.decide(index, p);
            }
        }
    }

    fn decide(&mut self, index: u64, p: f32) {
        let slot = (index % (LOOKAHEAD_FRAMES as u64 + 1)) as usize;
        let f = self.pending[slot];
        self.last_probability = p;
        let speech = p >= self.config.confidence && f.level_dbfs >= self.config.min_volume_dbfs && !f.vetoed;
        if let Some(ev) = self.seg.frame(index, speech) {
            self.events.push_back(ev);
        }
    }

    /// Ends the stream: closes an open speech segment (the look-ahead frames still pending are
    /// dropped, as is a partial frame).
    pub fn finish(&mut self) {
        if let Some(ev) = self.seg.finish() {
            self.events.push_back(ev);
        }
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<VadEvent> {
        self.events.pop_front()
    }

    /// Back to the state of a fresh detector (same settings); queued events are dropped.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.seg = Segmenter::new(self.buf.len(), self.config.start_secs, self.config.stop_secs);
        self.fill = 0;
        self.frames_in = 0;
        self.last_probability = 0.0;
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seg: &mut Segmenter, decisions: &[bool]) -> Vec<VadEvent> {
        let mut out: Vec<VadEvent> = decisions
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| seg.frame(i as u64, d))
            .collect();
        out.extend(seg.finish());
        out
    }

    #[test]
    fn start_and_end_positions_are_exact() {
        // 8 kHz: 80 samples per frame; start after 3 frames, stop after 4.
        let mut seg = Segmenter::new(80, 0.03, 0.04);
        let mut d = vec![false; 10];
        d.extend([true, true, false, true, true, true, true]); // run of 2 (too short), then 4
        d.extend([false, false, true, false, false, false, false, false]); // gap 2 then end
        let ev = run(&mut seg, &d);
        assert_eq!(
            ev,
            vec![
                VadEvent::SpeechStart { sample: 13 * 80 },
                VadEvent::SpeechEnd { sample: 20 * 80 },
            ]
        );
    }

    #[test]
    fn open_segment_is_closed_by_finish() {
        let mut seg = Segmenter::new(160, 0.01, 1.0);
        let ev = run(&mut seg, &[false, true, true, false]);
        assert_eq!(
            ev,
            vec![
                VadEvent::SpeechStart { sample: 160 },
                VadEvent::SpeechEnd { sample: 3 * 160 }
            ]
        );
    }

    #[test]
    fn bad_config_is_rejected() {
        let cfg = VadConfig {
            confidence: 1.5,
            ..VadConfig::default()
        };
        assert!(matches!(
            VadDetector::new(8000, cfg),
            Err(VadError::InvalidConfig {
                field: "confidence",
                ..
            })
        ));
        assert!(matches!(
            VadDetector::new(11025, VadConfig::default()),
            Err(VadError::UnsupportedRate { rate: 11025 })
        ));
    }

    /// Voiced-like test signal: a 140 Hz pulse train through a resonance, in bursts.
    fn bursts(rate: usize) -> Vec<i16> {
        let n = rate * 6;
        let mut out = vec![0i16; n];
        let (mut y1, mut y2) = (0.0f32, 0.0f32);
        let mut noise = 5u32;
        for (i, o) in out.iter_mut().enumerate() {
            let t = i as f32 / rate as f32;
            let on = (1.0..2.2).contains(&t) || (3.0..4.5).contains(&t);
            let period = rate / 140;
            let x = if on && i % period == 0 { 8000.0 } else { 0.0 };
            let r = 0.97f32;
            let w = 2.0 * std::f32::consts::PI * 700.0 / rate as f32;
            let y = x + 2.0 * r * w.cos() * y1 - r * r * y2;
            y2 = y1;
            y1 = y;
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *o = (y * 0.5 + ((noise >> 24) as f32 - 128.0)).clamp(-32768.0, 32767.0) as i16;
        }
        out
    }

    #[test]
    fn events_do_not_depend_on_chunking_and_fall_on_frame_edges() {
        for rate in [8000usize, 16000] {
            let audio = bursts(rate);
            let cfg = VadConfig {
                start_secs: 0.05,
                stop_secs: 0.3,
                ..VadConfig::default()
            };
            let collect = |chunks: &[usize]| {
                let mut d = VadDetector::new(rate as u32, cfg).unwrap();
                let mut pos = 0;
                let mut k = 0;
                let mut ev = Vec::new();
                while pos < audio.len() {
                    let c = chunks[k % chunks.len()].min(audio.len() - pos);
                    d.push(&audio[pos..pos + c]);
                    pos += c;
                    k += 1;
                    while let Some(e) = d.poll_event() {
                        ev.push(e);
                    }
                }
                d.finish();
                while let Some(e) = d.poll_event() {
                    ev.push(e);
                }
                ev
            };
            let whole = collect(&[audio.len()]);
            assert_eq!(whole, collect(&[1]));
            assert_eq!(whole, collect(&[7, 333, 160, 1, 80]));
            let fl = (rate / 100) as u64;
            for e in &whole {
                let (VadEvent::SpeechStart { sample } | VadEvent::SpeechEnd { sample }) = *e;
                assert_eq!(sample % fl, 0);
            }
        }
    }

    #[test]
    fn min_volume_and_veto_block_speech() {
        let audio = bursts(8000);
        let cfg = VadConfig {
            confidence: 0.0,
            min_volume_dbfs: -20.0,
            ..VadConfig::default()
        };
        // confidence 0 makes every loud-enough frame speech; nothing here reaches −20 dBFS.
        let mut d = VadDetector::new(8000, cfg).unwrap();
        d.push(&audio);
        d.finish();
        assert_eq!(d.poll_event(), None);
        let cfg = VadConfig {
            confidence: 0.0,
            min_volume_dbfs: -120.0,
            ..VadConfig::default()
        };
        let mut d = VadDetector::new(8000, cfg).unwrap();
        d.push_with_veto(&audio, |_| true);
        d.finish();
        assert_eq!(d.poll_event(), None);
        let mut d = VadDetector::new(8000, cfg).unwrap();
        d.push(&audio);
        assert_eq!(d.poll_event(), Some(VadEvent::SpeechStart { sample: 0 }));
    }
}
