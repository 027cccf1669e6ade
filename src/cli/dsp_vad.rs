//! `cxb dsp vad FILE.wav`: one `<start_ms> <probability>` line per 10 ms frame.

use anyhow::{Context, bail};
use cxb_dsp::vad::{LOOKAHEAD_FRAMES, Vad};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `cxb dsp vad`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mono 16-bit PCM WAV at 8000 or 16000 Hz.
    pub file: PathBuf,
    /// Also write each frame's model input vector (raw little-endian f32, 64 per frame) to this
    /// file; used by the offline training tool (scripts/vad-train).
    #[arg(long, value_name = "OUT")]
    pub dump_features: Option<PathBuf>,
}

/// Runs the VAD over the file and prints one line per frame (buffered).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (rate, samples) = crate::wav::read_mono_i16(&args.file)?;
    let mut vad = match Vad::new(rate) {
        Ok(v) => v,
        Err(e) => bail!("{}: {e}", args.file.display()),
    };
    let n = vad.frame_len();
    let frames = samples.len().div_ceil(n);
    let mut dump = match &args.dump_features {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut frame = vec![0i16; n];
    let mut index = 0usize;
    // The last LOOKAHEAD_FRAMES probabilities are flushed out with frames of silence.
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
            writeln!(out, "{} {:.4}", index * 10, p)?;
            if let Some(d) = &mut dump {
                for v in vad.model_input() {
                    d.write_all(&v.to_le_bytes())?;
                }
            }
            index += 1;
        }
    }
    out.flush()?;
    if let Some(mut d) = dump {
        d.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
