//! RFC 3261 §17 transactions (with the RFC 6026 `Accepted` states), sans-IO.
//!
//! One [`TransactionLayer`] per shard holds every client and server transaction. Time comes in as
//! a value and effects go out through polls, as in quinn-proto and str0m:
//!
//! ```text
//! layer.handle_datagram(now, bytes, source, transport)   // or handle_input(now, Message, ..)
//! layer.send_request(now, request, Target{addr, transport}) -> Result<TxId, TxError>
//! layer.send_response(now, tx, response) -> Result<(), TxError>
//! layer.handle_timeout(now)                               // when poll_timeout() is due
//! while let Some(t) = layer.poll_transmit() { socket.send_to(&t.payload, t.destination) }
//! while let Some(e) = layer.poll_event()    { tu.handle(e) }
//! let next_wakeup = layer.poll_timeout();
//! ```
//!
//! Timers: each transaction has an enum-indexed timer table (quinn-proto `TimerTable` style), and
//! the layer keeps a binary heap of `(deadline, transaction, generation)` entries with lazy
//! invalidation, so the next deadline of thousands of transactions costs O(log n).
//! Retransmission timers (A, E, G) run only over unreliable transports; the wait timers
//! (D, I, J, K) are zero over reliable ones (the transaction ends at once).
//!
//! Matching: responses by top-Via branch + CSeq method (§17.1.3); requests by branch + sent-by +
//! method, ACK matching the INVITE (§17.2.3); RFC 2543 fallback (no `z9hG4bK` cookie) by
//! Request-URI, From tag, To tag, Call-ID, CSeq number and top Via. CANCEL is its own server
//! transaction; [`TxEvent::Cancel`] names the INVITE server transaction it targets.

mod client;
mod key;
mod layer;
mod server;
mod timers;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

pub use layer::TransactionLayer;
pub use timers::Timer;

use crate::error::ParseError;
use crate::header::{HeaderName, Transport};
use crate::message::{Limits, Method, Request, Response};

/// The RFC 3261 magic cookie that starts every branch this layer generates.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Layer settings. `Config::default()` gives the RFC 3261 values.
#[derive(Debug, Clone)]
pub struct Config {
    /// T1, RTT estimate (500 ms).
    pub t1: Duration,
    /// T2, maximum retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// T4, maximum time a message stays in the network (5 s).
    pub t4: Duration,
    /// Timer D over unreliable transports (32 s; at least 32 s per RFC 3261).
    pub timer_d: Duration,
    /// Send `100 Trying` for an INVITE if the TU has not responded within this time
    /// (200 ms, RFC 3261 §17.2.1); `None` disables it.
    pub trying_delay: Option<Duration>,
    /// Safety limit on how long an INVITE server transaction waits for the TU's final response,
    /// and an INVITE client transaction in Proceeding waits for a final response (RFC 3261 has
    /// no timer there; this bounds memory). On expiry: [`TxEvent::Timeout`] with [`Timer::Guard`].
    pub invite_guard: Duration,
    /// Most concurrent transactions. Beyond it `send_request` fails with
    /// [`TxError::TooManyTransactions`] and new incoming requests get a stateless `503`.
    pub max_transactions: usize,
    /// `Retry-After` (seconds) in the stateless 503 sent when the limit is reached.
    pub retry_after: Option<u32>,
    /// Seed mixed into generated branches (give each layer/process a random one).
    pub branch_seed: u64,
    /// Parser limits for [`TransactionLayer::handle_datagram`].
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            trying_delay: Some(Duration::from_millis(200)),
            invite_guard: Duration::from_secs(300),
            max_transactions: 65_536,
            retry_after: Some(5),
            branch_seed: 0x5eed_cb0f_00d5_1a7e,
            limits: Limits::default(),
        }
    }
}

/// Handle of one transaction. Stale handles (the transaction ended) are detected: the slot's
/// generation must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Where to send a request: address and transport (the I/O layer owns sockets/connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// Destination address (for stream transports: the peer of the connection to use/open).
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
}

/// A datagram / stream write to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address.
    pub destination: SocketAddr,
    /// Transport to send it over.
    pub transport: Transport,
    /// The encoded message.
    pub payload: Bytes,
    /// The transaction that sent it (`None` for stateless sends); report a failed send with
    /// [`TransactionLayer::handle_transport_error`].
    pub tx: Option<TxId>,
}

/// Which of the four RFC 3261 state machines a transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// INVITE client transaction (§17.1.1).
    InviteClient,
    /// Non-INVITE client transaction (§17.1.2).
    NonInviteClient,
    /// INVITE server transaction (§17.2.1).
    InviteServer,
    /// Non-INVITE server transaction (§17.2.2).
    NonInviteServer,
}

impl TxKind {
    /// Whether this is a client transaction.
    pub fn is_client(self) -> bool {
        matches!(self, TxKind::InviteClient | TxKind::NonInviteClient)
    }
}

/// Transaction states (RFC 3261 §17, RFC 6026 `Accepted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    /// INVITE client: request sent, no response yet.
    Calling,
    /// Non-INVITE client/server: request sent/received, no response yet.
    Trying,
    /// A provisional response was received/sent.
    Proceeding,
    /// A final (INVITE: non-2xx) response was received/sent; absorbing retransmissions.
    Completed,
    /// RFC 6026: a 2xx to an INVITE was received/sent.
    Accepted,
    /// INVITE server: the ACK for a non-2xx final response arrived.
    Confirmed,
    /// Finished (only seen in [`TxEvent::Terminated`]; the handle is stale afterwards).
    Terminated,
}

/// What the layer tells the transaction user. Drain with [`TransactionLayer::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEvent {
    /// A new request created a server transaction (any method but ACK and CANCEL). The top Via
    /// already carries `received`/`rport` (RFC 3581) when needed. Answer with
    /// [`TransactionLayer::send_response`].
    NewRequest {
        /// The new server transaction.
        tx: TxId,
        /// The request.
        request: Request,
        /// Source address.
        source: SocketAddr,
        /// Transport it came over.
        transport: Transport,
    },
    /// A CANCEL created its own server transaction `tx`; `invite_tx` is the INVITE server
    /// transaction it matches (§9.2), if any. The TU answers the CANCEL on `tx` (200, or 481 when
    /// `invite_tx` is `None`) and the INVITE with 487 on `invite_tx`.
    Cancel {
        /// The CANCEL's own server transaction.
        tx: TxId,
        /// The INVITE server transaction being cancelled.
        invite_tx: Option<TxId>,
        /// The CANCEL request.
        request: Request,
        /// Source address.
        source: SocketAddr,
        /// Transport.
        transport: Transport,
    },
    /// An ACK matched an INVITE server transaction in the RFC 6026 `Accepted` state (the ACK for
    /// a 2xx reusing the INVITE branch, or an RFC 2543 client): it belongs to the TU.
    Ack {
        /// The INVITE server transaction (in Accepted).
        invite_tx: TxId,
        /// The ACK.
        request: Request,
        /// Source address.
        source: SocketAddr,
        /// Transport.
        transport: Transport,
    },
    /// An ACK that matched no transaction: normally the ACK for a 2xx (its own transaction in
    /// RFC 3261 terms), for the dialog layer.
    StrayAck {
        /// The ACK.
        request: Request,
        /// Source address.
        source: SocketAddr,
        /// Transport.
        transport: Transport,
    },
    /// A response for a client transaction (provisional, final, and in `Accepted` every 2xx
    /// retransmission or forked 2xx, which the TU must ACK again).
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        response: Response,
    },
    /// A response that matched no client transaction (e.g. a 2xx retransmission after the
    /// INVITE client transaction ended: the UA core re-sends its ACK).
    StrayResponse {
        /// The response.
        response: Response,
        /// Source address.
        source: SocketAddr,
        /// Transport.
        transport: Transport,
    },
    /// A transaction timed out (B, F, H, or the [`Timer::Guard`] safety limit). For client
    /// transactions `response` is the locally generated `408 Request Timeout` the TU should treat
    /// as the final response (RFC 3261 §8.1.3.1; see [`timeout_response`]).
    Timeout {
        /// The transaction.
        tx: TxId,
        /// Which timer fired.
        timer: Timer,
        /// 408 for client transactions, `None` for server transactions.
        response: Option<Response>,
    },
    /// Sending failed (reported through [`TransactionLayer::handle_transport_error`]). For client
    /// transactions `response` is a locally generated `503 Service Unavailable` (§8.1.3.1).
    TransportError {
        /// The transaction.
        tx: TxId,
        /// 503 for client transactions, `None` for server transactions.
        response: Option<Response>,
    },
    /// The transaction ended; its handle is stale from now on.
    Terminated {
        /// The transaction.
        tx: TxId,
        /// Its kind.
        kind: TxKind,
    },
    /// A new request arrived while [`Config::max_transactions`] were open: a stateless `503`
    /// was sent (none for ACK).
    Overloaded {
        /// The request's method.
        method: Method,
        /// Source address.
        source: SocketAddr,
        /// Transport.
        transport: Transport,
    },
    /// Input that could not be handled (unparsable datagram, request without a usable
    /// Via/CSeq/Call-ID). A `400` (or 413/414/416/505) was sent statelessly when possible.
    Malformed {
        /// What is wrong.
        error: ParseError,
        /// Source address.
        source: SocketAddr,
        /// Transport.
        transport: Transport,
    },
}

/// Errors from the TU-facing calls of [`TransactionLayer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// [`Config::max_transactions`] transactions are open (a server would answer 503).
    #[error("transaction limit reached ({limit} concurrent transactions)")]
    TooManyTransactions {
        /// The configured limit.
        limit: usize,
    },
    /// The handle names no live transaction.
    #[error("unknown or terminated transaction {tx:?}")]
    UnknownTransaction {
        /// The stale handle.
        tx: TxId,
    },
    /// The operation needs another kind of transaction (e.g. a response on a client transaction).
    #[error("operation not valid on a {kind:?} transaction")]
    WrongKind {
        /// The transaction's kind.
        kind: TxKind,
    },
    /// ACK is never sent in a client transaction: the transaction sends the ACK for non-2xx
    /// itself and the TU sends the ACK for 2xx with [`TransactionLayer::send_stateless`].
    #[error("ACK is not sent in a client transaction")]
    AckNotAllowed,
    /// The top Via `branch` supplied by the caller does not start with the magic cookie
    /// `z9hG4bK` (RFC 3261 §8.1.1.7); leave it out and the layer generates one.
    #[error("Via branch lacks the z9hG4bK magic cookie")]
    InvalidBranch,
    /// The request has no top Via to put the branch in (the TU writes the sent-by).
    #[error("request has no Via header")]
    MissingVia,
    /// A header the transaction layer needs is missing or malformed.
    #[error("invalid message: {0}")]
    Invalid(#[source] ParseError),
    /// The branch (with this method) is already used by a live client transaction.
    #[error("branch already used by a live {method} client transaction")]
    DuplicateBranch {
        /// The method.
        method: Method,
    },
    /// The response's status is not allowed in the transaction's current state (e.g. a second
    /// final response, or a status outside 100..=699).
    #[error("status {status} not allowed in state {state:?}")]
    InvalidStatus {
        /// Status code offered.
        status: u16,
        /// Transaction state.
        state: TxState,
    },
    /// The response's CSeq method does not match the transaction's request.
    #[error("response CSeq method {found} does not match the transaction ({expected})")]
    MethodMismatch {
        /// The transaction's method.
        expected: Method,
        /// The method in the response's CSeq.
        found: Method,
    },
}

/// The response a client TU should act on when its transaction times out: `408 Request Timeout`
/// built from the request (RFC 3261 §8.1.3.1).
pub fn timeout_response(request: &Request) -> Response {
    Response::from_request(request, 408, "Request Timeout")
}

/// The response a client TU should act on after a transport error: `503 Service Unavailable`
/// (RFC 3261 §8.1.3.1).
pub fn transport_error_response(request: &Request) -> Response {
    Response::from_request(request, 503, "Service Unavailable")
}

/// Builds the CANCEL for `invite` per RFC 3261 §9.1: same Request-URI, Call-ID, From, To,
/// CSeq number and Route fields, the INVITE's top Via only (same branch), `Max-Forwards: 70`.
/// Send it with [`TransactionLayer::send_request`] to the INVITE's target.
pub fn cancel_for(invite: &Request) -> Result<Request, TxError> {
    let h = invite.headers();
    let cseq = h.cseq().map_err(TxError::Invalid)?;
    let via = h
        .list(HeaderName::Via)
        .next()
        .ok_or(TxError::MissingVia)?
        .map_err(TxError::Invalid)?;
    let mut c = Request::new(Method::Cancel, invite.uri_str())
        .map_err(|e| TxError::Invalid(ParseError::MalformedRequestUri(e)))?;
    let ch = c.headers_mut();
    ch.push(HeaderName::Via, crate::header::HeaderValue::copy_from(via));
    ch.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        ch.copy_from(h, name);
    }
    ch.push(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
    ch.copy_from(h, HeaderName::Route);
    c.set_body(None, "");
    Ok(c)
}
