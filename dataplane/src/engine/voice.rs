//! The bot's voice until the agent runtime lands: the opening message spoken by espeak-ng
//! (synthesised once per bot per shard, off the media path), and the ringback tone played as
//! early media.

use std::path::Path;

use cxb_dsp::resample::{Quality, Resampler};

/// Rate of all bot audio handed to the media pipeline.
pub const BOT_RATE: u32 = 16_000;

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// espeak-ng could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// espeak-ng exited with an error.
    #[error("espeak-ng exited with {status}")]
    Failed {
        /// Exit status.
        status: std::process::ExitStatus,
    },
    /// What it wrote is not a 16-bit PCM WAV.
    #[error("espeak-ng output is not a 16-bit PCM WAV")]
    NotPcm16,
    /// Its sample rate cannot be converted.
    #[error("cannot resample espeak-ng output: {0}")]
    Resample(#[from] cxb_dsp::resample::ResampleError),
}

/// Speaks `text` with espeak-ng (`voice`, e.g. `en-us`) and returns 16 kHz mono PCM.
pub async fn synthesize(espeak: &Path, voice: &str, text: &str) -> Result<Vec<i16>, VoiceError> {
    let out = tokio::process::Command::new(espeak)
        .args(["-v", voice, "-s", "165", "--stdout", "--", text])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| VoiceError::Spawn {
            program: espeak.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(VoiceError::Failed { status: out.status });
    }
    decode_wav_16k(&out.stdout)
}

/// Reads a 16-bit PCM WAV (espeak-ng writes 22050 Hz mono, streaming, with placeholder chunk
/// sizes) and converts it to [`BOT_RATE`] mono.
pub fn decode_wav_16k(bytes: &[u8]) -> Result<Vec<i16>, VoiceError> {
    let (rate, channels, data) = pcm16_chunks(bytes).ok_or(VoiceError::NotPcm16)?;
    let samples: Vec<i16> = data
        .chunks_exact(2 * channels)
        .map(|f| i16::from_le_bytes([f[0], f[1]]))
        .collect();
    if rate == BOT_RATE {
        return Ok(samples);
    }
    let mut rs = Resampler::new(rate, BOT_RATE, Quality::Telephone)?;
    let mut out = vec![0i16; rs.output_len_for(samples.len()) + 64];
    let done = rs.process_i16(&samples, &mut out);
    out.truncate(done.produced);
    Ok(out)
}

/// `(rate, channels, data)` of a RIFF/WAVE 16-bit PCM file. A `data` size larger than what is
/// there (streamed output) means "to the end".
fn pcm16_chunks(b: &[u8]) -> Option<(u32, usize, &[u8])> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            let f = b.get(body..body + 16)?;
            let format = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            if format != 1 || bits != 16 || channels == 0 {
                return None;
            }
            fmt = Some((rate, usize::from(channels)));
        } else if id == b"data" {
            let (rate, channels) = fmt?;
            let end = body.saturating_add(size).min(b.len());
            return Some((rate, channels, &b[body..end]));
        }
        pos = body.checked_add(size + (size & 1))?;
    }
    None
}

/// One cycle of North American ringback at [`BOT_RATE`]: 440 + 480 Hz, 2 s on, 4 s off.
pub fn ringback_cycle() -> Vec<i16> {
    let rate = BOT_RATE as f32;
    let on = (2.0 * rate) as usize;
    let mut v = vec![0i16; (6.0 * rate) as usize];
    for (i, s) in v.iter_mut().take(on).enumerate() {
        let t = i as f32 / rate;
        let x = (2.0 * std::f32::consts::PI * 440.0 * t).sin() + (2.0 * std::f32::consts::PI * 480.0 * t).sin();
        *s = (x * 0.15 * f32::from(i16::MAX) / 2.0) as i16;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ringback_is_two_seconds_of_tone_then_silence() {
        let v = ringback_cycle();
        assert_eq!(v.len(), 96_000);
        assert!(v[..32_000].iter().any(|&s| s.abs() > 1000));
        assert!(v[32_000..].iter().all(|&s| s == 0));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(decode_wav_16k(b"not a wav"), Err(VoiceError::NotPcm16)));
        assert!(matches!(
            decode_wav_16k(b"RIFF\xff\xff\xff\x7fWAVEdata"),
            Err(VoiceError::NotPcm16)
        ));
    }

    #[test]
    fn streamed_wav_with_placeholder_sizes_is_read_to_the_end() {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF\xff\xff\xff\x7fWAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&16_000u32.to_le_bytes());
        b.extend_from_slice(&32_000u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data\xff\xff\xff\x7f");
        for i in 0..100i16 {
            b.extend_from_slice(&i.to_le_bytes());
        }
        let pcm = decode_wav_16k(&b).unwrap();
        assert_eq!(pcm.len(), 100);
        assert_eq!(pcm[99], 99);
    }

    #[test]
    fn espeak_ng_speaks_at_16k() {
        let Ok(out) = std::process::Command::new("espeak-ng")
            .args(["--stdout", "hello"])
            .output()
        else {
            panic!("espeak-ng is installed by scripts/bootstrap");
        };
        let pcm = decode_wav_16k(&out.stdout).unwrap();
        assert!(pcm.len() > 8_000, "{} samples", pcm.len());
    }
}
