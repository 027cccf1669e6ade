//! The `cxb dataplane` child-process harness for end-to-end tests: starts the real binary on
//! free loopback ports with a bots file, sends raw SIP requests, runs SIPp against it and reads
//! the call records from the spool.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crate::sip_harness::{Sipp, free_port};

/// A `cxb dataplane` child process, stopped (SIGTERM) on drop.
pub struct Dp {
    child: Option<Child>,
    /// SIP port (UDP and TCP) on 127.0.0.1.
    pub sip: u16,
    /// Internal HTTP port on 127.0.0.1.
    pub http: u16,
    /// Data directory (spool, recordings).
    pub dir: PathBuf,
    bots: String,
    name: String,
}

impl Dp {
    /// Starts a dataplane (2 shards, free loopback ports) with `bots_json` as its bots file.
    pub fn start(name: &str, bots_json: &str, extra: &[&str]) -> Dp {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dp::launch(dir, name, bots_json, extra)
    }

    /// A new dataplane process on the data directory of `old` (which must be stopped).
    pub fn restart(old: &Dp) -> Dp {
        Dp::launch(old.dir.clone(), "restarted", &old.bots, &[])
    }

    /// Starts the child and waits until it answers. The ports are picked free, but another
    /// process can take one before the child binds it: a child that exits while starting is
    /// started again on other ports.
    fn launch(dir: PathBuf, name: &str, bots_json: &str, extra: &[&str]) -> Dp {
        for _ in 0..3 {
            let mut dp = Dp::spawn(dir.clone(), name, bots_json, extra);
            if dp.ready_or_exited() {
                return dp;
            }
        }
        panic!("dataplane exited while starting, three times");
    }

    fn spawn(dir: PathBuf, name: &str, bots_json: &str, extra: &[&str]) -> Dp {
        let bots = dir.join("bots.json");
        std::fs::write(&bots, bots_json).unwrap();
        let sip = free_port();
        let http = free_port();
        // Distinct 400-port ranges for dataplanes started concurrently by one test binary.
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let slot = (std::process::id() as u16 % 16) * 3 + NEXT.fetch_add(1, Ordering::Relaxed);
        let rtp_base = 20000 + (slot % 48) * 500;
        let child = Command::new(env!("CARGO_BIN_EXE_cxb"))
            .args(["dataplane", "--no-pin", "--shards", "2"])
            .args([
                "--sip",
                &format!("127.0.0.1:{sip}"),
                "--http",
                &format!("127.0.0.1:{http}"),
            ])
            .args(["--rtp-ports", &format!("{}-{}", rtp_base, rtp_base + 400)])
            .arg("--bots")
            .arg(&bots)
            .arg("--data-dir")
            .arg(&dir)
            .arg("--fleet")
            .arg(Dp::fleet_path(name))
            .args(["--internal-secret", "test-secret-0123456789"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cxb binary");
        Dp {
            child: Some(child),
            sip,
            http,
            dir,
            bots: bots_json.to_owned(),
            name: name.to_owned(),
        }
    }

    /// True when OPTIONS gets a 200, false when the child exits first.
    fn ready_or_exited(&mut self) -> bool {
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_)))) {
                return false;
            }
            if let Some(r) = self.request("OPTIONS", "demo", "", Duration::from_millis(200))
                && r.starts_with("SIP/2.0 200")
            {
                return true;
            }
        }
        panic!("dataplane did not answer OPTIONS");
    }

    /// Sends one request over UDP and returns the first final response.
    pub fn request(&self, method: &str, user: &str, body: &str, wait: Duration) -> Option<String> {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let msg = format!(
            "{method} sip:{user}@127.0.0.1:{sip} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{port}{n}\r\n\
             From: <sip:tester@127.0.0.1:{port}>;tag=t{port}\r\n\
             To: <sip:{user}@127.0.0.1:{sip}>\r\n\
             Call-ID: {port}-{n}@127.0.0.1\r\n\
             CSeq: 1 {method}\r\n\
             Contact: <sip:tester@127.0.0.1:{port}>\r\n\
             Max-Forwards: 70\r\n{ct}\
             Content-Length: {len}\r\n\r\n{body}",
            sip = self.sip,
            n = Instant::now().elapsed().as_nanos(),
            len = body.len()
        );
        s.send_to(msg.as_bytes(), ("127.0.0.1", self.sip)).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        let end = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            let Ok(n) = s.recv(&mut buf) else { return None };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code: u16 = text.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
            if code >= 200 {
                return Some(text);
            }
        }
        None
    }

    pub fn records(&self) -> Vec<serde_json::Value> {
        let dir = self.dir.join("spool").join("records");
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for f in rd.flatten() {
                if f.path().extension().is_some_and(|e| e == "json")
                    && let Ok(t) = std::fs::read_to_string(f.path())
                    && let Ok(v) = serde_json::from_str(&t)
                {
                    out.push(v);
                }
            }
        }
        out
    }

    pub fn wait_records(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let end = Instant::now() + timeout;
        loop {
            let r = self.records();
            if r.len() >= n || Instant::now() > end {
                return r;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn sipp(&self, name: &str, args: &[&str]) -> (bool, String) {
        let target = format!("127.0.0.1:{}", self.sip);
        let port = free_port().to_string();
        let mut all: Vec<&str> = vec![&target, "-i", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        let (status, errors) = Sipp::spawn(name, &all).wait(Duration::from_secs(60));
        (status.is_some_and(|s| s.success()), errors)
    }

    fn fleet_path(name: &str) -> String {
        format!("/dev/shm/cxb-test-{name}-{}", std::process::id())
    }

    /// `ws://` URL of `path` on the internal HTTP port.
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.http)
    }

    /// SIGKILL: the process gets no chance to hang up or write anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
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

impl Drop for Dp {
    fn drop(&mut self) {
        self.stop();
        // A killed dataplane cannot remove its shared-memory file.
        let _ = std::fs::remove_file(Dp::fleet_path(&self.name));
    }
}

/// One HTTP/1.1 request to the dataplane's internal API on `port` (`Authorization: Bearer token`
/// when given); returns the status and the body.
pub fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
