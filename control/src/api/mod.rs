//! The REST router: every module's routes merged, plus `/healthz`, `/metrics`, `/openapi.json`,
//! a JSON 404 fallback, body limits (1 MiB; 8 MiB on bot routes), a 30 s timeout and
//! per-request metrics/tracing.

pub mod auth;
pub mod bots;
pub mod calls;
pub mod dialout;
pub mod dids;
pub mod fleet;
pub mod integration;
pub mod internal;
pub mod keys;
pub mod settings;
pub mod trunks;
pub mod widget;
pub mod widget_js;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Default request body limit.
pub const BODY_LIMIT: usize = 1 << 20;
/// Body limit on bot routes (knowledge bases).
pub const BOT_BODY_LIMIT: usize = 8 << 20;
/// Per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole router with its state.
pub fn router(state: AppState) -> Router {
    let bots = Router::new()
        .merge(bots::routes())
        .merge(widget::routes())
        .merge(integration::routes())
        .layer(DefaultBodyLimit::max(BOT_BODY_LIMIT));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(bots)
        .merge(auth::routes())
        .merge(keys::routes())
        .merge(dids::routes())
        .merge(trunks::routes())
        .merge(settings::routes())
        .merge(dialout::routes())
        .merge(calls::routes())
        .merge(fleet::routes())
        .merge(internal::routes())
        .merge(widget_js::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// Counts and traces each request by its route template (never its body or headers).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let start = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    state.metrics.record_request(&method, &route, status);
    tracing::debug!(%method, %route, status, ms = start.elapsed().as_millis() as u64, "http");
    res
}

/// `GET /healthz`: 200 `{"status":"ok"}` when the database answers.
async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(e) => ApiError::Unavailable(format!("database: {e}")).into_response(),
    }
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /openapi.json`.
async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

/// JSON 404 for unknown paths.
async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

#[cfg(test)]
mod tests;
