//! Offline helper of `scripts/vad-train`: for each `X.wav` given (mono 16-bit, 8 or 16 kHz), write
//! `X.feat` (the VAD model input vectors, raw little-endian f32, 64 per 10 ms frame) and `X.prob`
//! (`<start_ms> <probability>` lines, as `cxb dsp vad` prints). Same framing as the CLI: the last
//! partial frame is zero-padded and the look-ahead is flushed with silence.
//!
//! `cargo run --release -p cxb-dsp --example vad_features -- DIR_OR_WAV...`

use cxb_dsp::vad::{LOOKAHEAD_FRAMES, Vad};
use std::io::Write;
use std::path::{Path, PathBuf};

fn one(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut r = hound::WavReader::open(path)?;
    let spec = r.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(format!("{}: not mono 16-bit PCM", path.display()).into());
    }
    let samples: Vec<i16> = r.samples::<i16>().collect::<Result<_, _>>()?;
    let mut vad = Vad::new(spec.sample_rate)?;
    let n = vad.frame_len();
    let frames = samples.len().div_ceil(n);
    let mut feat = std::io::BufWriter::new(std::fs::File::create(path.with_extension("feat"))?);
    let mut prob = std::io::BufWriter::new(std::fs::File::create(path.with_extension("prob"))?);
    let mut frame = vec![0i16; n];
    let mut index = 0usize;
    for k in 0..frames + LOOKAHEAD_FRAMES {
        frame.fill(0);
        if let Some(chunk) = samples.get(k * n..) {
            let m = chunk.len().min(n);
            frame[..m].copy_from_slice(&chunk[..m]);
        }
        if let Some(p) = vad.process_frame(&frame)? {
            if index >= frames {
                break;
            }
            writeln!(prob, "{} {:.4}", index * 10, p)?;
            for v in vad.model_input() {
                feat.write_all(&v.to_le_bytes())?;
            }
            index += 1;
        }
    }
    feat.flush()?;
    prob.flush()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut wavs: Vec<PathBuf> = Vec::new();
    for a in std::env::args_os().skip(1) {
        let p = PathBuf::from(a);
        if p.is_dir() {
            for e in std::fs::read_dir(&p)? {
                let e = e?.path();
                if e.extension().is_some_and(|x| x == "wav") {
                    wavs.push(e);
                }
            }
        } else {
            wavs.push(p);
        }
    }
    wavs.sort();
    for w in &wavs {
        one(w)?;
    }
    eprintln!("vad_features: {} files", wavs.len());
    Ok(())
}
