//! The one cxb binary: `up`, `dsp …`, `sip …` (and, as they land, `control`, `dataplane`,
//! `call`, `load`).
#![forbid(unsafe_code)]

mod cli;
mod wav;

use clap::{Parser, Subcommand};

/// cxb: voice bots that answer and place phone calls.
#[derive(Debug, Parser)]
#[command(name = "cxb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start cxb on embedded defaults.
    Up(cli::up::Args),
    /// Run the SIP/RTP dataplane (one pinned shard per core).
    Dataplane(cli::dataplane::Args),
    /// Run the control process: REST API, storage, auth, post-call analysis, CRM push.
    Control(cli::control::Args),
    /// Call a SIP URI: play a WAV file, record the answer, hang up after N seconds.
    Call(cli::call::Args),
    /// Load generator: N concurrent calls (SIP or WebSocket) against a dataplane, measured.
    Load(cli::load::Args),
    /// Re-run a recorded call's turn-taking under new bot settings; compare old vs new.
    Replay(cli::replay::Args),
    /// Signal-processing tools (VAD, resampler, jitter buffer simulation).
    #[command(subcommand)]
    Dsp(DspCommand),
    /// SIP tools.
    #[command(subcommand)]
    Sip(SipCommand),
}

#[derive(Debug, Subcommand)]
enum DspCommand {
    /// Print one `<start_ms> <speech probability>` line per 10 ms frame of a WAV file.
    Vad(cli::dsp_vad::Args),
    /// Resample a WAV file to another rate (16-bit or float in, same format out).
    Resample(cli::dsp_resample::Args),
    /// Run a simulated impaired network trace through the jitter buffer and report.
    Jitter(cli::dsp_jitter::Args),
    /// Answering-machine detection over WAV files, scored against labels.csv when present.
    Amd(cli::dsp_amd::Args),
}

#[derive(Debug, Subcommand)]
enum SipCommand {
    /// Parse a SIP message file: print it normalized, or the 4xx it would get.
    Parse(cli::sip_parse::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Diagnostics to stderr: warnings and errors by default, `RUST_LOG` to change.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Every cxb process may hold thousands of sockets (see `cli::fd_limit`).
    cli::fd_limit::raise();
    let result = match cli.command {
        Command::Up(args) => cli::up::run(args),
        Command::Dataplane(args) => cli::dataplane::run(args),
        Command::Control(args) => cli::control::run(args),
        Command::Call(args) => cli::call::run(args),
        Command::Load(args) => cli::load::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::Dsp(DspCommand::Vad(args)) => cli::dsp_vad::run(args),
        Command::Dsp(DspCommand::Resample(args)) => cli::dsp_resample::run(args),
        Command::Dsp(DspCommand::Jitter(args)) => cli::dsp_jitter::run(args),
        Command::Dsp(DspCommand::Amd(args)) => cli::dsp_amd::run(args),
        Command::Sip(SipCommand::Parse(args)) => cli::sip_parse::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cxb: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
