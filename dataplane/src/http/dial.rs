//! `POST /internal/v1/dial`: validate, pick the least-loaded shard, have it send the INVITE.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cxb_model::DialRequest;
use tokio::sync::oneshot;

use super::{Http, auth, error, unprocessable};
use crate::engine::{DialError, ShardMsg};

/// Places an outbound call: 202 with `{session_id, shard}`, 401, 404 (unknown bot), 422 naming
/// the field, 503 when no shard has room.
pub async fn dial(
    State(h): State<Http>,
    headers: HeaderMap,
    body: Result<Json<DialRequest>, JsonRejection>,
) -> Response {
    if let Err(e) = auth::check(&h.shared.cfg.internal_secret, &headers) {
        return e.into_response();
    }
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => return unprocessable("body", &e.body_text()),
    };
    if let Err(e) = req.validate() {
        return unprocessable(&e.field, &e.message);
    }
    let shard = least_loaded(&h);
    let (tx, rx) = oneshot::channel();
    if h.shared.peers[shard].send(ShardMsg::Dial { req, reply: tx }).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "dataplane is shutting down");
    }
    match rx.await {
        Ok(Ok(acc)) => (StatusCode::ACCEPTED, Json(acc)).into_response(),
        Ok(Err(DialError::Invalid { field, message })) => unprocessable(&field, &message),
        Ok(Err(e @ DialError::UnknownBot(_))) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Ok(Err(e @ DialError::Sip(_))) => unprocessable("to_number", &e.to_string()),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "shard stopped"),
    }
}

/// The healthy shard with the most free capacity (this one when all are equal).
fn least_loaded(h: &Http) -> usize {
    let snap = h.shared.fleet_snapshot(super::STALE_AFTER_MS);
    snap.shards
        .iter()
        .filter(|s| s.healthy)
        .max_by_key(|s| (s.free(), usize::from(s.index as usize == h.shard)))
        .map(|s| s.index as usize)
        .filter(|&i| i < h.shared.peers.len())
        .unwrap_or(h.shard)
}
