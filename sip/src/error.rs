//! Parse errors for SIP messages, each mapping to the response a server answers with.

use crate::header::HeaderName;
use crate::uri::UriError;

/// Why a SIP message (or one of its header fields) could not be parsed.
///
/// Every variant maps to a status code ([`ParseError::status_code`]) and a reason phrase
/// ([`ParseError::reason_phrase`]) so that a server can answer a malformed request, e.g.
/// `400 Bad Request - Malformed Via header`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input holds no message (empty, or only line breaks).
    #[error("Empty message")]
    Empty,
    /// The message is larger than the configured limit.
    #[error("Message too large ({size} bytes, limit {limit})")]
    TooLarge {
        /// Size seen so far, in bytes.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// More header fields than the configured limit.
    #[error("Too many header fields (limit {limit})")]
    TooManyHeaders {
        /// Configured limit.
        limit: usize,
    },
    /// One header line (after unfolding) is longer than the configured limit.
    #[error("Header line too long (limit {limit})")]
    HeaderLineTooLong {
        /// Configured limit.
        limit: usize,
    },
    /// More Via values than the configured limit.
    #[error("Too many Via headers (limit {limit})")]
    TooManyVias {
        /// Configured limit.
        limit: usize,
    },
    /// The Request-URI is longer than the configured limit.
    #[error("Request-URI too long ({len} bytes, limit {limit})")]
    UriTooLong {
        /// Length of the Request-URI.
        len: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The header section is not terminated by an empty line.
    #[error("Incomplete header section")]
    Incomplete,
    /// The request line is not `Method SP Request-URI SP SIP/2.0`.
    #[error("Malformed Request-Line")]
    MalformedRequestLine,
    /// The status line is not `SIP/2.0 SP 3DIGIT SP Reason-Phrase`.
    #[error("Malformed Status-Line")]
    MalformedStatusLine,
    /// The method is not a token.
    #[error("Malformed method")]
    MalformedMethod,
    /// The SIP version is not 2.0.
    #[error("Unsupported SIP version")]
    BadVersion,
    /// The Request-URI is malformed.
    #[error("Malformed Request-URI ({0})")]
    MalformedRequestUri(UriError),
    /// The Request-URI uses a scheme other than sip, sips or tel.
    #[error("Unsupported URI scheme")]
    UnsupportedUriScheme,
    /// The Request-URI carries `?headers`, which RFC 3261 §19.1.1 forbids there.
    #[error("Headers not allowed in Request-URI")]
    HeadersInRequestUri,
    /// A header line has no colon or an invalid field name.
    #[error("Malformed header line")]
    MalformedHeaderLine,
    /// A required header field is missing.
    #[error("Missing {0} header")]
    MissingHeader(HeaderName),
    /// A header field that may appear only once appears several times.
    #[error("Multiple {0} headers")]
    DuplicateHeader(HeaderName),
    /// A header field value does not follow its grammar.
    #[error("Malformed {name} header")]
    MalformedHeader {
        /// The header field.
        name: HeaderName,
        /// What is wrong with it.
        fault: HeaderFault,
    },
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match request method")]
    CSeqMethodMismatch,
    /// The body is shorter than the Content-Length header says.
    #[error("Body shorter than Content-Length ({declared} declared, {available} present)")]
    BodyTooShort {
        /// Content-Length value.
        declared: usize,
        /// Bytes actually present after the header section.
        available: usize,
    },
    /// A stream-framed message has no Content-Length header (RFC 3261 §18.3 requires it).
    #[error("Missing Content-Length header on stream transport")]
    MissingContentLength,
}

/// What is wrong inside one header field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderFault {
    /// Not valid UTF-8.
    Utf8,
    /// The value is empty where something is required.
    Empty,
    /// A number is missing, not decimal, or out of range.
    Number,
    /// A token was expected.
    Token,
    /// A quoted string is not terminated.
    UnterminatedQuote,
    /// `<` without `>` or stray angle brackets.
    AngleBrackets,
    /// The display name is neither a token sequence nor a quoted string.
    DisplayName,
    /// A URI is malformed.
    Uri(UriError),
    /// A URI with `,`, `;` or `?` is not enclosed in `<>` (RFC 3261 §20).
    UnenclosedUri,
    /// A `;name=value` parameter is malformed or empty.
    Param,
    /// A comma-separated list has an empty element.
    EmptyListElement,
    /// The Via sent-protocol is not `SIP/2.0/transport`.
    SentProtocol,
    /// The host or port is malformed.
    HostPort,
    /// Unexpected trailing characters.
    Trailing,
    /// A single-value header holds several values.
    MultipleValues,
}

impl ParseError {
    pub(crate) fn header(name: HeaderName, fault: HeaderFault) -> Self {
        ParseError::MalformedHeader { name, fault }
    }

    /// Status code a server answers a request with when it fails this way
    /// (400, or 413/414/416/505 where RFC 3261 names a more specific one).
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::TooLarge { .. } => 413,
            ParseError::UriTooLong { .. } => 414,
            ParseError::UnsupportedUriScheme => 416,
            ParseError::BadVersion => 505,
            _ => 400,
        }
    }

    /// Reason phrase for the response, e.g. `Bad Request - Malformed Via header`.
    pub fn reason_phrase(&self) -> String {
        let base = match self.status_code() {
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Long",
            416 => "Unsupported URI Scheme",
            505 => "Version Not Supported",
            _ => "Bad Request",
        };
        match self {
            ParseError::UnsupportedUriScheme | ParseError::BadVersion => base.to_owned(),
            _ => format!("{base} - {self}"),
        }
    }

    /// The status line as a server would answer, e.g. `400 Bad Request - Missing Call-ID header`.
    pub fn status_line(&self) -> String {
        format!("{} {}", self.status_code(), self.reason_phrase())
    }
}
