//! UserAgent pairs in virtual time over an in-memory network (quinn-proto `Pair` style).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::auth::{DigestServer, IpAcl, StoredCredential};
use crate::header::{HeaderName, Transport};
use crate::message::{Message, Method, Request, Response};

const OFFER: &[u8] =
    b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n";
const ANSWER: &[u8] =
    b"v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=sendrecv\r\n";
const HOLD: &[u8] =
    b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

type Filter = Box<dyn FnMut(SocketAddr, SocketAddr, &mut Bytes) -> bool>;

struct Packet {
    at: Instant,
    src: SocketAddr,
    dst: SocketAddr,
    data: Bytes,
}

/// Two (or three, with a proxy) nodes and a network with latency, loss and duplication.
struct Pair {
    now: Instant,
    a: UserAgent,
    b: UserAgent,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    proxy: Option<SocketAddr>,
    net: Vec<Packet>,
    latency: Duration,
    /// Returns false to drop; may rewrite the packet.
    filter: Option<Filter>,
    /// Every delivered packet, for assertions: (src, dst, text).
    log: Vec<(SocketAddr, SocketAddr, String)>,
    ev_a: Vec<UaEvent>,
    ev_b: Vec<UaEvent>,
}

fn ua(a: &str, seed: u64) -> UaConfig {
    let mut c = UaConfig::new(addr(a));
    c.seed = seed;
    c
}

impl Pair {
    fn new() -> Pair {
        Pair::with(ua("10.0.0.1:5060", 1), ua("10.0.0.2:5060", 2))
    }

    fn with(ca: UaConfig, cb: UaConfig) -> Pair {
        let (a_addr, b_addr) = (ca.local_addr, cb.local_addr);
        Pair {
            now: Instant::now(),
            a: UserAgent::new(ca),
            b: UserAgent::new(cb),
            a_addr,
            b_addr,
            proxy: None,
            net: Vec::new(),
            latency: Duration::from_millis(10),
            filter: None,
            log: Vec::new(),
            ev_a: Vec::new(),
            ev_b: Vec::new(),
        }
    }

    fn collect(&mut self) {
        for (ua, src) in [(&mut self.a, self.a_addr), (&mut self.b, self.b_addr)] {
            while let Some(t) = ua.poll_transmit() {
                self.net.push(Packet {
                    at: self.now + self.latency,
                    src,
                    dst: t.destination,
                    data: t.payload,
                });
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.ev_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.ev_b.push(e);
        }
    }

    /// Injects a datagram as if `src` sent it.
    fn inject(&mut self, src: SocketAddr, dst: SocketAddr, data: impl Into<Bytes>) {
        self.net.push(Packet {
            at: self.now + self.latency,
            src,
            dst,
            data: data.into(),
        });
    }

    fn deliver(&mut self, p: Packet) {
        let mut data = p.data;
        if let Some(f) = &mut self.filter
            && !f(p.src, p.dst, &mut data)
        {
            return;
        }
        self.log
            .push((p.src, p.dst, String::from_utf8_lossy(&data).into_owned()));
        if Some(p.dst) == self.proxy {
            self.proxy_forward(p.src, data);
        } else if p.dst == self.a_addr {
            self.a.handle_datagram(self.now, data, p.src, Transport::Udp);
        } else if p.dst == self.b_addr {
            self.b.handle_datagram(self.now, data, p.src, Transport::Udp);
        }
    }

    /// A stateless record-routing proxy (Kamailio-like `;lr`) between a and b.
    fn proxy_forward(&mut self, src: SocketAddr, data: Bytes) {
        let proxy = self.proxy.unwrap();
        match Message::parse(data).unwrap() {
            Message::Request(mut r) => {
                let h = r.headers_mut();
                if h.get_str(HeaderName::Route).is_some_and(|v| v.contains("10.0.0.3")) {
                    let first = h.iter().position(|f| f.name == HeaderName::Route).unwrap();
                    h.remove_at(first);
                }
                let branch = h.via().unwrap().branch().unwrap_or("x").to_owned();
                h.insert(
                    0,
                    HeaderName::Via,
                    format!("SIP/2.0/UDP {proxy};branch=z9hG4bKp{branch}"),
                );
                if *r.method() == Method::Invite && r.headers().to().unwrap().tag().is_none() {
                    r.headers_mut()
                        .insert(1, HeaderName::RecordRoute, "<sip:10.0.0.3:5060;lr>");
                }
                let dst = if src == self.a_addr { self.b_addr } else { self.a_addr };
                self.net.push(Packet {
                    at: self.now + self.latency,
                    src: proxy,
                    dst,
                    data: r.to_bytes(),
                });
            }
            Message::Response(mut r) => {
                let first = r.headers().iter().position(|f| f.name == HeaderName::Via).unwrap();
                r.headers_mut().remove_at(first);
                let v = r.headers().via().unwrap();
                let dst = addr(&format!("{}:{}", v.host, v.port.unwrap_or(5060)));
                self.net.push(Packet {
                    at: self.now + self.latency,
                    src: proxy,
                    dst,
                    data: r.to_bytes(),
                });
            }
        }
    }

    fn next_time(&mut self) -> Option<Instant> {
        [
            self.net.iter().map(|p| p.at).min(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the network for `d` of virtual time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        self.collect();
        while let Some(t) = self.next_time() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.net)
                .into_iter()
                .partition(|p| p.at <= self.now);
            self.net = rest;
            for p in due {
                self.deliver(p);
                self.collect();
            }
            if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
                self.a.handle_timeout(self.now);
            }
            if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
                self.b.handle_timeout(self.now);
            }
            self.collect();
        }
        self.now = end;
    }

    fn call(&mut self, offer: Option<&'static [u8]>) -> CallHandle {
        let to = format!("<sip:bob@{}>", self.b_addr);
        let call = OutboundCall {
            request_uri: format!("sip:bob@{}", self.b_addr),
            from: format!("\"Bot\" <sip:bot@{}>", self.a_addr),
            to,
            destination: self.proxy.unwrap_or(self.b_addr),
            offer: offer.map(Bytes::from_static),
            extra_headers: vec![("P-Asserted-Identity".into(), "<sip:+15550001@cxb>".into())],
            credentials: Some(("alice".into(), "secret".into())),
            call_id: None,
        };
        let h = self.a.invite(self.now, call).unwrap();
        self.collect();
        h
    }

    fn incoming(&mut self) -> CallHandle {
        self.ev_b
            .iter()
            .find_map(|e| match e {
                UaEvent::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("incoming call")
    }

    /// Places a call from a to b with an offer, answers it, runs until confirmed.
    fn established(&mut self) -> (CallHandle, CallHandle) {
        let ca = self.call(Some(OFFER));
        self.run(Duration::from_millis(100));
        let cb = self.incoming();
        self.b.respond(self.now, cb, 180, None).unwrap();
        self.b
            .respond(self.now, cb, 200, Some(Bytes::from_static(ANSWER)))
            .unwrap();
        self.run(Duration::from_millis(200));
        assert_eq!(self.a.phase(ca), Some(Phase::Confirmed));
        assert_eq!(self.b.phase(cb), Some(Phase::Confirmed));
        (ca, cb)
    }

    fn ended(ev: &[UaEvent]) -> Option<EndReason> {
        ev.iter().find_map(|e| match e {
            UaEvent::Ended { reason, .. } => Some(*reason),
            _ => None,
        })
    }

    fn sent(&self, needle: &str) -> usize {
        self.log.iter().filter(|(_, _, t)| t.starts_with(needle)).count()
    }
}

#[test]
fn basic_call_bye_from_caller() {
    let mut p = Pair::new();
    let (ca, cb) = p.established();
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Progress { status: 180, .. }))
    );
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Answered { body: Some(b), needs_ack_answer: false, .. } if &b[..] == ANSWER))
    );
    let UaEvent::IncomingCall { request, offer, .. } = &p.ev_b[0] else {
        panic!("{:?}", p.ev_b)
    };
    assert_eq!(offer.as_deref(), Some(OFFER));
    assert_eq!(
        request.headers().get_str(HeaderName::PAssertedIdentity),
        Some("<sip:+15550001@cxb>")
    );
    assert!(
        p.ev_b
            .iter()
            .any(|e| matches!(e, UaEvent::Confirmed { answer: None, .. }))
    );
    p.a.hangup(p.now, ca).unwrap();
    p.run(Duration::from_secs(1));
    assert_eq!(Pair::ended(&p.ev_a), Some(EndReason::LocalBye));
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::RemoteBye));
    assert_eq!(p.b.phase(cb), None);
    assert_eq!(p.sent("SIP/2.0 200 OK"), 2);
    // Transactions drain (timers K/J) and nothing is left.
    p.run(Duration::from_secs(40));
    assert_eq!(p.a.call_count() + p.b.call_count(), 0);
}

#[test]
fn basic_call_bye_from_callee() {
    let mut p = Pair::new();
    let (_, cb) = p.established();
    p.b.hangup(p.now, cb).unwrap();
    p.run(Duration::from_secs(1));
    assert_eq!(Pair::ended(&p.ev_a), Some(EndReason::RemoteBye));
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::LocalBye));
    let bye = p.log.iter().find(|(_, _, t)| t.starts_with("BYE ")).unwrap();
    // Request-URI is the caller's Contact; CSeq starts in the callee's own space.
    assert!(bye.2.starts_with("BYE sip:cxb@10.0.0.1:5060 SIP/2.0"), "{}", bye.2);
    assert!(bye.2.contains("CSeq: 1 BYE"));
}

#[test]
fn call_survives_loss_and_duplication() {
    let mut p = Pair::new();
    let mut n = 0u32;
    p.filter = Some(Box::new(move |_, _, _| {
        n += 1;
        !n.is_multiple_of(3) // drop every third datagram
    }));
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_secs(2));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
    assert_eq!(p.b.phase(cb), Some(Phase::Confirmed));
    assert_eq!(
        p.ev_b
            .iter()
            .filter(|e| matches!(e, UaEvent::IncomingCall { .. }))
            .count(),
        1
    );
    // Duplicate every datagram now.
    p.filter = None;
    let dup_from = p.log.len();
    p.a.hangup(p.now, ca).unwrap();
    p.collect();
    let copies: Vec<Packet> = p
        .net
        .iter()
        .map(|q| Packet {
            at: q.at + Duration::from_millis(3),
            src: q.src,
            dst: q.dst,
            data: q.data.clone(),
        })
        .collect();
    p.net.extend(copies);
    p.run(Duration::from_secs(2));
    assert!(p.log.len() > dup_from);
    assert_eq!(p.ev_b.iter().filter(|e| matches!(e, UaEvent::Ended { .. })).count(), 1);
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::RemoteBye));
}

#[test]
fn cancel_before_answer() {
    let mut p = Pair::new();
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    // CANCEL waits for a provisional (RFC 3261 §9.1).
    p.a.hangup(p.now, ca).unwrap();
    p.run(Duration::from_millis(100));
    assert_eq!(p.sent("CANCEL "), 0);
    p.b.respond(p.now, cb, 180, None).unwrap();
    p.run(Duration::from_secs(1));
    assert_eq!(p.sent("CANCEL "), 1);
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::RemoteCancel));
    assert_eq!(
        Pair::ended(&p.ev_a),
        Some(EndReason::Outbound(OutboundOutcome::NoAnswer { code: 487 }))
    );
    assert_eq!(Pair::ended(&p.ev_a).unwrap().disconnected_by(), "no_answer");
    assert!(
        p.log
            .iter()
            .any(|(_, _, t)| t.starts_with("ACK ") && t.contains("CSeq: 1 ACK"))
    );
}

#[test]
fn late_offer_sdp_in_200_and_ack() {
    let mut p = Pair::new();
    let ca = p.call(None);
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    assert!(matches!(&p.ev_b[0], UaEvent::IncomingCall { offer: None, .. }));
    // We (b) put our offer in the 200; a answers in the ACK.
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(100));
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Answered {
            needs_ack_answer: true,
            body: Some(_),
            ..
        }
    )));
    assert_eq!(p.a.phase(ca), Some(Phase::Answered));
    p.a.ack(p.now, ca, Some(Bytes::from_static(OFFER))).unwrap();
    p.run(Duration::from_millis(100));
    assert!(
        p.ev_b
            .iter()
            .any(|e| matches!(e, UaEvent::Confirmed { answer: Some(a), .. } if &a[..] == OFFER)),
        "{:?}",
        p.ev_b
    );
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
}

#[test]
fn reinvite_hold_and_resume() {
    let mut p = Pair::new();
    let (ca, cb) = p.established();
    p.a.reinvite(p.now, ca, Some(Bytes::from_static(HOLD))).unwrap();
    p.run(Duration::from_millis(100));
    let offer = p.ev_b.iter().find_map(|e| match e {
        UaEvent::OfferReceived {
            method: Method::Invite,
            offer,
            ..
        } => offer.clone(),
        _ => None,
    });
    assert_eq!(offer.as_deref(), Some(HOLD));
    p.b.answer_offer(p.now, cb, 200, Some(Bytes::from_static(b"v=0\r\na=recvonly\r\n")))
        .unwrap();
    p.run(Duration::from_millis(200));
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::OfferAnswered {
            status: 200,
            body: Some(_),
            ..
        }
    )));
    assert_eq!(p.sent("ACK "), 2);
    // Resume from the other side.
    p.b.reinvite(p.now, cb, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(100));
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::OfferReceived {
            method: Method::Invite,
            ..
        }
    )));
    p.a.answer_offer(p.now, ca, 200, Some(Bytes::from_static(OFFER)))
        .unwrap();
    p.run(Duration::from_millis(200));
    assert!(
        p.ev_b
            .iter()
            .any(|e| matches!(e, UaEvent::OfferAnswered { status: 200, .. }))
    );
    assert_eq!(p.sent("ACK "), 3);
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
    // No 2xx retransmission storm: each 200 went once (plus none retransmitted after ACK).
    p.run(Duration::from_secs(5));
    assert_eq!(p.sent("SIP/2.0 200 OK"), 3);
}

#[test]
fn glare_491_then_retry() {
    let mut p = Pair::new();
    let (ca, cb) = p.established();
    p.a.reinvite(p.now, ca, Some(Bytes::from_static(HOLD))).unwrap();
    p.b.reinvite(p.now, cb, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(100));
    assert_eq!(p.sent("SIP/2.0 491"), 2);
    // b (not the Call-ID owner) retries first (0–2 s); a after 2.1–4 s.
    p.run(Duration::from_millis(2050));
    let offered_a = p.ev_a.iter().any(|e| matches!(e, UaEvent::OfferReceived { .. }));
    assert!(offered_a, "{:?}", p.ev_a);
    p.a.answer_offer(p.now, ca, 200, Some(Bytes::from_static(OFFER)))
        .unwrap();
    p.run(Duration::from_secs(3));
    let offered_b = p.ev_b.iter().any(|e| matches!(e, UaEvent::OfferReceived { .. }));
    assert!(offered_b, "{:?}", p.ev_b);
    p.b.answer_offer(p.now, cb, 200, Some(Bytes::from_static(ANSWER)))
        .unwrap();
    p.run(Duration::from_secs(1));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::OfferAnswered { status: 200, .. }))
    );
    assert!(
        p.ev_b
            .iter()
            .any(|e| matches!(e, UaEvent::OfferAnswered { status: 200, .. }))
    );
}

#[test]
fn update_offer_answer() {
    let mut p = Pair::new();
    let (ca, cb) = p.established();
    p.a.update(p.now, ca, Some(Bytes::from_static(HOLD))).unwrap();
    p.run(Duration::from_millis(100));
    assert!(p.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::OfferReceived {
            method: Method::Update,
            offer: Some(_),
            ..
        }
    )));
    p.b.answer_offer(p.now, cb, 200, Some(Bytes::from_static(ANSWER)))
        .unwrap();
    p.run(Duration::from_millis(100));
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::OfferAnswered {
            method: Method::Update,
            status: 200,
            ..
        }
    )));
    assert_eq!(p.sent("ACK "), 1, "UPDATE is not acknowledged");
}

#[test]
fn options_in_and_out_of_dialog() {
    let mut p = Pair::new();
    let h = p.a.options(p.now, "sip:10.0.0.2:5060", p.b_addr).unwrap();
    p.run(Duration::from_millis(100));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::OptionsResponse { call, status: 200 } if *call == h))
    );
    let ok = p
        .log
        .iter()
        .find(|(_, _, t)| t.starts_with("SIP/2.0 200") && t.contains("OPTIONS"))
        .unwrap();
    assert!(ok.2.contains("Allow: INVITE") && ok.2.contains("Accept: application/sdp") && ok.2.contains("Supported:"));
    let (ca, _) = p.established();
    p.a.options_in_dialog(p.now, ca).unwrap();
    p.run(Duration::from_millis(100));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::OptionsResponse { call, status: 200 } if *call == ca))
    );
}

#[test]
fn info_dtmf_relay() {
    let mut p = Pair::new();
    let (ca, _) = p.established();
    p.a.send_dtmf_info(p.now, ca, '5', 160).unwrap();
    p.a.send_dtmf_info(p.now, ca, '#', 100).unwrap();
    p.run(Duration::from_millis(200));
    let digits: Vec<(char, u32)> = p
        .ev_b
        .iter()
        .filter_map(|e| match e {
            UaEvent::Dtmf { digit, duration_ms, .. } => Some((*digit, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, [('5', 160), ('#', 100)]);
    assert_eq!(parse_dtmf_relay(b"Signal=10\r\nDuration=250\r\n"), Some(('*', 250)));
    assert_eq!(parse_dtmf_relay(b"Signal=Z\r\n"), None);
}

/// b plays the transferee by hand: answers REFER 202 and sends NOTIFYs built from its dialog.
fn refer_scenario(final_frag: &str) -> Pair {
    let mut p = Pair::new();
    let (ca, cb) = p.established();
    p.filter = Some(Box::new(|_, _, d| !d.starts_with(b"REFER ")));
    p.a.refer(p.now, ca, "sip:agent@10.0.0.9", None).unwrap();
    p.collect();
    let refer = Request::parse(
        p.net
            .iter()
            .find(|q| q.data.starts_with(b"REFER "))
            .unwrap()
            .data
            .clone(),
    )
    .unwrap();
    assert_eq!(
        refer.headers().get_str(HeaderName::ReferTo),
        Some("<sip:agent@10.0.0.9>")
    );
    assert!(
        refer
            .headers()
            .get_str(HeaderName::ReferredBy)
            .unwrap()
            .contains("sip:bot@10.0.0.1")
    );
    p.run(Duration::from_millis(50));
    let mut ok = Response::from_request(&refer, 202, "Accepted");
    ok.headers_mut().push(HeaderName::Contact, "<sip:cxb@10.0.0.2:5060>");
    let (b, a) = (p.b_addr, p.a_addr);
    p.inject(b, a, ok.to_bytes());
    let mut d = p.b.dialog(cb).unwrap().clone();
    for (i, frag) in ["SIP/2.0 100 Trying", final_frag].iter().enumerate() {
        let mut n = d.create_request(Method::Notify);
        let h = n.headers_mut();
        h.insert(
            0,
            HeaderName::Via,
            format!("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKn{i}"),
        );
        h.push(HeaderName::Event, "refer");
        h.push(
            HeaderName::SubscriptionState,
            if i == 0 {
                "active;expires=60"
            } else {
                "terminated;reason=noresource"
            },
        );
        n.set_body(Some("message/sipfrag;version=2.0".into()), format!("{frag}\r\n"));
        p.inject(b, a, n.to_bytes());
    }
    p.run(Duration::from_millis(200));
    assert_eq!(
        p.log
            .iter()
            .filter(|(s, _, t)| *s == a && t.starts_with("SIP/2.0 200 OK") && t.contains("NOTIFY"))
            .count(),
        2
    );
    p
}

#[test]
fn refer_notify_success() {
    let p = refer_scenario("SIP/2.0 200 OK");
    let progress: Vec<_> = p
        .ev_a
        .iter()
        .filter_map(|e| match e {
            UaEvent::Transfer { progress, .. } => Some(*progress),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress,
        [
            TransferProgress::Accepted,
            TransferProgress::Trying(100),
            TransferProgress::Succeeded(200)
        ]
    );
}

#[test]
fn refer_notify_failure() {
    let p = refer_scenario("SIP/2.0 486 Busy Here");
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Transfer {
            progress: TransferProgress::Failed(486),
            ..
        }
    )));
}

#[test]
fn refer_rejected_by_peer() {
    let mut p = Pair::new();
    let (ca, _) = p.established();
    p.a.refer(p.now, ca, "sip:agent@10.0.0.9", Some("abc@h;to-tag=1;from-tag=2"))
        .unwrap();
    p.run(Duration::from_millis(100));
    let refer = p.log.iter().find(|(_, _, t)| t.starts_with("REFER ")).unwrap();
    assert!(
        refer
            .2
            .contains("Refer-To: <sip:agent@10.0.0.9?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>")
    );
    // Our own UA is never a transferee: 403.
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Transfer {
            progress: TransferProgress::Failed(403),
            ..
        }
    )));
}

#[test]
fn prack_for_reliable_183() {
    let mut p = Pair::new();
    // Make b's 183 reliable on the wire (our UAS does not send reliable provisionals itself).
    p.filter = Some(Box::new(|_, _, d| {
        if d.starts_with(b"SIP/2.0 183") {
            let s = String::from_utf8_lossy(d).replacen("\r\n", "\r\nRequire: 100rel\r\nRSeq: 7\r\n", 1);
            *d = Bytes::from(s);
        }
        true
    }));
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 183, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(100));
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Progress {
            status: 183,
            body: Some(_),
            ..
        }
    )));
    let prack = p
        .log
        .iter()
        .find(|(_, _, t)| t.starts_with("PRACK "))
        .expect("PRACK sent");
    assert!(prack.2.contains("RAck: 7 1 INVITE"), "{}", prack.2);
    assert!(prack.2.contains("CSeq: 2 PRACK"));
    let invite = p.log.iter().find(|(_, _, t)| t.starts_with("INVITE ")).unwrap();
    assert!(invite.2.contains("Supported: 100rel"));
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(100));
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
    // The next request in the dialog continues after the PRACK's CSeq.
    p.a.hangup(p.now, ca).unwrap();
    p.run(Duration::from_millis(100));
    assert!(
        p.log
            .iter()
            .any(|(_, _, t)| t.starts_with("BYE ") && t.contains("CSeq: 3 BYE"))
    );
}

#[test]
fn session_timer_refresh_and_expiry() {
    let mut ca = ua("10.0.0.1:5060", 1);
    ca.session_expires = Some(120);
    let mut p = Pair::with(ca, ua("10.0.0.2:5060", 2));
    let (a, b) = p.established();
    // b had no refresher preference from a (a did not say) -> a supports timer, so a refreshes.
    assert_eq!(p.a.session_timer(a), Some((120, true)));
    assert_eq!(p.b.session_timer(b), Some((120, false)));
    p.run(Duration::from_secs(61));
    // a refreshed at 60 s with an UPDATE (b allows UPDATE).
    assert!(p.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::OfferReceived {
            method: Method::Update,
            offer: None,
            ..
        }
    )));
    p.b.answer_offer(p.now, b, 200, None).unwrap();
    p.run(Duration::from_millis(100));
    assert!(
        p.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::SessionRefreshed { interval: 120, .. }))
    );
    assert!(
        p.ev_b
            .iter()
            .any(|e| matches!(e, UaEvent::SessionRefreshed { interval: 120, .. }))
    );
    // Now a stops refreshing (its refreshes are dropped): b expires the session and sends BYE.
    p.filter = Some(Box::new(|_, _, d| !d.starts_with(b"UPDATE ")));
    p.run(Duration::from_secs(130));
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::SessionExpired));
    assert_eq!(Pair::ended(&p.ev_a), Some(EndReason::RemoteBye));
}

#[test]
fn session_interval_too_small_422() {
    let mut ca = ua("10.0.0.1:5060", 1);
    ca.session_expires = Some(90);
    ca.min_se = 90;
    let mut cb = ua("10.0.0.2:5060", 2);
    cb.min_se = 300;
    let mut p = Pair::with(ca, cb);
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(200));
    assert_eq!(p.sent("SIP/2.0 422"), 1);
    let cb = p.incoming();
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(200));
    assert_eq!(p.a.session_timer(ca), Some((300, true)));
}

fn auth_pair() -> Pair {
    let mut cb = ua("10.0.0.2:5060", 2);
    let mut users = HashMap::new();
    users.insert(
        "alice".to_owned(),
        StoredCredential::from_password("alice", "cxb.test", "secret"),
    );
    cb.inbound_auth = Some(InboundAuth {
        server: DigestServer::new("cxb.test", b"k3y", 300),
        users,
    });
    Pair::with(ua("10.0.0.1:5060", 1), cb)
}

#[test]
fn digest_401_then_success() {
    let mut p = auth_pair();
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(200));
    assert_eq!(p.sent("SIP/2.0 401"), 1);
    let second = p
        .log
        .iter()
        .filter(|(_, _, t)| t.starts_with("INVITE "))
        .nth(1)
        .expect("retried INVITE");
    assert!(second.2.contains("CSeq: 2 INVITE") && second.2.contains("Authorization: Digest"));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(200));
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
    let ack = p
        .log
        .iter()
        .find(|(_, _, t)| t.starts_with("ACK ") && t.contains("CSeq: 2 ACK"));
    assert!(ack.is_some());
}

#[test]
fn digest_wrong_password_fails_once() {
    let mut p = auth_pair();
    let call = OutboundCall {
        request_uri: "sip:bob@10.0.0.2:5060".into(),
        from: "<sip:bot@10.0.0.1>".into(),
        to: "<sip:bob@10.0.0.2>".into(),
        destination: p.b_addr,
        offer: Some(Bytes::from_static(OFFER)),
        extra_headers: Vec::new(),
        credentials: Some(("alice".into(), "wrong".into())),
        call_id: None,
    };
    p.a.invite(p.now, call).unwrap();
    p.run(Duration::from_secs(1));
    // 401, one retry, 403 (wrong response) -> error outcome; never a loop.
    assert_eq!(p.sent("INVITE "), 2);
    assert_eq!(
        Pair::ended(&p.ev_a),
        Some(EndReason::Outbound(OutboundOutcome::Error { code: 403 }))
    );
}

#[test]
fn digest_407_on_invite() {
    let mut p = auth_pair();
    // A proxy-style challenge: rewrite b's 401 into a 407 and a's Proxy-Authorization back.
    p.filter = Some(Box::new(|_, _, d| {
        let s = String::from_utf8_lossy(d).into_owned();
        let s = if s.starts_with("SIP/2.0 401") {
            s.replacen(
                "SIP/2.0 401 Unauthorized",
                "SIP/2.0 407 Proxy Authentication Required",
                1,
            )
            .replace("WWW-Authenticate:", "Proxy-Authenticate:")
        } else {
            s.replace("Proxy-Authorization:", "Authorization:")
        };
        *d = Bytes::from(s);
        true
    }));
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(200));
    assert_eq!(p.sent("SIP/2.0 407"), 1);
    let cb = p.incoming();
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(200));
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
}

#[test]
fn acl_and_admission_hook() {
    let mut cb = ua("10.0.0.2:5060", 2);
    cb.acl = Some(IpAcl {
        allow: vec![crate::auth::Cidr::new("10.9.0.0".parse().unwrap(), 16).unwrap()],
        deny: vec![],
    });
    let mut p = Pair::with(ua("10.0.0.1:5060", 1), cb);
    p.call(Some(OFFER));
    p.run(Duration::from_secs(1));
    assert_eq!(p.sent("SIP/2.0 403"), 1);
    assert_eq!(
        Pair::ended(&p.ev_a),
        Some(EndReason::Outbound(OutboundOutcome::Error { code: 403 }))
    );
    let mut p = Pair::new();
    p.b.set_admission_hook(Box::new(|req, _| {
        if req
            .headers()
            .get_str(HeaderName::From)
            .is_some_and(|f| f.contains("Bot"))
        {
            Admission::Reject(603)
        } else {
            Admission::Allow
        }
    }));
    p.call(Some(OFFER));
    p.run(Duration::from_secs(1));
    assert_eq!(
        Pair::ended(&p.ev_a),
        Some(EndReason::Outbound(OutboundOutcome::Rejected { code: 603 }))
    );
}

#[test]
fn ok_retransmitted_until_ack_then_give_up_with_bye() {
    let mut p = Pair::new();
    // Drop the first two ACKs: b retransmits 200, a re-sends its ACK for each.
    let mut acks = 0;
    p.filter = Some(Box::new(move |_, _, d| {
        if d.starts_with(b"ACK ") {
            acks += 1;
            return acks > 2;
        }
        true
    }));
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_secs(3));
    assert_eq!(p.b.phase(cb), Some(Phase::Confirmed));
    assert!(p.sent("SIP/2.0 200 OK") >= 3);
    assert_eq!(
        p.ev_b.iter().filter(|e| matches!(e, UaEvent::Confirmed { .. })).count(),
        1
    );
    p.a.hangup(p.now, ca).unwrap();
    p.run(Duration::from_secs(1));

    // Now every ACK is lost: b gives up after 64*T1 = 32 s and sends BYE.
    let mut p = Pair::new();
    p.filter = Some(Box::new(|_, _, d| !d.starts_with(b"ACK ")));
    p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_secs(31));
    assert_eq!(p.b.phase(cb), Some(Phase::Answered));
    let retransmits = p.sent("SIP/2.0 200 OK");
    assert!((8..=12).contains(&retransmits), "{retransmits}");
    p.run(Duration::from_secs(2));
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::AckTimeout));
    assert_eq!(Pair::ended(&p.ev_a), Some(EndReason::RemoteBye));
}

#[test]
fn cseq_out_of_order_gets_500() {
    let mut p = Pair::new();
    let (ca, _) = p.established();
    let d = p.a.dialog(ca).unwrap().clone();
    let mut info = d.create_request_with_seq(Method::Info, 1);
    info.headers_mut()
        .insert(0, HeaderName::Via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKold");
    info.set_body(None, "");
    let (a, b) = (p.a_addr, p.b_addr);
    p.inject(a, b, info.to_bytes());
    p.run(Duration::from_millis(100));
    assert_eq!(p.sent("SIP/2.0 500"), 1);
    // A request for an unknown dialog gets 481.
    let raw = String::from_utf8(info.to_bytes().to_vec())
        .unwrap()
        .replace(&d.id().call_id, "nope@x")
        .replace("z9hG4bKold", "z9hG4bKnew");
    p.inject(a, b, raw);
    p.run(Duration::from_millis(100));
    assert_eq!(p.sent("SIP/2.0 481"), 1);
}

#[test]
fn route_set_through_record_routing_proxy() {
    let mut p = Pair::new();
    p.proxy = Some(addr("10.0.0.3:5060"));
    let (ca, cb) = p.established();
    assert_eq!(p.a.dialog(ca).unwrap().route_set(), ["<sip:10.0.0.3:5060;lr>"]);
    assert_eq!(p.b.dialog(cb).unwrap().route_set(), ["<sip:10.0.0.3:5060;lr>"]);
    let ack = p
        .log
        .iter()
        .find(|(s, _, t)| *s == p.a_addr && t.starts_with("ACK "))
        .unwrap();
    assert!(ack.2.starts_with("ACK sip:cxb@10.0.0.2:5060 SIP/2.0") && ack.2.contains("Route: <sip:10.0.0.3:5060;lr>"));
    p.b.hangup(p.now, cb).unwrap();
    p.run(Duration::from_millis(200));
    let bye = p
        .log
        .iter()
        .find(|(s, _, t)| *s == p.b_addr && t.starts_with("BYE "))
        .unwrap();
    assert_eq!(bye.1, addr("10.0.0.3:5060"));
    assert!(bye.2.starts_with("BYE sip:cxb@10.0.0.1:5060 SIP/2.0") && bye.2.contains("Route: <sip:10.0.0.3:5060;lr>"));
    assert_eq!(Pair::ended(&p.ev_a), Some(EndReason::RemoteBye));
}

#[test]
fn outbound_final_responses_map_to_outcomes() {
    for (code, want) in [
        (486, OutboundOutcome::Rejected { code: 486 }),
        (603, OutboundOutcome::Rejected { code: 603 }),
        (480, OutboundOutcome::NoAnswer { code: 480 }),
        (404, OutboundOutcome::Error { code: 404 }),
        (503, OutboundOutcome::Error { code: 503 }),
    ] {
        let mut p = Pair::new();
        p.call(Some(OFFER));
        p.run(Duration::from_millis(100));
        let cb = p.incoming();
        p.b.respond(p.now, cb, code, None).unwrap();
        p.run(Duration::from_millis(200));
        assert_eq!(Pair::ended(&p.ev_a), Some(EndReason::Outbound(want)), "{code}");
        assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::LocalReject(code)));
    }
    // No answer at all: timer B -> 408 -> no_answer.
    let mut p = Pair::new();
    p.filter = Some(Box::new(|_, _, _| false));
    p.call(Some(OFFER));
    p.run(Duration::from_secs(40));
    assert_eq!(
        Pair::ended(&p.ev_a),
        Some(EndReason::Outbound(OutboundOutcome::NoAnswer { code: 408 }))
    );
}

#[test]
fn forked_early_dialogs_and_second_2xx_is_acked_and_byed() {
    let mut p = Pair::new();
    // b's UA never sees the INVITE: we answer by hand as two forks.
    p.filter = Some(Box::new(|_, dst, d| {
        !(dst.port() == 5060 && dst.ip().to_string() == "10.0.0.2" && d.starts_with(b"INVITE "))
    }));
    let ca = p.call(Some(OFFER));
    let invite = Request::parse(
        p.net
            .iter()
            .find(|q| q.data.starts_with(b"INVITE "))
            .unwrap()
            .data
            .clone(),
    )
    .unwrap();
    p.run(Duration::from_millis(50));
    let fork = |status: u16, tag: &str, body: bool| {
        let mut r = Response::from_request(&invite, status, reason_phrase(status));
        r.set_to_tag(tag);
        r.headers_mut()
            .push(HeaderName::Contact, format!("<sip:{tag}@10.0.0.2:5060>"));
        if body {
            r.set_body(Some("application/sdp".into()), Bytes::from_static(ANSWER));
        }
        r.to_bytes()
    };
    let (a, b) = (p.a_addr, p.b_addr);
    p.inject(b, a, fork(180, "f1", false));
    p.inject(b, a, fork(183, "f2", true));
    p.run(Duration::from_millis(50));
    let progress = p.ev_a.iter().filter(|e| matches!(e, UaEvent::Progress { .. })).count();
    assert_eq!(progress, 2);
    p.inject(b, a, fork(200, "f2", true));
    p.run(Duration::from_millis(50));
    assert_eq!(p.a.dialog(ca).unwrap().id().remote_tag, "f2");
    p.inject(b, a, fork(200, "f1", true));
    p.run(Duration::from_millis(50));
    let sent_by_a: Vec<&str> = p
        .log
        .iter()
        .filter(|(s, _, _)| *s == a)
        .map(|(_, _, t)| t.as_str())
        .collect();
    assert!(sent_by_a.iter().any(|t| t.starts_with("ACK sip:f2@10.0.0.2:5060 ")));
    assert!(sent_by_a.iter().any(|t| t.starts_with("ACK sip:f1@10.0.0.2:5060 ")));
    assert!(sent_by_a.iter().any(|t| t.starts_with("BYE sip:f1@10.0.0.2:5060 ")));
    assert!(!sent_by_a.iter().any(|t| t.starts_with("BYE sip:f2@")));
    assert_eq!(
        p.ev_a.iter().filter(|e| matches!(e, UaEvent::Answered { .. })).count(),
        1
    );
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));
}

/// Garbage in never panics: every datagram of a full call, mutated, fed to fresh agents.
#[test]
fn mutated_datagrams_never_panic() {
    let mut p = Pair::new();
    let (ca, _) = p.established();
    p.a.reinvite(p.now, ca, Some(Bytes::from_static(HOLD))).unwrap();
    p.run(Duration::from_millis(100));
    p.a.send_dtmf_info(p.now, ca, '1', 100).unwrap();
    p.a.hangup(p.now, ca).unwrap();
    p.run(Duration::from_millis(200));
    let corpus: Vec<Vec<u8>> = p.log.iter().map(|(_, _, t)| t.as_bytes().to_vec()).collect();
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut ua = UserAgent::new(ua("10.0.0.2:5060", 9));
    let now = Instant::now();
    for round in 0..3000u32 {
        let mut m = corpus[next() as usize % corpus.len()].clone();
        for _ in 0..(1 + next() % 4) {
            let i = next() as usize % m.len().max(1);
            match next() % 4 {
                0 if !m.is_empty() => m[i] = next() as u8,
                1 if !m.is_empty() => {
                    m.truncate(i);
                }
                2 => m.insert(i.min(m.len()), b"\r\n;<>:@\"%,="[next() as usize % 11]),
                _ if !m.is_empty() => {
                    m.remove(i);
                }
                _ => {}
            }
        }
        let t = now + Duration::from_millis(u64::from(round) * 7);
        ua.handle_datagram(t, Bytes::from(m), addr("10.0.0.1:5060"), Transport::Udp);
        ua.handle_timeout(t);
        while ua.poll_transmit().is_some() {}
        while let Some(e) = ua.poll_event() {
            // Act on what arrives, to reach deeper states.
            if let UaEvent::IncomingCall { call, .. } = e {
                let _ = ua.respond(t, call, 200, Some(Bytes::from_static(ANSWER)));
            }
        }
    }
}

#[test]
fn uas_reliable_183_retransmitted_until_prack() {
    let mut cb = ua("10.0.0.2:5060", 2);
    cb.reliable_provisional = true;
    let mut p = Pair::with(ua("10.0.0.1:5060", 1), cb);
    let mut dropped = false;
    p.filter = Some(Box::new(move |_, _, d| {
        if d.starts_with(b"SIP/2.0 183") && !dropped {
            dropped = true;
            return false;
        }
        true
    }));
    let ca = p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 183, Some(Bytes::from_static(ANSWER))).unwrap();
    // A second reliable provisional must wait for the PRACK.
    assert!(p.b.respond(p.now, cb, 180, None).is_err());
    p.run(Duration::from_secs(3));
    assert_eq!(
        p.sent("SIP/2.0 183"),
        1,
        "first copy lost, retransmitted once, then stopped by the PRACK"
    );
    let r183 = p.log.iter().find(|(_, _, t)| t.starts_with("SIP/2.0 183")).unwrap();
    assert!(r183.2.contains("Require: 100rel") && r183.2.contains("RSeq: "));
    assert_eq!(p.sent("PRACK "), 1);
    assert!(
        p.log
            .iter()
            .any(|(_, _, t)| t.starts_with("SIP/2.0 200 OK") && t.contains(" PRACK"))
    );
    assert!(p.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Progress {
            status: 183,
            body: Some(_),
            ..
        }
    )));
    p.b.respond(p.now, cb, 200, Some(Bytes::from_static(ANSWER))).unwrap();
    p.run(Duration::from_millis(200));
    assert_eq!(p.a.phase(ca), Some(Phase::Confirmed));

    // No PRACK ever: the UAS gives up after 64*T1 with a 5xx.
    let mut cb = ua("10.0.0.2:5060", 2);
    cb.reliable_provisional = true;
    let mut p = Pair::with(ua("10.0.0.1:5060", 1), cb);
    p.filter = Some(Box::new(|_, _, d| !d.starts_with(b"PRACK ")));
    p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let cb = p.incoming();
    p.b.respond(p.now, cb, 180, None).unwrap();
    p.run(Duration::from_secs(33));
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::LocalReject(504)));
    assert_eq!(
        Pair::ended(&p.ev_a),
        Some(EndReason::Outbound(OutboundOutcome::Error { code: 504 }))
    );
}

#[test]
fn digest_401_on_bye_is_answered_with_new_cseq() {
    let mut p = Pair::new();
    let (ca, _) = p.established();
    let mut first = true;
    p.filter = Some(Box::new(move |_, _, d| {
        if d.starts_with(b"BYE ") && first {
            first = false;
            return false;
        }
        true
    }));
    p.a.hangup(p.now, ca).unwrap();
    p.collect();
    let bye = Request::parse(p.net.iter().find(|q| q.data.starts_with(b"BYE ")).unwrap().data.clone()).unwrap();
    p.run(Duration::from_millis(50));
    // The far end (say a proxy) challenges the BYE.
    let server = DigestServer::new("cxb.test", b"k3y", 300);
    let mut r = Response::from_request(&bye, 401, "Unauthorized");
    for c in server.challenges(0, false) {
        r.headers_mut().push(HeaderName::WwwAuthenticate, c.to_string());
    }
    let (a, b) = (p.a_addr, p.b_addr);
    p.inject(b, a, r.to_bytes());
    p.run(Duration::from_millis(200));
    let byes: Vec<&str> = p
        .log
        .iter()
        .filter(|(_, _, t)| t.starts_with("BYE "))
        .map(|(_, _, t)| t.as_str())
        .collect();
    assert_eq!(byes.len(), 1, "the challenged BYE was resent once");
    let old_seq = bye.headers().cseq().unwrap().seq;
    assert!(byes[0].contains(&format!("CSeq: {} BYE", old_seq + 1)) && byes[0].contains("Authorization: Digest"));
    let resent = Request::parse(Bytes::from(byes[0].to_owned())).unwrap();
    let v = resent.headers().get(HeaderName::Authorization).unwrap();
    let mut counts = crate::auth::NonceCounts::new(4);
    let creds = |_: &str| Some(StoredCredential::from_password("alice", "cxb.test", "secret"));
    server
        .verify(v, "BYE", resent.uri_str(), 1, creds, &mut counts)
        .unwrap();
    assert_eq!(Pair::ended(&p.ev_b), Some(EndReason::RemoteBye));
}

/// A trunk pointing back at this UA: our own INVITE arrives as an inbound call with the same
/// Call-ID. Both legs live side by side, told apart by tag, and a BYE ends both cleanly.
#[test]
fn hairpin_call_to_ourselves() {
    let mut p = Pair::new();
    let out = OutboundCall {
        request_uri: format!("sip:+15550100@{}", p.a_addr),
        from: format!("<sip:+15550000@{}>", p.a_addr),
        to: format!("<sip:+15550100@{}>", p.a_addr),
        destination: p.a_addr,
        offer: Some(Bytes::from_static(OFFER)),
        extra_headers: Vec::new(),
        credentials: None,
        call_id: None,
    };
    let caller = p.a.invite(p.now, out).unwrap();
    p.run(Duration::from_millis(100));
    let callee = p
        .ev_a
        .iter()
        .find_map(|e| match e {
            UaEvent::IncomingCall { call, .. } => Some(*call),
            _ => None,
        })
        .expect("the looped INVITE is a new inbound call");
    assert_ne!(caller, callee);
    assert_eq!(p.sent("SIP/2.0 482"), 0);
    p.a.respond(p.now, callee, 200, Some(Bytes::from_static(ANSWER)))
        .unwrap();
    p.run(Duration::from_millis(200));
    assert_eq!(p.a.phase(caller), Some(Phase::Confirmed));
    assert_eq!(p.a.phase(callee), Some(Phase::Confirmed));
    p.a.hangup(p.now, callee).unwrap();
    p.run(Duration::from_secs(1));
    let ended: Vec<_> = p
        .ev_a
        .iter()
        .filter_map(|e| match e {
            UaEvent::Ended { call, reason } => Some((*call, *reason)),
            _ => None,
        })
        .collect();
    assert!(ended.contains(&(callee, EndReason::LocalBye)), "{ended:?}");
    assert!(ended.contains(&(caller, EndReason::RemoteBye)), "{ended:?}");
    p.run(Duration::from_secs(40));
    assert_eq!(p.a.call_count(), 0);
}

/// The same INVITE arriving twice by different paths (a merged request) is refused with 482.
#[test]
fn merged_invite_gets_482() {
    let mut p = Pair::new();
    p.call(Some(OFFER));
    p.run(Duration::from_millis(100));
    let invite = p
        .log
        .iter()
        .find(|(_, _, t)| t.starts_with("INVITE "))
        .unwrap()
        .2
        .clone();
    let merged = invite.replacen("branch=z9hG4bK", "branch=z9hG4bKmerged", 1);
    p.inject(p.a_addr, p.b_addr, merged);
    p.run(Duration::from_millis(100));
    assert_eq!(p.sent("SIP/2.0 482 Loop Detected"), 1);
}
