//! `/api/v1/settings/providers` (provider base URLs and API keys, keys encrypted at rest and
//! shown masked) and `/api/v1/settings/fleet` (the dataplane servers), plus
//! [`provider_endpoint`] for post-call code.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cxb_model::{ProviderEndpoint, ProviderKind};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::crypto::mask;
use crate::error::{ApiError, ApiResult, Body};
use crate::routing_push;
use crate::state::AppState;

/// Settings key of the fleet server list.
const FLEET_KEY: &str = "fleet_servers";

/// Providers reached over the network (the ones with settings).
pub const NETWORK_PROVIDERS: [ProviderKind; 4] = [
    ProviderKind::Openai,
    ProviderKind::Anthropic,
    ProviderKind::Deepgram,
    ProviderKind::Elevenlabs,
];

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/settings/providers", get(get_providers).put(put_provider))
        .route("/api/v1/settings/fleet", get(get_fleet).put(put_fleet))
}

/// One provider's settings as shown (key masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// `openai`, `anthropic`, `deepgram`, `elevenlabs`.
    pub kind: String,
    /// Base URL in force (the provider's public one unless changed).
    pub base_url: String,
    /// Whether a key is stored.
    pub has_api_key: bool,
    /// `****abcd`, when a key is stored.
    pub api_key_masked: Option<String>,
}

/// `PUT /api/v1/settings/providers` body. `api_key` absent keeps the stored key, `""` clears it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProviderUpdate {
    /// Provider kind.
    pub kind: String,
    /// New base URL (absent: keep; `""`: back to the default).
    #[serde(default)]
    pub base_url: Option<String>,
    /// New API key (absent: keep; `""`: clear).
    #[serde(default)]
    pub api_key: Option<String>,
}

/// Fleet servers (dataplane internal URLs).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetSettings {
    /// Base URLs, e.g. `http://10.0.0.5:8081`.
    pub servers: Vec<String>,
}

fn parse_kind(s: &str) -> ApiResult<ProviderKind> {
    NETWORK_PROVIDERS
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| ApiError::field("kind", "must be openai, anthropic, deepgram or elevenlabs"))
}

fn is_http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Stored row of a provider: (base_url, sealed key).
async fn provider_row(state: &AppState, kind: ProviderKind) -> ApiResult<Option<(String, Option<String>)>> {
    let row = sqlx::query("SELECT base_url, api_key_enc FROM provider_keys WHERE kind = $1")
        .bind(kind.as_str())
        .fetch_optional(&state.db)
        .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("base_url")?, r.try_get("api_key_enc")?)),
        None => None,
    })
}

/// The endpoint (base URL and decrypted key) of a provider, `None` when nothing is stored for it.
pub async fn provider_endpoint(state: &AppState, kind: ProviderKind) -> ApiResult<Option<ProviderEndpoint>> {
    let Some((base_url, enc)) = provider_row(state, kind).await? else {
        return Ok(None);
    };
    let api_key = match enc {
        Some(e) => Some(
            state
                .crypto
                .open(&e)
                .map_err(|err| ApiError::Internal(format!("provider key {}: {err}", kind.as_str())))?,
        ),
        None => None,
    };
    let base_url = if base_url.is_empty() {
        kind.default_base_url().unwrap_or_default().to_owned()
    } else {
        base_url
    };
    Ok(Some(ProviderEndpoint {
        kind,
        base_url,
        api_key,
    }))
}

/// Every stored provider endpoint (for the dataplane snapshot).
pub async fn all_provider_endpoints(state: &AppState) -> ApiResult<Vec<ProviderEndpoint>> {
    let mut out = Vec::new();
    for kind in NETWORK_PROVIDERS {
        if let Some(e) = provider_endpoint(state, kind).await? {
            out.push(e);
        }
    }
    Ok(out)
}

/// The fleet server list saved in settings, if any.
pub async fn fleet_servers(state: &AppState) -> ApiResult<Option<Vec<String>>> {
    let row = sqlx::query("SELECT value_json FROM settings WHERE key = $1")
        .bind(FLEET_KEY)
        .fetch_optional(&state.db)
        .await?;
    match row {
        Some(r) => Ok(Some(serde_json::from_str(&r.try_get::<String, _>("value_json")?)?)),
        None => Ok(None),
    }
}

/// Writes a settings key (insert or replace).
pub async fn put_setting(state: &AppState, key: &str, value: &serde_json::Value) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO settings (key, value_json) VALUES ($1, $2)")
        .bind(key)
        .bind(value.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Provider settings, keys masked (admin only).
#[utoipa::path(get, path = "/api/v1/settings/providers", tag = "settings",
    responses((status = 200, body = [ProviderView]), (status = 401), (status = 403)))]
pub async fn get_providers(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<ProviderView>>> {
    p.require_admin()?;
    let mut out = Vec::new();
    for kind in NETWORK_PROVIDERS {
        let (base_url, key) = match provider_endpoint(&state, kind).await? {
            Some(e) => (e.base_url, e.api_key),
            None => (kind.default_base_url().unwrap_or_default().to_owned(), None),
        };
        out.push(ProviderView {
            kind: kind.as_str().to_owned(),
            base_url,
            has_api_key: key.is_some(),
            api_key_masked: key.as_deref().map(mask),
        });
    }
    Ok(Json(out))
}

/// Sets a provider's base URL and/or key (admin only); the key is sealed before it is stored.
#[utoipa::path(put, path = "/api/v1/settings/providers", tag = "settings", request_body = ProviderUpdate,
    responses((status = 200, body = ProviderView), (status = 401), (status = 403), (status = 422)))]
pub async fn put_provider(
    State(state): State<AppState>,
    p: Principal,
    body: Body<ProviderUpdate>,
) -> ApiResult<Json<ProviderView>> {
    p.require_admin()?;
    let body = body.into_inner()?;
    let kind = parse_kind(&body.kind)?;
    if let Some(u) = &body.base_url
        && !u.is_empty()
        && !is_http_url(u)
    {
        return Err(ApiError::field("base_url", "must be an http:// or https:// URL"));
    }
    if let Some(k) = &body.api_key
        && (k.len() > 4096 || k.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::field("api_key", "must be printable text up to 4096 bytes"));
    }
    let (old_url, old_key) = provider_row(&state, kind).await?.unwrap_or_default();
    let base_url = body.base_url.unwrap_or(old_url);
    let key_enc = match body.api_key {
        Some(k) if k.is_empty() => None,
        Some(k) => Some(state.crypto.seal(&k)),
        None => old_key,
    };
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM provider_keys WHERE kind = $1")
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO provider_keys (kind, base_url, api_key_enc) VALUES ($1, $2, $3)")
        .bind(kind.as_str())
        .bind(&base_url)
        .bind(&key_enc)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    routing_push::spawn_push_all(&state);
    let e = provider_endpoint(&state, kind)
        .await?
        .ok_or_else(|| ApiError::Internal("provider vanished".into()))?;
    Ok(Json(ProviderView {
        kind: kind.as_str().to_owned(),
        base_url: e.base_url,
        has_api_key: e.api_key.is_some(),
        api_key_masked: e.api_key.as_deref().map(mask),
    }))
}

/// The fleet servers (saved list, else the configured dataplanes). Admin only.
#[utoipa::path(get, path = "/api/v1/settings/fleet", tag = "settings",
    responses((status = 200, body = FleetSettings), (status = 401), (status = 403)))]
pub async fn get_fleet(State(state): State<AppState>, p: Principal) -> ApiResult<Json<FleetSettings>> {
    p.require_admin()?;
    Ok(Json(FleetSettings {
        servers: routing_push::dataplane_urls(&state).await?,
    }))
}

/// Replaces the fleet server list (admin only) and pushes routing to it.
#[utoipa::path(put, path = "/api/v1/settings/fleet", tag = "settings", request_body = FleetSettings,
    responses((status = 200, body = FleetSettings), (status = 401), (status = 403), (status = 422)))]
pub async fn put_fleet(
    State(state): State<AppState>,
    p: Principal,
    body: Body<FleetSettings>,
) -> ApiResult<Json<FleetSettings>> {
    p.require_admin()?;
    let body = body.into_inner()?;
    if body.servers.len() > 256 {
        return Err(ApiError::field("servers", "at most 256 servers"));
    }
    let mut servers = Vec::with_capacity(body.servers.len());
    for (i, s) in body.servers.iter().enumerate() {
        let s = s.trim().trim_end_matches('/');
        if !is_http_url(s) {
            return Err(ApiError::field(
                format!("servers[{i}]"),
                "must be an http:// or https:// URL",
            ));
        }
        servers.push(s.to_owned());
    }
    put_setting(&state, FLEET_KEY, &serde_json::json!(servers)).await?;
    routing_push::spawn_push_all(&state);
    Ok(Json(FleetSettings { servers }))
}
