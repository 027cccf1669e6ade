//! Server transactions: INVITE (§17.2.1, RFC 6026 Accepted) and non-INVITE (§17.2.2), with
//! request matching (§17.2.3), CANCEL matching (§9.2) and response routing (§18.2.2, RFC 3581).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;

use super::key::{ServerLookup, host_is, sub_bytes};
use super::layer::{Registered, Tx, t64};
use super::timers::{Slot, Timer, timer_name};
use super::{Config, Target, TransactionLayer, TxError, TxEvent, TxId, TxKind, TxState};
use crate::header::{HeaderName, RPort, Transport, Via};
use crate::message::{Method, Request, Response};

impl TransactionLayer {
    /// Sends `response` in server transaction `tx` to the address the request's Via names
    /// (§18.2.2 with RFC 3581 rport), and drives the state machine:
    ///
    /// * INVITE: 1xx keeps Proceeding (and cancels the automatic 100 Trying); 2xx moves to
    ///   Accepted (RFC 6026; further 2xx retransmissions by the UA core may be sent through the
    ///   transaction while it is Accepted); 300–699 moves to Completed (retransmitted with timer G
    ///   over UDP until the ACK, timer H).
    /// * non-INVITE: 1xx moves to Proceeding; a final response to Completed (timer J).
    ///
    /// A second final response, a response on a client transaction, or a CSeq method that is
    /// not the transaction's is refused.
    pub fn send_response(&mut self, now: Instant, tx: TxId, response: Response) -> Result<(), TxError> {
        let t = self.get(tx).ok_or(TxError::UnknownTransaction { tx })?;
        if t.kind.is_client() {
            return Err(TxError::WrongKind { kind: t.kind });
        }
        let (kind, state, status) = (t.kind, t.state, response.status());
        if !(100..=699).contains(&status) {
            return Err(TxError::InvalidStatus { status, state });
        }
        let cseq = response.headers().cseq().map_err(TxError::Invalid)?;
        if cseq.method != t.method {
            return Err(TxError::MethodMismatch {
                expected: t.method.clone(),
                found: cseq.method,
            });
        }
        let next = match (kind, state, status) {
            (TxKind::InviteServer, TxState::Proceeding, 100..=199) => TxState::Proceeding,
            (TxKind::InviteServer, TxState::Proceeding | TxState::Accepted, 200..=299) => TxState::Accepted,
            (TxKind::InviteServer, TxState::Proceeding, _) => TxState::Completed,
            (TxKind::NonInviteServer, TxState::Trying | TxState::Proceeding, 100..=199) => TxState::Proceeding,
            (TxKind::NonInviteServer, TxState::Trying | TxState::Proceeding, _) => TxState::Completed,
            _ => return Err(TxError::InvalidStatus { status, state }),
        };
        let index = tx.index;
        let final_tag = if status >= 200 {
            response
                .headers()
                .to()
                .ok()
                .and_then(|to| to.tag().map(|tag| Bytes::copy_from_slice(tag.as_bytes())))
        } else {
            None
        };
        let wire = response.to_bytes();
        let (t1, t64) = (self.config.t1, t64(&self.config));
        let Some(t) = self.tx_mut(index) else {
            return Err(TxError::UnknownTransaction { tx });
        };
        let unreliable = Config::unreliable(t.dest.transport);
        t.wire = wire.clone();
        t.responded = true;
        t.request = None;
        if let (Some(tag), Some(legacy)) = (final_tag, t.legacy.as_mut()) {
            legacy.1 = tag;
        }
        t.state = next;
        self.transmit(index, wire);
        self.disarm(index, Timer::Trying);
        match (kind, state, next) {
            (TxKind::InviteServer, TxState::Proceeding, TxState::Accepted) => {
                self.disarm(index, Timer::Guard);
                self.arm(index, Timer::L, now + t64);
            }
            (TxKind::InviteServer, _, TxState::Completed) => {
                self.disarm(index, Timer::Guard);
                if unreliable {
                    if let Some(t) = self.tx_mut(index) {
                        t.interval = t1;
                    }
                    self.arm(index, Timer::G, now + t1);
                }
                self.arm(index, Timer::H, now + t64);
            }
            (TxKind::NonInviteServer, _, TxState::Completed) => {
                self.disarm(index, Timer::Guard);
                if unreliable {
                    self.arm(index, Timer::J, now + t64);
                } else {
                    self.terminate(index);
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        mut request: Request,
        source: SocketAddr,
        transport: Transport,
    ) {
        let method = request.method().clone();
        let is_ack = method == Method::Ack;
        let prepared = {
            let h = request.headers();
            match h.via() {
                Err(error) => Err(error),
                Ok(via) => ServerLookup::of(&request, &via, &method).and_then(|lookup| {
                    let cancel = match method {
                        Method::Cancel => Some(ServerLookup::of(&request, &via, &Method::Invite)?),
                        _ => None,
                    };
                    Ok((
                        lookup,
                        cancel,
                        response_target(&via, source, transport),
                        stamp(&via, source),
                    ))
                }),
            }
        };
        let (lookup, cancel_lookup, dest, stamped) = match prepared {
            Ok(p) => p,
            Err(error) => {
                if !is_ack && request.headers().via().is_ok() {
                    let mut resp = Response::from_request(&request, error.status_code(), error.reason_phrase());
                    let tag = self.new_tag();
                    resp.set_to_tag(&tag);
                    let dest = request.headers().via().map(|v| response_target(&v, source, transport));
                    if let Ok(dest) = dest {
                        self.send_stateless(resp, dest);
                    }
                }
                self.events.push_back(TxEvent::Malformed {
                    error,
                    source,
                    transport,
                });
                return;
            }
        };
        if let Some(index) = self.find_server(&lookup, is_ack) {
            self.server_retransmission(now, index, request, source, transport);
            return;
        }
        if is_ack {
            self.events.push_back(TxEvent::StrayAck {
                request,
                source,
                transport,
            });
            return;
        }
        if !self.has_room() {
            let mut resp = Response::from_request(&request, 503, "Service Unavailable");
            if let Some(secs) = self.config.retry_after {
                resp.headers_mut().push(HeaderName::RetryAfter, secs.to_string());
            }
            let tag = self.new_tag();
            resp.set_to_tag(&tag);
            self.send_stateless(resp, dest);
            self.events.push_back(TxEvent::Overloaded {
                method,
                source,
                transport,
            });
            return;
        }
        let cancels = cancel_lookup
            .and_then(|l| self.find_server(&l, false))
            .filter(|&i| self.tx_mut(i).is_some_and(|t| t.kind == TxKind::InviteServer))
            .map(|i| self.id_of(i));
        if let Some(value) = stamped {
            replace_top_via(&mut request, value);
        }
        let invite = method == Method::Invite;
        let (registered, legacy, lookup_key) = match lookup {
            ServerLookup::Rfc3261(k) => (Registered::Server(k.clone()), None, Ok(k)),
            ServerLookup::Rfc2543(k, check) => (
                Registered::Legacy(k.clone()),
                Some(Box::new((check, Bytes::new()))),
                Err(k),
            ),
        };
        let tx = Tx {
            kind: if invite {
                TxKind::InviteServer
            } else {
                TxKind::NonInviteServer
            },
            state: if invite { TxState::Proceeding } else { TxState::Trying },
            method: method.clone(),
            timers: Default::default(),
            interval: self.config.t1,
            dest,
            request: (invite && self.config.trying_delay.is_some()).then(|| request.clone()),
            wire: Bytes::new(),
            ack: None,
            responded: false,
            registered,
            legacy,
            cancels,
        };
        let index = self.insert(tx);
        match lookup_key {
            Ok(k) => {
                self.server_map.insert(k, index);
            }
            Err(k) => {
                self.legacy_map.insert(k, index);
            }
        }
        if invite {
            if let Some(delay) = self.config.trying_delay {
                self.arm(index, Timer::Trying, now + delay);
            }
            self.arm(index, Timer::Guard, now + self.config.invite_guard);
        } else {
            self.arm(index, Timer::Guard, now + t64(&self.config));
        }
        let tx = self.id_of(index);
        self.events.push_back(match method {
            Method::Cancel => TxEvent::Cancel {
                tx,
                invite_tx: cancels,
                request,
                source,
                transport,
            },
            _ => TxEvent::NewRequest {
                tx,
                request,
                source,
                transport,
            },
        });
    }

    fn find_server(&self, lookup: &ServerLookup, is_ack: bool) -> Option<u32> {
        match lookup {
            ServerLookup::Rfc3261(k) => self.server_map.get(k).copied(),
            ServerLookup::Rfc2543(k, check) => {
                let index = *self.legacy_map.get(k)?;
                let id = self.id_of(index);
                let (orig, resp_tag) = &**self.get(id)?.legacy.as_ref()?;
                let to_ok = if is_ack && !resp_tag.is_empty() {
                    check.to_tag == *resp_tag
                } else {
                    check.to_tag == orig.to_tag
                };
                (to_ok && check.uri == orig.uri && check.via == orig.via).then_some(index)
            }
        }
    }

    fn server_retransmission(
        &mut self,
        now: Instant,
        index: u32,
        request: Request,
        source: SocketAddr,
        transport: Transport,
    ) {
        let invite_tx = self.id_of(index);
        let t4 = self.config.t4;
        let Some(t) = self.tx_mut(index) else { return };
        if request.method() == &Method::Ack {
            match t.state {
                TxState::Completed if t.kind == TxKind::InviteServer => {
                    t.state = TxState::Confirmed;
                    let unreliable = Config::unreliable(t.dest.transport);
                    self.disarm(index, Timer::G);
                    self.disarm(index, Timer::H);
                    if unreliable {
                        self.arm(index, Timer::I, now + t4);
                    } else {
                        self.terminate(index);
                    }
                }
                TxState::Accepted => {
                    self.events.push_back(TxEvent::Ack {
                        invite_tx,
                        request,
                        source,
                        transport,
                    });
                }
                _ => {}
            }
            return;
        }
        if matches!(t.state, TxState::Proceeding | TxState::Completed) && t.responded {
            let wire = t.wire.clone();
            self.transmit(index, wire);
        }
    }

    pub(super) fn server_timer(&mut self, now: Instant, index: u32, slot: Slot) {
        let id = self.id_of(index);
        let t2 = self.config.t2;
        let Some(t) = self.tx_mut(index) else { return };
        let Some(timer) = timer_name(t.kind, t.state, slot) else {
            return;
        };
        match slot {
            Slot::Retransmit => {
                if t.state != TxState::Completed {
                    return;
                }
                t.interval = t.interval.saturating_mul(2).min(t2);
                let (wire, interval) = (t.wire.clone(), t.interval);
                self.transmit(index, wire);
                self.arm(index, timer, now + interval);
            }
            Slot::Timeout | Slot::Guard => {
                self.events.push_back(TxEvent::Timeout {
                    tx: id,
                    timer,
                    response: None,
                });
                self.terminate(index);
            }
            Slot::Linger => self.terminate(index),
            Slot::Trying => {
                if t.kind != TxKind::InviteServer || t.state != TxState::Proceeding || t.responded {
                    return;
                }
                let Some(req) = t.request.take() else { return };
                let wire = Response::from_request(&req, 100, "Trying").to_bytes();
                t.wire = wire.clone();
                t.responded = true;
                self.transmit(index, wire);
            }
        }
    }
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581): the connection it came on for
/// reliable transports; else `maddr` (when an IP literal); else the source address and port when
/// `rport` was asked for; else the source address with the sent-by port (default 5060).
pub(super) fn response_target(via: &Via<'_>, source: SocketAddr, transport: Transport) -> Target {
    if transport.is_reliable() {
        return Target {
            addr: source,
            transport,
        };
    }
    let port = via.port.unwrap_or(5060);
    if let Some(ip) = via.maddr().and_then(|m| m.parse::<IpAddr>().ok()) {
        return Target {
            addr: SocketAddr::new(ip, port),
            transport,
        };
    }
    if via.rport().is_some() {
        return Target {
            addr: source,
            transport,
        };
    }
    Target {
        addr: SocketAddr::new(source.ip(), port),
        transport,
    }
}

/// The top Via with `received=` (sent-by differs from the source, or rport asked) and
/// `rport=<port>` (rport asked) added, or `None` if nothing is to be added.
pub(super) fn stamp(via: &Via<'_>, source: SocketAddr) -> Option<String> {
    let rport = via.rport() == Some(RPort::Requested);
    let received = rport || !host_is(via.host, source.ip());
    if !received {
        return None;
    }
    let mut s = String::with_capacity(via.host.len() + via.params.as_str().len() + 64);
    let _ = write!(
        s,
        "{}/{}/{} {}",
        via.protocol_name, via.protocol_version, via.transport_str, via.host
    );
    if let Some(p) = via.port {
        let _ = write!(s, ":{p}");
    }
    for (name, value) in via.params.iter() {
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        if rport && name.eq_ignore_ascii_case("rport") {
            let _ = write!(s, ";rport={}", source.port());
            continue;
        }
        s.push(';');
        s.push_str(name);
        if let Some(v) = value {
            s.push('=');
            s.push_str(v);
        }
    }
    let _ = write!(s, ";received={}", source.ip());
    Some(s)
}

/// Replaces the first element of the first Via field with `value`, keeping any further elements
/// of that field (`Via: a, b`).
fn replace_top_via(request: &mut Request, value: String) {
    let h = request.headers();
    let Some(pos) = h.iter().position(|f| f.name == HeaderName::Via) else {
        return;
    };
    let whole = h.get_bytes(HeaderName::Via).unwrap_or_default();
    let first = h.list(HeaderName::Via).next().and_then(Result::ok).unwrap_or("");
    let part = sub_bytes(&whole, first);
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    let new = if start <= whole.len() && part.len() <= whole.len() - start && !first.is_empty() {
        let mut v = Vec::with_capacity(whole.len() + value.len());
        v.extend_from_slice(&whole[..start]);
        v.extend_from_slice(value.as_bytes());
        v.extend_from_slice(&whole[start + part.len()..]);
        Bytes::from(v)
    } else {
        Bytes::from(value)
    };
    let hm = request.headers_mut();
    hm.remove_at(pos);
    hm.insert(pos, HeaderName::Via, new);
}
