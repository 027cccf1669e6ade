//! Time-scaling of PCM at the head of the playout queue (NetEq's Accelerate / PreemptiveExpand).
//!
//! Both operations work on two consecutive segments `x[0..p]` and `x[p..2p]`, where `p` is
//! the pitch period (for speech) or any length (for low-energy audio):
//!
//! - [`remove_period`] replaces them with one cross-faded segment (`x[0..p]` fading out,
//!   `x[p..2p]` fading in): `p` samples shorter, continuous at both ends.
//! - [`insert_period`] plays `x[0..p]`, then a cross-fade from `x[p..2p]` into `x[0..p]`, then
//!   `x[p..2p]` again: `p` samples longer, continuous at both ends.

use crate::plc::norm_xcorr;

/// Best period `p` in `pmin..=pmax` (with `2p <= x.len()`) maximising the normalised
/// correlation of `x[0..p]` with `x[p..2p]`. Coarse search by `step`, then refined.
pub(crate) fn find_period(x: &[i16], pmin: usize, pmax: usize, step: usize) -> Option<(usize, f32)> {
    let pmax = pmax.min(x.len() / 2);
    if pmin == 0 || pmax < pmin {
        return None;
    }
    let corr = |p: usize| norm_xcorr(&x[..p], &x[p..2 * p]);
    let mut best = (pmin, f32::MIN);
    let mut p = pmin;
    while p <= pmax {
        let c = corr(p);
        if c > best.1 {
            best = (p, c);
        }
        p += step.max(1);
    }
    if step > 1 {
        for p in best.0.saturating_sub(step - 1).max(pmin)..=(best.0 + step - 1).min(pmax) {
            let c = corr(p);
            if c > best.1 {
                best = (p, c);
            }
        }
    }
    Some(best)
}

/// Mean square of a segment.
pub(crate) fn energy(x: &[i16]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    let s: i64 = x.iter().map(|&v| i64::from(v) * i64::from(v)).sum();
    s as f32 / x.len() as f32
}

fn mix(a: i16, b: i16, w: f32) -> i16 {
    (f32::from(a) * (1.0 - w) + f32::from(b) * w) as i16
}

/// Shortens `buf[..len]` by `p` samples at its head; returns the new length. Needs `2p <= len`.
pub(crate) fn remove_period(buf: &mut [i16], len: usize, p: usize) -> usize {
    if p == 0 || 2 * p > len || len > buf.len() {
        return len;
    }
    for i in 0..p {
        let w = (i + 1) as f32 / (p + 1) as f32;
        buf[i] = mix(buf[i], buf[i + p], w);
    }
    buf.copy_within(2 * p..len, p);
    len - p
}

/// Lengthens `buf[..len]` by `p` samples at its head; returns the new length. Needs `2p <= len`
/// and `len + p <= buf.len()`.
pub(crate) fn insert_period(buf: &mut [i16], len: usize, p: usize) -> usize {
    if p == 0 || 2 * p > len || len + p > buf.len() {
        return len;
    }
    // [x0 | x1 | rest] -> [x0 | fade(x1 -> x0) | x1 | rest]
    buf.copy_within(p..len, 2 * p);
    for i in 0..p {
        let w = (i + 1) as f32 / (p + 1) as f32;
        buf[p + i] = mix(buf[2 * p + i], buf[i], w);
    }
    len + p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, period: f32) -> Vec<i16> {
        (0..n)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * i as f32 / period).sin()) as i16)
            .collect()
    }

    #[test]
    fn finds_the_period() {
        let x = tone(300, 50.0);
        let (p, c) = find_period(&x, 20, 100, 1).unwrap();
        assert!(p == 50 || p == 100, "{p}");
        assert!(c > 0.99);
        assert!(find_period(&x[..30], 20, 100, 1).is_none());
    }

    #[test]
    fn remove_and_insert_keep_a_tone_continuous() {
        let x = tone(400, 50.0);
        let mut buf = x.clone();
        buf.resize(500, 0);
        let len = remove_period(&mut buf, 400, 50);
        assert_eq!(len, 350);
        // A whole period removed from a pure tone: the result is the tone again.
        for (a, b) in buf[..len].iter().zip(&x) {
            assert!((i32::from(*a) - i32::from(*b)).abs() < 200);
        }
        let len = insert_period(&mut buf, len, 50);
        assert_eq!(len, 400);
        for (a, b) in buf[..len].iter().zip(&x) {
            assert!((i32::from(*a) - i32::from(*b)).abs() < 200);
        }
    }

    #[test]
    fn refuses_impossible_sizes() {
        let mut buf = [0i16; 10];
        assert_eq!(remove_period(&mut buf, 10, 6), 10);
        assert_eq!(insert_period(&mut buf, 8, 4), 8);
        assert_eq!(insert_period(&mut buf, 10, 0), 10);
    }
}
