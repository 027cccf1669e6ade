//! The transaction layer: transaction table, matching, timers and the poll interface.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::key::{ClientKey, LegacyCheck, LegacyKey, ServerKey, mix};
use super::timers::{DeadlineHeap, Entry, Slot, Timer, TimerTable};
use super::{Config, Target, Transmit, TxEvent, TxId, TxKind, TxState};
use crate::message::{Message, Method, Request, error_response};

/// Where a transaction is registered, so it can be unregistered when it ends.
#[derive(Debug)]
pub(super) enum Registered {
    Client(ClientKey),
    Server(ServerKey),
    Legacy(LegacyKey),
}

/// One transaction's state.
#[derive(Debug)]
pub(super) struct Tx {
    pub(super) kind: TxKind,
    pub(super) state: TxState,
    pub(super) method: Method,
    pub(super) timers: TimerTable,
    /// Current retransmit interval (A/E/G).
    pub(super) interval: Duration,
    /// Client: where the request goes. Server: where responses go (§18.2.2, RFC 3581).
    pub(super) dest: Target,
    /// Client: the request as sent. Server INVITE: the request, until the first response
    /// (source of the automatic 100 Trying).
    pub(super) request: Option<Request>,
    /// Client: the encoded request (retransmissions). Server: the last response sent.
    pub(super) wire: Bytes,
    /// INVITE client: the ACK for a non-2xx final response.
    pub(super) ack: Option<Bytes>,
    /// Server: whether any response was sent.
    pub(super) responded: bool,
    pub(super) registered: Registered,
    /// RFC 2543 server transactions: the fields checked after a key hit, and the To tag of our
    /// final response (which the ACK carries).
    pub(super) legacy: Option<Box<(LegacyCheck, Bytes)>>,
    /// CANCEL server transactions: the INVITE server transaction targeted.
    pub(super) cancels: Option<TxId>,
}

#[derive(Debug)]
struct SlabSlot {
    generation: u32,
    tx: Option<Tx>,
}

/// The sans-IO RFC 3261 transaction layer (one per shard). See the [module docs](super).
#[derive(Debug)]
pub struct TransactionLayer {
    pub(super) config: Config,
    slots: Vec<SlabSlot>,
    free: Vec<u32>,
    live: usize,
    pub(super) client_map: HashMap<ClientKey, u32>,
    pub(super) server_map: HashMap<ServerKey, u32>,
    pub(super) legacy_map: HashMap<LegacyKey, u32>,
    heap: DeadlineHeap,
    armed: usize,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<TxEvent>,
    counter: u64,
}

impl TransactionLayer {
    /// A layer with no transactions.
    pub fn new(config: Config) -> Self {
        TransactionLayer {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            client_map: HashMap::new(),
            server_map: HashMap::new(),
            legacy_map: HashMap::new(),
            heap: DeadlineHeap::default(),
            armed: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counter: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The state of a live transaction (`None` once it has terminated).
    pub fn state(&self, tx: TxId) -> Option<TxState> {
        self.get(tx).map(|t| t.state)
    }

    /// The kind of a live transaction.
    pub fn kind(&self, tx: TxId) -> Option<TxKind> {
        self.get(tx).map(|t| t.kind)
    }

    /// The request of a live client transaction (as sent, with its branch).
    pub fn request(&self, tx: TxId) -> Option<&Request> {
        self.get(tx)
            .filter(|t| t.kind.is_client())
            .and_then(|t| t.request.as_ref())
    }

    /// Where a live transaction sends: a client's target, or where a server transaction sends
    /// its responses (RFC 3261 §18.2.2 with RFC 3581 rport).
    pub fn destination(&self, tx: TxId) -> Option<Target> {
        self.get(tx).map(|t| t.dest)
    }

    /// For a CANCEL server transaction: the INVITE server transaction it cancels.
    pub fn cancel_target(&self, cancel_tx: TxId) -> Option<TxId> {
        self.get(cancel_tx).and_then(|t| t.cancels)
    }

    /// The deadline a transaction's timer is armed for (for tests and diagnostics).
    pub fn timer_deadline(&self, tx: TxId, timer: Timer) -> Option<Instant> {
        let t = self.get(tx)?;
        (super::timers::timer_name(t.kind, t.state, timer.slot()) == Some(timer))
            .then(|| t.timers.get(timer.slot()))
            .flatten()
    }

    /// Parses a datagram (or stream frame) and handles it. Unparsable requests get a stateless
    /// 4xx/5xx (from [`crate::message::error_response`]) and a [`TxEvent::Malformed`].
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        datagram: impl Into<Bytes>,
        source: SocketAddr,
        transport: crate::header::Transport,
    ) {
        let datagram: Bytes = datagram.into();
        match Message::parse_with(datagram.clone(), &self.config.limits) {
            Ok(msg) => self.handle_input(now, msg, source, transport),
            Err(error) => {
                let tag = self.new_tag();
                if let Some(resp) = error_response(&datagram, &error, &tag) {
                    self.send_stateless(
                        resp,
                        Target {
                            addr: source,
                            transport,
                        },
                    );
                }
                self.events.push_back(TxEvent::Malformed {
                    error,
                    source,
                    transport,
                });
            }
        }
    }

    /// Handles a parsed message from the network.
    pub fn handle_input(
        &mut self,
        now: Instant,
        msg: Message,
        source: SocketAddr,
        transport: crate::header::Transport,
    ) {
        match msg {
            Message::Request(req) => self.handle_request(now, req, source, transport),
            Message::Response(resp) => self.handle_response(now, resp, source, transport),
        }
    }

    /// Sends a message outside any transaction (the ACK for a 2xx, a stateless response, a 2xx
    /// retransmission by the UA core after the transaction ended).
    pub fn send_stateless(&mut self, msg: impl Into<Message>, target: Target) {
        let payload = match msg.into() {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        };
        self.transmits.push_back(Transmit {
            destination: target.addr,
            transport: target.transport,
            payload,
            tx: None,
        });
    }

    /// Reports that a [`Transmit`] of `tx` could not be sent (ICMP error, connection refused or
    /// reset). The transaction emits [`TxEvent::TransportError`] and ends (RFC 3261 §17.1.4,
    /// §17.2.4). Stale handles are ignored.
    pub fn handle_transport_error(&mut self, _now: Instant, tx: TxId) {
        let Some(t) = self.get(tx) else { return };
        let response = match (&t.request, t.kind.is_client()) {
            (Some(req), true) => Some(super::transport_error_response(req)),
            _ => None,
        };
        self.events.push_back(TxEvent::TransportError { tx, response });
        self.terminate(tx.index);
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(e) = self.heap.peek().copied() {
            if e.at > now {
                break;
            }
            self.heap.pop();
            let Some(slot) = Slot::from_index(e.slot) else { continue };
            if !self.entry_live(&e) {
                continue;
            }
            if let Some(t) = self.slots[e.index as usize].tx.as_mut() {
                t.timers.stop(slot);
                self.armed -= 1;
            }
            self.fire(now, e.index, slot);
        }
        self.compact();
    }

    /// The next transmit to perform.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// The earliest armed deadline: call [`TransactionLayer::handle_timeout`] then.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(e) = self.heap.peek().copied() {
            if self.entry_live(&e) {
                return Some(e.at);
            }
            self.heap.pop();
        }
        None
    }

    // ---- internals shared by client.rs and server.rs ----

    pub(super) fn get(&self, tx: TxId) -> Option<&Tx> {
        let s = self.slots.get(tx.index as usize)?;
        if s.generation != tx.generation {
            return None;
        }
        s.tx.as_ref()
    }

    pub(super) fn tx_mut(&mut self, index: u32) -> Option<&mut Tx> {
        self.slots.get_mut(index as usize).and_then(|s| s.tx.as_mut())
    }

    pub(super) fn id_of(&self, index: u32) -> TxId {
        TxId {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    /// Whether another transaction may be created.
    pub(super) fn has_room(&self) -> bool {
        self.live < self.config.max_transactions
    }

    pub(super) fn insert(&mut self, tx: Tx) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].tx = Some(tx);
                i
            }
            None => {
                self.slots.push(SlabSlot {
                    generation: 0,
                    tx: Some(tx),
                });
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Removes a transaction: unregisters its key, forgets its timers, emits `Terminated`.
    pub(super) fn terminate(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(mut t) = slot.tx.take() else { return };
        let id = TxId {
            index,
            generation: slot.generation,
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.live -= 1;
        self.armed -= t.timers.armed();
        match &t.registered {
            Registered::Client(k) => {
                if self.client_map.get(k) == Some(&index) {
                    self.client_map.remove(k);
                }
            }
            Registered::Server(k) => {
                if self.server_map.get(k) == Some(&index) {
                    self.server_map.remove(k);
                }
            }
            Registered::Legacy(k) => {
                if self.legacy_map.get(k) == Some(&index) {
                    self.legacy_map.remove(k);
                }
            }
        }
        t.state = TxState::Terminated;
        self.events.push_back(TxEvent::Terminated { tx: id, kind: t.kind });
    }

    /// Arms `timer` of transaction `index` to fire at `at`.
    pub(super) fn arm(&mut self, index: u32, timer: Timer, at: Instant) {
        let slot = timer.slot();
        let Some(s) = self.slots.get_mut(index as usize) else {
            return;
        };
        let generation = s.generation;
        let Some(t) = s.tx.as_mut() else { return };
        if t.timers.set(slot, at) {
            self.armed += 1;
        }
        self.heap.push(Entry {
            at,
            index,
            generation,
            slot: slot as u8,
        });
    }

    /// Stops `timer` of transaction `index`.
    pub(super) fn disarm(&mut self, index: u32, timer: Timer) {
        if let Some(t) = self.tx_mut(index)
            && t.timers.stop(timer.slot())
        {
            self.armed -= 1;
        }
    }

    pub(super) fn transmit(&mut self, index: u32, payload: Bytes) {
        let tx = self.id_of(index);
        let Some(t) = self.slots[index as usize].tx.as_ref() else {
            return;
        };
        self.transmits.push_back(Transmit {
            destination: t.dest.addr,
            transport: t.dest.transport,
            payload,
            tx: Some(tx),
        });
    }

    /// A fresh branch: magic cookie + 64 bits mixed from the seed and a counter.
    pub(super) fn new_branch(&mut self) -> String {
        self.counter += 1;
        format!(
            "{}{:016x}",
            super::MAGIC_COOKIE,
            mix(self.config.branch_seed ^ mix(self.counter))
        )
    }

    /// A fresh tag (for stateless error responses).
    pub(super) fn new_tag(&mut self) -> String {
        self.counter += 1;
        format!(
            "{:08x}",
            mix(self.config.branch_seed.rotate_left(17) ^ self.counter) as u32
        )
    }

    fn entry_live(&self, e: &Entry) -> bool {
        let Some(slot) = Slot::from_index(e.slot) else {
            return false;
        };
        match self.slots.get(e.index as usize) {
            Some(s) if s.generation == e.generation => s.tx.as_ref().is_some_and(|t| t.timers.get(slot) == Some(e.at)),
            _ => false,
        }
    }

    /// Drops stale heap entries when they outnumber armed timers (keeps memory proportional to
    /// live timers even when timers are stopped early, e.g. B when a response arrives).
    fn compact(&mut self) {
        if self.heap.len() > 2 * self.armed + 1024 {
            let slots = &self.slots;
            self.heap.retain(|e| {
                let Some(slot) = Slot::from_index(e.slot) else {
                    return false;
                };
                slots.get(e.index as usize).is_some_and(|s| {
                    s.generation == e.generation && s.tx.as_ref().is_some_and(|t| t.timers.get(slot) == Some(e.at))
                })
            });
        }
    }

    fn fire(&mut self, now: Instant, index: u32, slot: Slot) {
        let Some(t) = self.slots[index as usize].tx.as_ref() else {
            return;
        };
        let kind = t.kind;
        if kind.is_client() {
            self.client_timer(now, index, slot);
        } else {
            self.server_timer(now, index, slot);
        }
    }
}

/// 64·T1.
pub(super) fn t64(c: &Config) -> Duration {
    c.t1.saturating_mul(64)
}

impl Config {
    /// Whether `t` is an unreliable transport (retransmission timers run).
    pub(super) fn unreliable(t: crate::header::Transport) -> bool {
        !t.is_reliable()
    }
}
