//! End-to-end: `cxb call` (and baresip) calling the demo bot of a real `cxb dataplane` process
//! on loopback. Checks the greeting arrives (non-silent audio, and words pocketsphinx
//! recognises), that impairments on our send path show up in the dataplane's call record, and
//! that failures give a one-line reason and a non-zero exit.
//!
//! pocketsphinx 0.8 (`pocketsphinx_continuous`) with its full English language model is too
//! weak on espeak-ng voices to be asserted on ("oh it does not see a we don't got"), so it runs
//! with a small grammar of ~40 call-centre words ([`GRAMMAR`]): over wideband (G.722) it then
//! hears "hello this is … demo bot" every time, hears none of them in a tone or noise, and other
//! sentences come out as other words. Over 8 kHz G.711 it fails even so, which is why
//! `cxb call` offers G.722 first and baresip loads g722 first.

mod dp_harness;
mod phone_harness;
mod sip_harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dp_harness::Dp;
use phone_harness::{cxb_call, recognise, wait_output};
use sip_harness::free_port;

const BOTS: &str = r#"{
  "bots": [
    {"id": "demo", "name": "Demo", "opening_message": "Hello, this is the cxb demo bot.",
     "answer_delay_ms": 100, "record": true}
  ]
}"#;

/// Distinctive words of the greeting; at least two must be recognised.
const GREETING_WORDS: [&str; 3] = ["hello", "demo", "bot"];

/// The recogniser's vocabulary: the greeting's words among call-centre distractors.
const GRAMMAR: &str = "#JSGF V1.0;\ngrammar words;\npublic <utt> = <w>*;\n<w> = hello | this | is | the | demo \
    | bot | yes | no | goodbye | thank | you | please | one | two | three | four | five | six | seven | eight | nine \
    | ten | sorry | help | call | back | later | what | time | name | number | account | morning | good | welcome \
    | agent | transfer | hold | minute | card;\n";

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("softphone-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stereo 44.1 kHz float WAV (exercises the softphone's conversion) of a quiet 300 Hz tone.
fn write_mic(path: &Path, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(44_100.0 * seconds) as usize {
        let s = (i as f32 * 300.0 * std::f32::consts::TAU / 44_100.0).sin() * 0.1;
        w.write_sample(s).unwrap();
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// Seconds of 20 ms frames whose RMS is above -40 dBFS, and the WAV's rate.
fn voiced_seconds(path: &Path) -> (f64, u32) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!(spec.channels, 1, "{}", path.display());
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let frame = spec.sample_rate as usize / 50;
    let voiced = samples
        .chunks_exact(frame)
        .filter(|f| {
            let e: f64 = f.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / f.len() as f64;
            e.sqrt() > 328.0
        })
        .count();
    (voiced as f64 * 0.02, spec.sample_rate)
}

fn assert_greeting(path: &Path) {
    let (voiced, rate) = voiced_seconds(path);
    assert!(
        voiced >= 1.5,
        "{}: only {voiced:.2} s of non-silent audio",
        path.display()
    );
    assert_eq!(rate, 16_000);
    let text = recognise(path, GRAMMAR);
    let heard = GREETING_WORDS
        .iter()
        .filter(|g| text.split_whitespace().any(|w| w == **g))
        .count();
    assert!(
        heard >= 2,
        "fewer than two of {GREETING_WORDS:?} recognised in {}: {text:?}",
        path.display()
    );
}

fn by(r: &serde_json::Value) -> &str {
    r["disconnected_by"].as_str().unwrap_or("")
}

#[test]
fn cxb_call_hears_the_greeting_and_hangs_up() {
    let dp = Dp::start("softphone", BOTS, &[]);
    let dir = tmp("plain");
    let (mic, rec) = (dir.join("mic.wav"), dir.join("out.wav"));
    write_mic(&mic, 2.0);
    let target = format!("sip:demo@127.0.0.1:{}", dp.sip);
    let out = cxb_call(
        &[
            &target,
            "--play",
            mic.to_str().unwrap(),
            "--record",
            rec.to_str().unwrap(),
            "--seconds",
            "4",
        ],
        Duration::from_secs(20),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.starts_with("answered; ended by us; 4.0 s; packets in "),
        "{stdout}"
    );
    assert_greeting(&rec);
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    // The microphone is silent: the caller hung up without ever speaking (RNR).
    assert_eq!(by(r), "RNR", "{r}");
    assert_eq!(r["from_number"], "cxb");
    assert!(r["quality"]["packets_in"].as_u64().unwrap_or(0) > 100, "{r}");
    assert_eq!(r["quality"]["packets_lost"], 0, "{r}");

    // Over TCP as well.
    let out = cxb_call(
        &[&target, "--tcp", "--seconds", "1", "--from", "tcpcaller"],
        Duration::from_secs(15),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = dp.wait_records(2, Duration::from_secs(10));
    assert!(
        recs.iter().any(|r| r["from_number"] == "tcpcaller" && by(r) == "RNR"),
        "{recs:?}"
    );

    // A refusal: non-zero exit and a one-line reason.
    let nobody = format!("sip:nobody@127.0.0.1:{}", dp.sip);
    let out = cxb_call(&[&nobody, "--seconds", "1"], Duration::from_secs(15));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l == "call failed: 404 Not Found"), "{stderr}");
}

#[test]
fn impaired_call_keeps_going_and_losses_are_recorded() {
    let dp = Dp::start("impaired", BOTS, &[]);
    let dir = tmp("impaired");
    let rec = dir.join("out.wav");
    let target = format!("sip:demo@127.0.0.1:{}", dp.sip);
    let out = cxb_call(
        &[
            &target,
            "--record",
            rec.to_str().unwrap(),
            "--seconds",
            "5",
            "--impair",
            "loss=5,reorder=5,dup=2,jitter=40",
            "--seed",
            "7",
        ],
        Duration::from_secs(25),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("; impaired: dropped "), "{stdout}");
    assert_greeting(&rec);
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    // A quiet 300 Hz tone is not speech: the caller never spoke (RNR).
    assert_eq!(by(r), "RNR", "{r}");
    let q = &r["quality"];
    assert!(q["packets_lost"].as_u64().unwrap_or(0) > 0, "{q}");
    assert!(q["packets_in"].as_u64().unwrap_or(0) > 150, "{q}");
}

#[test]
fn baresip_calls_the_demo_bot_and_hears_the_greeting() {
    let dp = Dp::start("baresip", BOTS, &[]);
    let dir = tmp("baresip");
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    // baresip's aufile source ends the call at the end of the file: 6 s of a quiet tone.
    let mic = dir.join("mic.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&mic, spec).unwrap();
    for i in 0..16_000 * 6 {
        w.write_sample(((i as f32 * 0.1178).sin() * 1000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    let port = free_port();
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{port}\naudio_source aufile,{mic}\naudio_alert aufile,/dev/null\n\
         module_path /usr/lib/baresip/modules\nmodule g722.so\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\n\
         module_app account.so\nmodule_app menu.so\nsnd_path {dir}\n",
        mic = mic.display(),
        dir = dir.display()
    );
    std::fs::write(conf.join("config"), config).unwrap();
    std::fs::write(conf.join("accounts"), "<sip:baresip@127.0.0.1>;regint=0\n").unwrap();
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .args(["-e", &format!("/dial sip:demo@127.0.0.1:{}", dp.sip), "-t", "12"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baresip is installed by scripts/bootstrap");
    let out = wait_output(child, Duration::from_secs(25));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Call established"), "{log}");
    // sndfile dumps what baresip decoded as dump-<time>-dec.wav (16 kHz mono for G.722).
    let dec = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("no decoded-audio dump from baresip: {log}"));
    assert_greeting(&dec);
    let recs = dp.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "{recs:?}");
    // baresip's microphone is silent here: the caller never spoke (RNR).
    assert_eq!(by(&recs[0]), "RNR", "{}", recs[0]);
    assert!(
        recs[0]["quality"]["packets_in"].as_u64().unwrap_or(0) > 100,
        "{}",
        recs[0]
    );
}
