//! Typed accessors on [`Headers`]: decode on demand, errors name the header field.

use super::list::Headers;
use super::name::HeaderName;
use super::name_addr::{Contact, NameAddr};
use super::scan::{ListIter, split_list, trim};
use super::values::{
    CSeq, Event, MediaType, RAck, Replaces, SessionExpires, SubscriptionState, is_word_char, number_with_params,
};
use super::via::Via;
use crate::error::{HeaderFault, ParseError};

/// Iterator over the comma-separated elements of every field with one name, in order.
#[derive(Debug, Clone)]
pub struct ListValues<'a> {
    headers: &'a Headers,
    name: HeaderName,
    idx: usize,
    cur: Option<ListIter<'a>>,
}

impl<'a> Iterator for ListValues<'a> {
    type Item = Result<&'a str, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(it) = &mut self.cur {
                if let Some(el) = it.next() {
                    if el.is_empty() {
                        self.cur = None;
                        return Some(Err(ParseError::header(self.name, HeaderFault::EmptyListElement)));
                    }
                    return Some(Ok(el));
                }
                self.cur = None;
            }
            let e = self.headers.entries[self.idx..]
                .iter()
                .position(|e| e.name == self.name)?;
            let entry = &self.headers.entries[self.idx + e];
            self.idx += e + 1;
            match std::str::from_utf8(self.headers.resolve(entry.value)) {
                Ok(v) => self.cur = Some(split_list(v)),
                Err(_) => return Some(Err(ParseError::header(self.name, HeaderFault::Utf8))),
            }
        }
    }
}

fn map_fault<T>(name: HeaderName) -> impl Fn(Result<T, HeaderFault>) -> Result<T, ParseError> {
    move |r| r.map_err(|f| ParseError::header(name, f))
}

impl Headers {
    /// Comma-separated elements of every field called `name`, in order (respecting quotes and `<>`).
    pub fn list(&self, name: HeaderName) -> ListValues<'_> {
        ListValues {
            headers: self,
            name,
            idx: 0,
            cur: None,
        }
    }

    /// The first value of a single-valued field as text: `Ok(None)` if absent.
    pub fn single_str(&self, name: HeaderName) -> Result<Option<&str>, ParseError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(Some)
                .map_err(|_| ParseError::header(name, HeaderFault::Utf8)),
        }
    }

    fn required_str(&self, name: HeaderName) -> Result<&str, ParseError> {
        self.single_str(name)?.ok_or(ParseError::MissingHeader(name))
    }

    /// All Via values, top first (several per line are split on commas).
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.list(HeaderName::Via)
            .map(|r| r.and_then(|s| map_fault(HeaderName::Via)(Via::parse(s))))
    }

    /// The top Via (error if missing or malformed).
    pub fn via(&self) -> Result<Via<'_>, ParseError> {
        self.vias()
            .next()
            .unwrap_or(Err(ParseError::MissingHeader(HeaderName::Via)))
    }

    fn name_addr(&self, name: HeaderName) -> Result<NameAddr<'_>, ParseError> {
        map_fault(name)(NameAddr::parse(self.required_str(name)?))
    }

    fn opt_name_addr(&self, name: HeaderName) -> Result<Option<NameAddr<'_>>, ParseError> {
        match self.single_str(name)? {
            None => Ok(None),
            Some(s) => map_fault(name)(NameAddr::parse(s)).map(Some),
        }
    }

    fn name_addrs(&self, name: HeaderName) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.list(name)
            .map(move |r| r.and_then(|s| map_fault(name)(NameAddr::parse(s))))
    }

    /// From (display name, URI, tag, params).
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        self.name_addr(HeaderName::From)
    }

    /// To (display name, URI, tag, params).
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        self.name_addr(HeaderName::To)
    }

    /// Call-ID (checked to be a single `word[@word]`).
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = trim(self.required_str(HeaderName::CallId)?);
        if v.is_empty() || !v.bytes().all(|b| is_word_char(b) || b == b'@') {
            return Err(ParseError::header(HeaderName::CallId, HeaderFault::Token));
        }
        Ok(v)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        map_fault(HeaderName::CSeq)(CSeq::parse(self.required_str(HeaderName::CSeq)?))
    }

    /// Contact values (`*` or addresses, several per line allowed).
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'_>, ParseError>> + '_ {
        self.list(HeaderName::Contact)
            .map(|r| r.and_then(|s| map_fault(HeaderName::Contact)(Contact::parse(s))))
    }

    /// Route values, in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::Route)
    }

    /// Record-Route values, in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::RecordRoute)
    }

    /// P-Asserted-Identity values (RFC 3325).
    pub fn p_asserted_identities(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::PAssertedIdentity)
    }

    /// Diversion values (RFC 5806), each with its params (reason, counter, …).
    pub fn diversions(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::Diversion)
    }

    /// Refer-To (RFC 3515); a Replaces in its URI headers is still escaped.
    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.opt_name_addr(HeaderName::ReferTo)
    }

    /// Referred-By (RFC 3892).
    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.opt_name_addr(HeaderName::ReferredBy)
    }

    fn number(&self, name: HeaderName) -> Result<Option<u32>, ParseError> {
        match self.single_str(name)? {
            None => Ok(None),
            Some(s) => map_fault(name)(number_with_params(s)).map(|(n, _)| Some(n)),
        }
    }

    fn plain_number(&self, name: HeaderName) -> Result<Option<u32>, ParseError> {
        match self.single_str(name)? {
            None => Ok(None),
            Some(s) => map_fault(name)(super::scan::parse_u32(trim(s))).map(Some),
        }
    }

    /// Max-Forwards (0..=255).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        match self.plain_number(HeaderName::MaxForwards)? {
            None => Ok(None),
            Some(n) => u8::try_from(n)
                .map(Some)
                .map_err(|_| ParseError::header(HeaderName::MaxForwards, HeaderFault::Number)),
        }
    }

    /// Content-Length.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.plain_number(HeaderName::ContentLength)
    }

    /// Expires (seconds).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.plain_number(HeaderName::Expires)
    }

    /// RSeq (RFC 3262).
    pub fn rseq(&self) -> Result<Option<u32>, ParseError> {
        self.plain_number(HeaderName::RSeq)
    }

    /// Min-SE (RFC 4028), seconds.
    pub fn min_se(&self) -> Result<Option<u32>, ParseError> {
        self.number(HeaderName::MinSe)
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.opt(HeaderName::ContentType, MediaType::parse)
    }

    fn opt<'a, T>(
        &'a self,
        name: HeaderName,
        f: impl Fn(&'a str) -> Result<T, HeaderFault>,
    ) -> Result<Option<T>, ParseError> {
        match self.single_str(name)? {
            None => Ok(None),
            Some(s) => map_fault(name)(f(s)).map(Some),
        }
    }

    /// RAck (RFC 3262).
    pub fn rack(&self) -> Result<Option<RAck>, ParseError> {
        self.opt(HeaderName::RAck, RAck::parse)
    }

    /// Replaces (RFC 3891).
    pub fn replaces(&self) -> Result<Option<Replaces<'_>>, ParseError> {
        self.opt(HeaderName::Replaces, Replaces::parse)
    }

    /// Event (RFC 6665).
    pub fn event(&self) -> Result<Option<Event<'_>>, ParseError> {
        self.opt(HeaderName::Event, Event::parse)
    }

    /// Subscription-State (RFC 6665).
    pub fn subscription_state(&self) -> Result<Option<SubscriptionState<'_>>, ParseError> {
        self.opt(HeaderName::SubscriptionState, SubscriptionState::parse)
    }

    /// Session-Expires (RFC 4028) with its refresher.
    pub fn session_expires(&self) -> Result<Option<SessionExpires<'_>>, ParseError> {
        self.opt(HeaderName::SessionExpires, SessionExpires::parse)
    }

    /// Tokens of a token-list field (Supported, Require, Proxy-Require, Unsupported, Allow, …).
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.get_all(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(super::values::tokens)
    }

    /// Whether the token-list field `name` contains `token` (case-insensitive), e.g. `100rel` in Require.
    pub fn has_token(&self, name: HeaderName, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Raw credentials/challenge value (Authorization, Proxy-Authorization, WWW-Authenticate,
    /// Proxy-Authenticate) for the digest module: every field called `name`, in order.
    pub fn auth_values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> + '_ {
        self.get_all(name)
    }
}
