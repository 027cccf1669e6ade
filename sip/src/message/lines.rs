//! Line scanning for the message head: where a line ends (`\n`) and where its first `:` is,
//! found 16 bytes at a time.
//!
//! Each 16-byte chunk becomes two bitmasks (bit `i` set when byte `i` is `\n`, resp. `:`);
//! the line end and the header-name colon are then trailing-zero counts, so one pass over a
//! header line finds both with no per-byte loop and no search call. The masks are built with
//! SSE2 on x86-64 (through `safe_arch`, no `unsafe` here) and by [`masks_scalar`], the
//! reference definition, elsewhere.

/// Bytes per chunk.
const CHUNK: usize = 16;

/// Bitmask of the bytes of `chunk` equal to `c` (bit `i` for byte `i`). Scalar reference.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn eq_mask_scalar(chunk: &[u8; CHUNK], c: u8) -> u32 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | u32::from(b == c) << i)
}

/// Bitmask of the bytes of `chunk` equal to `a` or to `b`.
#[inline(always)]
fn eq2_mask(chunk: &[u8; CHUNK], a: u8, b: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use safe_arch::{
            bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
        };
        let v = load_unaligned_m128i(chunk);
        let ea = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(a as i8));
        let eb = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b as i8));
        // movemask yields the 16 lane bits in the low half of an i32.
        move_mask_i8_m128i(bitor_m128i(ea, eb)) as u32
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        eq_mask_scalar(chunk, a) | eq_mask_scalar(chunk, b)
    }
}

/// Bitmask of the bytes of `chunk` equal to `c`.
#[inline(always)]
fn eq_mask(chunk: &[u8; CHUNK], c: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i};
        let v = load_unaligned_m128i(chunk);
        move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(c as i8))) as u32
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        eq_mask_scalar(chunk, c)
    }
}

/// Index of the first byte equal to `a` or `b` at or after `from`.
#[inline(always)]
fn find2(data: &[u8], mut from: usize, a: u8, b: u8) -> Option<usize> {
    loop {
        let Some(chunk) = data.get(from..).and_then(<[u8]>::first_chunk::<CHUNK>) else {
            return find2_tail(data, from, a, b);
        };
        let m = eq2_mask(chunk, a, b);
        if m != 0 {
            return Some(from + m.trailing_zeros() as usize);
        }
        from += CHUNK;
    }
}

#[cold]
#[inline(never)]
fn find2_tail(data: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let rest = data.get(from..)?;
    rest.iter().position(|&c| c == a || c == b).map(|i| from + i)
}

/// Index of the first `c` in `data`.
#[inline]
pub(super) fn find_byte(data: &[u8], c: u8) -> Option<usize> {
    find2(data, 0, c, c)
}

/// Index of the first `\n` at or after `from`.
#[inline(always)]
pub(super) fn next_nl(data: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let Some(chunk) = data.get(from..).and_then(<[u8]>::first_chunk::<CHUNK>) else {
            return find2_tail(data, from, b'\n', b'\n');
        };
        let m = eq_mask(chunk, b'\n');
        if m != 0 {
            return Some(from + m.trailing_zeros() as usize);
        }
        from += CHUNK;
    }
}

/// `\n` mask of 64 bytes and `:` mask of their first 32 (bit `i` for byte `i`).
#[inline(always)]
fn masks64(block: &[u8; 64]) -> (u64, u64) {
    let (c0, rest) = block.split_first_chunk::<CHUNK>().unwrap_or((&[0; CHUNK], &[]));
    let (c1, rest) = rest.split_first_chunk::<CHUNK>().unwrap_or((&[0; CHUNK], &[]));
    let (c2, rest) = rest.split_first_chunk::<CHUNK>().unwrap_or((&[0; CHUNK], &[]));
    let c3 = rest.first_chunk::<CHUNK>().unwrap_or(&[0; CHUNK]);
    let nl = u64::from(eq_mask(c0, b'\n'))
        | u64::from(eq_mask(c1, b'\n')) << 16
        | u64::from(eq_mask(c2, b'\n')) << 32
        | u64::from(eq_mask(c3, b'\n')) << 48;
    let colon = u64::from(eq_mask(c0, b':')) | u64::from(eq_mask(c1, b':')) << 16;
    (nl, colon)
}

/// The line starting at `from`: index of its `\n` and of its first `:` (if before the `\n`).
/// `None` if there is no `\n` at or after `from`.
#[inline(always)]
pub(super) fn scan_line(data: &[u8], from: usize) -> Option<(usize, Option<usize>)> {
    // Usual case: one 64-byte sweep finds the line end and a colon within its first 32 bytes.
    if let Some(block) = data.get(from..).and_then(<[u8]>::first_chunk::<64>) {
        let (nl, colon) = masks64(block);
        let c = colon.trailing_zeros();
        if nl != 0 {
            let n = nl.trailing_zeros();
            if c < n || n <= 32 {
                // The colon mask covers the line up to its end (or its colon).
                return Some((from + n as usize, (c < n).then_some(from + c as usize)));
            }
        } else if c < 64 {
            return Some((next_nl(data, from + 64)?, Some(from + c as usize)));
        }
    }
    scan_line_slow(data, from)
}

/// [`scan_line`] 16 bytes at a time (lines near the end of the buffer, or long names).
fn scan_line_slow(data: &[u8], from: usize) -> Option<(usize, Option<usize>)> {
    let stop = find2(data, from, b':', b'\n')?;
    if data[stop] == b'\n' {
        return Some((stop, None));
    }
    Some((next_nl(data, stop + 1)?, Some(stop)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic xorshift bytes biased towards the interesting ones.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 11 {
                    0 => b'\n',
                    1 => b':',
                    2 => b'\r',
                    _ => (x >> 8) as u8,
                }
            })
            .collect()
    }

    #[test]
    fn chunk_masks_match_scalar_reference() {
        for seed in 1..500u64 {
            let v = bytes(seed, CHUNK);
            let c: &[u8; CHUNK] = v.as_slice().try_into().unwrap();
            for x in [b'\n', b':', b'\r', 0, 0xff] {
                assert_eq!(eq_mask(c, x), eq_mask_scalar(c, x), "seed {seed}");
                assert_eq!(
                    eq2_mask(c, x, b':'),
                    eq_mask_scalar(c, x) | eq_mask_scalar(c, b':'),
                    "seed {seed}"
                );
            }
        }
    }

    #[test]
    fn line_scans_match_naive_search() {
        for seed in 1..80u64 {
            for len in [0usize, 1, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 200, 517] {
                let d = bytes(seed * 1000 + len as u64, len);
                for start in [0usize, 1, 7, 16, 40] {
                    if start > len {
                        continue;
                    }
                    let mut from = start;
                    loop {
                        let want = d[from..].iter().position(|&c| c == b'\n').map(|i| from + i);
                        assert_eq!(next_nl(&d, from), want, "seed {seed} len {len} from {from}");
                        let wc = want.and_then(|nl| d[from..nl].iter().position(|&c| c == b':').map(|i| from + i));
                        assert_eq!(
                            scan_line(&d, from),
                            want.map(|nl| (nl, wc)),
                            "seed {seed} len {len} {from}"
                        );
                        match want {
                            Some(p) => from = p + 1,
                            None => break,
                        }
                    }
                }
            }
        }
    }
}
