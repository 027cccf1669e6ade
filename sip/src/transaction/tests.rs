//! Transaction tests in virtual time: a UAC layer and a UAS layer wired through an in-memory
//! network that can drop, duplicate, delay and reorder datagrams (quinn-proto `Pair` style).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::header::Transport;
use crate::message::{Message, Method, Request, Response};

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn uac_addr() -> SocketAddr {
    "10.0.0.1:5060".parse().unwrap()
}

fn uas_addr() -> SocketAddr {
    "10.0.0.2:5060".parse().unwrap()
}

/// What the network does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
    Delay(Duration),
}

/// A datagram as the network sees it.
#[derive(Debug, Clone)]
struct Flight {
    from: SocketAddr,
    to: SocketAddr,
    transport: Transport,
    payload: Bytes,
}

impl Flight {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).unwrap_or("")
    }

    fn is_request(&self, method: &str) -> bool {
        self.text().starts_with(&format!("{method} "))
    }

    fn is_status(&self, status: u16) -> bool {
        self.text().starts_with(&format!("SIP/2.0 {status} "))
    }
}

type Filter = Box<dyn FnMut(&Flight) -> Fate>;

/// Two layers and a network in virtual time.
struct Pair {
    now: Instant,
    uac: TransactionLayer,
    uas: TransactionLayer,
    latency: Duration,
    in_flight: Vec<(Instant, u64, Flight)>,
    seq: u64,
    filter: Filter,
    /// Everything put on the wire, with the time it was sent.
    log: Vec<(Instant, Flight)>,
    /// Datagrams to addresses that are neither layer.
    lost: Vec<Flight>,
    uac_events: Vec<(Instant, TxEvent)>,
    uas_events: Vec<(Instant, TxEvent)>,
}

impl Pair {
    fn new() -> Pair {
        Pair::with_config(Config::default())
    }

    fn with_config(config: Config) -> Pair {
        let uas_config = Config {
            branch_seed: config.branch_seed ^ 0xffff,
            ..config.clone()
        };
        Pair {
            now: Instant::now(),
            uac: TransactionLayer::new(config),
            uas: TransactionLayer::new(uas_config),
            latency: ms(10),
            in_flight: Vec::new(),
            seq: 0,
            filter: Box::new(|_| Fate::Deliver),
            log: Vec::new(),
            lost: Vec::new(),
            uac_events: Vec::new(),
            uas_events: Vec::new(),
        }
    }

    fn filter(&mut self, f: impl FnMut(&Flight) -> Fate + 'static) {
        self.filter = Box::new(f);
    }

    fn start(&self) -> Instant {
        self.log.first().map(|(t, _)| *t).unwrap_or(self.now)
    }

    /// Moves transmits into the network and delivers everything due, until quiet.
    fn drive(&mut self) {
        loop {
            let mut work = false;
            for from in [uac_addr(), uas_addr()] {
                loop {
                    let layer = if from == uac_addr() {
                        &mut self.uac
                    } else {
                        &mut self.uas
                    };
                    let Some(t) = layer.poll_transmit() else { break };
                    work = true;
                    let f = Flight {
                        from,
                        to: t.destination,
                        transport: t.transport,
                        payload: t.payload,
                    };
                    self.log.push((self.now, f.clone()));
                    let fate = (self.filter)(&f);
                    let at = self.now + self.latency;
                    match fate {
                        Fate::Deliver => self.push(at, f),
                        Fate::Drop => {}
                        Fate::Duplicate => {
                            self.push(at, f.clone());
                            self.push(at + MS, f);
                        }
                        Fate::Delay(d) => self.push(at + d, f),
                    }
                }
            }
            for (layer, events) in [
                (&mut self.uac, &mut self.uac_events),
                (&mut self.uas, &mut self.uas_events),
            ] {
                while let Some(e) = layer.poll_event() {
                    events.push((self.now, e));
                }
            }
            self.in_flight.sort_by_key(|(t, s, _)| (*t, *s));
            while self.in_flight.first().is_some_and(|(t, _, _)| *t <= self.now) {
                let (_, _, f) = self.in_flight.remove(0);
                work = true;
                let layer = if f.to == uac_addr() {
                    &mut self.uac
                } else if f.to == uas_addr() {
                    &mut self.uas
                } else {
                    self.lost.push(f);
                    continue;
                };
                layer.handle_datagram(self.now, f.payload, f.from, f.transport);
            }
            if !work {
                break;
            }
        }
    }

    fn push(&mut self, at: Instant, f: Flight) {
        self.seq += 1;
        self.in_flight.push((at, self.seq, f));
    }

    /// Advances virtual time to `until`, firing timers and deliveries in order.
    fn advance_to(&mut self, until: Instant) {
        self.drive();
        loop {
            let next = [
                self.uac.poll_timeout(),
                self.uas.poll_timeout(),
                self.in_flight.iter().map(|x| x.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.uac.handle_timeout(self.now);
                    self.uas.handle_timeout(self.now);
                    self.drive();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    fn advance(&mut self, d: Duration) {
        self.advance_to(self.now + d);
    }

    /// Sends from the UAC and drives the network.
    fn send(&mut self, req: Request, transport: Transport) -> TxId {
        let tx = self
            .uac
            .send_request(
                self.now,
                req,
                Target {
                    addr: uas_addr(),
                    transport,
                },
            )
            .unwrap();
        self.drive();
        tx
    }

    fn respond(&mut self, tx: TxId, resp: Response) {
        self.uas.send_response(self.now, tx, resp).unwrap();
        self.drive();
    }

    /// Times (relative to the first transmit) at which `from` sent messages matching `pred`.
    fn sent_at(&self, from: SocketAddr, pred: impl Fn(&Flight) -> bool) -> Vec<Duration> {
        let start = self.start();
        self.log
            .iter()
            .filter(|(_, f)| f.from == from && pred(f))
            .map(|(t, _)| *t - start)
            .collect()
    }

    fn uas_new_requests(&self) -> Vec<(TxId, Request)> {
        self.uas_events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::NewRequest { tx, request, .. } => Some((*tx, request.clone())),
                _ => None,
            })
            .collect()
    }

    fn uac_responses(&self) -> Vec<u16> {
        self.uac_events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Response { response, .. } => Some(response.status()),
                _ => None,
            })
            .collect()
    }

    fn terminated_at(events: &[(Instant, TxEvent)], id: TxId) -> Option<Instant> {
        events
            .iter()
            .find_map(|(t, e)| matches!(e, TxEvent::Terminated { tx, .. } if *tx == id).then_some(*t))
    }
}

fn request(method: Method, transport: Transport, cseq: u32) -> Request {
    let mut r = Request::new(method.clone(), "sip:bot@10.0.0.2").unwrap();
    let h = r.headers_mut();
    h.push(
        HeaderName::Via,
        format!("SIP/2.0/{} 10.0.0.1:5060;rport", transport.as_str()),
    );
    h.push(HeaderName::MaxForwards, "70");
    h.push(HeaderName::From, "<sip:alice@10.0.0.1>;tag=a1");
    h.push(HeaderName::To, "<sip:bot@10.0.0.2>");
    h.push(HeaderName::CallId, "call-1@10.0.0.1");
    h.push(HeaderName::CSeq, format!("{cseq} {method}"));
    h.push(HeaderName::Contact, "<sip:alice@10.0.0.1:5060>");
    r.set_body(None, "");
    r
}

fn invite(transport: Transport) -> Request {
    let mut r = request(Method::Invite, transport, 1);
    r.headers_mut().push(HeaderName::Route, "<sip:proxy.example;lr>");
    r
}

fn reply(req: &Request, status: u16, reason: &'static str) -> Response {
    let mut r = Response::from_request(req, status, reason);
    if status > 100 {
        r.set_to_tag("b2");
    }
    r
}

fn branch_of(headers: &crate::header::Headers) -> String {
    headers.via().unwrap().branch().unwrap().to_owned()
}

// ---------------------------------------------------------------- client timers

#[test]
fn timer_a_doubles_from_t1_and_timer_b_times_out_with_408() {
    let mut p = Pair::new();
    p.filter(|_| Fate::Drop);
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    assert_eq!(p.uac.state(tx), Some(TxState::Calling));
    assert_eq!(p.uac.timer_deadline(tx, Timer::A), Some(p.now + ms(500)));
    p.advance(Duration::from_secs(40));
    let sent = p.sent_at(uac_addr(), |f| f.is_request("INVITE"));
    let expected: Vec<Duration> = [0, 500, 1500, 3500, 7500, 15500, 31500].into_iter().map(ms).collect();
    assert_eq!(sent, expected);
    let start = p.start();
    let (at, timer, resp) = p
        .uac_events
        .iter()
        .find_map(|(t, e)| match e {
            TxEvent::Timeout {
                tx: id,
                timer,
                response,
            } if *id == tx => Some((*t, *timer, response.clone())),
            _ => None,
        })
        .expect("timeout");
    assert_eq!(at - start, Duration::from_secs(32));
    assert_eq!(timer, Timer::B);
    let resp = resp.expect("408 for client timeouts");
    assert_eq!(resp.status(), 408);
    assert_eq!(resp.headers().call_id().unwrap(), "call-1@10.0.0.1");
    assert_eq!(resp.headers().cseq().unwrap().method, Method::Invite);
    assert_eq!(Pair::terminated_at(&p.uac_events, tx), Some(at));
    assert!(p.uac.is_empty());
    assert_eq!(p.uac.state(tx), None);
}

#[test]
fn timer_e_doubles_up_to_t2_and_timer_f_times_out() {
    let mut p = Pair::new();
    p.filter(|_| Fate::Drop);
    let tx = p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.advance(Duration::from_secs(40));
    let sent = p.sent_at(uac_addr(), |f| f.is_request("OPTIONS"));
    let mut expected = vec![0u64, 500, 1500, 3500, 7500];
    let mut t = 7500;
    while t + 4000 < 32_000 {
        t += 4000;
        expected.push(t);
    }
    assert_eq!(sent, expected.into_iter().map(ms).collect::<Vec<_>>());
    let timeout = p.uac_events.iter().find_map(|(t, e)| match e {
        TxEvent::Timeout { timer, response, .. } => Some((*t, *timer, response.as_ref().map(Response::status))),
        _ => None,
    });
    assert_eq!(
        timeout,
        Some((p.start() + Duration::from_secs(32), Timer::F, Some(408)))
    );
    assert_eq!(p.uac.state(tx), None);
}

#[test]
fn timer_e_is_t2_in_proceeding() {
    let mut p = Pair::new();
    // Let the request through once, then drop every retransmission and the final response.
    let mut seen = 0;
    p.filter(move |f| {
        if f.is_request("OPTIONS") {
            seen += 1;
            return if seen == 1 { Fate::Deliver } else { Fate::Drop };
        }
        Fate::Deliver
    });
    let tx = p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.advance(ms(20));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.respond(stx, reply(&req, 183, "Session Progress"));
    p.advance(ms(20));
    assert_eq!(p.uac.state(tx), Some(TxState::Proceeding));
    p.advance(Duration::from_secs(10));
    let sent = p.sent_at(uac_addr(), |f| f.is_request("OPTIONS"));
    // 0, 0.5 (Trying, doubling), then after the 1xx at ~30 ms: E fires at 0.5 s -> next T2 later.
    assert_eq!(sent[..3], [ms(0), ms(500), ms(4500)]);
}

#[test]
fn no_retransmissions_over_tcp() {
    for method in [Method::Invite, Method::Options] {
        let mut p = Pair::new();
        p.filter(|_| Fate::Drop);
        let tx = p.send(request(method.clone(), Transport::Tcp, 1), Transport::Tcp);
        assert_eq!(p.uac.timer_deadline(tx, Timer::A), None);
        assert_eq!(p.uac.timer_deadline(tx, Timer::E), None);
        p.advance(Duration::from_secs(40));
        assert_eq!(p.sent_at(uac_addr(), |_| true).len(), 1, "{method}");
        let timeout = p.uac_events.iter().find_map(|(t, e)| match e {
            TxEvent::Timeout { timer, .. } => Some((*t - p.start(), *timer)),
            _ => None,
        });
        let timer = if method == Method::Invite { Timer::B } else { Timer::F };
        assert_eq!(timeout, Some((Duration::from_secs(32), timer)));
    }
}

// ---------------------------------------------------------------- INVITE flows

#[test]
fn invite_2xx_flow_auto_trying_accepted_states_and_stray_ack() {
    let mut p = Pair::new();
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    assert_eq!(p.uas.kind(stx), Some(TxKind::InviteServer));
    assert_eq!(p.uas.state(stx), Some(TxState::Proceeding));
    // The TU stays silent: the layer sends 100 Trying 200 ms after the INVITE arrived.
    p.advance(ms(300));
    let trying = p.sent_at(uas_addr(), |f| f.is_status(100));
    assert_eq!(trying, vec![ms(10 + 200)]);
    assert_eq!(p.uac.state(tx), Some(TxState::Proceeding));
    p.respond(stx, reply(&req, 180, "Ringing"));
    p.respond(stx, reply(&req, 200, "OK"));
    assert_eq!(p.uas.state(stx), Some(TxState::Accepted));
    p.advance(ms(20));
    assert_eq!(p.uac_responses(), vec![100, 180, 200]);
    assert_eq!(p.uac.state(tx), Some(TxState::Accepted));
    // An INVITE retransmission at the UAS in Accepted is absorbed: no new request, no resend.
    let sent_before = p.sent_at(uas_addr(), |_| true).len();
    let inv = p.uac.request(tx).unwrap().clone();
    p.uas
        .handle_input(p.now, Message::Request(inv), uac_addr(), Transport::Udp);
    p.drive();
    assert_eq!(p.sent_at(uas_addr(), |_| true).len(), sent_before);
    assert_eq!(p.uas_new_requests().len(), 1);
    // A retransmitted 2xx reaches the TU again (to re-ACK).
    p.respond(stx, reply(&req, 200, "OK"));
    p.advance(ms(20));
    assert_eq!(p.uac_responses(), vec![100, 180, 200, 200]);
    // The ACK for the 2xx is its own transaction: stateless from the UAC, stray at the UAS.
    let mut ack = request(Method::Ack, Transport::Udp, 1);
    ack.headers_mut()
        .set(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKack1");
    assert_eq!(
        p.uac.send_request(
            p.now,
            ack.clone(),
            Target {
                addr: uas_addr(),
                transport: Transport::Udp
            }
        ),
        Err(TxError::AckNotAllowed)
    );
    p.uac.send_stateless(
        ack,
        Target {
            addr: uas_addr(),
            transport: Transport::Udp,
        },
    );
    p.advance(ms(20));
    assert!(p.uas_events.iter().any(|(_, e)| matches!(e, TxEvent::StrayAck { .. })));
    // Timers L and M end both transactions 64*T1 after the 2xx.
    let accepted_at = p.now - ms(60);
    p.advance(Duration::from_secs(40));
    let end_uac = Pair::terminated_at(&p.uac_events, tx).unwrap();
    let end_uas = Pair::terminated_at(&p.uas_events, stx).unwrap();
    assert!(end_uac >= accepted_at + Duration::from_secs(32) && end_uac <= accepted_at + Duration::from_secs(33));
    assert!(end_uas >= accepted_at + Duration::from_secs(31) && end_uas <= accepted_at + Duration::from_secs(33));
    // After M, a 2xx retransmission is a stray response for the UA core.
    let late = reply(&req, 200, "OK");
    p.uac
        .handle_input(p.now, Message::Response(late), uas_addr(), Transport::Udp);
    assert!(matches!(p.uac.poll_event(), Some(TxEvent::StrayResponse { .. })));
    assert!(p.uac.is_empty() && p.uas.is_empty());
}

#[test]
fn no_auto_trying_when_tu_answers_within_200ms() {
    let mut p = Pair::new();
    p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.advance(ms(150));
    p.respond(stx, reply(&req, 180, "Ringing"));
    p.advance(ms(500));
    assert!(p.sent_at(uas_addr(), |f| f.is_status(100)).is_empty());
    assert_eq!(p.uas.timer_deadline(stx, Timer::Trying), None);
}

#[test]
fn non_2xx_final_is_acked_by_the_transaction_with_the_same_branch() {
    let mut p = Pair::new();
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    let branch = branch_of(p.uac.request(tx).unwrap().headers());
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    let answered = p.now;
    p.respond(stx, reply(&req, 486, "Busy Here"));
    assert_eq!(p.uas.state(stx), Some(TxState::Completed));
    p.advance(ms(20));
    assert_eq!(p.uac_responses(), vec![486]);
    assert_eq!(p.uac.state(tx), Some(TxState::Completed));
    let acks: Vec<_> = p.log.iter().filter(|(_, f)| f.is_request("ACK")).collect();
    assert_eq!(acks.len(), 1);
    let ack = Request::parse(acks[0].1.payload.clone()).unwrap();
    assert_eq!(ack.uri_str(), "sip:bot@10.0.0.2");
    assert_eq!(branch_of(ack.headers()), branch);
    assert_eq!(ack.headers().to().unwrap().tag(), Some("b2"));
    assert_eq!(ack.headers().from().unwrap().tag(), Some("a1"));
    assert_eq!(ack.headers().cseq().unwrap().to_string(), "1 ACK");
    assert_eq!(ack.headers().get_str(HeaderName::Route), Some("<sip:proxy.example;lr>"));
    assert_eq!(ack.headers().count(HeaderName::Via), 1);
    // The ACK confirms the server transaction (no TU event), which lingers T4 (timer I).
    assert_eq!(p.uas.state(stx), Some(TxState::Confirmed));
    assert!(
        !p.uas_events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::StrayAck { .. } | TxEvent::Ack { .. }))
    );
    p.advance(Duration::from_secs(40));
    // Timer I: T4 after the ACK arrived (answer + 2 hops of 10 ms).
    let end_uas = Pair::terminated_at(&p.uas_events, stx).unwrap();
    assert_eq!(end_uas - answered, ms(20) + Duration::from_secs(5));
    // Timer D: 32 s after the 486 arrived at the UAC.
    let end_uac = Pair::terminated_at(&p.uac_events, tx).unwrap();
    assert_eq!(end_uac - answered, ms(10) + Duration::from_secs(32));
    // The 486 went out once: the ACK stopped timer G.
    assert_eq!(p.sent_at(uas_addr(), |f| f.is_status(486)).len(), 1);
}

#[test]
fn timer_g_doubles_to_t2_then_timer_h() {
    let mut p = Pair::new();
    p.filter(|f| if f.is_request("ACK") { Fate::Drop } else { Fate::Deliver });
    p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    let t0 = p.now;
    p.respond(stx, reply(&req, 603, "Decline"));
    p.advance(Duration::from_secs(40));
    let sent: Vec<Duration> = p
        .log
        .iter()
        .filter(|(_, f)| f.from == uas_addr() && f.is_status(603))
        .map(|(t, _)| *t - t0)
        .collect();
    let mut expected = vec![0u64, 500, 1500, 3500, 7500];
    let mut t = 7500;
    while t + 4000 < 32_000 {
        t += 4000;
        expected.push(t);
    }
    assert_eq!(sent, expected.into_iter().map(ms).collect::<Vec<_>>());
    let h = p.uas_events.iter().find_map(|(t, e)| match e {
        TxEvent::Timeout { tx, timer, response } if *tx == stx => Some((*t - t0, *timer, response.is_none())),
        _ => None,
    });
    assert_eq!(h, Some((Duration::from_secs(32), Timer::H, true)));
    // The UAC absorbed every retransmission (one Response event) and re-sent its ACK each time.
    assert_eq!(p.uac_responses(), vec![603]);
    assert_eq!(p.log.iter().filter(|(_, f)| f.is_request("ACK")).count(), sent.len());
}

#[test]
fn reliable_transport_zero_wait_timers() {
    // INVITE non-2xx over TCP: D = 0 at the client, I = 0 at the server.
    let mut p = Pair::new();
    let tx = p.send(invite(Transport::Tcp), Transport::Tcp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    assert_eq!(
        p.uas.destination(stx),
        Some(Target {
            addr: uac_addr(),
            transport: Transport::Tcp
        })
    );
    p.respond(stx, reply(&req, 486, "Busy Here"));
    assert_eq!(p.uas.timer_deadline(stx, Timer::G), None);
    p.advance(ms(10));
    assert_eq!(p.uac.state(tx), None, "timer D is zero over TCP");
    p.advance(ms(10));
    assert_eq!(p.uas.state(stx), None, "timer I is zero over TCP");
    // Non-INVITE over TCP: K = 0 and J = 0.
    let tx = p.send(request(Method::Options, Transport::Tcp, 2), Transport::Tcp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[1].clone();
    p.respond(stx, reply(&req, 200, "OK"));
    assert_eq!(p.uas.state(stx), None, "timer J is zero over TCP");
    p.advance(ms(10));
    assert_eq!(p.uac.state(tx), None, "timer K is zero over TCP");
}

#[test]
fn udp_wait_timer_durations_k_and_j() {
    let mut p = Pair::new();
    let tx = p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    let answered = p.now;
    p.respond(stx, reply(&req, 200, "OK"));
    assert_eq!(p.uas.state(stx), Some(TxState::Completed));
    assert_eq!(
        p.uas.timer_deadline(stx, Timer::J),
        Some(answered + Duration::from_secs(32))
    );
    p.advance(ms(10));
    assert_eq!(p.uac.state(tx), Some(TxState::Completed));
    assert_eq!(p.uac.timer_deadline(tx, Timer::K), Some(p.now + Duration::from_secs(5)));
    p.advance(Duration::from_secs(40));
    assert_eq!(
        Pair::terminated_at(&p.uac_events, tx),
        Some(answered + ms(10) + Duration::from_secs(5))
    );
    assert_eq!(
        Pair::terminated_at(&p.uas_events, stx),
        Some(answered + Duration::from_secs(32))
    );
}

// ---------------------------------------------------------------- loss, duplication, reordering

#[test]
fn lost_first_invite_is_recovered_by_retransmission() {
    let mut p = Pair::new();
    let mut first = true;
    p.filter(move |f| {
        if f.is_request("INVITE") && std::mem::take(&mut first) {
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(400));
    assert!(p.uas_new_requests().is_empty());
    p.advance(ms(200));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.respond(stx, reply(&req, 200, "OK"));
    p.advance(ms(20));
    assert_eq!(p.uac_responses(), vec![200]);
    assert_eq!(p.uac.state(tx), Some(TxState::Accepted));
    // No further INVITE retransmissions after the response.
    p.advance(Duration::from_secs(5));
    assert_eq!(p.sent_at(uac_addr(), |f| f.is_request("INVITE")).len(), 2);
}

#[test]
fn server_absorbs_request_retransmissions_and_resends_last_response() {
    let mut p = Pair::new();
    let mut drops = 2;
    p.filter(move |f| {
        if f.is_status(200) && drops > 0 {
            drops -= 1;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let tx = p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.respond(stx, reply(&req, 200, "OK"));
    p.advance(Duration::from_secs(3));
    // Retransmissions at 0.5 s and 1.5 s each got the stored 200 again; the second one arrived.
    assert_eq!(p.uas_new_requests().len(), 1);
    assert_eq!(p.sent_at(uas_addr(), |f| f.is_status(200)).len(), 3);
    assert_eq!(p.uac_responses(), vec![200]);
    assert_eq!(p.uac.state(tx), Some(TxState::Completed));
}

#[test]
fn server_resends_provisional_in_proceeding_and_client_absorbs_duplicates() {
    let mut p = Pair::new();
    p.filter(|f| {
        if f.from == uas_addr() {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    });
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.respond(stx, reply(&req, 180, "Ringing"));
    // Force an INVITE retransmission to the UAS: it re-sends the 180.
    let inv = p.uac.request(tx).unwrap().clone();
    p.uas
        .handle_input(p.now, Message::Request(inv), uac_addr(), Transport::Udp);
    p.drive();
    assert_eq!(p.sent_at(uas_addr(), |f| f.is_status(180)).len(), 2);
    p.respond(stx, reply(&req, 486, "Busy Here"));
    p.advance(ms(100));
    // Duplicated 180s reach the TU (provisionals are passed up); the duplicated 486 only once.
    assert_eq!(p.uac_responses().iter().filter(|&&s| s == 486).count(), 1);
    assert_eq!(p.log.iter().filter(|(_, f)| f.is_request("ACK")).count(), 2);
}

#[test]
fn reordered_180_after_200_is_absorbed() {
    let mut p = Pair::new();
    p.filter(|f| {
        if f.is_status(180) {
            Fate::Delay(ms(100))
        } else {
            Fate::Deliver
        }
    });
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.respond(stx, reply(&req, 180, "Ringing"));
    p.respond(stx, reply(&req, 200, "OK"));
    p.advance(ms(300));
    assert_eq!(p.uac_responses(), vec![200]);
    assert_eq!(p.uac.state(tx), Some(TxState::Accepted));
}

// ---------------------------------------------------------------- CANCEL

#[test]
fn cancel_matches_the_invite_server_transaction() {
    let mut p = Pair::new();
    let tx = p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    p.respond(stx, reply(&req, 180, "Ringing"));
    p.advance(ms(10));
    let cancel = cancel_for(p.uac.request(tx).unwrap()).unwrap();
    assert_eq!(
        branch_of(cancel.headers()),
        branch_of(p.uac.request(tx).unwrap().headers())
    );
    let ctx = p.send(cancel, Transport::Udp);
    assert_ne!(ctx, tx);
    assert_eq!(p.uac.kind(ctx), Some(TxKind::NonInviteClient));
    p.advance(ms(10));
    let (cancel_tx, invite_tx, creq) = p
        .uas_events
        .iter()
        .find_map(|(_, e)| match e {
            TxEvent::Cancel {
                tx, invite_tx, request, ..
            } => Some((*tx, *invite_tx, request.clone())),
            _ => None,
        })
        .expect("CANCEL event");
    assert_eq!(invite_tx, Some(stx));
    assert_eq!(p.uas.cancel_target(cancel_tx), Some(stx));
    assert_eq!(p.uas.kind(cancel_tx), Some(TxKind::NonInviteServer));
    p.respond(cancel_tx, reply(&creq, 200, "OK"));
    p.respond(stx, reply(&req, 487, "Request Terminated"));
    p.advance(ms(50));
    assert_eq!(p.uac_responses(), vec![180, 200, 487]);
    assert_eq!(p.uas.state(stx), Some(TxState::Confirmed));
    // A CANCEL for an unknown INVITE still gets its own transaction, with no target.
    let mut stray = cancel_for(&invite(Transport::Udp)).unwrap();
    stray
        .headers_mut()
        .set(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnothere");
    p.send(stray, Transport::Udp);
    p.advance(ms(20));
    assert!(
        p.uas_events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::Cancel { invite_tx: None, .. }))
    );
}

// ---------------------------------------------------------------- RFC 2543 matching

fn legacy_request(method: &str, call_id: &str, to_tag: Option<&str>) -> Bytes {
    let to = match to_tag {
        Some(t) => format!("<sip:bot@10.0.0.2>;tag={t}"),
        None => "<sip:bot@10.0.0.2>".to_owned(),
    };
    Bytes::from(format!(
        "{method} sip:bot@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=oldstyle1\r\n\
         From: <sip:alice@10.0.0.1>;tag=a1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 7 {}\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        if method == "ACK" { "ACK" } else { method }
    ))
}

fn drain(layer: &mut TransactionLayer) -> (Vec<TxEvent>, Vec<Transmit>) {
    let mut ev = Vec::new();
    let mut tr = Vec::new();
    while let Some(e) = layer.poll_event() {
        ev.push(e);
    }
    while let Some(t) = layer.poll_transmit() {
        tr.push(t);
    }
    (ev, tr)
}

#[test]
fn rfc2543_requests_match_without_magic_cookie() {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let src = uac_addr();
    l.handle_datagram(now, legacy_request("INVITE", "old-1", None), src, Transport::Udp);
    let (ev, _) = drain(&mut l);
    let (stx, req) = match &ev[..] {
        [TxEvent::NewRequest { tx, request, .. }] => (*tx, request.clone()),
        other => panic!("{other:?}"),
    };
    // Retransmission: absorbed (no event).
    l.handle_datagram(
        now + ms(500),
        legacy_request("INVITE", "old-1", None),
        src,
        Transport::Udp,
    );
    assert!(drain(&mut l).0.is_empty());
    // Another Call-ID: a different transaction.
    l.handle_datagram(
        now + ms(600),
        legacy_request("INVITE", "old-2", None),
        src,
        Transport::Udp,
    );
    let (ev, _) = drain(&mut l);
    assert!(matches!(&ev[..], [TxEvent::NewRequest { tx, .. }] if *tx != stx));
    // CANCEL matches by the same fields.
    l.handle_datagram(
        now + ms(700),
        legacy_request("CANCEL", "old-1", None),
        src,
        Transport::Udp,
    );
    let (ev, _) = drain(&mut l);
    assert!(
        matches!(&ev[..], [TxEvent::Cancel { invite_tx: Some(t), .. }] if *t == stx),
        "{ev:?}"
    );
    // Non-2xx final: the ACK carrying our To tag confirms the transaction (absorbed).
    l.send_response(now + ms(800), stx, reply(&req, 486, "Busy Here"))
        .unwrap();
    drain(&mut l);
    // An ACK with a different To tag does not match.
    l.handle_datagram(
        now + ms(900),
        legacy_request("ACK", "old-1", Some("zz")),
        src,
        Transport::Udp,
    );
    assert!(matches!(&drain(&mut l).0[..], [TxEvent::StrayAck { .. }]));
    assert_eq!(l.state(stx), Some(TxState::Completed));
    l.handle_datagram(
        now + ms(950),
        legacy_request("ACK", "old-1", Some("b2")),
        src,
        Transport::Udp,
    );
    assert!(drain(&mut l).0.is_empty());
    assert_eq!(l.state(stx), Some(TxState::Confirmed));
}

#[test]
fn rfc2543_ack_for_2xx_goes_to_the_tu() {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let src = uac_addr();
    l.handle_datagram(now, legacy_request("INVITE", "old-3", None), src, Transport::Udp);
    let (ev, _) = drain(&mut l);
    let TxEvent::NewRequest {
        tx: stx, request: req, ..
    } = ev[0].clone()
    else {
        panic!()
    };
    l.send_response(now, stx, reply(&req, 200, "OK")).unwrap();
    drain(&mut l);
    l.handle_datagram(
        now + ms(50),
        legacy_request("ACK", "old-3", Some("b2")),
        src,
        Transport::Udp,
    );
    let (ev, _) = drain(&mut l);
    assert!(
        matches!(&ev[..], [TxEvent::Ack { invite_tx, .. }] if *invite_tx == stx),
        "{ev:?}"
    );
    assert_eq!(l.state(stx), Some(TxState::Accepted));
}

// ---------------------------------------------------------------- response routing

fn via_request(via: &str) -> Bytes {
    Bytes::from(format!(
        "OPTIONS sip:bot@10.0.0.2 SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP 172.16.0.1;branch=z9hG4bKup\r\n\
         From: <sip:alice@a.example>;tag=a1\r\nTo: <sip:bot@10.0.0.2>\r\nCall-ID: r-1\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

fn route_one(via: &str, source: &str, transport: Transport) -> (String, SocketAddr) {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    l.handle_datagram(now, via_request(via), source.parse().unwrap(), transport);
    let (ev, _) = drain(&mut l);
    let TxEvent::NewRequest { tx, request, .. } = ev[0].clone() else {
        panic!("{ev:?}")
    };
    let top = request.headers().get_str(HeaderName::Via).unwrap().to_owned();
    assert_eq!(request.headers().count(HeaderName::Via), 2);
    l.send_response(now, tx, Response::from_request(&request, 200, "OK"))
        .unwrap();
    let (_, tr) = drain(&mut l);
    let resp = Response::parse(tr[0].payload.clone()).unwrap();
    assert_eq!(
        resp.headers().get_str(HeaderName::Via).unwrap(),
        top,
        "response echoes the stamped Via"
    );
    (top, tr[0].destination)
}

#[test]
fn rport_and_received_route_responses_to_the_source() {
    // rport asked: rport= and received= filled in, response to the source ip:port.
    let (via, dest) = route_one(
        "SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK1",
        "203.0.113.5:40000",
        Transport::Udp,
    );
    assert_eq!(
        via,
        "SIP/2.0/UDP 192.168.1.10:5060;rport=40000;branch=z9hG4bK1;received=203.0.113.5"
    );
    assert_eq!(dest, "203.0.113.5:40000".parse().unwrap());
    // No rport, sent-by differs: received= added, response to source ip + sent-by port.
    let (via, dest) = route_one(
        "SIP/2.0/UDP 192.168.1.10:5070;branch=z9hG4bK2",
        "203.0.113.5:40000",
        Transport::Udp,
    );
    assert_eq!(
        via,
        "SIP/2.0/UDP 192.168.1.10:5070;branch=z9hG4bK2;received=203.0.113.5"
    );
    assert_eq!(dest, "203.0.113.5:5070".parse().unwrap());
    // Sent-by equals the source: Via untouched, default port 5060.
    let (via, dest) = route_one(
        "SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK3",
        "203.0.113.5:40000",
        Transport::Udp,
    );
    assert_eq!(via, "SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK3");
    assert_eq!(dest, "203.0.113.5:5060".parse().unwrap());
    // Reliable transport: back over the connection (the source), whatever the Via says.
    let (_, dest) = route_one(
        "SIP/2.0/TCP 192.168.1.10:5060;branch=z9hG4bK4",
        "203.0.113.5:40001",
        Transport::Tcp,
    );
    assert_eq!(dest, "203.0.113.5:40001".parse().unwrap());
    // maddr (IP literal) wins over the source.
    let (_, dest) = route_one(
        "SIP/2.0/UDP 192.168.1.10:5062;maddr=198.51.100.7;branch=z9hG4bK5",
        "203.0.113.5:40000",
        Transport::Udp,
    );
    assert_eq!(dest, "198.51.100.7:5062".parse().unwrap());
}

// ---------------------------------------------------------------- limits, errors, strays

#[test]
fn max_transactions_limit_is_enforced_on_both_sides() {
    let config = Config {
        max_transactions: 2,
        ..Config::default()
    };
    let mut p = Pair::with_config(config);
    p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.send(request(Method::Options, Transport::Udp, 2), Transport::Udp);
    let err = p.uac.send_request(
        p.now,
        request(Method::Options, Transport::Udp, 3),
        Target {
            addr: uas_addr(),
            transport: Transport::Udp,
        },
    );
    assert_eq!(err, Err(TxError::TooManyTransactions { limit: 2 }));
    // The UAS (also limited to 2) answers a third request with a stateless 503.
    p.advance(ms(20));
    let mut l = TransactionLayer::new(Config {
        max_transactions: 2,
        ..Config::default()
    });
    let now = p.now;
    for n in 0..3 {
        l.handle_datagram(
            now,
            via_request(&format!("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKm{n}")),
            uac_addr(),
            Transport::Udp,
        );
    }
    let (ev, tr) = drain(&mut l);
    assert_eq!(ev.iter().filter(|e| matches!(e, TxEvent::NewRequest { .. })).count(), 2);
    assert!(matches!(
        ev.last(),
        Some(TxEvent::Overloaded {
            method: Method::Options,
            ..
        })
    ));
    let resp = Response::parse(tr.last().unwrap().payload.clone()).unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers().get_str(HeaderName::RetryAfter), Some("5"));
    assert_eq!(l.len(), 2);
}

#[test]
fn transport_error_ends_the_transaction_with_503() {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let tx = l
        .send_request(
            now,
            invite(Transport::Tcp),
            Target {
                addr: uas_addr(),
                transport: Transport::Tcp,
            },
        )
        .unwrap();
    let t = l.poll_transmit().unwrap();
    assert_eq!(t.tx, Some(tx));
    l.handle_transport_error(now, tx);
    let (ev, _) = drain(&mut l);
    assert!(matches!(&ev[0], TxEvent::TransportError { tx: t, response: Some(r) } if *t == tx && r.status() == 503));
    assert!(matches!(&ev[1], TxEvent::Terminated { tx: t, kind: TxKind::InviteClient } if *t == tx));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn malformed_request_gets_a_stateless_400() {
    let mut l = TransactionLayer::new(Config::default());
    let bad = Bytes::from_static(
        b"OPTIONS sip:bot@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n\
          To: <sip:bot@10.0.0.2>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    l.handle_datagram(Instant::now(), bad, uac_addr(), Transport::Udp);
    let (ev, tr) = drain(&mut l);
    assert!(matches!(&ev[..], [TxEvent::Malformed { .. }]));
    assert!(
        tr[0]
            .payload
            .starts_with(b"SIP/2.0 400 Bad Request - Missing Call-ID header\r\n")
    );
    assert_eq!(tr[0].destination, uac_addr());
    assert!(l.is_empty());
}

#[test]
fn send_request_branch_handling() {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let target = Target {
        addr: uas_addr(),
        transport: Transport::Udp,
    };
    let a = l.send_request(now, invite(Transport::Udp), target).unwrap();
    let b = l.send_request(now, invite(Transport::Udp), target).unwrap();
    let (ba, bb) = (
        branch_of(l.request(a).unwrap().headers()),
        branch_of(l.request(b).unwrap().headers()),
    );
    assert!(ba.starts_with(MAGIC_COOKIE) && bb.starts_with(MAGIC_COOKIE) && ba != bb);
    // Caller-supplied branch kept; reuse refused; non-cookie refused; missing Via refused.
    let mut r = invite(Transport::Udp);
    r.headers_mut()
        .set(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKmine");
    let c = l.send_request(now, r.clone(), target).unwrap();
    assert_eq!(branch_of(l.request(c).unwrap().headers()), "z9hG4bKmine");
    assert_eq!(
        l.send_request(now, r, target),
        Err(TxError::DuplicateBranch { method: Method::Invite })
    );
    let mut r = invite(Transport::Udp);
    r.headers_mut().set(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1;branch=1234");
    assert_eq!(l.send_request(now, r, target), Err(TxError::InvalidBranch));
    let mut r = invite(Transport::Udp);
    r.headers_mut().remove(HeaderName::Via);
    assert_eq!(l.send_request(now, r, target), Err(TxError::MissingVia));
}

#[test]
fn send_response_state_checks() {
    let mut p = Pair::new();
    let tx = p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.advance(ms(10));
    let (stx, req) = p.uas_new_requests()[0].clone();
    let now = p.now;
    assert_eq!(
        p.uac.send_response(now, tx, reply(&req, 200, "OK")),
        Err(TxError::WrongKind {
            kind: TxKind::NonInviteClient
        })
    );
    assert_eq!(
        p.uas.send_response(now, stx, reply(&req, 99, "X")),
        Err(TxError::InvalidStatus {
            status: 99,
            state: TxState::Trying
        })
    );
    let mut wrong = reply(&req, 200, "OK");
    wrong.headers_mut().set(HeaderName::CSeq, "1 INVITE");
    assert!(matches!(
        p.uas.send_response(now, stx, wrong),
        Err(TxError::MethodMismatch { .. })
    ));
    p.uas.send_response(now, stx, reply(&req, 200, "OK")).unwrap();
    assert_eq!(
        p.uas.send_response(now, stx, reply(&req, 404, "Not Found")),
        Err(TxError::InvalidStatus {
            status: 404,
            state: TxState::Completed
        })
    );
    // Stale handles are detected after termination.
    p.advance(Duration::from_secs(40));
    assert_eq!(
        p.uas.send_response(p.now, stx, reply(&req, 200, "OK")),
        Err(TxError::UnknownTransaction { tx: stx })
    );
}

#[test]
fn server_guard_bounds_transactions_whose_tu_never_answers() {
    let mut p = Pair::new();
    p.send(request(Method::Options, Transport::Udp, 1), Transport::Udp);
    p.send(invite(Transport::Udp), Transport::Udp);
    p.advance(Duration::from_secs(400));
    assert!(p.uas.is_empty());
    assert!(p.uac.is_empty());
    let guards = p
        .uas_events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                TxEvent::Timeout {
                    timer: Timer::Guard,
                    ..
                }
            )
        })
        .count();
    assert_eq!(guards, 2);
    assert_eq!(p.uas.poll_timeout(), None);
}

#[test]
fn poll_timeout_tracks_the_earliest_live_deadline_across_many_transactions() {
    let mut l = TransactionLayer::new(Config::default());
    let t0 = Instant::now();
    let target = Target {
        addr: uas_addr(),
        transport: Transport::Udp,
    };
    let ids: Vec<TxId> = (0..5000)
        .map(|i| {
            l.send_request(t0 + ms(i), request(Method::Options, Transport::Udp, 1), target)
                .unwrap()
        })
        .collect();
    assert_eq!(l.poll_timeout(), Some(t0 + ms(500)));
    // Answer all: E/F are stopped, K armed 5 s after each answer. Stale heap entries are skipped.
    let now = t0 + ms(5000);
    for (i, tx) in ids.iter().enumerate() {
        let req = l.request(*tx).unwrap().clone();
        let mut resp = reply(&req, 200, "OK");
        resp.headers_mut().set(
            HeaderName::Via,
            req.headers().get_str(HeaderName::Via).unwrap().to_owned(),
        );
        l.handle_input(now + ms(i as u64), Message::Response(resp), uas_addr(), Transport::Udp);
    }
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(now + Duration::from_secs(5)));
    let mut last = now;
    while let Some(t) = l.poll_timeout() {
        assert!(t >= last);
        last = t;
        l.handle_timeout(t);
    }
    assert!(l.is_empty());
}

// ---------------------------------------------------------------- random network faults

mod faults {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        /// Whatever the network does, every transaction ends and the TU sees at most one final
        /// response per client transaction.
        #[test]
        fn call_setup_survives_loss_duplication_and_reordering(seed in any::<u64>(), loss in 0u8..60, dup in 0u8..30) {
            let mut p = Pair::new();
            let mut state = seed | 1;
            p.filter(move |_| {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                let r = (state % 100) as u8;
                if r < loss { Fate::Drop } else if r < loss + dup { Fate::Duplicate }
                else if r.is_multiple_of(3) { Fate::Delay(Duration::from_millis(state % 700)) } else { Fate::Deliver }
            });
            let tx = p.send(invite(Transport::Udp), Transport::Udp);
            p.advance(ms(50));
            for _ in 0..100 {
                if let Some((stx, req)) = p.uas_new_requests().first().cloned() {
                    let _ = p.uas.send_response(p.now, stx, reply(&req, 180, "Ringing"));
                    let _ = p.uas.send_response(p.now, stx, reply(&req, 486, "Busy Here"));
                    break;
                }
                p.advance(ms(100));
            }
            p.advance(Duration::from_secs(400));
            prop_assert!(p.uac.is_empty());
            prop_assert!(p.uas.is_empty());
            let finals = p.uac_events.iter().filter(|(_, e)| match e {
                TxEvent::Response { tx: t, response } => *t == tx && response.status() >= 200,
                TxEvent::Timeout { tx: t, .. } => *t == tx,
                _ => false,
            }).count();
            prop_assert_eq!(finals, 1);
            prop_assert!(p.uas_new_requests().len() <= 1);
        }
    }
}

#[test]
fn ack_reusing_the_invite_branch_in_accepted_goes_to_the_tu() {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let inv = |m: &str, to: &str| {
        Bytes::from(format!(
            "{m} sip:bot@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsame\r\n\
             From: <sip:alice@10.0.0.1>;tag=a1\r\nTo: <sip:bot@10.0.0.2>{to}\r\nCall-ID: acc-1\r\nCSeq: 1 {m}\r\n\
             Content-Length: 0\r\n\r\n"
        ))
    };
    l.handle_datagram(now, inv("INVITE", ""), uac_addr(), Transport::Udp);
    let (ev, _) = drain(&mut l);
    let TxEvent::NewRequest { tx, request, .. } = ev[0].clone() else {
        panic!("{ev:?}")
    };
    l.send_response(now, tx, reply(&request, 200, "OK")).unwrap();
    drain(&mut l);
    assert_eq!(l.state(tx), Some(TxState::Accepted));
    // INVITE retransmission: absorbed without resending (the UA core retransmits 2xx itself).
    l.handle_datagram(now + ms(500), inv("INVITE", ""), uac_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    // The UA core's own 2xx retransmission goes through the transaction while Accepted.
    l.send_response(now + ms(500), tx, reply(&request, 200, "OK")).unwrap();
    assert_eq!(drain(&mut l).1.len(), 1);
    l.handle_datagram(now + ms(600), inv("ACK", ";tag=b2"), uac_addr(), Transport::Udp);
    let (ev, _) = drain(&mut l);
    assert!(
        matches!(&ev[..], [TxEvent::Ack { invite_tx, .. }] if *invite_tx == tx),
        "{ev:?}"
    );
    // Timer L: 64*T1 after the 2xx.
    assert_eq!(l.timer_deadline(tx, Timer::L), Some(now + Duration::from_secs(32)));
}

#[test]
fn non_invite_retransmission_before_the_tu_answers_is_absorbed() {
    let mut l = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let req = via_request("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtry");
    l.handle_datagram(now, req.clone(), uac_addr(), Transport::Udp);
    let (ev, _) = drain(&mut l);
    let TxEvent::NewRequest { tx, .. } = ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(l.state(tx), Some(TxState::Trying));
    l.handle_datagram(now + ms(500), req, uac_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    assert_eq!(l.len(), 1);
}
