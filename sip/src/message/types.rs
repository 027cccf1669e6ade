//! Request, Response and Message types with their accessors and builders.

use bytes::Bytes;

use super::limits::Limits;
use super::method::Method;
use crate::error::ParseError;
use crate::header::{HeaderName, HeaderValue, Headers, Text};
use crate::uri::{Uri, UriError};

/// A SIP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) uri: Text,
    pub(crate) headers: Headers,
    pub(crate) body: Text,
}

/// A SIP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) reason: Text,
    pub(crate) headers: Headers,
    pub(crate) body: Text,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

fn set_body(headers: &mut Headers, body_slot: &mut Text, content_type: Option<HeaderValue>, body: HeaderValue) {
    *body_slot = body.0;
    let len = body_slot.resolve(&headers.buf).len();
    if let Some(ct) = content_type {
        headers.set(HeaderName::ContentType, ct);
    }
    headers.set(HeaderName::ContentLength, len.to_string());
}

impl Request {
    /// A request with no header fields and an empty body. The URI is validated and copied.
    /// Add headers with [`Request::headers_mut`]; call [`Request::set_body`] (also for an empty
    /// body) to get a Content-Length.
    pub fn new(method: Method, uri: &str) -> Result<Request, UriError> {
        Uri::parse(uri)?;
        Ok(Request {
            method,
            uri: Text::Owned(Bytes::copy_from_slice(uri.as_bytes())),
            headers: Headers::new(),
            body: Text::Static(""),
        })
    }

    /// Parses a datagram that must hold a request (see [`Message::parse`]).
    pub fn parse(buf: impl Into<Bytes>) -> Result<Request, ParseError> {
        match Message::parse(buf)? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(ParseError::MalformedRequestLine),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The Request-URI text.
    pub fn uri_str(&self) -> &str {
        std::str::from_utf8(self.uri.resolve(&self.headers.buf)).unwrap_or("")
    }

    /// The Request-URI (validated when the request was parsed or built).
    pub fn uri(&self) -> Uri<'_> {
        Uri::parse(self.uri_str()).expect("Request-URI is validated on construction")
    }

    /// Replaces the Request-URI.
    pub fn set_uri(&mut self, uri: &str) -> Result<(), UriError> {
        Uri::parse(uri)?;
        self.uri = Text::Owned(Bytes::copy_from_slice(uri.as_bytes()));
        Ok(())
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The header fields, for editing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.body.resolve(&self.headers.buf)
    }

    /// The body as a zero-copy `Bytes`.
    pub fn body_bytes(&self) -> Bytes {
        self.body.to_bytes(&self.headers.buf)
    }

    /// Sets the body, Content-Length and (if given) Content-Type.
    pub fn set_body(&mut self, content_type: Option<HeaderValue>, body: impl Into<HeaderValue>) {
        set_body(&mut self.headers, &mut self.body, content_type, body.into());
    }
}

impl Response {
    /// A response with no header fields and an empty body.
    pub fn new(status: u16, reason: impl Into<HeaderValue>) -> Response {
        Response {
            status,
            reason: reason.into().0,
            headers: Headers::new(),
            body: Text::Static(""),
        }
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): copies all Via, From, To, Call-ID and CSeq
    /// fields, sets `Content-Length: 0`. Add a To tag with [`Response::set_to_tag`].
    pub fn from_request(req: &Request, status: u16, reason: impl Into<HeaderValue>) -> Response {
        let mut r = Response::new(status, reason);
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            r.headers.copy_from(&req.headers, name);
        }
        r.headers.push(HeaderName::ContentLength, "0");
        r
    }

    /// Parses a datagram that must hold a response (see [`Message::parse`]).
    pub fn parse(buf: impl Into<Bytes>) -> Result<Response, ParseError> {
        match Message::parse(buf)? {
            Message::Response(r) => Ok(r),
            Message::Request(_) => Err(ParseError::MalformedStatusLine),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase (lossy UTF-8).
    pub fn reason(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.reason.resolve(&self.headers.buf))
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The header fields, for editing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.body.resolve(&self.headers.buf)
    }

    /// The body as a zero-copy `Bytes`.
    pub fn body_bytes(&self) -> Bytes {
        self.body.to_bytes(&self.headers.buf)
    }

    /// Sets the body, Content-Length and (if given) Content-Type.
    pub fn set_body(&mut self, content_type: Option<HeaderValue>, body: impl Into<HeaderValue>) {
        set_body(&mut self.headers, &mut self.body, content_type, body.into());
    }

    /// Appends `;tag=<tag>` to the To field unless it already has a tag. Returns false if there
    /// is no (parsable) To field.
    pub fn set_to_tag(&mut self, tag: &str) -> bool {
        let new = match self.headers.to() {
            Ok(to) if to.tag().is_some() => return true,
            Ok(_) => {
                let v = self.headers.get_str(HeaderName::To).unwrap_or("");
                format!("{v};tag={tag}")
            }
            Err(_) => return false,
        };
        self.headers.set(HeaderName::To, new);
        true
    }
}

impl Message {
    /// Parses one datagram with default [`Limits`] (structural checks only; see
    /// [`Message::parse_strict`]). A body longer than Content-Length is truncated (RFC 3261
    /// §18.3); a shorter one is an error; without Content-Length the body runs to the end.
    pub fn parse(buf: impl Into<Bytes>) -> Result<Message, ParseError> {
        Self::parse_with(buf, &Limits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_with(buf: impl Into<Bytes>, limits: &Limits) -> Result<Message, ParseError> {
        super::parse::parse(buf.into(), limits, false)
    }

    /// Parses and then validates every well-known header field ([`Message::validate`]).
    pub fn parse_strict(buf: impl Into<Bytes>, limits: &Limits) -> Result<Message, ParseError> {
        let m = Self::parse_with(buf, limits)?;
        m.validate(limits)?;
        Ok(m)
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The header fields, for editing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => r.body(),
            Message::Response(r) => r.body(),
        }
    }

    /// The body as a zero-copy `Bytes`.
    pub fn body_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.body_bytes(),
            Message::Response(r) => r.body_bytes(),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

impl PartialEq for Request {
    fn eq(&self, o: &Self) -> bool {
        self.method == o.method
            && self.uri.resolve(&self.headers.buf) == o.uri.resolve(&o.headers.buf)
            && self.headers == o.headers
            && self.body() == o.body()
    }
}

impl Eq for Request {}

impl PartialEq for Response {
    fn eq(&self, o: &Self) -> bool {
        self.status == o.status
            && self.reason.resolve(&self.headers.buf) == o.reason.resolve(&o.headers.buf)
            && self.headers == o.headers
            && self.body() == o.body()
    }
}

impl Eq for Response {}
