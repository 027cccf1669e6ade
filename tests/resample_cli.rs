//! `cxb dsp resample` end to end: generated WAV in, resampled WAV out; rate, length, format,
//! alignment and tone frequency checked.

use std::f64::consts::PI;
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("resample_cli-{}-{name}", std::process::id()))
}

fn write_tone(path: &PathBuf, rate: u32, float: bool, channels: u16, f: f64, n: usize) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: if float { 32 } else { 16 },
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..n {
        let v = 0.5 * (2.0 * PI * f * i as f64 / f64::from(rate)).sin();
        for _ in 0..channels {
            if float {
                w.write_sample(v as f32).unwrap();
            } else {
                w.write_sample((v * 32767.0).round() as i16).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

fn cxb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cxb")).args(args).output().unwrap()
}

/// Read back; samples scaled to [-1, 1).
fn read(path: &PathBuf) -> (hound::WavSpec, Vec<f64>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let v = match spec.sample_format {
        hound::SampleFormat::Int => r.samples::<i16>().map(|s| f64::from(s.unwrap()) / 32768.0).collect(),
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| f64::from(s.unwrap())).collect(),
    };
    (spec, v)
}

/// Frequency from the count and spacing of upward zero crossings.
fn frequency(y: &[f64], rate: u32) -> f64 {
    let ups: Vec<f64> = y
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, w)| i as f64 + w[0] / (w[0] - w[1]))
        .collect();
    let periods = (ups.len() - 1) as f64;
    periods * f64::from(rate) / (ups[ups.len() - 1] - ups[0])
}

fn run_case(in_rate: u32, out_rate: u32, float: bool, f: f64, n: usize) {
    let input = tmp(&format!("{in_rate}-{out_rate}-{float}-in.wav"));
    let output = tmp(&format!("{in_rate}-{out_rate}-{float}-out.wav"));
    write_tone(&input, in_rate, float, 1, f, n);
    let out = cxb(&[
        "dsp",
        "resample",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--rate",
        &out_rate.to_string(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (spec, y) = read(&output);
    assert_eq!(spec.sample_rate, out_rate);
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.bits_per_sample, if float { 32 } else { 16 });
    let want_len = ((n as u64 * u64::from(out_rate) + u64::from(in_rate) / 2) / u64::from(in_rate)) as usize;
    assert_eq!(y.len(), want_len);
    let got = frequency(&y, out_rate);
    assert!(
        (got - f).abs() < 0.01,
        "{in_rate}->{out_rate}: tone at {got} Hz, want {f}"
    );
    // Aligned: output sample k is input time k / out_rate (away from the edges).
    let edge = out_rate as usize / 100;
    let quant = if float { 1e-4 } else { 3e-4 };
    for (k, &v) in y.iter().enumerate().take(y.len() - edge).skip(edge) {
        let want = 0.5 * (2.0 * PI * f * k as f64 / f64::from(out_rate)).sin();
        assert!(
            (v - want).abs() < quant,
            "{in_rate}->{out_rate} sample {k}: {v} vs {want}"
        );
    }
    let _ = std::fs::remove_file(input);
    let _ = std::fs::remove_file(output);
}

#[test]
fn upsamples_16_bit_8k_to_16k() {
    run_case(8000, 16000, false, 1000.0, 4001);
}

#[test]
fn downsamples_float_44k1_to_16k() {
    run_case(44100, 16000, true, 440.0, 44100);
}

#[test]
fn downsamples_16_bit_48k_to_8k() {
    run_case(48000, 8000, false, 697.0, 24007);
}

#[test]
fn rejects_unsupported_rate() {
    let input = tmp("unsupported-in.wav");
    write_tone(&input, 8000, false, 1, 1000.0, 800);
    let out = cxb(&[
        "dsp",
        "resample",
        input.to_str().unwrap(),
        tmp("x.wav").to_str().unwrap(),
        "--rate",
        "11025",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported resampling 8000 Hz -> 11025 Hz"), "{err}");
    let _ = std::fs::remove_file(input);
}

#[test]
fn rejects_stereo() {
    let input = tmp("stereo-in.wav");
    write_tone(&input, 16000, false, 2, 1000.0, 800);
    let out = cxb(&[
        "dsp",
        "resample",
        input.to_str().unwrap(),
        tmp("y.wav").to_str().unwrap(),
        "--rate",
        "8000",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only mono"), "{err}");
    let _ = std::fs::remove_file(input);
}
