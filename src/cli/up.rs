//! `cxb up`: start cxb on embedded defaults — the dataplane (SIP/RTP, one shard per core) with
//! the demo bot, recordings and the call-record spool under `./data/`. The control process joins
//! when it lands (issue 6); until then call records stay in `data/spool/records/`.

use anyhow::Context;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::dataplane;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the database, recordings and spool.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// SIP listen address (UDP and TCP).
    #[arg(long, default_value = "0.0.0.0:5060")]
    pub sip: std::net::SocketAddr,
    /// Internal HTTP address of the dataplane.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub http: std::net::SocketAddr,
    /// Bots and DID mappings (JSON); default: the embedded demo bot `demo`.
    #[arg(long)]
    pub bots: Option<PathBuf>,
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
    let secret = internal_secret(&args.data_dir)?;
    let dp_args = dataplane::Args {
        data_dir: args.data_dir.clone(),
        sip: args.sip,
        advertise: None,
        http: args.http,
        shards: None,
        no_pin: false,
        calls_per_shard: 2000,
        rtp_ports: (20000, 40000),
        bots: args.bots.clone(),
        control_url: None,
        internal_secret: Some(secret),
        fleet: None,
        answer_delay_ms: 300,
        recordings: None,
    };
    let cfg = dataplane::config(&dp_args);
    let routing = dataplane::routing(&dp_args)?;
    let (shards, sip, http, fleet) = (cfg.shards, cfg.sip_bind, cfg.http_bind, cfg.fleet_path.clone());
    let dp = cxb_dataplane::engine::Dataplane::start(cfg, routing).context("dataplane failed to start")?;
    println!(
        "  dataplane: {shards} shard(s), SIP udp+tcp {sip}, internal HTTP {http}, fleet {}",
        fleet.display()
    );
    println!(
        "  call the demo bot: cxb call sip:demo@127.0.0.1:{} --seconds 10 --record out.wav",
        sip.port()
    );
    println!(
        "  control (REST + dashboard) is not in this build yet; call records are spooled under {}/spool/records",
        args.data_dir.display()
    );
    println!("running; Ctrl-C to stop");
    dataplane::wait_for_signal();
    println!("stopping (hanging up calls)");
    dp.shutdown();
    dp.join();
    let _ = std::fs::remove_file(&fleet);
    Ok(ExitCode::SUCCESS)
}

/// The dataplane ↔ control shared secret: created once (random, mode 0600) in the data dir.
fn internal_secret(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("internal_secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            return Ok(s);
        }
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .context("cannot read /dev/urandom")?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    Ok(secret)
}
