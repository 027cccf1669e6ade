//! Single-pass parser: each head line is scanned once, 16 bytes at a time, for its `\n` and
//! its first `:` ([`scan_line`]); header fields are stored as spans of the input.

use bytes::Bytes;

use super::limits::Limits;
use super::lines::{find_byte, next_nl, scan_line};
use super::method::Method;
use super::types::{Message, Request, Response};
use crate::error::{HeaderFault, ParseError};
use crate::header::scan::{is_token, is_ws, trim_bytes};
use crate::header::values::parse_cseq_bytes;
use crate::header::{Entry, HeaderName, Headers, Slot, Text};
use crate::uri::{Scheme, check_request_uri};

fn span(s: usize, e: usize) -> Text {
    Text::Span(s as u32, e as u32)
}

enum Start {
    Request(Method, usize, usize),
    Response(u16, usize, usize),
}

fn parse_version(v: &[u8]) -> Result<(), ParseError> {
    // `SIP/2.0`, letters in any case: OR-ing 0x20 folds exactly the three letter positions.
    if let Some((head, tail)) = v.split_first_chunk::<4>()
        && u32::from_le_bytes(*head) | 0x0020_2020 == u32::from_le_bytes(*b"sip/")
        && tail == b"2.0"
    {
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
        let sp = find_byte(line, b' ').ok_or(ParseError::MalformedStatusLine)?;
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
    let sp1 = find_byte(line, b' ').ok_or(ParseError::MalformedRequestLine)?;
    let method = Method::from_bytes(&line[..sp1]).ok_or(ParseError::MalformedMethod)?;
    let rest = &line[sp1 + 1..];
    let sp2 = find_byte(rest, b' ').ok_or(ParseError::MalformedRequestLine)?;
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
    let (scheme, has_headers) = check_request_uri(uri).map_err(ParseError::MalformedRequestUri)?;
    if scheme == Scheme::Other {
        return Err(ParseError::UnsupportedUriScheme);
    }
    if has_headers {
        return Err(ParseError::HeadersInRequestUri);
    }
    let us = s + sp1 + 1;
    Ok(Start::Request(method, us, us + uri.len()))
}

/// The usual CSeq of a request, `1*10DIGIT SP method` below 2^31 with the request's own
/// method, which the general check ([`parse_cseq_bytes`] and the method compare) accepts too.
/// `false` means "take the general path", not "invalid".
#[inline]
fn request_cseq_fast(start: &Start, v: &[u8]) -> bool {
    let Start::Request(m, ..) = start else {
        return false;
    };
    // Digits, value and count in one pass; an eleventh digit is already too many.
    let mut n = 0u64;
    let mut i = 0;
    while let Some(&d) = v.get(i)
        && d.is_ascii_digit()
    {
        if i == 10 {
            return false;
        }
        n = n * 10 + u64::from(d - b'0');
        i += 1;
    }
    let want = m.as_str().as_bytes();
    i > 0 && n < 1 << 31 && v.get(i) == Some(&b' ') && v.get(i + 1..) == Some(want)
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
/// that long; bytes after it are ignored (the caller frames the stream).
pub(crate) fn parse(buf: Bytes, limits: &Limits, stream: bool) -> Result<Message, ParseError> {
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
    let nl = next_nl(data, pos).ok_or(ParseError::Incomplete)?;
    let le = if nl > pos && data[nl - 1] == b'\r' { nl - 1 } else { nl };
    let start = parse_start(data, pos, le, limits)?;
    pos = nl + 1;

    // Entries are 28 bytes, so this stays a small (thread-cache) allocation.
    let mut entries: Vec<Entry> = Vec::with_capacity(24);
    let mut ext: Vec<Text> = Vec::new();
    let mut seen = Seen::default();
    let first = pos;
    loop {
        let (nl, colon) = scan_line(data, pos).ok_or(ParseError::Incomplete)?;
        let le = if nl > pos && data[nl - 1] == b'\r' { nl - 1 } else { nl };
        if le == pos {
            pos = nl + 1;
            break;
        }
        // A later line never starts with white space: that would have been a fold of the one before.
        if pos == first && is_ws(data[pos]) {
            return Err(ParseError::MalformedHeaderLine);
        }
        // Field name: a token, optional SP/HTAB, then ':'. Token characters exclude ':' and
        // white space, so that is "the text before the first ':', right-trimmed, is a token".
        // A known name is a token by construction; only unknown ones are checked bytewise.
        let colon = colon.ok_or(ParseError::MalformedHeaderLine)?;
        let mut name_end = colon;
        while name_end > pos && is_ws(data[name_end - 1]) {
            name_end -= 1;
        }
        let name = &data[pos..name_end];
        let kind = HeaderName::from_bytes(name);
        if kind == HeaderName::Other && !is_token(name) {
            return Err(ParseError::MalformedHeaderLine);
        }
        let mut next = nl + 1;
        let value = if next < len && is_ws(data[next]) {
            // Folded: unfold into an owned value, continuation lines joined by one SP.
            let mut v = trim_bytes(&data[colon + 1..le]).to_vec();
            while next < len && is_ws(data[next]) {
                let nl2 = next_nl(data, next).ok_or(ParseError::Incomplete)?;
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
            // Usual shape: one SP after the colon, none before the line end.
            let (mut vs, mut ve) = (colon + 1, le);
            if let [b' ', c, .., z] = data[vs..ve]
                && !is_ws(c)
                && !is_ws(z)
            {
                vs += 1;
            } else {
                while vs < le && is_ws(data[vs]) {
                    vs += 1;
                }
                while ve > vs && is_ws(data[ve - 1]) {
                    ve -= 1;
                }
            }
            Slot::Span(vs as u32, ve as u32)
        };
        if next - pos > limits.max_header_line {
            return Err(ParseError::HeaderLineTooLong {
                limit: limits.max_header_line,
            });
        }
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
            raw_name: Slot::Span(pos as u32, name_end as u32),
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
    if !request_cseq_fast(&start, cseq_value) {
        if !cseq_value.is_ascii() && std::str::from_utf8(cseq_value).is_err() {
            return Err(ParseError::header(HeaderName::CSeq, HeaderFault::Utf8));
        }
        let (_, ms, me) = parse_cseq_bytes(cseq_value).map_err(|f| ParseError::header(HeaderName::CSeq, f))?;
        if let Start::Request(m, ..) = &start
            && m.as_str().as_bytes() != &cseq_value[ms..me]
        {
            return Err(ParseError::CSeqMethodMismatch);
        }
    }

    let available = len - body_start;
    let body_len = if seen.content_length.0 == 1 {
        let v = resolve(entries[seen.content_length.1].value);
        // Spans are already trimmed of SP/HTAB; only stray CR/LF could be left to trim.
        let v = match v {
            [a, .., z] if a.is_ascii_digit() && z.is_ascii_digit() => v,
            [a] if a.is_ascii_digit() => v,
            _ => trim_bytes(v),
        };
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
    Ok(msg)
}
