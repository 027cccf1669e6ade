use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("cxb-fleet-test-{}-{tag}-{n}", std::process::id()))
}

#[test]
fn writer_and_reader_share_updates() {
    let path = temp_path("share");
    let w = FleetWriter::create(&path, 3).unwrap();
    assert_eq!(w.shards(), 3);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), segment_len(3) as u64);
    let r = FleetReader::open(&path).unwrap();
    assert_eq!(r.shards(), 3);
    assert_eq!(r.pid(), std::process::id());

    // Shard 0 works from another thread (ShardSlot is Send).
    let s0 = w.shard(0);
    std::thread::spawn(move || {
        s0.set_capacity(100);
        s0.set_active(7);
        s0.inc_setup();
        s0.inc_setup();
        s0.inc_rejected();
        s0.set_load(2500);
        s0.add_ticks(5, 1);
        s0.add_ticks(5, 0);
        s0.heartbeat(10_000);
    })
    .join()
    .unwrap();
    let s1 = w.shard(1);
    s1.set_capacity(50);
    s1.heartbeat(5_000); // stale at now = 10_000 with 2 s tolerance

    let snap = r.snapshot(10_500, 2_000);
    let a = snap.shards[0];
    assert_eq!(
        (a.capacity, a.active_calls, a.calls_setup_total, a.calls_rejected_total),
        (100, 7, 2, 1)
    );
    assert_eq!(a.cpu_load_permille, 1000);
    assert_eq!((a.ticks_total, a.ticks_late_total), (10, 1));
    assert!(a.healthy);
    assert_eq!(a.free(), 93);
    assert!(!snap.shards[1].healthy);
    assert!(!snap.shards[2].healthy, "never heartbeated");
    assert_eq!(snap.totals.shards, 3);
    assert_eq!(snap.totals.healthy_shards, 1);
    assert_eq!(snap.totals.capacity, 100);
    assert_eq!(snap.totals.free, 93);
    assert_eq!(snap.totals.calls_setup_total, 2);
    assert_eq!(snap.stopped_unix_ms, None);

    // A second reader mapping sees the same; the writer's updates show up in both.
    let r2 = FleetReader::open(&path).unwrap();
    w.shard(1).heartbeat(10_400);
    assert!(r.snapshot(10_500, 2_000).shards[1].healthy);
    assert!(r2.snapshot(10_500, 2_000).shards[1].healthy);

    w.mark_stopped(11_000);
    let snap = r2.snapshot(10_500, 2_000);
    assert_eq!(snap.stopped_unix_ms, Some(11_000));
    assert_eq!(snap.totals.healthy_shards, 0);

    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["shards"][0]["active_calls"], 7);
    assert_eq!(json["totals"]["free"], 0);
    let back: FleetSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, snap);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn recreate_replaces_the_file() {
    let path = temp_path("replace");
    let w1 = FleetWriter::create(&path, 1).unwrap();
    let r1 = FleetReader::open(&path).unwrap();
    let w2 = FleetWriter::create(&path, 2).unwrap();
    w1.shard(0).set_capacity(1);
    w2.shard(0).set_capacity(2);
    assert_eq!(
        r1.snapshot(0, 0).shards[0].capacity,
        1,
        "old mapping keeps the old file"
    );
    let r2 = FleetReader::open(&path).unwrap();
    assert_eq!(r2.shards(), 2);
    assert_eq!(r2.snapshot(0, 0).shards[0].capacity, 2);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_files_are_typed_errors() {
    assert!(matches!(
        FleetWriter::create(temp_path("zero"), 0),
        Err(FleetError::ShardCount { shards: 0 })
    ));
    assert!(matches!(
        FleetReader::open(temp_path("missing")),
        Err(FleetError::Io { op: "open", .. })
    ));
    assert!(matches!(
        FleetWriter::create("/nonexistent-dir/cxb-fleet", 1),
        Err(FleetError::Io { op: "create", .. })
    ));

    let path = temp_path("bad");
    let write = |bytes: &[u8]| {
        let mut f = File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
    };
    write(b"");
    assert!(matches!(
        FleetReader::open(&path),
        Err(FleetError::TooShort { len: 0, needed: 64 })
    ));
    write(&[0u8; 10]);
    assert!(matches!(
        FleetReader::open(&path),
        Err(FleetError::TooShort { len: 10, .. })
    ));

    let mut good = vec![0u8; segment_len(2)];
    good[0..8].copy_from_slice(&MAGIC);
    good[8..16].copy_from_slice(&LAYOUT_VERSION.to_ne_bytes());
    good[16..24].copy_from_slice(&2u64.to_ne_bytes());
    good[24..32].copy_from_slice(&(SLOT_SIZE as u64).to_ne_bytes());
    write(&good);
    assert_eq!(FleetReader::open(&path).unwrap().shards(), 2);

    let mut bad = good.clone();
    bad[0..8].copy_from_slice(b"NOTFLEET");
    write(&bad);
    assert!(matches!(FleetReader::open(&path), Err(FleetError::BadMagic { found }) if &found == b"NOTFLEET"));

    let mut bad = good.clone();
    bad[8..16].copy_from_slice(&99u64.to_ne_bytes());
    write(&bad);
    assert!(matches!(
        FleetReader::open(&path),
        Err(FleetError::Version { found: 99 })
    ));

    let mut bad = good.clone();
    bad[24..32].copy_from_slice(&32u64.to_ne_bytes());
    write(&bad);
    assert!(matches!(
        FleetReader::open(&path),
        Err(FleetError::SlotSize { found: 32 })
    ));

    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&u64::MAX.to_ne_bytes());
    write(&bad);
    assert!(matches!(FleetReader::open(&path), Err(FleetError::ShardCount { .. })));

    // Header says 3 shards, file holds 2.
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&3u64.to_ne_bytes());
    write(&bad);
    assert!(matches!(
        FleetReader::open(&path),
        Err(FleetError::TooShort { len: 192, needed: 256 })
    ));

    // Truncated after the header.
    write(&good[..100]);
    assert!(matches!(
        FleetReader::open(&path),
        Err(FleetError::TooShort { len: 100, needed: 192 })
    ));
    std::fs::remove_file(&path).unwrap();
}

const CHILD_ENV: &str = "CXB_FLEET_TEST_CHILD_PATH";
const CHILD_SETUPS: u64 = 200;

/// Runs only as the child of `child_process_writes_parent_reads`.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let w = FleetWriter::create(&path, 2).unwrap();
    let slot = w.shard(1);
    slot.set_capacity(64);
    for i in 1..=CHILD_SETUPS {
        slot.inc_setup();
        slot.set_active(i % 10);
        slot.heartbeat(now_unix_ms());
        std::thread::sleep(Duration::from_millis(1));
    }
    slot.heartbeat(now_unix_ms());
    // Stay alive until the parent has seen everything (it removes the file), at most 20 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&path).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn child_process_writes_parent_reads() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let path = temp_path("child");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["fleet::tests::child_writer", "--exact", "--test-threads=1", "--quiet"])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let reader = loop {
        match FleetReader::open(&path) {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "child never created the segment: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    assert_eq!(reader.pid(), child.id());
    let mut seen_progress = false;
    let snap = loop {
        let snap = reader.snapshot(now_unix_ms(), 5_000);
        let s = snap.shards[1];
        if s.calls_setup_total > 0 && s.calls_setup_total < CHILD_SETUPS {
            seen_progress = true;
        }
        if s.calls_setup_total == CHILD_SETUPS {
            break snap;
        }
        assert!(Instant::now() < deadline, "child stalled at {}", s.calls_setup_total);
        std::thread::sleep(Duration::from_millis(1));
    };
    std::fs::remove_file(&path).unwrap();
    assert!(child.wait().unwrap().success());
    let s = snap.shards[1];
    assert!(s.healthy);
    assert_eq!(s.capacity, 64);
    assert_eq!(s.active_calls, 0);
    assert_eq!(snap.totals.healthy_shards, 1);
    assert!(!snap.shards[0].healthy);
    // Live updates were visible while the child ran (not only after it exited).
    assert!(seen_progress);
}
