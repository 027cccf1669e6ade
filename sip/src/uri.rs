//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), parsed as zero-copy views over `&str`.
//!
//! [`Uri::parse`] validates the syntax once; accessors are then cheap slices of the input.
//! Escapes (`%XX`) are kept as written; [`unescape`] decodes them on demand.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::header::Params;

mod syntax;

pub(crate) use syntax::check_request_uri;
use syntax::parse_parts;

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

impl<'a> Uri<'a> {
    /// Parses and validates a URI.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
        let p = parse_parts(s.as_bytes())?;
        // Every offset is at an ASCII delimiter or an end, so on a char boundary.
        let part = |(a, b): (usize, usize)| s.get(a..b).unwrap_or("");
        Ok(Uri {
            raw: s,
            scheme: p.scheme,
            scheme_len: p.scheme_len,
            user: p.user.map(part),
            password: p.password.map(part),
            host: part(p.host),
            port: p.port,
            params: part(p.params),
            headers: part(p.headers),
        })
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
mod tests;
