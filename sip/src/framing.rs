//! Sans-IO stream framing for SIP over TCP/TLS (RFC 3261 §18.3): feed arbitrary byte chunks,
//! poll complete messages delimited by Content-Length, plus RFC 5626 CRLF keep-alives.
//!
//! ```
//! use cxb_sip::framing::{StreamEvent, StreamFramer};
//! let mut f = StreamFramer::default();
//! f.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n");
//! assert!(matches!(f.poll(), Ok(Some(StreamEvent::Ping))));
//! assert!(matches!(f.poll(), Ok(None)));
//! f.push(b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
//! assert!(matches!(f.poll(), Ok(Some(StreamEvent::Message(_)))));
//! ```

use bytes::BytesMut;
use memchr::memchr;

use crate::error::{HeaderFault, ParseError};
use crate::header::HeaderName;
use crate::header::scan::trim_bytes;
use crate::message::{Limits, Message};

/// Something that arrived on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum StreamEvent {
    /// A complete message.
    Message(Message),
    /// A double-CRLF keep-alive ping (RFC 5626 §4.4.1): answer with a single CRLF pong.
    Ping,
    /// A single-CRLF pong (answer to a ping we sent).
    Pong,
}

/// Stream framing failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The message (header section or Content-Length) exceeds the limit; the stream cannot be
    /// resynchronised and should be closed.
    #[error("message too large ({size} bytes, limit {limit})")]
    TooLarge {
        /// Bytes buffered or declared.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The header section has no Content-Length; the stream cannot be resynchronised.
    #[error("missing Content-Length header on stream transport")]
    MissingContentLength,
    /// Content-Length is not a number; the stream cannot be resynchronised.
    #[error("malformed Content-Length header")]
    BadContentLength,
    /// A complete frame was cut out but did not parse; the stream stays in sync (answer 400 and go on).
    #[error("malformed message: {0}")]
    Parse(ParseError),
    /// An earlier unrecoverable error poisoned the stream.
    #[error("stream closed after a framing error")]
    Poisoned,
}

impl FramingError {
    /// Whether the connection must be closed (framing is lost).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FramingError::Parse(_))
    }

    /// The parse error inside, when there is one with a status code to answer.
    pub fn as_parse_error(&self) -> Option<ParseError> {
        match self {
            FramingError::Parse(e) => Some(e.clone()),
            FramingError::MissingContentLength => Some(ParseError::MissingContentLength),
            FramingError::BadContentLength => Some(ParseError::header(HeaderName::ContentLength, HeaderFault::Number)),
            FramingError::TooLarge { size, limit } => Some(ParseError::TooLarge {
                size: *size,
                limit: *limit,
            }),
            FramingError::Poisoned => None,
        }
    }
}

/// Splits a byte stream into SIP messages.
///
/// Keep-alives are recognised only between messages: `CRLFCRLF` is a [`StreamEvent::Ping`], a
/// lone `CRLF` (followed by anything but CR, or by nothing yet) is a [`StreamEvent::Pong`]. A ping
/// split exactly after its first CRLF reads as two pongs (RFC 5626 senders write it in one go).
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    scan_from: usize,
    poisoned: bool,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new(Limits::default())
    }
}

impl StreamFramer {
    /// A framer applying `limits` (max message size bounds the buffer).
    pub fn new(limits: Limits) -> Self {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            limits,
            scan_from: 0,
            poisoned: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.poisoned {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn fail(&mut self, e: FramingError) -> Result<Option<StreamEvent>, FramingError> {
        self.poisoned = true;
        self.buf.clear();
        Err(e)
    }

    /// The next event, `Ok(None)` if more bytes are needed.
    pub fn poll(&mut self) -> Result<Option<StreamEvent>, FramingError> {
        if self.poisoned {
            return Err(FramingError::Poisoned);
        }
        while self.scan_from == 0 {
            match self.buf.first() {
                None => return Ok(None),
                Some(b'\r') => {
                    if self.buf.starts_with(b"\r\n\r\n") {
                        let _ = self.buf.split_to(4);
                        return Ok(Some(StreamEvent::Ping));
                    }
                    if self.buf.len() < 2 || (self.buf.len() == 3 && self.buf[2] == b'\r') {
                        return Ok(None);
                    }
                    if self.buf[1] == b'\n' {
                        let _ = self.buf.split_to(2);
                        return Ok(Some(StreamEvent::Pong));
                    }
                    let _ = self.buf.split_to(1);
                }
                Some(b'\n') => {
                    let _ = self.buf.split_to(1);
                }
                Some(_) => break,
            }
        }
        let Some(rel) = memchr::memmem::find(&self.buf[self.scan_from..], b"\r\n\r\n") else {
            if self.buf.len() > self.limits.max_message_bytes {
                let size = self.buf.len();
                return self.fail(FramingError::TooLarge {
                    size,
                    limit: self.limits.max_message_bytes,
                });
            }
            self.scan_from = self.buf.len().saturating_sub(3);
            return Ok(None);
        };
        let head_end = self.scan_from + rel + 4;
        let Some(cl) = content_length(&self.buf[..head_end]) else {
            return self.fail(FramingError::MissingContentLength);
        };
        let Some(cl) = cl else {
            return self.fail(FramingError::BadContentLength);
        };
        let total = head_end.saturating_add(cl);
        if total > self.limits.max_message_bytes {
            return self.fail(FramingError::TooLarge {
                size: total,
                limit: self.limits.max_message_bytes,
            });
        }
        if self.buf.len() < total {
            self.scan_from = head_end - 4;
            return Ok(None);
        }
        self.scan_from = 0;
        let frame = self.buf.split_to(total).freeze();
        match crate::message::parse_stream_frame(frame, &self.limits) {
            Ok(m) => Ok(Some(StreamEvent::Message(m))),
            Err(e) => Err(FramingError::Parse(e)),
        }
    }
}

/// Finds Content-Length in a header section: `None` if absent, `Some(None)` if malformed.
fn content_length(head: &[u8]) -> Option<Option<usize>> {
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = memchr(b':', line) else { continue };
        if HeaderName::from_bytes(trim_bytes(&line[..colon])) != HeaderName::ContentLength {
            continue;
        }
        let v = trim_bytes(line[colon + 1..].strip_suffix(b"\r").unwrap_or(&line[colon + 1..]));
        if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
            return Some(None);
        }
        return Some(Some(v.iter().fold(0usize, |a, &d| a * 10 + usize::from(d - b'0'))));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: x@y\r\nCSeq: 2 BYE\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn every_split_point_yields_the_same_message() {
        let whole = Message::parse(MSG).unwrap();
        for cut in 0..=MSG.len() {
            let mut f = StreamFramer::default();
            let mut got = Vec::new();
            for part in [&MSG[..cut], &MSG[cut..], MSG] {
                f.push(part);
                while let Some(ev) = f.poll().unwrap() {
                    got.push(ev);
                }
            }
            assert_eq!(
                got,
                vec![StreamEvent::Message(whole.clone()), StreamEvent::Message(whole.clone())],
                "cut {cut}"
            );
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn keepalives_and_errors() {
        let mut f = StreamFramer::default();
        f.push(b"\r\n\r\n\r\n");
        assert_eq!(f.poll(), Ok(Some(StreamEvent::Ping)));
        assert_eq!(f.poll(), Ok(Some(StreamEvent::Pong)));
        assert_eq!(f.poll(), Ok(None));
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n");
        assert_eq!(f.poll(), Err(FramingError::MissingContentLength));
        assert_eq!(f.poll(), Err(FramingError::Poisoned));
        let mut f = StreamFramer::new(Limits {
            max_message_bytes: 100,
            ..Limits::default()
        });
        f.push(&[b'A'; 101]);
        assert!(matches!(f.poll(), Err(FramingError::TooLarge { .. })));
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(
            f.poll(),
            Err(FramingError::Parse(ParseError::MissingHeader(_)))
        ));
    }
}
