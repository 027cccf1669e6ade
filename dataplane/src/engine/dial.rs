//! Outbound calls: `POST /internal/v1/dial` → the shard places an INVITE through the trunk.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use cxb_model::{DialAccepted, DialRequest};
use cxb_sip::dialog::OutboundCall;
use cxb_sip::sdp::{AudioSession, LocalCapabilities};

use super::calls::Shard;
use super::route;

/// Why a dial request was refused before any INVITE left.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// A field is invalid (HTTP 422 naming it).
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted field path.
        field: std::borrow::Cow<'static, str>,
        /// What is wrong.
        message: String,
    },
    /// The bot does not exist.
    #[error("unknown bot {0}")]
    UnknownBot(String),
    /// No shard capacity or RTP port left (HTTP 503).
    #[error("no capacity")]
    NoCapacity,
    /// The shard is stopping or gone.
    #[error("dataplane is shutting down")]
    ShuttingDown,
    /// The user agent refused the INVITE (bad URI …).
    #[error("cannot send INVITE: {0}")]
    Sip(#[from] cxb_sip::dialog::UaError),
}

/// Sends the INVITE for `req` from `shard`.
pub(super) fn place(shard: &mut Shard, req: DialRequest) -> Result<DialAccepted, DialError> {
    req.validate().map_err(|e| DialError::Invalid {
        field: e.field,
        message: e.message,
    })?;
    let bot = shard
        .routing_bot(&req.bot_id)
        .ok_or_else(|| DialError::UnknownBot(req.bot_id.clone()))?;
    if shard.stopping() {
        return Err(DialError::ShuttingDown);
    }
    if !shard.has_capacity() {
        return Err(DialError::NoCapacity);
    }
    let trunk = req.trunk.clone().ok_or(DialError::Invalid {
        field: "trunk".into(),
        message: "no trunk given and no default trunk configured".into(),
    })?;
    let destination: SocketAddr = trunk.address.parse().map_err(|_| DialError::Invalid {
        field: "trunk.address".into(),
        message: "must be IP:port (DNS SRV/NAPTR resolution is not implemented yet)".into(),
    })?;
    let from_user = req
        .from_number
        .clone()
        .or_else(|| trunk.caller_id.clone())
        .unwrap_or_else(|| "cxb".into());
    let credentials = trunk
        .username
        .clone()
        .map(|u| (u, trunk.password.clone().unwrap_or_default()));
    let (_, session_id) = invite(shard, bot, &req.to_number, destination, from_user, credentials, |c| {
        c.crm.extend(req.variables.clone());
    })?;
    Ok(DialAccepted {
        session_id,
        shard: shard.id() as u32,
    })
}

/// Sends an INVITE for `to_user` to `destination` (a trunk or a transfer target) on behalf of
/// `bot`, with media sockets and an SDP offer, and hands the call to the shard; `prepare` sets
/// up the call before the shard adopts it. Returns the call's handle and session id.
pub(super) fn invite(
    shard: &mut Shard,
    bot: cxb_model::BotConfig,
    to_user: &str,
    destination: SocketAddr,
    from_user: String,
    credentials: Option<(String, String)>,
    prepare: impl FnOnce(&mut super::call::Call),
) -> Result<(cxb_sip::dialog::CallHandle, String), DialError> {
    let now = Instant::now();
    let (port, (sockets, rtp_rx, rtcp_rx)) = shard.bind_media().ok_or(DialError::NoCapacity)?;
    let public = shard.public_ip();
    let host_port = match destination.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", destination.port()),
        ip => format!("{ip}:{}", destination.port()),
    };
    let mut caps = LocalCapabilities::new(public, port);
    caps.session_name = "cxb".into();
    let mut sdp = AudioSession::new(caps, shard.random() >> 1, 1);
    let offer = Bytes::from(sdp.create_offer().to_string());
    let call_id = route::mint_call_id(shard.id(), shard.shards(), &public.to_string(), || shard.random());
    let out = OutboundCall {
        request_uri: format!("sip:{to_user}@{host_port}"),
        from: format!("<sip:{from_user}@{}>", public_host(public)),
        to: format!("<sip:{to_user}@{host_port}>"),
        destination,
        offer: Some(offer),
        extra_headers: Vec::new(),
        credentials,
        call_id: Some(call_id),
    };
    let handle = match shard.ua_invite(now, out) {
        Ok(h) => h,
        Err(e) => {
            shard.give_port(port);
            return Err(e.into());
        }
    };
    let mut c = shard.new_outbound_call(now, bot, from_user, to_user.to_owned());
    c.sdp = sdp;
    c.peer = Some(destination);
    c.event(cxb_model::record::CallEventKind::Invite, format!("to {to_user}"));
    prepare(&mut c);
    let session_id = c.session_id.clone();
    shard.adopt_call(handle, c, sockets, rtp_rx, rtcp_rx);
    Ok((handle, session_id))
}

fn public_host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    }
}
