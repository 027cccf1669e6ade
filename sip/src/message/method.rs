//! SIP request methods.

use std::fmt;

use crate::header::scan::is_token;

/// A SIP method. Methods are case-sensitive (RFC 3261 §7.1); anything that is a token but not
/// one of the known methods is an [`Method::Extension`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// REGISTER
    Register,
    /// OPTIONS
    Options,
    /// INFO (RFC 6086)
    Info,
    /// UPDATE (RFC 3311)
    Update,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token.
    Extension(Box<str>),
}

impl Method {
    /// Decodes a method token; `None` if `b` is not a token.
    pub fn from_bytes(b: &[u8]) -> Option<Method> {
        // Equality with a constant of known length inlines to a length check and one or two
        // word compares (no memcmp call); the most common methods come first.
        Some(if b == b"INVITE" {
            Method::Invite
        } else if b == b"ACK" {
            Method::Ack
        } else if b == b"BYE" {
            Method::Bye
        } else if b == b"OPTIONS" {
            Method::Options
        } else if b == b"REGISTER" {
            Method::Register
        } else if b == b"CANCEL" {
            Method::Cancel
        } else if b == b"INFO" {
            Method::Info
        } else if b == b"UPDATE" {
            Method::Update
        } else if b == b"PRACK" {
            Method::Prack
        } else if b == b"SUBSCRIBE" {
            Method::Subscribe
        } else if b == b"NOTIFY" {
            Method::Notify
        } else if b == b"REFER" {
            Method::Refer
        } else if b == b"MESSAGE" {
            Method::Message
        } else if b == b"PUBLISH" {
            Method::Publish
        } else if is_token(b) {
            Method::Extension(std::str::from_utf8(b).ok()?.into())
        } else {
            return None;
        })
    }

    /// The method name as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = crate::error::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::from_bytes(s.as_bytes()).ok_or(crate::error::ParseError::MalformedMethod)
    }
}
