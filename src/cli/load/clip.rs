//! The caller's audio: a speech clip (espeak-ng, or a synthetic vowel when espeak-ng is missing)
//! encoded once to G.711 µ-law at 8 kHz, followed by silence so the bot's VAD sees turns, and
//! played in a loop by every call from its own offset.

use cxb_dsp::resample::{Quality, Resampler};

/// Samples per 20 ms packet at 8 kHz.
pub const FRAME: usize = 160;
/// Silence after each utterance, ms.
const GAP_MS: usize = 1500;

/// µ-law 8 kHz speech + silence, a whole number of 20 ms frames.
#[derive(Debug, Clone)]
pub struct Clip {
    ulaw: Vec<u8>,
    /// Where the audio came from (for the report).
    pub source: &'static str,
}

impl Clip {
    /// Speaks a sentence with espeak-ng; falls back to a synthetic vowel.
    pub fn speech() -> Clip {
        match espeak("Hello, I am calling about my order. Could you tell me when it will arrive?") {
            Some(pcm16k) => Clip::from_16k(&pcm16k, "espeak-ng"),
            None => Clip::from_16k(&synthetic_vowel(), "synthetic vowel (espeak-ng unavailable)"),
        }
    }

    /// Encodes 16 kHz speech (resampled to 8 kHz) and appends the silence gap.
    pub fn from_16k(pcm: &[i16], source: &'static str) -> Clip {
        let mut pcm8 = vec![0i16; pcm.len() / 2 + 256];
        let n = match Resampler::new(16_000, 8_000, Quality::Telephone) {
            Ok(mut r) => {
                let p = r.process_i16(pcm, &mut pcm8);
                p.produced + r.flush_i16(&mut pcm8[p.produced..]).unwrap_or(0)
            }
            Err(_) => {
                for (o, pair) in pcm8.iter_mut().zip(pcm.chunks_exact(2)) {
                    *o = ((i32::from(pair[0]) + i32::from(pair[1])) / 2) as i16;
                }
                pcm.len() / 2
            }
        };
        pcm8.truncate(n);
        pcm8.resize(n.div_ceil(FRAME) * FRAME + GAP_MS * 8, 0);
        let ulaw = pcm8.iter().map(|&s| cxb_dsp::g711::ulaw_encode(s)).collect();
        Clip { ulaw, source }
    }

    /// Frames in one loop.
    pub fn frames(&self) -> usize {
        self.ulaw.len() / FRAME
    }

    /// The payload of frame `i` (looped).
    pub fn frame(&self, i: usize) -> &[u8] {
        let k = i % self.frames();
        &self.ulaw[k * FRAME..(k + 1) * FRAME]
    }
}

fn espeak(text: &str) -> Option<Vec<i16>> {
    let out = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "165", "--stdout", "--", text])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    cxb_dataplane::engine::voice::decode_wav_16k(&out.stdout).ok()
}

/// Two seconds of a 140 Hz buzz through two formants, syllable-modulated: VAD-positive audio.
fn synthetic_vowel() -> Vec<i16> {
    let rate = 16_000.0f32;
    (0..32_000)
        .map(|i| {
            let t = i as f32 / rate;
            let env = (std::f32::consts::PI * 4.0 * t).sin().abs();
            let v = (std::f32::consts::TAU * 140.0 * t).sin() * 0.3
                + (std::f32::consts::TAU * 700.0 * t).sin() * 0.3
                + (std::f32::consts::TAU * 1200.0 * t).sin() * 0.2;
            (v * env * 12_000.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_is_whole_frames_with_a_silent_tail() {
        let c = Clip::from_16k(&synthetic_vowel(), "test");
        assert_eq!(c.frames() * FRAME, c.ulaw.len());
        assert!(c.frames() >= 100 + GAP_MS / 20);
        let last = c.frame(c.frames() - 1);
        assert!(last.iter().all(|&b| b == cxb_dsp::g711::ulaw_encode(0)));
        assert_eq!(c.frame(0), c.frame(c.frames()));
    }
}
