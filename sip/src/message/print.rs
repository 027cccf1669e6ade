//! Printer: start line, `Name: value` lines in stored order, empty line, body.

use bytes::Bytes;

use super::types::{Message, Request, Response};
use crate::header::{HeaderName, Headers};

fn headers_len(h: &Headers) -> usize {
    h.iter().map(|f| f.raw_name.len() + f.value.len() + 4).sum::<usize>() + 2
}

fn write_headers(h: &Headers, out: &mut Vec<u8>, canonical: bool) {
    for f in h.iter() {
        match f.name {
            HeaderName::Other => out.extend_from_slice(f.raw_name),
            n if canonical => out.extend_from_slice(n.as_str().as_bytes()),
            _ => out.extend_from_slice(f.raw_name),
        }
        out.extend_from_slice(b": ");
        out.extend_from_slice(f.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

impl Request {
    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write(out, false);
    }

    fn write(&self, out: &mut Vec<u8>, canonical: bool) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.resolve(&self.headers.buf));
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers(&self.headers, out, canonical);
        out.extend_from_slice(self.body());
    }

    /// Exact size of the wire form, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.method.as_str().len()
            + self.uri.resolve(&self.headers.buf).len()
            + 11
            + headers_len(&self.headers)
            + self.body().len()
    }
}

impl Response {
    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write(out, false);
    }

    fn write(&self, out: &mut Vec<u8>, canonical: bool) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(b"SIP/2.0 ");
        let s = self.status;
        out.extend_from_slice(&[
            b'0' + (s / 100 % 10) as u8,
            b'0' + (s / 10 % 10) as u8,
            b'0' + (s % 10) as u8,
            b' ',
        ]);
        out.extend_from_slice(self.reason.resolve(&self.headers.buf));
        out.extend_from_slice(b"\r\n");
        write_headers(&self.headers, out, canonical);
        out.extend_from_slice(self.body());
    }

    /// Exact size of the wire form, in bytes.
    pub fn encoded_len(&self) -> usize {
        14 + self.reason.resolve(&self.headers.buf).len() + headers_len(&self.headers) + self.body().len()
    }
}

impl Message {
    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    /// Exact size of the wire form, in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::Request(r) => r.encoded_len(),
            Message::Response(r) => r.encoded_len(),
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut v);
        Bytes::from(v)
    }

    /// The normalized wire form: known header names in canonical spelling (compact forms
    /// expanded), one field per line (folding already undone by the parser), CRLF line ends,
    /// body unchanged. Used by `cxb sip parse`.
    pub fn to_normalized_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.encoded_len() + 64);
        match self {
            Message::Request(r) => r.write(&mut v, true),
            Message::Response(r) => r.write(&mut v, true),
        }
        Bytes::from(v)
    }
}

impl Request {
    /// The wire form.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut v);
        Bytes::from(v)
    }
}

impl Response {
    /// The wire form.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut v);
        Bytes::from(v)
    }
}
