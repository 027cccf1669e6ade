//! The `cxb control` child-process harness for end-to-end tests: starts the real binary on a
//! loopback port against a dataplane, speaks HTTP/1.1 to it, and a small CRM receiver.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The admin key control is started with (`CXB_ADMIN_API_KEY`).
pub const ADMIN_KEY: &str = "cxb_e2e-admin-key-0123456789abcdefghijklmnop";
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

/// A `cxb control` child process, stopped (SIGTERM) on drop.
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
    /// Starts control on `port` with the dataplane whose internal HTTP port is `dp_http`;
    /// SQLite in its data directory unless `database_url` is given.
    pub fn start(port: u16, dp_http: u16, database_url: Option<String>) -> Control {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ctl-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cxb"));
        cmd.args(["control", "--http", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&dir)
            .args(["--dataplane", &format!("http://127.0.0.1:{dp_http}")])
            .args(["--internal-secret", SECRET])
            .env("CXB_ADMIN_API_KEY", ADMIN_KEY)
            .env("CXB_ADMIN_PASSWORD", "e2e-admin-password")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.args(["--database-url", &url]);
        }
        let child = cmd.spawn().expect("cxb binary");
        let c = Control {
            child: Some(child),
            port,
            dir,
            admin_key: ADMIN_KEY.to_owned(),
        };
        c.wait_ready();
        c
    }

    fn wait_ready(&self) {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && http(self.port, "GET", "/healthz", &[], None).0 == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cxb control did not become ready");
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
