//! Dialogs and the user-agent core (RFC 3261 §12–§15, RFC 3262, RFC 3311, RFC 3515, RFC 4028).
//!
//! - [`Dialog`]: dialog id, CSeq spaces, remote target, route set, requests inside a dialog.
//! - [`UserAgent`]: the sans-IO user-agent core over the transaction layer.
//! - [`OutboundOutcome`]: final response of an outbound call → `rejected` / `no_answer` / `error`.
//!
//! Driving a [`UserAgent`] (one per shard; the shard owns sockets and the clock):
//!
//! ```text
//! let mut ua = UserAgent::new(UaConfig { local_addr, transport, seed: random, ..UaConfig::new(local_addr) });
//! ua.handle_datagram(now, bytes, source, Transport::Udp);     // UDP; TCP/TLS: StreamFramer -> ua.handle_message(..)
//! ua.handle_timeout(now);                                      // whenever now >= ua.poll_timeout()
//! while let Some(t) = ua.poll_transmit() { send(t.destination, t.transport, &t.payload) }
//! while let Some(e) = ua.poll_event() { match e {
//!     UaEvent::IncomingCall { call, request, source, offer } => { ua.respond(now, call, 180, None)?;
//!                                                                ua.respond(now, call, 200, Some(sdp))?; }
//!     UaEvent::Confirmed { call, answer }        => media may flow (answer = SDP when the INVITE had none)
//!     UaEvent::Progress / Answered / Ended { reason } / OfferReceived / Dtmf / Transfer / ...
//! } }
//! let call = ua.invite(now, OutboundCall { request_uri, from, to, destination, offer, extra_headers, credentials, call_id: None })?;
//! ua.hangup(now, call)?;  ua.reinvite(now, call, Some(hold_sdp))?;  ua.refer(now, call, "sip:agent@pbx", None)?;
//! ```
//!
//! Requests inside a dialog go to the address the call was set up with (the trunk/proxy we sent
//! the INVITE to, or the source of the inbound INVITE: symmetric signalling, what trunks and
//! Kamailio expect); the Request-URI and Route headers follow the dialog's remote target and
//! route set.

mod outcome;
mod state;
#[cfg(test)]
mod tests;
mod ua;

pub use outcome::OutboundOutcome;
pub use state::{Dialog, DialogId, DialogState, Role};
pub use ua::{
    ACCEPT, ALLOW, Admission, AdmissionHook, CallHandle, EndReason, InboundAuth, OutboundCall, Phase, SUPPORTED,
    TransferProgress, UaConfig, UaError, UaEvent, UserAgent, parse_dtmf_relay, parse_sipfrag_status, reason_phrase,
};

use crate::error::ParseError;

/// Why a message could not be applied to a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the dialog needs is malformed.
    #[error("malformed header: {0}")]
    Malformed(ParseError),
    /// From (request) or To (response) has no tag.
    #[error("missing dialog tag")]
    MissingTag,
    /// The dialog-creating message has no Contact.
    #[error("missing Contact")]
    MissingContact,
    /// A request with a CSeq not above the last one received (RFC 3261 §12.2.2: 500).
    #[error("CSeq {received} not above the last received {last}")]
    CSeqOutOfOrder {
        /// The request's CSeq number.
        received: u32,
        /// The highest seen before.
        last: u32,
    },
}

impl DialogError {
    /// The response status for a request that failed this way.
    pub fn status_code(&self) -> u16 {
        match self {
            DialogError::CSeqOutOfOrder { .. } => 500,
            _ => 400,
        }
    }
}
