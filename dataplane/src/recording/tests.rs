//! Recorder: key validation, stereo WAV contents and length, finish/drop, overflow.

use std::time::Duration;

use super::*;

/// A temporary recordings root, removed (even when the test fails) when the guard drops.
fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("cxb-rec-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn keys_must_be_safe_relative_paths() {
    for ok in ["2026/11/21/abc-123", "x", "a.b_c-d/e"] {
        assert!(validate_key(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "/etc/passwd",
        "../x",
        "a/../b",
        "a//b",
        "a/./b",
        "a\\b",
        "c:x",
        "a b",
        "a/",
    ] {
        assert!(
            matches!(validate_key(bad), Err(RecordingError::InvalidKey { .. })),
            "{bad}"
        );
    }
}

#[test]
fn writes_a_stereo_wav_of_the_right_length() {
    let dir = tmp("wav");
    let root = dir.path();
    let svc = RecorderService::start(root).unwrap();
    assert!(matches!(
        svc.open("../evil", 16_000),
        Err(RecordingError::InvalidKey { .. })
    ));
    assert!(matches!(
        svc.open("ok", 11_025),
        Err(RecordingError::UnsupportedRate { .. })
    ));
    let mut h = svc.open("2026/11/21/session-1", 16_000).unwrap();
    // 3 s of 20 ms frames: caller ramps, bot constant; one short bot frame padded.
    for k in 0..150i16 {
        let caller = [k; 320];
        let bot = if k == 10 { &[-7i16; 100][..] } else { &[-7i16; 320][..] };
        h.push_stereo(&caller, bot);
        if k % 50 == 0 {
            // The ring holds 2 s: 300 ms per second pushed leaves the writer a wide margin
            // even on a loaded machine (30 ms was once too little under a parallel build).
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    assert_eq!(h.dropped_frames(), 0, "the writer kept up");
    let done = h.finish();
    let info = done.wait(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(info.frames, 150 * 320);
    assert_eq!(info.duration, Duration::from_secs(3));
    assert_eq!(info.bytes, 44 + 150 * 320 * 4);
    assert_eq!(info.path, root.join("2026/11/21/session-1.wav"));
    assert_eq!(info.location, RecordingLocation::Local(info.path.clone()));
    assert_eq!(info.location.to_string(), info.path.display().to_string());
    assert!(
        !root.join("2026/11/21/session-1.wav.part").exists(),
        "renamed into place"
    );
    let mut r = hound::WavReader::open(&info.path).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 16_000, 16));
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(&s[..4], &[0, -7, 0, -7]);
    assert_eq!(s[2 * (10 * 320 + 100) + 1], 0, "short bot frame padded with silence");
    assert_eq!(s[2 * 149 * 320], 149);
    drop(svc);
}

#[test]
fn dropped_handle_and_service_shutdown_finalize_files() {
    let dir = tmp("drop");
    let root = dir.path();
    let svc = RecorderService::start(root).unwrap();
    let mut h = svc.open("a/b", 8000).unwrap();
    h.push_stereo(&[1; 160], &[2; 160]);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        root.join("a/b.wav.part").exists(),
        "written under .part until finalized"
    );
    assert!(!root.join("a/b.wav").exists());
    drop(h);
    let mut h2 = svc.open("c", 8000).unwrap();
    h2.push_stereo(&[1; 160], &[2; 160]);
    drop(svc); // joins the writer, which finalizes "c" too
    for p in ["a/b.wav", "c.wav"] {
        let r = hound::WavReader::open(root.join(p)).unwrap();
        assert_eq!(r.duration(), 160, "{p}");
    }
    // The handle outlived the service: pushing and finishing do not panic.
    h2.push_stereo(&[1; 160], &[2; 160]);
    assert!(matches!(h2.finish().poll(), Some(Err(RecordingError::Stopped))));
}

#[test]
fn a_full_ring_drops_frames_without_blocking() {
    let dir = tmp("full");
    let root = dir.path();
    let svc = RecorderService::start(root).unwrap();
    let mut h = svc.open("big", 8000).unwrap();
    // 2 s ring; 10 s pushed at once: most is dropped and counted, nothing blocks.
    for _ in 0..500 {
        h.push_stereo(&[3; 160], &[4; 160]);
    }
    assert!(h.dropped_frames() > 0);
    let dropped = h.dropped_frames();
    let info = h.finish().wait(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(info.dropped_frames, dropped);
    assert_eq!(info.frames + dropped, 500 * 160);
}
