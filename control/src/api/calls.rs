//! `/api/v1/calls`: the list (filters, paging, scoped to the caller's bots), the detail view,
//! the raw record (admins only) and recording playback through short-lived signed URLs
//! (`/api/v1/recordings/{key}?exp=…&sig=…`, no other credentials needed).
//!
//! A call of a bot outside the caller's scope is `404`, as if it did not exist.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::calls::query::{CallFilter, CallPage, CallQuery};
use crate::calls::{self, StoredCall};
use crate::error::{ApiError, ApiResult};
use crate::recordings::{self, RecordingError, RecordingStore};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/calls", get(list))
        .route("/api/v1/calls/{id}", get(detail))
        .route("/api/v1/calls/{id}/json", get(raw_json))
        .route("/api/v1/calls/{id}/recording", get(recording))
        .route("/api/v1/recordings/{*key}", get(recording_file))
}

/// The OpenAPI paths of this module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(list, detail, raw_json, recording, recording_file))]
    struct Doc;
    Doc::openapi()
}

/// The call if it exists and the caller may see its bot, else 404.
async fn visible_call(state: &AppState, p: &Principal, id: &str) -> ApiResult<StoredCall> {
    if id.contains('\0') || id.len() > 200 {
        return Err(ApiError::NotFound(format!("call {id:?} not found")));
    }
    match calls::get(&state.db, id).await? {
        Some(c) if p.can_access_bot(&c.record.bot_id) => Ok(c),
        _ => Err(ApiError::NotFound(format!("call {id:?} not found"))),
    }
}

/// Calls newest first. Filters: `bot_id`, `status` (completed|failed|in_progress), `direction`
/// (inbound|outbound|websocket), `disconnected_by`, `from`/`to` (RFC 3339 or YYYY-MM-DD), `q`
/// (number search), `is_test`, `page` (from 1), `page_size` (1–200, default 50).
#[utoipa::path(get, path = "/api/v1/calls", tag = "calls",
    params(
        ("bot_id" = Option<String>, Query, description = "one bot"),
        ("status" = Option<String>, Query, description = "completed | failed | in_progress"),
        ("direction" = Option<String>, Query, description = "inbound | outbound | websocket"),
        ("disconnected_by" = Option<String>, Query, description = "bot, customer, voicemail, RNR, …"),
        ("from" = Option<String>, Query, description = "started at or after (RFC 3339 or YYYY-MM-DD)"),
        ("to" = Option<String>, Query, description = "started before (RFC 3339, or YYYY-MM-DD inclusive)"),
        ("q" = Option<String>, Query, description = "digits of the from or to number"),
        ("is_test" = Option<String>, Query, description = "true | false"),
        ("page" = Option<String>, Query, description = "page from 1"),
        ("page_size" = Option<String>, Query, description = "1 to 200 (default 50)"),
    ),
    responses((status = 200, description = "{items, page, page_size, total}", body = Value),
        (status = 401), (status = 422)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    q: Result<Query<CallQuery>, QueryRejection>,
) -> ApiResult<Json<CallPage>> {
    let Query(q) = q.map_err(|e| ApiError::field("query", e.body_text()))?;
    let filter = CallFilter::from_query(q, p.bot_filter())?;
    Ok(Json(calls::list(&state.db, &filter).await?))
}

/// One call: summary, latency averages, tokens and post-call usage (not for calls-only users),
/// timeline, integration log, analysis, QC, per-turn metrics, events, service errors, transfer.
#[utoipa::path(get, path = "/api/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Value), (status = 401), (status = 404)))]
pub async fn detail(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let call = visible_call(&state, &p, &id).await?;
    let log = calls::integration_log(&state.db, &id).await.filter(|l| !l.is_empty());
    let mut v = calls::detail::detail(&call, p.can_see_costs(), log);
    if let Some(key) = &call.record.recording_key
        && recordings::validate_key(key).is_ok()
    {
        v["summary"]["recording"] = Value::from(format!("/api/v1/calls/{id}/recording"));
    }
    Ok(Json(v))
}

/// The stored call record as JSON (with `post_call_analysis` filled in); admins only.
#[utoipa::path(get, path = "/api/v1/calls/{id}/json", tag = "calls",
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Value), (status = 401), (status = 403), (status = 404)))]
pub async fn raw_json(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<Response> {
    let call = visible_call(&state, &p, &id).await?;
    p.require_admin()?;
    let mut record = call.record;
    if call.analysis.is_some() {
        record.post_call_analysis = call.analysis;
    }
    let disposition = format!("attachment; filename=\"call-{}.json\"", sanitize(&id));
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(record)).into_response())
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(100)
        .collect()
}

/// 302 to a signed URL of the call's recording, valid for 5 minutes; 404 without a recording.
#[utoipa::path(get, path = "/api/v1/calls/{id}/recording", tag = "calls",
    params(("id" = String, Path, description = "session id")),
    responses((status = 302, description = "Location: the signed URL"), (status = 401), (status = 404)))]
pub async fn recording(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<Response> {
    let call = visible_call(&state, &p, &id).await?;
    let key = call
        .record
        .recording_key
        .filter(|k| recordings::validate_key(k).is_ok())
        .ok_or_else(|| ApiError::NotFound("this call has no recording".into()))?;
    let now = jiff::Timestamp::now().as_second();
    let location = recordings::signed_path(&state.cfg.internal_secret, &key, now);
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response())
}

/// Query of a signed recording URL.
#[derive(Debug, Deserialize)]
pub struct Signed {
    /// Expiry, Unix seconds.
    pub exp: Option<String>,
    /// HMAC-SHA256, hex.
    pub sig: Option<String>,
}

/// The WAV behind a signed URL (`audio/wav`); 403 when the signature is missing, wrong or
/// expired; 404 when the file is gone.
#[utoipa::path(get, path = "/api/v1/recordings/{key}", tag = "calls",
    params(("key" = String, Path, description = "recording key"),
        ("exp" = Option<String>, Query, description = "expiry, Unix seconds"),
        ("sig" = Option<String>, Query, description = "signature")),
    responses((status = 200, content_type = "audio/wav", description = "the WAV"), (status = 403), (status = 404)))]
pub async fn recording_file(
    State(state): State<AppState>,
    Path(key): Path<String>,
    q: Result<Query<Signed>, QueryRejection>,
) -> ApiResult<Response> {
    let forbidden = || ApiError::Forbidden("invalid or expired recording link".into());
    let Ok(Query(q)) = q else { return Err(forbidden()) };
    let exp: i64 = q.exp.as_deref().and_then(|e| e.parse().ok()).ok_or_else(forbidden)?;
    let sig = q.sig.ok_or_else(forbidden)?;
    let now = jiff::Timestamp::now().as_second();
    if !recordings::verify(&state.cfg.internal_secret, &key, exp, &sig, now) {
        return Err(forbidden());
    }
    let store = RecordingStore::open(&state.cfg.recordings).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    match store.open_wav(&key).await {
        Ok((size, stream)) => Ok((
            [
                (header::CONTENT_TYPE, "audio/wav".to_owned()),
                (header::CONTENT_LENGTH, size.to_string()),
                (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
            ],
            Body::from_stream(stream),
        )
            .into_response()),
        Err(RecordingError::NotFound | RecordingError::InvalidKey(_)) => {
            Err(ApiError::NotFound("recording not found".into()))
        }
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}

#[cfg(test)]
mod tests;
