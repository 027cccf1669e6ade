//! VAD speed: µs per 10 ms frame (features + model) at 8 and 16 kHz, scalar reference vs the
//! selected SIMD kernels, and the stateful detector fed 20 ms packets. Target ≤ 2 µs per frame.
//!
//! `cargo bench --bench vad` (criterion reports the time per iteration = per frame, or per
//! packet of two frames for the detector).

use criterion::{Criterion, criterion_group, criterion_main};
use cxb_dsp::simd::Isa;
use cxb_dsp::vad::{Vad, VadConfig, VadDetector};
use std::hint::black_box;

/// Two seconds of a speech-like signal (voiced bursts over noise) at `rate`.
fn audio(rate: usize) -> Vec<i16> {
    let n = rate * 2;
    let mut s = 1u32;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let t = i as f32 / rate as f32;
            let on = (t * 3.0).fract() < 0.6;
            let v: f32 = (1..8)
                .map(|h| (2.0 * std::f32::consts::PI * 130.0 * h as f32 * t).sin() / h as f32)
                .sum();
            let noise = (s >> 20) as f32 - 2048.0;
            (if on { v * 4000.0 } else { 0.0 } + noise * 0.5) as i16
        })
        .collect()
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("vad_frame");
    for rate in [8000usize, 16000] {
        let a = audio(rate);
        let n = rate / 100;
        let count = a.len() / n;
        for (name, isa) in [("scalar", Isa::Scalar), ("selected", Isa::detect())] {
            g.bench_function(format!("{rate}hz/{name}"), |b| {
                let mut v = Vad::with_isa(rate as u32, isa).expect("supported rate");
                let mut i = 0;
                b.iter(|| {
                    let f = &a[i * n..(i + 1) * n];
                    i = (i + 1) % count;
                    black_box(v.process_frame(black_box(f)).ok())
                });
            });
        }
    }
    g.finish();
}

fn detector(c: &mut Criterion) {
    let mut g = c.benchmark_group("vad_detector");
    for rate in [8000usize, 16000] {
        let a = audio(rate);
        let n = rate / 50; // 20 ms packets
        let count = a.len() / n;
        g.bench_function(format!("{rate}hz/20ms_packet"), |b| {
            let mut d = VadDetector::new(rate as u32, VadConfig::default()).expect("valid config");
            let mut i = 0;
            b.iter(|| {
                d.push(black_box(&a[i * n..(i + 1) * n]));
                i = (i + 1) % count;
                while let Some(e) = d.poll_event() {
                    black_box(e);
                }
            });
        });
    }
    g.finish();
}

criterion_group!(benches, frames, detector);
criterion_main!(benches);
