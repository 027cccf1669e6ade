//! The message parser as it was before the structural-scan rewrite (one `memchr` per line,
//! bytewise name scan, `str`-based Request-URI and CSeq checks), kept as the reference the
//! current one is compared against on generated messages.

#![allow(dead_code)]

use bytes::Bytes;
use memchr::memchr;

use super::limits::Limits;
use super::method::Method;
use super::types::{Message, Request, Response};
use crate::error::{HeaderFault, ParseError};
use crate::header::scan::TOKEN;
use crate::header::scan::{Cursor, is_ws, parse_u32, trim_bytes};
use crate::header::{Entry, HeaderName, Headers, Slot, Text};
use crate::uri::{Scheme, Uri};

fn span(s: usize, e: usize) -> Text {
    Text::Span(s as u32, e as u32)
}

/// Offsets of the trimmed slice `sub` (which lies within `data`).
fn trimmed_span(data: &[u8], start: usize, end: usize) -> (usize, usize) {
    let t = trim_bytes(&data[start..end]);
    let s = t.as_ptr() as usize - data.as_ptr() as usize;
    (s, s + t.len())
}

/// Line-end search. On x86-64 with AVX2 the searcher is built once per message and called
/// directly, which skips `memchr::memchr`'s per-call dispatch (it matters for ~20 short lines).
struct LineEnds {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl LineEnds {
    #[inline]
    fn new() -> Self {
        LineEnds {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }

    /// Index of the first `\n` in `h`.
    #[inline]
    fn find(&self, h: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = &self.avx2 {
            return f.find(h);
        }
        memchr(b'\n', h)
    }
}

enum Start {
    Request(Method, usize, usize),
    Response(u16, usize, usize),
}

fn parse_version(v: &[u8]) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    // "SIP/x.y" with digits is a version we do not speak (505); anything else is malformed.
    if v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&c| c.is_ascii_digit() || c == b'.')
        && v[4..].contains(&b'.')
    {
        return Err(ParseError::BadVersion);
    }
    Err(ParseError::MalformedRequestLine)
}

fn parse_start(data: &[u8], s: usize, e: usize, limits: &Limits) -> Result<Start, ParseError> {
    let line = &data[s..e];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp = memchr(b' ', line).ok_or(ParseError::MalformedStatusLine)?;
        parse_version(&line[..sp]).map_err(|e| match e {
            ParseError::BadVersion => e,
            _ => ParseError::MalformedStatusLine,
        })?;
        let rest = &line[sp + 1..];
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) || (rest.len() > 3 && rest[3] != b' ') {
            return Err(ParseError::MalformedStatusLine);
        }
        let code = u16::from(rest[0] - b'0') * 100 + u16::from(rest[1] - b'0') * 10 + u16::from(rest[2] - b'0');
        if !(100..=699).contains(&code) {
            return Err(ParseError::MalformedStatusLine);
        }
        let rs = (s + sp + 1 + 4).min(e);
        return Ok(Start::Response(code, rs, e));
    }
    let sp1 = memchr(b' ', line).ok_or(ParseError::MalformedRequestLine)?;
    let method = Method::from_bytes(&line[..sp1]).ok_or(ParseError::MalformedMethod)?;
    let rest = &line[sp1 + 1..];
    let sp2 = memchr(b' ', rest).ok_or(ParseError::MalformedRequestLine)?;
    let uri = &rest[..sp2];
    if uri.is_empty() {
        return Err(ParseError::MalformedRequestLine);
    }
    parse_version(&rest[sp2 + 1..])?;
    if uri.len() > limits.max_uri_len {
        return Err(ParseError::UriTooLong {
            len: uri.len(),
            limit: limits.max_uri_len,
        });
    }
    let uri_str = std::str::from_utf8(uri).map_err(|_| ParseError::MalformedRequestUri(crate::uri::UriError::Char))?;
    let parsed = Uri::parse(uri_str).map_err(ParseError::MalformedRequestUri)?;
    if parsed.scheme() == Scheme::Other {
        return Err(ParseError::UnsupportedUriScheme);
    }
    if !parsed.headers_str().is_empty() {
        return Err(ParseError::HeadersInRequestUri);
    }
    let us = s + sp1 + 1;
    Ok(Start::Request(method, us, us + uri.len()))
}

/// Indices of the fields the parser checks, first occurrence + count.
#[derive(Default)]
struct Seen {
    via: u32,
    from: u32,
    to: u32,
    call_id: u32,
    cseq: (u32, usize),
    content_length: (u32, usize),
}

/// Parses one message from `buf`. `stream`: Content-Length is mandatory and the body is exactly
/// that long (trailing bytes belong to the next message); returns the bytes consumed.
pub(super) fn parse(buf: Bytes, limits: &Limits, stream: bool) -> Result<(Message, usize), ParseError> {
    let data: &[u8] = &buf;
    let len = data.len();
    if len > limits.max_message_bytes && !stream {
        return Err(ParseError::TooLarge {
            size: len,
            limit: limits.max_message_bytes,
        });
    }
    let mut pos = 0;
    while pos < len && (data[pos] == b'\r' || data[pos] == b'\n') {
        pos += 1;
    }
    if pos == len {
        return Err(ParseError::Empty);
    }
    let lines = LineEnds::new();
    let nl = lines
        .find(&data[pos..])
        .map(|i| pos + i)
        .ok_or(ParseError::Incomplete)?;
    let le = if nl > pos && data[nl - 1] == b'\r' { nl - 1 } else { nl };
    let start = parse_start(data, pos, le, limits)?;
    pos = nl + 1;

    // Entries are 28 bytes, so this stays a small (thread-cache) allocation.
    let mut entries: Vec<Entry> = Vec::with_capacity(24);
    let mut ext: Vec<Text> = Vec::new();
    let mut seen = Seen::default();
    loop {
        let rel = lines.find(&data[pos..]).ok_or(ParseError::Incomplete)?;
        let nl = pos + rel;
        let le = if nl > pos && data[nl - 1] == b'\r' { nl - 1 } else { nl };
        if le == pos {
            pos = nl + 1;
            break;
        }
        if is_ws(data[pos]) {
            return Err(ParseError::MalformedHeaderLine);
        }
        // Field name: a token, optional SP/HTAB, then ':' (scanned inline over the line slice:
        // names are short, and slice iteration needs no per-byte bounds checks).
        let line = &data[pos..le];
        let name_len = token_prefix_len(line);
        let mut colon = name_len;
        while colon < line.len() && is_ws(line[colon]) {
            colon += 1;
        }
        if name_len == 0 || colon >= line.len() || line[colon] != b':' {
            return Err(ParseError::MalformedHeaderLine);
        }
        let name = &line[..name_len];
        let colon = pos + colon;
        let mut next = nl + 1;
        let value = if next < len && is_ws(data[next]) {
            // Folded: unfold into an owned value, continuation lines joined by one SP.
            let mut v = trim_bytes(&data[colon + 1..le]).to_vec();
            while next < len && is_ws(data[next]) {
                let rel = lines.find(&data[next..]).ok_or(ParseError::Incomplete)?;
                let nl2 = next + rel;
                let le2 = if data[nl2 - 1] == b'\r' { nl2 - 1 } else { nl2 };
                let cont = trim_bytes(&data[next..le2]);
                if !cont.is_empty() {
                    if !v.is_empty() {
                        v.push(b' ');
                    }
                    v.extend_from_slice(cont);
                }
                next = nl2 + 1;
                if next - pos > limits.max_header_line {
                    return Err(ParseError::HeaderLineTooLong {
                        limit: limits.max_header_line,
                    });
                }
            }
            ext.push(Text::Owned(Bytes::from(v)));
            Slot::Ext((ext.len() - 1) as u32)
        } else {
            let (vs, ve) = trimmed_span(data, colon + 1, le);
            Slot::Span(vs as u32, ve as u32)
        };
        if next - pos > limits.max_header_line {
            return Err(ParseError::HeaderLineTooLong {
                limit: limits.max_header_line,
            });
        }
        let kind = HeaderName::from_bytes(name);
        let idx = entries.len();
        match kind {
            HeaderName::Via => seen.via += 1,
            HeaderName::From => seen.from += 1,
            HeaderName::To => seen.to += 1,
            HeaderName::CallId => seen.call_id += 1,
            HeaderName::CSeq => seen.cseq = (seen.cseq.0 + 1, idx),
            HeaderName::ContentLength => seen.content_length = (seen.content_length.0 + 1, idx),
            _ => {}
        }
        entries.push(Entry {
            name: kind,
            raw_name: Slot::Span(pos as u32, (pos + name.len()) as u32),
            value,
        });
        if entries.len() > limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        pos = next;
    }
    let body_start = pos;

    for (count, name) in [
        (seen.call_id, HeaderName::CallId),
        (seen.from, HeaderName::From),
        (seen.to, HeaderName::To),
        (seen.cseq.0, HeaderName::CSeq),
        (seen.via, HeaderName::Via),
    ] {
        if count == 0 {
            return Err(ParseError::MissingHeader(name));
        }
        if count > 1 && name != HeaderName::Via {
            return Err(ParseError::DuplicateHeader(name));
        }
    }
    if seen.via as usize > limits.max_vias {
        return Err(ParseError::TooManyVias { limit: limits.max_vias });
    }
    if seen.content_length.0 > 1 {
        return Err(ParseError::DuplicateHeader(HeaderName::ContentLength));
    }
    let resolve = |slot: Slot| match slot {
        Slot::Span(s, e) => &data[s as usize..e as usize],
        Slot::Ext(i) => ext[i as usize].resolve(&buf),
    };
    let cseq_value = resolve(entries[seen.cseq.1].value);
    let cseq_str =
        std::str::from_utf8(cseq_value).map_err(|_| ParseError::header(HeaderName::CSeq, HeaderFault::Utf8))?;
    let (_, cseq_method) = parse_cseq_parts(cseq_str).map_err(|f| ParseError::header(HeaderName::CSeq, f))?;
    if let Start::Request(m, ..) = &start
        && m.as_str() != cseq_method
    {
        return Err(ParseError::CSeqMethodMismatch);
    }

    let available = len - body_start;
    let body_len = if seen.content_length.0 == 1 {
        let v = trim_bytes(resolve(entries[seen.content_length.1].value));
        if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::header(HeaderName::ContentLength, HeaderFault::Number));
        }
        let n = v.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
        if n > limits.max_message_bytes as u64 {
            return Err(ParseError::TooLarge {
                size: n as usize,
                limit: limits.max_message_bytes,
            });
        }
        let n = n as usize;
        if n > available {
            return Err(if stream {
                ParseError::Incomplete
            } else {
                ParseError::BodyTooShort { declared: n, available }
            });
        }
        n
    } else if stream {
        return Err(ParseError::MissingContentLength);
    } else {
        available
    };
    let consumed = body_start + body_len;
    let body = if body_len == 0 {
        Text::Static("")
    } else {
        span(body_start, consumed)
    };
    let headers = Headers { buf, entries, ext };
    let msg = match start {
        Start::Request(method, us, ue) => Message::Request(Request {
            method,
            uri: span(us, ue),
            headers,
            body,
        }),
        Start::Response(status, rs, re) => Message::Response(Response {
            status,
            reason: span(rs, re),
            headers,
            body,
        }),
    };
    Ok((msg, consumed))
}

/// Length of the longest prefix of `s` made of token characters.
fn token_prefix_len(s: &[u8]) -> usize {
    s.iter().position(|&c| !TOKEN[c as usize]).unwrap_or(s.len())
}

/// The CSeq split as it was (`str` cursor).
fn parse_cseq_parts(s: &str) -> Result<(u32, &str), HeaderFault> {
    let mut c = Cursor::new(s);
    c.skip_ws();
    let digits = c.take_while(|b| b.is_ascii_digit());
    let seq = parse_u32(digits)?;
    if seq >= 1 << 31 {
        return Err(HeaderFault::Number);
    }
    let before = c.pos;
    c.skip_ws();
    if c.pos == before {
        return Err(HeaderFault::Token);
    }
    let method = c.token();
    c.skip_ws();
    if method.is_empty() || !c.at_end() {
        return Err(HeaderFault::Token);
    }
    Ok((seq, method))
}
