//! `/api/v1/bots/{id}/widget`: the web widget's settings (enabled, allowed domains, key) and
//! embed snippet; `POST …/widget/regenerate` replaces the key (the old one stops at once).
//!
//! The key is shown masked unless an admin asks `?reveal=true`. Enabled widgets go to the
//! dataplanes in the routing snapshot (key hashed, see [`cxb_model::WidgetAccess`]); `PUT` and
//! `regenerate` push routing before answering (waiting at most [`PUSH_WAIT`]), so a disabled widget
//! or an old key stops working at once. Browsers connect to the dataplane's `GET /widget/{bot_id}`
//! (`?key=`, `Origin` checked there with the same [`origin_allowed`] as [`check`] here).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

pub use cxb_model::widget::{MAX_DOMAINS, origin_allowed};
use cxb_model::widget::{constant_time_eq, valid_domain};

use super::bots::{check_writer, visible_bot};
use crate::auth::Principal;
use crate::crypto::mask;
use crate::db;
use crate::error::{ApiError, ApiResult, Body};
use crate::routing_push;
use crate::state::AppState;

/// Longest wait for the routing push after a change (it goes on in the background after that).
pub const PUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/bots/{id}/widget", get(read).put(update))
        .route("/api/v1/bots/{id}/widget/regenerate", post(regenerate))
}

/// Widget settings as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetView {
    /// Whether the widget takes calls.
    pub enabled: bool,
    /// Page origins allowed to embed it (`example.com`, `*.example.com`).
    pub allowed_domains: Vec<String>,
    /// The key, masked.
    pub widget_key_masked: String,
    /// The key in clear (only with `?reveal=true`, admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widget_key: Option<String>,
    /// HTML to paste into a page (with the masked key unless revealed).
    pub embed_snippet: String,
    /// The dataplane WebSocket endpoint browsers connect to (`wss://…/widget/{bot_id}`; the key
    /// goes in `?key=`).
    pub ws_url: String,
}

/// `PUT` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WidgetUpdate {
    /// Enable or disable.
    pub enabled: bool,
    /// Allowed page domains.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

/// `?reveal=true` shows the key (admins only).
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct RevealQuery {
    /// Show the key in clear.
    #[serde(default)]
    pub reveal: bool,
}

/// Stored widget settings of a bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    /// Enabled.
    pub enabled: bool,
    /// Allowed domains.
    pub allowed_domains: Vec<String>,
    /// Current key.
    pub key: String,
}

fn new_key() -> String {
    format!(
        "wk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(db::random_bytes(24))
    )
}

/// The bot's widget row, created (disabled, new key) on first use.
pub async fn load_or_create(state: &AppState, bot_id: &str) -> ApiResult<Widget> {
    let row = sqlx::query("SELECT enabled, allowed_domains_json, widget_key FROM widgets WHERE bot_id = $1")
        .bind(bot_id)
        .fetch_optional(&state.db)
        .await?;
    if let Some(r) = row {
        return Ok(Widget {
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            allowed_domains: serde_json::from_str(&r.try_get::<String, _>("allowed_domains_json")?)?,
            key: r.try_get("widget_key")?,
        });
    }
    let w = Widget {
        enabled: false,
        allowed_domains: Vec::new(),
        key: new_key(),
    };
    save(state, bot_id, &w).await?;
    Ok(w)
}

async fn save(state: &AppState, bot_id: &str, w: &Widget) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM widgets WHERE bot_id = $1")
        .bind(bot_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO widgets (bot_id, enabled, allowed_domains_json, widget_key) VALUES ($1, $2, $3, $4)")
        .bind(bot_id)
        .bind(db::b2i(w.enabled))
        .bind(serde_json::to_string(&w.allowed_domains)?)
        .bind(&w.key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `key` is the bot's current widget key, the widget is enabled, and `origin` (an
/// `Origin` header such as `https://shop.example.com`) is allowed.
pub async fn check(state: &AppState, bot_id: &str, key: &str, origin: &str) -> ApiResult<bool> {
    let row = sqlx::query("SELECT enabled, allowed_domains_json, widget_key FROM widgets WHERE bot_id = $1")
        .bind(bot_id)
        .fetch_optional(&state.db)
        .await?;
    let Some(r) = row else { return Ok(false) };
    let stored: String = r.try_get("widget_key")?;
    if r.try_get::<i64, _>("enabled")? == 0 || !constant_time_eq(stored.as_bytes(), key.as_bytes()) {
        return Ok(false);
    }
    let domains: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("allowed_domains_json")?)?;
    Ok(origin_allowed(&domains, origin))
}

/// The browser endpoint of `bot_id`'s widget: `ws(s)://<dataplane>/widget/{bot_id}`, on the
/// configured dataplane public URL ([`crate::config::ControlConfig::dataplane_public_url`]) when
/// set, else on the first dataplane (the fleet list in settings, else the configured ones), or on
/// the public URL when none is known (a proxy in front of both).
pub async fn ws_url(state: &AppState, bot_id: &str) -> ApiResult<String> {
    let base = match &state.cfg.dataplane_public_url {
        Some(url) => url.clone(),
        None => routing_push::dataplane_urls(state)
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| state.cfg.public_url.clone()),
    };
    Ok(format!("{}/widget/{bot_id}", ws_base(&base)))
}

/// `base` without its trailing `/`, `http://` → `ws://`, `https://` → `wss://` (other schemes,
/// such as an explicit `wss://`, as they are).
pub fn ws_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}

async fn view(state: &AppState, bot_id: &str, w: Widget, reveal: bool) -> ApiResult<WidgetView> {
    let shown = if reveal { w.key.clone() } else { mask(&w.key) };
    let ws_url = ws_url(state, bot_id).await?;
    let embed_snippet = format!(
        "<script src=\"{}/widget.js\" data-bot-id=\"{bot_id}\" data-widget-key=\"{shown}\" \
         data-endpoint=\"{ws_url}\" async></script>",
        state.cfg.public_url.trim_end_matches('/')
    );
    Ok(WidgetView {
        enabled: w.enabled,
        allowed_domains: w.allowed_domains,
        widget_key_masked: mask(&w.key),
        widget_key: reveal.then_some(w.key),
        embed_snippet,
        ws_url,
    })
}

/// The widget settings (key masked; `?reveal=true` for admins shows it).
#[utoipa::path(get, path = "/api/v1/bots/{id}/widget", tag = "bots", params(("id" = String, Path), RevealQuery),
    responses((status = 200, body = WidgetView), (status = 401), (status = 403), (status = 404)))]
pub async fn read(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<RevealQuery>,
) -> ApiResult<Json<WidgetView>> {
    p.require_not_calls_only()?;
    visible_bot(&state, &p, &id).await?;
    if q.reveal {
        p.require_admin()?;
    }
    let w = load_or_create(&state, &id).await?;
    Ok(Json(view(&state, &id, w, q.reveal).await?))
}

/// Enables/disables the widget and sets its allowed domains.
#[utoipa::path(put, path = "/api/v1/bots/{id}/widget", tag = "bots", params(("id" = String, Path)),
    request_body = WidgetUpdate,
    responses((status = 200, body = WidgetView), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Body<WidgetUpdate>,
) -> ApiResult<Json<WidgetView>> {
    check_writer(&p).await?;
    visible_bot(&state, &p, &id).await?;
    let body = body.into_inner()?;
    if body.allowed_domains.len() > MAX_DOMAINS {
        return Err(ApiError::field(
            "allowed_domains",
            format!("at most {MAX_DOMAINS} domains"),
        ));
    }
    let mut domains = Vec::with_capacity(body.allowed_domains.len());
    for (i, d) in body.allowed_domains.iter().enumerate() {
        let d = d.trim().to_ascii_lowercase();
        if !valid_domain(&d) {
            return Err(ApiError::field(
                format!("allowed_domains[{i}]"),
                "must be a domain such as example.com or *.example.com",
            ));
        }
        domains.push(d);
    }
    let mut w = load_or_create(&state, &id).await?;
    w.enabled = body.enabled;
    w.allowed_domains = domains;
    save(&state, &id, &w).await?;
    routing_push::push_all_within(&state, PUSH_WAIT).await;
    Ok(Json(view(&state, &id, w, false).await?))
}

/// Replaces the widget key and pushes routing; the old key stops working at once. The new key is
/// returned in clear (once) to admins.
#[utoipa::path(post, path = "/api/v1/bots/{id}/widget/regenerate", tag = "bots", params(("id" = String, Path)),
    responses((status = 200, body = WidgetView), (status = 401), (status = 403), (status = 404)))]
pub async fn regenerate(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WidgetView>> {
    check_writer(&p).await?;
    visible_bot(&state, &p, &id).await?;
    let mut w = load_or_create(&state, &id).await?;
    w.key = new_key();
    save(&state, &id, &w).await?;
    routing_push::push_all_within(&state, PUSH_WAIT).await;
    let reveal = p.is_admin();
    Ok(Json(view(&state, &id, w, reveal).await?))
}
