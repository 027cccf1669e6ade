//! The softphone's microphone and speaker: any WAV hound reads → 16 kHz mono, and 16 kHz mono
//! 16-bit WAV out.

use std::path::Path;

use anyhow::{Context, bail};
use cxb_dsp::resample::{Quality, Resampler};

/// Pipeline rate of the microphone and the recording.
pub const RATE: u32 = cxb_dataplane::media::PIPELINE_RATE;

/// Reads a WAV file of any rate the resampler takes, any channel count, 8–32-bit integer or
/// 32-bit float, as 16 kHz mono 16-bit samples (channels averaged).
pub fn read_as_16k_mono(path: &Path) -> anyhow::Result<Vec<i16>> {
    let reader = hound::WavReader::open(path).with_context(|| format!("cannot read WAV file {}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .with_context(|| format!("{}: truncated or corrupt WAV data", path.display()))?;
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|f| f.iter().sum::<f32>() / f.len() as f32)
        .collect();
    if mono.is_empty() {
        bail!("{}: no samples", path.display());
    }
    let mut r = Resampler::new(spec.sample_rate, RATE, Quality::Telephone)
        .with_context(|| format!("{}: cannot convert {} Hz to 16 kHz", path.display(), spec.sample_rate))?;
    let latency = r.latency_samples();
    let mut out = vec![0.0f32; r.output_len_for(mono.len()) + latency];
    let p = r.process(&mono, &mut out);
    let tail = r.flush(&mut out[p.produced..])?;
    out.truncate(p.produced + tail);
    let want = (mono.len() as u64 * u64::from(RATE) / u64::from(spec.sample_rate)) as usize;
    let end = (latency + want).min(out.len());
    Ok(out[latency.min(end)..end]
        .iter()
        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Writes 16 kHz mono 16-bit samples.
pub fn write_16k_mono(path: &Path, samples: &[i16]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w16 = w.get_i16_writer(samples.len() as u32);
    for &s in samples {
        w16.write_sample(s);
    }
    w16.flush()?;
    w.finalize()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_48k_float_becomes_16k_mono() {
        let dir = std::env::temp_dir().join(format!("cxb-call-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..48_000 {
            let s = (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 0.5;
            w.write_sample(s).unwrap();
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        let pcm = read_as_16k_mono(&path).unwrap();
        assert_eq!(pcm.len(), 16_000);
        let peak = pcm[1000..15_000].iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((15_000..17_500).contains(&peak), "peak {peak}");
        let out = dir.join("out.wav");
        write_16k_mono(&out, &pcm).unwrap();
        let back = hound::WavReader::open(&out).unwrap();
        assert_eq!(back.spec().sample_rate, 16_000);
        assert_eq!(back.len(), 16_000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
