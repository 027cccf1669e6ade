//! `cxb dsp jitter`: run a simulated impaired network trace through the jitter buffer and
//! report delay, concealment and loss figures (deterministic for a given seed).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, ensure};
use cxb_dsp::jitter::sim::{self, SimConfig};

/// Options of `cxb dsp jitter`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mean packet loss probability (Gilbert–Elliott), 0–0.9.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Mean loss burst length in packets (≥ 1).
    #[arg(long, default_value_t = 1.0)]
    pub burst: f64,
    /// Mean extra network delay in ms (Pareto, shape 3).
    #[arg(long = "jitter-ms", default_value_t = 0.0)]
    pub jitter_ms: f64,
    /// Stream length in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sender clock error in ppm (positive: sender faster than the receiver).
    #[arg(long = "drift-ppm", default_value_t = 0.0, allow_negative_numbers = true)]
    pub drift_ppm: f64,
    /// Probability that a packet is reordered (arrives 1–3 packets late).
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// Probability that a packet is duplicated.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Lower clamp of the target delay, ms.
    #[arg(long = "min-delay-ms", default_value_t = 20)]
    pub min_delay_ms: u64,
    /// Upper clamp of the target delay, ms.
    #[arg(long = "max-delay-ms", default_value_t = 200)]
    pub max_delay_ms: u64,
    /// Quantile of the relative arrival delay used as target.
    #[arg(long, default_value_t = 0.95)]
    pub quantile: f32,
}

/// Runs the simulation and prints the report; the last line is a `key=value` summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    ensure!((0.0..=0.9).contains(&args.loss), "--loss must be within 0..=0.9");
    ensure!(args.burst >= 1.0, "--burst must be at least 1");
    ensure!(
        (0.0..=1000.0).contains(&args.jitter_ms),
        "--jitter-ms must be within 0..=1000"
    );
    ensure!(
        args.seconds > 0.0 && args.seconds <= 86_400.0,
        "--seconds must be within (0, 86400]"
    );
    ensure!(args.drift_ppm.abs() <= 10_000.0, "--drift-ppm must be within ±10000");
    ensure!((0.0..=1.0).contains(&args.reorder), "--reorder must be within 0..=1");
    ensure!(
        (0.0..=1.0).contains(&args.duplicate),
        "--duplicate must be within 0..=1"
    );
    let mut cfg = SimConfig {
        seconds: args.seconds,
        loss: args.loss,
        burst: args.burst,
        jitter_ms: args.jitter_ms,
        drift_ppm: args.drift_ppm,
        reorder: args.reorder,
        duplicate: args.duplicate,
        seed: args.seed,
        ..SimConfig::default()
    };
    cfg.jitter.min_delay = Duration::from_millis(args.min_delay_ms);
    cfg.jitter.max_delay = Duration::from_millis(args.max_delay_ms);
    cfg.jitter.quantile = args.quantile;
    let r = sim::run(&cfg).context("jitter buffer configuration")?;
    let m = r.metrics;
    println!(
        "stream: {:.1} s, {} packets sent, {} lost by the network ({:.2} %), PCMU 20 ms",
        args.seconds, r.sent, r.network_lost, r.lost_pct
    );
    println!(
        "network: Gilbert-Elliott loss={} burst={}; Pareto jitter mean={} ms (shape 3, scale {:.1} ms); \
         drift={} ppm; reorder={}; duplicate={}; seed={}",
        args.loss,
        args.burst,
        args.jitter_ms,
        args.jitter_ms * 2.0 / 3.0,
        args.drift_ppm,
        args.reorder,
        args.duplicate,
        args.seed
    );
    println!(
        "delay (playout delay over the fastest packet, per frame): p50={:.1} ms p95={:.1} ms max={:.1} ms; \
         target p50={:.1} ms (final {:.1} ms)",
        r.delay_p50_ms, r.delay_p95_ms, r.delay_max_ms, r.target_p50_ms, m.target_delay_ms
    );
    println!(
        "buffer: received={} played={} missing={} underrun_frames={} underruns={} late={} lost={} \
         duplicates={} reordered={} resets={}",
        m.packets_received,
        m.frames_played,
        m.missing_frames,
        m.underrun_frames,
        m.underruns,
        m.late,
        m.lost,
        m.duplicates,
        m.reordered,
        m.resets
    );
    println!(
        "adaptation: accelerate={:.1} ms expand={:.1} ms silence_dropped={:.1} ms silence_inserted={:.1} ms",
        m.accelerate_ms, m.expand_ms, m.silence_dropped_ms, m.silence_inserted_ms
    );
    println!(
        "jitter: delay_p50_ms={:.1} delay_p95_ms={:.1} concealed_pct={:.2} late_loss_pct={:.2} lost_pct={:.2} \
         target_p50_ms={:.1} accelerate_ms={:.0} expand_ms={:.0} silence_dropped_ms={:.0} silence_inserted_ms={:.0} \
         underruns={} duplicates={} reordered={}",
        r.delay_p50_ms,
        r.delay_p95_ms,
        r.concealed_pct,
        r.late_loss_pct,
        r.lost_pct,
        r.target_p50_ms,
        m.accelerate_ms,
        m.expand_ms,
        m.silence_dropped_ms,
        m.silence_inserted_ms,
        m.underruns,
        m.duplicates,
        m.reordered
    );
    Ok(ExitCode::SUCCESS)
}
