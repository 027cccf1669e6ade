//! End-to-end: the real `cxb dataplane` process against SIPp (and raw UDP for refusals).
//! Each test starts its own dataplane on free loopback ports with a bots file, then reads the
//! call records from the spool (no control process in these tests).

mod sip_harness;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sip_harness::{Sipp, free_port, scenario};

/// A `cxb dataplane` child process, stopped (SIGTERM) on drop.
struct Dp {
    child: Option<Child>,
    sip: u16,
    http: u16,
    dir: PathBuf,
}

const BOTS: &str = r#"{
  "bots": [
    {"id": "demo", "name": "Demo", "opening_message": "Hello, this is the cxb demo bot.", "answer_delay_ms": 100},
    {"id": "early", "name": "Early", "ring": "early_media", "answer_delay_ms": 300, "record": true,
     "opening_message": "Hello."},
    {"id": "slow", "name": "Slow", "answer_delay_ms": 5000},
    {"id": "short", "name": "Short", "max_call_seconds": 1, "answer_delay_ms": 50},
    {"id": "off", "name": "Off", "active": false}
  ],
  "dids": [{"number": "+15550100", "bot_id": "demo"}]
}"#;

impl Dp {
    fn start(name: &str, extra: &[&str]) -> Dp {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dp::launch(dir, name, extra)
    }

    /// A new dataplane process on the data directory of `old` (which must be stopped).
    fn restart(old: &Dp) -> Dp {
        Dp::launch(old.dir.clone(), "restarted", &[])
    }

    fn launch(dir: PathBuf, name: &str, extra: &[&str]) -> Dp {
        let bots = dir.join("bots.json");
        std::fs::write(&bots, BOTS).unwrap();
        let sip = free_port();
        let http = free_port();
        let rtp_base = 30000 + (std::process::id() % 500) as u16 * 40 + (name.len() as u16 % 10) * 2000 % 20000;
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
            .arg(format!("/dev/shm/cxb-test-{name}-{}", std::process::id()))
            .args(["--internal-secret", "test-secret-0123456789"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cxb binary");
        let dp = Dp {
            child: Some(child),
            sip,
            http,
            dir,
        };
        dp.wait_ready();
        dp
    }

    /// Ready when OPTIONS gets a 200.
    fn wait_ready(&self) {
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Some(r) = self.request("OPTIONS", "demo", "", Duration::from_millis(200))
                && r.starts_with("SIP/2.0 200")
            {
                return;
            }
        }
        panic!("dataplane did not answer OPTIONS");
    }

    /// Sends one request over UDP and returns the first final response.
    fn request(&self, method: &str, user: &str, body: &str, wait: Duration) -> Option<String> {
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

    fn records(&self) -> Vec<serde_json::Value> {
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

    fn wait_records(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let end = Instant::now() + timeout;
        loop {
            let r = self.records();
            if r.len() >= n || Instant::now() > end {
                return r;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn sipp(&self, name: &str, args: &[&str]) -> (bool, String) {
        let target = format!("127.0.0.1:{}", self.sip);
        let port = free_port().to_string();
        let mut all: Vec<&str> = vec![&target, "-i", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        let (status, errors) = Sipp::spawn(name, &all).wait(Duration::from_secs(60));
        (status.is_some_and(|s| s.success()), errors)
    }

    fn stop(&mut self) {
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
    }
}

fn by(r: &serde_json::Value) -> &str {
    r["disconnected_by"].as_str().unwrap_or("")
}

#[test]
fn sipp_uac_calls_at_a_steady_rate_all_succeed() {
    let dp = Dp::start("uac", &[]);
    let (ok, errors) = dp.sipp(
        "uac",
        &[
            "-sn", "uac", "-s", "demo", "-m", "40", "-r", "20", "-l", "40", "-d", "600",
        ],
    );
    assert!(ok, "SIPp uac failed: {errors}");
    let recs = dp.wait_records(40, Duration::from_secs(10));
    assert_eq!(recs.len(), 40);
    assert!(recs.iter().all(|r| by(r) == "customer"), "{recs:?}");
}

#[test]
fn sipp_uac_pcap_speech_flows_both_ways() {
    let dp = Dp::start("pcap", &[]);
    // SIPp's built-in uac_pcap plays `pcap/g711a.pcap` relative to its working directory.
    let sipp_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sipp-pcap-{}", std::process::id()));
    std::fs::create_dir_all(sipp_dir.join("pcap")).unwrap();
    for f in std::fs::read_dir("/usr/share/sip-tester").unwrap().flatten() {
        let _ = std::os::unix::fs::symlink(f.path(), sipp_dir.join("pcap").join(f.file_name()));
    }
    let (ok, errors) = dp.sipp("pcap", &["-sn", "uac_pcap", "-s", "demo", "-m", "1"]);
    assert!(ok, "SIPp uac_pcap failed: {errors}");
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1);
    let q = &recs[0]["quality"];
    assert!(q["packets_in"].as_u64().unwrap_or(0) > 100, "{q}");
    assert!(q["packets_out"].as_u64().unwrap_or(0) > 100, "{q}");
}

#[test]
fn cancel_late_offer_hold_and_bye_from_us() {
    let dp = Dp::start("flows", &[]);
    let (ok, e) = dp.sipp("cancel", &["-sf", &scenario("uac_cancel.xml"), "-s", "slow", "-m", "1"]);
    assert!(ok, "cancel: {e}");
    let (ok, e) = dp.sipp(
        "late",
        &["-sf", &scenario("uac_late_offer.xml"), "-s", "demo", "-m", "1"],
    );
    assert!(ok, "late offer: {e}");
    let (ok, e) = dp.sipp("hold", &["-sf", &scenario("uac_hold.xml"), "-s", "demo", "-m", "1"]);
    assert!(ok, "hold: {e}");
    let (ok, e) = dp.sipp(
        "byeus",
        &["-sf", &scenario("uac_bot_hangs_up.xml"), "-s", "short", "-m", "1"],
    );
    assert!(ok, "bot hangs up: {e}");
    let recs = dp.wait_records(4, Duration::from_secs(10));
    let mut kinds: Vec<&str> = recs.iter().map(by).collect();
    kinds.sort();
    assert_eq!(kinds, ["customer", "customer", "customer", "timeout"], "{recs:?}");
}

#[test]
fn refusals_404_480_503() {
    let dp = Dp::start("refuse", &[]);
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let r = dp
        .request("INVITE", "nobody", sdp, Duration::from_secs(3))
        .expect("answer");
    assert!(r.starts_with("SIP/2.0 404"), "{r}");
    let r = dp
        .request("INVITE", "off", sdp, Duration::from_secs(3))
        .expect("answer");
    assert!(r.starts_with("SIP/2.0 480"), "{r}");
    let recs = dp.wait_records(1, Duration::from_secs(5));
    assert_eq!(recs.len(), 1);
    assert_eq!(by(&recs[0]), "outside_hours");
    drop(dp);
    let full = Dp::start("full", &["--calls-per-shard", "0"]);
    let r = full
        .request("INVITE", "demo", sdp, Duration::from_secs(3))
        .expect("answer");
    assert!(r.starts_with("SIP/2.0 503"), "{r}");
    assert!(r.contains("Retry-After: 5"), "{r}");
}

#[test]
fn malformed_invite_gets_400_and_the_dataplane_keeps_going() {
    let dp = Dp::start("bad", &[]);
    let (ok, e) = dp.sipp(
        "malformed",
        &["-sf", &scenario("uac_malformed.xml"), "-s", "demo", "-m", "1"],
    );
    assert!(ok, "malformed: {e}");
    let (ok, e) = dp.sipp("after", &["-sn", "uac", "-s", "demo", "-m", "2", "-d", "200"]);
    assert!(ok, "uac after malformed: {e}");
}

/// One HTTP/1.1 request over a plain socket: (status, body).
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
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

const SECRET: &str = "test-secret-0123456789";

#[test]
fn internal_http_fleet_auth_and_dial_validation() {
    let dp = Dp::start("http", &[]);
    assert_eq!(http(dp.http, "GET", "/internal/v1/fleet", None, "").0, 401);
    assert_eq!(
        http(dp.http, "GET", "/internal/v1/fleet", Some("wrong-secret"), "").0,
        401
    );
    let (status, body) = http(dp.http, "GET", "/internal/v1/fleet", Some(SECRET), "");
    assert_eq!(status, 200, "{body}");
    let fleet: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fleet["shards"].as_array().map(Vec::len), Some(2), "{fleet}");
    assert!(
        fleet["shards"].as_array().unwrap().iter().all(|s| s["healthy"] == true),
        "{fleet}"
    );
    let (status, body) = http(
        dp.http,
        "POST",
        "/internal/v1/dial",
        Some(SECRET),
        r#"{"bot_id":"demo"}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("to_number"), "{body}");
    let (status, body) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), "{not json");
    assert_eq!(status, 422, "{body}");
    let bad_trunk = r#"{"bot_id":"demo","to_number":"+15550123","trunk":{"address":"not-an-address"}}"#;
    let (status, body) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), bad_trunk);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("trunk.address"), "{body}");
    let unknown = r#"{"bot_id":"nobody","to_number":"+15550123","trunk":{"address":"127.0.0.1:5999"}}"#;
    assert_eq!(http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), unknown).0, 404);
}

#[test]
fn outbound_dial_through_a_trunk_reaches_sipp_uas() {
    let dp = Dp::start("dial", &[]);
    let uas_port = free_port();
    let port = uas_port.to_string();
    let uas = Sipp::spawn("dial-uas", &["-sn", "uas", "-i", "127.0.0.1", "-p", &port, "-m", "1"]);
    std::thread::sleep(Duration::from_millis(300));
    let body = format!(
        r#"{{"bot_id":"short","to_number":"+15550123","from_number":"+15550999",
            "variables":{{"crm_id":"42"}},"trunk":{{"address":"127.0.0.1:{uas_port}"}}}}"#
    );
    let (status, resp) = http(dp.http, "POST", "/internal/v1/dial", Some(SECRET), &body);
    assert_eq!(status, 202, "{resp}");
    let accepted: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let (st, errors) = uas.wait(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "SIPp uas: {errors}");
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["session_id"], accepted["session_id"]);
    assert_eq!(r["direction"], "outbound");
    assert_eq!(r["to_number"], "+15550123");
    assert_eq!(r["variables"]["crm_id"], "42");
    assert_eq!(by(r), "timeout", "{r}");
}

#[test]
fn killed_dataplane_calls_are_recorded_as_error_after_restart() {
    let mut dp = Dp::start("kill", &[]);
    let target = format!("127.0.0.1:{}", dp.sip);
    let port = free_port().to_string();
    // Two calls that would last 20 s.
    let sipp = Sipp::spawn(
        "kill",
        &[
            &target,
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-sn",
            "uac",
            "-s",
            "demo",
            "-m",
            "2",
            "-d",
            "20000",
        ],
    );
    let end = Instant::now() + Duration::from_secs(10);
    let journal = dp.dir.join("spool").join("records.active");
    while Instant::now() < end
        && std::fs::read_dir(&journal)
            .map(|d| {
                d.flatten()
                    .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
                    .count()
            })
            .unwrap_or(0)
            < 2
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: no chance to hang up or write anything.
    if let Some(mut c) = dp.child.take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    drop(sipp);
    assert!(dp.records().is_empty());
    // The next start delivers (here: spools) the interrupted calls as ended by error.
    let restarted = Dp::restart(&dp);
    let recs = restarted.wait_records(2, Duration::from_secs(10));
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert!(recs.iter().all(|r| by(r) == "error"), "{recs:?}");
    assert!(recs.iter().all(|r| r["service_errors"][0]["fatal"] == true), "{recs:?}");
}

#[test]
fn sipp_uac_over_tcp() {
    let dp = Dp::start("tcp", &[]);
    let (ok, errors) = dp.sipp("tcp", &["-sn", "uac", "-t", "t1", "-s", "demo", "-m", "5", "-r", "5", "-d", "300"]);
    assert!(ok, "SIPp uac over TCP failed: {errors}");
    let recs = dp.wait_records(5, Duration::from_secs(10));
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|r| by(r) == "customer"), "{recs:?}");
}
