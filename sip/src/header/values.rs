//! Small typed header values: CSeq, RAck, Replaces, Session-Expires, Event,
//! Subscription-State, Content-Type.

use std::fmt;

use super::params::{Params, parse_params};
use super::scan::{Cursor, is_token_char, parse_u32, split_list};
use crate::error::HeaderFault;
use crate::message::Method;

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (< 2^31 per RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value.
    pub fn parse(s: &str) -> Result<CSeq, HeaderFault> {
        let (seq, method) = parse_cseq_parts(s)?;
        Ok(CSeq {
            seq,
            method: Method::from_bytes(method.as_bytes()).ok_or(HeaderFault::Token)?,
        })
    }
}

/// Splits `LWS number LWS method LWS`; the method is checked to be a token.
pub(crate) fn parse_cseq_parts(s: &str) -> Result<(u32, &str), HeaderFault> {
    let (seq, ms, me) = parse_cseq_bytes(s.as_bytes())?;
    // The method is a token (ASCII), so its ends are char boundaries.
    Ok((seq, s.get(ms..me).unwrap_or("")))
}

/// [`parse_cseq_parts`] over bytes: the number and the method's byte range.
pub(crate) fn parse_cseq_bytes(b: &[u8]) -> Result<(u32, usize, usize), HeaderFault> {
    let lws = |mut i: usize| {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        i
    };
    let ds = lws(0);
    let mut de = ds;
    while de < b.len() && b[de].is_ascii_digit() {
        de += 1;
    }
    let n = de - ds;
    if n == 0 || n > 10 {
        return Err(HeaderFault::Number);
    }
    let seq = b[ds..de].iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
    if seq >= 1 << 31 {
        return Err(HeaderFault::Number);
    }
    let ms = lws(de);
    if ms == de {
        return Err(HeaderFault::Token);
    }
    let mut me = ms;
    while me < b.len() && is_token_char(b[me]) {
        me += 1;
    }
    if me == ms || lws(me) != b.len() {
        return Err(HeaderFault::Token);
    }
    Ok((seq as u32, ms, me))
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `RAck: rseq cseq method` (RFC 3262).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq being acknowledged.
    pub rseq: u32,
    /// CSeq number of the request.
    pub cseq: u32,
    /// Method of the request.
    pub method: Method,
}

impl RAck {
    /// Parses an RAck value.
    pub fn parse(s: &str) -> Result<RAck, HeaderFault> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let rseq = parse_u32(c.take_while(|b| b.is_ascii_digit()))?;
        let (cseq, method) = parse_cseq_parts(c.rest())?;
        Ok(RAck {
            rseq,
            cseq,
            method: Method::from_bytes(method.as_bytes()).ok_or(HeaderFault::Token)?,
        })
    }
}

/// `Replaces: call-id;to-tag=x;from-tag=y[;early-only]` (RFC 3891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// Call-ID of the dialog to replace.
    pub call_id: &'a str,
    /// `to-tag` parameter.
    pub to_tag: &'a str,
    /// `from-tag` parameter.
    pub from_tag: &'a str,
    /// `early-only` flag.
    pub early_only: bool,
}

impl<'a> Replaces<'a> {
    /// Parses a Replaces value (already unescaped if it came from a URI header).
    pub fn parse(s: &'a str) -> Result<Replaces<'a>, HeaderFault> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let call_id = c.take_while(|b| is_word_char(b) || b == b'@');
        if call_id.is_empty() {
            return Err(HeaderFault::Empty);
        }
        let params = parse_params(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(HeaderFault::Trailing);
        }
        let to_tag = params.get("to-tag").flatten().ok_or(HeaderFault::Param)?;
        let from_tag = params.get("from-tag").flatten().ok_or(HeaderFault::Param)?;
        Ok(Replaces {
            call_id,
            to_tag,
            from_tag,
            early_only: params.contains("early-only"),
        })
    }
}

/// RFC 3261 `word` characters (Call-ID).
pub(crate) fn is_word_char(b: u8) -> bool {
    is_token_char(b)
        || matches!(
            b,
            b'(' | b')' | b'<' | b'>' | b':' | b'\\' | b'"' | b'/' | b'[' | b']' | b'?' | b'{' | b'}'
        )
}

/// Who refreshes a session timer (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// `refresher=uac`
    Uac,
    /// `refresher=uas`
    Uas,
}

/// `Session-Expires: 1800;refresher=uac` (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires<'a> {
    /// Interval in seconds.
    pub delta: u32,
    /// The `refresher` parameter, if present and valid.
    pub refresher: Option<Refresher>,
    /// All parameters.
    pub params: Params<'a>,
}

impl<'a> SessionExpires<'a> {
    /// Parses a Session-Expires value.
    pub fn parse(s: &'a str) -> Result<SessionExpires<'a>, HeaderFault> {
        let (delta, params) = number_with_params(s)?;
        let refresher = match params.get("refresher") {
            None => None,
            Some(Some(v)) if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(Some(v)) if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(HeaderFault::Param),
        };
        Ok(SessionExpires {
            delta,
            refresher,
            params,
        })
    }
}

/// `number *(;param)` (Session-Expires, Min-SE, RSeq, Expires, Max-Forwards, Content-Length).
pub(crate) fn number_with_params(s: &str) -> Result<(u32, Params<'_>), HeaderFault> {
    let mut c = Cursor::new(s);
    c.skip_ws();
    let n = parse_u32(c.take_while(|b| b.is_ascii_digit()))?;
    let params = parse_params(&mut c)?;
    c.skip_ws();
    if !c.at_end() {
        return Err(HeaderFault::Number);
    }
    Ok((n, params))
}

/// `Event: package[.template];id=...` (RFC 6665).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// Event package (e.g. `refer`, `dialog`, `presence`).
    pub package: &'a str,
    /// Parameters (`id`, …).
    pub params: Params<'a>,
}

impl<'a> Event<'a> {
    /// Parses an Event / Allow-Events element.
    pub fn parse(s: &'a str) -> Result<Event<'a>, HeaderFault> {
        let (package, params) = token_with_params(s)?;
        Ok(Event { package, params })
    }

    /// The `id` parameter.
    pub fn id(&self) -> Option<&'a str> {
        self.params.get("id").flatten()
    }
}

/// `token *(;param)`.
pub(crate) fn token_with_params(s: &str) -> Result<(&str, Params<'_>), HeaderFault> {
    let mut c = Cursor::new(s);
    c.skip_ws();
    let t = c.token();
    if t.is_empty() {
        return Err(HeaderFault::Token);
    }
    let params = parse_params(&mut c)?;
    c.skip_ws();
    if !c.at_end() {
        return Err(HeaderFault::Trailing);
    }
    Ok((t, params))
}

/// `Subscription-State: active;expires=600` (RFC 6665).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    /// `active`, `pending`, `terminated` or an extension.
    pub state: &'a str,
    /// Parameters (`expires`, `reason`, `retry-after`).
    pub params: Params<'a>,
}

impl<'a> SubscriptionState<'a> {
    /// Parses a Subscription-State value.
    pub fn parse(s: &'a str) -> Result<SubscriptionState<'a>, HeaderFault> {
        let (state, params) = token_with_params(s)?;
        Ok(SubscriptionState { state, params })
    }

    /// The `expires` parameter.
    pub fn expires(&self) -> Option<u32> {
        self.params.get("expires").flatten().and_then(|v| v.parse().ok())
    }

    /// The `reason` parameter.
    pub fn reason(&self) -> Option<&'a str> {
        self.params.get("reason").flatten()
    }

    /// The `retry-after` parameter.
    pub fn retry_after(&self) -> Option<u32> {
        self.params.get("retry-after").flatten().and_then(|v| v.parse().ok())
    }
}

/// `Content-Type: type/subtype;params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// Top-level type (e.g. `application`).
    pub mtype: &'a str,
    /// Subtype (e.g. `sdp`).
    pub subtype: &'a str,
    /// Parameters (e.g. `boundary`).
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses a media type.
    pub fn parse(s: &'a str) -> Result<MediaType<'a>, HeaderFault> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let mtype = c.token();
        if mtype.is_empty() || !c.eat_sep(b'/') {
            return Err(HeaderFault::Token);
        }
        let subtype = c.token();
        if subtype.is_empty() {
            return Err(HeaderFault::Token);
        }
        let params = parse_params(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(HeaderFault::Trailing);
        }
        Ok(MediaType { mtype, subtype, params })
    }

    /// Whether this is `type/subtype` (case-insensitive).
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Whether this is `application/sdp`.
    pub fn is_sdp(&self) -> bool {
        self.is("application", "sdp")
    }
}

/// Splits a token list (Supported, Require, Allow, …) into trimmed tokens; empty elements are skipped.
pub fn tokens(s: &str) -> impl Iterator<Item = &str> {
    split_list(s).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values() {
        assert_eq!(
            CSeq::parse("0009\r\n  INVITE").unwrap(),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert_eq!(CSeq::parse(" 0009 INVITE ").unwrap().seq, 9);
        for bad in [
            "36893488147419103232 REGISTER",
            "-1 INVITE",
            "1",
            "1 INV ITE",
            "2147483648 INVITE",
        ] {
            assert!(CSeq::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RAck::parse("776656 1 INVITE").unwrap().rseq, 776656);
        let r = Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only").unwrap();
        assert_eq!(
            (r.call_id, r.to_tag, r.from_tag, r.early_only),
            ("98732@sip.example.com", "ff87ff", "r33th4x0r", true)
        );
        let se = SessionExpires::parse("1800;refresher=uas").unwrap();
        assert_eq!((se.delta, se.refresher), (1800, Some(Refresher::Uas)));
        let e = Event::parse("refer;id=93809824").unwrap();
        assert_eq!((e.package, e.id()), ("refer", Some("93809824")));
        let st = SubscriptionState::parse("terminated;reason=noresource").unwrap();
        assert_eq!(st.reason(), Some("noresource"));
        let ct = MediaType::parse("multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert_eq!(ct.params.get("boundary"), Some(Some("7a9cbec02ceef655")));
        assert_eq!(
            tokens("100rel, timer,,replaces").collect::<Vec<_>>(),
            vec!["100rel", "timer", "replaces"]
        );
    }
}
