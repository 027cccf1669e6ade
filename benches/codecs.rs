//! Codec, DTMF and tone-detector benchmarks.
//!
//! G.711: ours (the dispatched SIMD path and the scalar path) against the crates.io baseline
//! `audio-codec-algorithms` and the naive ITU-T G.191 transcription, on 160-sample frames and
//! 8000-sample blocks. G.722 and Opus per 20 ms frame; DTMF and tone detectors per 10 ms frame.
//!
//! Run: `cargo bench --bench codecs -- --warm-up-time 1 --measurement-time 3`

use std::f64::consts::TAU;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use cxb_dsp::dtmf::DtmfDetector;
use cxb_dsp::g711::{self, reference};
use cxb_dsp::g722::{G722Decoder, G722Encoder, G722Mode};
use cxb_dsp::opus::{OpusApplication, OpusDecoder, OpusEncoder};
use cxb_dsp::simd::{self, Isa};
use cxb_dsp::tone::{ToneConfig, ToneDetector, ToneSpec};

/// A speech-like test signal: a harmonic series with a gliding pitch plus a little noise.
fn signal(rate: u32, n: usize) -> Vec<i16> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let f0 = 120.0 + 60.0 * (t * 3.0).sin();
            phase += TAU * f0 / f64::from(rate);
            let v: f64 = (1..20).map(|k| (f64::from(k) * phase).sin() / f64::from(k)).sum();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
            (v * 6000.0 + noise * 200.0) as i16
        })
        .collect()
}

fn g711_benches(c: &mut Criterion) {
    let best = Isa::detect();
    for n in [160usize, 8000] {
        let pcm = signal(8000, n);
        let mut codes = vec![0u8; n];
        g711::encode_ulaw(&pcm, &mut codes);
        let mut alaw = vec![0u8; n];
        g711::encode_alaw(&pcm, &mut alaw);
        let mut out_codes = vec![0u8; n];
        let mut out_pcm = vec![0i16; n];

        let mut g = c.benchmark_group(format!("g711_encode/{n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("ulaw", format!("cxb-{best:?}")), |b| {
            b.iter(|| simd::g711::encode_ulaw(best, black_box(&pcm), &mut out_codes))
        });
        g.bench_function(BenchmarkId::new("ulaw", "cxb-scalar"), |b| {
            b.iter(|| g711::scalar::encode_ulaw(black_box(&pcm), &mut out_codes))
        });
        g.bench_function(BenchmarkId::new("ulaw", "itu-reference"), |b| {
            b.iter(|| {
                for (o, &x) in out_codes.iter_mut().zip(black_box(&pcm)) {
                    *o = reference::ulaw_compress(x);
                }
            })
        });
        g.bench_function(BenchmarkId::new("ulaw", "audio-codec-algorithms"), |b| {
            b.iter(|| {
                for (o, &x) in out_codes.iter_mut().zip(black_box(&pcm)) {
                    *o = audio_codec_algorithms::encode_ulaw(x);
                }
            })
        });
        g.bench_function(BenchmarkId::new("alaw", format!("cxb-{best:?}")), |b| {
            b.iter(|| simd::g711::encode_alaw(best, black_box(&pcm), &mut out_codes))
        });
        g.bench_function(BenchmarkId::new("alaw", "cxb-scalar"), |b| {
            b.iter(|| g711::scalar::encode_alaw(black_box(&pcm), &mut out_codes))
        });
        g.bench_function(BenchmarkId::new("alaw", "itu-reference"), |b| {
            b.iter(|| {
                for (o, &x) in out_codes.iter_mut().zip(black_box(&pcm)) {
                    *o = reference::alaw_compress(x);
                }
            })
        });
        g.bench_function(BenchmarkId::new("alaw", "audio-codec-algorithms"), |b| {
            b.iter(|| {
                for (o, &x) in out_codes.iter_mut().zip(black_box(&pcm)) {
                    *o = audio_codec_algorithms::encode_alaw(x);
                }
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("g711_decode/{n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("ulaw", format!("cxb-{best:?}")), |b| {
            b.iter(|| simd::g711::decode_ulaw(best, black_box(&codes), &mut out_pcm))
        });
        g.bench_function(BenchmarkId::new("ulaw", "cxb-scalar"), |b| {
            b.iter(|| g711::scalar::decode_ulaw(black_box(&codes), &mut out_pcm))
        });
        g.bench_function(BenchmarkId::new("ulaw", "itu-reference"), |b| {
            b.iter(|| {
                for (o, &c) in out_pcm.iter_mut().zip(black_box(&codes)) {
                    *o = reference::ulaw_expand(c);
                }
            })
        });
        g.bench_function(BenchmarkId::new("ulaw", "audio-codec-algorithms"), |b| {
            b.iter(|| {
                for (o, &c) in out_pcm.iter_mut().zip(black_box(&codes)) {
                    *o = audio_codec_algorithms::decode_ulaw(c);
                }
            })
        });
        g.bench_function(BenchmarkId::new("alaw", format!("cxb-{best:?}")), |b| {
            b.iter(|| simd::g711::decode_alaw(best, black_box(&alaw), &mut out_pcm))
        });
        g.bench_function(BenchmarkId::new("alaw", "cxb-scalar"), |b| {
            b.iter(|| g711::scalar::decode_alaw(black_box(&alaw), &mut out_pcm))
        });
        g.bench_function(BenchmarkId::new("alaw", "itu-reference"), |b| {
            b.iter(|| {
                for (o, &c) in out_pcm.iter_mut().zip(black_box(&alaw)) {
                    *o = reference::alaw_expand(c);
                }
            })
        });
        g.bench_function(BenchmarkId::new("alaw", "audio-codec-algorithms"), |b| {
            b.iter(|| {
                for (o, &c) in out_pcm.iter_mut().zip(black_box(&alaw)) {
                    *o = audio_codec_algorithms::decode_alaw(c);
                }
            })
        });
        g.finish();
    }
}

fn g722_benches(c: &mut Criterion) {
    let pcm = signal(16000, 320);
    let mut enc = G722Encoder::new();
    let mut codes = [0u8; 160];
    enc.encode(&pcm, &mut codes).unwrap();
    let mut out = [0i16; 320];
    let mut g = c.benchmark_group("g722_20ms");
    g.throughput(Throughput::Elements(320));
    g.bench_function("encode", |b| b.iter(|| enc.encode(black_box(&pcm), &mut codes)));
    let mut dec = G722Decoder::new(G722Mode::Mode1);
    g.bench_function("decode", |b| b.iter(|| dec.decode(black_box(&codes), &mut out)));
    g.finish();
}

fn opus_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("opus_20ms");
    for (rate, bitrate) in [(16000u32, 24000u32), (48000, 48000)] {
        let frame = rate as usize / 50;
        let pcm = signal(rate, frame * 50);
        let mut enc = OpusEncoder::new(rate, 1, OpusApplication::Voip).unwrap();
        enc.set_bitrate(bitrate).unwrap();
        enc.set_inband_fec(true).unwrap();
        enc.set_packet_loss_percent(10).unwrap();
        let packets: Vec<Vec<u8>> = pcm
            .chunks_exact(frame)
            .map(|f| {
                let mut p = [0u8; 1500];
                let n = enc.encode(f, &mut p).unwrap();
                p[..n].to_vec()
            })
            .collect();
        let mut packet = [0u8; 1500];
        let mut k = 0;
        g.bench_function(BenchmarkId::new("encode", rate), |b| {
            b.iter(|| {
                k = (k + 1) % 50;
                enc.encode(black_box(&pcm[k * frame..(k + 1) * frame]), &mut packet)
            })
        });
        let mut dec = OpusDecoder::new(rate, 1).unwrap();
        let mut out = vec![0i16; frame];
        let mut k = 0;
        g.bench_function(BenchmarkId::new("decode", rate), |b| {
            b.iter(|| {
                k = (k + 1) % packets.len();
                dec.decode(black_box(&packets[k]), &mut out)
            })
        });
    }
    g.finish();
}

fn detector_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("detect_10ms");
    for rate in [8000u32, 16000] {
        let frame = rate as usize / 100;
        let pcm = signal(rate, frame * 100);
        let mut det = DtmfDetector::new(rate).unwrap();
        let mut k = 0;
        g.bench_function(BenchmarkId::new("dtmf", rate), |b| {
            b.iter(|| {
                k = (k + 1) % 100;
                det.process(black_box(&pcm[k * frame..(k + 1) * frame]), |e| {
                    black_box(e);
                })
            })
        });
        let mut tones = ToneDetector::new(rate, &ToneSpec::call_progress(), ToneConfig::default()).unwrap();
        g.bench_function(BenchmarkId::new("tone_call_progress", rate), |b| {
            b.iter(|| {
                k = (k + 1) % 100;
                tones.process(black_box(&pcm[k * frame..(k + 1) * frame]), |e| {
                    black_box(e);
                })
            })
        });
        let mut beep = ToneDetector::new(rate, &[ToneSpec::voicemail_beep()], ToneConfig::default()).unwrap();
        g.bench_function(BenchmarkId::new("tone_voicemail_band", rate), |b| {
            b.iter(|| {
                k = (k + 1) % 100;
                beep.process(black_box(&pcm[k * frame..(k + 1) * frame]), |e| {
                    black_box(e);
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, g711_benches, g722_benches, opus_benches, detector_benches);
criterion_main!(benches);
