//! Building the error response for a request that failed to parse.

use bytes::Bytes;
use memchr::memchr;

use super::types::Response;
use crate::error::ParseError;
use crate::header::scan::trim_bytes;
use crate::header::{HeaderName, HeaderValue};

/// Builds the response a server sends for a request that failed with `err` (e.g.
/// `400 Bad Request - Malformed Via header`), recovering Via, From, To, Call-ID and CSeq from the
/// raw bytes with a lenient line scan. Adds `;tag=<to_tag>` to To if it has none.
///
/// Returns `None` when no response can be sent: the input is a response or an ACK, or no Via
/// header could be recovered (nowhere to send it).
pub fn error_response(input: &[u8], err: &ParseError, to_tag: &str) -> Option<Response> {
    let mut lines = input.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start = lines.by_ref().find(|l| !l.is_empty())?;
    if start.len() >= 4 && start[..4].eq_ignore_ascii_case(b"SIP/") || start.starts_with(b"ACK ") {
        return None;
    }
    let mut r = Response::new(err.status_code(), err.reason_phrase());
    let wanted = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let mut have = [false; 5];
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = memchr(b':', line) else { continue };
        let name = HeaderName::from_bytes(trim_bytes(&line[..colon]));
        let value = trim_bytes(&line[colon + 1..]);
        if let Some(i) = wanted.iter().position(|&w| w == name)
            && !value.is_empty()
            && !value.contains(&b'\r')
            && (name == HeaderName::Via || !have[i])
        {
            have[i] = true;
            r.headers.push(name, HeaderValue::from(Bytes::copy_from_slice(value)));
        }
    }
    if !have[0] {
        return None;
    }
    if have[2] && !r.set_to_tag(to_tag) {
        // To could not be parsed: keep it verbatim rather than drop the response.
    }
    r.headers.push(HeaderName::ContentLength, "0");
    Some(r)
}
