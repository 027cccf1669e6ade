//! Tests of the resampler: streaming contract, kernels against the scalar reference, quality.

use super::*;
use proptest::prelude::*;

/// Every supported (input, output) pair with different rates.
fn pairs() -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for &i in &INPUT_RATES {
        for &o in &OUTPUT_RATES {
            if i != o {
                v.push((i, o));
            }
        }
    }
    v
}

/// One-shot: everything in one call, then the flush.
fn one_shot(r: &mut Resampler, x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; r.output_len_for(x.len()) + r.latency_samples()];
    let p = r.process(x, &mut out);
    assert_eq!(p.consumed, x.len());
    let n = r.flush(&mut out[p.produced..]).unwrap();
    out.truncate(p.produced + n);
    out
}

/// Chunked: input in chunks of the given sizes, output slices of the given sizes (which may be
/// too short, leaving input unconsumed for the next call).
fn chunked(r: &mut Resampler, x: &[f32], in_sizes: &[usize], out_sizes: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut step = 0;
    while at < x.len() {
        let n = in_sizes[step % in_sizes.len()].min(x.len() - at);
        let room = out_sizes[step % out_sizes.len()];
        let mut buf = vec![f32::NAN; room];
        let p = r.process(&x[at..at + n], &mut buf);
        assert!(p.consumed <= n && p.produced <= room);
        out.extend_from_slice(&buf[..p.produced]);
        at += p.consumed;
        step += 1;
        if p.consumed == 0 && room >= 8 {
            panic!("no progress with {room} samples of room");
        }
        assert!(step < 1_000_000);
    }
    let mut tail = vec![0.0; r.latency_samples()];
    let n = r.flush(&mut tail).unwrap();
    out.extend_from_slice(&tail[..n]);
    out
}

fn noise(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 1.8 - 0.9
        })
        .collect()
}

#[test]
fn unsupported_pairs_are_typed_errors() {
    for (i, o) in [(11025, 8000), (8000, 44100), (8000, 22050), (0, 8000), (48000, 96000)] {
        assert_eq!(
            Resampler::new(i, o, Quality::Telephone).unwrap_err(),
            ResampleError::UnsupportedRates {
                in_rate: i,
                out_rate: o
            }
        );
    }
}

#[test]
fn ratios_are_reduced() {
    let r = Resampler::new(44100, 16000, Quality::Telephone).unwrap();
    assert_eq!(r.ratio(), (160, 441));
    let r = Resampler::new(8000, 16000, Quality::Telephone).unwrap();
    assert_eq!(r.ratio(), (2, 1));
    let r = Resampler::new(22050, 16000, Quality::Telephone).unwrap();
    assert_eq!(r.ratio(), (320, 441));
}

#[test]
fn output_length_rule_holds_for_every_pair() {
    for (i, o) in pairs() {
        for n in [0usize, 1, 2, 3, 159, 160, 441, 1000, 4411] {
            let mut r = Resampler::new(i, o, Quality::Telephone).unwrap();
            let (l, m) = r.ratio();
            let y = one_shot(&mut r, &noise(n as u64, n));
            assert_eq!(y.len(), (n * l).div_ceil(m) + r.latency_samples(), "{i}->{o} n={n}");
        }
    }
}

#[test]
fn sample_by_sample_equals_one_shot_every_pair() {
    for (i, o) in pairs() {
        let x = noise(u64::from(i ^ o), 1999);
        let want = one_shot(&mut Resampler::new(i, o, Quality::Telephone).unwrap(), &x);
        let got = chunked(&mut Resampler::new(i, o, Quality::Telephone).unwrap(), &x, &[1], &[8]);
        assert!(
            got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()) && got.len() == want.len(),
            "{i}->{o}"
        );
        // One huge chunk in a resampler that already streamed: reset gives a fresh stream.
        let mut r = Resampler::new(i, o, Quality::Telephone).unwrap();
        let _ = chunked(&mut r, &noise(7, 333), &[100], &[1000]);
        assert_eq!(one_shot(&mut r, &x), want, "{i}->{o} after reuse");
    }
}

#[test]
fn equal_rates_copy() {
    let mut r = Resampler::new(16000, 16000, Quality::Telephone).unwrap();
    assert_eq!(r.latency_samples(), 0);
    let x = noise(3, 100);
    assert_eq!(one_shot(&mut r, &x), x);
}

#[test]
fn flush_needs_room() {
    let mut r = Resampler::new(8000, 16000, Quality::Telephone).unwrap();
    let mut out = [0.0; 2];
    assert_eq!(
        r.flush(&mut out),
        Err(ResampleError::OutputTooShort {
            needed: r.latency_samples(),
            available: 2
        })
    );
}

#[test]
fn filter_lengths_are_what_the_design_computes() {
    // Kaiser at 103.5 dB over a transition of 0.14 · fs_low: N − 1 ≥ 95.55 / (2.285 · 2π · 0.07)
    // = 95.1 at 16 kHz, so N = 97 = 2 · 48 + 1: 49 taps per phase (one phase a pure delay),
    // 48 output samples (3 ms) of latency.
    let r = Resampler::new(8000, 16000, Quality::Telephone).unwrap();
    assert_eq!((r.taps_per_phase(), r.latency_samples()), (49, 48));
    // The same 97-tap filter decimating: 24 samples (3 ms) at 8 kHz.
    let r = Resampler::new(16000, 8000, Quality::Telephone).unwrap();
    assert_eq!((r.taps_per_phase(), r.latency_samples()), (97, 24));
    let r = Resampler::new(44100, 16000, Quality::Telephone).unwrap();
    assert_eq!(r.latency_samples(), 24);
}

#[test]
fn non_finite_input_does_not_panic() {
    for (i, o) in pairs() {
        let mut r = Resampler::new(i, o, Quality::Telephone).unwrap();
        let x = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
            0.0,
            1.0,
        ];
        let mut out = vec![0.0; r.output_len_for(x.len())];
        let p = r.process(&x, &mut out);
        assert_eq!(p.consumed, x.len());
        let mut tail = vec![0.0; r.latency_samples()];
        r.flush(&mut tail).unwrap();
    }
}

#[test]
fn i16_path_matches_f32_path() {
    for (i, o) in [(8000, 16000), (48000, 8000), (44100, 16000)] {
        let x16: Vec<i16> = noise(9, 3001).iter().map(|&v| (v * 20000.0) as i16).collect();
        let xf: Vec<f32> = x16.iter().map(|&v| f32::from(v) / 32768.0).collect();
        let mut a = Resampler::new(i, o, Quality::Telephone).unwrap();
        let yf = one_shot(&mut a, &xf);
        let mut b = Resampler::new(i, o, Quality::Telephone).unwrap();
        let mut y16 = vec![0i16; b.output_len_for(x16.len()) + b.latency_samples()];
        let p = b.process_i16(&x16, &mut y16);
        assert_eq!(p.consumed, x16.len());
        let n = b.flush_i16(&mut y16[p.produced..]).unwrap();
        assert_eq!(p.produced + n, yf.len());
        for (a, b) in yf.iter().zip(&y16) {
            assert_eq!((a * 32768.0).round_ties_even().clamp(-32768.0, 32767.0) as i16, *b);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any chunking of input and output gives exactly the one-shot output.
    #[test]
    fn chunking_is_invisible(
        pair in 0usize..20,
        len in 0usize..2500,
        seed in any::<u64>(),
        in_sizes in proptest::collection::vec(1usize..700, 1..8),
        out_sizes in proptest::collection::vec(0usize..900, 1..8),
    ) {
        let (i, o) = pairs()[pair];
        let x = noise(seed, len);
        let mut a = Resampler::new(i, o, Quality::Telephone).unwrap();
        let want = one_shot(&mut a, &x);
        // Output slices too small for one input's outputs would stall: keep at least 8 of room
        // in one slot so the stream always moves.
        let mut out_sizes = out_sizes;
        out_sizes[0] = out_sizes[0].max(8);
        let mut b = Resampler::new(i, o, Quality::Telephone).unwrap();
        let got = chunked(&mut b, &x, &in_sizes, &out_sizes);
        prop_assert_eq!(got.len(), want.len());
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert!(g.to_bits() == w.to_bits(), "{}->{} sample {}: {} != {}", i, o, n, g, w);
        }
        // The resampler was reset by flush: a second stream gives the same result.
        let again = chunked(&mut b, &x, &in_sizes, &out_sizes);
        prop_assert_eq!(again, got);
    }

    /// The selected SIMD kernel matches the scalar reference on random input and chunkings.
    #[test]
    fn simd_matches_scalar(
        pair in 0usize..20,
        len in 1usize..3000,
        seed in any::<u64>(),
        in_sizes in proptest::collection::vec(1usize..500, 1..6),
    ) {
        let (i, o) = pairs()[pair];
        let x = noise(seed, len);
        let mut s = Resampler::with_isa(i, o, Quality::Telephone, Isa::Scalar).unwrap();
        let mut v = Resampler::new(i, o, Quality::Telephone).unwrap();
        let want = one_shot(&mut s, &x);
        let got = chunked(&mut v, &x, &in_sizes, &[4096]);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{}->{}: {} vs {}", i, o, g, w);
        }
    }
}

#[test]
fn simd_kernel_is_selected() {
    let r = Resampler::new(8000, 16000, Quality::Telephone).unwrap();
    assert_eq!(r.isa(), Isa::detect());
    let r = Resampler::with_isa(8000, 16000, Quality::Telephone, Isa::Scalar).unwrap();
    assert_eq!(r.isa(), Isa::Scalar);
}

/// A linear chirp from 50 Hz to just below the input Nyquist frequency, amplitude 0.9.
fn sweep(fs: u32, n: usize) -> Vec<f32> {
    let fs = f64::from(fs);
    let (f0, f1) = (50.0, 0.49 * fs);
    let t_end = n as f64 / fs;
    (0..n)
        .map(|i| {
            let t = i as f64 / fs;
            let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * t_end));
            (0.9 * phase.sin()) as f32
        })
        .collect()
}

/// Chunked `process_i16` with output room for every chunk, then the flush.
fn chunked_i16(r: &mut Resampler, x: &[i16], chunk: usize) -> Vec<i16> {
    let mut out = Vec::new();
    for c in x.chunks(chunk) {
        let mut buf = vec![0i16; r.output_len_for(c.len())];
        let p = r.process_i16(c, &mut buf);
        assert_eq!((p.consumed, p.produced), (c.len(), buf.len()));
        out.extend_from_slice(&buf);
    }
    let mut tail = vec![0i16; r.latency_samples()];
    let n = r.flush_i16(&mut tail).unwrap();
    out.extend_from_slice(&tail[..n]);
    out
}

/// The integer-ratio paths (planes, pure-delay phase, fused `i16` conversion, deinterleaving)
/// against the general one-dot-product-per-output path with the same filter: within 1e-5 in
/// `f32` and 1 LSB in `i16`, on noise and on a sweep, at the dataplane's chunk sizes and others.
#[test]
fn integer_paths_match_the_general_path() {
    let pairs = [
        (8000, 16000),
        (16000, 8000),
        (8000, 48000),
        (48000, 8000),
        (16000, 48000),
        (24000, 8000),
    ];
    let mut isas = vec![Isa::Scalar];
    if Isa::detect() != Isa::Scalar {
        isas.push(Isa::detect());
    }
    for (i, o) in pairs {
        for isa in isas.iter().copied() {
            for (name, x) in [("noise", noise(11, 9000)), ("sweep", sweep(i, 9000))] {
                let x16: Vec<i16> = x.iter().map(|&v| (v * 32767.0) as i16).collect();
                let mut g = Resampler::build(i, o, Quality::Telephone, isa, true).unwrap();
                assert_eq!(g.path, Path::Generic);
                let want = one_shot(&mut g, &x);
                let want16 = chunked_i16(&mut g, &x16, 4096);
                for chunk in [1usize, 7, 160, 320, 4096] {
                    let mut r = Resampler::with_isa(i, o, Quality::Telephone, isa).unwrap();
                    assert_ne!(r.path, Path::Generic);
                    let room = r.output_len_for(chunk) + 8;
                    let got = chunked(&mut r, &x, &[chunk], &[room]);
                    assert_eq!(got.len(), want.len());
                    for (n, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-5,
                            "{i}->{o} {isa:?} {name} chunk {chunk} #{n}: {a} vs {b}"
                        );
                    }
                    let got16 = chunked_i16(&mut r, &x16, chunk);
                    assert_eq!(got16.len(), want16.len());
                    for (n, (a, b)) in got16.iter().zip(&want16).enumerate() {
                        assert!(
                            (i32::from(*a) - i32::from(*b)).abs() <= 1,
                            "{i}->{o} {isa:?} {name} i16 chunk {chunk} #{n}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}

/// The vector conversions and deinterleaving are bit-identical to the scalar ones, including
/// NaN, infinities, out-of-range values, ties and odd lengths.
#[test]
fn conversion_kernels_match_scalar() {
    let k = crate::simd::resample::Kernel::new(Isa::detect());
    let mut special = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        2.0,
        -2.0,
        1.0,
        -1.0,
        0.5 / 32768.0,
        1.5 / 32768.0,
        2.5 / 32768.0,
        -0.5 / 32768.0,
        -2.5 / 32768.0,
        32767.5 / 32768.0,
        -32768.5 / 32768.0,
        -0.0,
    ];
    special.extend(noise(5, 200).iter().map(|v| v * 1.2));
    for len in 0..special.len() {
        let src = &special[..len];
        let (mut a, mut b) = (vec![7i16; len + 3], vec![7i16; len + 3]);
        scalar::f32_to_i16(src, &mut a);
        k.f32_to_i16(src, &mut b);
        assert_eq!(a, b, "f32_to_i16 len {len}");
        let ints: Vec<i16> = (0..len)
            .map(|j| (j as i32 * 7919 - 32768).clamp(-32768, 32767) as i16)
            .collect();
        let (mut fa, mut fb) = (vec![0.0f32; len], vec![0.0f32; len]);
        scalar::i16_to_f32(&ints, &mut fa);
        k.i16_to_f32(&ints, &mut fb);
        assert!(
            fa.iter().zip(&fb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "i16_to_f32 len {len}"
        );
        let n = len / 2;
        let (mut ea, mut oa, mut eb, mut ob) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        scalar::deinterleave2(src, &mut ea, &mut oa, n);
        k.deinterleave2(src, &mut eb, &mut ob, n);
        assert!(
            ea.iter()
                .chain(&oa)
                .zip(eb.iter().chain(&ob))
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
    }
    // Ties round to even, like the scalar definition.
    let mut y = [0i16; 4];
    k.f32_to_i16(&[0.5 / 32768.0, 1.5 / 32768.0, 2.5 / 32768.0, -2.5 / 32768.0], &mut y);
    assert_eq!(y, [0, 2, 2, -2]);
}
