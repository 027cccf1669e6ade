//! `cxb dsp resample IN.wav OUT.wav --rate HZ`: resample a mono WAV file with cxb's polyphase
//! resampler, latency-compensated so output sample 0 is input time 0 and the output holds
//! `round(in_len · out_rate / in_rate)` samples, in the input's sample format.

use crate::wav;
use anyhow::Context;
use cxb_dsp::resample::{Quality, Resampler};
use std::path::PathBuf;
use std::process::ExitCode;

/// Filter quality on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum QualityArg {
    /// Flat to 0.43·fs, ≥ 100 dB image/alias rejection.
    Telephone,
    /// Flat to 0.45·fs, ≥ 120 dB image/alias rejection.
    High,
}

/// Arguments of `cxb dsp resample`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input WAV file: mono, 16-bit PCM or 32-bit float; 8, 16, 22.05, 24, 44.1 or 48 kHz.
    pub input: PathBuf,
    /// Output WAV file (same sample format as the input).
    pub output: PathBuf,
    /// Output rate in Hz: 8000, 16000, 24000 or 48000.
    #[arg(long)]
    pub rate: u32,
    /// Filter quality.
    #[arg(long, value_enum, default_value = "telephone")]
    pub quality: QualityArg,
}

/// Resample `args.input` into `args.output`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let wav = wav::read_mono(&args.input)?;
    let quality = match args.quality {
        QualityArg::Telephone => Quality::Telephone,
        QualityArg::High => Quality::High,
    };
    let mut r = Resampler::new(wav.rate, args.rate, quality)
        .with_context(|| format!("cannot resample {}", args.input.display()))?;
    let n = wav.samples.len();
    let latency = r.latency_samples();
    let mut out = vec![0.0f32; r.output_len_for(n) + latency];
    let p = r.process(&wav.samples, &mut out);
    let tail = r.flush(&mut out[p.produced..])?;
    out.truncate(p.produced + tail);
    let want = ((n as u128 * u128::from(args.rate) + u128::from(wav.rate) / 2) / u128::from(wav.rate)) as usize;
    let aligned = &out[latency..latency + want];
    wav::write_mono(&args.output, args.rate, wav.format, aligned)?;
    let (l, m) = r.ratio();
    println!(
        "{}: {} Hz, {} samples -> {}: {} Hz, {} samples (ratio {l}/{m}, {} taps per phase, {latency} samples of \
         latency removed)",
        args.input.display(),
        wav.rate,
        n,
        args.output.display(),
        args.rate,
        aligned.len(),
        r.taps_per_phase()
    );
    Ok(ExitCode::SUCCESS)
}
