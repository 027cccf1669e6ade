//! Uplink and Downlink unit tests.

use std::time::Duration;

use cxb_dsp::vad::VadConfig;

use super::downlink::DOWNLINK_CAPACITY;
use super::*;

/// A tone at `freq` Hz, `n` samples at `rate`, starting at sample `start`.
pub(crate) fn tone(freq: f64, rate: u32, start: usize, n: usize, amp: f64) -> Vec<i16> {
    (start..start + n)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as i16)
        .collect()
}

pub(crate) fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

fn drain(d: &mut Downlink) -> Vec<MediaEvent> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

#[test]
fn downlink_resamples_to_the_line_rate_and_reports_start_and_drain() {
    let mut d = Downlink::new(8000).unwrap();
    assert_eq!(d.frame_len(), 160);
    assert_eq!(d.push_bot_audio(&tone(1000.0, 16_000, 0, 3200, 8000.0)), 3200);
    let mut out = [0i16; 160];
    let mut frames = Vec::new();
    for _ in 0..12 {
        assert_eq!(d.next_frame(&mut out), 160);
        frames.push(rms(&out));
    }
    assert!(frames[2..10].iter().all(|&r| r > 4000.0), "{frames:?}");
    assert!(frames[11] < 100.0, "{frames:?}");
    assert_eq!(
        drain(&mut d),
        vec![MediaEvent::BotAudioStarted, MediaEvent::BotAudioDrained]
    );
    assert!(!d.is_playing());
}

#[test]
fn downlink_clear_flushes_within_one_frame() {
    let mut d = Downlink::new(8000).unwrap();
    d.push_bot_audio(&tone(440.0, 16_000, 0, 16_000, 10_000.0));
    d.mark(7);
    let mut out = [0i16; 160];
    d.next_frame(&mut out);
    d.next_frame(&mut out);
    assert!(rms(&out) > 1000.0);
    d.clear();
    assert_eq!(d.queued_samples(), 0);
    d.next_frame(&mut out);
    assert!(out.iter().all(|&s| s == 0), "{:?}", &out[..20]);
    assert_eq!(
        drain(&mut d),
        vec![
            MediaEvent::BotAudioStarted,
            MediaEvent::MarkPlayed { id: 7 },
            MediaEvent::BotAudioDrained
        ]
    );
}

#[test]
fn downlink_marks_fire_when_playout_reaches_them() {
    let mut d = Downlink::new(16_000).unwrap();
    let mut out = [0i16; 320];
    d.mark(1); // before any audio: reported on the next frame
    d.push_bot_audio(&[1000; 160]);
    d.mark(2);
    d.push_bot_audio(&[1000; 480]);
    d.mark(3);
    d.next_frame(&mut out);
    assert_eq!(
        drain(&mut d),
        vec![
            MediaEvent::BotAudioStarted,
            MediaEvent::MarkPlayed { id: 1 },
            MediaEvent::MarkPlayed { id: 2 }
        ]
    );
    d.next_frame(&mut out);
    assert_eq!(
        drain(&mut d),
        vec![MediaEvent::MarkPlayed { id: 3 }, MediaEvent::BotAudioDrained]
    );
    // The 16 kHz tap follows what was played.
    assert_eq!(d.last_frame_16k()[..320], [1000; 320]);
    d.next_frame(&mut out);
    assert!(d.last_frame_16k().iter().all(|&s| s == 0));
}

#[test]
fn downlink_holds_thirty_seconds_and_wraps() {
    let mut d = Downlink::new(16_000).unwrap();
    let chunk = vec![5i16; 16_000];
    let mut accepted = 0;
    for _ in 0..31 {
        accepted += d.push_bot_audio(&chunk);
    }
    assert_eq!(accepted, DOWNLINK_CAPACITY);
    let mut out = [0i16; 320];
    for _ in 0..100 {
        d.next_frame(&mut out);
    }
    // Room again for 2 s, written across the wrap.
    assert_eq!(d.push_bot_audio(&[9; 40_000]), 32_000);
    while d.queued_samples() > 32_000 {
        d.next_frame(&mut out);
    }
    d.next_frame(&mut out);
    assert_eq!(out, [9; 320]);
}

#[test]
fn uplink_resamples_fills_the_ring_and_reports_speech() {
    let vad = VadConfig {
        confidence: 0.0,
        min_volume_dbfs: -30.0,
        start_secs: 0.1,
        stop_secs: 0.3,
    };
    let origin = Duration::from_secs(10);
    let mut up = Uplink::new(8000, vad, 32_000, origin).unwrap();
    let mut ring = up.take_caller_ring().unwrap();
    assert!(up.take_caller_ring().is_none());
    // 1 s of silence, 1 s of loud tone, 1 s of silence, in 20 ms frames at 8 kHz.
    let mut events = Vec::new();
    for k in 0..150usize {
        let frame = if (50..100).contains(&k) {
            tone(500.0, 8000, k * 160, 160, 12_000.0)
        } else {
            vec![0; 160]
        };
        up.push_line_frame(&frame);
        events.extend(std::iter::from_fn(|| up.poll_event()));
        if k == 75 {
            assert!(up.is_speaking());
            assert!(rms(up.last_frame_16k()) > 5000.0);
        }
    }
    assert_eq!(up.samples_16k(), 150 * 320);
    assert_eq!(ring.slots(), 32_000);
    assert_eq!(up.overflow_samples(), 150 * 320 - 32_000);
    let got: Vec<i16> = std::iter::from_fn(|| ring.pop().ok()).collect();
    assert!(rms(&got[16_000..30_000]) > 5000.0);
    let [MediaEvent::SpeechStarted { at: s }, MediaEvent::SpeechEnded { at: e }] = events[..] else {
        panic!("{events:?}")
    };
    let (s, e) = ((s - origin).as_secs_f64(), (e - origin).as_secs_f64());
    assert!((0.98..1.05).contains(&s), "{s}");
    assert!((1.98..2.05).contains(&e), "{e}");
}

/// Speech starts the uplink reports after the echo gate has learnt, on a line at `rate` where
/// the caller side hears the bot back 60 ms later, 20 dB down (the bot talks in bursts). The far
/// end is given at 16 kHz and at the line rate, as the session does.
fn echo_speech_starts_after_learning(rate: u32) -> usize {
    let vad = VadConfig {
        confidence: 0.0,
        min_volume_dbfs: -45.0,
        start_secs: 0.1,
        stop_secs: 0.3,
    };
    let mut up = Uplink::new(rate, vad, 32_000, Duration::ZERO).unwrap();
    let n = rate as usize / 50;
    let mut far_hist: Vec<Vec<i16>> = Vec::new();
    let mut speech_after_learning = 0;
    for k in 0..400usize {
        let on = (k / 25) % 2 == 0;
        let far = if on {
            tone(300.0 + (k % 7) as f64 * 50.0, rate, k * n, n, 10_000.0)
        } else {
            vec![0; n]
        };
        // Only the 8 kHz gate takes the line-rate frame; a 16 kHz line's is the same frame.
        let far16 = if rate == 16_000 { far.clone() } else { vec![0; 320] };
        up.push_far(&far16, &far);
        far_hist.push(far);
        let near: Vec<i16> = if k >= 3 {
            far_hist[k - 3].iter().map(|&s| s / 10).collect()
        } else {
            vec![0; n]
        };
        up.push_line_frame(&near);
        for ev in std::iter::from_fn(|| up.poll_event()) {
            if k > 250 && matches!(ev, MediaEvent::SpeechStarted { .. }) {
                speech_after_learning += 1;
            }
        }
    }
    speech_after_learning
}

#[test]
fn uplink_echo_gate_vetoes_our_own_audio() {
    assert_eq!(echo_speech_starts_after_learning(16_000), 0);
}

#[test]
fn uplink_on_an_8khz_line_runs_the_vad_and_echo_gate_at_8khz() {
    let up = Uplink::new(8000, VadConfig::default(), 32_000, Duration::ZERO).unwrap();
    assert_eq!(up.vad_rate(), 8000);
    assert_eq!(echo_speech_starts_after_learning(8000), 0);
}

#[test]
fn uplink_codec_change_keeps_speech_times_on_the_call_timeline() {
    let vad = VadConfig {
        confidence: 0.0,
        min_volume_dbfs: -30.0,
        start_secs: 0.1,
        stop_secs: 0.3,
    };
    let mut up = Uplink::new(8000, vad, 64_000, Duration::ZERO).unwrap();
    // 1 s at 8 kHz, then the call moves to a 16 kHz codec: 1 s of silence, 1 s of tone.
    for _ in 0..50 {
        up.push_line_frame(&[0; 160]);
    }
    up.set_line_rate(16_000).unwrap();
    assert_eq!(up.vad_rate(), 16_000);
    let mut events = Vec::new();
    for k in 0..150usize {
        let frame = if (50..100).contains(&k) {
            tone(500.0, 16_000, k * 320, 320, 12_000.0)
        } else {
            vec![0; 320]
        };
        up.push_line_frame(&frame);
        events.extend(std::iter::from_fn(|| up.poll_event()));
    }
    let [MediaEvent::SpeechStarted { at: s }, ..] = events[..] else {
        panic!("{events:?}")
    };
    assert!((1.98..2.05).contains(&s.as_secs_f64()), "{s:?}");
}
