use std::f64::consts::TAU;

use super::*;
use crate::dtmf::detector_tests::{add_noise, chords, vowels};
use crate::dtmf::vad_dev_tests::{data_dir, events_by_file, read_wav};

/// `freqs` at `level_dbfs` each for `on_ms`, then `off_ms` of silence.
fn sines(rate: u32, freqs: &[f64], level_dbfs: f64, on_ms: u32, off_ms: u32) -> Vec<i16> {
    let a = 32767.0 * 10f64.powf(level_dbfs / 20.0);
    let on = (rate * on_ms / 1000) as usize;
    let mut v: Vec<i16> = (0..on)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let s: f64 = freqs.iter().map(|f| (TAU * f * t).sin()).sum();
            (a * s).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    v.resize(on + (rate * off_ms / 1000) as usize, 0);
    v
}

fn all_specs() -> Vec<ToneSpec> {
    let mut v = ToneSpec::call_progress().to_vec();
    v.push(ToneSpec::voicemail_beep());
    v
}

fn run(rate: u32, specs: &[ToneSpec], pcm: &[i16]) -> Vec<ToneEvent> {
    let mut d = ToneDetector::new(rate, specs, ToneConfig::default()).unwrap();
    let mut ev = Vec::new();
    for chunk in pcm.chunks(123) {
        d.process(chunk, |e| ev.push(e));
    }
    d.finish(|e| ev.push(e));
    ev
}

fn starts(ev: &[ToneEvent]) -> Vec<(ToneKind, f32, u64)> {
    ev.iter()
        .filter_map(|e| match *e {
            ToneEvent::Start { kind, freq_hz, at, .. } => Some((kind, freq_hz, at)),
            ToneEvent::End { .. } => None,
        })
        .collect()
}

#[test]
fn each_preset_detected_alone_with_positions() {
    let cases: [(&[f64], ToneKind, f32); 4] = [
        (&[440.0, 480.0], ToneKind::RingbackUs, 440.0),
        (&[400.0, 450.0], ToneKind::RingbackUk, 400.0),
        (&[480.0, 620.0], ToneKind::Busy, 480.0),
        (&[1000.0], ToneKind::Beep1k, 1000.0),
    ];
    let specs = ToneSpec::call_progress();
    for rate in [8000, 16000] {
        for (freqs, kind, f) in cases {
            let mut pcm = vec![0i16; rate as usize / 5];
            pcm.extend(sines(rate, freqs, -20.0, 400, 300));
            let ev = run(rate, &specs, &pcm);
            assert_eq!(ev.len(), 2, "{kind:?} at {rate}: {ev:?}");
            let tol = u64::from(rate) / 50; // 20 ms
            match (ev[0], ev[1]) {
                (
                    ToneEvent::Start {
                        kind: k0,
                        freq_hz,
                        at: s,
                        ..
                    },
                    ToneEvent::End { kind: k1, at: e, .. },
                ) => {
                    assert_eq!((k0, k1, freq_hz), (kind, kind, f));
                    assert!(s.abs_diff(u64::from(rate) / 5) <= tol, "{kind:?} start {s}");
                    assert!(e.abs_diff(u64::from(rate) * 6 / 10) <= tol, "{kind:?} end {e}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn presets_in_noise() {
    for rate in [8000, 16000] {
        let mut pcm = sines(rate, &[440.0, 480.0], -20.0, 1000, 200);
        pcm.extend(sines(rate, &[480.0, 620.0], -20.0, 500, 500));
        // Each tone RMS ≈ 2317, so the pair ≈ 3277; noise RMS 800 is about 12 dB below.
        add_noise(&mut pcm, 800.0, 99);
        let kinds: Vec<ToneKind> = starts(&run(rate, &ToneSpec::call_progress(), &pcm))
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(kinds, [ToneKind::RingbackUs, ToneKind::Busy], "{rate}");
    }
}

#[test]
fn min_duration_respected() {
    let specs = [ToneSpec::beep_1khz(), ToneSpec::busy()];
    for rate in [8000, 16000] {
        for (freqs, ms, want) in [
            (&[1000.0][..], 120, 0),
            (&[1000.0][..], 180, 1),
            (&[480.0, 620.0][..], 200, 0),
            (&[480.0, 620.0][..], 300, 1),
        ] {
            let pcm = sines(rate, freqs, -15.0, ms, 200);
            assert_eq!(
                starts(&run(rate, &specs, &pcm)).len(),
                want,
                "{freqs:?} {ms} ms at {rate}"
            );
        }
    }
}

#[test]
fn voicemail_beep_found_anywhere_in_band() {
    for rate in [8000, 16000] {
        for f in [425.0, 777.7, 1234.5, 1400.0, 1985.0] {
            let pcm = sines(rate, &[f], -25.0, 300, 100);
            let s = starts(&run(rate, &[ToneSpec::voicemail_beep()], &pcm));
            assert_eq!(s.len(), 1, "{f} Hz at {rate}: {s:?}");
            assert!((f64::from(s[0].1) - f).abs() <= 10.0, "{f} Hz found at {}", s[0].1);
        }
        // Outside the band: nothing.
        let pcm = sines(rate, &[2500.0], -25.0, 300, 100);
        assert!(run(rate, &[ToneSpec::voicemail_beep()], &pcm).is_empty());
    }
}

#[test]
fn speech_and_music_give_no_tones() {
    for rate in [8000, 16000] {
        for seed in 0..3 {
            let ev = run(rate, &all_specs(), &vowels(rate, 6.0, seed));
            assert!(ev.is_empty(), "vowels {seed} at {rate}: {ev:?}");
        }
        let ev = run(rate, &all_specs(), &chords(rate));
        assert!(ev.is_empty(), "chords at {rate}: {ev:?}");
    }
}

#[test]
fn bad_configs_are_typed_errors() {
    let cfg = ToneConfig::default();
    assert_eq!(ToneDetector::new(8000, &[], cfg).unwrap_err(), ToneError::Empty);
    assert_eq!(
        ToneDetector::new(4000, &all_specs(), cfg).unwrap_err(),
        ToneError::UnsupportedRate { rate: 4000 }
    );
    let high = ToneSpec {
        freqs: ToneFreqs::Single(5000.0),
        ..ToneSpec::beep_1khz()
    };
    assert!(matches!(
        ToneDetector::new(8000, &[high], cfg),
        Err(ToneError::FrequencyOutOfRange { .. })
    ));
    let band = ToneSpec {
        freqs: ToneFreqs::Band {
            lo: 100.0,
            hi: 50.0,
            step: 10.0,
        },
        ..ToneSpec::beep_1khz()
    };
    assert!(matches!(
        ToneDetector::new(8000, &[band], cfg),
        Err(ToneError::InvalidBand { .. })
    ));
    let nan = ToneSpec {
        freqs: ToneFreqs::Band {
            lo: 100.0,
            hi: 500.0,
            step: f32::NAN,
        },
        ..ToneSpec::beep_1khz()
    };
    assert!(matches!(
        ToneDetector::new(8000, &[nan], cfg),
        Err(ToneError::InvalidBand { .. })
    ));
    let mut d = ToneDetector::new(8000, &all_specs(), cfg).unwrap();
    d.process(&[i16::MAX; 3000], |_| ());
    d.reset();
    assert_eq!(d.position(), 0);
}

#[test]
fn vad_dev_tones_found_and_no_false_tones() {
    let dir = data_dir();
    let Ok(json) = std::fs::read_to_string(dir.join("synth_meta.json")) else {
        eprintln!("skipped: no vad-dev data at {}", dir.display());
        return;
    };
    let specs = all_specs();
    let expect = |kind: ToneKind| match kind {
        ToneKind::RingbackUs => &["ringback_us"][..],
        ToneKind::RingbackUk => &["ringback_uk"][..],
        ToneKind::Busy => &["busy"][..],
        ToneKind::Beep1k | ToneKind::VoicemailBeep => &["beep"][..],
        ToneKind::Custom => &[][..],
    };
    let (mut events, mut found) = (0, 0);
    for (id, evs) in events_by_file(&json) {
        let (rate, pcm) = read_wav(&dir.join(format!("{id}.wav")));
        let got = starts(&run(rate, &specs, &pcm));
        for &(kind, f, at) in &got {
            let t = at as f64 / f64::from(rate);
            let ok = evs
                .iter()
                .any(|(k, t0, d)| expect(kind).contains(&k.as_str()) && t >= t0 - 0.1 && t <= t0 + d);
            assert!(ok, "{id}: false {kind:?} ({f} Hz) at {t:.2} s; events {evs:?}");
        }
        for (k, t0, d) in evs
            .iter()
            .filter(|e| ["ringback_us", "ringback_uk", "busy", "beep"].contains(&e.0.as_str()))
        {
            events += 1;
            let hit = got.iter().any(|&(kind, _, at)| {
                let t = at as f64 / f64::from(rate);
                expect(kind).contains(&k.as_str()) && t >= t0 - 0.1 && t <= t0 + d
            });
            eprintln!("{id}: {k} at {t0} s: {}", if hit { "found" } else { "missed" });
            found += usize::from(hit);
        }
    }
    eprintln!("vad-dev tones: {found}/{events} found, no false tones");
    assert!(events >= 10 && found >= events - 2, "{found}/{events}");
}
