//! Client transactions: INVITE (§17.1.1, RFC 6026 Accepted) and non-INVITE (§17.1.2).

use std::net::SocketAddr;
use std::time::Instant;

use super::key::ClientKey;
use super::layer::{Registered, Tx, t64};
use super::timers::{Slot, Timer, timer_name};
use super::{Config, MAGIC_COOKIE, Target, TransactionLayer, TxError, TxEvent, TxId, TxKind, TxState};
use crate::error::ParseError;
use crate::header::{HeaderName, HeaderValue, Transport};
use crate::message::{Method, Request, Response};

impl TransactionLayer {
    /// Starts a client transaction for `request` and transmits it to `target`.
    ///
    /// The request must carry a top Via (the TU writes the sent-by); if the Via has no `branch`
    /// the layer adds a fresh `z9hG4bK…` one, and a branch supplied by the caller must start with
    /// the magic cookie. ACK is refused ([`TxError::AckNotAllowed`]): the transaction sends the
    /// ACK for non-2xx itself, the TU sends the ACK for 2xx with
    /// [`TransactionLayer::send_stateless`]. A CANCEL (see [`super::cancel_for`]) is a client
    /// transaction of its own, sharing the INVITE's branch.
    pub fn send_request(&mut self, now: Instant, mut request: Request, target: Target) -> Result<TxId, TxError> {
        let method = request.method().clone();
        if method == Method::Ack {
            return Err(TxError::AckNotAllowed);
        }
        if !self.has_room() {
            return Err(TxError::TooManyTransactions {
                limit: self.config.max_transactions,
            });
        }
        let cseq = request.headers().cseq().map_err(TxError::Invalid)?;
        if cseq.method != method {
            return Err(TxError::Invalid(ParseError::CSeqMethodMismatch));
        }
        self.ensure_branch(&mut request)?;
        let key = match ClientKey::of(request.headers()) {
            Ok(Some(k)) => k,
            Ok(None) => return Err(TxError::InvalidBranch),
            Err(e) => return Err(TxError::Invalid(e)),
        };
        if self.client_map.contains_key(&key) {
            return Err(TxError::DuplicateBranch { method });
        }
        let wire = request.to_bytes();
        let invite = method == Method::Invite;
        let tx = Tx {
            kind: if invite {
                TxKind::InviteClient
            } else {
                TxKind::NonInviteClient
            },
            state: if invite { TxState::Calling } else { TxState::Trying },
            method,
            timers: Default::default(),
            interval: self.config.t1,
            dest: target,
            request: Some(request),
            wire: wire.clone(),
            ack: None,
            responded: false,
            registered: Registered::Client(key.clone()),
            legacy: None,
            cancels: None,
        };
        let index = self.insert(tx);
        self.client_map.insert(key, index);
        self.transmit(index, wire);
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if Config::unreliable(target.transport) {
            self.arm(index, retransmit, now + self.config.t1);
        }
        self.arm(index, timeout, now + t64(&self.config));
        Ok(self.id_of(index))
    }

    /// Adds a branch to the top Via when it has none; checks a supplied one.
    fn ensure_branch(&mut self, request: &mut Request) -> Result<(), TxError> {
        let h = request.headers();
        let Some(pos) = h.iter().position(|f| f.name == HeaderName::Via) else {
            return Err(TxError::MissingVia);
        };
        let via = h.via().map_err(TxError::Invalid)?;
        match via.branch() {
            Some(b) if b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE) => return Ok(()),
            Some(_) => return Err(TxError::InvalidBranch),
            None => {}
        }
        let field = h.at(pos).and_then(|f| f.value_str()).ok_or(TxError::MissingVia)?;
        let first = h
            .list(HeaderName::Via)
            .next()
            .and_then(Result::ok)
            .ok_or(TxError::MissingVia)?;
        let start = (first.as_ptr() as usize).wrapping_sub(field.as_ptr() as usize);
        let start = if start <= field.len() && first.len() <= field.len() - start {
            start
        } else {
            0
        };
        let end = (start + first.len()).min(field.len());
        let branch = self.new_branch();
        let value = format!(
            "{}{};branch={}{}",
            &field[..start],
            &field[start..end],
            branch,
            &field[end..]
        );
        let hm = request.headers_mut();
        hm.remove_at(pos);
        hm.insert(pos, HeaderName::Via, value);
        Ok(())
    }

    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        source: SocketAddr,
        transport: Transport,
    ) {
        let key = match ClientKey::of(response.headers()) {
            Ok(Some(k)) => k,
            Ok(None) => {
                self.events.push_back(TxEvent::StrayResponse {
                    response,
                    source,
                    transport,
                });
                return;
            }
            Err(error) => {
                self.events.push_back(TxEvent::Malformed {
                    error,
                    source,
                    transport,
                });
                return;
            }
        };
        let status = response.status();
        if !(100..=699).contains(&status) {
            self.events.push_back(TxEvent::Malformed {
                error: ParseError::MalformedStatusLine,
                source,
                transport,
            });
            return;
        }
        let Some(&index) = self.client_map.get(&key) else {
            self.events.push_back(TxEvent::StrayResponse {
                response,
                source,
                transport,
            });
            return;
        };
        let id = self.id_of(index);
        let Some(t) = self.tx_mut(index) else { return };
        let (kind, state) = (t.kind, t.state);
        let unreliable = Config::unreliable(t.dest.transport);
        match (kind, state, status) {
            (TxKind::InviteClient, TxState::Calling | TxState::Proceeding, 100..=199) => {
                if state == TxState::Calling {
                    t.state = TxState::Proceeding;
                    self.disarm(index, Timer::A);
                    self.disarm(index, Timer::B);
                    self.arm(index, Timer::Guard, now + self.config.invite_guard);
                }
                self.events.push_back(TxEvent::Response { tx: id, response });
            }
            (TxKind::InviteClient, TxState::Calling | TxState::Proceeding, 200..=299) => {
                t.state = TxState::Accepted;
                self.disarm(index, Timer::A);
                self.disarm(index, Timer::B);
                self.disarm(index, Timer::Guard);
                self.arm(index, Timer::M, now + t64(&self.config));
                self.events.push_back(TxEvent::Response { tx: id, response });
            }
            (TxKind::InviteClient, TxState::Calling | TxState::Proceeding, _) => {
                let ack = t
                    .request
                    .as_ref()
                    .and_then(|req| ack_for(req, &response))
                    .map(|a| a.to_bytes());
                t.ack = ack.clone();
                t.state = TxState::Completed;
                self.disarm(index, Timer::A);
                self.disarm(index, Timer::B);
                self.disarm(index, Timer::Guard);
                if let Some(ack) = ack {
                    self.transmit(index, ack);
                }
                self.events.push_back(TxEvent::Response { tx: id, response });
                if unreliable {
                    self.arm(index, Timer::D, now + self.config.timer_d);
                } else {
                    self.terminate(index);
                }
            }
            (TxKind::InviteClient, TxState::Accepted, 200..=299) => {
                self.events.push_back(TxEvent::Response { tx: id, response });
            }
            (TxKind::InviteClient, TxState::Completed, 300..) => {
                if let Some(ack) = t.ack.clone() {
                    self.transmit(index, ack);
                }
            }
            (TxKind::NonInviteClient, TxState::Trying | TxState::Proceeding, 100..=199) => {
                t.state = TxState::Proceeding;
                self.events.push_back(TxEvent::Response { tx: id, response });
            }
            (TxKind::NonInviteClient, TxState::Trying | TxState::Proceeding, _) => {
                t.state = TxState::Completed;
                self.disarm(index, Timer::E);
                self.disarm(index, Timer::F);
                self.events.push_back(TxEvent::Response { tx: id, response });
                if unreliable {
                    self.arm(index, Timer::K, now + self.config.t4);
                } else {
                    self.terminate(index);
                }
            }
            // Retransmissions and late provisionals: absorbed.
            _ => {}
        }
    }

    pub(super) fn client_timer(&mut self, now: Instant, index: u32, slot: Slot) {
        let id = self.id_of(index);
        let t2 = self.config.t2;
        let Some(t) = self.tx_mut(index) else { return };
        let Some(timer) = timer_name(t.kind, t.state, slot) else {
            return;
        };
        match slot {
            Slot::Retransmit => {
                let active = matches!(t.state, TxState::Calling | TxState::Trying | TxState::Proceeding);
                if !active || (t.kind == TxKind::InviteClient && t.state != TxState::Calling) {
                    return;
                }
                t.interval = match (t.kind, t.state) {
                    (TxKind::InviteClient, _) => t.interval.saturating_mul(2),
                    (_, TxState::Proceeding) => t2,
                    _ => t.interval.saturating_mul(2).min(t2),
                };
                let (wire, interval) = (t.wire.clone(), t.interval);
                self.transmit(index, wire);
                self.arm(index, timer, now + interval);
            }
            Slot::Timeout | Slot::Guard => {
                let response = t.request.as_ref().map(super::timeout_response);
                self.events.push_back(TxEvent::Timeout {
                    tx: id,
                    timer,
                    response,
                });
                self.terminate(index);
            }
            Slot::Linger => self.terminate(index),
            Slot::Trying => {}
        }
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From, CSeq
/// number and Route of the INVITE, its top Via (same branch), To of the response.
pub(super) fn ack_for(invite: &Request, response: &Response) -> Option<Request> {
    let h = invite.headers();
    let cseq = h.cseq().ok()?;
    let via = h.list(HeaderName::Via).next()?.ok()?;
    let mut ack = Request::new(Method::Ack, invite.uri_str()).ok()?;
    let a = ack.headers_mut();
    a.push(HeaderName::Via, HeaderValue::copy_from(via));
    a.push(HeaderName::MaxForwards, "70");
    a.copy_from(h, HeaderName::From);
    a.copy_from(response.headers(), HeaderName::To);
    a.copy_from(h, HeaderName::CallId);
    a.push(HeaderName::CSeq, format!("{} ACK", cseq.seq));
    a.copy_from(h, HeaderName::Route);
    ack.set_body(None, "");
    Some(ack)
}
