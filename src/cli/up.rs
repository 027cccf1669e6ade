//! `cxb up`: start cxb on embedded defaults.
//!
//! The control process and the dataplane are not part of this build yet (they land with the
//! dataplane and control issues). Until then `up` prepares the data directory, checks the
//! embedded voice stack's system parts and says plainly what runs and what does not.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the database, recordings and spool.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
}

/// System parts the embedded voice stack uses, and where Debian puts them.
const EMBEDDED_PARTS: &[(&str, &str)] = &[
    ("espeak-ng voice data (TTS)", "/usr/lib/x86_64-linux-gnu/espeak-ng-data"),
    ("pocketsphinx en-us model (STT)", "/usr/share/pocketsphinx/model/en-us"),
];

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    println!(
        "cxb {}: data directory {}",
        env!("CARGO_PKG_VERSION"),
        args.data_dir.display()
    );
    for (what, path) in EMBEDDED_PARTS {
        let state = if Path::new(path).exists() {
            "found"
        } else {
            "missing (run scripts/bootstrap)"
        };
        println!("  {what}: {state}");
    }
    println!("  DSP core: G.711/G.722/Opus, DTMF, resampler, VAD, jitter buffer (try `cxb dsp --help`)");
    println!("  SIP stack: parser, SDP, transactions, dialogs, digest auth (try `cxb sip parse FILE`)");
    println!("not yet in this build: the dataplane (SIP/RTP on :5060) and control (REST on :8080);");
    println!("`cxb up` will start both once they land. Nothing is listening now.");
    Ok(ExitCode::SUCCESS)
}
