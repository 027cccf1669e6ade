use std::f64::consts::TAU;

use proptest::prelude::*;

use super::*;

const RATE: u32 = 16_000;
/// Samples per 20 ms frame.
const FRAME: usize = 320;

/// A stretch of the scripted callee audio.
#[derive(Clone, Copy)]
enum Seg {
    /// Silence (a little noise) for ms.
    Quiet(u32),
    /// "Speech": noise the VAD flagged as speech, for ms.
    Talk(u32),
    /// A sine at Hz for ms, -12 dBFS, not flagged as speech.
    Tone(f64, u32),
}

/// Deterministic noise generator.
struct Lcg(u32);

impl Lcg {
    fn next(&mut self, amp: f64) -> f64 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (f64::from(self.0 >> 8) / f64::from(1u32 << 24) - 0.5) * 2.0 * amp
    }
}

/// Renders the script into samples and per-frame speech flags.
fn render(script: &[Seg]) -> (Vec<i16>, Vec<bool>) {
    let mut pcm = Vec::new();
    let mut flags = Vec::new();
    let mut rng = Lcg(7);
    for &seg in script {
        let (ms, speech) = match seg {
            Seg::Quiet(ms) | Seg::Tone(_, ms) => (ms, false),
            Seg::Talk(ms) => (ms, true),
        };
        let n = (RATE * ms / 1000) as usize;
        let start = pcm.len();
        for i in 0..n {
            let v = match seg {
                Seg::Quiet(_) => rng.next(30.0),
                Seg::Talk(_) => rng.next(3000.0),
                Seg::Tone(f, _) => 8000.0 * (TAU * f * i as f64 / f64::from(RATE)).sin() + rng.next(30.0),
            };
            pcm.push(v.round() as i16);
        }
        assert_eq!(start % FRAME, 0, "segments are whole frames");
        flags.extend(std::iter::repeat_n(speech, n / FRAME));
    }
    (pcm, flags)
}

fn run_with(cfg: AmdConfig, script: &[Seg]) -> Vec<AmdEvent> {
    let (pcm, flags) = render(script);
    let mut d = AmdDetector::new(cfg).unwrap();
    let mut ev = Vec::new();
    for (frame, &speech) in pcm.chunks(FRAME).zip(&flags) {
        d.process(frame, speech);
        while let Some(e) = d.poll_event() {
            ev.push(e);
        }
    }
    ev
}

fn run(script: &[Seg]) -> Vec<AmdEvent> {
    run_with(AmdConfig::default(), script)
}

fn verdicts(ev: &[AmdEvent]) -> Vec<(Verdict, u64, AmdReason)> {
    ev.iter()
        .filter_map(|e| match *e {
            AmdEvent::Verdict { verdict, at_ms, reason } => Some((verdict, at_ms, reason)),
            _ => None,
        })
        .collect()
}

use Seg::*;

#[test]
fn short_hello_then_waiting_is_a_human() {
    let ev = run(&[Quiet(300), Talk(500), Quiet(3000)]);
    assert_eq!(
        ev,
        vec![AmdEvent::Verdict {
            verdict: Verdict::Human,
            at_ms: 300 + 500 + 800,
            reason: AmdReason::AfterGreetingSilence,
        }]
    );
}

#[test]
fn two_short_words_with_a_gap_are_still_a_human() {
    let ev = run(&[Quiet(400), Talk(400), Quiet(300), Talk(600), Quiet(2000)]);
    assert_eq!(
        verdicts(&ev),
        vec![(
            Verdict::Human,
            400 + 400 + 300 + 600 + 800,
            AmdReason::AfterGreetingSilence
        )]
    );
}

#[test]
fn long_greeting_is_a_machine_and_no_beep_is_reported_after_it() {
    let ev = run(&[Quiet(200), Talk(4000), Quiet(4000)]);
    assert_eq!(
        ev,
        vec![
            AmdEvent::Verdict {
                verdict: Verdict::Machine,
                at_ms: 200 + 1500,
                reason: AmdReason::LongGreeting,
            },
            AmdEvent::NoBeep {
                at_ms: 200 + 4000 + 3000
            },
        ]
    );
}

#[test]
fn many_short_words_are_a_machine() {
    let mut script = vec![Quiet(200)];
    for _ in 0..6 {
        script.extend([Talk(200), Quiet(200)]);
    }
    let v = verdicts(&run(&script));
    // The fourth word is confirmed after min_word_ms of it: 200 + 3 × 400 + 100.
    assert_eq!(v, vec![(Verdict::Machine, 200 + 3 * 400 + 100, AmdReason::MaxWords)]);
}

#[test]
fn silence_is_unknown_by_default_and_configurable() {
    let v = verdicts(&run(&[Quiet(4000)]));
    assert_eq!(v, vec![(Verdict::Unknown, 2500, AmdReason::InitialSilence)]);
    let cfg = AmdConfig {
        initial_silence_verdict: Verdict::Machine,
        initial_silence_ms: 2000,
        ..AmdConfig::default()
    };
    let v = verdicts(&run_with(cfg, &[Quiet(4000)]));
    assert_eq!(v, vec![(Verdict::Machine, 2000, AmdReason::InitialSilence)]);
}

#[test]
fn undecided_after_total_analysis_time_is_unknown() {
    // A word, then blips too short to be words and pauses too short to end the greeting.
    let mut script = vec![Quiet(200), Talk(200)];
    for _ in 0..10 {
        script.extend([Quiet(600), Talk(60)]);
    }
    let v = verdicts(&run(&script));
    assert_eq!(v, vec![(Verdict::Unknown, 5000, AmdReason::Timeout)]);
}

fn beep_at(ev: &[AmdEvent]) -> Vec<u64> {
    ev.iter()
        .filter_map(|e| match *e {
            AmdEvent::Beep { at_ms } => Some(at_ms),
            _ => None,
        })
        .collect()
}

#[test]
fn beep_after_greeting_then_silence_after_beep() {
    for f in [1000.0, 1400.0, 850.0] {
        let ev = run(&[Quiet(200), Talk(3000), Quiet(600), Tone(f, 500), Quiet(1500)]);
        let v = verdicts(&ev);
        assert_eq!(
            v,
            vec![(Verdict::Machine, 1700, AmdReason::LongGreeting)],
            "{f}: {ev:?}"
        );
        let b = beep_at(&ev);
        assert_eq!(b.len(), 1, "{f}: {ev:?}");
        assert!(b[0].abs_diff(3800) <= 20, "{f}: beep at {}", b[0]);
        let after = ev
            .iter()
            .find_map(|e| match *e {
                AmdEvent::SilenceAfterBeep { at_ms } => Some(at_ms),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{f}: {ev:?}"));
        // Beep ends at 4300; 400 ms of silence, plus the tone detector's end latency.
        assert!((4700..=4800).contains(&after), "{f}: silence after beep at {after}");
        assert!(matches!(ev.last(), Some(AmdEvent::SilenceAfterBeep { .. })));
    }
}

#[test]
fn beep_before_any_verdict_is_a_machine() {
    let ev = run(&[Quiet(200), Talk(800), Quiet(300), Tone(1000.0, 400), Quiet(1000)]);
    let v = verdicts(&ev);
    assert_eq!(v.len(), 1, "{ev:?}");
    assert_eq!((v[0].0, v[0].2), (Verdict::Machine, AmdReason::Beep));
    let b = beep_at(&ev);
    assert_eq!(b.len(), 1);
    assert!(b[0].abs_diff(1300) <= 20, "beep at {}", b[0]);
}

#[test]
fn beep_soon_after_a_human_verdict_corrects_it() {
    // "Hi. Leave a message." is short enough to pass for a person; its beep gives it away.
    let ev = run(&[Quiet(300), Talk(900), Quiet(1000), Tone(1000.0, 400), Quiet(1000)]);
    let v = verdicts(&ev);
    assert_eq!(v.len(), 2, "{ev:?}");
    assert_eq!(v[0], (Verdict::Human, 2000, AmdReason::AfterGreetingSilence));
    assert_eq!((v[1].0, v[1].2), (Verdict::Machine, AmdReason::Beep));
    assert!(beep_at(&ev)[0].abs_diff(2200) <= 20, "{ev:?}");
    assert!(matches!(ev.last(), Some(AmdEvent::SilenceAfterBeep { .. })));
    // The same beep after the watch window is not a correction.
    let ev = run(&[Quiet(300), Talk(900), Quiet(3000), Tone(1000.0, 400), Quiet(1000)]);
    assert_eq!(verdicts(&ev).len(), 1, "{ev:?}");
    assert!(beep_at(&ev).is_empty());
}

#[test]
fn noisy_speech_never_reports_a_beep() {
    let ev = run(&[Quiet(200), Talk(6000), Quiet(4000)]);
    assert!(beep_at(&ev).is_empty(), "{ev:?}");
}

#[test]
fn transcript_cue_overrides_a_human_verdict_once() {
    let (pcm, flags) = render(&[Quiet(300), Talk(500), Quiet(3000)]);
    let mut d = AmdDetector::new(AmdConfig::default()).unwrap();
    for (frame, &speech) in pcm.chunks(FRAME).zip(&flags) {
        d.process(frame, speech);
    }
    assert_eq!(d.verdict(), Some(Verdict::Human));
    assert!(!d.is_active());
    d.transcript("Hi there!", 3700);
    d.transcript("Sorry, I can't take your call. Leave a message.", 3800);
    d.transcript("after the beep", 3900);
    let ev: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    assert_eq!(
        verdicts(&ev),
        vec![
            (Verdict::Human, 1600, AmdReason::AfterGreetingSilence),
            (Verdict::Machine, 3800, AmdReason::TranscriptCue),
        ]
    );
    assert!(d.is_active(), "a machine verdict waits for the beep");
}

#[test]
fn transcript_cues() {
    for t in [
        "Please leave a message after the tone.",
        "The person you are calling is NOT AVAILABLE",
        "you've reached Sam's Voice-Mail",
        "Your call has been forwarded to an automated voice messaging system",
        "the MAILBOX is full",
        "Record your message at the tone",
        "Sorry I can’t take your call",
        "unavailable",
    ] {
        assert_eq!(transcript_cue(t), Some(Verdict::Machine), "{t}");
    }
    for t in [
        "",
        "Hello?",
        "hi this is Sam",
        "yeah who's calling",
        "mailboxes",
        "availability",
    ] {
        assert_eq!(transcript_cue(t), None, "{t}");
    }
}

/// `freqs` (Hz, each at -15 dBFS) for `ms`, as 16 kHz samples.
fn sines(freqs: &[f64], ms: u32) -> Vec<i16> {
    let n = (RATE * ms / 1000) as usize;
    let a = 32767.0 * 10f64.powf(-15.0 / 20.0);
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            (a * freqs.iter().map(|f| (TAU * f * t).sin()).sum::<f64>()).round() as i16
        })
        .collect()
}

fn early(pcm: &[i16]) -> Vec<AmdEvent> {
    let mut d = AmdDetector::new(AmdConfig::default()).unwrap();
    let mut ev = Vec::new();
    for frame in pcm.chunks(FRAME) {
        d.process_early(frame);
        while let Some(e) = d.poll_event() {
            ev.push(e);
        }
    }
    ev
}

#[test]
fn early_media_sit_tone_is_recognised_once() {
    let mut pcm = vec![0i16; 3200];
    pcm.extend(sines(&[913.8], 274));
    pcm.extend(sines(&[1370.6], 274));
    pcm.extend(sines(&[1776.7], 380));
    pcm.extend(vec![0i16; 8000]);
    pcm.extend(sines(&[985.2], 380));
    pcm.extend(sines(&[1428.5], 380));
    pcm.extend(sines(&[1776.7], 380));
    pcm.extend(vec![0i16; 8000]);
    let ev = early(&pcm);
    assert_eq!(ev.len(), 1, "{ev:?}");
    match ev[0] {
        AmdEvent::EarlyTone {
            tone: EarlyTone::Sit,
            at_ms,
        } => assert!(at_ms.abs_diff(200) <= 20, "SIT at {at_ms}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn early_media_ringback_and_busy() {
    let mut pcm = sines(&[440.0, 480.0], 2000);
    pcm.extend(vec![0i16; 64_000]);
    pcm.extend(sines(&[440.0, 480.0], 2000));
    pcm.extend(vec![0i16; 16_000]);
    pcm.extend(sines(&[480.0, 620.0], 500));
    pcm.extend(vec![0i16; 8000]);
    let ev = early(&pcm);
    let tones: Vec<_> = ev
        .iter()
        .map(|e| match *e {
            AmdEvent::EarlyTone { tone, at_ms } => (tone, at_ms),
            other => panic!("{other:?}"),
        })
        .collect();
    let want = [
        (EarlyTone::Ringback, 0),
        (EarlyTone::Ringback, 6000),
        (EarlyTone::Busy, 9000),
    ];
    assert_eq!(tones.len(), want.len(), "{tones:?}");
    for (got, want) in tones.iter().zip(want) {
        assert_eq!(got.0, want.0, "{tones:?}");
        assert!(got.1.abs_diff(want.1) <= 20, "{tones:?}");
    }
}

#[test]
fn sit_tones_out_of_order_are_not_a_sit() {
    let mut pcm = sines(&[1776.7], 380);
    pcm.extend(sines(&[1370.6], 380));
    pcm.extend(sines(&[913.8], 380));
    pcm.extend(vec![0i16; 8000]);
    assert!(early(&pcm).is_empty());
}

#[test]
fn config_is_validated() {
    assert_eq!(
        AmdDetector::new(AmdConfig {
            sample_rate: 44_100,
            ..AmdConfig::default()
        })
        .unwrap_err(),
        AmdError::UnsupportedRate { rate: 44_100 }
    );
    assert!(matches!(
        AmdDetector::new(AmdConfig {
            greeting_ms: 0,
            ..AmdConfig::default()
        }),
        Err(AmdError::InvalidConfig {
            field: "greeting_ms",
            ..
        })
    ));
    assert!(matches!(
        AmdConfig {
            max_words: 0,
            ..AmdConfig::default()
        }
        .validate(),
        Err(AmdError::InvalidConfig { field: "max_words", .. })
    ));
    assert!(
        AmdDetector::new(AmdConfig {
            sample_rate: 8000,
            ..AmdConfig::default()
        })
        .is_ok()
    );
}

#[test]
fn works_at_8khz() {
    let cfg = AmdConfig {
        sample_rate: 8000,
        ..AmdConfig::default()
    };
    let mut d = AmdDetector::new(cfg).unwrap();
    let quiet = [0i16; 160];
    let talk: Vec<i16> = (0..160).map(|i| ((i * 7919) % 4001) as i16 - 2000).collect();
    let mut ev = Vec::new();
    for k in 0..200 {
        let speech = (15..40).contains(&k);
        d.process(if speech { &talk } else { &quiet }, speech);
        ev.extend(std::iter::from_fn(|| d.poll_event()));
    }
    assert_eq!(
        verdicts(&ev),
        vec![(Verdict::Human, 1600, AmdReason::AfterGreetingSilence)]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_random_input(
        chunks in prop::collection::vec(
            (prop::collection::vec(any::<i16>(), 0..2000), any::<bool>(), any::<bool>()),
            0..40,
        ),
        text in ".{0,80}",
    ) {
        let mut d = AmdDetector::new(AmdConfig::default()).unwrap();
        for (pcm, speech, early) in &chunks {
            if *early {
                d.process_early(pcm);
            } else {
                d.process(pcm, *speech);
            }
            d.transcript(&text, d.position_ms());
            while let Some(e) = d.poll_event() {
                if let AmdEvent::Verdict { at_ms, .. } | AmdEvent::Beep { at_ms } = e {
                    prop_assert!(at_ms <= d.position_ms());
                }
            }
        }
    }
}
