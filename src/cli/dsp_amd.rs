//! `cxb dsp amd DIR|FILE.wav`: answering-machine detection over WAV files, scored against
//! `DIR/labels.csv` (`file,label,beep_ms`, as `scripts/make-amd-set` writes it) when present.
//!
//! Each file is played as the callee's audio after answer in 20 ms frames; the speech decision of
//! a frame comes from our VAD (probability ≥ `--confidence` and level ≥ -55 dBFS in either 10 ms
//! half), available 20 ms late exactly as on a live call.

use anyhow::{Context, bail};
use cxb_dsp::amd::{AmdConfig, AmdDetector, AmdEvent, AmdReason, Verdict};
use cxb_dsp::vad::Vad;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A beep is found when reported within this of its labelled onset (ms).
const BEEP_TOLERANCE_MS: u64 = 100;

/// Arguments of `cxb dsp amd`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory of mono 16-bit WAV files at 8000 or 16000 Hz (with `labels.csv` to score), or
    /// one such file.
    pub path: PathBuf,
    /// VAD probability at or above which a frame counts as speech.
    #[arg(long, default_value_t = 0.5)]
    pub confidence: f32,
    /// Speech before the first long pause that makes a greeting a machine's (ms).
    #[arg(long, default_value_t = AmdConfig::default().greeting_ms)]
    pub greeting_ms: u32,
    /// Silence after a short greeting that makes the callee a person (ms).
    #[arg(long, default_value_t = AmdConfig::default().after_greeting_silence_ms)]
    pub after_greeting_silence_ms: u32,
    /// Silence after answer before giving up on a greeting (ms).
    #[arg(long, default_value_t = AmdConfig::default().initial_silence_ms)]
    pub initial_silence_ms: u32,
    /// A greeting of more words than this is a machine's.
    #[arg(long, default_value_t = AmdConfig::default().max_words)]
    pub max_words: u32,
    /// Longest analysis before answering unknown (ms).
    #[arg(long, default_value_t = AmdConfig::default().total_analysis_ms)]
    pub total_analysis_ms: u32,
}

/// What the detector said about one file.
#[derive(Debug, Default)]
struct Outcome {
    verdict: Option<(Verdict, u64, AmdReason)>,
    beeps: Vec<u64>,
    silence_after_beep: Option<u64>,
    no_beep: Option<u64>,
}

/// A labels.csv row.
#[derive(Debug, Clone, Copy)]
struct Label {
    machine: bool,
    beep_ms: Option<u64>,
}

/// Runs the detector over the file(s), prints one line per file and, with labels, the summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (files, labels) = if args.path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&args.path)
            .with_context(|| format!("cannot read {}", args.path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
            .collect();
        files.sort();
        let csv = args.path.join("labels.csv");
        let labels = if csv.exists() {
            read_labels(&csv)?
        } else {
            HashMap::new()
        };
        (files, labels)
    } else {
        (vec![args.path.clone()], HashMap::new())
    };
    if files.is_empty() {
        bail!("{}: no WAV files", args.path.display());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut scored, mut correct, mut h_as_m, mut m_as_h) = (0u32, 0u32, 0u32, 0u32);
    let (mut beeps, mut beeps_found) = (0u32, 0u32);
    let (mut verdict_ms_sum, mut verdicts) = (0u64, 0u64);
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let o = detect(file, &args)?;
        let label = labels.get(&name).copied();
        let (verdict, at, reason) = match o.verdict {
            Some((v, at, r)) => (name_of(v), at.to_string(), format!("{r:?}")),
            None => ("none", "-".into(), "-".into()),
        };
        if let Some((_, at, _)) = o.verdict {
            verdict_ms_sum += at;
            verdicts += 1;
        }
        let beep_list = if o.beeps.is_empty() {
            "-".to_string()
        } else {
            o.beeps.iter().map(u64::to_string).collect::<Vec<_>>().join("+")
        };
        write!(
            out,
            "{name} verdict={verdict} reason={reason} at_ms={at} beep_ms={beep_list}"
        )?;
        if let Some(ms) = o.silence_after_beep {
            write!(out, " silence_after_beep_ms={ms}")?;
        }
        if let Some(ms) = o.no_beep {
            write!(out, " no_beep_ms={ms}")?;
        }
        if let Some(l) = label {
            scored += 1;
            let want = if l.machine { Verdict::Machine } else { Verdict::Human };
            let got = o.verdict.map(|v| v.0);
            let ok = got == Some(want);
            correct += u32::from(ok);
            h_as_m += u32::from(!l.machine && got == Some(Verdict::Machine));
            m_as_h += u32::from(l.machine && got == Some(Verdict::Human));
            write!(out, " label={}", if l.machine { "machine" } else { "human" })?;
            if let Some(b) = l.beep_ms {
                beeps += 1;
                let found = o.beeps.iter().any(|&x| x.abs_diff(b) <= BEEP_TOLERANCE_MS);
                beeps_found += u32::from(found);
                write!(
                    out,
                    " label_beep_ms={b} beep={}",
                    if found { "found" } else { "MISSED" }
                )?;
            } else if !o.beeps.is_empty() {
                write!(out, " beep=SPURIOUS")?;
            }
            write!(out, " {}", if ok { "ok" } else { "WRONG" })?;
        }
        writeln!(out)?;
    }
    if scored > 0 {
        writeln!(
            out,
            "amd: files={scored} accuracy={:.1} human_as_machine={h_as_m} machine_as_human={m_as_h} \
             beep_found={beeps_found}/{beeps} mean_verdict_ms={}",
            100.0 * f64::from(correct) / f64::from(scored),
            verdict_ms_sum.checked_div(verdicts).unwrap_or(0),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn name_of(v: Verdict) -> &'static str {
    match v {
        Verdict::Human => "human",
        Verdict::Machine => "machine",
        Verdict::Unknown => "unknown",
    }
}

/// Reads `file,label,beep_ms` rows (a header line is skipped).
fn read_labels(path: &Path) -> anyhow::Result<HashMap<String, Label>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut labels = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("file,") {
            continue;
        }
        let mut f = line.split(',').map(str::trim);
        let (Some(file), Some(label)) = (f.next(), f.next()) else {
            bail!("{}:{}: expected file,label,beep_ms", path.display(), i + 1);
        };
        let machine = match label {
            "machine" => true,
            "human" => false,
            other => bail!("{}:{}: label {other:?} is not human or machine", path.display(), i + 1),
        };
        let beep_ms = match f.next() {
            None | Some("") => None,
            Some(v) => Some(
                v.parse()
                    .with_context(|| format!("{}:{}: bad beep_ms {v:?}", path.display(), i + 1))?,
            ),
        };
        labels.insert(file.to_string(), Label { machine, beep_ms });
    }
    Ok(labels)
}

/// Plays one file through the VAD and the detector.
fn detect(path: &Path, args: &Args) -> anyhow::Result<Outcome> {
    let (rate, samples) = crate::wav::read_mono_i16(path)?;
    let cfg = AmdConfig {
        sample_rate: rate,
        greeting_ms: args.greeting_ms,
        after_greeting_silence_ms: args.after_greeting_silence_ms,
        initial_silence_ms: args.initial_silence_ms,
        max_words: args.max_words,
        total_analysis_ms: args.total_analysis_ms,
        ..AmdConfig::default()
    };
    let mut amd = AmdDetector::new(cfg).with_context(|| path.display().to_string())?;
    let mut vad = Vad::new(rate).with_context(|| path.display().to_string())?;
    let half = vad.frame_len();
    // Levels of the 10 ms frames whose probability has not come out yet (look-ahead).
    let mut levels = std::collections::VecDeque::new();
    let mut o = Outcome::default();
    let mut frame = vec![0i16; 2 * half];
    for chunk in samples.chunks(2 * half) {
        frame.fill(0);
        frame[..chunk.len()].copy_from_slice(chunk);
        let mut speech = false;
        for h in frame.chunks(half) {
            let ms: f32 = h.iter().map(|&s| f32::from(s) * f32::from(s)).sum::<f32>() / half as f32;
            levels.push_back(10.0 * (ms / (32768.0 * 32768.0) + 1e-12).log10());
            if let Some(p) = vad.process_frame(h)? {
                let level = levels.pop_front().unwrap_or(-120.0);
                speech |= p >= args.confidence && level >= -55.0;
            }
        }
        amd.process(&frame[..chunk.len()], speech);
        while let Some(e) = amd.poll_event() {
            match e {
                AmdEvent::Verdict { verdict, at_ms, reason } => o.verdict = Some((verdict, at_ms, reason)),
                AmdEvent::Beep { at_ms } => o.beeps.push(at_ms),
                AmdEvent::SilenceAfterBeep { at_ms } => o.silence_after_beep = Some(at_ms),
                AmdEvent::NoBeep { at_ms } => o.no_beep = Some(at_ms),
                AmdEvent::EarlyTone { .. } => {}
            }
        }
    }
    Ok(o)
}
