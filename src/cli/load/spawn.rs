//! `--spawn`: runs `cxb dataplane` (this same binary) on free loopback ports with a temporary
//! bots file holding the bot `load`, its shards confined to the first cores, and stops it
//! (SIGTERM, then kill) when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cxb_model::{BotConfig, DataplaneSnapshot};

/// Internal secret of a spawned dataplane (WebSocket `?token=`).
pub const SECRET: &str = "cxb-load-secret-0123456789";

/// How to start the dataplane.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Shards (= cores given to it: 0 … shards-1).
    pub shards: usize,
    /// `--calls-per-shard`.
    pub calls_per_shard: u32,
    /// RTP port range.
    pub rtp_ports: (u16, u16),
    /// The bot records its calls.
    pub record: bool,
    /// Pass `--providers sim` (when the dataplane offers it).
    pub providers_sim: bool,
    /// Nice value to run it at (0: unchanged). Other work on a shared machine then disturbs the
    /// measurement less; it does not make the dataplane cheaper.
    pub nice: i32,
}

/// A running dataplane child.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    /// Its SIP address.
    pub sip: SocketAddr,
    /// Its internal HTTP address (WebSocket media).
    pub http: SocketAddr,
    /// Shards.
    pub shards: usize,
    /// Its data directory (removed on drop).
    pub dir: PathBuf,
    /// Whether `--providers sim` was passed.
    pub providers_sim: bool,
    /// Whether the process was confined with `taskset`.
    pub confined: bool,
}

/// A port free on loopback for both UDP and TCP right now.
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let u = UdpSocket::bind("127.0.0.1:0")?;
        let port = u.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port")
}

/// Whether `cxb dataplane --help` lists `--providers`.
pub fn dataplane_has_providers() -> bool {
    let Ok(exe) = std::env::current_exe() else { return false };
    Command::new(exe)
        .args(["dataplane", "--help"])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--providers"))
        .unwrap_or(false)
}

impl Spawned {
    /// Starts the dataplane and waits until it answers OPTIONS.
    pub fn start(spec: &SpawnSpec) -> anyhow::Result<Spawned> {
        let exe = std::env::current_exe().context("cannot find the cxb binary")?;
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cxb-load-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut bot = BotConfig::new("load", "cxb load");
        bot.opening_message = "Hello, this is the load test bot. How can I help you today?".into();
        bot.record = spec.record;
        bot.answer_delay_ms = 1;
        let snap = DataplaneSnapshot {
            bots: vec![bot],
            ..DataplaneSnapshot::default()
        };
        let bots = dir.join("bots.json");
        std::fs::write(&bots, serde_json::to_vec(&snap)?)?;
        let sip_port = free_port()?;
        let http_port = free_port()?;
        let mut args: Vec<String> = vec![
            "dataplane".into(),
            "--sip".into(),
            format!("127.0.0.1:{sip_port}"),
            "--http".into(),
            format!("127.0.0.1:{http_port}"),
            "--shards".into(),
            spec.shards.to_string(),
            "--calls-per-shard".into(),
            spec.calls_per_shard.to_string(),
            "--rtp-ports".into(),
            format!("{}-{}", spec.rtp_ports.0, spec.rtp_ports.1),
            "--answer-delay-ms".into(),
            "1".into(),
            "--internal-secret".into(),
            SECRET.into(),
        ];
        for (flag, path) in [("--bots", &bots), ("--data-dir", &dir), ("--fleet", &dir.join("fleet"))] {
            args.push(flag.into());
            args.push(path.display().to_string());
        }
        if spec.providers_sim {
            args.extend(["--providers".into(), "sim".into()]);
        }
        let cores = available_cores();
        let confined = which("taskset") && cores > spec.shards;
        // nice and taskset exec the next program: the child's pid is the dataplane's.
        let mut argv: Vec<String> = Vec::new();
        if spec.nice != 0 && which("nice") {
            argv.extend(["nice".into(), "-n".into(), spec.nice.to_string()]);
        }
        if confined {
            argv.extend(["taskset".into(), "-c".into(), format!("0-{}", spec.shards - 1)]);
        }
        argv.push(exe.display().to_string());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        let log = std::fs::File::create(dir.join("dataplane.log"))?;
        let child = cmd
            .args(&args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start cxb dataplane")?;
        let mut s = Spawned {
            child,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            shards: spec.shards,
            dir,
            providers_sim: spec.providers_sim,
            confined,
        };
        s.wait_ready()?;
        Ok(s)
    }

    /// The dataplane's fleet segment.
    pub fn fleet_path(&self) -> PathBuf {
        self.dir.join("fleet")
    }

    /// The process id (of the dataplane itself: `taskset` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let end = Instant::now() + Duration::from_secs(20);
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let me = sock.local_addr()?;
        let mut buf = [0u8; 4096];
        let mut n = 0u32;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("dataplane.log")).unwrap_or_default();
                bail!("cxb dataplane exited ({st}) while starting: {}", log.trim());
            }
            n += 1;
            let msg = format!(
                "OPTIONS sip:load@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKready{n}\r\n\
                 From: <sip:load@{me}>;tag=ready\r\nTo: <sip:load@{sip}>\r\nCall-ID: ready-{n}-{pid}@cxb-load\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                sip = self.sip,
                pid = std::process::id()
            );
            let _ = sock.send_to(msg.as_bytes(), self.sip);
            if let Ok((k, _)) = sock.recv_from(&mut buf)
                && buf[..k].starts_with(b"SIP/2.0 200")
            {
                return Ok(());
            }
        }
        bail!("cxb dataplane did not answer OPTIONS within 20 s")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Renices the calling thread (best effort, through `renice`; no libc call needed).
pub fn renice_this_thread(nice: i32) {
    if nice == 0 {
        return;
    }
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = link.file_name().and_then(|t| t.to_str()).map(str::to_owned) else {
        return;
    };
    let _ = Command::new("renice")
        .args(["-n", &nice.to_string(), "-p", &tid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether `prog` is on PATH.
pub fn which(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}
