//! `cxb load` end to end (the real binary spawning a real dataplane on loopback, bounded in
//! calls and time), and the per-call media state: its size, and allocations per call-second on
//! the media path (`RtpMedia::on_rtp` + `tick`) counted by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cxb_dataplane::media::{MediaCodec, RtpMedia, RtpMediaConfig};

/// Counts allocations (and bytes) made on a thread while its [`COUNTING`] flag is on (other
/// tests run on other threads at the same time and are not counted).
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Sizes of the counted allocations of at least 1 KiB (the first 32), to show where a call's
/// memory goes.
static BIG: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
static BIG_N: AtomicU64 = AtomicU64::new(0);

fn note(size: usize) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    if size >= 1024 {
        let i = BIG_N.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(slot) = BIG.get(i) {
            slot.store(size as u64, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is the system allocator's; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            note(layout.size());
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            note(layout.size());
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every path above forwards).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size.saturating_sub(layout.size()) as u64, Ordering::Relaxed);
        }
        // SAFETY: `ptr`/`layout` come from `System` through us; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    ALLOCS.store(0, Ordering::SeqCst);
    BYTES.store(0, Ordering::SeqCst);
    BIG_N.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst))
}

/// Writes a PCMU packet into `p` (no allocation: the counted loop must only see the media path's).
fn pcmu_packet(p: &mut [u8; 172], seq: u16, ts: u32, speech: bool) {
    p[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    for (n, b) in p[12..].iter_mut().enumerate() {
        let t = (n as f32 + ts as f32) / 8000.0;
        let x = if speech {
            ((t * 2.0 * std::f32::consts::PI * 220.0).sin() * 6000.0) as i16
        } else {
            0
        };
        *b = cxb_dsp::g711::ulaw_encode(x);
    }
}

/// One call's media for `frames` 20 ms frames: a caller packet in, a tick (bot packet out).
fn run_frames(m: &mut RtpMedia, from: SocketAddr, first: u32, frames: u32, out: &mut u64) {
    for i in first..first + frames {
        let now = Duration::from_millis(20 * u64::from(i));
        let speech = (i / 50) % 2 == 0; // 1 s talk, 1 s silence
        let mut pkt = [0u8; 172];
        pcmu_packet(&mut pkt, i as u16, i * 160, speech);
        m.on_rtp(now, from, &pkt);
        m.tick(now, &mut |_, _| *out += 1);
        while m.poll_event().is_some() {}
    }
}

#[test]
fn media_path_allocations_per_call_second_and_state_size() {
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut cfg = RtpMediaConfig::new(MediaCodec::Pcmu, 0x1234_5678, Duration::ZERO);
    cfg.remote_rtp = Some(from);
    cfg.remote_trusted = true;
    // A first call warms what every call shares (the VAD's FFT plan; the per-thread DSP scratch
    // is made by the warm-up frames below): the second one's allocations are what each call adds.
    drop(RtpMedia::new(cfg.clone()).expect("PCMU media"));
    let (m, setup_allocs, setup_bytes) = counted(|| RtpMedia::new(cfg).expect("PCMU media"));
    let n = (BIG_N.load(Ordering::SeqCst) as usize).min(BIG.len());
    let mut big: Vec<u64> = BIG[..n].iter().map(|b| b.load(Ordering::SeqCst)).collect();
    big.sort_unstable_by(|a, b| b.cmp(a));
    println!("allocations of 1 KiB or more at set-up (B): {big:?}");
    let mut m = m;
    let mut sent = 0u64;
    // Bot audio queued as a greeting would be (4 s), then warm up 2 s.
    let greeting: Vec<i16> = (0..64_000).map(|i| ((i % 80) as i16 - 40) * 100).collect();
    m.downlink_mut().push_bot_audio(&greeting);
    run_frames(&mut m, from, 0, 100, &mut sent);
    let ((), allocs, bytes) = counted(|| run_frames(&mut m, from, 100, 250, &mut sent));
    let per_call_s = allocs as f64 / 5.0;
    println!(
        "per-call media state: size_of::<RtpMedia>() = {} B, heap at set-up = {} B in {} allocations; \
         steady state: {per_call_s:.1} allocations ({} B) per call-second; {sent} packets sent",
        std::mem::size_of::<RtpMedia>(),
        setup_bytes,
        setup_allocs,
        bytes / 5
    );
    assert!(sent >= 340, "bot packets go out every tick: {sent}");
    // Issue 7's budget for a call's steady state (queued bot audio and recording excluded).
    let state = std::mem::size_of::<RtpMedia>() as u64 + setup_bytes;
    assert!(state <= 64 * 1024, "per-call media state {state} B is over 64 KiB");
    assert_eq!(allocs, 0, "the media path allocates {per_call_s} times per call-second");
}

/// An Opus call's state at set-up (the codec's own C state, allocated by libopus, aside): the
/// jitter buffer keeps 320 B per slot and takes larger packets into overflow entries, so an
/// Opus call no longer pays 32 × 1,275 B for slots it rarely fills.
#[test]
fn opus_media_state_at_setup_is_under_64_kib() {
    let from: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let mut cfg = RtpMediaConfig::new(MediaCodec::Opus, 0x1234_5679, Duration::ZERO);
    cfg.remote_rtp = Some(from);
    drop(RtpMedia::new(cfg.clone()).expect("Opus media"));
    let (m, allocs, bytes) = counted(|| RtpMedia::new(cfg).expect("Opus media"));
    let state = std::mem::size_of::<RtpMedia>() as u64 + bytes;
    println!("Opus media state: {state} B ({bytes} B heap in {allocs} allocations)");
    drop(m);
    assert!(state <= 64 * 1024, "Opus per-call media state {state} B is over 64 KiB");
}

fn cxb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cxb"))
}

fn final_line(stdout: &str, prefix: &str) -> Vec<(String, String)> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stdout}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> &'a str {
    kv.iter()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {k}= in {kv:?}"))
}

#[test]
fn spawned_run_of_20_calls_sets_up_every_call_and_prints_a_parsable_line() {
    let out = cxb()
        .args(["load", "--spawn", "--calls", "20", "--rate", "20", "--hold", "3"])
        .args(["--rtp-ports", "30100-30400", "--nice", "0"])
        .output()
        .expect("cxb binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cxb load failed:\n{stdout}\n{stderr}");
    let kv = final_line(&stdout, "load: calls=");
    assert_eq!(get(&kv, "calls"), "20");
    assert_eq!(get(&kv, "ok").parse::<f64>().unwrap(), 100.0, "{stdout}");
    assert_eq!(get(&kv, "loss").parse::<f64>().unwrap(), 0.0, "{stdout}");
    for k in [
        "setup_p50_ms",
        "setup_p99_ms",
        "jitter_p50_ms",
        "jitter_p99_ms",
        "jitter_max_ms",
        "late",
    ] {
        assert!(get(&kv, k).parse::<f64>().is_ok(), "{k} in {stdout}");
    }
    let cpu: f64 = get(&kv, "cpu_us_per_call_s").parse().expect("CPU measured");
    assert!(cpu > 0.0);
    assert!(get(&kv, "rss_kb_per_call").parse::<f64>().is_ok());
}

/// A call holds 4 open files and an idle dataplane ≈ 25, so a soft limit of 64 would refuse calls
/// past ≈ 10 with 503. `cxb` raises its soft limit to the hard one at start (the spawned dataplane
/// inherits it), so all 20 calls are set up.
#[test]
fn a_low_soft_open_file_limit_is_raised_so_every_call_is_set_up() {
    let out = Command::new("prlimit")
        .args(["--nofile=64:4096", env!("CARGO_BIN_EXE_cxb")])
        .args(["load", "--spawn", "--calls", "20", "--rate", "20", "--hold", "2"])
        .args(["--rtp-ports", "30900-31200", "--nice", "0"])
        .output()
        .expect("prlimit (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cxb load failed:\n{stdout}\n{stderr}");
    let kv = final_line(&stdout, "load: calls=");
    assert_eq!(get(&kv, "refused_503"), "0", "{stdout}");
    assert_eq!(get(&kv, "ok").parse::<f64>().unwrap(), 100.0, "{stdout}");
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let out = cxb().args(["load", "--calls", "10"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--target"), "{err}");
    let out = cxb().args(["load", "--spawn", "--calls", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--calls"));
    let out = cxb().args(["load", "--spawn", "--rate", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
}

#[test]
fn find_max_with_a_tiny_ceiling_terminates_with_a_result_line() {
    let out = cxb()
        .args([
            "load",
            "--find-max",
            "--cores",
            "1",
            "--start",
            "10",
            "--max",
            "40",
            "--hold",
            "1",
        ])
        .args(["--rtp-ports", "30500-30800", "--nice", "0", "--budget", "120"])
        .output()
        .expect("cxb binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kv = final_line(&stdout, "load: find_max");
    let n: u32 = get(&kv, "max_calls_per_core").parse().unwrap();
    assert!(n <= 40, "{stdout}");
    assert!(stdout.contains("find-max: N=10"), "{stdout}");
}
