//! `cxb control`: the REST API (bots, calls, dial-out, settings) on SQLite or PostgreSQL, until
//! SIGINT/SIGTERM. Prints the first admin's credentials once, on the first start.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cxb_control::{ControlConfig, DataplaneEndpoint};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// HTTP listen address (REST API and dashboard).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Directory for the SQLite database, the secrets key and local recordings.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); default: SQLite `<data-dir>/cxb.db`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A dataplane's internal HTTP base URL (repeatable); default http://127.0.0.1:8081.
    #[arg(long = "dataplane")]
    pub dataplanes: Vec<String>,
    /// File holding the dataplane ↔ control shared secret (default `<data-dir>/internal_secret`,
    /// created with a random secret if missing).
    #[arg(long)]
    pub internal_secret_file: Option<PathBuf>,
    /// The shared secret itself (overrides the file).
    #[arg(long, env = "CXB_INTERNAL_SECRET", hide_env_values = true)]
    pub internal_secret: Option<String>,
    /// Fleet shared-memory file of a dataplane on this host (default: every
    /// `/dev/shm/cxb-fleet-*`).
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// URL users reach control at (API snippets, cookies); default `http://<http>`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// URL browsers reach the dataplanes at (the web widget's WebSocket endpoint, `https` →
    /// `wss`); default: the first dataplane's URL.
    #[arg(long, env = "CXB_DATAPLANE_PUBLIC_URL")]
    pub dataplane_public_url: Option<String>,
    /// Recordings store: a directory or `s3://bucket/prefix` (default `<data-dir>/recordings`).
    #[arg(long)]
    pub recordings: Option<String>,
    /// `cxb up`: on the first start, seed the demo bot, a loopback trunk to this SIP port and a
    /// demo number, and print a ready-to-run dial-out command.
    #[arg(long, hide = true)]
    pub seed_demo_sip_port: Option<u16>,
}

/// The dataplane ↔ control shared secret kept in `path`: read, or created once (random, 0600).
pub fn secret_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
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
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// The configuration these flags describe.
pub fn config(args: &Args) -> anyhow::Result<ControlConfig> {
    let secret = match &args.internal_secret {
        Some(s) if !s.is_empty() => s.clone(),
        _ => {
            let file = args
                .internal_secret_file
                .clone()
                .unwrap_or_else(|| args.data_dir.join("internal_secret"));
            secret_file(&file)?
        }
    };
    let mut cfg = ControlConfig::local(args.data_dir.clone(), secret);
    cfg.http_bind = args.http;
    if let Some(url) = args.database_url.as_ref().filter(|u| !u.is_empty()) {
        cfg.database_url = url.clone();
    }
    if !args.dataplanes.is_empty() {
        cfg.dataplanes = args
            .dataplanes
            .iter()
            .map(|u| DataplaneEndpoint { url: u.clone() })
            .collect();
    }
    cfg.fleet_path = args.fleet.clone();
    cfg.public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.http));
    cfg.dataplane_public_url = args.dataplane_public_url.clone().filter(|u| !u.trim().is_empty());
    if let Some(r) = &args.recordings {
        cfg.recordings = r.clone();
    }
    Ok(cfg)
}

fn print_banner(public_url: &str, first: Option<&cxb_control::FirstStart>, demo: bool) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "cxb control: REST API and dashboard at {public_url}");
    let key = match first {
        Some(f) => {
            match &f.admin_password {
                Some(pw) => {
                    let _ = writeln!(
                        out,
                        "  first start: admin user \"admin\", password {pw} (shown only once)"
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  first start: admin user \"admin\", password from CXB_ADMIN_PASSWORD"
                    );
                }
            }
            if let Some(k) = &f.admin_api_key {
                let _ = writeln!(out, "  admin API key: {k} (shown only once)");
            }
            f.admin_api_key.clone()
        }
        None => {
            let _ = writeln!(out, "  admin password was printed on first start");
            None
        }
    };
    if demo {
        let key = key.unwrap_or_else(|| "<your admin API key, printed on first start>".into());
        let _ = writeln!(
            out,
            "  dial out (the demo bot calls {}, a demo customer bot on this dataplane, through the loopback trunk):\n    \
             curl -sS -X POST {public_url}/api/v1/dialout -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \
             -d '{{\"bot_id\":\"demo\",\"to_number\":\"{}\"}}'",
            cxb_control::seed::DEMO_CUSTOMER_NUMBER,
            cxb_control::seed::DEMO_CUSTOMER_NUMBER,
        );
        let _ = writeln!(out, "  calls: curl -sS {public_url}/api/v1/calls -H 'X-API-Key: {key}'");
    }
    let _ = out.flush();
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let cfg = config(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cxb-control")
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let public_url = cfg.public_url.clone();
        let addr = cfg.http_bind;
        let (router, state) = cxb_control::build(cfg).await.context("control failed to start")?;
        let first = state.take_first_start();
        if let (Some(port), Some(_)) = (args.seed_demo_sip_port, &first) {
            cxb_control::seed::seed_demo(&state)
                .await
                .context("seeding the demo bot")?;
            cxb_control::seed::seed_loopback(&state, port)
                .await
                .context("seeding the loopback trunk")?;
        }
        // The banner before listening: whoever waits for the port sees it printed.
        print_banner(&public_url, first.as_ref(), args.seed_demo_sip_port.is_some());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let worker = cxb_control::postcall::Worker::spawn(state.clone());
        let res = cxb_control::serve_listener(listener, router, state, shutdown_signal()).await;
        worker.abort();
        res.context("control stopped")
    })?;
    Ok(ExitCode::SUCCESS)
}
