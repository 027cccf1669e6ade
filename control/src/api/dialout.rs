//! `POST /api/v1/dialout` (and its alias `POST /api/v1/sip/dialout`): place a call from a bot.
//!
//! Body `{bot_id, to_number, from_number?, variables?}` → 200 `{"status":"ok","call_id"}`.
//! 401: no/invalid key, or a key not scoped to the bot; 404: no such bot; 422: invalid body
//! (naming the field; numbers must be E.164); 503: the bot is inactive or outside its active
//! hours, no trunk is configured, or no healthy dataplane has free capacity (read from shared
//! memory — nothing is queued). The default trunk (`/api/v1/trunks`) carries the call; its
//! `default_from_number` (or a number from its pool) is the caller id when none is given.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use cxb_model::{BotConfig, DialRequest, TrunkSettings, TrunkTransport, Variables};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::dataplane_client::{self, DataplaneError};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::fleet::Fleet;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dialout", post(dialout))
        .route("/api/v1/sip/dialout", post(sip_dialout))
        .layer(Extension(Arc::new(Fleet::new())))
}

/// The OpenAPI paths of this module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(dialout, sip_dialout), components(schemas(DialoutRequest, DialoutResponse)))]
    struct Doc;
    Doc::openapi()
}

/// Dial-out request.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct DialoutRequest {
    /// The bot that talks.
    pub bot_id: String,
    /// Who to call (E.164, e.g. `+4915112345678`).
    pub to_number: String,
    /// Number to call from (default: the trunk's default from-number).
    #[serde(default)]
    pub from_number: Option<String>,
    /// Call variables (`call.custom.*` / `crm.*` in templates).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Option<Variables>,
}

/// Dial-out accepted.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct DialoutResponse {
    /// Always `ok`.
    pub status: String,
    /// The call's session id (`GET /api/v1/calls/{call_id}` once it ended).
    pub call_id: String,
}

/// Places a call (see the module documentation for the answers).
#[utoipa::path(post, path = "/api/v1/dialout", tag = "dialout", request_body = DialoutRequest,
    responses((status = 200, body = DialoutResponse), (status = 401), (status = 404), (status = 422),
        (status = 503)))]
pub async fn dialout(
    State(state): State<AppState>,
    Extension(fleet): Extension<Arc<Fleet>>,
    p: Result<Principal, ApiError>,
    body: Result<ApiJson<Value>, ApiError>,
) -> ApiResult<Json<DialoutResponse>> {
    // Authentication and body errors are counted too (`cxb_dialout_total{status="401"}`).
    let res = match (p, body) {
        (Ok(p), Ok(ApiJson(body))) => place(&state, &fleet, &p, body).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match &res {
        Ok(_) => {
            state.metrics.dialout_accepted();
            state.metrics.dialout_status("ok");
        }
        Err(e) => {
            state.metrics.dialout_refused(e.code());
            state.metrics.dialout_status(e.status().as_str());
        }
    }
    res.map(Json)
}

/// Alias of `POST /api/v1/dialout` (the integration guide's SIP path).
#[utoipa::path(post, path = "/api/v1/sip/dialout", tag = "dialout", request_body = DialoutRequest,
    responses((status = 200, body = DialoutResponse), (status = 401), (status = 404), (status = 422),
        (status = 503)))]
pub async fn sip_dialout(
    state: State<AppState>,
    fleet: Extension<Arc<Fleet>>,
    p: Result<Principal, ApiError>,
    body: Result<ApiJson<Value>, ApiError>,
) -> ApiResult<Json<DialoutResponse>> {
    dialout(state, fleet, p, body).await
}

fn string_field(body: &Value, field: &'static str, required: bool) -> ApiResult<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(ApiError::field(field, "is required")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::field(field, "must be a string")),
    }
}

/// Parses the body field by field so that a 422 names the field.
pub fn parse_body(body: Value) -> ApiResult<DialoutRequest> {
    if !body.is_object() {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let variables = match body.get("variables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Some(_) => return Err(ApiError::field("variables", "must be an object")),
    };
    Ok(DialoutRequest {
        bot_id: string_field(&body, "bot_id", true)?.unwrap_or_default(),
        to_number: string_field(&body, "to_number", true)?.unwrap_or_default(),
        from_number: string_field(&body, "from_number", false)?,
        variables,
    })
}

/// A bot's stored config and `active` flag, if the bot exists.
async fn load_bot(state: &AppState, id: &str) -> ApiResult<Option<(BotConfig, bool)>> {
    let row = sqlx::query("SELECT config_json, active FROM bots WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let bot: BotConfig = serde_json::from_str(&row.try_get::<String, _>("config_json")?)?;
    let active = row.try_get::<i64, _>("active")? != 0;
    Ok(Some((bot, active)))
}

/// The trunk a dial-out uses, with its caller id candidates.
#[derive(Debug, Clone)]
pub struct DialTrunk {
    /// What the dataplane gets.
    pub settings: TrunkSettings,
    /// `default_from_number`.
    pub default_from: Option<String>,
    /// The number pool.
    pub pool: Vec<String>,
}

/// The default trunk (or the only one), its password decrypted and its host resolved to an
/// address (the dataplane dials IP:port).
pub async fn default_trunk(state: &AppState) -> ApiResult<Option<DialTrunk>> {
    let rows = sqlx::query(
        "SELECT host, port, transport, username, password_enc, default_from_number, number_pool_json, is_default \
         FROM trunks ORDER BY is_default DESC, name, id",
    )
    .fetch_all(&state.db)
    .await?;
    let Some(row) = rows.first() else { return Ok(None) };
    if rows.len() > 1 && row.try_get::<i64, _>("is_default")? == 0 {
        return Ok(None);
    }
    let host: String = row.try_get("host")?;
    let port: i64 = row.try_get("port")?;
    let port = u16::try_from(port).map_err(|_| ApiError::Internal(format!("stored trunk port {port}")))?;
    let transport = match row.try_get::<String, _>("transport")?.to_ascii_lowercase().as_str() {
        "tcp" => TrunkTransport::Tcp,
        _ => TrunkTransport::Udp,
    };
    let password = match row.try_get::<Option<String>, _>("password_enc")? {
        Some(sealed) => Some(
            state
                .crypto
                .open(&sealed)
                .map_err(|e| ApiError::Internal(format!("trunk password: {e}")))?,
        ),
        None => None,
    };
    let addr = tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ApiError::Unavailable(format!("trunk host {host:?} does not resolve")))?;
    let default_from: String = row.try_get("default_from_number")?;
    let pool: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("number_pool_json")?).unwrap_or_default();
    Ok(Some(DialTrunk {
        settings: TrunkSettings {
            address: addr.to_string(),
            transport,
            username: row.try_get("username")?,
            password,
            caller_id: None,
        },
        default_from: Some(default_from).filter(|s| !s.is_empty()),
        pool,
    }))
}

/// A caller id from the pool (random), when the trunk has no default.
fn pick_from(trunk: &DialTrunk) -> Option<String> {
    if let Some(d) = &trunk.default_from {
        return Some(d.clone());
    }
    if trunk.pool.is_empty() {
        return None;
    }
    let i = rand::random_range(0..trunk.pool.len());
    Some(trunk.pool[i].clone())
}

fn map_dataplane(e: DataplaneError) -> ApiError {
    match e {
        DataplaneError::Status {
            status: 404, message, ..
        } => ApiError::NotFound(if message.is_empty() {
            "bot not found".into()
        } else {
            message
        }),
        DataplaneError::Status {
            status: 422,
            field,
            message,
            ..
        } => ApiError::field(field.unwrap_or_else(|| "body".into()), message),
        DataplaneError::Status {
            status: 503, message, ..
        } => ApiError::Unavailable(format!("no healthy fleet capacity: {message}")),
        other => {
            tracing::warn!(error = %other, "dial-out: dataplane failed");
            ApiError::Unavailable("dataplane unavailable".into())
        }
    }
}

async fn place(state: &AppState, fleet: &Fleet, p: &Principal, body: Value) -> ApiResult<DialoutResponse> {
    let body = parse_body(body)?;
    if !p.can_access_bot(&body.bot_id) {
        return Err(ApiError::Unauthorized(
            "this API key is not allowed to use this bot".into(),
        ));
    }
    p.require_not_calls_only()?;
    let req = DialRequest {
        bot_id: body.bot_id,
        to_number: body.to_number,
        from_number: body.from_number,
        variables: body.variables.unwrap_or_default(),
        trunk: None,
    };
    // The bot id's shape first (so a malformed id is a 422, not a 404).
    cxb_model::bot::validate_bot_id(&req.bot_id, "bot_id")?;
    let (bot, active) = load_bot(state, &req.bot_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("bot {:?} not found", req.bot_id)))?;
    let mut req = req.normalized()?;
    if !active || !bot.active {
        return Err(ApiError::Unavailable("the bot is inactive".into()));
    }
    if !bot.is_open_at(jiff::Timestamp::now().as_second()) {
        return Err(ApiError::Unavailable("the bot is outside its active hours".into()));
    }
    let trunk = default_trunk(state)
        .await?
        .ok_or_else(|| ApiError::Unavailable("no default SIP trunk configured (see /api/v1/trunks)".into()))?;
    if req.from_number.is_none() {
        req.from_number = pick_from(&trunk)
            .map(|n| cxb_model::number::normalize(&n).unwrap_or(n))
            .filter(|n| cxb_model::number::normalize(n).is_ok());
    }
    req.trunk = Some(trunk.settings);
    let health = fleet.health(state).await;
    let server = health
        .pick()
        .ok_or_else(|| ApiError::Unavailable("no healthy fleet capacity".into()))?;
    let secret = &state.cfg.internal_secret;
    let accepted = match dataplane_client::dial(&state.http, &server.url, secret, &req).await {
        // The dataplane may not have the bot yet (routing push in flight): push and retry once.
        Err(DataplaneError::Status { status: 404, .. }) => {
            if let Err(e) = crate::routing_push::push_all(state).await {
                tracing::warn!(error = %e, "routing push before dial-out retry failed");
            }
            dataplane_client::dial(&state.http, &server.url, secret, &req).await
        }
        other => other,
    }
    .map_err(map_dataplane)?;
    tracing::info!(call_id = %accepted.session_id, bot_id = %req.bot_id, "dial-out accepted");
    Ok(DialoutResponse {
        status: "ok".into(),
        call_id: accepted.session_id,
    })
}

#[cfg(test)]
mod tests;
