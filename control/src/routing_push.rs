//! The [`DataplaneSnapshot`] control serves (bots, DIDs, decrypted provider endpoints, enabled
//! widgets with their key hashes) and [`push_all`], which PUTs it to every dataplane's
//! `/internal/v1/routing`.

use std::sync::atomic::{AtomicU64, Ordering};

use cxb_model::{BotConfig, DataplaneSnapshot, DidMapping, ProviderEndpoint, WidgetAccess};
use sqlx::Row;

use crate::error::ApiResult;
use crate::state::AppState;

/// Why a push failed (for logs; handlers never fail because of it).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Building the snapshot failed.
    #[error("building the snapshot: {0}")]
    Snapshot(#[from] crate::error::ApiError),
    /// A dataplane could not be reached.
    #[error("pushing to {url}: {source}")]
    Http {
        /// The dataplane.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// A dataplane answered with an error status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The dataplane.
        url: String,
        /// Its status.
        status: u16,
        /// Its body (the 422 names the field).
        body: String,
    },
}

/// Every bot (stored order by id), DID and provider endpoint (keys decrypted), and the enabled
/// widgets of existing bots (the SHA-256 of each key, never the key).
pub async fn snapshot(state: &AppState) -> ApiResult<DataplaneSnapshot> {
    let mut bots = Vec::new();
    for row in sqlx::query("SELECT config_json FROM bots ORDER BY id")
        .fetch_all(&state.db)
        .await?
    {
        let bot: BotConfig = serde_json::from_str(&row.try_get::<String, _>("config_json")?)?;
        bots.push(bot);
    }
    let mut dids = Vec::new();
    for row in sqlx::query("SELECT number, bot_id FROM dids ORDER BY number")
        .fetch_all(&state.db)
        .await?
    {
        dids.push(DidMapping {
            number: row.try_get("number")?,
            bot_id: row.try_get("bot_id")?,
        });
    }
    let providers: Vec<ProviderEndpoint> = crate::api::settings::all_provider_endpoints(state).await?;
    let mut widgets = Vec::new();
    for row in sqlx::query(
        "SELECT w.bot_id, w.allowed_domains_json, w.widget_key FROM widgets w \
         JOIN bots b ON b.id = w.bot_id WHERE w.enabled <> 0 ORDER BY w.bot_id",
    )
    .fetch_all(&state.db)
    .await?
    {
        let domains: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("allowed_domains_json")?)?;
        let key: String = row.try_get("widget_key")?;
        widgets.push(WidgetAccess::new(row.try_get::<String, _>("bot_id")?, &key, domains));
    }
    Ok(DataplaneSnapshot {
        bots,
        dids,
        providers,
        widgets,
    })
}

/// The dataplane URLs to push to: the fleet list saved in settings, else the configured ones.
pub async fn dataplane_urls(state: &AppState) -> ApiResult<Vec<String>> {
    if let Some(fleet) = crate::api::settings::fleet_servers(state).await? {
        return Ok(fleet);
    }
    Ok(state.cfg.dataplanes.iter().map(|d| d.url.clone()).collect())
}

/// The order of routing pushes: one at a time, and none that a later snapshot already covers
/// (shared in [`AppState`]).
#[derive(Debug, Default)]
pub struct PushTurns {
    turn: tokio::sync::Mutex<()>,
    /// Pushes asked for so far.
    asked: AtomicU64,
    /// Every push asked for up to this count is covered by an attempt that has finished.
    done: AtomicU64,
}

/// PUTs the snapshot to every dataplane (`Authorization: Bearer <internal_secret>`); tries all,
/// logs each failure and returns the first error.
///
/// One push at a time, each taking its snapshot once it holds the turn. Pushes run in the
/// background after every change, so two of them overlapped: a snapshot read before a change
/// could reach a dataplane after one read after it, and left it on the old routing (a new DID
/// or widget missing) until the next change. A push whose turn comes after an attempt that took
/// its snapshot since this push was asked for has nothing newer to send and returns `Ok` (that
/// attempt logged its own failures). So a burst of changes, even with a dataplane down and each
/// attempt waiting out its timeout, queues at most one push behind the one on the wire.
pub async fn push_all(state: &AppState) -> Result<(), PushError> {
    let turns = &state.routing_push;
    let ticket = turns.asked.fetch_add(1, Ordering::SeqCst) + 1;
    let _turn = turns.turn.lock().await;
    if turns.done.load(Ordering::SeqCst) >= ticket {
        return Ok(());
    }
    // Every push asked for so far was asked after its change was stored: this snapshot has it.
    let covers = turns.asked.load(Ordering::SeqCst);
    let snap = snapshot(state).await?;
    let urls = dataplane_urls(state).await?;
    let mut first_err = None;
    for base in urls {
        let url = format!("{}/internal/v1/routing", base.trim_end_matches('/'));
        let res = state
            .http
            .put(&url)
            .bearer_auth(&state.cfg.internal_secret)
            .json(&snap)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        let err = match res {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(PushError::Status {
                url: url.clone(),
                status: r.status().as_u16(),
                body: r.text().await.unwrap_or_default().chars().take(500).collect(),
            }),
            Err(source) => Some(PushError::Http {
                url: url.clone(),
                source,
            }),
        };
        if let Some(e) = err {
            tracing::warn!(error = %e, "routing push failed");
            first_err.get_or_insert(e);
        }
    }
    turns.done.fetch_max(covers, Ordering::SeqCst);
    first_err.map_or(Ok(()), Err)
}

/// [`push_all`], waiting for it at most `wait` (it goes on in the background after that); errors
/// are logged. Used where the change must be in force when the handler answers (a regenerated
/// widget key).
pub async fn push_all_within(state: &AppState, wait: std::time::Duration) {
    let state = state.clone();
    let push = tokio::spawn(async move {
        let _ = push_all(&state).await;
    });
    let _ = tokio::time::timeout(wait, push).await;
}

/// [`push_all`] in the background (after a bot, DID or provider change); errors are logged.
pub fn spawn_push_all(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let _ = push_all(&state).await;
    });
}
