//! `GET /widget/{bot_id}?key=<widget key>`: a browser call through the web widget — the same
//! WebSocket media protocol and call handling as `/ws/{bot_id}` (see [`super::ws`]), but
//! authenticated by the bot's widget key and the page's `Origin` instead of the internal secret.
//!
//! Refusals before the upgrade, each with a JSON `{"error": …}` body: `404` when the bot is
//! unknown or its widget is not enabled (not in the routing snapshot), `401` for a missing or
//! wrong key (compared as SHA-256 hashes in constant time), `403` when `Origin` is missing or its
//! host is not one of the widget's allowed domains ([`cxb_model::widget::origin_allowed`], the
//! rule control uses too). Then the checks of `/ws/{bot_id}` apply (inactive bot, hours, capacity).
//!
//! A widget call's record carries the variables `channel = "widget"` and `widget_origin` (the
//! page's origin), so `call.channel` tells widget calls from other WebSocket calls; the page's
//! `customParameters` cannot override them ([`RESERVED_VARIABLES`]).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cxb_model::RoutingTable;
use serde::Deserialize;

use super::{Http, ws};

/// Variables the dataplane sets on a widget call, which the page's `customParameters` cannot
/// override (a page must not pass its calls off as another channel or origin).
pub const RESERVED_VARIABLES: [&str; 2] = ["channel", "widget_origin"];

/// Whether a call with these variables came through the widget (its reserved variables are locked).
pub fn is_widget_call(variables: &cxb_model::Variables) -> bool {
    variables.get("channel").and_then(|v| v.as_str()) == Some("widget")
}

/// Longest `Origin` kept in the call's variables.
const MAX_ORIGIN: usize = 256;

/// The query string of the upgrade request.
#[derive(Debug, Default, Deserialize)]
pub struct WidgetQuery {
    /// The bot's widget key.
    pub key: Option<String>,
}

/// Why a widget upgrade was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetError {
    /// No bot with this id, or its widget is not enabled (`404`).
    #[error("no widget for bot {bot_id:?}")]
    NoWidget {
        /// The id asked for (cut to 64 characters).
        bot_id: String,
    },
    /// No `?key=` (`401`).
    #[error("missing widget key")]
    MissingKey,
    /// The key is not the widget's current key (`401`).
    #[error("invalid widget key")]
    BadKey,
    /// No `Origin` header (`403`).
    #[error("missing Origin header")]
    MissingOrigin,
    /// The page's origin is not an allowed domain (`403`).
    #[error("origin {origin:?} is not allowed")]
    OriginNotAllowed {
        /// The `Origin` sent (cut to 256 characters).
        origin: String,
    },
}

impl WidgetError {
    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            WidgetError::NoWidget { .. } => StatusCode::NOT_FOUND,
            WidgetError::MissingKey | WidgetError::BadKey => StatusCode::UNAUTHORIZED,
            WidgetError::MissingOrigin | WidgetError::OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for WidgetError {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        (self.status(), body).into_response()
    }
}

/// Checks a widget request against `routing`: the bot has an enabled widget, `key` is its key,
/// `origin` is allowed (in this order).
pub fn check(routing: &RoutingTable, bot_id: &str, key: Option<&str>, origin: Option<&str>) -> Result<(), WidgetError> {
    let Some(access) = routing.widget(bot_id).filter(|_| routing.bot(bot_id).is_some()) else {
        return Err(WidgetError::NoWidget {
            bot_id: bot_id.chars().take(64).collect(),
        });
    };
    let key = key.ok_or(WidgetError::MissingKey)?;
    if !access.key_matches(key) {
        return Err(WidgetError::BadKey);
    }
    let origin = origin.ok_or(WidgetError::MissingOrigin)?;
    if !access.origin_allowed(origin) {
        return Err(WidgetError::OriginNotAllowed {
            origin: origin.chars().take(MAX_ORIGIN).collect(),
        });
    }
    Ok(())
}

/// `GET /widget/{bot_id}`: checks key and `Origin`, then admits and upgrades as `/ws/{bot_id}`
/// does. See the [module docs](self).
pub async fn widget(
    State(h): State<Http>,
    Path(bot_id): Path<String>,
    query: Result<Query<WidgetQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let key = query.ok().and_then(|Query(q)| q.key);
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let routing = h.shared.routing.load();
    if let Err(e) = check(&routing, &bot_id, key.as_deref(), origin) {
        return e.into_response();
    }
    let Some(mut bot) = routing.bot(&bot_id).cloned() else {
        return WidgetError::NoWidget { bot_id }.into_response();
    };
    drop(routing);
    bot.variables.insert("channel".to_owned(), "widget".into());
    let origin: String = origin.unwrap_or_default().chars().take(MAX_ORIGIN).collect();
    bot.variables.insert("widget_origin".to_owned(), origin.into());
    ws::accept(&h, bot, upgrade)
}

#[cfg(test)]
mod tests;
