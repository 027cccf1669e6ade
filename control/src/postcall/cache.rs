//! Per-bot post-call prompt caching (`bot_cache` table): whether the analysis/QC instructions are
//! sent as a cacheable prefix, and a version that a refresh bumps (it is part of the prefix and
//! of the cache key, so the provider's cached copy is abandoned).

use cxb_model::{BotConfig, Timestamp};
use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};

/// A bot's post-call cache state, as `GET /api/v1/bots/{id}/cache` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CacheStatus {
    /// Whether post-call prompts are sent with cache hints.
    pub enabled: bool,
    /// Bumped by every refresh (0: never refreshed).
    pub version: i64,
    /// Who refreshed last (user name or API key name).
    pub refreshed_by: Option<String>,
    /// When it was refreshed last (RFC 3339).
    #[schema(value_type = Option<String>)]
    pub refreshed_at: Option<Timestamp>,
}

/// The cache state of `bot_id` (disabled, version 0 when never set).
pub async fn status(db: &AnyPool, bot_id: &str) -> ApiResult<CacheStatus> {
    let row = sqlx::query("SELECT enabled, version, refreshed_by, refreshed_at_ms FROM bot_cache WHERE bot_id = $1")
        .bind(bot_id)
        .fetch_optional(db)
        .await?;
    let Some(r) = row else {
        return Ok(CacheStatus::default());
    };
    let enabled: i64 = r.try_get("enabled")?;
    let at: Option<i64> = r.try_get("refreshed_at_ms")?;
    Ok(CacheStatus {
        enabled: enabled != 0,
        version: r.try_get("version")?,
        refreshed_by: r.try_get("refreshed_by")?,
        refreshed_at: at.and_then(|ms| Timestamp::from_millisecond(ms).ok()),
    })
}

/// Writes the row (insert or update), returning the new state.
async fn write(db: &AnyPool, bot_id: &str, s: &CacheStatus) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM bot_cache WHERE bot_id = $1")
        .bind(bot_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO bot_cache (bot_id, enabled, version, refreshed_by, refreshed_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(bot_id)
    .bind(i64::from(s.enabled))
    .bind(s.version)
    .bind(s.refreshed_by.clone())
    .bind(s.refreshed_at.map(|t| t.as_millisecond()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns caching on or off for `bot_id`.
pub async fn set_enabled(db: &AnyPool, bot_id: &str, enabled: bool) -> ApiResult<CacheStatus> {
    let mut s = status(db, bot_id).await?;
    s.enabled = enabled;
    write(db, bot_id, &s).await?;
    Ok(s)
}

/// Starts a new cache version for `bot` (recording who did it). Refused with 422 (field
/// `analysis_prompt`) when the bot has neither an analysis nor a QC prompt: there is nothing to cache.
pub async fn refresh(db: &AnyPool, bot: &BotConfig, by: &str) -> ApiResult<CacheStatus> {
    if bot.analysis_prompt.trim().is_empty() && bot.qc_prompt.trim().is_empty() {
        return Err(ApiError::field(
            "analysis_prompt",
            "the bot has no analysis or QC prompt, so there is nothing to cache",
        ));
    }
    let mut s = status(db, &bot.id).await?;
    s.version += 1;
    s.refreshed_by = Some(by.to_owned());
    s.refreshed_at = Timestamp::from_millisecond(now_ms()).ok();
    write(db, &bot.id, &s).await?;
    Ok(s)
}
