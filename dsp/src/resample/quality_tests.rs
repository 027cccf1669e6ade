//! Quality measured through the streaming resampler: passband flatness, image and alias
//! rejection, latency alignment. Levels come from an exact-frequency DFT (f64) over a
//! 7-term Blackman-Harris window (side lobes below −180 dB, so −100 dB and −120 dB are
//! measurable a few tens of bins from the tone).

use super::*;

const WINDOW: usize = 16384;
const AMP: f64 = 0.5;

fn bh7(n: usize) -> Vec<f64> {
    const A: [f64; 7] = [
        0.271_051_400_693_42,
        0.433_297_939_234_48,
        0.218_122_999_543_11,
        0.065_925_446_388_03,
        0.010_811_742_098_37,
        0.000_776_584_825_22,
        0.000_013_887_217_35,
    ];
    (0..n)
        .map(|i| {
            let t = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            A.iter()
                .enumerate()
                .map(|(k, a)| (if k % 2 == 0 { *a } else { -*a }) * (k as f64 * t).cos())
                .sum()
        })
        .collect()
}

/// Amplitude of the component at `f` Hz in `y` (sampled at `fs`), windowed by `w`.
fn amplitude(y: &[f32], w: &[f64], f: f64, fs: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    let step = 2.0 * std::f64::consts::PI * f / fs;
    for (n, (&v, &wn)) in y.iter().zip(w).enumerate() {
        let a = step * n as f64;
        re += f64::from(v) * wn * a.cos();
        im -= f64::from(v) * wn * a.sin();
    }
    2.0 * re.hypot(im) / w.iter().sum::<f64>()
}

/// Resample a tone of frequency `f` and return the steady-state output window.
fn tone_through(r: &mut Resampler, f: f64) -> Vec<f32> {
    let (l, m) = r.ratio();
    let skip = 2 * r.latency_samples() + 16;
    let n_in = ((skip + WINDOW + 16) * m).div_ceil(l);
    let fs = f64::from(r.in_rate());
    let x: Vec<f32> = (0..n_in)
        .map(|n| (AMP * (2.0 * std::f64::consts::PI * f * n as f64 / fs).sin()) as f32)
        .collect();
    let mut y = vec![0.0; r.output_len_for(n_in)];
    let p = r.process(&x, &mut y);
    assert_eq!(p.consumed, n_in);
    r.reset();
    y[skip..skip + WINDOW].to_vec()
}

/// Fold a frequency into `0 ..= fs / 2`.
fn fold(f: f64, fs: f64) -> f64 {
    let f = f.rem_euclid(fs);
    if f > fs / 2.0 { fs - f } else { f }
}

fn db(a: f64) -> f64 {
    20.0 * (a / AMP).max(1e-30).log10()
}

/// Check one pair at one quality: flatness over the passband, rejection of every image and
/// alias of passband tones (upsampling) or of stopband tones (downsampling). Returns the worst
/// passband deviation and the worst image/alias level in dB.
fn check(in_rate: u32, out_rate: u32, quality: Quality) -> (f64, f64) {
    let (pass, stop, _) = design::spec(quality);
    let mut r = Resampler::new(in_rate, out_rate, quality).unwrap();
    let (fi, fo) = (f64::from(in_rate), f64::from(out_rate));
    let fs_low = fi.min(fo);
    let w = bh7(WINDOW);
    let bin = fo / WINDOW as f64;
    let mut worst_flat: f64 = 0.0;
    let mut worst_image = f64::NEG_INFINITY;
    // Passband tones: gain, and (for any ratio) every image k·fi ± f folded into the output.
    let tones: Vec<f64> = (0..=12)
        .map(|k| 40.0 + (pass * fs_low - 40.0) * k as f64 / 12.0)
        .collect();
    for &f in &tones {
        let y = tone_through(&mut r, f);
        worst_flat = worst_flat.max(db(amplitude(&y, &w, f, fo)).abs());
        let kmax = (fo / fi).ceil() as i64 + 1;
        for k in 1..=kmax {
            for img in [k as f64 * fi - f, k as f64 * fi + f] {
                let g = fold(img, fo);
                if (g - f).abs() > 40.0 * bin && g > 20.0 * bin && g < fo / 2.0 - 20.0 * bin {
                    worst_image = worst_image.max(db(amplitude(&y, &w, g, fo)));
                }
            }
        }
    }
    // Stopband tones when downsampling: everything they alias to must be gone.
    if fo < fi {
        let lo = stop * fo;
        let hi = fi / 2.0 - 50.0;
        for k in 0..=12 {
            let f = lo + (hi - lo) * k as f64 / 12.0;
            let y = tone_through(&mut r, f);
            let g = fold(f, fo);
            if g > 20.0 * bin && g < fo / 2.0 - 20.0 * bin {
                worst_image = worst_image.max(db(amplitude(&y, &w, g, fo)));
            }
        }
    }
    (worst_flat, worst_image)
}

#[test]
fn telephone_quality_every_pair() {
    let mut report = String::new();
    let mut failed = false;
    for &i in &INPUT_RATES {
        for &o in &OUTPUT_RATES {
            if i == o {
                continue;
            }
            let (flat, image) = check(i, o, Quality::Telephone);
            report += &format!("{i}->{o}: passband ±{flat:.5} dB, worst image/alias {image:.1} dB\n");
            failed |= flat > 0.1 || image > -100.0;
        }
    }
    println!("{report}");
    assert!(!failed, "{report}");
}

#[test]
fn high_quality_sample_pairs() {
    for (i, o) in [(8000, 16000), (48000, 16000), (44100, 48000), (22050, 16000)] {
        let (flat, image) = check(i, o, Quality::High);
        println!("{i}->{o} high: passband ±{flat:.5} dB, worst image/alias {image:.1} dB");
        assert!(flat <= 0.1 && image <= -120.0, "{i}->{o}: ±{flat} dB, {image} dB");
    }
}

/// After dropping `latency_samples()` outputs, the output is the ideal resampled tone: the
/// reported latency is the true group delay.
#[test]
fn latency_alignment_every_pair() {
    for &i in &INPUT_RATES {
        for &o in &OUTPUT_RATES {
            let mut r = Resampler::new(i, o, Quality::Telephone).unwrap();
            let f = 1000.0;
            let n_in = i as usize / 5;
            let x: Vec<f32> = (0..n_in)
                .map(|n| (AMP * (2.0 * std::f64::consts::PI * f * n as f64 / f64::from(i)).sin()) as f32)
                .collect();
            let mut y = vec![0.0; r.output_len_for(n_in) + r.latency_samples()];
            let p = r.process(&x, &mut y);
            r.flush(&mut y[p.produced..]).unwrap();
            let lat = r.latency_samples();
            let aligned = &y[lat..];
            assert_eq!(
                aligned.len(),
                (n_in as u64 * u64::from(o)).div_ceil(u64::from(i)) as usize
            );
            // Away from the start and end transients the error is at the filter ripple level.
            let mut worst: f64 = 0.0;
            for (n, &v) in aligned
                .iter()
                .enumerate()
                .skip(3 * lat + 8)
                .take(aligned.len() - 6 * lat - 16)
            {
                let want = AMP * (2.0 * std::f64::consts::PI * f * n as f64 / f64::from(o)).sin();
                worst = worst.max((f64::from(v) - want).abs());
            }
            assert!(worst < 1e-4, "{i}->{o}: aligned error {worst}");
        }
    }
}

/// Magnitude response of the whole polyphase bank (the interleaved prototype, f32 coefficients
/// as used) at `f` Hz for a prototype running at `f_rate`.
fn bank_response(d: &design::Design, f: f64, f_rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f / f_rate;
    let (step_re, step_im) = (w.cos(), -w.sin());
    let (mut rot_re, mut rot_im) = (1.0f64, 0.0f64);
    let (mut re, mut im) = (0.0, 0.0);
    for k in 0..d.taps {
        for p in 0..d.l {
            let h = f64::from(d.bank[p * d.taps + k]);
            re += h * rot_re;
            im += h * rot_im;
            (rot_re, rot_im) = (rot_re * step_re - rot_im * step_im, rot_re * step_im + rot_im * step_re);
        }
    }
    re.hypot(im) / d.l as f64
}

/// The designed bank itself, on a dense grid: passband within ±0.1 dB (±0.01 dB for `High`),
/// stopband ≥ 100 dB (120 dB) down, every pair. The first 64 stopband lobes (where a Kaiser
/// design peaks) at 8 points per lobe, the rest of the stopband up to `F / 2` on a coarser grid.
#[test]
fn designed_bank_meets_the_mask_densely() {
    for quality in [Quality::Telephone, Quality::High] {
        let (pass, stop, _) = design::spec(quality);
        let floor = if quality == Quality::Telephone { -100.0 } else { -120.0 };
        for &i in &INPUT_RATES {
            for &o in &OUTPUT_RATES {
                if i == o {
                    continue;
                }
                let g = design::gcd(u64::from(i), u64::from(o));
                let (l, m) = ((u64::from(o) / g) as usize, (u64::from(i) / g) as usize);
                let d = design::Design::new(i, o, l, m, quality);
                let f_rate = l as f64 * f64::from(i);
                let fs_low = f64::from(i.min(o));
                let n = (d.taps * l) as f64;
                let lobe = f_rate / n;
                let mut worst_pass: f64 = 0.0;
                for k in 0..=200 {
                    let f = pass * fs_low * k as f64 / 200.0;
                    worst_pass = worst_pass.max((20.0 * bank_response(&d, f, f_rate).log10()).abs());
                }
                let mut worst_stop = f64::NEG_INFINITY;
                let f0 = stop * fs_low;
                let dense_end = (f0 + 64.0 * lobe).min(f_rate / 2.0);
                for k in 0..=512 {
                    let f = f0 + (dense_end - f0) * k as f64 / 512.0;
                    worst_stop = worst_stop.max(20.0 * bank_response(&d, f, f_rate).log10());
                }
                for k in 0..=400 {
                    let f = dense_end + (f_rate / 2.0 - dense_end) * k as f64 / 400.0;
                    worst_stop = worst_stop.max(20.0 * bank_response(&d, f, f_rate).log10());
                }
                println!("{i}->{o} {quality:?}: passband ±{worst_pass:.6} dB, stopband {worst_stop:.1} dB");
                assert!(worst_pass < 0.1 && worst_stop <= floor, "{i}->{o} {quality:?}");
            }
        }
    }
}
