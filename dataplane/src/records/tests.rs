use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cxb_model::{CallDirection, CallRecord, DisconnectedBy, Timestamp};

use super::spool::{decode, encode};
use super::*;

const SECRET: &str = "s3cret";

/// A test's spool directory, `spool` inside a temporary root that also holds the sink's
/// `spool.active` beside it; the root and everything in it go when this is dropped.
struct TempSpool {
    _root: tempfile::TempDir,
    dir: PathBuf,
}

impl std::ops::Deref for TempSpool {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl AsRef<Path> for TempSpool {
    fn as_ref(&self) -> &Path {
        &self.dir
    }
}

fn temp_dir(tag: &str) -> TempSpool {
    let root = tempfile::Builder::new()
        .prefix(&format!("cxb-records-{tag}-"))
        .tempdir()
        .expect("temporary directory");
    let dir = root.path().join("spool");
    TempSpool { _root: root, dir }
}

fn record(id: &str) -> CallRecord {
    let start = Timestamp::from_second(1_700_000_000).unwrap();
    let mut r = CallRecord::new(id, "sales", CallDirection::Inbound, start);
    r.answered_at = Some(Timestamp::from_second(1_700_000_002).unwrap());
    r.finish(Timestamp::from_second(1_700_000_032).unwrap(), DisconnectedBy::Customer);
    r
}

/// Names of spooled record files (not tmp, not bad, not the lock).
fn spooled(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn fast(dir: &Path, control: Option<SocketAddr>) -> RecordSinkConfig {
    RecordSinkConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        ..RecordSinkConfig::new(dir, control.map(|a| format!("http://{a}/")), SECRET)
    }
}

#[derive(Debug, Default)]
struct ServerState {
    fail_first: AtomicU32,
    posts: AtomicU32,
    duplicates: AtomicU32,
    received: Mutex<HashMap<String, u32>>,
    reject: Vec<String>,
}

/// A control stand-in on loopback: 401 without the secret, 503 for the first `fail_first`
/// posts, 422 for ids in `reject`, 409 for ids it already has, else 200.
struct TestServer {
    state: Arc<ServerState>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn calls(State(s): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {SECRET}")) {
        return StatusCode::UNAUTHORIZED;
    }
    s.posts.fetch_add(1, Ordering::SeqCst);
    if s.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(record) = serde_json::from_slice::<CallRecord>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if s.reject.contains(&record.session_id) {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let mut received = s.received.lock().unwrap();
    let count = received.entry(record.session_id).or_insert(0);
    *count += 1;
    if *count > 1 {
        s.duplicates.fetch_add(1, Ordering::SeqCst);
        return StatusCode::CONFLICT;
    }
    StatusCode::OK
}

impl TestServer {
    fn start(addr: SocketAddr, fail_first: u32, reject: &[&str]) -> TestServer {
        let state = Arc::new(ServerState {
            fail_first: AtomicU32::new(fail_first),
            reject: reject.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        });
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route(CALLS_PATH, axum::routing::post(calls))
            .with_state(Arc::clone(&state));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    r = axum::serve(listener, app) => r.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        TestServer {
            state,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn received(&self) -> HashMap<String, u32> {
        self.state.received.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn file_names_encode_session_ids() {
    for id in ["abc-DEF_123", "a/b", "../x", ".hidden", "with space", "ümlaut", "x%41"] {
        let stem = encode(id).unwrap();
        assert!(
            !stem.contains('/') && !stem.starts_with('.') && !stem.contains('.'),
            "{stem}"
        );
        assert_eq!(decode(&stem).as_deref(), Some(id));
    }
    assert_eq!(encode("a/b").unwrap(), "a%2Fb");
    assert_eq!(encode(""), None);
    assert_eq!(encode(&"é".repeat(40)), None);
    assert_eq!(decode("a%2fb"), None, "non-canonical");
    assert_eq!(decode("a b"), None);
    assert_eq!(decode("a%4"), None);
}

#[test]
fn spool_put_list_get_remove() {
    let dir = temp_dir("spool");
    let spool = Spool::open(&*dir).unwrap();
    let ids = ["call-1", "call/2", "call 3"];
    for id in ids {
        spool.put(&record(id)).unwrap();
    }
    let mut listed = spool.list().unwrap();
    listed.sort();
    assert_eq!(listed, vec!["call 3", "call-1", "call/2"]);
    assert_eq!(spool.get("call/2").unwrap().unwrap(), record("call/2"));
    assert!(spool.get("nope").unwrap().is_none());
    // Overwrite keeps one file.
    let mut updated = record("call-1");
    updated.sip_status = Some(200);
    spool.put(&updated).unwrap();
    assert_eq!(spool.get("call-1").unwrap().unwrap().sip_status, Some(200));
    spool.remove("call-1").unwrap();
    spool.remove("call-1").unwrap();
    assert_eq!(spooled(&dir).len(), 2);
    assert!(matches!(
        spool.put(&record("")),
        Err(SpoolError::BadSessionId { len: 0 })
    ));
    assert!(matches!(Spool::open(&*dir), Err(SpoolError::Locked { .. })));
    drop(spool);
    Spool::open(&*dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spool_moves_corrupt_and_foreign_files_aside() {
    let dir = temp_dir("corrupt");
    let spool = Spool::open(&*dir).unwrap();
    spool.put(&record("good")).unwrap();
    std::fs::write(dir.join("broken.json"), b"{\"session_id\": \"bro").unwrap();
    std::fs::write(
        dir.join("other.json"),
        serde_json::to_vec(&record("not-other")).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("foreign name.json"), b"{}").unwrap();
    let mut ids = spool.list().unwrap();
    ids.sort();
    assert_eq!(ids, vec!["broken", "good", "other"]);
    assert!(matches!(spool.get("broken"), Err(SpoolError::Corrupt { .. })));
    assert!(matches!(spool.get("other"), Err(SpoolError::Corrupt { reason, .. }) if reason.contains("not-other")));
    // A second corrupt copy under the same name does not overwrite the first.
    std::fs::write(dir.join("broken.json"), b"again").unwrap();
    let second = spool.get("broken");
    assert!(matches!(&second, Err(SpoolError::Corrupt { moved_to, .. }) if moved_to.ends_with("broken.json.1.bad")));
    let bad: Vec<String> = spool
        .bad_files()
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        bad,
        vec![
            "broken.json.1.bad",
            "broken.json.bad",
            "foreign name.json.bad",
            "other.json.bad"
        ]
    );
    assert_eq!(std::fs::read(dir.join("broken.json.1.bad")).unwrap(), b"again");
    assert_eq!(spool.list().unwrap(), vec!["good"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spool_recovers_tmp_files_after_a_crash() {
    let dir = temp_dir("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".done.json.tmp"), serde_json::to_vec(&record("done")).unwrap()).unwrap();
    std::fs::write(dir.join(".half.json.tmp"), b"{\"session_id\":").unwrap();
    let spool = Spool::open(&*dir).unwrap();
    assert_eq!(spool.list().unwrap(), vec!["done"]);
    assert_eq!(spool.get("done").unwrap().unwrap(), record("done"));
    assert_eq!(spool.bad_files().unwrap(), vec![dir.join(".half.json.tmp.bad")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn backoff_doubles_and_is_capped() {
    let b = |n| delivery::backoff(Duration::from_millis(500), Duration::from_secs(30), n);
    assert_eq!(b(1), Duration::from_millis(500));
    assert_eq!(b(2), Duration::from_secs(1));
    assert_eq!(b(4), Duration::from_secs(4));
    assert_eq!(b(7), Duration::from_secs(30));
    assert_eq!(b(u32::MAX), Duration::from_secs(30));
}

#[test]
fn bad_control_url_is_refused() {
    let dir = temp_dir("badurl");
    for url in ["ftp://x", "not a url", "http://"] {
        let cfg = RecordSinkConfig::new(&*dir, Some(url.into()), SECRET);
        assert!(
            matches!(RecordSink::start(cfg), Err(RecordsError::BadControlUrl { .. })),
            "{url}"
        );
    }
    assert!(format!("{:?}", RecordSinkConfig::new(&*dir, None, SECRET)).contains("<redacted>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_control_records_stay_spooled_and_shutdown_spools_the_queue() {
    let dir = temp_dir("embedded");
    let sink = RecordSink::start(fast(&dir, None)).unwrap();
    for i in 0..50 {
        sink.submit(record(&format!("e{i:02}"))).unwrap();
    }
    sink.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(spooled(&dir).len(), 50);
    for i in 50..60 {
        sink.submit(record(&format!("e{i:02}"))).unwrap();
    }
    let stats = sink.shutdown(Duration::ZERO);
    assert_eq!(
        (stats.submitted, stats.spooled, stats.pending, stats.delivered),
        (60, 60, 60, 0)
    );
    assert_eq!(spooled(&dir).len(), 60);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn delivers_every_record_exactly_once_through_503s() {
    let server = TestServer::start(loopback(), 5, &[]);
    let dir = temp_dir("503");
    let sink = RecordSink::start(fast(&dir, Some(server.addr))).unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("call-{i:02}")).collect();
    for id in &ids {
        sink.submit(record(id)).unwrap();
    }
    wait_until("all delivered", Duration::from_secs(30), || {
        sink.stats().delivered == 20
    });
    let received = server.received();
    assert_eq!(received.len(), 20);
    for id in &ids {
        assert_eq!(received.get(id), Some(&1), "{id}");
    }
    let stats = sink.shutdown(Duration::from_secs(1));
    assert_eq!(stats.failed_attempts, 5);
    assert_eq!((stats.pending, stats.duplicates, stats.rejected), (0, 0, 0));
    assert_eq!(server.state.duplicates.load(Ordering::SeqCst), 0);
    assert!(spooled(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn record_submitted_while_control_is_down_arrives_when_it_comes_up() {
    // A free port with nothing listening.
    let addr = std::net::TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
    let dir = temp_dir("down");
    let sink = RecordSink::start(fast(&dir, Some(addr))).unwrap();
    sink.submit(record("early")).unwrap();
    sink.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(spooled(&dir), vec!["early.json"]);
    wait_until("failed attempts", Duration::from_secs(10), || {
        sink.stats().failed_attempts >= 2
    });
    let server = TestServer::start(addr, 0, &[]);
    wait_until("delivery after control came up", Duration::from_secs(10), || {
        sink.stats().delivered == 1
    });
    assert_eq!(server.received().get("early"), Some(&1));
    drop(sink);
    assert!(spooled(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restart_resends_records_left_in_the_spool() {
    let dir = temp_dir("restart");
    // First process: control unknown; records accumulate, then it stops.
    let first = RecordSink::start(fast(&dir, None)).unwrap();
    for id in ["left-1", "left-2", "left-3"] {
        first.submit(record(id)).unwrap();
    }
    drop(first);
    assert_eq!(spooled(&dir).len(), 3);
    // A crash left a corrupt file and a complete tmp file behind.
    std::fs::write(dir.join("torn.json"), b"{\"session_id\":\"torn\",").unwrap();
    std::fs::write(
        dir.join(".left-4.json.tmp"),
        serde_json::to_vec(&record("left-4")).unwrap(),
    )
    .unwrap();

    let server = TestServer::start(loopback(), 0, &[]);
    let second = RecordSink::start(fast(&dir, Some(server.addr))).unwrap();
    wait_until("leftovers re-sent", Duration::from_secs(10), || {
        second.stats().delivered == 4
    });
    let stats = second.shutdown(Duration::from_secs(1));
    assert_eq!(stats.corrupt, 1);
    assert_eq!(stats.pending, 0);
    let mut got: Vec<String> = server.received().into_keys().collect();
    got.sort();
    assert_eq!(got, vec!["left-1", "left-2", "left-3", "left-4"]);
    assert!(spooled(&dir).is_empty());
    assert!(dir.join("torn.json.bad").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn already_delivered_records_count_as_duplicates_and_leave_the_spool() {
    let server = TestServer::start(loopback(), 0, &[]);
    server.state.received.lock().unwrap().insert("seen".into(), 1);
    let dir = temp_dir("dup");
    let sink = RecordSink::start(fast(&dir, Some(server.addr))).unwrap();
    sink.submit(record("seen")).unwrap();
    wait_until("409 handled", Duration::from_secs(10), || sink.stats().duplicates == 1);
    let stats = sink.shutdown(Duration::ZERO);
    assert_eq!((stats.delivered, stats.pending), (0, 0));
    assert!(spooled(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rejected_record_stays_spooled_without_blocking_others() {
    let server = TestServer::start(loopback(), 0, &["poison"]);
    let dir = temp_dir("reject");
    let sink = RecordSink::start(fast(&dir, Some(server.addr))).unwrap();
    sink.submit(record("poison")).unwrap();
    for i in 0..5 {
        sink.submit(record(&format!("ok-{i}"))).unwrap();
    }
    wait_until("others delivered", Duration::from_secs(10), || {
        sink.stats().delivered == 5
    });
    let stats = sink.shutdown(Duration::ZERO);
    assert!(stats.rejected >= 1);
    assert_eq!(stats.pending, 1);
    assert_eq!(spooled(&dir), vec!["poison.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_secret_keeps_records_and_retries() {
    let server = TestServer::start(loopback(), 0, &[]);
    let dir = temp_dir("secret");
    let mut cfg = fast(&dir, Some(server.addr));
    cfg.secret = "wrong".into();
    let sink = RecordSink::start(cfg).unwrap();
    sink.submit(record("kept")).unwrap();
    wait_until("retries", Duration::from_secs(10), || sink.stats().failed_attempts >= 2);
    let stats = sink.shutdown(Duration::ZERO);
    assert_eq!((stats.delivered, stats.pending), (0, 1));
    assert_eq!(spooled(&dir), vec!["kept.json"]);
    assert!(server.received().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
