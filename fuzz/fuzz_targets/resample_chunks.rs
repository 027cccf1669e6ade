#![no_main]
//! Arbitrary rate pair, quality, input/output chunking and samples (any f32 bit pattern,
//! NaN and infinities included): never panics, and chunked output equals one-shot output
//! wherever that is finite.

use cxb_dsp::resample::{INPUT_RATES, OUTPUT_RATES, Quality, Resampler};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    /// Resamplers by (pair, quality), built once: construction designs the filter.
    static CACHE: RefCell<Vec<Option<(Resampler, Resampler)>>> = RefCell::new(vec![None; 48]);
}

fn run(r: &mut Resampler, x: &[f32], in_sizes: &[usize], out_sizes: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut step = 0;
    let mut buf = vec![0.0f32; r.output_len_for(x.len()) + 8];
    while at < x.len() {
        let n = in_sizes[step % in_sizes.len()].min(x.len() - at);
        // Slot 0 always has room for one input's outputs (at most 6), so the stream moves.
        let room = if step % out_sizes.len() == 0 {
            out_sizes[0].max(8)
        } else {
            out_sizes[step % out_sizes.len()]
        }
        .min(buf.len());
        let p = r.process(&x[at..at + n], &mut buf[..room]);
        assert!(p.consumed <= n && p.produced <= room);
        out.extend_from_slice(&buf[..p.produced]);
        at += p.consumed;
        step += 1;
    }
    let mut tail = vec![0.0f32; r.latency_samples()];
    let n = r.flush(&mut tail).unwrap();
    out.extend_from_slice(&tail[..n]);
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let pair = usize::from(data[0]) % 24;
    let high = data[1] & 1 == 1;
    let (in_rate, out_rate) = (INPUT_RATES[pair / 4], OUTPUT_RATES[pair % 4]);
    let n_sizes = usize::from(data[2] % 6) + 1;
    let rest = &data[3..];
    if rest.len() < 2 * n_sizes {
        return;
    }
    let in_sizes: Vec<usize> = rest[..n_sizes].iter().map(|&b| usize::from(b) * 5 + 1).collect();
    let out_sizes: Vec<usize> = rest[n_sizes..2 * n_sizes]
        .iter()
        .map(|&b| usize::from(b) * 16)
        .collect();
    let x: Vec<f32> = rest[2 * n_sizes..]
        .chunks_exact(4)
        .take(8192)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let slot = &mut cache[pair * 2 + usize::from(high)];
        let quality = if high { Quality::High } else { Quality::Telephone };
        let (a, b) = slot.get_or_insert_with(|| {
            let r = Resampler::new(in_rate, out_rate, quality).unwrap();
            (r.clone(), r)
        });
        a.reset();
        b.reset();
        let want = run(a, &x, &[usize::MAX], &[usize::MAX / 2]);
        let got = run(b, &x, &in_sizes, &out_sizes);
        assert_eq!(got.len(), want.len());
        let (l, m) = a.ratio();
        assert_eq!(want.len(), (x.len() * l).div_ceil(m) + a.latency_samples());
        for (g, w) in got.iter().zip(&want) {
            if w.is_finite() {
                assert_eq!(g.to_bits(), w.to_bits());
            }
        }
    });
});
