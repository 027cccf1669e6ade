//! Dialog state (RFC 3261 §12): identifier, CSeq spaces, remote target, route set, and the
//! construction of requests inside a dialog.

use crate::header::{HeaderName, NameAddr};
use crate::message::{Method, Request, Response};

use super::DialogError;

/// Dialog identifier: Call-ID plus local and remote tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From tag for the UAC, To tag for the UAS).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Which side created the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the dialog-creating request.
    Uac,
    /// We received it.
    Uas,
}

/// Dialog state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended (BYE, failure).
    Terminated,
}

/// One dialog's state.
#[derive(Debug, Clone)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    state: DialogState,
    local_seq: u32,
    remote_seq: Option<u32>,
    /// Our address as it goes in From (UAC requests) without tag, e.g. `"Bot" <sip:bot@x>`.
    local_uri: String,
    /// The peer's address without tag.
    remote_uri: String,
    /// Request-URI for requests in the dialog (the peer's Contact URI).
    remote_target: String,
    /// Route set, in the order the Route headers of our requests must carry it.
    route_set: Vec<String>,
    /// Our Contact value for requests we send, e.g. `<sip:bot@10.0.0.1:5060>`.
    local_contact: String,
}

/// `name-addr` without header params (tag etc.), as a header value: `"dn" <uri>` or `<uri>`.
fn strip_params(na: &NameAddr<'_>) -> String {
    match na.display_name_raw() {
        Some(dn) => format!("{dn} <{}>", na.uri().as_str()),
        None => format!("<{}>", na.uri().as_str()),
    }
}

fn first_contact_uri(h: &crate::header::Headers) -> Result<Option<String>, DialogError> {
    match h.contacts().next() {
        None => Ok(None),
        Some(Ok(c)) => Ok(c.addr().map(|a| a.uri().as_str().to_owned())),
        Some(Err(e)) => Err(DialogError::Malformed(e)),
    }
}

fn record_route_values(h: &crate::header::Headers) -> Result<Vec<String>, DialogError> {
    h.record_routes()
        .map(|r| r.map(|na| na.uri().as_str().to_owned()).map_err(DialogError::Malformed))
        .map(|r| r.map(|uri| format!("<{uri}>")))
        .collect()
}

impl Dialog {
    /// The UAC side of a dialog created by `resp` (101–199 with a To tag, or 2xx) to `invite`
    /// (RFC 3261 §12.1.2): route set = Record-Route reversed, remote target = Contact.
    pub fn new_uac(invite: &Request, resp: &Response, local_contact: &str) -> Result<Dialog, DialogError> {
        let h = resp.headers();
        let to = h.to().map_err(DialogError::Malformed)?;
        let remote_tag = to.tag().ok_or(DialogError::MissingTag)?.to_owned();
        let from = invite.headers().from().map_err(DialogError::Malformed)?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag)?.to_owned();
        let call_id = invite.headers().call_id().map_err(DialogError::Malformed)?.to_owned();
        let cseq = invite.headers().cseq().map_err(DialogError::Malformed)?;
        let mut route_set = record_route_values(h)?;
        route_set.reverse();
        let remote_target = match first_contact_uri(h)? {
            Some(uri) => uri,
            // A 1xx may omit Contact; keep the original Request-URI until one arrives.
            None if resp.status() < 200 => invite.uri_str().to_owned(),
            None => return Err(DialogError::MissingContact),
        };
        let state = if resp.status() < 200 {
            DialogState::Early
        } else {
            DialogState::Confirmed
        };
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            role: Role::Uac,
            state,
            local_seq: cseq.seq,
            remote_seq: None,
            local_uri: strip_params(&from),
            remote_uri: strip_params(&to),
            remote_target,
            route_set,
            local_contact: local_contact.to_owned(),
        })
    }

    /// The UAS side of a dialog created by `req` with our response carrying `local_tag`
    /// (RFC 3261 §12.1.1): route set = Record-Route in order, remote target = Contact.
    pub fn new_uas(req: &Request, local_tag: &str, local_contact: &str) -> Result<Dialog, DialogError> {
        let h = req.headers();
        let from = h.from().map_err(DialogError::Malformed)?;
        let remote_tag = from.tag().ok_or(DialogError::MissingTag)?.to_owned();
        let to = h.to().map_err(DialogError::Malformed)?;
        let call_id = h.call_id().map_err(DialogError::Malformed)?.to_owned();
        let cseq = h.cseq().map_err(DialogError::Malformed)?;
        let remote_target = first_contact_uri(h)?.ok_or(DialogError::MissingContact)?;
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag: local_tag.to_owned(),
                remote_tag,
            },
            role: Role::Uas,
            state: DialogState::Early,
            local_seq: 0,
            remote_seq: Some(cseq.seq),
            local_uri: strip_params(&to),
            remote_uri: strip_params(&from),
            remote_target,
            route_set: record_route_values(h)?,
            local_contact: local_contact.to_owned(),
        })
    }

    /// The identifier.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Which side created the dialog.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Current state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Our current CSeq number (last one used).
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The highest CSeq number seen from the peer.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// The remote target (Request-URI of our requests).
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, as our Route header values in order.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// Our address (From for our requests) without tag.
    pub fn local_uri(&self) -> &str {
        &self.local_uri
    }

    /// The peer's address without tag.
    pub fn remote_uri(&self) -> &str {
        &self.remote_uri
    }

    /// Marks the dialog confirmed. For the UAC, the 2xx's Record-Route and Contact replace
    /// what the early dialog had (RFC 3261 §12.1.2, §13.2.2.4).
    pub fn confirm(&mut self, resp: Option<&Response>) -> Result<(), DialogError> {
        if let Some(resp) = resp
            && self.role == Role::Uac
        {
            let mut rs = record_route_values(resp.headers())?;
            rs.reverse();
            self.route_set = rs;
            if let Some(t) = first_contact_uri(resp.headers())? {
                self.remote_target = t;
            }
        }
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// Marks the dialog terminated.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// Checks and records the CSeq of a request received in the dialog (RFC 3261 §12.2.2).
    /// A lower (or, except for ACK/CANCEL, equal) number than the last one is an error the
    /// caller answers with 500.
    pub fn check_remote_cseq(&mut self, req: &Request) -> Result<(), DialogError> {
        let cseq = req.headers().cseq().map_err(DialogError::Malformed)?;
        if matches!(req.method(), Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq
            && cseq.seq <= last
        {
            return Err(DialogError::CSeqOutOfOrder {
                received: cseq.seq,
                last,
            });
        }
        self.remote_seq = Some(cseq.seq);
        Ok(())
    }

    /// Target refresh: a re-INVITE/UPDATE (or its 2xx) carrying Contact replaces the remote
    /// target (RFC 3261 §12.2). Returns whether the target changed.
    pub fn refresh_target(&mut self, headers: &crate::header::Headers) -> Result<bool, DialogError> {
        match first_contact_uri(headers)? {
            Some(t) if t != self.remote_target => {
                self.remote_target = t;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The next local CSeq number (increments).
    pub fn next_seq(&mut self) -> u32 {
        self.local_seq = self.local_seq.wrapping_add(1) & 0x7fff_ffff;
        if self.local_seq == 0 {
            self.local_seq = 1;
        }
        self.local_seq
    }

    /// Builds a request inside the dialog (RFC 3261 §12.2.1.1) with a new CSeq number (ACK and
    /// CANCEL: use [`Dialog::create_request_with_seq`]). Request-URI and Route follow loose
    /// routing (`;lr` on the first route) or strict routing. No Via: the transaction layer or the
    /// UA core inserts the top Via with the branch.
    pub fn create_request(&mut self, method: Method) -> Request {
        let seq = self.next_seq();
        self.create_request_with_seq(method, seq)
    }

    /// [`Dialog::create_request`] with an explicit CSeq number (ACK for a 2xx: the INVITE's).
    pub fn create_request_with_seq(&self, method: Method, seq: u32) -> Request {
        let (ruri, routes): (String, Vec<String>) = match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) => {
                let first_uri = NameAddr::parse(first).map(|n| (n.uri().as_str().to_owned(), n.uri().is_loose_route()));
                match first_uri {
                    Ok((_, true)) | Err(_) => (self.remote_target.clone(), self.route_set.clone()),
                    Ok((uri, false)) => {
                        // Strict routing: the first route becomes the Request-URI and the remote
                        // target is appended as the last Route.
                        let mut rest: Vec<String> = self.route_set[1..].to_vec();
                        rest.push(format!("<{}>", self.remote_target));
                        (uri, rest)
                    }
                }
            }
        };
        let mut req = match Request::new(method.clone(), &ruri) {
            Ok(r) => r,
            // The remote target was validated as a URI when it was stored.
            Err(_) => Request::new(method.clone(), "sip:invalid").expect("static URI is valid"),
        };
        let h = req.headers_mut();
        for r in routes {
            h.push(HeaderName::Route, r);
        }
        h.push(HeaderName::MaxForwards, "70");
        h.push(
            HeaderName::From,
            format!("{};tag={}", self.local_uri, self.id.local_tag),
        );
        h.push(
            HeaderName::To,
            format!("{};tag={}", self.remote_uri, self.id.remote_tag),
        );
        h.push(HeaderName::CallId, self.id.call_id.clone());
        h.push(HeaderName::CSeq, format!("{seq} {}", method.as_str()));
        if !matches!(
            method,
            Method::Ack | Method::Cancel | Method::Bye | Method::Prack | Method::Info
        ) {
            h.push(HeaderName::Contact, self.local_contact.clone());
        }
        req
    }

    /// Whether `req` (received) belongs to this dialog: Call-ID, To tag = ours, From tag = theirs.
    pub fn matches_request(&self, req: &Request) -> bool {
        let h = req.headers();
        h.call_id().is_ok_and(|c| c == self.id.call_id)
            && h.to()
                .ok()
                .and_then(|t| t.tag().map(|t| t == self.id.local_tag))
                .unwrap_or(false)
            && h.from()
                .ok()
                .and_then(|f| f.tag().map(|t| t == self.id.remote_tag))
                .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@biloxi.example.com>\r\n\
        From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
        CSeq: 314159 INVITE\r\n\
        Record-Route: <sip:p2.biloxi.example.com;lr>\r\n\
        Record-Route: <sip:p1.atlanta.example.com;lr>\r\n\
        Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
        Content-Length: 0\r\n\r\n";

    fn invite() -> Request {
        match Message::parse(INVITE).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn ok_for(req: &Request, status: u16) -> Response {
        let mut r = Response::from_request(req, status, "OK");
        r.set_to_tag("314159b");
        r.headers_mut().copy_from(req.headers(), HeaderName::RecordRoute);
        r.headers_mut().push(HeaderName::Contact, "<sip:bob@192.0.2.4>");
        r
    }

    #[test]
    fn uac_route_set_is_reversed_and_loose() {
        let inv = invite();
        let mut d = Dialog::new_uac(&inv, &ok_for(&inv, 200), "<sip:alice@pc33>").unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.id().remote_tag, "314159b");
        assert_eq!(
            d.route_set(),
            ["<sip:p1.atlanta.example.com;lr>", "<sip:p2.biloxi.example.com;lr>"]
        );
        let bye = d.create_request(Method::Bye);
        assert_eq!(bye.uri_str(), "sip:bob@192.0.2.4");
        let routes: Vec<_> = bye.headers().get_all(HeaderName::Route).collect();
        assert_eq!(
            routes,
            [
                &b"<sip:p1.atlanta.example.com;lr>"[..],
                b"<sip:p2.biloxi.example.com;lr>"
            ]
        );
        assert_eq!(bye.headers().cseq().unwrap().seq, 314160);
        assert_eq!(bye.headers().from().unwrap().tag(), Some("1928301774"));
        assert_eq!(bye.headers().to().unwrap().tag(), Some("314159b"));
        assert_eq!(bye.headers().from().unwrap().display_name().unwrap(), "Alice");
        let ack = d.create_request_with_seq(Method::Ack, 314159);
        assert_eq!(ack.headers().cseq().unwrap().seq, 314159);
    }

    #[test]
    fn uas_route_set_in_order_and_cseq_checks() {
        let inv = invite();
        let mut d = Dialog::new_uas(&inv, "as9", "<sip:bob@192.0.2.4>").unwrap();
        assert_eq!(
            d.route_set(),
            ["<sip:p2.biloxi.example.com;lr>", "<sip:p1.atlanta.example.com;lr>"]
        );
        assert_eq!(d.remote_target(), "sip:alice@pc33.atlanta.example.com");
        let bye = d.create_request(Method::Bye);
        assert_eq!(bye.headers().from().unwrap().tag(), Some("as9"));
        assert_eq!(bye.headers().to().unwrap().tag(), Some("1928301774"));
        assert_eq!(bye.headers().cseq().unwrap().seq, 1);
        // Same CSeq again (a new request, not a retransmission) -> out of order.
        let err = d.check_remote_cseq(&inv).unwrap_err();
        assert_eq!(
            err,
            DialogError::CSeqOutOfOrder {
                received: 314159,
                last: 314159
            }
        );
        assert_eq!(err.status_code(), 500);
        let raw = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314160 INVITE").replace(
            "Contact: <sip:alice@pc33.atlanta.example.com>",
            "Contact: <sip:alice@198.51.100.7:5070>",
        );
        let reinv = Request::parse(raw).unwrap();
        d.check_remote_cseq(&reinv).unwrap();
        assert!(d.refresh_target(reinv.headers()).unwrap());
        assert_eq!(d.remote_target(), "sip:alice@198.51.100.7:5070");
        assert!(d.matches_request(&{
            let mut r = reinv.clone();
            r.headers_mut()
                .set(HeaderName::To, "Bob <sip:bob@biloxi.example.com>;tag=as9");
            r
        }));
        assert!(!d.matches_request(&reinv));
    }

    #[test]
    fn strict_route_puts_target_last() {
        let raw = INVITE.replace("<sip:p1.atlanta.example.com;lr>", "<sip:p1.atlanta.example.com>");
        let inv = Request::parse(raw).unwrap();
        let mut d = Dialog::new_uac(&inv, &ok_for(&inv, 200), "<sip:a@h>").unwrap();
        let bye = d.create_request(Method::Bye);
        assert_eq!(bye.uri_str(), "sip:p1.atlanta.example.com");
        let routes: Vec<_> = bye.headers().get_all(HeaderName::Route).collect();
        assert_eq!(routes, [&b"<sip:p2.biloxi.example.com;lr>"[..], b"<sip:bob@192.0.2.4>"]);
    }

    #[test]
    fn early_dialog_then_confirm() {
        let inv = invite();
        let mut ringing = Response::from_request(&inv, 180, "Ringing");
        ringing.set_to_tag("fork1");
        let mut d = Dialog::new_uac(&inv, &ringing, "<sip:a@h>").unwrap();
        assert_eq!(d.state(), DialogState::Early);
        assert_eq!(d.remote_target(), "sip:bob@biloxi.example.com");
        assert!(d.route_set().is_empty());
        d.confirm(Some(&ok_for(&inv, 200))).unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.remote_target(), "sip:bob@192.0.2.4");
        assert_eq!(d.route_set().len(), 2);
        let no_tag = Response::from_request(&inv, 180, "Ringing");
        assert_eq!(
            Dialog::new_uac(&inv, &no_tag, "<sip:a@h>").unwrap_err(),
            DialogError::MissingTag
        );
    }
}
