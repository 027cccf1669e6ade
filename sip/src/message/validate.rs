//! Strict validation: decode every well-known header field once and report the first error.

use super::limits::Limits;
use super::types::Message;
use crate::error::{HeaderFault, ParseError};
use crate::header::{Contact, HeaderName, Headers};
use crate::uri::Scheme;

fn check_all<T>(it: impl Iterator<Item = Result<T, ParseError>>) -> Result<usize, ParseError> {
    let mut n = 0;
    for r in it {
        r?;
        n += 1;
    }
    Ok(n)
}

fn validate_headers(h: &Headers, limits: &Limits) -> Result<(), ParseError> {
    let vias = check_all(h.vias())?;
    if vias > limits.max_vias {
        return Err(ParseError::TooManyVias { limit: limits.max_vias });
    }
    h.from()?;
    h.to()?;
    h.call_id()?;
    h.cseq()?;
    h.max_forwards()?;
    h.content_length()?;
    h.expires()?;
    for c in h.contacts() {
        if let Contact::Addr(a) = c?
            && let Some(v) = a.param("expires")
            && v.is_none_or(|v| v.parse::<u32>().is_err())
        {
            return Err(ParseError::header(HeaderName::Contact, HeaderFault::Number));
        }
    }
    if h.contacts().count() > 1 && h.contacts().any(|c| matches!(c, Ok(Contact::Star))) {
        return Err(ParseError::header(HeaderName::Contact, HeaderFault::MultipleValues));
    }
    check_all(h.routes())?;
    check_all(h.record_routes())?;
    check_all(h.p_asserted_identities())?;
    check_all(h.diversions())?;
    h.refer_to()?;
    h.referred_by()?;
    h.content_type()?;
    h.rseq()?;
    h.rack()?;
    h.session_expires()?;
    h.min_se()?;
    h.event()?;
    h.subscription_state()?;
    h.replaces()?;
    for name in [HeaderName::From, HeaderName::To] {
        if h.list(name).count() > 1 {
            return Err(ParseError::header(name, HeaderFault::MultipleValues));
        }
    }
    Ok(())
}

impl Message {
    /// Decodes every well-known header field (Via, From, To, Call-ID, CSeq, Max-Forwards,
    /// Content-Length, Expires, Contact, Route, Record-Route, P-Asserted-Identity, Diversion,
    /// Refer-To, Referred-By, Content-Type, RSeq, RAck, Session-Expires, Min-SE, Event,
    /// Subscription-State, Replaces) and returns the first error. Unknown fields are not checked.
    pub fn validate(&self, limits: &Limits) -> Result<(), ParseError> {
        validate_headers(self.headers(), limits)?;
        if let Message::Request(r) = self
            && r.uri().scheme() == Scheme::Other
        {
            return Err(ParseError::UnsupportedUriScheme);
        }
        Ok(())
    }
}
