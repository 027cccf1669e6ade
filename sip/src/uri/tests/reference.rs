//! The URI parser as it was before the byte-level rewrite, kept as the reference the
//! current one is compared against.

#![allow(dead_code)]

use super::super::{Scheme, UriError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RefUri<'a> {
    pub(super) raw: &'a str,
    pub(super) scheme: Scheme,
    pub(super) scheme_len: usize,
    pub(super) user: Option<&'a str>,
    pub(super) password: Option<&'a str>,
    pub(super) host: &'a str,
    pub(super) port: Option<u16>,
    pub(super) params: &'a str,
    pub(super) headers: &'a str,
}

const fn class_table(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b'%');
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

static USER: [bool; 256] = class_table(b"&=+$,;?/");
static PASSWORD: [bool; 256] = class_table(b"&=+$,");
static PARAM: [bool; 256] = class_table(b"[]/:&+$;=");
static HEADERS: [bool; 256] = class_table(b"[]/?:+$=&");

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

/// Syntax check of a host (no address decoding except for IPv6 references).
fn valid_host(h: &str) -> bool {
    let b = h.as_bytes();
    match b.first() {
        None => false,
        Some(b'[') => super::super::Host::parse(h).is_some(),
        Some(_) => b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.'),
    }
}

fn check(s: &str, table: &[bool; 256], err: UriError) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !table[c as usize] {
            return Err(if c <= b' ' || c == 0x7f { UriError::Char } else { err });
        }
        if c == b'%' {
            if i + 2 >= b.len() {
                return Err(UriError::Escape);
            }
            if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return Err(UriError::Escape);
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    Ok(())
}

impl<'a> RefUri<'a> {
    /// Parses and validates a URI.
    pub fn parse(s: &'a str) -> Result<RefUri<'a>, UriError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(UriError::Empty);
        }
        let colon = find(b':', b).ok_or(UriError::Scheme)?;
        let scheme_str = &s[..colon];
        let sb = scheme_str.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(UriError::Scheme);
        }
        let scheme = if sb.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if sb.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if sb.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let rest = &s[colon + 1..];
        let mut uri = RefUri {
            raw: s,
            scheme,
            scheme_len: colon,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: "",
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest)?,
            Scheme::Tel => uri.parse_tel(rest)?,
            Scheme::Other => {
                if rest.is_empty() {
                    return Err(UriError::Empty);
                }
                if rest
                    .bytes()
                    .any(|c| c <= b' ' || matches!(c, b'<' | b'>' | b'"' | 0x7f))
                {
                    return Err(UriError::Char);
                }
            }
        }
        Ok(uri)
    }

    fn parse_sip(&mut self, rest: &'a str) -> Result<(), UriError> {
        let b = rest.as_bytes();
        let hostport_start = match find(b'@', b) {
            Some(at) => {
                let userinfo = &rest[..at];
                let (user, password) = match find(b':', userinfo.as_bytes()) {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(UriError::Userinfo);
                }
                check(user, &USER, UriError::Userinfo)?;
                if let Some(p) = password {
                    check(p, &PASSWORD, UriError::Userinfo)?;
                }
                self.user = Some(user);
                self.password = password;
                at + 1
            }
            None => 0,
        };
        let hp = &rest[hostport_start..];
        let hb = hp.as_bytes();
        // Host ends at ':' (port), ';' (params), '?' (headers) or end; IPv6 in brackets.
        let host_end = if hb.first() == Some(&b'[') {
            find(b']', hb).ok_or(UriError::Host)? + 1
        } else {
            hb.iter()
                .position(|&c| matches!(c, b':' | b';' | b'?'))
                .unwrap_or(hb.len())
        };
        let host = &hp[..host_end];
        if !valid_host(host) {
            return Err(if host.bytes().any(|c| c <= b' ') {
                UriError::Char
            } else {
                UriError::Host
            });
        }
        self.host = host;
        let mut i = host_end;
        if hb.get(i) == Some(&b':') {
            let start = i + 1;
            let mut end = start;
            while end < hb.len() && hb[end].is_ascii_digit() {
                end += 1;
            }
            if end == start || end - start > 5 {
                return Err(UriError::Port);
            }
            // 1..=5 ASCII digits (checked above): at most 99999, no overflow.
            let port = hb[start..end].iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
            self.port = Some(u16::try_from(port).map_err(|_| UriError::Port)?);
            i = end;
        }
        self.parse_tail(hp, i)
    }

    fn parse_tail(&mut self, hp: &'a str, mut i: usize) -> Result<(), UriError> {
        let hb = hp.as_bytes();
        if hb.get(i) == Some(&b';') {
            let end = find(b'?', &hb[i..]).map_or(hb.len(), |q| i + q);
            let params = &hp[i..end];
            check(&params[1..], &PARAM, UriError::Params)?;
            if !items_ok(&params.as_bytes()[1..], b';') {
                return Err(UriError::Params);
            }
            self.params = params;
            i = end;
        }
        if hb.get(i) == Some(&b'?') {
            let headers = &hp[i + 1..];
            check(headers, &HEADERS, UriError::Headers)?;
            if !items_ok(headers.as_bytes(), b'&') {
                return Err(UriError::Headers);
            }
            self.headers = headers;
            i = hb.len();
        }
        if i != hb.len() {
            return Err(if hb[i] <= b' ' { UriError::Char } else { UriError::Host });
        }
        Ok(())
    }

    fn parse_tel(&mut self, rest: &'a str) -> Result<(), UriError> {
        let b = rest.as_bytes();
        let end = b.iter().position(|&c| matches!(c, b';' | b'?')).unwrap_or(b.len());
        let number = &rest[..end];
        let nb = number.as_bytes();
        let digits = nb.strip_prefix(b"+").unwrap_or(nb);
        if digits.is_empty()
            || !digits
                .iter()
                .all(|&c| c.is_ascii_hexdigit() || matches!(c, b'*' | b'#' | b'-' | b'.' | b'(' | b')'))
        {
            return Err(UriError::TelNumber);
        }
        self.user = Some(number);
        self.parse_tail(rest, end)
    }
}
