//! `/api/v1/api-keys` (admin only): create (the key is shown once), list (prefixes only), delete.
//! Keys are stored as SHA-256 hashes; a non-admin key is scoped to the bots in `bot_ids`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::bootstrap::insert_api_key;
use crate::auth::{Principal, secrets};
use crate::error::{ApiError, ApiResult, Body};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/api-keys", get(list).post(create))
        .route("/api/v1/api-keys/{id}", delete(remove))
}

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewKey {
    /// A label.
    pub name: String,
    /// Bots the key may use (ignored for admin keys).
    #[serde(default)]
    pub bot_ids: Vec<String>,
    /// Management (admin) key.
    #[serde(default)]
    pub admin: bool,
}

/// A created key: `key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// Key id (for delete).
    pub id: String,
    /// The key itself (`cxb_…`); not retrievable later.
    pub key: String,
    /// Label.
    pub name: String,
    /// Scope.
    pub bot_ids: Vec<String>,
    /// Admin key.
    pub admin: bool,
    /// Displayable prefix.
    pub prefix: String,
}

/// A key as listed (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyInfo {
    /// Key id.
    pub id: String,
    /// Label.
    pub name: String,
    /// First characters of the key.
    pub prefix: String,
    /// Admin key.
    pub admin: bool,
    /// Scope.
    pub bot_ids: Vec<String>,
    /// Created, unix ms.
    pub created_at_ms: i64,
    /// Last used, unix ms.
    pub last_used_at_ms: Option<i64>,
}

/// Creates a key (admin only); 422 `bot_ids[i]` for an unknown bot.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 401), (status = 403), (status = 422)))]
pub async fn create(State(state): State<AppState>, p: Principal, body: Body<NewKey>) -> ApiResult<Response> {
    p.require_admin()?;
    let body = body.into_inner()?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    if !body.admin && body.bot_ids.is_empty() {
        return Err(ApiError::field("bot_ids", "a non-admin key needs at least one bot"));
    }
    for (i, b) in body.bot_ids.iter().enumerate() {
        let found = sqlx::query("SELECT id FROM bots WHERE id = $1")
            .bind(b)
            .fetch_optional(&state.db)
            .await?;
        if found.is_none() {
            return Err(ApiError::field(format!("bot_ids[{i}]"), format!("unknown bot {b:?}")));
        }
    }
    let mut bot_ids = body.bot_ids.clone();
    bot_ids.dedup();
    let key = secrets::new_api_key();
    let id = insert_api_key(&state, name, &key, body.admin, &bot_ids).await?;
    let out = CreatedKey {
        id,
        prefix: secrets::key_prefix(&key),
        key,
        name: name.to_owned(),
        bot_ids,
        admin: body.admin,
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Lists keys without their secrets (admin only).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = [KeyInfo]), (status = 401), (status = 403)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<KeyInfo>>> {
    p.require_admin()?;
    let rows = sqlx::query(
        "SELECT id, name, prefix, admin, bot_ids_json, created_at_ms, last_used_at_ms FROM api_keys \
         ORDER BY created_at_ms, id",
    )
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(KeyInfo {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            prefix: r.try_get("prefix")?,
            admin: r.try_get::<i64, _>("admin")? != 0,
            bot_ids: serde_json::from_str(&r.try_get::<String, _>("bot_ids_json")?)?,
            created_at_ms: r.try_get("created_at_ms")?,
            last_used_at_ms: r.try_get("last_used_at_ms")?,
        });
    }
    Ok(Json(out))
}

/// Deletes a key (admin only); it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn remove(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    p.require_admin()?;
    let res = sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(&id)
        .execute(&state.db)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!("API key {id:?} not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}
