//! `GET /ws/{bot_id}`: a call over a WebSocket media stream (Twilio Media Streams JSON).
//!
//! The upgrade is refused before it happens: `401` without the shared secret (as
//! `Authorization: Bearer <secret>` or, since telephony providers cannot set headers,
//! `?token=<secret>`), `404` for an unknown bot, `403` for an inactive bot or one outside its
//! active hours (a call record is written, `rejected` or `outside_hours`), `503` when the shard
//! has no room. After the upgrade the call lives on the shard thread that accepted the
//! connection, as one task:
//!
//! ```text
//! socket text ─► WsCall::on_text ─► events (start, dtmf, mark, stop) ─► call events / record
//! every 20 ms: Downlink::next_frame ─► WsCall::push_bot_frame ─► socket     (bot audio, 8 kHz line)
//!              WsCall::read_caller_audio ─► Uplink::push_line_frame         (VAD, echo gate, STT ring)
//!              recorder ◄─ (caller 16 kHz, bot 16 kHz)
//! ```
//!
//! On `start` the call's voice agent answers, the same conversation as SIP calls (opening
//! message, turns, tools, barge-in, which sends `clear`); after each stretch of bot audio a
//! `mark` goes out (the first, after the opening message, is named `"greeting"`), which the peer
//! echoes once it has played it. `transfer_call` is a websocket reverse transfer: a `transfer`
//! event, answered by `transfer_result` (see [`crate::ws`]). The call ends on `stop` or a closed
//! socket (`customer`, or `RNR` when the caller never spoke), when the agent hangs up (`bot`,
//! `transfer_to_agent`, …), when the peer is silent for the idle timeout or the bot's
//! `max_call_seconds` is reached (`timeout`), or on an unsupported media format (`error`); then its
//! [`CallRecord`] (direction `websocket`) is submitted. A malformed frame is dropped and counted;
//! the call goes on.
//!
//! Browser calls through the web widget (`/widget/{bot_id}`, [`super::widget`]) authenticate
//! differently and then go through the same admission and session (`accept`).

mod session;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cxb_model::record::{CallEvent, CallEventKind, CallRecord};
use cxb_model::{BotConfig, CallDirection, DisconnectedBy, Route, Timestamp};
use serde::Deserialize;

use super::{Http, auth};
use crate::engine::unix_ms;
use crate::media::MediaError;
use session::Session;

/// Largest WebSocket message (and frame) accepted from the peer.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Line rate of a media stream (µ-law 8 kHz).
pub const LINE_RATE: u32 = 8000;
/// Name of the mark sent after the opening message.
pub const GREETING_MARK: &str = "greeting";

thread_local! {
    /// WebSocket calls on this shard thread (a connection's task never leaves the thread that
    /// accepted it: every shard runs a current-thread runtime).
    static ACTIVE: Cell<u64> = const { Cell::new(0) };
}

/// WebSocket calls running on the calling shard thread (for the shard's fleet `active` count).
pub fn active_calls_on_this_shard() -> u64 {
    ACTIVE.with(Cell::get)
}

/// Why an upgrade was refused (after authentication).
#[derive(Debug, thiserror::Error)]
pub enum WsRouteError {
    /// No bot has this id (`404`).
    #[error("unknown bot {bot_id:?}")]
    UnknownBot {
        /// The id asked for (cut to 64 characters).
        bot_id: String,
    },
    /// The bot is switched off (`403`).
    #[error("bot {bot_id:?} is inactive")]
    Inactive {
        /// The bot.
        bot_id: String,
    },
    /// The bot is outside its active hours (`403`).
    #[error("bot {bot_id:?} is outside its active hours")]
    OutsideHours {
        /// The bot.
        bot_id: String,
    },
    /// The shard already runs as many WebSocket calls as it takes (`503`).
    #[error("no capacity: {active} WebSocket calls on this shard")]
    AtCapacity {
        /// Calls running.
        active: u64,
    },
    /// The media pipeline could not be built (`500`).
    #[error("media pipeline: {0}")]
    Media(#[from] MediaError),
}

impl WsRouteError {
    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            WsRouteError::UnknownBot { .. } => StatusCode::NOT_FOUND,
            WsRouteError::Inactive { .. } | WsRouteError::OutsideHours { .. } => StatusCode::FORBIDDEN,
            WsRouteError::AtCapacity { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WsRouteError::Media(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WsRouteError {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        (self.status(), body).into_response()
    }
}

/// The query string of the upgrade request.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// The shared secret, for peers that cannot set an `Authorization` header.
    pub token: Option<String>,
}

/// Checks the bearer header, else `?token=` (both constant-time).
pub(crate) fn authorize(secret: &str, headers: &HeaderMap, token: Option<&str>) -> Result<(), auth::Unauthorized> {
    let by_header = auth::check(secret, headers);
    let Some(token) = token.filter(|_| by_header.is_err()) else {
        return by_header;
    };
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(header::AUTHORIZATION, v);
    }
    auth::check(secret, &h)
}

/// `GET /ws/{bot_id}`: authenticates, admits the call and upgrades. See the [module docs](self).
pub async fn ws(
    State(h): State<Http>,
    Path(bot_id): Path<String>,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = query.ok().and_then(|Query(q)| q.token);
    if let Err(e) = authorize(&h.shared.cfg.internal_secret, &headers, token.as_deref()) {
        return e.into_response();
    }
    let Some(bot) = h.shared.routing.load().bot(&bot_id).cloned() else {
        let bot_id = bot_id.chars().take(64).collect();
        return WsRouteError::UnknownBot { bot_id }.into_response();
    };
    accept(&h, bot, upgrade)
}

/// Admits a call to `bot` (already authenticated and looked up) and upgrades; shared by
/// `/ws/{bot_id}` and the browser widget's `/widget/{bot_id}`.
pub(super) fn accept(
    h: &Http,
    bot: BotConfig,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let session = match admit(h, bot) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session.run(socket))
}

/// Refuses an inactive bot, one outside its hours (both recorded) or a full shard; else builds
/// the call.
fn admit(h: &Http, bot: BotConfig) -> Result<Session, WsRouteError> {
    let slot = h.shared.slot(h.shard);
    let routing = h.shared.routing.load();
    let refused = match routing.resolve_at(&bot.id, (unix_ms() / 1000) as i64) {
        Route::Bot(_) => None,
        Route::Inactive(_) => Some((DisconnectedBy::Rejected, "bot inactive")),
        Route::OutsideHours(_) | Route::Unknown => Some((DisconnectedBy::OutsideHours, "outside active hours")),
    };
    if let Some((by, why)) = refused {
        slot.inc_rejected();
        let mut r = CallRecord::new(
            new_session_id(h.shard),
            bot.id.clone(),
            CallDirection::Websocket,
            Timestamp::now(),
        );
        r.variables = bot.variables.clone();
        r.events.push(CallEvent {
            at_ms: 0,
            kind: CallEventKind::Other,
            detail: format!("403: {why}"),
        });
        r.finish(Timestamp::now(), by);
        if let Err(e) = h.shared.records.submit(r) {
            tracing::error!(shard = h.shard, error = %e, "call record could not be queued");
        }
        return Err(match by {
            DisconnectedBy::Rejected => WsRouteError::Inactive { bot_id: bot.id },
            _ => WsRouteError::OutsideHours { bot_id: bot.id },
        });
    }
    let active = active_calls_on_this_shard();
    if active >= u64::from(h.shared.cfg.calls_per_shard) {
        slot.inc_rejected();
        return Err(WsRouteError::AtCapacity { active });
    }
    let session = Session::new(h.shared.clone(), h.shard, bot)?;
    slot.inc_setup();
    Ok(session)
}

/// A 16-hex-digit random id plus the shard (the same shape as SIP calls' ids).
fn new_session_id(shard: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    hasher.write_u64(unix_ms());
    format!("{:016x}{:04x}", hasher.finish(), shard)
}

/// Counts a call in [`ACTIVE`] while it lives.
#[derive(Debug)]
struct ActiveGuard;

impl ActiveGuard {
    fn new() -> ActiveGuard {
        ACTIVE.with(|a| a.set(a.get() + 1));
        ActiveGuard
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(a.get().saturating_sub(1)));
    }
}
