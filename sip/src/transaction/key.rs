//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3 and the RFC 2543 fallback).
//!
//! Keys hold zero-copy `Bytes` slices of the messages (a reference-count increment, no
//! allocation), so looking a message up costs one hash of its branch and sent-by.

use std::net::IpAddr;

use bytes::Bytes;

use crate::error::ParseError;
use crate::header::{HeaderName, Headers, Via};
use crate::message::{Method, Request};

/// Zero-copy slice of `whole` covering `part` when `part` points into it; a copy otherwise.
pub(crate) fn sub_bytes(whole: &Bytes, part: &str) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if start <= whole.len() && part.len() <= whole.len() - start {
        whole.slice(start..start + part.len())
    } else {
        Bytes::copy_from_slice(part.as_bytes())
    }
}

/// The method a server transaction is keyed by: ACK matches the INVITE.
fn server_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        m => m.clone(),
    }
}

/// Client transactions: top Via branch + CSeq method (§17.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: Bytes,
    pub(crate) method: Method,
}

impl ClientKey {
    /// Key of a response (or of a request we send): top Via branch and CSeq method.
    pub(crate) fn of(headers: &Headers) -> Result<Option<ClientKey>, ParseError> {
        let via = headers.via()?;
        let cseq = headers.cseq()?;
        let Some(branch) = via.branch() else { return Ok(None) };
        let whole = headers.get_bytes(HeaderName::Via).unwrap_or_default();
        Ok(Some(ClientKey {
            branch: sub_bytes(&whole, branch),
            method: cseq.method,
        }))
    }
}

/// Server transactions with an RFC 3261 branch: branch + sent-by + method (§17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub(crate) branch: Bytes,
    pub(crate) host: Bytes,
    pub(crate) port: Option<u16>,
    pub(crate) method: Method,
}

/// RFC 2543 server transactions: hashed by Call-ID + CSeq number + From tag + method; the rest
/// (Request-URI, top Via, To tag) is checked with [`LegacyCheck`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LegacyKey {
    pub(crate) call_id: Bytes,
    pub(crate) cseq: u32,
    pub(crate) from_tag: Bytes,
    pub(crate) method: Method,
}

/// The RFC 2543 fields compared after a [`LegacyKey`] hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegacyCheck {
    pub(crate) uri: Bytes,
    pub(crate) via: Bytes,
    pub(crate) to_tag: Bytes,
}

/// How a request is looked up among server transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerLookup {
    Rfc3261(ServerKey),
    Rfc2543(LegacyKey, LegacyCheck),
}

impl ServerLookup {
    /// The key of `req` for the method `method` (the request's own method for retransmission
    /// matching; INVITE for ACK and for finding a CANCEL's target).
    pub(crate) fn of(req: &Request, via: &Via<'_>, method: &Method) -> Result<ServerLookup, ParseError> {
        let h = req.headers();
        let via_bytes = h.get_bytes(HeaderName::Via).unwrap_or_default();
        let method = server_method(method);
        if let Some(branch) = via.branch().filter(|_| via.has_rfc3261_branch()) {
            return Ok(ServerLookup::Rfc3261(ServerKey {
                branch: sub_bytes(&via_bytes, branch),
                host: sub_bytes(&via_bytes, via.host),
                port: via.port,
                method,
            }));
        }
        let cseq = h.cseq()?;
        let call_id = h.call_id()?;
        let from = h.from()?;
        let to = h.to()?;
        let from_bytes = h.get_bytes(HeaderName::From).unwrap_or_default();
        let to_bytes = h.get_bytes(HeaderName::To).unwrap_or_default();
        let call_id_bytes = h.get_bytes(HeaderName::CallId).unwrap_or_default();
        let top = h.list(HeaderName::Via).next().transpose()?.unwrap_or("");
        Ok(ServerLookup::Rfc2543(
            LegacyKey {
                call_id: sub_bytes(&call_id_bytes, call_id),
                cseq: cseq.seq,
                from_tag: from.tag().map(|t| sub_bytes(&from_bytes, t)).unwrap_or_default(),
                method,
            },
            LegacyCheck {
                uri: Bytes::copy_from_slice(req.uri_str().as_bytes()),
                via: sub_bytes(&via_bytes, top),
                to_tag: to.tag().map(|t| sub_bytes(&to_bytes, t)).unwrap_or_default(),
            },
        ))
    }
}

/// Whether the Via sent-by host is the literal address `ip`.
pub(crate) fn host_is(host: &str, ip: IpAddr) -> bool {
    let h = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    h.parse::<IpAddr>().is_ok_and(|a| a == ip)
}

/// splitmix64: a bijection, so distinct counters give distinct branches for one seed.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
