//! `/api/v1/trunks` (admin only): SIP trunks with host, auth, default from-number and number
//! pool. The password is sealed at rest and never returned (`has_password`); one trunk at a
//! time is the default.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cxb_model::number::normalize;
use cxb_model::{TrunkSettings, TrunkTransport};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db;
use crate::error::{ApiError, ApiResult, Body};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trunks", get(list).post(create))
        .route("/api/v1/trunks/{id}", get(read).put(replace).delete(remove))
}

/// Trunk create/replace body. On PUT, `password` absent keeps the stored one, `""` clears it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TrunkInput {
    /// Label.
    pub name: String,
    /// Host name or IP.
    pub host: String,
    /// SIP port (default 5060).
    #[serde(default = "default_port")]
    pub port: u16,
    /// `udp` or `tcp`.
    #[serde(default)]
    #[schema(value_type = String)]
    pub transport: TrunkTransport,
    /// Digest user.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password (write only).
    #[serde(default)]
    pub password: Option<String>,
    /// Caller number when a dial request gives none.
    pub default_from_number: String,
    /// Numbers this trunk may present.
    #[serde(default)]
    pub number_pool: Vec<String>,
    /// The trunk dial-outs use by default.
    #[serde(default)]
    pub is_default: bool,
}

fn default_port() -> u16 {
    5060
}

/// A trunk as shown (no password).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrunkView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Digest user.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Default caller number.
    pub default_from_number: String,
    /// Number pool.
    pub number_pool: Vec<String>,
    /// Default trunk.
    pub is_default: bool,
}

const COLS: &str =
    "id, name, host, port, transport, username, password_enc, default_from_number, number_pool_json, is_default";

fn view(r: &AnyRow) -> ApiResult<TrunkView> {
    Ok(TrunkView {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        host: r.try_get("host")?,
        port: u16::try_from(r.try_get::<i64, _>("port")?).unwrap_or(5060),
        transport: r.try_get("transport")?,
        username: r.try_get("username")?,
        has_password: r.try_get::<Option<String>, _>("password_enc")?.is_some(),
        default_from_number: r.try_get("default_from_number")?,
        number_pool: serde_json::from_str(&r.try_get::<String, _>("number_pool_json")?)?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
    })
}

fn validate(t: &TrunkInput) -> ApiResult<(String, Vec<String>)> {
    if t.name.trim().is_empty() || t.name.len() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    let host_ok = !t.host.is_empty()
        && t.host.len() <= 253
        && (t
            .host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            || t.host.parse::<std::net::IpAddr>().is_ok());
    if !host_ok {
        return Err(ApiError::field("host", "must be a host name or an IP address"));
    }
    if t.port == 0 {
        return Err(ApiError::field("port", "must be 1 to 65535"));
    }
    if let Some(u) = &t.username
        && (u.is_empty() || u.len() > 128 || u.chars().any(|c| c.is_control() || c == '"'))
    {
        return Err(ApiError::field(
            "username",
            "must be 1-128 printable characters without quotes",
        ));
    }
    if let Some(p) = &t.password
        && (p.len() > 1024 || p.chars().any(char::is_control))
    {
        return Err(ApiError::field("password", "must be printable, at most 1024 bytes"));
    }
    let from = normalize(&t.default_from_number).map_err(|e| ApiError::field("default_from_number", e.to_string()))?;
    let mut pool = Vec::with_capacity(t.number_pool.len());
    for (i, n) in t.number_pool.iter().enumerate() {
        pool.push(normalize(n).map_err(|e| ApiError::field(format!("number_pool[{i}]"), e.to_string()))?);
    }
    Ok((from, pool))
}

fn transport_str(t: TrunkTransport) -> &'static str {
    match t {
        TrunkTransport::Udp => "udp",
        TrunkTransport::Tcp => "tcp",
    }
}

async fn fetch(state: &AppState, id: &str) -> ApiResult<AnyRow> {
    sqlx::query(&format!("SELECT {COLS} FROM trunks WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("trunk {id:?} not found")))
}

async fn write(
    state: &AppState,
    id: &str,
    t: &TrunkInput,
    password_enc: Option<String>,
    insert: bool,
) -> ApiResult<()> {
    let (from, pool) = validate(t)?;
    let mut tx = state.db.begin().await?;
    if t.is_default {
        sqlx::query("UPDATE trunks SET is_default = 0 WHERE id <> $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if !insert {
        sqlx::query("DELETE FROM trunks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(&format!(
        "INSERT INTO trunks ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(id)
    .bind(t.name.trim())
    .bind(&t.host)
    .bind(i64::from(t.port))
    .bind(transport_str(t.transport))
    .bind(&t.username)
    .bind(&password_enc)
    .bind(&from)
    .bind(serde_json::to_string(&pool)?)
    .bind(db::b2i(t.is_default))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// All trunks (admin only).
#[utoipa::path(get, path = "/api/v1/trunks", tag = "trunks",
    responses((status = 200, body = [TrunkView]), (status = 401), (status = 403)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<TrunkView>>> {
    p.require_admin()?;
    let rows = sqlx::query(&format!("SELECT {COLS} FROM trunks ORDER BY name, id"))
        .fetch_all(&state.db)
        .await?;
    Ok(Json(rows.iter().map(view).collect::<ApiResult<_>>()?))
}

/// Creates a trunk (admin only).
#[utoipa::path(post, path = "/api/v1/trunks", tag = "trunks", request_body = TrunkInput,
    responses((status = 201, body = TrunkView), (status = 401), (status = 403), (status = 422)))]
pub async fn create(State(state): State<AppState>, p: Principal, t: Body<TrunkInput>) -> ApiResult<Response> {
    p.require_admin()?;
    let t = t.into_inner()?;
    let id = db::new_id("trk_");
    let enc = t
        .password
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| state.crypto.seal(p));
    write(&state, &id, &t, enc, true).await?;
    Ok((StatusCode::CREATED, Json(view(&fetch(&state, &id).await?)?)).into_response())
}

/// One trunk (admin only).
#[utoipa::path(get, path = "/api/v1/trunks/{id}", tag = "trunks", params(("id" = String, Path)),
    responses((status = 200, body = TrunkView), (status = 401), (status = 403), (status = 404)))]
pub async fn read(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<Json<TrunkView>> {
    p.require_admin()?;
    Ok(Json(view(&fetch(&state, &id).await?)?))
}

/// Replaces a trunk (admin only); `password` absent keeps the stored one.
#[utoipa::path(put, path = "/api/v1/trunks/{id}", tag = "trunks", params(("id" = String, Path)), request_body = TrunkInput,
    responses((status = 200, body = TrunkView), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn replace(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    t: Body<TrunkInput>,
) -> ApiResult<Json<TrunkView>> {
    p.require_admin()?;
    let t = t.into_inner()?;
    let old = fetch(&state, &id).await?;
    let enc = match t.password.as_deref() {
        None => old.try_get::<Option<String>, _>("password_enc")?,
        Some("") => None,
        Some(p) => Some(state.crypto.seal(p)),
    };
    write(&state, &id, &t, enc, false).await?;
    Ok(Json(view(&fetch(&state, &id).await?)?))
}

/// Deletes a trunk (admin only).
#[utoipa::path(delete, path = "/api/v1/trunks/{id}", tag = "trunks", params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn remove(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    p.require_admin()?;
    let res = sqlx::query("DELETE FROM trunks WHERE id = $1")
        .bind(&id)
        .execute(&state.db)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!("trunk {id:?} not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The default trunk as dial-out settings (password decrypted) with its default from-number;
/// `None` when no trunk is marked default. For the dial-out handler.
pub async fn default_trunk(state: &AppState) -> ApiResult<Option<(TrunkSettings, String)>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM trunks WHERE is_default = 1"))
        .fetch_optional(&state.db)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let host: String = r.try_get("host")?;
    let port: i64 = r.try_get("port")?;
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let password = match r.try_get::<Option<String>, _>("password_enc")? {
        Some(e) => Some(
            state
                .crypto
                .open(&e)
                .map_err(|err| ApiError::Internal(format!("trunk password: {err}")))?,
        ),
        None => None,
    };
    let transport = match r.try_get::<String, _>("transport")?.as_str() {
        "tcp" => TrunkTransport::Tcp,
        _ => TrunkTransport::Udp,
    };
    let settings = TrunkSettings {
        address,
        transport,
        username: r.try_get("username")?,
        password,
        caller_id: None,
    };
    Ok(Some((settings, r.try_get("default_from_number")?)))
}
