//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), parsed as zero-copy views over `&str`.
//!
//! [`Uri::parse`] validates the syntax once; accessors are then cheap slices of the input.
//! Escapes (`%XX`) are kept as written; [`unescape`] decodes them on demand.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::header::Params;

/// URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme (kept opaque; allowed in header fields, refused in a Request-URI with 416).
    Other,
}

/// Why a URI could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Empty input.
    #[error("empty URI")]
    Empty,
    /// No `scheme:` prefix, or the scheme has invalid characters.
    #[error("bad scheme")]
    Scheme,
    /// Invalid character in the user or password part.
    #[error("bad userinfo")]
    Userinfo,
    /// Missing or malformed host.
    #[error("bad host")]
    Host,
    /// Port is not a number in 0..=65535.
    #[error("bad port")]
    Port,
    /// `%` not followed by two hex digits.
    #[error("bad escape")]
    Escape,
    /// Malformed `;param`.
    #[error("bad parameter")]
    Params,
    /// Malformed `?header=value`.
    #[error("bad headers")]
    Headers,
    /// Whitespace or a character not allowed in a URI.
    #[error("invalid character")]
    Char,
    /// A tel URI whose number has invalid characters.
    #[error("bad telephone number")]
    TelNumber,
}

/// The host part of a SIP URI or a Via sent-by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name (as written).
    Name(&'a str),
    /// A dotted IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference (written in brackets).
    Ipv6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses a host: `[v6]`, dotted IPv4 or a domain name.
    pub fn parse(s: &'a str) -> Option<Host<'a>> {
        let b = s.as_bytes();
        if b.first() == Some(&b'[') {
            if b.last() != Some(&b']') {
                return None;
            }
            return s[1..s.len() - 1].parse().ok().map(Host::Ipv6);
        }
        if b.is_empty() || !b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
            return None;
        }
        if b.iter().all(|&c| c.is_ascii_digit() || c == b'.')
            && let Ok(v4) = s.parse()
        {
            return Some(Host::Ipv4(v4));
        }
        Some(Host::Name(s))
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A parsed URI: a view over the text it was parsed from.
///
/// For `tel:` URIs, [`Uri::user`] is the telephone number and [`Uri::host`] is empty.
/// For other schemes only [`Uri::scheme_str`] and [`Uri::opaque`] are meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: Scheme,
    scheme_len: usize,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
    params: &'a str,
    headers: &'a str,
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
        Some(b'[') => Host::parse(h).is_some(),
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

impl<'a> Uri<'a> {
    /// Parses and validates a URI.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
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
        let mut uri = Uri {
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

    /// The URI text as parsed.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The scheme as written (without the colon).
    pub fn scheme_str(&self) -> &'a str {
        &self.raw[..self.scheme_len]
    }

    /// Everything after `scheme:`.
    pub fn opaque(&self) -> &'a str {
        &self.raw[self.scheme_len + 1..]
    }

    /// The user part as written (escapes kept); for tel URIs, the number.
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }

    /// The user part with `%XX` escapes decoded (may contain any byte, e.g. `%00`).
    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(unescape)
    }

    /// The password, if the userinfo had one.
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }

    /// The host as written (IPv6 with brackets); empty for tel and other schemes.
    pub fn host_str(&self) -> &'a str {
        self.host
    }

    /// The decoded host (None for tel and other schemes).
    pub fn host(&self) -> Option<Host<'a>> {
        if self.host.is_empty() {
            None
        } else {
            Host::parse(self.host)
        }
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'a> {
        Params::from_validated(self.params)
    }

    /// Value of one URI parameter: `None` if absent, `Some(None)` for a flag such as `lr`.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params().get(name)
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// Whether the `lr` (loose routing) parameter is present.
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The raw `?headers` part (without `?`), empty if none.
    pub fn headers_str(&self) -> &'a str {
        self.headers
    }

    /// The `?name=value&...` URI headers (values still escaped, e.g. `Replaces=abc%40h`).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let h = self.headers;
        h.split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Decodes `%XX` escapes; malformed escapes are kept literally.
pub fn unescape(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if memchr::memchr(b'%', b).is_none() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u =
            Uri::parse("sip:alice:secret@[2001:db8::1]:5061;transport=tcp;lr;user=phone?Replaces=a%40b&X=1").unwrap();
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secret"));
        assert_eq!(u.host(), Some(Host::Ipv6("2001:db8::1".parse().unwrap())));
        assert_eq!(u.port(), Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.is_loose_route());
        assert_eq!(u.param("user"), Some(Some("phone")));
        let h: Vec<_> = u.headers().collect();
        assert_eq!(h, vec![("Replaces", "a%40b"), ("X", "1")]);
    }

    #[test]
    fn escaped_user_and_semicolon_user() {
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user_unescaped().unwrap().as_ref(), b"sips:user@example.com");
        assert_eq!(u.host_str(), "example.net");
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(u.params().iter().count(), 0);
        let u = Uri::parse("sip:null-%00-null@example.com").unwrap();
        assert_eq!(u.user_unescaped().unwrap().as_ref(), b"null-\0-null");
    }

    #[test]
    fn tel_and_other() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme(), Scheme::Tel);
        assert_eq!(u.user(), Some("+1-201-555-0123"));
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
        let u = Uri::parse("urn:service:sos").unwrap();
        assert_eq!(u.scheme(), Scheme::Other);
        assert_eq!(u.opaque(), "service:sos");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "",
            "sip:",
            "<sip:a@b>",
            "sip:user@example.com; lr",
            "sip:a@b:99999",
            "sip:a@b:x",
            "sip:a%4@b",
            "sip:@b",
            "sip:a@b;;",
            "sip:a@[::1",
            "tel:abc-x",
            "1sip:a@b",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
