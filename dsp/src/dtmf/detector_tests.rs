//! Behaviour tests of the in-band detector, driven by the generator.

use std::f64::consts::TAU;

use super::*;

/// Deterministic xorshift noise in [-1, 1).
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn tone(rate: u32, digit: DtmfDigit, level_dbfs: f32, twist_db: f32, tone_ms: u32, pause_ms: u32) -> Vec<i16> {
    let shape = ToneShape {
        level_dbfs,
        twist_db,
        tone_ms,
        pause_ms,
    };
    let mut g = DtmfGenerator::new(rate, shape).unwrap();
    g.play(digit);
    let mut v = vec![0i16; g.remaining() as usize];
    g.fill(&mut v);
    v
}

fn silence(rate: u32, ms: u32) -> Vec<i16> {
    vec![0; (rate * ms / 1000) as usize]
}

fn detect(rate: u32, pcm: &[i16]) -> Vec<DtmfDetection> {
    let mut d = DtmfDetector::new(rate).unwrap();
    let mut ev = Vec::new();
    // Odd chunk sizes, as a jitter buffer might deliver.
    for chunk in pcm.chunks(77) {
        d.process(chunk, |e| ev.push(e));
    }
    d.finish(|e| ev.push(e));
    ev
}

fn digits(ev: &[DtmfDetection]) -> String {
    ev.iter()
        .filter_map(|e| match e {
            DtmfDetection::Start { digit, .. } => Some(digit.as_char()),
            DtmfDetection::End { .. } => None,
        })
        .collect()
}

pub(crate) fn add_noise(pcm: &mut [i16], rms: f64, seed: u64) {
    let mut n = Noise(seed);
    for v in pcm {
        // Uniform noise in [-1, 1) has RMS 1/sqrt(3).
        let x = f64::from(*v) + n.next() * rms * 3f64.sqrt();
        *v = x.round().clamp(-32768.0, 32767.0) as i16;
    }
}

#[test]
fn every_digit_at_every_level_and_rate() {
    for rate in [8000, 16000] {
        for level in [-35.0, -25.0, -15.0, -6.0] {
            for d in DtmfDigit::ALL {
                let mut pcm = silence(rate, 30);
                pcm.extend(tone(rate, d, level, 0.0, 60, 60));
                let ev = detect(rate, &pcm);
                assert_eq!(ev.len(), 2, "{rate} Hz {level} dB {d}: {ev:?}");
                let t0 = u64::from(rate) * 30 / 1000;
                let t1 = u64::from(rate) * 90 / 1000;
                let tol = u64::from(rate) * 8 / 1000;
                match (ev[0], ev[1]) {
                    (DtmfDetection::Start { digit: a, at: s }, DtmfDetection::End { digit: b, at: e }) => {
                        assert_eq!((a, b), (d, d));
                        assert!(s.abs_diff(t0) <= tol, "{rate} {d} start {s} vs {t0}");
                        assert!(e.abs_diff(t1) <= tol, "{rate} {d} end {e} vs {t1}");
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}

#[test]
fn digits_in_noise() {
    for rate in [8000, 16000] {
        let mut pcm = Vec::new();
        for d in DtmfDigit::ALL {
            pcm.extend(tone(rate, d, -20.0, 2.0, 50, 50));
        }
        // Each tone has RMS 0.1 × 32767 / sqrt(2); the pair ≈ 3280. Noise RMS 1000: SNR ≈ 10 dB.
        add_noise(&mut pcm, 1000.0, 7 + u64::from(rate));
        assert_eq!(digits(&detect(rate, &pcm)), "0123456789*#ABCD", "{rate} Hz");
    }
}

#[test]
fn duration_limits_at_every_alignment() {
    for rate in [8000u32, 16000] {
        let hop = (rate * 34 / 8000) as usize;
        for offset in (0..3 * hop).step_by(5) {
            for (ms, want) in [(23, ""), (20, ""), (40, "5"), (45, "5")] {
                let mut pcm = vec![0i16; offset];
                pcm.extend(tone(rate, DtmfDigit::D5, -10.0, 0.0, ms, 50));
                assert_eq!(digits(&detect(rate, &pcm)), want, "{rate} Hz {ms} ms offset {offset}");
            }
        }
    }
}

#[test]
fn twist_limits() {
    // twist_db = high minus low: +3 (reverse, allowed), +5.5 (reverse, too much),
    // -7 (normal, allowed), -10 (normal, too much).
    for (twist, want) in [(0.0, "9"), (3.0, "9"), (5.5, ""), (-7.0, "9"), (-10.0, "")] {
        for rate in [8000, 16000] {
            let pcm = tone(rate, DtmfDigit::D9, -12.0, twist, 80, 40);
            assert_eq!(digits(&detect(rate, &pcm)), want, "twist {twist} at {rate}");
        }
    }
}

#[test]
fn forty_ms_pauses_separate_digits() {
    for rate in [8000, 16000] {
        let mut pcm = Vec::new();
        for c in "1155#0D".chars() {
            pcm.extend(tone(rate, DtmfDigit::from_char(c).unwrap(), -10.0, 0.0, 45, 40));
        }
        assert_eq!(digits(&detect(rate, &pcm)), "1155#0D", "{rate} Hz");
    }
}

/// Vowel-like signal: a harmonic series with a gliding pitch, shaped by formant resonances.
pub(crate) fn vowels(rate: u32, seconds: f64, seed: u64) -> Vec<i16> {
    let mut noise = Noise(seed);
    let formants = [
        [730.0, 1090.0, 2440.0], // a
        [270.0, 2290.0, 3010.0], // i
        [300.0, 870.0, 2240.0],  // u
        [530.0, 1840.0, 2480.0], // e
        [570.0, 840.0, 2410.0],  // o
        [700.0, 1300.0, 2500.0], // close to a DTMF pair on purpose
    ];
    let n = (seconds * f64::from(rate)) as usize;
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f64;
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let seg = (t / 0.25) as usize;
        let f = &formants[(seg + seed as usize) % formants.len()];
        // Pitch between 80 and 320 Hz, varying within the syllable.
        let f0 = 80.0 + 240.0 * (0.5 + 0.5 * (t * 1.7 + seed as f64).sin()) * (1.0 + 0.05 * (t * 31.0).sin());
        phase += TAU * f0 / f64::from(rate);
        let mut v = 0.0;
        let mut k = 1.0;
        while k * f0 < f64::from(rate) / 2.0 - 100.0 {
            let fk = k * f0;
            let gain: f64 = f.iter().map(|&fm| 1.0 / (1.0 + ((fk - fm) / 80.0).powi(2))).sum();
            v += gain * (k * phase).sin() / k.sqrt();
            k += 1.0;
        }
        out.push((v * 3000.0 + noise.next() * 30.0).clamp(-32768.0, 32767.0) as i16);
    }
    out
}

/// Music-like chords: three or four notes with harmonics and a decaying envelope.
pub(crate) fn chords(rate: u32) -> Vec<i16> {
    let notes = |midi: f64| 440.0 * 2f64.powf((midi - 69.0) / 12.0);
    let progressions: [&[f64]; 6] = [
        &[60.0, 64.0, 67.0],
        &[65.0, 69.0, 72.0, 76.0],
        &[77.0, 88.0, 81.0], // F5 (698 Hz) + E6 (1319 Hz): a near-DTMF pair inside a chord
        &[67.0, 71.0, 74.0, 77.0],
        &[57.0, 60.0, 64.0],
        &[79.0, 83.0, 86.0],
    ];
    let mut out = Vec::new();
    for chord in progressions.iter().cycle().take(18) {
        let len = rate as usize / 2;
        for i in 0..len {
            let t = i as f64 / f64::from(rate);
            let env = (-3.0 * t).exp();
            let mut v = 0.0;
            for &m in chord.iter() {
                let f = notes(m);
                for h in 1..6 {
                    if f * f64::from(h) < f64::from(rate) / 2.0 {
                        v += (TAU * f * f64::from(h) * t).sin() / f64::from(h * h);
                    }
                }
            }
            out.push((v * env * 5000.0).clamp(-32768.0, 32767.0) as i16);
        }
    }
    out
}

#[test]
fn speech_and_music_give_no_digits() {
    for rate in [8000, 16000] {
        for seed in 0..3 {
            let ev = detect(rate, &vowels(rate, 6.0, seed));
            assert!(ev.is_empty(), "vowels seed {seed} at {rate}: {ev:?}");
        }
        let ev = detect(rate, &chords(rate));
        assert!(ev.is_empty(), "chords at {rate}: {ev:?}");
    }
}

#[test]
fn reset_and_rates() {
    assert!(DtmfDetector::new(4000).is_err());
    let mut d = DtmfDetector::new(8000).unwrap();
    let pcm = tone(8000, DtmfDigit::A, -10.0, 0.0, 60, 0);
    let mut n = 0;
    d.process(&pcm, |_| n += 1);
    assert_eq!(d.current_digit(), Some(DtmfDigit::A));
    d.reset();
    assert_eq!((d.current_digit(), d.position()), (None, 0));
    // Garbage input never panics.
    let junk: Vec<i16> = (0..5000)
        .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
        .collect();
    d.process(&junk, |_| ());
    assert_eq!(n, 1);
}
