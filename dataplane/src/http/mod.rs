//! The dataplane's internal HTTP port: `POST /internal/v1/dial`, `PUT /internal/v1/routing`,
//! `GET /internal/v1/fleet`
//! (capacity, for remote control nodes), `GET /healthz`, and WebSocket media streams at
//! `/ws/{bot_id}`, and browser calls through the web widget at `/widget/{bot_id}` (widget key and
//! `Origin` checked instead of the internal secret). Every shard serves the port (`SO_REUSEPORT`), so a WebSocket call lives on the
//! shard that accepted it. Bodies are capped at 64 KiB and handlers at 10 s.

mod auth;
mod dial;
mod routing;
pub mod widget;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::engine::Shared;

/// Request body limit.
pub const MAX_BODY: usize = 64 * 1024;
/// Handler time limit (WebSocket sessions run after the upgrade and are not limited).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(10);

/// State of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct Http {
    /// What the shards share.
    pub shared: Arc<Shared>,
    /// The shard serving this listener.
    pub shard: usize,
}

/// The router.
pub fn router(state: Http) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/internal/v1/fleet", get(fleet))
        .route("/internal/v1/dial", post(dial::dial))
        .route("/internal/v1/routing", axum::routing::put(routing::put))
        .route("/ws/{bot_id}", get(ws::ws))
        .route("/widget/{bot_id}", get(widget::widget))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            HANDLER_TIMEOUT,
        ))
        .with_state(state)
}

/// Binds the HTTP address with `SO_REUSEPORT` (one listener per shard).
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = crate::engine::sip_io::bind_reuseport(addr, socket2::Type::STREAM)?;
    tokio::net::TcpListener::from_std(s.into())
}

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: Http) {
    let _ = axum::serve(listener, router(state)).await;
}

/// 422 naming the offending field.
fn unprocessable(field: &str, message: &str) -> axum::response::Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(serde_json::json!({ "error": "validation failed", "field": field, "message": message })),
    )
        .into_response()
}

/// Any other error status with a JSON reason.
fn error(status: StatusCode, message: &str) -> axum::response::Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn fleet(State(h): State<Http>, headers: axum::http::HeaderMap) -> axum::response::Response {
    if let Err(e) = auth::check(&h.shared.cfg.internal_secret, &headers) {
        return e.into_response();
    }
    axum::Json(h.shared.fleet_snapshot(STALE_AFTER_MS)).into_response()
}

/// A shard whose heartbeat is older than this is unhealthy.
pub const STALE_AFTER_MS: u64 = 2_000;
