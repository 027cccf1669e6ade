//! The internal API the dataplanes call (`Authorization: Bearer <internal_secret>`, compared in
//! constant time): `POST /internal/v1/calls` ingests a call record idempotently (201 new, 409
//! already stored — the dataplane treats both as delivered) and queues its post-call job;
//! `GET /internal/v1/snapshot` serves the bots, DIDs and providers a dataplane routes with.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cxb_model::{CallRecord, DataplaneSnapshot};
use serde_json::json;

use crate::calls::{self, IngestOutcome};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Routes of this module (the router's 1 MiB body limit applies).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/calls", post(ingest))
        .route("/internal/v1/snapshot", get(snapshot))
}

/// The OpenAPI paths of this module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(ingest, snapshot))]
    struct Doc;
    Doc::openapi()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 401 unless `Authorization: Bearer <internal_secret>` (an empty secret refuses everything).
pub fn check_bearer(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let secret = state.cfg.internal_secret.as_bytes();
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
    if secret.is_empty() || !constant_time_eq(got.as_bytes(), secret) {
        return Err(ApiError::Unauthorized("invalid bearer token".into()));
    }
    Ok(())
}

/// Stores a call record from a dataplane: 201 when new, 409 when this session id is stored
/// already; 401 without the internal secret; 422 when the body is not a call record.
#[utoipa::path(post, path = "/internal/v1/calls", tag = "internal",
    request_body(content = serde_json::Value, description = "a CallRecord", content_type = "application/json"),
    responses((status = 201, description = "stored"), (status = 409, description = "already stored"),
        (status = 401), (status = 422)))]
pub async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    check_bearer(&state, &headers)?;
    let record: CallRecord =
        serde_json::from_slice(&body).map_err(|e| ApiError::field("body", format!("not a call record: {e}")))?;
    if record.session_id.is_empty() || record.session_id.len() > 200 {
        return Err(ApiError::field("session_id", "must be 1 to 200 characters"));
    }
    let now = crate::db::now_ms();
    match calls::ingest(&state.db, &record, now).await? {
        IngestOutcome::Created => {
            state.metrics.call_ingested();
            if let Err(e) = crate::postcall::enqueue(&state.db, &record.session_id, now).await {
                // The call is stored; post-call processing for it has to be re-queued by hand.
                tracing::error!(session_id = %record.session_id, error = %e, "post-call job not queued");
            }
            Ok((
                StatusCode::CREATED,
                Json(json!({"session_id": record.session_id, "status": "created"})),
            )
                .into_response())
        }
        IngestOutcome::Duplicate => {
            state.metrics.call_duplicate();
            Err(ApiError::Conflict {
                message: format!("call {} is already stored", record.session_id),
                details: json!({"session_id": record.session_id}),
            })
        }
    }
}

/// Bots, DID mappings and providers (keys decrypted) for a dataplane; 401 without the secret.
#[utoipa::path(get, path = "/internal/v1/snapshot", tag = "internal",
    responses((status = 200, description = "DataplaneSnapshot", body = serde_json::Value), (status = 401)))]
pub async fn snapshot(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<DataplaneSnapshot>> {
    check_bearer(&state, &headers)?;
    Ok(Json(crate::routing_push::snapshot(&state).await?))
}
