//! Tests of the feature extractor.

use super::*;

#[test]
fn fast_log2_is_close() {
    for &x in &[1e-9f32, 0.001, 0.5, 1.0, 1.5, 2.0, 3.0, 1000.0, 12345.6] {
        assert!((fast_log2(x) - x.log2()).abs() < 2e-4, "{x}");
    }
}

/// Frames of uniform noise in ±0.5 (plus a frame index offset, so frames differ).
fn noise_frames(count: usize) -> Vec<[f32; FRAME]> {
    let mut s = 5u32;
    (0..count)
        .map(|n| {
            std::array::from_fn(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5 + n as f32 * 1e-3
            })
        })
        .collect()
}

#[test]
fn history_ring_holds_the_last_window_in_order() {
    let mut f = Features::new(Isa::Scalar);
    let frames = noise_frames(9);
    let mut all: Vec<f32> = vec![0.0; WIN];
    for fr in &frames {
        f.push(fr);
        all.extend_from_slice(fr);
        let ordered: Vec<f32> = f.hist[f.hpos..].iter().chain(&f.hist[..f.hpos]).copied().collect();
        assert_eq!(ordered, all[all.len() - WIN..]);
    }
}

#[test]
fn staged_prefix_energies_equal_the_direct_prefix_sum() {
    let mut f = Features::new(Isa::detect());
    for (n, fr) in noise_frames(15).iter().enumerate() {
        f.push(fr);
        let mut want = [0.0f32; P_BUF + 1];
        let mut acc = 0.0f32;
        for (w, &v) in want[1..].iter_mut().zip(&f.pbuf) {
            acc += v * v;
            *w = acc;
        }
        // Bit-exact: the staged chains add the same terms in the same order.
        assert_eq!(f.psq[n % PSQ_STAGES], want, "frame {n}");
    }
}

#[test]
fn voiced_tone_complex_is_harmonic_and_noise_is_not() {
    let mut f = Features::new(Isa::detect());
    let mut frame = [0.0f32; FRAME];
    for n in 0..30 {
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (n * FRAME + i) as f32 / 8000.0;
            *s = (1..8)
                .map(|h| (2.0 * std::f32::consts::PI * 120.0 * h as f32 * t).sin() * 0.05)
                .sum();
        }
        f.push(&frame);
    }
    assert!(f.input()[20] > 0.9, "harmonicity {}", f.input()[20]);
    let mut g = Features::new(Isa::detect());
    let mut s = 12345u32;
    for _ in 0..30 {
        for v in frame.iter_mut() {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v = (s >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1;
        }
        g.push(&frame);
    }
    assert!(g.input()[20] < 0.5, "harmonicity {}", g.input()[20]);
    assert!(g.input().iter().all(|v| v.is_finite()));
}

/// The AVX2 build of `push` and the portable one, with the same kernels, give the same bits
/// (on a CPU without AVX2 both calls run the portable build, and the test still holds).
#[test]
fn the_avx2_build_of_push_gives_the_same_bits_as_the_portable_build() {
    let isa = Isa::detect();
    let (mut fast, mut portable) = (Features::new(isa), Features::new(isa));
    // Noise, then a voiced tone complex at rising levels, then near-silence: every feature moves.
    let mut frames = noise_frames(40);
    for n in 0..120 {
        frames.push(std::array::from_fn(|i| {
            let t = (n * FRAME + i) as f32 / 8000.0;
            let level = 0.002 * (1 + n % 40) as f32;
            (1..6)
                .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() * level)
                .sum()
        }));
    }
    frames.extend(noise_frames(40).iter().map(|f| f.map(|v| v * 1e-4)));
    for (n, fr) in frames.iter().enumerate() {
        fast.push(fr);
        portable.push_generic(fr);
        let bits = |f: &Features| f.input().map(f32::to_bits);
        assert_eq!(bits(&fast), bits(&portable), "frame {n}");
    }
}
