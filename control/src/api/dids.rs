//! `/api/v1/dids`: phone numbers mapped to bots (normalised E.164). Admins manage all; a
//! non-admin key only its bots' numbers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use cxb_model::DidMapping;
use cxb_model::number::{digits_key, normalize};
use serde::Deserialize;
use serde_json::Value;
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Body};
use crate::routing_push;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dids", get(list).post(create))
        .route("/api/v1/dids/{number}", delete(remove))
}

/// `POST /api/v1/dids` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDid {
    /// The number (separators allowed; stored normalised).
    pub number: String,
    /// The bot it reaches.
    pub bot_id: String,
}

/// One mapping.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DidView {
    /// Normalised number.
    pub number: String,
    /// Bot id.
    pub bot_id: String,
}

async fn all(state: &AppState) -> ApiResult<Vec<DidView>> {
    let rows = sqlx::query("SELECT number, bot_id FROM dids ORDER BY number")
        .fetch_all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(DidView {
            number: r.try_get("number")?,
            bot_id: r.try_get("bot_id")?,
        });
    }
    Ok(out)
}

/// The mappings the caller may see.
#[utoipa::path(get, path = "/api/v1/dids", tag = "dids",
    responses((status = 200, body = [DidView]), (status = 401), (status = 403)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<DidView>>> {
    p.require_not_calls_only()?;
    Ok(Json(
        all(&state)
            .await?
            .into_iter()
            .filter(|d| p.can_access_bot(&d.bot_id))
            .collect(),
    ))
}

/// Maps a number to a bot; 409 when the number (compared without `+`) is already mapped.
#[utoipa::path(post, path = "/api/v1/dids", tag = "dids", request_body = NewDid,
    responses((status = 201, body = DidView), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn create(State(state): State<AppState>, p: Principal, body: Body<NewDid>) -> ApiResult<Response> {
    p.require_not_calls_only()?;
    let body = body.into_inner()?;
    let did = DidMapping::new(&body.number, body.bot_id.clone())?;
    super::bots::visible_bot(&state, &p, &did.bot_id).await?;
    if !p.is_admin() && p.bot_filter().is_none() {
        return Err(ApiError::Forbidden("only admins map numbers".into()));
    }
    let key = digits_key(&did.number);
    if let Some(existing) = all(&state).await?.into_iter().find(|d| digits_key(&d.number) == key) {
        return Err(ApiError::Conflict {
            message: format!("number {} is already mapped", existing.number),
            details: serde_json::json!({"number": existing.number, "bot_id": if p.can_access_bot(&existing.bot_id) { Value::from(existing.bot_id) } else { Value::Null }}),
        });
    }
    sqlx::query("INSERT INTO dids (number, bot_id) VALUES ($1, $2)")
        .bind(&did.number)
        .bind(&did.bot_id)
        .execute(&state.db)
        .await?;
    routing_push::spawn_push_all(&state);
    Ok((
        StatusCode::CREATED,
        Json(DidView {
            number: did.number,
            bot_id: did.bot_id,
        }),
    )
        .into_response())
}

/// Removes a mapping (the number in the path may have separators or no `+`).
#[utoipa::path(delete, path = "/api/v1/dids/{number}", tag = "dids", params(("number" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn remove(State(state): State<AppState>, p: Principal, Path(number): Path<String>) -> ApiResult<StatusCode> {
    p.require_not_calls_only()?;
    let n = normalize(&number).map_err(|e| ApiError::field("number", e.to_string()))?;
    let key = digits_key(&n).to_owned();
    let Some(existing) = all(&state)
        .await?
        .into_iter()
        .find(|d| digits_key(&d.number) == key && p.can_access_bot(&d.bot_id))
    else {
        return Err(ApiError::NotFound(format!("number {n} is not mapped")));
    };
    if !p.is_admin() && p.bot_filter().is_none() {
        return Err(ApiError::Forbidden("only admins map numbers".into()));
    }
    sqlx::query("DELETE FROM dids WHERE number = $1")
        .bind(&existing.number)
        .execute(&state.db)
        .await?;
    routing_push::spawn_push_all(&state);
    Ok(StatusCode::NO_CONTENT)
}
