//! `/api/v1/bots`: create, read, update (PUT whole, PATCH merge), delete, clone, and the
//! post-call cache switch. Validation errors name the field and the dashboard wizard step.
//!
//! Scope: admins see every bot; a non-admin API key sees and edits only its bots, and gets `404`
//! for the others (not `403`, so it cannot learn which ids exist). `calls_only` users get `403`.
//! Secrets in a bot (tool `auth_header`, CRM tokens) are shown masked (`****abcd`) to
//! non-admins; a masked value sent back keeps the stored secret.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cxb_model::{BotConfig, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::crypto::mask;
use crate::db;
use crate::error::{ApiError, ApiJson, ApiResult, Body};
use crate::routing_push;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/bots", get(list).post(create))
        .route("/api/v1/bots/{id}", get(read).put(replace).patch(patch).delete(remove))
        .route("/api/v1/bots/{id}/clone", post(clone))
        .route(
            "/api/v1/bots/{id}/cache",
            get(cache_status).put(cache_set).post(cache_refresh),
        )
}

/// The wizard step a bot field belongs to, from its first path segment.
pub fn step_of(field: &str) -> &'static str {
    let first = field.split(['.', '[']).next().unwrap_or("");
    match first {
        "system_prompt" | "policy" | "knowledge_base" | "variables" => "prompt",
        "pipeline" => "voice",
        "behavior" | "max_call_seconds" | "answer_delay_ms" | "ring" | "record" | "active_hours" | "voicemail" => {
            "behavior"
        }
        "tools" | "transfer_targets" => "tools",
        "crm_prefetch" | "crm_push" | "allowed_sip_headers" | "analysis_prompt" | "qc_prompt" => "integrations",
        _ => "identity",
    }
}

/// A [`FieldError`] of a bot as a 422 with its wizard step.
pub fn bot_field_error(e: FieldError) -> ApiError {
    let step = step_of(&e.field);
    ApiError::UnprocessableStep {
        field: e.field,
        message: e.message,
        step,
    }
}

/// One bot in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotSummary {
    /// Bot id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether it takes calls.
    pub active: bool,
    /// Numbers mapped to it.
    pub dids: Vec<String>,
    /// Created, unix ms.
    pub created_at_ms: i64,
    /// Last changed, unix ms.
    pub updated_at_ms: i64,
}

/// `POST /api/v1/bots/{id}/clone` body (all optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CloneRequest {
    /// Id of the copy (default: `<id>-copy-<random>`).
    #[serde(default)]
    pub id: Option<String>,
    /// Name of the copy (default: `Copy of <name>`).
    #[serde(default)]
    pub name: Option<String>,
}

/// The stored config of bot `id`, if any.
pub async fn load_bot(state: &AppState, id: &str) -> ApiResult<Option<BotConfig>> {
    let row = sqlx::query("SELECT config_json FROM bots WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    match row {
        Some(r) => Ok(Some(serde_json::from_str(&r.try_get::<String, _>("config_json")?)?)),
        None => Ok(None),
    }
}

/// The bot `id` if it exists and the caller may access it, else 404.
pub async fn visible_bot(state: &AppState, p: &Principal, id: &str) -> ApiResult<BotConfig> {
    p.require_bot(id)?;
    load_bot(state, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("bot {id:?} not found")))
}

/// 409 listing the running campaigns of `bot_id`, if any.
pub async fn ensure_unlocked(state: &AppState, bot_id: &str) -> ApiResult<()> {
    let rows = sqlx::query("SELECT id, name FROM campaigns WHERE bot_id = $1 AND status = 'running' ORDER BY id")
        .bind(bot_id)
        .fetch_all(&state.db)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut campaigns = Vec::with_capacity(rows.len());
    for r in rows {
        campaigns.push(json!({"id": r.try_get::<String, _>("id")?, "name": r.try_get::<String, _>("name")?}));
    }
    Err(ApiError::Conflict {
        message: format!("bot {bot_id:?} is used by {} running campaign(s)", campaigns.len()),
        details: json!({ "campaigns": campaigns }),
    })
}

/// The bot with its secrets masked (for non-admins).
pub fn masked(mut bot: BotConfig) -> BotConfig {
    for t in &mut bot.tools {
        if let Some(h) = &t.auth_header {
            t.auth_header = Some(mask(h));
        }
    }
    if let Some(p) = &mut bot.crm_prefetch
        && let Some(t) = &p.token
    {
        p.token = Some(mask(t));
    }
    if let Some(p) = &mut bot.crm_push
        && let Some(t) = &p.token
    {
        p.token = Some(mask(t));
    }
    bot
}

/// Puts back stored secrets where `new` carries their masked form.
fn unmask(new: &mut BotConfig, old: &BotConfig) {
    let keep = |v: &mut Option<String>, old: Option<&String>| {
        if let (Some(n), Some(o)) = (v.as_ref(), old)
            && n.starts_with("****")
            && *n == mask(o)
        {
            *v = Some(o.clone());
        }
    };
    for t in &mut new.tools {
        let o = old
            .tools
            .iter()
            .find(|o| o.name == t.name)
            .and_then(|o| o.auth_header.as_ref());
        keep(&mut t.auth_header, o);
    }
    if let Some(p) = &mut new.crm_prefetch {
        keep(&mut p.token, old.crm_prefetch.as_ref().and_then(|o| o.token.as_ref()));
    }
    if let Some(p) = &mut new.crm_push {
        keep(&mut p.token, old.crm_push.as_ref().and_then(|o| o.token.as_ref()));
    }
}

fn view(p: &Principal, bot: BotConfig) -> Json<BotConfig> {
    Json(if p.is_admin() { bot } else { masked(bot) })
}

/// Parses a JSON value as a bot config (422 naming the field) and validates it.
fn parse_bot(v: Value) -> ApiResult<BotConfig> {
    let bot: BotConfig = serde_json::from_value(v).map_err(|e| {
        let msg = e.to_string();
        // serde names a missing field in its message; the rest is about the body's shape.
        let field = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .unwrap_or("body")
            .to_owned();
        bot_field_error(FieldError::new(field, msg))
    })?;
    bot.validate().map_err(bot_field_error)?;
    Ok(bot)
}

/// Inserts or replaces a bot row.
async fn store(state: &AppState, bot: &BotConfig, insert: bool) -> ApiResult<()> {
    let now = db::now_ms();
    let json = serde_json::to_string(bot)?;
    if insert {
        sqlx::query(
            "INSERT INTO bots (id, name, active, config_json, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&bot.id)
        .bind(&bot.name)
        .bind(db::b2i(bot.active))
        .bind(&json)
        .bind(now)
        .bind(now)
        .execute(&state.db)
        .await?;
    } else {
        sqlx::query("UPDATE bots SET name = $1, active = $2, config_json = $3, updated_at_ms = $4 WHERE id = $5")
            .bind(&bot.name)
            .bind(db::b2i(bot.active))
            .bind(&json)
            .bind(now)
            .bind(&bot.id)
            .execute(&state.db)
            .await?;
    }
    Ok(())
}

async fn insert_new(state: &AppState, bot: &BotConfig) -> ApiResult<()> {
    if load_bot(state, &bot.id).await?.is_some() {
        return Err(ApiError::Conflict {
            message: format!("bot {:?} already exists", bot.id),
            details: Value::Null,
        });
    }
    store(state, bot, true).await
}

/// Lists the bots the caller may see.
#[utoipa::path(get, path = "/api/v1/bots", tag = "bots",
    responses((status = 200, body = [BotSummary]), (status = 401), (status = 403)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<BotSummary>>> {
    p.require_not_calls_only()?;
    let rows = sqlx::query("SELECT id, name, active, created_at_ms, updated_at_ms FROM bots ORDER BY id")
        .fetch_all(&state.db)
        .await?;
    let dids = sqlx::query("SELECT number, bot_id FROM dids ORDER BY number")
        .fetch_all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        if !p.can_access_bot(&id) {
            continue;
        }
        let mut numbers = Vec::new();
        for d in &dids {
            if d.try_get::<String, _>("bot_id")? == id {
                numbers.push(d.try_get("number")?);
            }
        }
        out.push(BotSummary {
            name: r.try_get("name")?,
            active: r.try_get::<i64, _>("active")? != 0,
            dids: numbers,
            created_at_ms: r.try_get("created_at_ms")?,
            updated_at_ms: r.try_get("updated_at_ms")?,
            id,
        });
    }
    Ok(Json(out))
}

/// Creates a bot (admin only). The body is a bot config; `id` may be left out (generated).
#[utoipa::path(post, path = "/api/v1/bots", tag = "bots", request_body = Object,
    responses((status = 201, body = Object), (status = 401), (status = 403), (status = 409), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Response> {
    p.require_admin()?;
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    if !obj.contains_key("id") {
        obj.insert("id".into(), json!(format!("bot-{}", db::short_token(12))));
    }
    let bot = parse_bot(body)?;
    insert_new(&state, &bot).await?;
    routing_push::spawn_push_all(&state);
    Ok((StatusCode::CREATED, view(&p, bot)).into_response())
}

/// One bot's full config.
#[utoipa::path(get, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn read(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<Json<BotConfig>> {
    p.require_not_calls_only()?;
    let bot = visible_bot(&state, &p, &id).await?;
    Ok(view(&p, bot))
}

pub(crate) async fn check_writer(p: &Principal) -> ApiResult<()> {
    p.require_not_calls_only()?;
    if let crate::auth::PrincipalKind::User {
        role: crate::auth::Role::Agent,
        ..
    } = p.kind
    {
        return Err(ApiError::Forbidden("agents cannot change bots".into()));
    }
    Ok(())
}

/// Replaces a bot's config (admin, or a key scoped to the bot). 409 while a campaign runs it.
#[utoipa::path(put, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn replace(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Json<BotConfig>> {
    check_writer(&p).await?;
    let old = visible_bot(&state, &p, &id).await?;
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    match obj.get("id") {
        None => {
            obj.insert("id".into(), json!(id));
        }
        Some(v) if v.as_str() == Some(id.as_str()) => {}
        Some(_) => {
            return Err(bot_field_error(FieldError::new(
                "id",
                "must match the bot id in the path",
            )));
        }
    }
    let mut bot = parse_bot(body)?;
    unmask(&mut bot, &old);
    ensure_unlocked(&state, &id).await?;
    store(&state, &bot, false).await?;
    routing_push::spawn_push_all(&state);
    Ok(view(&p, bot))
}

/// Merges a JSON patch (RFC 7396) into a bot (e.g. `{"active": false}`). Only `active` may change
/// while a campaign runs the bot.
#[utoipa::path(patch, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn patch(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<BotConfig>> {
    check_writer(&p).await?;
    let old = visible_bot(&state, &p, &id).await?;
    let Some(obj) = body.as_object() else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    if obj.get("id").is_some_and(|v| v.as_str() != Some(id.as_str())) {
        return Err(bot_field_error(FieldError::new("id", "cannot be changed")));
    }
    let only_active = obj.keys().all(|k| k == "active" || k == "id");
    let mut merged = serde_json::to_value(&old)?;
    merge_patch(&mut merged, &body);
    let mut bot = parse_bot(merged)?;
    unmask(&mut bot, &old);
    if !only_active {
        ensure_unlocked(&state, &id).await?;
    }
    store(&state, &bot, false).await?;
    routing_push::spawn_push_all(&state);
    Ok(view(&p, bot))
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Deletes a bot with its DID mappings and widget (admin only). 409 while a campaign runs it.
#[utoipa::path(delete, path = "/api/v1/bots/{id}", tag = "bots", params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn remove(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    p.require_admin()?;
    visible_bot(&state, &p, &id).await?;
    ensure_unlocked(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    for sql in [
        "DELETE FROM dids WHERE bot_id = $1",
        "DELETE FROM widgets WHERE bot_id = $1",
        "DELETE FROM bots WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    routing_push::spawn_push_all(&state);
    Ok(StatusCode::NO_CONTENT)
}

/// Copies a bot's settings under a new id and the name "Copy of …" (admin only). DIDs, calls,
/// campaigns and the widget are not copied.
#[utoipa::path(post, path = "/api/v1/bots/{id}/clone", tag = "bots", params(("id" = String, Path)),
    request_body(content = CloneRequest, description = "optional"),
    responses((status = 201, body = Object), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn clone(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    p.require_admin()?;
    let req: CloneRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CloneRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::field("body", e.to_string()))?
    };
    let mut bot = visible_bot(&state, &p, &id).await?;
    bot.id = match req.id {
        Some(new) => new,
        None => {
            let suffix = db::short_token(6);
            let base: String = id.chars().take(cxb_model::bot::MAX_BOT_ID_LEN - 12).collect();
            format!("{base}-copy-{suffix}")
        }
    };
    bot.name = req.name.unwrap_or_else(|| format!("Copy of {}", bot.name));
    bot.validate().map_err(bot_field_error)?;
    insert_new(&state, &bot).await?;
    routing_push::spawn_push_all(&state);
    Ok((StatusCode::CREATED, view(&p, bot)).into_response())
}

/// `PUT /api/v1/bots/{id}/cache` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CacheSwitch {
    /// Send post-call prompts with cache hints.
    pub enabled: bool,
}

/// The bot's post-call prompt cache state.
#[utoipa::path(get, path = "/api/v1/bots/{id}/cache", tag = "bots", params(("id" = String, Path)),
    responses((status = 200, body = crate::postcall::cache::CacheStatus), (status = 401), (status = 403), (status = 404)))]
pub async fn cache_status(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::postcall::cache::CacheStatus>> {
    p.require_not_calls_only()?;
    visible_bot(&state, &p, &id).await?;
    Ok(Json(crate::postcall::cache::status(&state.db, &id).await?))
}

/// Enables or disables the post-call prompt cache.
#[utoipa::path(put, path = "/api/v1/bots/{id}/cache", tag = "bots", params(("id" = String, Path)), request_body = CacheSwitch,
    responses((status = 200, body = crate::postcall::cache::CacheStatus), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn cache_set(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Body<CacheSwitch>,
) -> ApiResult<Json<crate::postcall::cache::CacheStatus>> {
    check_writer(&p).await?;
    visible_bot(&state, &p, &id).await?;
    let body = body.into_inner()?;
    Ok(Json(
        crate::postcall::cache::set_enabled(&state.db, &id, body.enabled).await?,
    ))
}

/// Starts a new cache version (refused when the bot has no analysis or QC prompt).
#[utoipa::path(post, path = "/api/v1/bots/{id}/cache", tag = "bots", params(("id" = String, Path)),
    responses((status = 200, body = crate::postcall::cache::CacheStatus), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn cache_refresh(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::postcall::cache::CacheStatus>> {
    check_writer(&p).await?;
    let bot = visible_bot(&state, &p, &id).await?;
    Ok(Json(
        crate::postcall::cache::refresh(&state.db, &bot, &p.label()).await?,
    ))
}
