//! The `cxb control` child-process harness for end-to-end tests: starts the real binary on a
//! loopback port against a dataplane, speaks HTTP/1.1 to it, and a small CRM receiver.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The start of the admin key each control is started with (`CXB_ADMIN_API_KEY`); the process id
/// and a counter follow, so readiness can tell this control from another on its port.
pub const ADMIN_KEY_PREFIX: &str = "cxb_e2e-admin-key-0123456789abcdefghijklmnop-";
/// The internal secret the dataplane harness uses.
pub const SECRET: &str = "test-secret-0123456789";

/// One HTTP/1.1 request (`Connection: close`); returns the status and the JSON body (`Null`
/// when empty or not JSON, the text as a string when not JSON).
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let out = String::from_utf8_lossy(&raw).into_owned();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, text) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let text = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(text)
    } else {
        text.to_owned()
    };
    let v = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) if text.is_empty() => Value::Null,
        Err(_) => Value::String(text),
    };
    (status, v)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The status of `GET path` (with `X-API-Key: key` when given); 0 when nothing answers HTTP
/// within two seconds (no listener, or one that does not speak HTTP).
fn probe(port: u16, path: &str, key: Option<&str>) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let key = key.map(|k| format!("X-API-Key: {k}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{key}Connection: close\r\n\r\n");
    let mut head = [0u8; 12];
    if s.write_all(req.as_bytes()).is_err() || s.read_exact(&mut head).is_err() {
        return 0;
    }
    std::str::from_utf8(&head[9..])
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A port no TCP listener holds on 127.0.0.1 right now.
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A `cxb control` child process, stopped (SIGTERM) on drop; its stderr goes to `stderr.log` in
/// its data directory, and its tail is printed when dropped by a panicking test.
pub struct Control {
    child: Option<Child>,
    /// HTTP port on 127.0.0.1.
    pub port: u16,
    /// Data directory.
    pub dir: PathBuf,
    /// The admin API key.
    pub admin_key: String,
}

impl Control {
    /// Starts control on a free port with the dataplane whose internal HTTP port is `dp_http`;
    /// SQLite in its data directory unless `database_url` is given. Another process can take the
    /// free port before control binds it: control that exits while starting is started again on
    /// another port, so callers use `port` of the result.
    pub fn start(dp_http: u16, database_url: Option<String>) -> Control {
        Control::launch(None, dp_http, database_url)
    }

    /// As [`Control::start`], but on `port`, for a caller that already gave this port to another
    /// process (the dataplane's `--control-url`): started once, as that process would not learn
    /// another port.
    pub fn start_on(port: u16, dp_http: u16, database_url: Option<String>) -> Control {
        Control::launch(Some(port), dp_http, database_url)
    }

    /// Starts the child (on `fixed`, else on free ports, up to three times) and waits until it
    /// answers; panics with the tail of each attempt's stderr when none does.
    fn launch(fixed: Option<u16>, dp_http: u16, database_url: Option<String>) -> Control {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let attempts = if fixed.is_some() { 1 } else { 3 };
        let mut logs = String::new();
        for _ in 0..attempts {
            let port = fixed.unwrap_or_else(free_tcp_port);
            let mut c = Control::spawn(&id, port, dp_http, database_url.clone());
            if c.ready_or_exited() {
                return c;
            }
            logs.push_str(&format!("\n--- port {port}, stderr tail:\n{}", tail(&c.log(), 20)));
        }
        panic!("cxb control exited while starting ({attempts} attempt(s)){logs}");
    }

    /// The child for start `id` (unique in the test run) on `port`. Its data directory is named by
    /// both, never by the port alone: another control of this process may hold that port.
    fn spawn(id: &str, port: u16, dp_http: u16, database_url: Option<String>) -> Control {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ctl-{id}-{port}"));
        let admin_key = format!("{ADMIN_KEY_PREFIX}{id}");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cxb"));
        cmd.args(["control", "--http", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&dir)
            .args(["--dataplane", &format!("http://127.0.0.1:{dp_http}")])
            .args(["--internal-secret", SECRET])
            .env("CXB_ADMIN_API_KEY", &admin_key)
            .env("CXB_ADMIN_PASSWORD", "e2e-admin-password")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(url) = database_url {
            cmd.args(["--database-url", &url]);
        }
        let child = cmd.spawn().expect("cxb binary");
        Control {
            child: Some(child),
            port,
            dir,
            admin_key,
        }
    }

    /// True when this child answers, false when it exits first.
    fn ready_or_exited(&mut self) -> bool {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_)))) {
                // Reaped: its process id may be another process's by now, so drop does not signal it.
                self.child = None;
                return false;
            }
            if self.answers() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cxb control on port {} did not become ready in 30 s", self.port);
    }

    /// True when `/healthz` answers 200 and the admin key is accepted. Another process holding
    /// the port (another test's control, say) may answer `/healthz` too, but not this child's key.
    fn answers(&self) -> bool {
        probe(self.port, "/healthz", None) == 200 && probe(self.port, "/api/v1/me", Some(&self.admin_key)) == 200
    }

    /// Its stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// A request with `X-API-Key: key`.
    pub fn req(&self, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
        http(self.port, method, path, &[("X-API-Key", key)], body)
    }

    /// Polls `GET path` until 200 (or panics after `timeout`); returns the body.
    pub fn wait_for(&self, path: &str, key: &str, timeout: Duration) -> Value {
        let end = Instant::now() + timeout;
        loop {
            let (s, b) = self.req("GET", path, key, None);
            if s == 200 {
                return b;
            }
            assert!(Instant::now() < end, "GET {path}: still {s} {b}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "cxb control on port {}, stderr tail:\n{}",
                self.port,
                tail(&self.log(), 40)
            );
        }
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A request the CRM receiver got.
#[derive(Debug, Clone)]
pub struct Push {
    /// `Authorization` header.
    pub auth: Option<String>,
    /// JSON body.
    pub body: Value,
}

/// A tiny HTTP server on loopback that answers 200 and keeps every request.
pub struct Crm {
    port: u16,
    got: Arc<Mutex<Vec<Push>>>,
}

impl Crm {
    /// Starts it on a free port (a detached thread that lives as long as the test process).
    pub fn start() -> Crm {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                if let Some(p) = read_request(conn) {
                    g.lock().unwrap().push(p);
                }
            }
        });
        Crm { port, got }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/crm/push", self.port)
    }

    /// The first push, waiting up to `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Push> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(p) = self.got.lock().unwrap().first() {
                return Some(p.clone());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

fn read_request(mut s: TcpStream) -> Option<Push> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..(head_end + len).min(buf.len())]).unwrap_or(Value::Null);
    let _ = s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    Some(Push {
        auth: header("authorization"),
        body,
    })
}

/// A new empty database on `CXB_TEST_PG_URL`'s server (via `psql`); `None` when unset (panics
/// when `CI` is set: both backends must run there).
pub fn pg_database(name: &str) -> Option<String> {
    let Some(admin) = std::env::var("CXB_TEST_PG_URL").ok().filter(|s| !s.is_empty()) else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but CXB_TEST_PG_URL is not");
        return None;
    };
    let db = format!(
        "cxbe2e_{name}_{}_{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() % 1_000_000
    );
    let ok = Command::new("psql")
        .arg(&admin)
        .args(["-q", "-c", &format!("CREATE DATABASE {db}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "psql could not create database {db} on CXB_TEST_PG_URL");
    let (base, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), String::new()), |(b, q)| (b, format!("?{q}")));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    Some(format!("{base}/{db}{query}"))
}

/// The schemathesis executable (`CXB_SCHEMATHESIS`, else the bootstrap venv), if installed.
pub fn schemathesis() -> Option<PathBuf> {
    let p = std::env::var_os("CXB_SCHEMATHESIS").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(cache.join("cxb/venv/bin/schemathesis"))
    })?;
    p.exists().then_some(p)
}
