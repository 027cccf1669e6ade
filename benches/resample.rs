//! Resampler throughput: cxb's polyphase resampler (the SIMD kernel chosen at construction, and
//! the scalar reference) beside rubato 5 (`Fft` synchronous and sinc `Async`) in the same run.
//! Throughput is in input samples, so criterion's elements/s inverts to ns per input sample.
//! The `-i16` rows run `process_i16` (the dataplane's entry point, conversions included).
//!
//! `cargo bench --bench resample -- --warm-up-time 1 --measurement-time 3`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use cxb_dsp::resample::{Quality, Resampler};
use cxb_dsp::simd::Isa;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Resampler as _, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};
use std::hint::black_box;

const PAIRS: [(u32, u32); 5] = [
    (8000, 16000),
    (16000, 8000),
    (48000, 16000),
    (22050, 16000),
    (44100, 48000),
];

fn noise(n: usize) -> Vec<f32> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn bench_pair(c: &mut Criterion, in_rate: u32, out_rate: u32, chunk_ms: u32) {
    let chunk = (in_rate * chunk_ms / 1000) as usize;
    let input = noise(chunk);
    let mut group = c.benchmark_group(format!("resample {in_rate}->{out_rate} {chunk_ms}ms"));
    group.throughput(Throughput::Elements(chunk as u64));

    for (name, isa) in [("cxb-simd", Isa::detect()), ("cxb-scalar", Isa::Scalar)] {
        let mut r = Resampler::with_isa(in_rate, out_rate, Quality::Telephone, isa).unwrap();
        let mut out = vec![0.0f32; r.output_len_for(chunk) + 8];
        group.bench_function(BenchmarkId::new(name, chunk), |b| {
            b.iter(|| {
                let p = r.process(black_box(&input), &mut out);
                assert_eq!(p.consumed, chunk);
                black_box(&out);
            })
        });
    }

    // The dataplane's entry point: 16-bit PCM in and out (conversion included).
    let input16: Vec<i16> = input.iter().map(|&v| (v * 32768.0) as i16).collect();
    for (name, isa) in [("cxb-simd-i16", Isa::detect()), ("cxb-scalar-i16", Isa::Scalar)] {
        let mut r = Resampler::with_isa(in_rate, out_rate, Quality::Telephone, isa).unwrap();
        let mut out = vec![0i16; r.output_len_for(chunk) + 8];
        group.bench_function(BenchmarkId::new(name, chunk), |b| {
            b.iter(|| {
                let p = r.process_i16(black_box(&input16), &mut out);
                assert_eq!(p.consumed, chunk);
                black_box(&out);
            })
        });
    }

    let ours = Resampler::new(in_rate, out_rate, Quality::Telephone).unwrap();
    let (ir, or) = (in_rate as usize, out_rate as usize);
    let mut fft = Fft::<f32>::new(ir, or, chunk, 1, FixedSync::Input).unwrap();
    let mut out = vec![0.0f32; fft.output_frames_max()];
    group.bench_function(BenchmarkId::new("rubato-fft", chunk), |b| {
        b.iter(|| {
            let src = InterleavedSlice::new(black_box(&input[..]), 1, chunk).unwrap();
            let frames = out.len();
            let mut dst = InterleavedSlice::new_mut(&mut out[..], 1, frames).unwrap();
            black_box(fft.process_into_buffer(&src, &mut dst, None).unwrap());
        })
    });

    // Sinc interpolator as long as our filter (in input samples per output), default cutoff for
    // that length, Blackman-Harris², cubic interpolation of a 128× oversampled table.
    let params = SincInterpolationParameters {
        sinc_len: ours.taps_per_phase().next_multiple_of(8),
        f_cutoff: None,
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    };
    let mut sinc = Async::<f32>::new_sinc(or as f64 / ir as f64, 1.0, &params, chunk, 1, FixedAsync::Input).unwrap();
    let mut out = vec![0.0f32; sinc.output_frames_max()];
    group.bench_function(BenchmarkId::new("rubato-sinc", chunk), |b| {
        b.iter(|| {
            let src = InterleavedSlice::new(black_box(&input[..]), 1, chunk).unwrap();
            let frames = out.len();
            let mut dst = InterleavedSlice::new_mut(&mut out[..], 1, frames).unwrap();
            black_box(sinc.process_into_buffer(&src, &mut dst, None).unwrap());
        })
    });
    group.finish();
}

fn resample(c: &mut Criterion) {
    for (i, o) in PAIRS {
        bench_pair(c, i, o, 20);
    }
    for (i, o) in PAIRS {
        bench_pair(c, i, o, 1000);
    }
}

criterion_group!(benches, resample);
criterion_main!(benches);
