//! `cxb dataplane`: run the SIP/RTP engine (one pinned shard per core) until SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cxb_dataplane::engine::{Dataplane, DataplaneConfig};
use cxb_dataplane::recording::Storage;
use cxb_model::{DataplaneSnapshot, RoutingTable};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Directory for recordings and the call-record spool.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// SIP listen address (UDP and TCP).
    #[arg(long, default_value = "0.0.0.0:5060")]
    pub sip: SocketAddr,
    /// Address written into Contact and SDP (default: the SIP address, or the primary address).
    #[arg(long)]
    pub advertise: Option<IpAddr>,
    /// Internal HTTP (dial API, WebSocket media, capacity).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub http: SocketAddr,
    /// Shards (default: one per core).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Do not pin shard threads to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Receive media with one task per socket instead of the io_uring receive ring (multishot
    /// receive needs Linux ≥ 6.0; the ring falls back by itself when the kernel refuses it).
    #[arg(long)]
    pub no_recv_ring: bool,
    /// Calls per shard before 503.
    #[arg(long, default_value_t = 2000)]
    pub calls_per_shard: u32,
    /// RTP port range, `START-END`.
    #[arg(long, default_value = "20000-40000", value_parser = parse_range)]
    pub rtp_ports: (u16, u16),
    /// Bots and DID mappings (JSON); default: the embedded demo bot `demo`.
    #[arg(long)]
    pub bots: Option<PathBuf>,
    /// Control base URL call records are delivered to.
    #[arg(long, env = "CXB_CONTROL_URL")]
    pub control_url: Option<String>,
    /// Shared secret of the internal API (also read from CXB_INTERNAL_SECRET).
    #[arg(long, env = "CXB_INTERNAL_SECRET", hide_env_values = true)]
    pub internal_secret: Option<String>,
    /// Fleet shared-memory file.
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// Answer delay after ringing, in ms, for bots that do not set one.
    #[arg(long, default_value_t = 300)]
    pub answer_delay_ms: u64,
    /// Where recordings go: a path or `file:///path` (default `<data-dir>/recordings`), or
    /// `s3://bucket/prefix` (staged in `<data-dir>/recordings`; endpoint, region and credentials
    /// from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_ALLOW_HTTP=true for a plain-HTTP endpoint).
    #[arg(long, value_parser = check_recordings)]
    pub recordings: Option<String>,
    /// Run every bot on this provider profile instead of its own pipeline: `sim` (scripted, in
    /// process, near-zero cost: for `cxb load`) or `embedded` (offline pocketsphinx/espeak-ng).
    #[arg(long, value_enum)]
    pub providers: Option<ProvidersArg>,
}

/// Provider profiles `--providers` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProvidersArg {
    /// Scripted STT/LLM/TTS answered in process with pre-rendered audio (benchmarking).
    Sim,
    /// The offline stack: pocketsphinx, the local responder, espeak-ng.
    Embedded,
}

fn check_recordings(s: &str) -> Result<String, String> {
    Storage::from_url(s, Path::new("")).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

pub(crate) fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("expected START-END")?;
    let a: u16 = a.parse().map_err(|_| "bad start port")?;
    let b: u16 = b.parse().map_err(|_| "bad end port")?;
    if b <= a + 4 {
        return Err("range too small".into());
    }
    Ok((a, b))
}

/// The configuration these flags describe.
pub fn config(args: &Args) -> DataplaneConfig {
    let mut c = DataplaneConfig::embedded(args.data_dir.clone());
    c.sip_bind = args.sip;
    c.advertised_ip = args.advertise;
    c.http_bind = args.http;
    if let Some(n) = args.shards {
        c.shards = n.max(1);
    }
    c.pin_threads = !args.no_pin;
    c.recv_ring = !args.no_recv_ring;
    c.calls_per_shard = args.calls_per_shard;
    c.rtp_ports = args.rtp_ports;
    c.bots_file = args.bots.clone();
    c.control_url = args.control_url.clone();
    c.internal_secret = args.internal_secret.clone().unwrap_or_default();
    if let Some(f) = &args.fleet {
        c.fleet_path = f.clone();
    }
    c.default_answer_delay = Duration::from_millis(args.answer_delay_ms);
    c.providers = args.providers.map(|p| match p {
        ProvidersArg::Sim => cxb_model::ProviderKind::Sim,
        ProvidersArg::Embedded => cxb_model::ProviderKind::Embedded,
    });
    // Checked by clap already; an invalid value keeps the default.
    if let Some(Ok(s)) = args
        .recordings
        .as_deref()
        .map(|u| Storage::from_url(u, &args.data_dir.join("recordings")))
    {
        c.recordings = s;
    }
    c
}

/// Loads the routing table: the bots file (JSON, or TOML by extension), or the embedded demo bot.
pub fn routing(args: &Args) -> anyhow::Result<RoutingTable> {
    let snap = match &args.bots {
        Some(p) => DataplaneSnapshot::load(p).with_context(|| format!("invalid bots file {}", p.display()))?,
        None => demo(),
    };
    RoutingTable::new(snap).context("invalid bot configuration")
}

/// The embedded demo bot `demo` (see [`cxb_model::demo`]): reachable as `sip:demo@host`.
pub fn demo() -> DataplaneSnapshot {
    DataplaneSnapshot {
        bots: vec![cxb_model::demo::demo_bot()],
        ..DataplaneSnapshot::default()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let cfg = config(&args);
    let routing = routing(&args)?;
    let shards = cfg.shards;
    let (sip, http, fleet) = (cfg.sip_bind, cfg.http_bind, cfg.fleet_path.clone());
    let recordings = cfg.recordings.to_string();
    let open_files = check_open_files(u64::from(cfg.calls_per_shard) * shards as u64);
    let dp = Dataplane::start(cfg, routing).context("dataplane failed to start")?;
    println!(
        "cxb dataplane: {shards} shard(s); SIP udp+tcp {sip}; HTTP {http}; fleet {}; recordings {recordings}; \
         open files {open_files}",
        fleet.display()
    );
    wait_for_signal();
    println!("cxb dataplane: stopping (hanging up calls)");
    dp.shutdown();
    dp.join();
    let _ = std::fs::remove_file(&fleet);
    Ok(ExitCode::SUCCESS)
}

/// The open-file limit (already raised by `main`) as text; warns when it leaves room for fewer
/// calls than the shards are configured for (past it, set-ups fail with 503).
fn check_open_files(configured: u64) -> String {
    let Some(limit) = super::fd_limit::soft_limit() else {
        return "unknown".into();
    };
    let room = super::fd_limit::calls_for(limit, false);
    if room < configured {
        tracing::warn!(
            open_files = limit,
            calls = room,
            configured,
            "the open-file limit leaves room for fewer calls than configured (4 files per call, 5 when \
             recorded): raise the hard limit (`ulimit -Hn`, systemd `LimitNOFILE=`)"
        );
    }
    format!("{limit} (room for {room} calls)")
}

/// Blocks until SIGINT or SIGTERM.
pub fn wait_for_signal() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let Ok(rt) = rt else { return };
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    });
}
