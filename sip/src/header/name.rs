//! Header field names: the known ones as an enum (canonical spelling, compact forms).

use std::fmt;

/// A header field name. Known names are decoded case-insensitively (compact forms included);
/// everything else is [`HeaderName::Other`] and keeps its raw spelling in the header list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Accept`.
    Accept,
    /// `Accept-Contact` (compact `a`).
    AcceptContact,
    /// `Accept-Encoding`.
    AcceptEncoding,
    /// `Accept-Language`.
    AcceptLanguage,
    /// `Alert-Info`.
    AlertInfo,
    /// `Allow`.
    Allow,
    /// `Allow-Events` (compact `u`).
    AllowEvents,
    /// `Authentication-Info`.
    AuthenticationInfo,
    /// `Authorization`.
    Authorization,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `Call-Info`.
    CallInfo,
    /// `Contact` (compact `m`).
    Contact,
    /// `Content-Disposition`.
    ContentDisposition,
    /// `Content-Encoding` (compact `e`).
    ContentEncoding,
    /// `Content-Language`.
    ContentLanguage,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `CSeq`.
    CSeq,
    /// `Date`.
    Date,
    /// `Diversion`.
    Diversion,
    /// `Error-Info`.
    ErrorInfo,
    /// `Event` (compact `o`).
    Event,
    /// `Expires`.
    Expires,
    /// `From` (compact `f`).
    From,
    /// `History-Info`.
    HistoryInfo,
    /// `Identity` (compact `y`).
    Identity,
    /// `Identity-Info` (compact `n`).
    IdentityInfo,
    /// `In-Reply-To`.
    InReplyTo,
    /// `Max-Forwards`.
    MaxForwards,
    /// `MIME-Version`.
    MimeVersion,
    /// `Min-Expires`.
    MinExpires,
    /// `Min-SE`.
    MinSe,
    /// `Organization`.
    Organization,
    /// `P-Asserted-Identity`.
    PAssertedIdentity,
    /// `P-Preferred-Identity`.
    PPreferredIdentity,
    /// `Path`.
    Path,
    /// `Priority`.
    Priority,
    /// `Privacy`.
    Privacy,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Proxy-Require`.
    ProxyRequire,
    /// `RAck`.
    RAck,
    /// `Reason`.
    Reason,
    /// `Record-Route`.
    RecordRoute,
    /// `Referred-By` (compact `b`).
    ReferredBy,
    /// `Refer-To` (compact `r`).
    ReferTo,
    /// `Reject-Contact` (compact `j`).
    RejectContact,
    /// `Replaces`.
    Replaces,
    /// `Reply-To`.
    ReplyTo,
    /// `Request-Disposition` (compact `d`).
    RequestDisposition,
    /// `Require`.
    Require,
    /// `Retry-After`.
    RetryAfter,
    /// `Route`.
    Route,
    /// `RSeq`.
    RSeq,
    /// `Server`.
    Server,
    /// `Service-Route`.
    ServiceRoute,
    /// `Session-Expires` (compact `x`).
    SessionExpires,
    /// `SIP-ETag`.
    SipEtag,
    /// `SIP-If-Match`.
    SipIfMatch,
    /// `Subject` (compact `s`).
    Subject,
    /// `Subscription-State`.
    SubscriptionState,
    /// `Supported` (compact `k`).
    Supported,
    /// `Timestamp`.
    Timestamp,
    /// `To` (compact `t`).
    To,
    /// `Unsupported`.
    Unsupported,
    /// `User-Agent`.
    UserAgent,
    /// `Via` (compact `v`).
    Via,
    /// `Warning`.
    Warning,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// Any other header field (its spelling lives in the header list).
    Other,
}

impl HeaderName {
    /// Canonical spelling, e.g. `Call-ID`; `""` for [`HeaderName::Other`].
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::Diversion => "Diversion",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::HistoryInfo => "History-Info",
            HeaderName::Identity => "Identity",
            HeaderName::IdentityInfo => "Identity-Info",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::PPreferredIdentity => "P-Preferred-Identity",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::Privacy => "Privacy",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::ServiceRoute => "Service-Route",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::SipEtag => "SIP-ETag",
            HeaderName::SipIfMatch => "SIP-If-Match",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "",
        }
    }

    /// Compact form (RFC 3261 §7.3.3 and extensions), if the header has one.
    pub const fn compact(self) -> Option<char> {
        match self {
            HeaderName::AcceptContact => Some('a'),
            HeaderName::AllowEvents => Some('u'),
            HeaderName::CallId => Some('i'),
            HeaderName::Contact => Some('m'),
            HeaderName::ContentEncoding => Some('e'),
            HeaderName::ContentLength => Some('l'),
            HeaderName::ContentType => Some('c'),
            HeaderName::Event => Some('o'),
            HeaderName::From => Some('f'),
            HeaderName::Identity => Some('y'),
            HeaderName::IdentityInfo => Some('n'),
            HeaderName::ReferredBy => Some('b'),
            HeaderName::ReferTo => Some('r'),
            HeaderName::RejectContact => Some('j'),
            HeaderName::RequestDisposition => Some('d'),
            HeaderName::SessionExpires => Some('x'),
            HeaderName::Subject => Some('s'),
            HeaderName::Supported => Some('k'),
            HeaderName::To => Some('t'),
            HeaderName::Via => Some('v'),
            _ => None,
        }
    }

    /// Decodes a field name (case-insensitive; compact forms map to the full name).
    #[inline(always)]
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        let Some(&first) = name.first() else {
            return HeaderName::Other;
        };
        if name.len() == 1 {
            return Self::from_compact(first);
        }
        // One `(len, first byte)` switch, then a case-insensitive compare of at most three
        // machine words against the canonical spelling (see [`Pattern`]).
        macro_rules! eq {
            ($s:literal) => {
                const { Pattern::new($s) }.matches(name)
            };
        }

        match (name.len(), first.to_ascii_lowercase()) {
            (2, b't') if eq!("To") => HeaderName::To,
            (3, b'v') if eq!("Via") => HeaderName::Via,
            (4, b'c') if eq!("CSeq") => HeaderName::CSeq,
            (4, b'd') if eq!("Date") => HeaderName::Date,
            (4, b'f') if eq!("From") => HeaderName::From,
            (4, b'p') if eq!("Path") => HeaderName::Path,
            (4, b'r') => match () {
                _ if eq!("RAck") => HeaderName::RAck,
                _ if eq!("RSeq") => HeaderName::RSeq,
                _ => HeaderName::Other,
            },
            (5, b'a') if eq!("Allow") => HeaderName::Allow,
            (5, b'e') if eq!("Event") => HeaderName::Event,
            (5, b'r') if eq!("Route") => HeaderName::Route,
            (6, b'a') if eq!("Accept") => HeaderName::Accept,
            (6, b'm') if eq!("Min-SE") => HeaderName::MinSe,
            (6, b'r') if eq!("Reason") => HeaderName::Reason,
            (6, b's') if eq!("Server") => HeaderName::Server,
            (7, b'c') => match () {
                _ if eq!("Call-ID") => HeaderName::CallId,
                _ if eq!("Contact") => HeaderName::Contact,
                _ => HeaderName::Other,
            },
            (7, b'e') if eq!("Expires") => HeaderName::Expires,
            (7, b'p') if eq!("Privacy") => HeaderName::Privacy,
            (7, b'r') if eq!("Require") => HeaderName::Require,
            (7, b's') if eq!("Subject") => HeaderName::Subject,
            (7, b'w') if eq!("Warning") => HeaderName::Warning,
            (8, b'i') if eq!("Identity") => HeaderName::Identity,
            (8, b'p') if eq!("Priority") => HeaderName::Priority,
            (8, b'r') => match () {
                _ if eq!("Refer-To") => HeaderName::ReferTo,
                _ if eq!("Replaces") => HeaderName::Replaces,
                _ if eq!("Reply-To") => HeaderName::ReplyTo,
                _ => HeaderName::Other,
            },
            (8, b's') if eq!("SIP-ETag") => HeaderName::SipEtag,
            (9, b'c') if eq!("Call-Info") => HeaderName::CallInfo,
            (9, b'd') if eq!("Diversion") => HeaderName::Diversion,
            (9, b's') if eq!("Supported") => HeaderName::Supported,
            (9, b't') if eq!("Timestamp") => HeaderName::Timestamp,
            (10, b'a') if eq!("Alert-Info") => HeaderName::AlertInfo,
            (10, b'e') if eq!("Error-Info") => HeaderName::ErrorInfo,
            (10, b'u') if eq!("User-Agent") => HeaderName::UserAgent,
            (11, b'i') if eq!("In-Reply-To") => HeaderName::InReplyTo,
            (11, b'm') if eq!("Min-Expires") => HeaderName::MinExpires,
            (11, b'r') => match () {
                _ if eq!("Referred-By") => HeaderName::ReferredBy,
                _ if eq!("Retry-After") => HeaderName::RetryAfter,
                _ => HeaderName::Other,
            },
            (11, b'u') if eq!("Unsupported") => HeaderName::Unsupported,
            (12, b'a') if eq!("Allow-Events") => HeaderName::AllowEvents,
            (12, b'c') if eq!("Content-Type") => HeaderName::ContentType,
            (12, b'h') if eq!("History-Info") => HeaderName::HistoryInfo,
            (12, b'm') => match () {
                _ if eq!("Max-Forwards") => HeaderName::MaxForwards,
                _ if eq!("MIME-Version") => HeaderName::MimeVersion,
                _ => HeaderName::Other,
            },
            (12, b'o') if eq!("Organization") => HeaderName::Organization,
            (12, b'r') if eq!("Record-Route") => HeaderName::RecordRoute,
            (12, b's') if eq!("SIP-If-Match") => HeaderName::SipIfMatch,
            (13, b'a') if eq!("Authorization") => HeaderName::Authorization,
            (13, b'i') if eq!("Identity-Info") => HeaderName::IdentityInfo,
            (13, b'p') if eq!("Proxy-Require") => HeaderName::ProxyRequire,
            (13, b's') if eq!("Service-Route") => HeaderName::ServiceRoute,
            (14, b'a') if eq!("Accept-Contact") => HeaderName::AcceptContact,
            (14, b'c') if eq!("Content-Length") => HeaderName::ContentLength,
            (14, b'r') if eq!("Reject-Contact") => HeaderName::RejectContact,
            (15, b'a') => match () {
                _ if eq!("Accept-Encoding") => HeaderName::AcceptEncoding,
                _ if eq!("Accept-Language") => HeaderName::AcceptLanguage,
                _ => HeaderName::Other,
            },
            (15, b's') if eq!("Session-Expires") => HeaderName::SessionExpires,
            (16, b'c') => match () {
                _ if eq!("Content-Encoding") => HeaderName::ContentEncoding,
                _ if eq!("Content-Language") => HeaderName::ContentLanguage,
                _ => HeaderName::Other,
            },
            (16, b'w') if eq!("WWW-Authenticate") => HeaderName::WwwAuthenticate,
            (18, b'p') if eq!("Proxy-Authenticate") => HeaderName::ProxyAuthenticate,
            (18, b's') if eq!("Subscription-State") => HeaderName::SubscriptionState,
            (19, b'a') if eq!("Authentication-Info") => HeaderName::AuthenticationInfo,
            (19, b'c') if eq!("Content-Disposition") => HeaderName::ContentDisposition,
            (19, b'p') => match () {
                _ if eq!("P-Asserted-Identity") => HeaderName::PAssertedIdentity,
                _ if eq!("Proxy-Authorization") => HeaderName::ProxyAuthorization,
                _ => HeaderName::Other,
            },
            (19, b'r') if eq!("Request-Disposition") => HeaderName::RequestDisposition,
            (20, b'p') if eq!("P-Preferred-Identity") => HeaderName::PPreferredIdentity,
            _ => HeaderName::Other,
        }
    }

    fn from_compact(c: u8) -> HeaderName {
        match c.to_ascii_lowercase() {
            b'a' => HeaderName::AcceptContact,
            b'u' => HeaderName::AllowEvents,
            b'i' => HeaderName::CallId,
            b'm' => HeaderName::Contact,
            b'e' => HeaderName::ContentEncoding,
            b'l' => HeaderName::ContentLength,
            b'c' => HeaderName::ContentType,
            b'o' => HeaderName::Event,
            b'f' => HeaderName::From,
            b'y' => HeaderName::Identity,
            b'n' => HeaderName::IdentityInfo,
            b'b' => HeaderName::ReferredBy,
            b'r' => HeaderName::ReferTo,
            b'j' => HeaderName::RejectContact,
            b'd' => HeaderName::RequestDisposition,
            b'x' => HeaderName::SessionExpires,
            b's' => HeaderName::Subject,
            b'k' => HeaderName::Supported,
            b't' => HeaderName::To,
            b'v' => HeaderName::Via,
            _ => HeaderName::Other,
        }
    }

    /// All known names (not [`HeaderName::Other`]).
    pub const ALL: &'static [HeaderName] = &[
        HeaderName::Accept,
        HeaderName::AcceptContact,
        HeaderName::AcceptEncoding,
        HeaderName::AcceptLanguage,
        HeaderName::AlertInfo,
        HeaderName::Allow,
        HeaderName::AllowEvents,
        HeaderName::AuthenticationInfo,
        HeaderName::Authorization,
        HeaderName::CallId,
        HeaderName::CallInfo,
        HeaderName::Contact,
        HeaderName::ContentDisposition,
        HeaderName::ContentEncoding,
        HeaderName::ContentLanguage,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::CSeq,
        HeaderName::Date,
        HeaderName::Diversion,
        HeaderName::ErrorInfo,
        HeaderName::Event,
        HeaderName::Expires,
        HeaderName::From,
        HeaderName::HistoryInfo,
        HeaderName::Identity,
        HeaderName::IdentityInfo,
        HeaderName::InReplyTo,
        HeaderName::MaxForwards,
        HeaderName::MimeVersion,
        HeaderName::MinExpires,
        HeaderName::MinSe,
        HeaderName::Organization,
        HeaderName::PAssertedIdentity,
        HeaderName::PPreferredIdentity,
        HeaderName::Path,
        HeaderName::Priority,
        HeaderName::Privacy,
        HeaderName::ProxyAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyRequire,
        HeaderName::RAck,
        HeaderName::Reason,
        HeaderName::RecordRoute,
        HeaderName::ReferredBy,
        HeaderName::ReferTo,
        HeaderName::RejectContact,
        HeaderName::Replaces,
        HeaderName::ReplyTo,
        HeaderName::RequestDisposition,
        HeaderName::Require,
        HeaderName::RetryAfter,
        HeaderName::Route,
        HeaderName::RSeq,
        HeaderName::Server,
        HeaderName::ServiceRoute,
        HeaderName::SessionExpires,
        HeaderName::SipEtag,
        HeaderName::SipIfMatch,
        HeaderName::Subject,
        HeaderName::SubscriptionState,
        HeaderName::Supported,
        HeaderName::Timestamp,
        HeaderName::To,
        HeaderName::Unsupported,
        HeaderName::UserAgent,
        HeaderName::Via,
        HeaderName::Warning,
        HeaderName::WwwAuthenticate,
    ];
}

/// A canonical header name prepared for a fast case-insensitive compare: the lowercase
/// spelling and a mask with `0x20` on letter positions, so `(input | mask) == lower` holds
/// exactly when the input equals the name ignoring ASCII case (non-letters compare exactly).
#[derive(Clone, Copy)]
struct Pattern {
    len: usize,
    lower: [u8; 24],
    mask: [u8; 24],
}

impl Pattern {
    const fn new(s: &str) -> Pattern {
        let b = s.as_bytes();
        assert!(b.len() <= 24);
        let mut lower = [0u8; 24];
        let mut mask = [0u8; 24];
        let mut i = 0;
        while i < b.len() {
            lower[i] = b[i].to_ascii_lowercase();
            if b[i].is_ascii_alphabetic() {
                mask[i] = 0x20;
            }
            i += 1;
        }
        Pattern {
            len: b.len(),
            lower,
            mask,
        }
    }

    #[inline(always)]
    fn matches(&self, name: &[u8]) -> bool {
        let n = name.len();
        if n != self.len {
            return false;
        }
        if n >= 8 {
            self.word8(name, 0) && self.word8(name, n - 8) && (n <= 16 || self.word8(name, 8))
        } else if n >= 4 {
            self.word4(name, 0) && self.word4(name, n - 4)
        } else if n >= 2 {
            self.word2(name, 0) && self.word2(name, n - 2)
        } else {
            n == 1 && (name[0] | self.mask[0]) == self.lower[0]
        }
    }

    #[inline(always)]
    fn word8(&self, name: &[u8], o: usize) -> bool {
        let get = |s: &[u8]| u64::from_le_bytes(s[o..o + 8].try_into().unwrap_or([0; 8]));
        (get(name) | get(&self.mask)) == get(&self.lower)
    }

    #[inline(always)]
    fn word4(&self, name: &[u8], o: usize) -> bool {
        let get = |s: &[u8]| u32::from_le_bytes(s[o..o + 4].try_into().unwrap_or([0; 4]));
        (get(name) | get(&self.mask)) == get(&self.lower)
    }

    #[inline(always)]
    fn word2(&self, name: &[u8], o: usize) -> bool {
        let get = |s: &[u8]| u16::from_le_bytes(s[o..o + 2].try_into().unwrap_or([0; 2]));
        (get(name) | get(&self.mask)) == get(&self.lower)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderName::Other => f.write_str("unknown"),
            _ => f.write_str(self.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_round_trips_case_insensitively() {
        for &n in HeaderName::ALL {
            assert_eq!(HeaderName::from_bytes(n.as_str().as_bytes()), n);
            assert_eq!(HeaderName::from_bytes(n.as_str().to_ascii_uppercase().as_bytes()), n);
            if let Some(c) = n.compact() {
                assert_eq!(HeaderName::from_bytes(c.to_string().as_bytes()), n);
                assert_eq!(HeaderName::from_bytes(c.to_ascii_uppercase().to_string().as_bytes()), n);
            }
        }
        assert_eq!(HeaderName::from_bytes(b"X-Custom"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"q"), HeaderName::Other);
        // Near misses: only letters fold; other bytes must match exactly.
        for near in [
            &b"Call\rID"[..],
            b"Call_ID",
            b"Cal-ID",
            b"Call-IDx",
            b"CSeq ",
            b"Vi@",
            b"Content-Lengti",
            b"Max-Forwards\0",
        ] {
            assert_eq!(HeaderName::from_bytes(near), HeaderName::Other, "{near:?}");
        }
    }
}
