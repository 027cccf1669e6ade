//! SIP messages: [`Request`], [`Response`], [`Message`]; zero-copy parser over `bytes::Bytes`
//! ([`Message::parse`]), printer ([`Message::to_bytes`]) and builders.
//!
//! The printer writes the start line, then every header field as `Name: value\r\n` in order, an
//! empty line and the body, so `print(parse(x)) == x` for anything this printer produced and
//! `parse(print(m)) == m` for any message built from valid values (no CR/LF inside values).

mod limits;
mod lines;
mod method;
mod parse;
mod print;
mod reply;
pub mod samples;
mod types;
mod validate;

pub use limits::Limits;
pub use method::Method;
pub use reply::error_response;
pub use types::{Message, Request, Response};

/// Parses one complete stream frame (Content-Length mandatory, body exactly that long).
pub(crate) fn parse_stream_frame(frame: bytes::Bytes, limits: &Limits) -> Result<Message, crate::error::ParseError> {
    parse::parse(frame, limits, true)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;
