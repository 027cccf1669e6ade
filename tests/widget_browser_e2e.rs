//! End-to-end with a real browser: `cxb control` and `cxb dataplane` (`--providers sim`) processes,
//! a bot's widget enabled for `localhost` through control's API, and a page at
//! `http://localhost:PORT/` that embeds control's snippet verbatim (`<script src=…/widget.js …>`,
//! served by control) and calls `window.cxbWidget.start()`. Headless Chromium plays a spoken
//! sentence (espeak-ng) as its fake microphone, long enough for the sim to ask for an agent: the
//! bot transfers, the widget answers `failed`, and 4 s later (≈ 13 s in) the page posts
//! `window.cxbWidget.stats` to `/report` and hangs up. The dataplane's call record must say
//! `channel = widget` from `http://localhost:PORT`, with the bot's greeting and the caller's
//! (sim-transcribed) words.
//!
//! Needs `chromium` (scripts/bootstrap installs it; `CXB_CHROMIUM` names another binary): the
//! test fails, it does not skip, without it.

mod ctl_harness;
mod dp_harness;
mod sip_harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ctl_harness::Control;
use dp_harness::Dp;
use serde_json::{Value, json};

const BOT: &str = "wbrowser";
/// Whole-browser budget: from launch to the stats report and the hang-up.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(40);

/// The Chromium binary: `CXB_CHROMIUM`, else `chromium` / `chromium-browser` / `google-chrome`
/// on `PATH`. Panics (the test fails) when there is none.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CXB_CHROMIUM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "CXB_CHROMIUM={} is not a file", p.display());
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium not found: the web widget browser test needs it \
         (run scripts/bootstrap, or `apt-get install chromium`, or set CXB_CHROMIUM)"
    );
}

/// 2.5 s of silence (the greeting plays undisturbed), a spoken sentence of about 4 s (over the
/// sim's 2.5 s: "can I talk to an agent"), then 10 s of silence; 16 kHz mono WAV, which Chromium
/// loops as the microphone.
fn speech_wav(path: &Path) {
    let out = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "--stdout", "--"])
        .arg("Hello, I would like to know when your shop opens tomorrow morning.")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("espeak-ng runs");
    assert!(out.status.success(), "espeak-ng failed");
    let pcm = cxb_dataplane::engine::voice::decode_wav_16k(&out.stdout).expect("espeak-ng WAV");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let silence = |secs: f32| std::iter::repeat_n(0i16, (16000.0 * secs) as usize);
    for s in silence(2.5).chain(pcm.iter().copied()).chain(silence(10.0)) {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// What the page posted: `(path, body)`.
type Posted = (String, String);

/// The test page's server on 127.0.0.1 (reached as `localhost`): `GET /` the page, `POST
/// /report` (stats), `POST /log` (errors, state changes), `POST /done`; every POST goes to `tx`.
fn serve_page(listener: TcpListener, page: String, tx: mpsc::Sender<Posted>) {
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = handle(conn, &page, &tx);
        }
    });
}

fn handle(mut s: TcpStream, page: &str, tx: &mpsc::Sender<Posted>) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let (status, ctype, body) = match (method, path) {
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", page.to_owned()),
        ("POST", p) => {
            let body = String::from_utf8_lossy(&buf[head_end..(head_end + len).min(buf.len())]).into_owned();
            let _ = tx.send((p.to_owned(), body));
            ("200 OK", "text/plain", "ok".to_owned())
        }
        _ => ("404 Not Found", "text/plain", "not found".to_owned()),
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The page: the embed snippet as control shows it, then a script that starts the call, reports
/// the stats 4 s after the bot's transfer was shown (the failed-transfer line plays meanwhile),
/// or after 20 s at most, and hangs up.
fn page_html(snippet: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>cxb widget test shop</title>
<style>button {{ background: hotpink !important; width: 10px !important; }}</style></head>
<body><h1>A shop</h1>
{snippet}
<script>
  const post = (path, v) => fetch(path, {{method: "POST", headers: {{"content-type": "application/json"}}, body: JSON.stringify(v)}});
  window.addEventListener("error", (e) => post("/log", {{error: String(e.message)}}));
  window.addEventListener("unhandledrejection", (e) => post("/log", {{error: String(e.reason)}}));
  let finished = false;
  const finish = async () => {{
    if (finished) return;
    finished = true;
    await post("/report", window.cxbWidget.stats);
    window.cxbWidget.stop();
    const host = document.querySelector("[data-cxb-widget]");
    const btn = host && host.shadowRoot && host.shadowRoot.querySelector("button");
    const button = btn && {{label: btn.getAttribute("aria-label"), width: getComputedStyle(btn).width}};
    await post("/done", {{state: window.cxbWidget.state, stats: window.cxbWidget.stats, button}});
  }};
  window.addEventListener("cxbwidget:state", (e) => {{
    post("/log", e.detail);
    if (e.detail.message === "transferring…") setTimeout(finish, 4000);
  }});
  (function go() {{
    if (!window.cxbWidget) return setTimeout(go, 50);
    window.cxbWidget.start();
    setTimeout(finish, 20000);
  }})();
</script></body></html>"#
    )
}

/// Chromium in its own process group, killed (the whole group) on drop.
struct Browser {
    child: Child,
    log: PathBuf,
}

impl Browser {
    /// Chromium on `url`, its profile and log under `dir`.
    fn launch(bin: &Path, dir: &Path, wav: &Path, url: &str) -> Browser {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("chromium.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ])
            .arg(format!("--use-file-for-fake-audio-capture={}", wav.display()))
            .arg("--autoplay-policy=no-user-gesture-required")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        Browser { child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(r: &Value, role: &str) -> Vec<String> {
    r["transcript"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|l| l["role"] == role)
                .map(|l| l["text"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn browser_widget_calls_the_bot_through_control_snippet() {
    let chromium = chromium();
    let t0 = Instant::now();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("widget-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let wav = tmp.join("caller.wav");
    speech_wav(&wav);

    let dp = Dp::start("widget-browser", r#"{"bots": []}"#, &["--providers", "sim"]);
    let ctl = Control::start(dp.http, None);
    let admin = ctl.admin_key.clone();
    let bot = json!({"id": BOT, "name": "Browser bot",
                     "opening_message": "Hello, how can I help you?",
                     "transfer_targets": [{"name": "sales", "destination": "+15550001111", "description": "a person"}]});
    let (s, b) = ctl.req("POST", "/api/v1/bots", &admin, Some(&bot));
    assert_eq!(s, 201, "{b}");
    let widget = json!({"enabled": true, "allowed_domains": ["localhost"]});
    let (s, b) = ctl.req("PUT", &format!("/api/v1/bots/{BOT}/widget"), &admin, Some(&widget));
    assert_eq!(s, 200, "{b}");
    let (s, b) = ctl.req("GET", &format!("/api/v1/bots/{BOT}/widget?reveal=true"), &admin, None);
    assert_eq!(s, 200, "{b}");
    let snippet = b["embed_snippet"].as_str().unwrap().to_owned();
    let key = b["widget_key"].as_str().unwrap();
    assert!(snippet.contains(key), "the revealed snippet carries the key: {snippet}");
    assert!(
        snippet.starts_with(&format!("<script src=\"http://127.0.0.1:{}/widget.js\"", ctl.port)),
        "{snippet}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = format!("http://localhost:{port}");
    let (tx, rx) = mpsc::channel();
    serve_page(listener, page_html(&snippet), tx);

    let browser = Browser::launch(&chromium, &tmp.join("call"), &wav, &format!("{origin}/"));
    let launched = Instant::now();
    let mut log = Vec::new();
    let mut report: Option<Value> = None;
    let mut done: Option<Value> = None;
    while done.is_none() {
        let left = BROWSER_TIMEOUT.saturating_sub(launched.elapsed());
        let Ok((path, body)) = rx.recv_timeout(left) else {
            panic!(
                "no {} from the page within {BROWSER_TIMEOUT:?}; page log {log:?}\nchromium:\n{}",
                if report.is_none() { "report" } else { "hang-up" },
                browser.log_tail()
            );
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        match path.as_str() {
            "/report" => report = Some(v),
            "/done" => done = Some(v),
            _ => log.push(v),
        }
    }
    let browser_secs = launched.elapsed().as_secs_f32();
    drop(browser);
    let stats = report.expect("report before hang-up");
    let done = done.unwrap();
    eprintln!("widget stats {stats}; after stop {done}; page log {log:?}; browser ran {browser_secs:.1} s");

    assert!(
        log.iter().all(|l| l.get("error").is_none() && l["state"] != "error"),
        "page errors: {log:?}"
    );
    assert!(log.iter().any(|l| l["state"] == "in_call"), "{log:?}");
    assert!(
        log.iter().any(|l| l["message"] == "transferring…"),
        "the bot's transfer is shown: {log:?}"
    );
    assert_eq!(done["state"], "ended", "{done}");
    assert_eq!(
        done["button"],
        json!({"label": "Call again", "width": "56px"}),
        "the button is drawn, out of reach of the page's CSS"
    );
    let n = |k: &str| stats[k].as_u64().unwrap_or_else(|| panic!("stats.{k}: {stats}"));
    assert!(n("framesSent") > 200, "microphone frames sent: {stats}");
    assert_eq!(n("bytesSent"), n("framesSent") * 160, "20 ms µ-law frames: {stats}");
    assert!(n("framesReceived") > 100, "bot frames received: {stats}");
    assert!(n("marksEchoed") >= 1, "the greeting mark is echoed: {stats}");
    assert!(
        n("audioPlayedMs") > 1000,
        "the bot's audio plays (the AudioContext output runs headless): {stats}"
    );

    let recs = dp.wait_records(1, Duration::from_secs(15));
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    assert_eq!(r["direction"], "websocket", "{r}");
    assert_eq!(r["bot_id"], BOT, "{r}");
    assert_eq!(r["variables"]["channel"], "widget", "{r}");
    assert_eq!(r["variables"]["widget_origin"], origin.as_str(), "{r}");
    assert_eq!(r["variables"]["page"], format!("{origin}/"), "{r}");
    assert_eq!(r["disconnected_by"], "customer", "{r}");
    let bot_lines = lines_of(r, "bot");
    assert!(
        bot_lines.first().is_some_and(|l| l == "Hello, how can I help you?"),
        "{r}"
    );
    // The sentence lasts over 2.5 s: the sim hears "can I talk to an agent" and transfers; the
    // widget answers `failed` and the bot keeps the caller.
    assert_eq!(
        lines_of(r, "caller").first().map(String::as_str),
        Some(cxb_dataplane::agent::sim::SIM_TRANSFER_TRANSCRIPT),
        "the sim STT heard the fake microphone: {r}"
    );
    assert_eq!(r["was_transferred"], false, "{r}");
    assert_eq!(r["transfer_target"], "sales", "{r}");
    assert_eq!(
        r["transfer_failed_reason"], "web widget calls cannot be transferred",
        "{r}"
    );
    assert!(
        bot_lines
            .iter()
            .any(|l| l == cxb_dataplane::agent::conversation::TRANSFER_FAILED_LINE),
        "{r}"
    );

    // The same page at an IP-literal origin: the dataplane refuses the upgrade (403), the widget
    // shows an error.
    let browser = Browser::launch(
        &chromium,
        &tmp.join("refused"),
        &wav,
        &format!("http://127.0.0.1:{port}/"),
    );
    let end = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let Ok((path, body)) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) else {
            panic!(
                "no error state from the refused page\nchromium:\n{}",
                browser.log_tail()
            );
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        if path == "/log" && v["state"] == "error" {
            break v;
        }
        assert_ne!(path, "/report", "the refused page got a call: {v}");
    };
    drop(browser);
    assert_eq!(refused["message"], "could not connect", "{refused}");
    assert_eq!(dp.records().len(), 1, "a refused upgrade is no call");
    eprintln!(
        "browser widget e2e: {:.1} s in all, browser {browser_secs:.1} s",
        t0.elapsed().as_secs_f32()
    );
}
