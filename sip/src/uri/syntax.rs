//! URI syntax: one validating pass over the bytes that also locates the parts
//! ([`parse_parts`], the definition of what [`super::Uri::parse`] accepts).

use std::net::Ipv6Addr;

use super::{Scheme, UriError};

/// Character classes of [`check`]: 0 = not allowed, 1 = allowed, 2 = `%` (escape).
const fn class_table(extra: &[u8]) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')') {
            t[c] = 1;
        }
        c += 1;
    }
    t[b'%' as usize] = 2;
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = 1;
        i += 1;
    }
    t
}

static USER: [u8; 256] = class_table(b"&=+$,;?/");
static PASSWORD: [u8; 256] = class_table(b"&=+$,");
static PARAM: [u8; 256] = class_table(b"[]/:&+$;=");
static HEADERS: [u8; 256] = class_table(b"[]/?:+$=&");

/// Host name characters (`alphanum`, `-`, `.`).
static HOST: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        c += 1;
    }
    t
};

/// First index of `c` in `b`: a plain loop, cheaper than a SIMD search call on URI-sized input.
#[inline]
fn find(c: u8, b: &[u8]) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

/// `item sep item ...`: every item non-empty and not starting with `=`.
fn items_ok(b: &[u8], sep: u8) -> bool {
    let mut start = 0;
    loop {
        match b.get(start) {
            None => return false,
            Some(&c) if c == sep || c == b'=' => return false,
            _ => {}
        }
        match find(sep, &b[start..]) {
            Some(p) => start += p + 1,
            None => return true,
        }
    }
}

/// An IPv6 reference `[addr]`.
fn valid_v6_ref(b: &[u8]) -> bool {
    b.len() >= 2
        && b[0] == b'['
        && b[b.len() - 1] == b']'
        && std::str::from_utf8(&b[1..b.len() - 1]).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

fn check(b: &[u8], table: &[u8; 256], err: UriError) -> Result<(), UriError> {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match table[c as usize] {
            1 => i += 1,
            2 => {
                if i + 2 >= b.len() || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                    return Err(UriError::Escape);
                }
                i += 3;
            }
            _ => return Err(if c <= b' ' || c == 0x7f { UriError::Char } else { err }),
        }
    }
    Ok(())
}

/// Index of the first byte at or after `from` that is not in `table` (class 1, or a valid
/// `%XX` escape); `b.len()` if none. A malformed escape stops the scan at its `%`.
#[inline]
fn scan_class(b: &[u8], mut i: usize, table: &[u8; 256]) -> usize {
    // Four bytes per step while all are plain class-1 bytes (AND of the classes is 1 exactly then).
    while let Some(&[w, x, y, z]) = b.get(i..).and_then(<[u8]>::first_chunk::<4>) {
        if table[w as usize] & table[x as usize] & table[y as usize] & table[z as usize] != 1 {
            break;
        }
        i += 4;
    }
    while i < b.len() {
        match table[b[i] as usize] {
            1 => i += 1,
            2 if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => i += 3,
            _ => return i,
        }
    }
    i
}

/// A located userinfo: user range, password range (if any) and the index of the `@`.
type Userinfo = ((usize, usize), Option<(usize, usize)>, usize);

/// The common userinfo shapes in one pass: `user@` or `user:password@` with every byte valid.
/// `None` means "not that simple" (no userinfo, or an error to report): take the general path.
#[inline]
fn userinfo_fast(b: &[u8], rest: usize) -> Option<Userinfo> {
    let u_end = scan_class(b, rest, &USER);
    if u_end == rest {
        return None;
    }
    match b.get(u_end)? {
        b'@' => Some(((rest, u_end), None, u_end)),
        b':' => {
            let p_end = scan_class(b, u_end + 1, &PASSWORD);
            (b.get(p_end) == Some(&b'@')).then_some(((rest, u_end), Some((u_end + 1, p_end)), p_end))
        }
        _ => None,
    }
}

/// Where the parts of a URI are: byte ranges of the input (`(0, 0)` when absent).
#[derive(Debug, Clone, Copy)]
pub(super) struct Parts {
    pub(super) scheme: Scheme,
    pub(super) scheme_len: usize,
    pub(super) user: Option<(usize, usize)>,
    pub(super) password: Option<(usize, usize)>,
    pub(super) host: (usize, usize),
    pub(super) port: Option<u16>,
    pub(super) params: (usize, usize),
    pub(super) headers: (usize, usize),
}

/// Validates a URI and locates its parts (the definition of the syntax [`Uri::parse`] accepts).
#[inline(always)]
pub(super) fn parse_parts(b: &[u8]) -> Result<Parts, UriError> {
    if b.is_empty() {
        return Err(UriError::Empty);
    }
    // `sip:`, `sips:` and `tel:` (letters in any case: OR-ing 0x20 folds exactly the letter
    // positions) skip the general scheme scan, which they would pass.
    let word = |n: usize| b.first_chunk::<4>().map(|w| u32::from_le_bytes(*w) | n as u32);
    let (scheme, colon) = if word(0x0020_2020) == Some(u32::from_le_bytes(*b"sip:")) {
        (Scheme::Sip, 3)
    } else if word(0x2020_2020) == Some(u32::from_le_bytes(*b"sips")) && b.get(4) == Some(&b':') {
        (Scheme::Sips, 4)
    } else if word(0x0020_2020) == Some(u32::from_le_bytes(*b"tel:")) {
        (Scheme::Tel, 3)
    } else {
        let colon = find(b':', b).ok_or(UriError::Scheme)?;
        let sb = &b[..colon];
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(UriError::Scheme);
        }
        let scheme = match sb {
            [s, i, p] if (s | 0x20, i | 0x20, p | 0x20) == (b's', b'i', b'p') => Scheme::Sip,
            [s, i, p, s2] if (s | 0x20, i | 0x20, p | 0x20, s2 | 0x20) == (b's', b'i', b'p', b's') => Scheme::Sips,
            [t, e, l] if (t | 0x20, e | 0x20, l | 0x20) == (b't', b'e', b'l') => Scheme::Tel,
            _ => Scheme::Other,
        };
        (scheme, colon)
    };
    let mut p = Parts {
        scheme,
        scheme_len: colon,
        user: None,
        password: None,
        host: (0, 0),
        port: None,
        params: (0, 0),
        headers: (0, 0),
    };
    let rest = colon + 1;
    match scheme {
        Scheme::Sip | Scheme::Sips => parse_sip(b, rest, &mut p)?,
        Scheme::Tel => parse_tel(b, rest, &mut p)?,
        Scheme::Other => {
            if rest == b.len() {
                return Err(UriError::Empty);
            }
            if b[rest..]
                .iter()
                .any(|&c| c <= b' ' || matches!(c, b'<' | b'>' | b'"' | 0x7f))
            {
                return Err(UriError::Char);
            }
        }
    }
    Ok(p)
}

/// `[userinfo@]host[:port][;params][?headers]` from `b[rest..]`.
fn parse_sip(b: &[u8], rest: usize, p: &mut Parts) -> Result<(), UriError> {
    let userinfo = match userinfo_fast(b, rest) {
        Some(u) => Some(u),
        None => match memchr::memchr(b'@', &b[rest..]) {
            Some(at) => {
                let at = rest + at;
                let (user, password) = match find(b':', &b[rest..at]) {
                    Some(c) => ((rest, rest + c), Some((rest + c + 1, at))),
                    None => ((rest, at), None),
                };
                if user.0 == user.1 {
                    return Err(UriError::Userinfo);
                }
                check(&b[user.0..user.1], &USER, UriError::Userinfo)?;
                if let Some((s, e)) = password {
                    check(&b[s..e], &PASSWORD, UriError::Userinfo)?;
                }
                Some((user, password, at))
            }
            None => None,
        },
    };
    let hs = match userinfo {
        Some((user, password, at)) => {
            p.user = Some(user);
            p.password = password;
            at + 1
        }
        None => rest,
    };
    // Host ends at ':' (port), ';' (params), '?' (headers) or end; IPv6 in brackets.
    let end_of_host = |from: usize| {
        b[from..]
            .iter()
            .position(|&c| matches!(c, b':' | b';' | b'?'))
            .map_or(b.len(), |i| from + i)
    };
    let host_end = if b.get(hs) == Some(&b'[') {
        let he = hs + find(b']', &b[hs..]).ok_or(UriError::Host)? + 1;
        if !valid_v6_ref(&b[hs..he]) {
            return Err(if b[hs..he].iter().any(|&c| c <= b' ') {
                UriError::Char
            } else {
                UriError::Host
            });
        }
        he
    } else {
        // One pass over the host name; it must stop at a delimiter or the end.
        let mut stop = hs;
        while let Some(&[w, x, y, z]) = b.get(stop..).and_then(<[u8]>::first_chunk::<4>) {
            if !(HOST[w as usize] && HOST[x as usize] && HOST[y as usize] && HOST[z as usize]) {
                break;
            }
            stop += 4;
        }
        while stop < b.len() && HOST[b[stop] as usize] {
            stop += 1;
        }
        let n = stop - hs;
        let ok_stop = stop == b.len() || matches!(b[stop], b':' | b';' | b'?');
        if n == 0 || !ok_stop {
            let he = if ok_stop { stop } else { end_of_host(stop) };
            return Err(if b[hs..he].iter().any(|&c| c <= b' ') {
                UriError::Char
            } else {
                UriError::Host
            });
        }
        stop
    };
    p.host = (hs, host_end);
    let mut i = host_end;
    if b.get(i) == Some(&b':') {
        let start = i + 1;
        let mut end = start;
        let mut port = 0u32;
        // Value and length in one loop; a sixth digit is already an error.
        while end - start <= 5
            && let Some(&d) = b.get(end)
            && d.is_ascii_digit()
        {
            port = port * 10 + u32::from(d - b'0');
            end += 1;
        }
        if end == start || end - start > 5 {
            return Err(UriError::Port);
        }
        p.port = Some(u16::try_from(port).map_err(|_| UriError::Port)?);
        i = end;
    }
    parse_tail(b, i, p)
}

/// `[;params][?headers]` from `b[i..]` up to the end.
#[inline(always)]
fn parse_tail(b: &[u8], mut i: usize, p: &mut Parts) -> Result<(), UriError> {
    if b.get(i) == Some(&b';') {
        // One pass when the parameters are clean up to '?' or the end ('?' is not in PARAM).
        let stop = scan_class(b, i + 1, &PARAM);
        let clean = stop == b.len() || b[stop] == b'?';
        let end = if clean {
            stop
        } else {
            find(b'?', &b[i..]).map_or(b.len(), |q| i + q)
        };
        let params = &b[i + 1..end];
        if !clean {
            check(params, &PARAM, UriError::Params)?;
        }
        if !items_ok(params, b';') {
            return Err(UriError::Params);
        }
        p.params = (i, end);
        i = end;
    }
    if b.get(i) == Some(&b'?') {
        let headers = &b[i + 1..];
        check(headers, &HEADERS, UriError::Headers)?;
        if !items_ok(headers, b'&') {
            return Err(UriError::Headers);
        }
        p.headers = (i + 1, b.len());
        i = b.len();
    }
    if i != b.len() {
        return Err(if b[i] <= b' ' { UriError::Char } else { UriError::Host });
    }
    Ok(())
}

/// `number[;params][?headers]` from `b[rest..]`.
fn parse_tel(b: &[u8], rest: usize, p: &mut Parts) -> Result<(), UriError> {
    let end = b[rest..]
        .iter()
        .position(|&c| matches!(c, b';' | b'?'))
        .map_or(b.len(), |i| rest + i);
    let nb = &b[rest..end];
    let digits = nb.strip_prefix(b"+").unwrap_or(nb);
    if digits.is_empty()
        || !digits
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || matches!(c, b'*' | b'#' | b'-' | b'.' | b'(' | b')'))
    {
        return Err(UriError::TelNumber);
    }
    p.user = Some((rest, end));
    parse_tail(b, end, p)
}

/// Validates a Request-URI given as raw bytes, without building a [`Uri`]: its scheme and
/// whether it has `?headers`. Same acceptance and errors as [`Uri::parse`] on the same text
/// (bytes that are not UTF-8 are [`UriError::Char`]).
pub(crate) fn check_request_uri(b: &[u8]) -> Result<(Scheme, bool), UriError> {
    match parse_parts(b) {
        // The sip, sips and tel grammars accept ASCII only, so such a URI is valid UTF-8 and
        // the UTF-8 check (which comes first for text) is needed only for the other outcomes.
        Ok(p) if p.scheme != Scheme::Other => Ok((p.scheme, p.headers.1 > p.headers.0)),
        r => {
            if std::str::from_utf8(b).is_err() {
                return Err(UriError::Char);
            }
            r.map(|p| (p.scheme, p.headers.1 > p.headers.0))
        }
    }
}
