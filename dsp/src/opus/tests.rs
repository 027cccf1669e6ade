use std::f64::consts::TAU;

use super::*;
use crate::dtmf::detector_tests::vowels;

fn tone(rate: u32, secs: f64) -> Vec<i16> {
    let n = (f64::from(rate) * secs) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (6000.0 * (TAU * 440.0 * t).sin() + 3000.0 * (TAU * 1230.0 * t).sin()) as i16
        })
        .collect()
}

/// Best normalised correlation and SNR (dB) of `out` against `inp` over lags 0..max_lag.
fn align(inp: &[i16], out: &[i16], max_lag: usize, skip: usize) -> (usize, f64, f64) {
    let mut best = (0, f64::MIN, f64::MIN);
    for lag in 0..max_lag {
        let (mut xy, mut xx, mut yy, mut e) = (0.0, 0.0, 0.0, 0.0);
        for i in skip..inp.len().min(out.len().saturating_sub(lag)) {
            let (x, y) = (f64::from(inp[i]), f64::from(out[i + lag]));
            xy += x * y;
            xx += x * x;
            yy += y * y;
            e += (x - y) * (x - y);
        }
        let corr = xy / (xx * yy).sqrt().max(1e-9);
        if corr > best.1 {
            best = (lag, corr, 10.0 * (xx / e.max(1e-9)).log10());
        }
    }
    best
}

#[test]
fn tone_round_trips_at_48k_and_16k() {
    for (rate, bitrate, app) in [
        (48000, 64000, OpusApplication::Audio),
        (16000, 32000, OpusApplication::Voip),
    ] {
        let pcm = tone(rate, 1.0);
        let mut enc = OpusEncoder::new(rate, 1, app).unwrap();
        enc.set_bitrate(bitrate).unwrap();
        let mut dec = OpusDecoder::new(rate, 1).unwrap();
        let frame = rate as usize / 50;
        let mut packet = [0u8; 1500];
        let mut buf = vec![0i16; frame * 6];
        let mut out = Vec::new();
        for chunk in pcm.chunks_exact(frame) {
            let len = enc.encode(chunk, &mut packet).unwrap();
            assert!(len > 0 && len <= 1275);
            let n = dec.decode(&packet[..len], &mut buf).unwrap();
            assert_eq!(n, frame);
            out.extend_from_slice(&buf[..n]);
        }
        let lookahead = enc.lookahead().unwrap();
        let (lag, corr, snr) = align(&pcm, &out, frame * 2, frame * 5);
        eprintln!("{rate} Hz: lookahead {lookahead}, lag {lag}, corr {corr:.4}, SNR {snr:.1} dB");
        assert!(corr > 0.98, "{rate} Hz: correlation {corr}");
        assert!(snr > 12.0, "{rate} Hz: SNR {snr}");
    }
}

#[test]
fn plc_output_length_and_recovery() {
    let rate = 48000;
    let frame = 960;
    let pcm = tone(rate, 0.2);
    let mut enc = OpusEncoder::new(rate, 2, OpusApplication::Voip).unwrap();
    let mut dec = OpusDecoder::new(rate, 2).unwrap();
    let mut out = vec![0i16; frame * 2 * 6];
    assert_eq!(dec.conceal(&mut out), Err(OpusError::NoFrameSize));
    let stereo: Vec<i16> = pcm.iter().flat_map(|&x| [x, x / 2]).collect();
    let mut packet = [0u8; 4000];
    for (k, chunk) in stereo.chunks_exact(frame * 2).enumerate() {
        let len = enc.encode(chunk, &mut packet).unwrap();
        if k == 4 {
            // Lost: concealment gives exactly one frame of the last size.
            assert_eq!(dec.conceal(&mut out), Ok(frame));
            let e: f64 = out[..frame * 2].iter().map(|&v| f64::from(v).powi(2)).sum();
            assert!(e > 0.0, "concealment continues the signal");
        } else {
            assert_eq!(dec.decode(&packet[..len], &mut out), Ok(frame));
        }
    }
    assert_eq!(dec.last_frame_size(), Some(frame));
    assert_eq!(
        dec.conceal(&mut out[..100]),
        Err(OpusError::OutputTooSmall {
            needed: frame * 2,
            available: 100
        })
    );
    dec.reset().unwrap();
    assert_eq!(dec.last_frame_size(), None);
}

#[test]
fn fec_recovers_a_lost_frame_better_than_plc() {
    let rate = 16000;
    let frame = 320;
    let pcm = vowels(rate, 4.0, 1);
    let mut enc = OpusEncoder::new(rate, 1, OpusApplication::Voip).unwrap();
    enc.set_bitrate(24000).unwrap();
    enc.set_inband_fec(true).unwrap();
    enc.set_packet_loss_percent(20).unwrap();
    let mut packets = Vec::new();
    let mut buf = [0u8; 1500];
    for chunk in pcm.chunks_exact(frame) {
        let len = enc.encode(chunk, &mut buf).unwrap();
        packets.push(buf[..len].to_vec());
    }
    let lost = |k: usize| k >= 10 && k % 10 == 5 && k + 1 < packets.len();
    let mut clean = OpusDecoder::new(rate, 1).unwrap();
    let mut fec = OpusDecoder::new(rate, 1).unwrap();
    let mut plc = OpusDecoder::new(rate, 1).unwrap();
    let (mut a, mut b, mut c) = (vec![0i16; frame], vec![0i16; frame], vec![0i16; frame]);
    let (mut err_fec, mut err_plc, mut energy) = (0.0, 0.0, 0.0);
    let mut drops = 0;
    for (k, p) in packets.iter().enumerate() {
        assert_eq!(clean.decode(p, &mut c), Ok(frame));
        if lost(k) {
            drops += 1;
            assert_eq!(fec.decode_fec(&packets[k + 1], &mut a), Ok(frame));
            assert_eq!(plc.conceal(&mut b), Ok(frame));
            for i in 0..frame {
                let r = f64::from(c[i]);
                energy += r * r;
                err_fec += (f64::from(a[i]) - r).powi(2);
                err_plc += (f64::from(b[i]) - r).powi(2);
            }
        } else {
            assert_eq!(fec.decode(p, &mut a), Ok(frame));
            assert_eq!(plc.decode(p, &mut b), Ok(frame));
        }
    }
    let snr = |e: f64| 10.0 * (energy / e.max(1e-9)).log10();
    eprintln!(
        "{drops} lost frames: FEC {:.1} dB, PLC {:.1} dB vs the loss-free decode",
        snr(err_fec),
        snr(err_plc)
    );
    assert!(drops >= 10);
    assert!(
        err_fec < err_plc * 0.5,
        "FEC {:.1} dB vs PLC {:.1} dB",
        snr(err_fec),
        snr(err_plc)
    );
}

#[test]
fn bad_arguments_are_typed_errors() {
    assert_eq!(
        OpusEncoder::new(44100, 1, OpusApplication::Voip).unwrap_err(),
        OpusError::UnsupportedRate { rate: 44100 }
    );
    assert_eq!(
        OpusDecoder::new(16000, 3).unwrap_err(),
        OpusError::UnsupportedChannels { channels: 3 }
    );
    let mut enc = OpusEncoder::new(16000, 1, OpusApplication::Voip).unwrap();
    let mut out = [0u8; 1500];
    assert_eq!(
        enc.encode(&[0; 321], &mut out),
        Err(OpusError::InvalidFrameSize {
            samples: 321,
            rate: 16000,
            channels: 1
        })
    );
    assert!(enc.encode(&[0; 0], &mut out).is_err());
    assert_eq!(
        enc.set_packet_loss_percent(101),
        Err(OpusError::LossOutOfRange { percent: 101 })
    );
    assert_eq!(enc.set_bitrate(100), Err(OpusError::BitrateOutOfRange { bps: 100 }));
    // Every valid frame duration encodes.
    for ms10 in [25usize, 50, 100, 200, 400, 600] {
        let pcm = vec![0i16; 16 * ms10 / 10];
        assert!(enc.encode(&pcm, &mut out).is_ok(), "{ms10}");
    }
    let mut dec = OpusDecoder::new(16000, 1).unwrap();
    let mut pcm = [0i16; 320];
    assert_eq!(dec.decode(&[], &mut pcm), Err(OpusError::EmptyPacket));
    assert_eq!(dec.decode_fec(&[], &mut pcm), Err(OpusError::EmptyPacket));
    // Garbage packets are errors or decode to something; never a panic.
    let mut big = vec![0i16; 16000];
    for junk in [&[0xFFu8, 0xFF, 0xFF][..], &[0x03, 0xFF], &[0x0B; 7], &[0u8; 3000]] {
        let _ = dec.decode(junk, &mut big);
        let _ = dec.decode_fec(junk, &mut big);
    }
    // A 60 ms packet does not fit a 20 ms buffer.
    let len = enc.encode(&vec![0i16; 960], &mut out).unwrap();
    let mut dec = OpusDecoder::new(16000, 1).unwrap();
    assert_eq!(
        dec.decode(&out[..len], &mut pcm),
        Err(OpusError::OutputTooSmall {
            needed: 960,
            available: 320
        })
    );
}
