//! `cxb up`: start cxb on embedded defaults — the dataplane (SIP/RTP, one shard per core) in this
//! process, and control (REST API on 127.0.0.1:8080, SQLite and recordings under `./data/`) as a
//! child process `cxb control …`, so they are two processes as in production. The dataplane
//! delivers call records to control. On the first start control seeds the demo bot `demo` (plus
//! a loopback trunk and a demo number so the printed dial-out command works offline) and prints
//! the admin credentials; it pushes routing to the dataplane when it starts.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::{control, dataplane};

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
    /// Bots and DID mappings (JSON) the dataplane starts with (control replaces them when it
    /// pushes routing); default: the embedded demo bot `demo`.
    #[arg(long)]
    pub bots: Option<PathBuf>,
    /// Control's HTTP address (REST API and dashboard).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub control_http: std::net::SocketAddr,
    /// RTP port range, `START-END`.
    #[arg(long, default_value = "20000-40000", value_parser = dataplane::parse_range)]
    pub rtp_ports: (u16, u16),
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
    let secret = control::secret_file(&args.data_dir.join("internal_secret"))?;
    let control_url = format!("http://{}", args.control_http);
    let dp_args = dataplane::Args {
        data_dir: args.data_dir.clone(),
        sip: args.sip,
        advertise: None,
        http: args.http,
        shards: None,
        no_pin: false,
        no_recv_ring: false,
        calls_per_shard: 2000,
        rtp_ports: args.rtp_ports,
        bots: args.bots.clone(),
        control_url: Some(control_url.clone()),
        internal_secret: Some(secret),
        fleet: None,
        answer_delay_ms: 300,
        recordings: None,
        providers: None,
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
        "  talk to the demo bot: cxb call sip:demo@127.0.0.1:{} --codec g722 --say \"Yes, I would like to book an appointment.\" --say \"My name is Sam.\" --seconds 60 --record out.wav",
        sip.port()
    );
    // Control starts after the dataplane so that its routing push at start reaches it.
    let mut child = match start_control(&args, &fleet, &format!("http://{http}"), sip.port()) {
        Ok(c) => c,
        Err(e) => {
            dp.shutdown();
            dp.join();
            let _ = std::fs::remove_file(&fleet);
            return Err(e);
        }
    };
    println!("  control: {control_url} (child process {})", child.id());
    println!("running; Ctrl-C to stop");
    dataplane::wait_for_signal();
    println!("stopping (hanging up calls)");
    stop_child(&mut child);
    dp.shutdown();
    dp.join();
    let _ = std::fs::remove_file(&fleet);
    Ok(ExitCode::SUCCESS)
}

/// `cxb control` as a child process (same binary), its output shown as ours.
fn start_control(args: &Args, fleet: &Path, dataplane_url: &str, sip_port: u16) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the cxb executable")?;
    let mut child = Command::new(exe)
        .arg("control")
        .arg("--http")
        .arg(args.control_http.to_string())
        .arg("--data-dir")
        .arg(&args.data_dir)
        .arg("--dataplane")
        .arg(dataplane_url)
        .arg("--fleet")
        .arg(fleet)
        .arg("--seed-demo-sip-port")
        .arg(sip_port.to_string())
        .stdin(Stdio::null())
        .spawn()
        .context("cannot start cxb control")?;
    // Wait until it answers (or exits) so that the banner comes before "running".
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("cxb control exited at start ({status})");
        }
        if std::net::TcpStream::connect_timeout(&args.control_http, Duration::from_millis(200)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

/// SIGTERM, then SIGKILL after 10 s.
fn stop_child(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
