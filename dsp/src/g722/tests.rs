use std::f64::consts::TAU;

use super::*;

/// Linear sine sweep at 16 kHz from `f0` to `f1` Hz over `secs`, peak `amp`.
fn sweep(f0: f64, f1: f64, secs: f64, amp: f64) -> Vec<i16> {
    let n = (secs * 16000.0) as usize;
    let mut phase = 0.0;
    (0..n)
        .map(|i| {
            let f = f0 + (f1 - f0) * i as f64 / n as f64;
            phase += TAU * f / 16000.0;
            (amp * phase.sin()).round() as i16
        })
        .collect()
}

fn round_trip(pcm: &[i16], mode: G722Mode, frame: usize) -> Vec<i16> {
    let mut enc = G722Encoder::new();
    let mut dec = G722Decoder::new(mode);
    let mut out = Vec::with_capacity(pcm.len());
    let mut codes = vec![0u8; frame];
    let mut buf = vec![0i16; frame * 2];
    for chunk in pcm.chunks(frame) {
        let n = enc.encode(chunk, &mut codes).unwrap();
        let m = dec.decode(&codes[..n], &mut buf).unwrap();
        out.extend_from_slice(&buf[..m]);
    }
    out
}

/// SNR in dB of `out` against `inp` delayed by `lag`, skipping the first `skip` samples.
fn snr_at(inp: &[i16], out: &[i16], lag: usize, skip: usize) -> f64 {
    let (mut s, mut e) = (0.0, 0.0);
    for i in skip..inp.len().min(out.len().saturating_sub(lag)) {
        let x = f64::from(inp[i]);
        let y = f64::from(out[i + lag]);
        s += x * x;
        e += (x - y) * (x - y);
    }
    10.0 * (s / e.max(1e-9)).log10()
}

fn best_lag(inp: &[i16], out: &[i16]) -> (usize, f64) {
    (0..64)
        .map(|lag| (lag, snr_at(inp, out, lag, 1600)))
        .fold((0, f64::MIN), |b, x| if x.1 > b.1 { x } else { b })
}

#[test]
fn delay_is_the_documented_constant() {
    let pcm = sweep(200.0, 3000.0, 1.0, 8000.0);
    let out = round_trip(&pcm, G722Mode::Mode1, 160);
    assert_eq!(best_lag(&pcm, &out).0, G722_DELAY);
}

#[test]
fn sweeps_round_trip_with_high_snr() {
    for (f0, f1, amp, min_snr) in [
        (100.0, 3800.0, 8000.0, 38.0),
        (100.0, 3800.0, 1000.0, 36.0),
        (300.0, 3400.0, 20000.0, 40.0),
        // The high band (4-8 kHz) has only 2 bits per sample.
        (100.0, 7000.0, 8000.0, 24.0),
    ] {
        let pcm = sweep(f0, f1, 2.0, amp);
        let out = round_trip(&pcm, G722Mode::Mode1, 320);
        let snr = snr_at(&pcm, &out, G722_DELAY, 1600);
        eprintln!("sweep {f0}-{f1} Hz amp {amp}: {snr:.1} dB");
        assert!(snr > min_snr, "sweep {f0}-{f1} amp {amp}: SNR {snr:.1} dB");
    }
}

#[test]
fn lower_modes_decode_with_lower_but_good_snr() {
    let pcm = sweep(100.0, 3800.0, 2.0, 8000.0);
    let mut last = f64::MAX;
    for (mode, min_snr) in [
        (G722Mode::Mode1, 38.0),
        (G722Mode::Mode2, 36.0),
        (G722Mode::Mode3, 32.0),
    ] {
        let out = round_trip(&pcm, mode, 320);
        let snr = snr_at(&pcm, &out, G722_DELAY, 1600);
        eprintln!("{mode:?}: {snr:.1} dB");
        assert!(snr > min_snr && snr < last + 0.5, "{mode:?}: {snr:.1} dB");
        last = snr;
    }
}

#[test]
fn silence_stays_silent() {
    let out = round_trip(&vec![0i16; 16000], G722Mode::Mode1, 320);
    let peak = out.iter().map(|v| v.unsigned_abs()).max().unwrap();
    assert!(peak <= 4, "peak {peak}");
    // And after loud signal, silence decays back to near-silence.
    let mut pcm = sweep(300.0, 3000.0, 0.5, 20000.0);
    pcm.extend(vec![0i16; 16000]);
    let out = round_trip(&pcm, G722Mode::Mode1, 320);
    let tail = out[out.len() - 8000..].iter().map(|v| v.unsigned_abs()).max().unwrap();
    assert!(tail <= 4, "tail peak {tail}");
}

#[test]
fn reset_restores_initial_state() {
    let pcm = sweep(100.0, 6000.0, 0.3, 12000.0);
    let mut enc = G722Encoder::new();
    let mut a = vec![0u8; pcm.len() / 2];
    let mut b = vec![0u8; pcm.len() / 2];
    enc.encode(&pcm, &mut a).unwrap();
    enc.reset();
    enc.encode(&pcm, &mut b).unwrap();
    assert_eq!(a, b);
    let mut dec = G722Decoder::new(G722Mode::Mode2);
    let mut x = vec![0i16; pcm.len()];
    let mut y = vec![0i16; pcm.len()];
    dec.decode(&a, &mut x).unwrap();
    dec.reset();
    assert_eq!(dec.mode(), G722Mode::Mode2);
    dec.decode(&a, &mut y).unwrap();
    assert_eq!(x, y);
}

#[test]
fn odd_length_chunks_equal_one_shot() {
    let pcm = sweep(100.0, 7000.0, 0.25, 9000.0);
    let mut enc = G722Encoder::new();
    let mut whole = vec![0u8; pcm.len() / 2];
    assert_eq!(enc.encode(&pcm, &mut whole).unwrap(), pcm.len() / 2);
    let mut enc = G722Encoder::new();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 64];
    let mut rest = &pcm[..];
    for k in [1usize, 7, 13, 2, 31, 99, 0, 5].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, r) = rest.split_at((*k).min(rest.len()));
        rest = r;
        let n = enc.encode(chunk, &mut buf).unwrap();
        pieces.extend_from_slice(&buf[..n]);
    }
    assert_eq!(pieces, whole);
}

#[test]
fn short_output_is_a_typed_error() {
    let mut enc = G722Encoder::new();
    let mut out = [0u8; 2];
    assert_eq!(enc.encode(&[0; 5], &mut out), Ok(2)); // one sample left pending
    assert_eq!(enc.output_len(1), 1);
    assert_eq!(
        enc.encode(&[0; 5], &mut out),
        Err(G722Error::OutputTooSmall {
            needed: 3,
            available: 2
        })
    );
    let mut dec = G722Decoder::default();
    let mut pcm = [0i16; 3];
    assert_eq!(
        dec.decode(&[1, 2], &mut pcm),
        Err(G722Error::OutputTooSmall {
            needed: 4,
            available: 3
        })
    );
}

#[test]
fn decoder_takes_any_octets_in_every_mode() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let junk: Vec<u8> = (0..20000)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if i < 4096 { (i % 256) as u8 } else { (seed >> 24) as u8 }
        })
        .collect();
    let mut out = vec![0i16; junk.len() * 2];
    for mode in [G722Mode::Mode1, G722Mode::Mode2, G722Mode::Mode3] {
        let mut dec = G722Decoder::new(mode);
        assert_eq!(dec.decode(&junk, &mut out), Ok(junk.len() * 2));
        // Saturated patterns too.
        dec.decode(&[0u8; 3000], &mut out).unwrap();
        dec.decode(&[0xFFu8; 3000], &mut out).unwrap();
        dec.set_mode(G722Mode::Mode1);
        dec.decode(&[0x3Cu8; 3000], &mut out).unwrap();
    }
}
