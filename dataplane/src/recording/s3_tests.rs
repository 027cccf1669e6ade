//! Recordings to S3 against a real S3-compatible server on loopback (moto, installed by
//! `scripts/bootstrap`, path in `CXB_MOTO_SERVER` from `scripts/env.sh`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3ConfigKey;
use object_store::client::ClientConfigKey;

use super::*;

/// A moto S3 server on a loopback port, killed on drop.
struct Moto {
    child: Child,
}

impl Moto {
    fn start(port: u16) -> Moto {
        let bin = std::env::var_os("CXB_MOTO_SERVER").map(PathBuf::from);
        let bin = match bin {
            Some(b) if b.is_file() => b,
            other => panic!(
                "moto_server not found (CXB_MOTO_SERVER={other:?}): run scripts/bootstrap, then `. scripts/env.sh`"
            ),
        };
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Creates a bucket with a plain unauthenticated `PUT /bucket` (object_store cannot).
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
}

fn target(staging: &Path, port: u16, bucket: &str) -> S3Target {
    S3Target {
        staging: staging.to_path_buf(),
        bucket: bucket.into(),
        prefix: "calls/rec".into(),
        from_env: false,
        settings: vec![
            (AmazonS3ConfigKey::Endpoint, format!("http://127.0.0.1:{port}")),
            (AmazonS3ConfigKey::Region, "us-east-1".into()),
            (AmazonS3ConfigKey::AccessKeyId, "testing".into()),
            (AmazonS3ConfigKey::SecretAccessKey, "testing".into()),
            (AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp), "true".into()),
        ],
    }
}

/// A temporary staging directory, removed (with what is left in it) when the guard drops.
fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("cxb-rec-s3-{name}-"))
        .tempdir()
        .unwrap()
}

/// One second of a call at 16 kHz (50 frames of 20 ms).
fn record(svc: &RecorderService, key: &str) -> RecordingDone {
    let mut h = svc.open(key, 16_000).unwrap();
    for k in 0..50i16 {
        h.push_stereo(&[k; 320], &[-k; 320]);
        if k % 20 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    h.finish()
}

/// GETs the object back through object_store; checks its size and WAV header.
fn assert_object(t: &S3Target, object: &str, bytes: u64) {
    let store = t.build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = rt.block_on(async {
        let path = object_store::path::Path::parse(object).unwrap();
        store.get(&path).await.unwrap().bytes().await.unwrap()
    });
    assert_eq!(body.len() as u64, bytes);
    assert_eq!(bytes, 44 + 50 * 320 * 4);
    let r = hound::WavReader::new(std::io::Cursor::new(body)).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 16_000, 16));
    assert_eq!(r.duration(), 50 * 320);
}

#[test]
fn recording_is_uploaded_to_s3_and_the_staging_file_removed() {
    let port = free_port();
    let _moto = Moto::start(port);
    create_bucket(port, "cxb-rec");
    let staging_dir = tmp("up");
    let staging = staging_dir.path();
    let t = target(staging, port, "cxb-rec");
    let svc = RecorderService::with_storage(Storage::S3(t.clone())).unwrap();
    let info = record(&svc, "2026/11/21/s3-call")
        .wait(Duration::from_secs(60))
        .expect("upload finished")
        .unwrap();
    let object = "calls/rec/2026/11/21/s3-call.wav";
    assert_eq!(
        info.location,
        RecordingLocation::S3 {
            bucket: "cxb-rec".into(),
            object: object.into()
        }
    );
    assert_eq!(info.location.to_string(), format!("s3://cxb-rec/{object}"));
    assert_eq!(info.frames, 50 * 320);
    assert_object(&t, object, info.bytes);
    assert!(!info.path.exists(), "staging file removed after the upload");
    assert!(!staging.join("2026/11/21/s3-call.wav.part").exists());
    assert_eq!(svc.uploads_pending(), 0);
    drop(svc);
}

#[test]
fn recording_kept_while_s3_is_down_is_uploaded_after_a_restart() {
    let port = free_port(); // nothing listens there yet
    let staging_dir = tmp("down");
    let staging = staging_dir.path();
    let t = target(staging, port, "cxb-late");
    let svc = RecorderService::with_storage(Storage::S3(t.clone())).unwrap();
    let done = record(&svc, "2026/11/21/late");
    let file = staging.join("2026/11/21/late.wav");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() || svc.uploads_pending() == 0 {
        assert!(Instant::now() < deadline, "the WAV is finalized locally, then queued");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(done.poll().is_none(), "upload still being retried");
    assert_eq!(svc.uploads_pending(), 1);
    drop(svc); // last attempt fails: the file stays for the next start
    match done.wait(Duration::from_secs(30)) {
        Some(Err(RecordingError::Upload { key, .. })) => assert_eq!(key, "2026/11/21/late"),
        other => panic!("expected an upload error, got {other:?}"),
    }
    assert!(file.exists(), "the recording is kept locally");

    let _moto = Moto::start(port);
    create_bucket(port, "cxb-late");
    let svc = RecorderService::with_storage(Storage::S3(t.clone())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while file.exists() || svc.uploads_pending() > 0 {
        assert!(Instant::now() < deadline, "staged recording uploaded after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_object(&t, "calls/rec/2026/11/21/late.wav", 44 + 50 * 320 * 4);
    drop(svc);
}

#[test]
fn recordings_urls_parse() {
    let staging = Path::new("/data/recordings");
    assert_eq!(
        Storage::from_url("/var/rec", staging).unwrap(),
        Storage::Local {
            root: "/var/rec".into()
        }
    );
    assert_eq!(
        Storage::from_url("file:///var/rec", staging).unwrap(),
        Storage::Local {
            root: "/var/rec".into()
        }
    );
    assert_eq!(
        Storage::from_url("rel/dir", staging).unwrap(),
        Storage::Local { root: "rel/dir".into() }
    );
    let Storage::S3(t) = Storage::from_url("s3://my-bucket/calls/2026/", staging).unwrap() else {
        panic!("s3 target expected")
    };
    assert_eq!((t.bucket.as_str(), t.prefix.as_str()), ("my-bucket", "calls/2026"));
    assert_eq!((t.staging.as_path(), t.from_env), (staging, true));
    assert_eq!(t.object_name("a/b"), "calls/2026/a/b.wav");
    let Storage::S3(t) = Storage::from_url("s3://bkt", staging).unwrap() else {
        panic!("s3 target expected")
    };
    assert_eq!(t.object_name("k"), "k.wav");
    for bad in [
        "s3://",
        "s3://UPPER/x",
        "s3://b/x",
        "s3://bucket/../x",
        "file://rel",
        "http://x/y",
        "",
    ] {
        assert!(
            matches!(Storage::from_url(bad, staging), Err(RecordingError::InvalidUrl { .. })),
            "{bad}"
        );
    }
}

#[test]
fn s3_target_debug_never_shows_credentials() {
    let t = target(Path::new("/tmp/x"), 9, "b");
    let s = format!("{t:?} {}", Storage::S3(t.clone()));
    assert!(!s.contains("testing"), "{s}");
    assert!(s.contains("aws_secret_access_key"), "{s}");
}
