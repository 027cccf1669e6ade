//! The user-agent core (RFC 3261 §8, §12–§15) on top of the [`TransactionLayer`]: calls in both
//! directions, 2xx retransmission and ACK, CANCEL, re-INVITE/UPDATE with 491 glare, BYE,
//! OPTIONS, INFO (dtmf-relay), REFER as transferor with NOTIFY progress, PRACK for reliable
//! provisional responses (RFC 3262, as UAC), session timers (RFC 4028), digest auth as a client
//! and inbound admission (IP ACL, trunk credentials, application hook).
//!
//! Sans-IO like the transaction layer: feed datagrams with [`UserAgent::handle_datagram`],
//! call [`UserAgent::handle_timeout`] at [`UserAgent::poll_timeout`], drain
//! [`UserAgent::poll_transmit`] and [`UserAgent::poll_event`] after every call.
//!
//! Bodies (SDP) are opaque bytes here: the dataplane owns offer/answer.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::outcome::OutboundOutcome;
use super::state::Dialog;
use crate::auth::{ChallengeKind, DigestClient, DigestServer, IpAcl, NonceCounts, StoredCredential};
use crate::header::{HeaderName, Headers, Refresher, Transport};
use crate::message::{Method, Request, Response};
use crate::transaction::{self, Target, TransactionLayer, Transmit, TxError, TxEvent, TxId};
use crate::uri::UriError;

/// Methods we answer (Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY";
/// Extensions we support (Supported).
pub const SUPPORTED: &str = "100rel, timer, replaces, norefersub";
/// Bodies we accept (Accept).
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, message/sipfrag";

/// Handle of one call (one INVITE dialog, in either direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// What to do with an inbound INVITE before the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Let it through.
    Allow,
    /// Require digest credentials ([`UaConfig::inbound_auth`]) first.
    Challenge,
    /// Refuse with this status (normally 403).
    Reject(u16),
}

/// Decision point run for every new inbound INVITE (after the IP ACL): source address and request.
pub type AdmissionHook = Box<dyn FnMut(&Request, SocketAddr) -> Admission + Send>;

/// Inbound trunk credentials (digest server side).
#[derive(Debug, Clone)]
pub struct InboundAuth {
    /// Nonce issuer and verifier for our realm.
    pub server: DigestServer,
    /// User name → stored HA1s.
    pub users: HashMap<String, StoredCredential>,
}

/// User-agent settings.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Address written into Via sent-by and Contact (the socket address peers reach us on).
    pub local_addr: SocketAddr,
    /// Transport we send over.
    pub transport: Transport,
    /// User part of our Contact.
    pub contact_user: String,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// Transaction layer settings (T1, T2, …).
    pub transaction: transaction::Config,
    /// Seed for tags, Call-IDs, branches and cnonces (give each UA a random one).
    pub seed: u64,
    /// Session-Expires we ask for on outbound calls (RFC 4028), `None` to not ask.
    pub session_expires: Option<u32>,
    /// Smallest session interval we accept (Min-SE, ≥ 90).
    pub min_se: u32,
    /// Inbound IP ACL; a denied source gets 403.
    pub acl: Option<IpAcl>,
    /// Inbound trunk credentials; when set, inbound INVITEs are challenged (401) by default.
    pub inbound_auth: Option<InboundAuth>,
    /// Seconds since the Unix epoch at the first `now` passed in (for digest nonces).
    pub epoch_secs: u64,
    /// As UAS, send 180/183 reliably (RFC 3262: `Require: 100rel`, RSeq, retransmitted until
    /// PRACK) when the INVITE supports or requires 100rel. Always on when it requires it.
    pub reliable_provisional: bool,
}

impl UaConfig {
    /// Defaults for a UA reachable at `local_addr` over UDP.
    pub fn new(local_addr: SocketAddr) -> UaConfig {
        UaConfig {
            local_addr,
            transport: Transport::Udp,
            contact_user: "cxb".to_owned(),
            user_agent: "cxb".to_owned(),
            transaction: transaction::Config::default(),
            seed: 0x9e37_79b9_7f4a_7c15,
            session_expires: None,
            min_se: 90,
            acl: None,
            inbound_auth: None,
            epoch_secs: 0,
            reliable_provisional: false,
        }
    }
}

/// An outbound call to place.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// Request-URI, e.g. `sip:+15551234@trunk.example.com`.
    pub request_uri: String,
    /// From value without tag, e.g. `"Bot" <sip:+15550000@cxb.example.com>`.
    pub from: String,
    /// To value, e.g. `<sip:+15551234@trunk.example.com>`.
    pub to: String,
    /// Where to send (trunk / proxy address).
    pub destination: SocketAddr,
    /// SDP offer; `None` = late offer (the answer goes in the ACK, see [`UserAgent::ack`]).
    pub offer: Option<Bytes>,
    /// Extra header fields (name, value), e.g. P-Asserted-Identity.
    pub extra_headers: Vec<(String, String)>,
    /// Digest credentials (user, password) for 401/407 challenges.
    pub credentials: Option<(String, String)>,
    /// Call-ID to use (a dataplane mints it so it hashes to the owning shard); `None` = minted here.
    pub call_id: Option<String>,
}

/// Transfer progress as reported by the transferee (REFER / NOTIFY, RFC 3515).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferProgress {
    /// 202 Accepted to our REFER.
    Accepted,
    /// A provisional sipfrag (`SIP/2.0 100 Trying`, `180 Ringing`).
    Trying(u16),
    /// A 2xx sipfrag: the transfer target answered.
    Succeeded(u16),
    /// REFER refused, or a final non-2xx sipfrag.
    Failed(u16),
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The peer sent BYE.
    RemoteBye,
    /// We sent BYE ([`UserAgent::hangup`]).
    LocalBye,
    /// The caller cancelled before we answered.
    RemoteCancel,
    /// We refused the inbound call (final non-2xx from [`UserAgent::respond`], or admission).
    LocalReject(u16),
    /// Our 2xx was never acknowledged (64·T1): we sent BYE.
    AckTimeout,
    /// The session timer expired without a refresh: we sent BYE.
    SessionExpired,
    /// The outbound INVITE got a final non-2xx (or timed out / was cancelled).
    Outbound(OutboundOutcome),
}

impl EndReason {
    /// The `disconnected_by` value this maps to (`bot`, `customer`, `timeout`, …).
    pub fn disconnected_by(&self) -> &'static str {
        match self {
            EndReason::RemoteBye | EndReason::RemoteCancel => "customer",
            EndReason::LocalBye | EndReason::LocalReject(_) => "bot",
            EndReason::AckTimeout | EndReason::SessionExpired => "timeout",
            EndReason::Outbound(o) => o.disconnected_by().unwrap_or("error"),
        }
    }
}

/// What the user agent tells the application. Drain with [`UserAgent::poll_event`].
#[derive(Debug, Clone)]
pub enum UaEvent {
    /// A new inbound call. Answer with [`UserAgent::respond`] (180/183/200/4xx–6xx).
    /// `offer` is `None` for a late offer: put an offer in the 200, the answer comes in
    /// [`UaEvent::Confirmed`].
    IncomingCall {
        /// The call.
        call: CallHandle,
        /// The INVITE (From, To, P-Asserted-Identity, Diversion, … for the application).
        request: Request,
        /// Where it came from.
        source: SocketAddr,
        /// The SDP offer, if any.
        offer: Option<Bytes>,
    },
    /// Outbound: a provisional response (180, 183 with early media SDP).
    Progress {
        /// The call.
        call: CallHandle,
        /// Status code.
        status: u16,
        /// Body (SDP for early media), if any.
        body: Option<Bytes>,
    },
    /// Outbound: answered (2xx). With `needs_ack_answer` (we sent no offer) the body is the
    /// peer's offer and [`UserAgent::ack`] must be called with our answer.
    Answered {
        /// The call.
        call: CallHandle,
        /// The 2xx body (SDP answer, or offer for late offer).
        body: Option<Bytes>,
        /// We sent a late-offer INVITE: answer in the ACK.
        needs_ack_answer: bool,
    },
    /// Inbound: the ACK for our 2xx arrived; `answer` is the SDP answer for a late offer.
    Confirmed {
        /// The call.
        call: CallHandle,
        /// ACK body, if any.
        answer: Option<Bytes>,
    },
    /// The peer sent a re-INVITE or UPDATE (hold, codec change, session refresh). Answer with
    /// [`UserAgent::answer_offer`]. `offer` is `None` for a re-INVITE without SDP.
    OfferReceived {
        /// The call.
        call: CallHandle,
        /// INVITE or UPDATE.
        method: Method,
        /// The SDP offer, if any.
        offer: Option<Bytes>,
    },
    /// The final response to our re-INVITE / UPDATE (after any glare retries).
    OfferAnswered {
        /// The call.
        call: CallHandle,
        /// INVITE or UPDATE.
        method: Method,
        /// Final status.
        status: u16,
        /// Body (SDP answer), if any.
        body: Option<Bytes>,
    },
    /// A DTMF digit from INFO `application/dtmf-relay`.
    Dtmf {
        /// The call.
        call: CallHandle,
        /// `0-9`, `*`, `#`, `A-D`, or `F` for flash.
        digit: char,
        /// Duration in milliseconds.
        duration_ms: u32,
    },
    /// Transfer (REFER we sent) progress.
    Transfer {
        /// The call.
        call: CallHandle,
        /// Progress.
        progress: TransferProgress,
    },
    /// Final response to an out-of-dialog OPTIONS ([`UserAgent::options`]) or in-dialog one.
    OptionsResponse {
        /// The handle returned by [`UserAgent::options`] (or the call's).
        call: CallHandle,
        /// Status.
        status: u16,
    },
    /// A session refresh (RFC 4028) succeeded in either direction.
    SessionRefreshed {
        /// The call.
        call: CallHandle,
        /// Interval in seconds now in force.
        interval: u32,
    },
    /// The call is over; the handle is stale afterwards.
    Ended {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
    },
}

/// Errors from the application-facing calls of [`UserAgent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaError {
    /// The handle names no live call.
    #[error("unknown call {call:?}")]
    UnknownCall {
        /// The handle.
        call: CallHandle,
    },
    /// The operation is not valid in the call's current state.
    #[error("{operation} not allowed in call state {phase:?}")]
    WrongState {
        /// What was attempted.
        operation: &'static str,
        /// The call's phase.
        phase: Phase,
    },
    /// A URI the application passed is invalid.
    #[error("invalid URI: {0}")]
    Uri(#[from] UriError),
    /// The transaction layer refused.
    #[error("transaction layer: {0}")]
    Transaction(#[from] TxError),
    /// A status code outside 100..=699.
    #[error("invalid status code {status}")]
    InvalidStatus {
        /// The status.
        status: u16,
    },
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Outbound: INVITE sent, nothing but 100 yet. Inbound: INVITE received, not answered.
    Initial,
    /// A provisional response with a tag was sent / received.
    Early,
    /// Inbound: 2xx sent, waiting for ACK. Outbound (late offer): waiting for the app's ACK body.
    Answered,
    /// ACK sent / received.
    Confirmed,
    /// Ended (only transiently).
    Ended,
}

#[derive(Debug, Clone)]
struct OkRetx {
    tx: TxId,
    response: Response,
    cseq: u32,
    interval: Duration,
    next: Instant,
    give_up: Instant,
    initial: bool,
}

#[derive(Debug, Clone)]
struct SessionTimer {
    interval: u32,
    we_refresh: bool,
    /// When we refresh (we_refresh) or when it expires.
    deadline: Instant,
}

#[derive(Debug, Clone)]
struct GlareRetry {
    at: Instant,
    method: Method,
    body: Option<Bytes>,
}

#[derive(Debug)]
struct Call {
    outbound: bool,
    call_id: String,
    local_tag: String,
    peer: Target,
    /// Outbound: the INVITE as we built it (no branch); inbound: the received INVITE.
    invite: Request,
    invite_tx: Option<TxId>,
    dialog: Option<Dialog>,
    early: Vec<Dialog>,
    phase: Phase,
    cancel_requested: bool,
    cancel_sent: bool,
    got_provisional: bool,
    ok_retx: Option<OkRetx>,
    ack: Option<Request>,
    /// Inbound re-INVITE/UPDATE waiting for the application.
    pending_offer: Option<(TxId, Method, Request)>,
    /// Our re-INVITE/UPDATE in flight.
    our_offer: Option<(TxId, Method, Option<Bytes>)>,
    glare: Option<GlareRetry>,
    auth: Option<DigestClient>,
    session: Option<SessionTimer>,
    session_refresh_in_flight: bool,
    local_sdp: Option<Bytes>,
    prack_rseq: HashMap<String, u32>,
    peer_allows_update: bool,
    late_offer: bool,
    se_retry_done: bool,
    /// UAS: the reliable provisional waiting for PRACK, and the last RSeq used.
    rel_retx: Option<RelRetx>,
    rseq: u32,
}

impl Call {
    /// A call that has only just sent or received its INVITE: no dialog yet, nothing in flight.
    fn new(outbound: bool, call_id: String, local_tag: String, peer: Target, invite: Request, invite_tx: TxId) -> Call {
        Call {
            outbound,
            call_id,
            local_tag,
            peer,
            invite,
            invite_tx: Some(invite_tx),
            dialog: None,
            early: Vec::new(),
            phase: Phase::Initial,
            cancel_requested: false,
            cancel_sent: false,
            got_provisional: false,
            ok_retx: None,
            ack: None,
            pending_offer: None,
            our_offer: None,
            glare: None,
            auth: None,
            session: None,
            session_refresh_in_flight: false,
            local_sdp: None,
            prack_rseq: HashMap::new(),
            peer_allows_update: false,
            late_offer: false,
            se_retry_done: false,
            rel_retx: None,
            rseq: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct RelRetx {
    tx: TxId,
    response: Response,
    rseq: u32,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

#[derive(Debug, Clone)]
struct ClientTx {
    call: CallHandle,
    request: Request,
}

fn body_opt(b: Bytes) -> Option<Bytes> {
    (!b.is_empty()).then_some(b)
}

/// Parses an `application/dtmf-relay` body (`Signal=5\r\nDuration=160`).
pub fn parse_dtmf_relay(body: &[u8]) -> Option<(char, u32)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut digit = None;
    let mut duration = 250;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("signal") {
            let c = match v {
                "10" => '*',
                "11" => '#',
                "16" => 'F',
                _ if v.len() == 1 => v.chars().next()?.to_ascii_uppercase(),
                _ => return None,
            };
            if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'F')) {
                return None;
            }
            digit = Some(c);
        } else if k.eq_ignore_ascii_case("duration") {
            duration = v.parse().ok()?;
        }
    }
    digit.map(|d| (d, duration))
}

/// Parses the status code of a `message/sipfrag` body (`SIP/2.0 200 OK`).
pub fn parse_sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    (100..=699).contains(&code).then_some(code)
}

/// The user-agent core. One per shard.
pub struct UserAgent {
    cfg: UaConfig,
    txn: TransactionLayer,
    calls: HashMap<CallHandle, Call>,
    /// Calls by Call-ID: one, or two when our own outbound INVITE loops back to us (a hairpin
    /// through a trunk that points at this UA); the two are told apart by local tag.
    by_call_id: HashMap<String, Vec<CallHandle>>,
    client_txs: HashMap<TxId, ClientTx>,
    invite_server_txs: HashMap<TxId, CallHandle>,
    events: VecDeque<UaEvent>,
    next_handle: u64,
    rng: u64,
    first_now: Option<Instant>,
    nonce_counts: NonceCounts,
    admission: Option<AdmissionHook>,
    /// BYEs of calls already reported as ended, kept until their transaction ends so that a
    /// 401/407 to the BYE can still be answered.
    byes: HashMap<TxId, ByeInFlight>,
}

#[derive(Debug)]
struct ByeInFlight {
    request: Request,
    peer: Target,
    auth: Option<DigestClient>,
}

impl fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAgent")
            .field("local_addr", &self.cfg.local_addr)
            .field("calls", &self.calls.len())
            .field("transactions", &self.txn.len())
            .finish_non_exhaustive()
    }
}

impl UserAgent {
    /// A user agent with these settings.
    pub fn new(cfg: UaConfig) -> UserAgent {
        let mut tcfg = cfg.transaction.clone();
        tcfg.branch_seed ^= cfg.seed.rotate_left(17);
        UserAgent {
            rng: cfg.seed | 1,
            txn: TransactionLayer::new(tcfg),
            cfg,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            client_txs: HashMap::new(),
            invite_server_txs: HashMap::new(),
            events: VecDeque::new(),
            next_handle: 1,
            first_now: None,
            nonce_counts: NonceCounts::new(4096),
            admission: None,
            byes: HashMap::new(),
        }
    }

    /// Installs the inbound admission decision point.
    pub fn set_admission_hook(&mut self, hook: AdmissionHook) {
        self.admission = Some(hook);
    }

    /// The settings.
    pub fn config(&self) -> &UaConfig {
        &self.cfg
    }

    /// Number of live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The call's phase, `None` if it ended.
    pub fn phase(&self, call: CallHandle) -> Option<Phase> {
        self.calls.get(&call).map(|c| c.phase)
    }

    /// The call's confirmed (or first early) dialog.
    pub fn dialog(&self, call: CallHandle) -> Option<&Dialog> {
        self.calls
            .get(&call)
            .and_then(|c| c.dialog.as_ref().or(c.early.first()))
    }

    /// The session interval in force and whether we refresh.
    pub fn session_timer(&self, call: CallHandle) -> Option<(u32, bool)> {
        self.calls
            .get(&call)
            .and_then(|c| c.session.as_ref())
            .map(|s| (s.interval, s.we_refresh))
    }

    // ----- randomness -------------------------------------------------------------------

    fn rand(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.rand())
    }

    fn secs(&mut self, now: Instant) -> u64 {
        let first = *self.first_now.get_or_insert(now);
        self.cfg.epoch_secs + now.saturating_duration_since(first).as_secs()
    }

    // ----- I/O contract -----------------------------------------------------------------

    /// Feeds one received datagram (or stream frame).
    pub fn handle_datagram(&mut self, now: Instant, datagram: Bytes, source: SocketAddr, transport: Transport) {
        self.first_now.get_or_insert(now);
        self.txn.handle_datagram(now, datagram, source, transport);
        self.drain(now);
    }

    /// Feeds one already-parsed message (from a [`crate::framing::StreamFramer`] on TCP/TLS).
    pub fn handle_message(
        &mut self,
        now: Instant,
        msg: crate::message::Message,
        source: SocketAddr,
        transport: Transport,
    ) {
        self.first_now.get_or_insert(now);
        self.txn.handle_input(now, msg, source, transport);
        self.drain(now);
    }

    /// Runs timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.first_now.get_or_insert(now);
        self.txn.handle_timeout(now);
        self.drain(now);
        let handles: Vec<CallHandle> = self.calls.keys().copied().collect();
        for h in handles {
            self.call_timers(now, h);
        }
        self.drain(now);
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.txn.poll_transmit()
    }

    /// Next event for the application.
    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// When [`UserAgent::handle_timeout`] must next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mut t = self.txn.poll_timeout();
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for c in self.calls.values() {
            min(c.ok_retx.as_ref().map(|o| o.next.min(o.give_up)));
            min(c.glare.as_ref().map(|g| g.at));
            min(c.rel_retx.as_ref().map(|r| r.next.min(r.give_up)));
            min(c.session.as_ref().map(|s| s.deadline));
        }
        t
    }

    /// Reports a failed send (see [`TransactionLayer::handle_transport_error`]).
    pub fn handle_transport_error(&mut self, now: Instant, tx: TxId) {
        self.txn.handle_transport_error(now, tx);
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        while let Some(e) = self.txn.poll_event() {
            self.on_tx_event(now, e);
        }
    }

    // ----- building blocks ----------------------------------------------------------------

    fn via(&self) -> String {
        format!("SIP/2.0/{} {};rport", self.cfg.transport.as_str(), self.cfg.local_addr)
    }

    fn contact(&self) -> String {
        match self.cfg.transport {
            Transport::Udp => format!("<sip:{}@{}>", self.cfg.contact_user, self.cfg.local_addr),
            t => format!(
                "<sip:{}@{};transport={}>",
                self.cfg.contact_user,
                self.cfg.local_addr,
                t.as_str().to_ascii_lowercase()
            ),
        }
    }

    fn new_handle(&mut self) -> CallHandle {
        let h = CallHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn add_common(&self, h: &mut Headers) {
        h.push(HeaderName::Allow, ALLOW);
        h.push(HeaderName::Supported, SUPPORTED);
    }

    /// The call with this Call-ID whose local tag is `local_tag`; with no tag, or none matching,
    /// the only call with that Call-ID (its dialog check then decides).
    fn call_by_tag(&self, call_id: &str, local_tag: Option<&str>) -> Option<CallHandle> {
        let handles = self.by_call_id.get(call_id)?;
        let tagged = local_tag.and_then(|t| {
            handles
                .iter()
                .copied()
                .find(|h| self.calls.get(h).is_some_and(|c| c.local_tag == t))
        });
        tagged.or_else(|| (handles.len() == 1).then(|| handles[0]))
    }

    /// Whether a new INVITE with this Call-ID and From tag starts a call: no call has the
    /// Call-ID yet, or the only one is our own outbound INVITE that has come back to us
    /// (hairpin). Anything else is a loop or a merged request (RFC 3261 §8.2.2.2).
    fn is_hairpin_or_new(&self, call_id: &str, from_tag: Option<&str>) -> bool {
        let Some(handles) = self.by_call_id.get(call_id) else {
            return true;
        };
        let [only] = handles.as_slice() else { return false };
        self.calls
            .get(only)
            .is_some_and(|c| c.outbound && from_tag == Some(c.local_tag.as_str()))
    }

    fn end_call(&mut self, call: CallHandle, reason: EndReason) {
        if let Some(c) = self.calls.remove(&call) {
            if let Some(handles) = self.by_call_id.get_mut(&c.call_id) {
                handles.retain(|h| *h != call);
                if handles.is_empty() {
                    self.by_call_id.remove(&c.call_id);
                }
            }
            self.client_txs.retain(|_, t| t.call != call);
            self.invite_server_txs.retain(|_, h| *h != call);
            self.events.push_back(UaEvent::Ended { call, reason });
        }
    }

    fn send_client(&mut self, now: Instant, call: CallHandle, request: Request, peer: Target) -> Result<TxId, UaError> {
        let tx = self.txn.send_request(now, request.clone(), peer)?;
        self.client_txs.insert(tx, ClientTx { call, request });
        Ok(tx)
    }

    /// Builds and sends a request inside the call's dialog.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        call: CallHandle,
        method: Method,
        body: Option<(&'static str, Bytes)>,
        extra: impl FnOnce(&mut Headers),
    ) -> Result<TxId, UaError> {
        let via = self.via();
        let ua = self.cfg.user_agent.clone();
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall { call })?;
        let phase = c.phase;
        let d = c.dialog.as_mut().ok_or(UaError::WrongState {
            operation: method_op(&method),
            phase,
        })?;
        let mut req = d.create_request(method.clone());
        let peer = c.peer;
        let h = req.headers_mut();
        h.insert(0, HeaderName::Via, via);
        h.push(HeaderName::UserAgent, ua);
        if matches!(method, Method::Invite | Method::Update) {
            h.push(HeaderName::Allow, ALLOW);
            h.push(HeaderName::Supported, SUPPORTED);
        }
        extra(h);
        match body {
            Some((ct, b)) => req.set_body(Some(ct.into()), b),
            None => req.set_body(None, ""),
        }
        self.send_client(now, call, req, peer)
    }

    fn respond_to(&mut self, now: Instant, tx: TxId, req: &Request, status: u16, reason: &'static str) {
        let mut r = Response::from_request(req, status, reason);
        if status > 100 && !req.headers().to().is_ok_and(|t| t.tag().is_some()) {
            let tag = self.token();
            r.set_to_tag(&tag);
        }
        r.headers_mut().push(HeaderName::Server, self.cfg.user_agent.clone());
        let _ = self.txn.send_response(now, tx, r);
    }

    // ----- outbound calls -----------------------------------------------------------------

    /// Places an outbound call. Events follow: [`UaEvent::Progress`], [`UaEvent::Answered`] or
    /// [`UaEvent::Ended`] with the [`OutboundOutcome`].
    pub fn invite(&mut self, now: Instant, call: OutboundCall) -> Result<CallHandle, UaError> {
        self.first_now.get_or_insert(now);
        let call_id = match &call.call_id {
            Some(id) => id.clone(),
            None => format!("{}@{}", self.token(), self.cfg.local_addr.ip()),
        };
        let local_tag = self.token();
        let mut req = Request::new(Method::Invite, &call.request_uri)?;
        let contact = self.contact();
        let h = req.headers_mut();
        h.push(HeaderName::Via, self.via());
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, format!("{};tag={local_tag}", call.from));
        h.push(HeaderName::To, call.to.clone());
        h.push(HeaderName::CallId, call_id.clone());
        h.push(HeaderName::CSeq, "1 INVITE");
        h.push(HeaderName::Contact, contact);
        h.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        self.add_common(h);
        if let Some(se) = self.cfg.session_expires {
            h.push(HeaderName::SessionExpires, se.max(self.cfg.min_se).to_string());
            h.push(HeaderName::MinSe, self.cfg.min_se.to_string());
        }
        for (n, v) in &call.extra_headers {
            h.push_named(n.clone(), v.clone());
        }
        match &call.offer {
            Some(b) => req.set_body(Some("application/sdp".into()), b.clone()),
            None => req.set_body(None, ""),
        }
        let peer = Target {
            addr: call.destination,
            transport: self.cfg.transport,
        };
        let handle = self.new_handle();
        let tx = self.send_client(now, handle, req.clone(), peer)?;
        self.by_call_id.entry(call_id.clone()).or_default().push(handle);
        self.calls.insert(
            handle,
            Call {
                auth: call.credentials.as_ref().map(|(u, p)| DigestClient::new(u, p)),
                local_sdp: call.offer.clone(),
                late_offer: call.offer.is_none(),
                ..Call::new(true, call_id, local_tag, peer, req, tx)
            },
        );
        Ok(handle)
    }

    /// Late offer on an outbound call: sends the ACK for the 2xx carrying our SDP answer.
    pub fn ack(&mut self, now: Instant, call: CallHandle, answer: Option<Bytes>) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall { call })?;
        if !(c.outbound && c.phase == Phase::Answered) {
            return Err(UaError::WrongState {
                operation: "ack",
                phase: c.phase,
            });
        }
        if let Some(a) = &answer {
            c.local_sdp = Some(a.clone());
        }
        let seq = c.invite.headers().cseq().map(|c| c.seq).unwrap_or(1);
        self.send_ack(call, seq, answer);
        let c = self.calls.get_mut(&call).expect("checked");
        c.phase = Phase::Confirmed;
        if c.cancel_requested {
            self.hangup(now, call)?;
        }
        Ok(())
    }

    fn send_ack(&mut self, call: CallHandle, seq: u32, body: Option<Bytes>) {
        let via = format!("{};branch=z9hG4bK{}", self.via(), self.token());
        let Some(c) = self.calls.get_mut(&call) else { return };
        let Some(d) = c.dialog.as_ref() else { return };
        let mut ack = d.create_request_with_seq(Method::Ack, seq);
        ack.headers_mut().insert(0, HeaderName::Via, via);
        match body {
            Some(b) => ack.set_body(Some("application/sdp".into()), b),
            None => ack.set_body(None, ""),
        }
        let peer = c.peer;
        c.ack = Some(ack.clone());
        self.txn.send_stateless(ack, peer);
    }

    /// Ends the call: BYE when answered, CANCEL for an outbound call still ringing (sent once a
    /// provisional arrived, RFC 3261 §9.1), 480 for an inbound call not yet answered.
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall { call })?;
        match (c.outbound, c.phase) {
            (true, Phase::Initial | Phase::Early) => {
                c.cancel_requested = true;
                if c.got_provisional && !c.cancel_sent {
                    self.send_cancel(now, call);
                }
                Ok(())
            }
            (true, Phase::Answered) => {
                // Late offer awaiting our ACK: acknowledge without body, then BYE.
                c.cancel_requested = true;
                self.ack(now, call, None)
            }
            (false, Phase::Initial | Phase::Early) => self.respond(now, call, 480, None),
            (_, Phase::Answered | Phase::Confirmed) => {
                // A BYE may be sent once the 2xx was sent (UAS) — the ACK may still arrive.
                self.send_bye(now, call);
                self.end_call(call, EndReason::LocalBye);
                Ok(())
            }
            (_, Phase::Ended) => Ok(()),
        }
    }

    fn send_cancel(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        let Some(tx) = c.invite_tx else { return };
        let Some(sent) = self.txn.request(tx) else { return };
        let Ok(cancel) = transaction::cancel_for(sent) else {
            return;
        };
        c.cancel_sent = true;
        let peer = c.peer;
        let _ = self.send_client(now, call, cancel, peer);
    }

    /// Sends an out-of-dialog OPTIONS (keepalive / trunk probe). The result is an
    /// [`UaEvent::OptionsResponse`] with the returned handle.
    pub fn options(&mut self, now: Instant, request_uri: &str, destination: SocketAddr) -> Result<CallHandle, UaError> {
        let mut req = Request::new(Method::Options, request_uri)?;
        let tag = self.token();
        let call_id = format!("{}@{}", self.token(), self.cfg.local_addr.ip());
        let h = req.headers_mut();
        h.push(HeaderName::Via, self.via());
        h.push(HeaderName::MaxForwards, "70");
        h.push(
            HeaderName::From,
            format!("<sip:{}@{}>;tag={tag}", self.cfg.contact_user, self.cfg.local_addr),
        );
        h.push(HeaderName::To, format!("<{request_uri}>"));
        h.push(HeaderName::CallId, call_id);
        h.push(HeaderName::CSeq, "1 OPTIONS");
        h.push(HeaderName::Accept, ACCEPT);
        h.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        req.set_body(None, "");
        let handle = self.new_handle();
        let peer = Target {
            addr: destination,
            transport: self.cfg.transport,
        };
        self.send_client(now, handle, req, peer)?;
        Ok(handle)
    }

    // ----- inbound calls ------------------------------------------------------------------

    /// Answers the inbound INVITE: 180/183 (with early media SDP), 200 (with the SDP answer, or
    /// an offer for a late-offer INVITE) or a final 3xx–6xx refusal.
    pub fn respond(&mut self, now: Instant, call: CallHandle, status: u16, body: Option<Bytes>) -> Result<(), UaError> {
        self.respond_with(now, call, status, body, &[])
    }

    /// [`UserAgent::respond`] with extra header fields (name, value), e.g. `Retry-After` on a 503
    /// or `Reason` on a refusal.
    pub fn respond_with(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        body: Option<Bytes>,
        extra_headers: &[(&str, &str)],
    ) -> Result<(), UaError> {
        if !(101..=699).contains(&status) {
            return Err(UaError::InvalidStatus { status });
        }
        let contact = self.contact();
        let server = self.cfg.user_agent.clone();
        let t1 = self.cfg.transaction.t1;
        let reliable_cfg = self.cfg.reliable_provisional;
        let first_rseq = 1 + (self.rand() % 0x3fff) as u32;
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall { call })?;
        if c.outbound || !matches!(c.phase, Phase::Initial | Phase::Early) {
            return Err(UaError::WrongState {
                operation: "respond",
                phase: c.phase,
            });
        }
        let tx = c.invite_tx.ok_or(UaError::WrongState {
            operation: "respond",
            phase: c.phase,
        })?;
        let mut r = Response::from_request(&c.invite, status, reason_phrase(status));
        r.set_to_tag(&c.local_tag);
        let h = r.headers_mut();
        h.push(HeaderName::Server, server);
        for (n, v) in extra_headers {
            h.push_named((*n).to_owned(), (*v).to_owned());
        }
        if status < 300 {
            h.copy_from(c.invite.headers(), HeaderName::RecordRoute);
            h.push(HeaderName::Contact, contact);
        }
        if (200..300).contains(&status) {
            h.push(HeaderName::Allow, ALLOW);
            h.push(HeaderName::Supported, SUPPORTED);
            if let Some(s) = &c.session {
                let who = if s.we_refresh { "uas" } else { "uac" };
                h.push(HeaderName::SessionExpires, format!("{};refresher={who}", s.interval));
                if c.invite.headers().has_token(HeaderName::Supported, "timer") {
                    h.push(HeaderName::Require, "timer");
                }
            }
        }
        let ih = c.invite.headers();
        let reliable = status > 100
            && status < 200
            && (ih.has_token(HeaderName::Require, "100rel")
                || (reliable_cfg && ih.has_token(HeaderName::Supported, "100rel")));
        if reliable {
            if c.rel_retx.is_some() {
                // RFC 3262 §3: one unacknowledged reliable provisional at a time.
                return Err(UaError::WrongState {
                    operation: "reliable provisional before PRACK",
                    phase: c.phase,
                });
            }
            c.rseq = if c.rseq == 0 { first_rseq } else { c.rseq + 1 };
            let h = r.headers_mut();
            h.push(HeaderName::Require, "100rel");
            h.push(HeaderName::RSeq, c.rseq.to_string());
        }
        match &body {
            Some(b) => r.set_body(Some("application/sdp".into()), b.clone()),
            None => r.set_body(None, ""),
        }
        self.txn.send_response(now, tx, r.clone())?;
        if status >= 200 {
            // A final response stops any reliable provisional retransmission.
            c.rel_retx = None;
        }
        if status < 200 {
            c.phase = Phase::Early;
            if reliable {
                c.rel_retx = Some(RelRetx {
                    tx,
                    response: r,
                    rseq: c.rseq,
                    interval: t1,
                    next: now + t1,
                    give_up: now + t1 * 64,
                });
            }
            return Ok(());
        }
        if status < 300 {
            c.phase = Phase::Answered;
            if body.is_some() {
                c.local_sdp = body;
            }
            if let Some(d) = &mut c.dialog {
                let _ = d.confirm(None);
            }
            if let Some(s) = &mut c.session {
                s.deadline = session_deadline(now, s.interval, s.we_refresh);
            }
            let cseq = c.invite.headers().cseq().map(|c| c.seq).unwrap_or(0);
            c.ok_retx = Some(OkRetx {
                tx,
                response: r,
                cseq,
                interval: t1,
                next: now + t1,
                give_up: now + t1 * 64,
                initial: true,
            });
            return Ok(());
        }
        self.end_call(call, EndReason::LocalReject(status));
        Ok(())
    }

    /// Answers a re-INVITE or UPDATE from the peer (200 with SDP, 488, …).
    pub fn answer_offer(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        body: Option<Bytes>,
    ) -> Result<(), UaError> {
        let contact = self.contact();
        let t1 = self.cfg.transaction.t1;
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall { call })?;
        let (tx, method, req) = c.pending_offer.take().ok_or(UaError::WrongState {
            operation: "answer_offer",
            phase: c.phase,
        })?;
        let mut r = Response::from_request(&req, status, reason_phrase(status));
        let h = r.headers_mut();
        if (200..300).contains(&status) {
            h.push(HeaderName::Contact, contact);
            h.push(HeaderName::Allow, ALLOW);
            h.push(HeaderName::Supported, SUPPORTED);
            if let Some(s) = &c.session {
                let who = if s.we_refresh { "uas" } else { "uac" };
                h.push(HeaderName::SessionExpires, format!("{};refresher={who}", s.interval));
            }
        }
        match &body {
            Some(b) => r.set_body(Some("application/sdp".into()), b.clone()),
            None => r.set_body(None, ""),
        }
        self.txn.send_response(now, tx, r.clone())?;
        if (200..300).contains(&status) {
            if body.is_some() {
                c.local_sdp = body;
            }
            if let Some(s) = &mut c.session {
                s.deadline = session_deadline(now, s.interval, s.we_refresh);
                let interval = s.interval;
                self.events.push_back(UaEvent::SessionRefreshed { call, interval });
            }
            let c = self.calls.get_mut(&call).expect("present");
            if method == Method::Invite {
                let cseq = req.headers().cseq().map(|c| c.seq).unwrap_or(0);
                c.ok_retx = Some(OkRetx {
                    tx,
                    response: r,
                    cseq,
                    interval: t1,
                    next: now + t1,
                    give_up: now + t1 * 64,
                    initial: false,
                });
            }
        }
        Ok(())
    }

    // ----- mid-call requests --------------------------------------------------------------

    /// Sends a re-INVITE (hold, resume, codec change) with `offer` (or none). The answer comes
    /// as [`UaEvent::OfferAnswered`]; a 491 is retried automatically after the RFC 3261 §14.1
    /// back-off.
    pub fn reinvite(&mut self, now: Instant, call: CallHandle, offer: Option<Bytes>) -> Result<(), UaError> {
        self.send_offer(now, call, Method::Invite, offer)
    }

    /// Sends an UPDATE (RFC 3311) with `offer` (or none: session refresh).
    pub fn update(&mut self, now: Instant, call: CallHandle, offer: Option<Bytes>) -> Result<(), UaError> {
        self.send_offer(now, call, Method::Update, offer)
    }

    fn send_offer(
        &mut self,
        now: Instant,
        call: CallHandle,
        method: Method,
        offer: Option<Bytes>,
    ) -> Result<(), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::UnknownCall { call })?;
        if c.phase != Phase::Confirmed || c.our_offer.is_some() || c.pending_offer.is_some() {
            return Err(UaError::WrongState {
                operation: method_op(&method),
                phase: c.phase,
            });
        }
        let se = c.session.as_ref().map(|s| (s.interval, s.we_refresh));
        let body = offer.clone().map(|b| ("application/sdp", b));
        let min_se = self.cfg.min_se;
        let tx = self.send_in_dialog(now, call, method.clone(), body, |h| {
            if let Some((interval, we)) = se {
                // We are the UAC of this request: refresher=uac means us if we refresh.
                let who = if we { "uac" } else { "uas" };
                h.push(HeaderName::SessionExpires, format!("{interval};refresher={who}"));
                h.push(HeaderName::MinSe, min_se.to_string());
            }
        })?;
        let c = self.calls.get_mut(&call).expect("present");
        if offer.is_some() {
            c.local_sdp = offer.clone();
        }
        c.our_offer = Some((tx, method, offer));
        Ok(())
    }

    /// Sends a DTMF digit as INFO `application/dtmf-relay`.
    pub fn send_dtmf_info(
        &mut self,
        now: Instant,
        call: CallHandle,
        digit: char,
        duration_ms: u32,
    ) -> Result<(), UaError> {
        let body = format!("Signal={digit}\r\nDuration={duration_ms}\r\n");
        self.send_in_dialog(
            now,
            call,
            Method::Info,
            Some(("application/dtmf-relay", Bytes::from(body))),
            |_| {},
        )?;
        Ok(())
    }

    /// Sends an in-dialog OPTIONS (keepalive); the result is an [`UaEvent::OptionsResponse`].
    pub fn options_in_dialog(&mut self, now: Instant, call: CallHandle) -> Result<(), UaError> {
        self.send_in_dialog(now, call, Method::Options, None, |h| h.push(HeaderName::Accept, ACCEPT))?;
        Ok(())
    }

    /// Blind (or attended, with `replaces` = `call-id;to-tag=..;from-tag=..`) transfer as the
    /// transferor: REFER with Refer-To and Referred-By. Progress comes as [`UaEvent::Transfer`].
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallHandle,
        refer_to: &str,
        replaces: Option<&str>,
    ) -> Result<(), UaError> {
        crate::uri::Uri::parse(refer_to)?;
        let target = match replaces {
            Some(r) => format!("<{refer_to}?Replaces={}>", escape_uri_header(r)),
            None => format!("<{refer_to}>"),
        };
        let referred_by = self
            .calls
            .get(&call)
            .and_then(|c| c.dialog.as_ref())
            .map(|d| d.local_uri().to_owned())
            .ok_or(UaError::UnknownCall { call })?;
        self.send_in_dialog(now, call, Method::Refer, None, |h| {
            h.push(HeaderName::ReferTo, target);
            h.push(HeaderName::ReferredBy, referred_by);
        })?;
        Ok(())
    }

    // ----- timers -----------------------------------------------------------------------

    fn call_timers(&mut self, now: Instant, call: CallHandle) {
        let t2 = self.cfg.transaction.t2;
        let Some(c) = self.calls.get_mut(&call) else { return };
        // 2xx retransmission until ACK (RFC 3261 §13.3.1.4).
        if let Some(o) = &mut c.ok_retx {
            if now >= o.give_up {
                let initial = o.initial;
                c.ok_retx = None;
                if initial || c.phase == Phase::Confirmed {
                    self.send_bye(now, call);
                    self.end_call(call, EndReason::AckTimeout);
                    return;
                }
            } else if now >= o.next {
                o.interval = (o.interval * 2).min(t2);
                o.next = now + o.interval;
                let (tx, resp, peer) = (o.tx, o.response.clone(), c.peer);
                if self.txn.send_response(now, tx, resp.clone()).is_err() {
                    // The INVITE server transaction is gone: send it ourselves to the source.
                    self.txn.send_stateless(resp, peer);
                }
            }
        }
        let Some(c) = self.calls.get_mut(&call) else { return };
        if let Some(r) = &mut c.rel_retx {
            if now >= r.give_up {
                // RFC 3262 §3: no PRACK within 64*T1: reject the INVITE with a 5xx.
                c.rel_retx = None;
                let _ = self.respond(now, call, 504, None);
                return;
            } else if now >= r.next {
                r.interval *= 2;
                r.next = now + r.interval;
                let (tx, resp) = (r.tx, r.response.clone());
                let _ = self.txn.send_response(now, tx, resp);
            }
        }
        let Some(c) = self.calls.get_mut(&call) else { return };
        if let Some(g) = &c.glare
            && now >= g.at
        {
            let g = c.glare.take().expect("checked");
            if self.send_offer(now, call, g.method.clone(), g.body).is_err() {
                // Could not retry (e.g. the peer's offer is pending): report the 491.
                self.events.push_back(UaEvent::OfferAnswered {
                    call,
                    method: g.method,
                    status: 491,
                    body: None,
                });
            }
        }
        let Some(c) = self.calls.get_mut(&call) else { return };
        if let Some(s) = &c.session
            && now >= s.deadline
            && matches!(c.phase, Phase::Answered | Phase::Confirmed)
        {
            if s.we_refresh && !c.session_refresh_in_flight {
                let (interval, body, use_update) = (s.interval, c.local_sdp.clone(), c.peer_allows_update);
                c.session_refresh_in_flight = true;
                // Until the refresh succeeds, the session still expires at the usual point.
                if let Some(s) = &mut c.session {
                    s.deadline = now + expiry_after_refresh_sent(interval);
                }
                let sent = if use_update {
                    self.send_offer(now, call, Method::Update, None)
                } else {
                    self.send_offer(now, call, Method::Invite, body)
                };
                if sent.is_err()
                    && let Some(c) = self.calls.get_mut(&call)
                {
                    // Busy with another offer/answer: try again in a second.
                    c.session_refresh_in_flight = false;
                    if let Some(s) = &mut c.session {
                        s.deadline = now + Duration::from_secs(1);
                    }
                }
            } else {
                self.send_bye(now, call);
                self.end_call(call, EndReason::SessionExpired);
            }
        }
    }

    // ----- transaction events ---------------------------------------------------------------

    fn on_tx_event(&mut self, now: Instant, e: TxEvent) {
        match e {
            TxEvent::NewRequest {
                tx,
                request,
                source,
                transport,
            } => {
                self.on_request(now, tx, request, source, transport);
            }
            TxEvent::Cancel {
                tx, invite_tx, request, ..
            } => {
                let call = invite_tx.and_then(|i| self.invite_server_txs.get(&i).copied());
                match call {
                    Some(call)
                        if self
                            .calls
                            .get(&call)
                            .is_some_and(|c| matches!(c.phase, Phase::Initial | Phase::Early)) =>
                    {
                        self.respond_to(now, tx, &request, 200, "OK");
                        let _ = self.respond(now, call, 487, None);
                        // respond() recorded LocalReject; report the cancel instead.
                        if let Some(UaEvent::Ended { reason, .. }) = self.events.back_mut() {
                            *reason = EndReason::RemoteCancel;
                        }
                    }
                    Some(_) => self.respond_to(now, tx, &request, 200, "OK"),
                    None => self.respond_to(now, tx, &request, 481, "Call/Transaction Does Not Exist"),
                }
            }
            TxEvent::Ack { request, .. } | TxEvent::StrayAck { request, .. } => self.on_ack(request),
            TxEvent::Response { tx, response } => self.on_response(now, Some(tx), response),
            TxEvent::StrayResponse { response, .. } => self.on_response(now, None, response),
            TxEvent::Timeout {
                tx, response: Some(r), ..
            }
            | TxEvent::TransportError { tx, response: Some(r) } => {
                self.on_response(now, Some(tx), r);
            }
            TxEvent::Timeout { tx, response: None, .. } | TxEvent::TransportError { tx, response: None } => {
                // A server transaction we never answered (guard timer): end its call.
                if let Some(call) = self.invite_server_txs.remove(&tx) {
                    self.end_call(call, EndReason::LocalReject(408));
                }
            }
            TxEvent::Terminated { tx, .. } => {
                self.byes.remove(&tx);
                self.client_txs.remove(&tx);
                self.invite_server_txs.remove(&tx);
            }
            _ => {}
        }
    }

    fn on_ack(&mut self, ack: Request) {
        let Ok(call_id) = ack.headers().call_id() else { return };
        let to_tag = ack.headers().to().ok().and_then(|t| t.tag());
        let Some(call) = self.call_by_tag(call_id, to_tag) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else { return };
        let seq = ack.headers().cseq().map(|c| c.seq).unwrap_or(0);
        let Some(o) = &c.ok_retx else { return };
        if o.cseq != seq {
            return;
        }
        let initial = o.initial;
        c.ok_retx = None;
        if initial {
            c.phase = Phase::Confirmed;
            let answer = body_opt(ack.body_bytes());
            self.events.push_back(UaEvent::Confirmed { call, answer });
        }
    }

    fn on_request(&mut self, now: Instant, tx: TxId, req: Request, source: SocketAddr, transport: Transport) {
        let has_to_tag = req.headers().to().is_ok_and(|t| t.tag().is_some());
        if !has_to_tag {
            match req.method() {
                Method::Invite => self.on_new_invite(now, tx, req, source, transport),
                Method::Options => self.answer_options(now, tx, &req),
                Method::Bye | Method::Info | Method::Update | Method::Prack | Method::Refer | Method::Notify => {
                    self.respond_to(now, tx, &req, 481, "Call/Transaction Does Not Exist");
                }
                _ => self.respond_to(now, tx, &req, 405, "Method Not Allowed"),
            }
            return;
        }
        let to_tag = req.headers().to().ok().and_then(|t| t.tag());
        let call = req.headers().call_id().ok().and_then(|id| self.call_by_tag(id, to_tag));
        let Some(call) = call else {
            if *req.method() == Method::Options {
                self.answer_options(now, tx, &req);
            } else {
                self.respond_to(now, tx, &req, 481, "Call/Transaction Does Not Exist");
            }
            return;
        };
        let c = self.calls.get_mut(&call).expect("indexed");
        let Some(d) = c.dialog.as_mut().filter(|d| d.matches_request(&req)) else {
            self.respond_to(now, tx, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        if let Err(e) = d.check_remote_cseq(&req) {
            self.respond_to(
                now,
                tx,
                &req,
                e.status_code(),
                "Server Internal Error - CSeq out of order",
            );
            return;
        }
        match req.method().clone() {
            Method::Invite | Method::Update => {
                let method = req.method().clone();
                if c.our_offer.is_some() {
                    // Glare (RFC 3261 §14.2, RFC 3311 §5.2).
                    self.respond_to(now, tx, &req, 491, "Request Pending");
                    return;
                }
                if c.pending_offer.is_some() || (method == Method::Invite && c.ok_retx.is_some()) {
                    let mut r = Response::from_request(&req, 500, "Server Internal Error");
                    r.headers_mut().push(HeaderName::RetryAfter, "1");
                    let _ = self.txn.send_response(now, tx, r);
                    return;
                }
                if let Err(e) = d.refresh_target(req.headers()) {
                    self.respond_to(now, tx, &req, e.status_code(), "Bad Request - Malformed Contact");
                    return;
                }
                // Session timer renegotiation from the request.
                if let Ok(Some(se)) = req.headers().session_expires() {
                    let interval = se.delta.max(self.cfg.min_se);
                    // The peer is the UAC of this request: refresher=uac means the peer.
                    let we_refresh = se.refresher == Some(Refresher::Uas);
                    c.session = Some(SessionTimer {
                        interval,
                        we_refresh,
                        deadline: now + Duration::from_secs(u64::from(interval)),
                    });
                }
                let offer = body_opt(req.body_bytes());
                c.pending_offer = Some((tx, method.clone(), req));
                self.events.push_back(UaEvent::OfferReceived { call, method, offer });
            }
            Method::Bye => {
                self.respond_to(now, tx, &req, 200, "OK");
                self.end_call(call, EndReason::RemoteBye);
            }
            Method::Info => {
                let is_dtmf = req
                    .headers()
                    .content_type()
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.is("application", "dtmf-relay"));
                if is_dtmf {
                    match parse_dtmf_relay(req.body()) {
                        Some((digit, duration_ms)) => {
                            self.respond_to(now, tx, &req, 200, "OK");
                            self.events.push_back(UaEvent::Dtmf {
                                call,
                                digit,
                                duration_ms,
                            });
                        }
                        None => self.respond_to(now, tx, &req, 400, "Bad Request - Malformed dtmf-relay body"),
                    }
                } else {
                    // INFO for packages we do not use (e.g. media control): accept and ignore.
                    self.respond_to(now, tx, &req, 200, "OK");
                }
            }
            Method::Options => self.answer_options(now, tx, &req),
            Method::Notify => self.on_notify(now, tx, call, &req),
            Method::Prack => {
                let rack = req.headers().rack().ok().flatten();
                let invite_seq = c.invite.headers().cseq().map(|s| s.seq).ok();
                let matches = match (&c.rel_retx, rack) {
                    (Some(r), Some(ra)) => {
                        ra.rseq == r.rseq && Some(ra.cseq) == invite_seq && ra.method == Method::Invite
                    }
                    _ => false,
                };
                if matches {
                    c.rel_retx = None;
                    self.respond_to(now, tx, &req, 200, "OK");
                } else {
                    self.respond_to(now, tx, &req, 481, "Call/Transaction Does Not Exist");
                }
            }
            Method::Refer => self.respond_to(now, tx, &req, 403, "Forbidden - transfer not accepted"),
            _ => self.respond_to(now, tx, &req, 405, "Method Not Allowed"),
        }
    }

    fn on_notify(&mut self, now: Instant, tx: TxId, call: CallHandle, req: &Request) {
        let h = req.headers();
        let is_refer = h
            .event()
            .ok()
            .flatten()
            .is_some_and(|e| e.package.eq_ignore_ascii_case("refer"));
        if !is_refer {
            self.respond_to(now, tx, req, 489, "Bad Event");
            return;
        }
        self.respond_to(now, tx, req, 200, "OK");
        if let Some(code) = parse_sipfrag_status(req.body()) {
            let progress = match code {
                100..=199 => TransferProgress::Trying(code),
                200..=299 => TransferProgress::Succeeded(code),
                _ => TransferProgress::Failed(code),
            };
            self.events.push_back(UaEvent::Transfer { call, progress });
        }
    }

    fn answer_options(&mut self, now: Instant, tx: TxId, req: &Request) {
        let mut r = Response::from_request(req, 200, "OK");
        if !req.headers().to().is_ok_and(|t| t.tag().is_some()) {
            let tag = self.token();
            r.set_to_tag(&tag);
        }
        let h = r.headers_mut();
        h.push(HeaderName::Allow, ALLOW);
        h.push(HeaderName::Accept, ACCEPT);
        h.push(HeaderName::Supported, SUPPORTED);
        h.push(HeaderName::Server, self.cfg.user_agent.clone());
        let _ = self.txn.send_response(now, tx, r);
    }

    fn admit(&mut self, now: Instant, req: &Request, source: SocketAddr) -> Result<(), (u16, &'static str, bool)> {
        if let Some(acl) = &self.cfg.acl
            && !acl.permits(source.ip())
        {
            return Err((403, "Forbidden", false));
        }
        let default = if self.cfg.inbound_auth.is_some() {
            Admission::Challenge
        } else {
            Admission::Allow
        };
        let decision = match &mut self.admission {
            Some(hook) => hook(req, source),
            None => default,
        };
        match decision {
            Admission::Allow => Ok(()),
            Admission::Reject(code) => Err((code, reason_phrase(code), false)),
            Admission::Challenge => {
                let secs = self.secs(now);
                let Some(auth) = &self.cfg.inbound_auth else {
                    return Err((403, "Forbidden", false));
                };
                let Some(value) = req.headers().get(HeaderName::Authorization) else {
                    return Err((401, "Unauthorized", false));
                };
                let users = &auth.users;
                match auth.server.verify(
                    value,
                    req.method().as_str(),
                    req.uri_str(),
                    secs,
                    |u| users.get(u).cloned(),
                    &mut self.nonce_counts,
                ) {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_stale() => Err((401, "Unauthorized", true)),
                    Err(e) => Err((e.status_code(), reason_phrase(e.status_code()), false)),
                }
            }
        }
    }

    fn on_new_invite(&mut self, now: Instant, tx: TxId, req: Request, source: SocketAddr, transport: Transport) {
        if let Err((status, reason, stale)) = self.admit(now, &req, source) {
            let mut r = Response::from_request(&req, status, reason);
            let tag = self.token();
            r.set_to_tag(&tag);
            if status == 401 {
                let secs = self.secs(now);
                if let Some(auth) = &self.cfg.inbound_auth {
                    for ch in auth.server.challenges(secs, stale) {
                        r.headers_mut().push(HeaderName::WwwAuthenticate, ch.to_string());
                    }
                }
            }
            let _ = self.txn.send_response(now, tx, r);
            return;
        }
        let h = req.headers();
        // Extensions we cannot honour as UAS.
        if let Some(ext) = h
            .tokens(HeaderName::Require)
            .find(|t| !t.eq_ignore_ascii_case("timer") && !t.eq_ignore_ascii_case("100rel"))
        {
            let mut r = Response::from_request(&req, 420, "Bad Extension");
            let tag = self.token();
            r.set_to_tag(&tag);
            r.headers_mut().push(HeaderName::Unsupported, ext.to_owned());
            let _ = self.txn.send_response(now, tx, r);
            return;
        }
        // Session timer (RFC 4028 §9).
        let mut session = None;
        if let Ok(Some(se)) = h.session_expires() {
            if se.delta < self.cfg.min_se {
                let mut r = Response::from_request(&req, 422, "Session Interval Too Small");
                let tag = self.token();
                r.set_to_tag(&tag);
                r.headers_mut().push(HeaderName::MinSe, self.cfg.min_se.to_string());
                let _ = self.txn.send_response(now, tx, r);
                return;
            }
            let peer_supports = h.has_token(HeaderName::Supported, "timer");
            let we_refresh = match se.refresher {
                Some(Refresher::Uas) => true,
                Some(Refresher::Uac) => false,
                None => !peer_supports,
            };
            session = Some(SessionTimer {
                interval: se.delta,
                we_refresh,
                deadline: now + Duration::from_secs(u64::from(se.delta)),
            });
        }
        let Ok(call_id) = h.call_id().map(str::to_owned) else {
            self.respond_to(now, tx, &req, 400, "Bad Request - Malformed Call-ID header");
            return;
        };
        if !self.is_hairpin_or_new(&call_id, h.from().ok().and_then(|f| f.tag())) {
            // A new INVITE (different branch) for a Call-ID we already have: loop or merge.
            self.respond_to(now, tx, &req, 482, "Loop Detected");
            return;
        }
        let local_tag = self.token();
        let dialog = match Dialog::new_uas(&req, &local_tag, &self.contact()) {
            Ok(d) => d,
            Err(e) => {
                let reason = match e {
                    super::DialogError::MissingContact => "Bad Request - Missing Contact header",
                    super::DialogError::MissingTag => "Bad Request - Missing From tag",
                    _ => "Bad Request - Malformed header",
                };
                self.respond_to(now, tx, &req, 400, reason);
                return;
            }
        };
        let handle = self.new_handle();
        let offer = body_opt(req.body_bytes());
        let peer_allows_update = h
            .list(HeaderName::Allow)
            .flatten()
            .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"));
        self.by_call_id.entry(call_id.clone()).or_default().push(handle);
        self.invite_server_txs.insert(tx, handle);
        self.calls.insert(
            handle,
            Call {
                dialog: Some(dialog),
                session,
                peer_allows_update,
                late_offer: offer.is_none(),
                ..Call::new(
                    false,
                    call_id,
                    local_tag,
                    Target {
                        addr: source,
                        transport,
                    },
                    req.clone(),
                    tx,
                )
            },
        );
        self.events.push_back(UaEvent::IncomingCall {
            call: handle,
            request: req,
            source,
            offer,
        });
    }

    // ----- responses ------------------------------------------------------------------------

    /// Sends BYE in the call's dialog; the BYE outlives the call for digest retries.
    fn send_bye(&mut self, now: Instant, call: CallHandle) {
        let Ok(tx) = self.send_in_dialog(now, call, Method::Bye, None, |_| {}) else {
            return;
        };
        let Some(ct) = self.client_txs.remove(&tx) else { return };
        let Some(c) = self.calls.get(&call) else { return };
        let bye = ByeInFlight {
            request: ct.request,
            peer: c.peer,
            auth: c.auth.clone(),
        };
        self.byes.insert(tx, bye);
    }

    fn on_bye_response(&mut self, now: Instant, tx: TxId, resp: &Response) {
        let status = resp.status();
        if status != 401 && status != 407 {
            return;
        }
        let cnonce = self.token();
        let via = self.via();
        let Some(mut b) = self.byes.remove(&tx) else { return };
        let Some(auth) = &mut b.auth else { return };
        let Some(mut req) = authorized_retry(auth, &b.request, resp, &cnonce, &via, None) else {
            return;
        };
        let seq = b.request.headers().cseq().map(|s| s.seq + 1).unwrap_or(1);
        req.headers_mut().set(HeaderName::CSeq, format!("{seq} BYE"));
        if let Ok(new_tx) = self.txn.send_request(now, req.clone(), b.peer) {
            self.byes.insert(
                new_tx,
                ByeInFlight {
                    request: req,
                    peer: b.peer,
                    auth: b.auth,
                },
            );
        }
    }

    fn on_response(&mut self, now: Instant, tx: Option<TxId>, resp: Response) {
        if let Some(t) = tx
            && self.byes.contains_key(&t)
        {
            self.on_bye_response(now, t, &resp);
            return;
        }
        let Ok(cseq) = resp.headers().cseq() else { return };
        let client = tx.and_then(|t| self.client_txs.get(&t).cloned());
        let call = match &client {
            Some(c) => c.call,
            None => {
                // Stray: only 2xx retransmissions to an INVITE matter (re-send our ACK).
                if cseq.method == Method::Invite && (200..300).contains(&resp.status()) {
                    let from_tag = resp.headers().from().ok().and_then(|f| f.tag());
                    let id = resp
                        .headers()
                        .call_id()
                        .ok()
                        .and_then(|id| self.call_by_tag(id, from_tag));
                    if let Some(call) = id {
                        self.resend_ack_or_bye(now, call, &resp);
                    }
                }
                return;
            }
        };
        let status = resp.status();
        if (status == 401 || status == 407) && self.retry_with_auth(now, tx.expect("client"), &resp) {
            return;
        }
        if let Some(c) = self.calls.get_mut(&call)
            && status != 401
            && status != 407
            && let Some(a) = &mut c.auth
        {
            a.request_accepted();
        }
        match cseq.method {
            Method::Invite => {
                let is_initial = self.calls.get(&call).is_some_and(|c| c.outbound && c.invite_tx == tx);
                if is_initial {
                    self.on_invite_response(now, call, resp);
                } else {
                    self.on_reinvite_response(now, call, tx, resp);
                }
            }
            Method::Update => self.on_reinvite_response(now, call, tx, resp),
            Method::Refer if status >= 200 => {
                let progress = if status < 300 {
                    TransferProgress::Accepted
                } else {
                    TransferProgress::Failed(status)
                };
                self.events.push_back(UaEvent::Transfer { call, progress });
            }
            Method::Options if status >= 200 => {
                self.events.push_back(UaEvent::OptionsResponse { call, status });
            }
            _ => {}
        }
    }

    fn retry_with_auth(&mut self, now: Instant, tx: TxId, resp: &Response) -> bool {
        let Some(ct) = self.client_txs.get(&tx).cloned() else {
            return false;
        };
        let cnonce = self.token();
        let via = self.via();
        let Some(c) = self.calls.get_mut(&ct.call) else {
            return false;
        };
        // New CSeq (the dialog's next one in a dialog, else +1), same Call-ID and tags.
        let initial_invite = c.outbound && c.invite_tx == Some(tx);
        let seq = match c.dialog.as_mut() {
            Some(d) if !initial_invite => Some(d.next_seq()),
            _ => None,
        };
        let Some(auth) = &mut c.auth else { return false };
        let Some(req) = authorized_retry(auth, &ct.request, resp, &cnonce, &via, seq) else {
            return false;
        };
        let peer = c.peer;
        let was_offer = c.our_offer.as_ref().is_some_and(|o| o.0 == tx);
        match self.send_client(now, ct.call, req.clone(), peer) {
            Ok(new_tx) => {
                let c = self.calls.get_mut(&ct.call).expect("present");
                if initial_invite {
                    c.invite = req;
                    c.invite_tx = Some(new_tx);
                }
                if was_offer && let Some(o) = &mut c.our_offer {
                    o.0 = new_tx;
                }
                true
            }
            Err(_) => false,
        }
    }

    fn resend_ack_or_bye(&mut self, now: Instant, call: CallHandle, resp: &Response) {
        let Some(c) = self.calls.get(&call) else { return };
        let tag = resp.headers().to().ok().and_then(|t| t.tag().map(str::to_owned));
        let ours = c
            .dialog
            .as_ref()
            .is_some_and(|d| Some(&d.id().remote_tag) == tag.as_ref());
        if ours {
            if let Some(ack) = c.ack.clone() {
                let peer = c.peer;
                self.txn.send_stateless(ack, peer);
            }
            return;
        }
        // A 2xx from another fork after we confirmed one: ACK it and BYE it (RFC 3261 §13.2.2.4).
        let Ok(mut d) = Dialog::new_uac(&c.invite, resp, &self.contact()) else {
            return;
        };
        let peer = c.peer;
        let seq = c.invite.headers().cseq().map(|s| s.seq).unwrap_or(1);
        let mut ack = d.create_request_with_seq(Method::Ack, seq);
        ack.headers_mut().insert(
            0,
            HeaderName::Via,
            format!("{};branch=z9hG4bK{}", self.via(), self.token()),
        );
        ack.set_body(None, "");
        self.txn.send_stateless(ack, peer);
        let mut bye = d.create_request(Method::Bye);
        bye.headers_mut().insert(0, HeaderName::Via, self.via());
        bye.set_body(None, "");
        let _ = self.txn.send_request(now, bye, peer);
    }

    fn on_invite_response(&mut self, now: Instant, call: CallHandle, resp: Response) {
        let status = resp.status();
        let contact = self.contact();
        let via = self.via();
        let Some(c) = self.calls.get_mut(&call) else { return };
        let to_tag = resp.headers().to().ok().and_then(|t| t.tag().map(str::to_owned));
        if status < 200 {
            if status == 100 {
                return;
            }
            c.got_provisional = true;
            if let Some(tag) = &to_tag {
                if !c.early.iter().any(|d| &d.id().remote_tag == tag)
                    && let Ok(d) = Dialog::new_uac(&c.invite, &resp, &contact)
                {
                    c.early.push(d);
                }
                c.phase = Phase::Early;
                // Reliable provisional (RFC 3262): PRACK it once per RSeq.
                let reliable = resp.headers().has_token(HeaderName::Require, "100rel");
                if reliable && let Ok(Some(rseq)) = resp.headers().rseq() {
                    let last = c.prack_rseq.get(tag).copied();
                    if last.is_none_or(|l| rseq > l) {
                        c.prack_rseq.insert(tag.clone(), rseq);
                        let invite_seq = c.invite.headers().cseq().map(|s| s.seq).unwrap_or(1);
                        if let Some(d) = c.early.iter_mut().find(|d| &d.id().remote_tag == tag) {
                            let _ = d.refresh_target(resp.headers());
                            let mut prack = d.create_request(Method::Prack);
                            prack.headers_mut().insert(0, HeaderName::Via, via.clone());
                            prack
                                .headers_mut()
                                .push(HeaderName::RAck, format!("{rseq} {invite_seq} INVITE"));
                            prack.set_body(None, "");
                            let peer = c.peer;
                            let _ = self.send_client(now, call, prack, peer);
                        }
                    } else {
                        return; // retransmission of a reliable provisional
                    }
                }
            }
            let c = self.calls.get_mut(&call).expect("present");
            if c.cancel_requested && !c.cancel_sent {
                self.send_cancel(now, call);
            }
            let body = body_opt(resp.body_bytes());
            self.events.push_back(UaEvent::Progress { call, status, body });
            return;
        }
        if status < 300 {
            if c.dialog.is_some() {
                self.resend_ack_or_bye(now, call, &resp);
                return;
            }
            let dialog = match to_tag
                .as_ref()
                .and_then(|t| c.early.iter().position(|d| &d.id().remote_tag == t))
            {
                Some(i) => {
                    let mut d = c.early.swap_remove(i);
                    if d.confirm(Some(&resp)).is_err() {
                        return;
                    }
                    Ok(d)
                }
                None => Dialog::new_uac(&c.invite, &resp, &contact),
            };
            let Ok(dialog) = dialog else {
                // A 2xx we cannot build a dialog from (no To tag / Contact): treat as an error.
                self.end_call(call, EndReason::Outbound(OutboundOutcome::Error { code: status }));
                return;
            };
            c.dialog = Some(dialog);
            c.early.clear();
            c.peer_allows_update = resp
                .headers()
                .list(HeaderName::Allow)
                .flatten()
                .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"));
            if let Ok(Some(se)) = resp.headers().session_expires() {
                let we_refresh = se.refresher != Some(Refresher::Uas);
                // A peer's interval below our floor (even 0) is clamped, never a busy loop.
                let interval = se.delta.max(self.cfg.min_se).max(90);
                c.session = Some(SessionTimer {
                    interval,
                    we_refresh,
                    deadline: session_deadline(now, interval, we_refresh),
                });
            }
            let body = body_opt(resp.body_bytes());
            let needs_ack_answer = c.late_offer && body.is_some();
            let seq = c.invite.headers().cseq().map(|s| s.seq).unwrap_or(1);
            let cancel = c.cancel_requested;
            if needs_ack_answer {
                c.phase = Phase::Answered;
            } else {
                c.phase = Phase::Confirmed;
                self.send_ack(call, seq, None);
            }
            self.events.push_back(UaEvent::Answered {
                call,
                body,
                needs_ack_answer,
            });
            if cancel && !needs_ack_answer {
                let _ = self.hangup(now, call);
            }
            return;
        }
        // 422: retry once with the larger interval (RFC 4028 §7.4).
        if status == 422
            && !c.se_retry_done
            && let Ok(Some(min)) = resp.headers().min_se()
        {
            c.se_retry_done = true;
            let mut req = c.invite.clone();
            let seq = req.headers().cseq().map(|s| s.seq + 1).unwrap_or(2);
            let h = req.headers_mut();
            h.set(HeaderName::CSeq, format!("{seq} INVITE"));
            h.set(HeaderName::SessionExpires, min.to_string());
            h.set(HeaderName::MinSe, min.to_string());
            h.remove(HeaderName::Via);
            h.insert(0, HeaderName::Via, via);
            let peer = c.peer;
            if let Ok(tx) = self.send_client(now, call, req.clone(), peer) {
                let c = self.calls.get_mut(&call).expect("present");
                c.invite = req;
                c.invite_tx = Some(tx);
                return;
            }
        }
        let c = self.calls.get(&call).expect("present");
        let outcome = OutboundOutcome::from_final_status(status, c.cancel_sent);
        self.end_call(call, EndReason::Outbound(outcome));
    }

    fn on_reinvite_response(&mut self, now: Instant, call: CallHandle, tx: Option<TxId>, resp: Response) {
        let status = resp.status();
        if status < 200 {
            return;
        }
        let t1 = self.cfg.transaction.t1;
        let Some(c) = self.calls.get_mut(&call) else { return };
        let Some((otx, method, body)) = c.our_offer.clone() else {
            // 2xx retransmission of a re-INVITE we already acknowledged.
            if (200..300).contains(&status) && c.dialog.is_some() {
                self.resend_ack_or_bye(now, call, &resp);
            }
            return;
        };
        if Some(otx) != tx {
            return;
        }
        c.our_offer = None;
        let refresh = std::mem::take(&mut c.session_refresh_in_flight);
        if method == Method::Invite && (200..300).contains(&status) {
            let seq = resp.headers().cseq().map(|s| s.seq).unwrap_or(0);
            if let Some(d) = &mut c.dialog {
                let _ = d.refresh_target(resp.headers());
            }
            self.send_ack(call, seq, None);
        }
        let c = self.calls.get_mut(&call).expect("present");
        if method == Method::Update
            && (200..300).contains(&status)
            && let Some(d) = &mut c.dialog
        {
            let _ = d.refresh_target(resp.headers());
        }
        if status == 491 {
            // Glare: RFC 3261 §14.1 back-off; the Call-ID owner waits 2.1–4 s, the other 0–2 s.
            let r = self.rand();
            let c = self.calls.get_mut(&call).expect("present");
            let ms = if c.outbound { 2100 + r % 1900 } else { r % 2000 };
            let ms = ms.max(t1.as_millis() as u64 / 50);
            c.glare = Some(GlareRetry {
                at: now + Duration::from_millis(ms),
                method,
                body,
            });
            c.session_refresh_in_flight = refresh;
            return;
        }
        if (200..300).contains(&status) {
            if let Ok(Some(se)) = resp.headers().session_expires() {
                // We were the UAC of this request: refresher=uac is us.
                let we_refresh = se.refresher != Some(Refresher::Uas);
                // A peer's interval below our floor (even 0) is clamped, never a busy loop.
                let interval = se.delta.max(self.cfg.min_se).max(90);
                c.session = Some(SessionTimer {
                    interval,
                    we_refresh,
                    deadline: session_deadline(now, interval, we_refresh),
                });
            } else if let Some(s) = &mut c.session {
                s.deadline = session_deadline(now, s.interval, s.we_refresh);
            }
            if let Some(s) = &c.session {
                let interval = s.interval;
                self.events.push_back(UaEvent::SessionRefreshed { call, interval });
            }
        } else if matches!(status, 408 | 481) {
            // RFC 3261 §14.1: the dialog is gone.
            self.send_bye(now, call);
            self.events.push_back(UaEvent::OfferAnswered {
                call,
                method,
                status,
                body: None,
            });
            self.end_call(call, EndReason::Outbound(OutboundOutcome::Error { code: status }));
            return;
        }
        if !refresh {
            let body = body_opt(resp.body_bytes());
            self.events.push_back(UaEvent::OfferAnswered {
                call,
                method,
                status,
                body,
            });
        }
    }
}

/// `sent` again with credentials answering the 401/407 `resp`: CSeq `seq` (default: +1), a fresh
/// Via (the layer adds the branch), old credentials replaced. `None` when the challenge cannot or
/// must not be answered (no Digest, or the same credentials were already rejected).
fn authorized_retry(
    auth: &mut DigestClient,
    sent: &Request,
    resp: &Response,
    cnonce: &str,
    via: &str,
    seq: Option<u32>,
) -> Option<Request> {
    let (kind, name) = if resp.status() == 401 {
        (ChallengeKind::Www, HeaderName::WwwAuthenticate)
    } else {
        (ChallengeKind::Proxy, HeaderName::ProxyAuthenticate)
    };
    let challenges: Vec<&[u8]> = resp.headers().auth_values(name).collect();
    let areq = crate::auth::Request {
        method: sent.method().as_str(),
        uri: sent.uri_str(),
        body: Some(sent.body()),
    };
    let headers = auth.respond(kind, &challenges, &areq, cnonce).ok()?;
    let mut req = sent.clone();
    let seq = seq.unwrap_or_else(|| sent.headers().cseq().map(|s| s.seq + 1).unwrap_or(1));
    let h = req.headers_mut();
    h.set(HeaderName::CSeq, format!("{seq} {}", sent.method().as_str()));
    h.remove(HeaderName::Via);
    h.insert(0, HeaderName::Via, via.to_owned());
    h.remove(HeaderName::Authorization);
    h.remove(HeaderName::ProxyAuthorization);
    for a in headers {
        let n = if a.kind == ChallengeKind::Www {
            HeaderName::Authorization
        } else {
            HeaderName::ProxyAuthorization
        };
        h.push(n, a.credentials.to_string());
    }
    Some(req)
}

/// When the session timer fires: refresh at half the interval (refresher), or expire at the
/// interval minus min(32 s, interval/3) (RFC 4028 §10).
fn session_deadline(now: Instant, interval: u32, we_refresh: bool) -> Instant {
    let i = u64::from(interval);
    if we_refresh {
        now + Duration::from_secs(i / 2)
    } else {
        now + Duration::from_secs(i - (i / 3).min(32))
    }
}

fn expiry_after_refresh_sent(interval: u32) -> Duration {
    // After sending our refresh at interval/2, the session still expires at the usual point.
    let i = u64::from(interval);
    Duration::from_secs(i / 2 - (i / 3).min(32).min(i / 2))
}

fn method_op(m: &Method) -> &'static str {
    match m {
        Method::Invite => "re-INVITE",
        Method::Update => "UPDATE",
        Method::Bye => "BYE",
        Method::Refer => "REFER",
        Method::Info => "INFO",
        Method::Options => "OPTIONS",
        _ => "request",
    }
}

fn escape_uri_header(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 8);
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The standard reason phrase for the statuses the UA sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}
