//! WAV file input and output for the command-line tools (mono, 16-bit PCM or 32-bit float).

use anyhow::{Context, bail};
use std::path::Path;

/// Sample format of a WAV file as read, so tools can write the same format back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit signed integer PCM.
    I16,
    /// 32-bit IEEE float.
    F32,
}

/// A mono WAV file's samples, scaled to f32 in [-1, 1).
#[derive(Debug)]
pub struct MonoWav {
    pub rate: u32,
    pub format: SampleFormat,
    pub samples: Vec<f32>,
}

/// Read a mono WAV file that is 16-bit PCM or 32-bit float.
pub fn read_mono(path: &Path) -> anyhow::Result<MonoWav> {
    let reader = hound::WavReader::open(path).with_context(|| format!("cannot read WAV file {}", path.display()))?;
    let spec = reader.spec();
    if spec.channels != 1 {
        bail!(
            "{}: {} channels; only mono WAV is supported",
            path.display(),
            spec.channels
        );
    }
    let (format, samples) = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => {
            let s: Result<Vec<f32>, _> = reader
                .into_samples::<i16>()
                .map(|s| s.map(|v| f32::from(v) / 32768.0))
                .collect();
            (
                SampleFormat::I16,
                s.with_context(|| format!("{}: truncated or corrupt WAV data", path.display()))?,
            )
        }
        (hound::SampleFormat::Float, 32) => {
            let s: Result<Vec<f32>, _> = reader.into_samples::<f32>().collect();
            (
                SampleFormat::F32,
                s.with_context(|| format!("{}: truncated or corrupt WAV data", path.display()))?,
            )
        }
        (fmt, bits) => bail!(
            "{}: {bits}-bit {} samples; only 16-bit PCM or 32-bit float WAV is supported",
            path.display(),
            if fmt == hound::SampleFormat::Int {
                "integer"
            } else {
                "float"
            }
        ),
    };
    Ok(MonoWav {
        rate: spec.sample_rate,
        format,
        samples,
    })
}

/// Read a mono 16-bit PCM WAV file as i16 samples (what the telephone-side tools take).
pub fn read_mono_i16(path: &Path) -> anyhow::Result<(u32, Vec<i16>)> {
    let wav = read_mono(path)?;
    if wav.format != SampleFormat::I16 {
        bail!(
            "{}: 32-bit float samples; this tool takes 16-bit PCM WAV",
            path.display()
        );
    }
    let samples = wav.samples.iter().map(|&s| (s * 32768.0) as i16).collect();
    Ok((wav.rate, samples))
}

/// Write mono samples in [-1, 1) as a WAV file of the given format (16-bit values are rounded
/// and saturated).
pub fn write_mono(path: &Path, rate: u32, format: SampleFormat, samples: &[f32]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: if format == SampleFormat::I16 { 16 } else { 32 },
        sample_format: if format == SampleFormat::I16 {
            hound::SampleFormat::Int
        } else {
            hound::SampleFormat::Float
        },
    };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("cannot create {}", path.display()))?;
    for &s in samples {
        match format {
            SampleFormat::I16 => w.write_sample((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)?,
            SampleFormat::F32 => w.write_sample(s)?,
        }
    }
    w.finalize()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}
