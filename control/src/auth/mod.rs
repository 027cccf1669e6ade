//! Who is calling: [`Principal`] (a dashboard user with a session cookie, or an API key), the
//! axum extractor that resolves it, and the secrets behind it (argon2id passwords, hashed API
//! keys, session tokens, login throttling).
//!
//! Credentials: `X-API-Key: cxb_…` (looked up by SHA-256) or the cookie `cxb_session` (token
//! hashed in `sessions`). Missing or invalid → 401.

pub mod bootstrap;
pub mod secrets;
pub mod throttle;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub use throttle::Throttle;

use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cxb_session";
/// Header carrying an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// A dashboard user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users, keys, settings.
    Admin,
    /// Sees calls only: no tokens, costs or raw JSON.
    CallsOnly,
    /// Operates bots and calls, but no management (users, keys, settings).
    Agent,
}

impl Role {
    /// The stored name (`admin`, `calls_only`, `agent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CallsOnly => "calls_only",
            Role::Agent => "agent",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "calls_only" => Some(Role::CallsOnly),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// What kind of caller a [`Principal`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A dashboard user logged in with a session cookie.
    User {
        /// User id.
        id: String,
        /// Login name.
        username: String,
        /// Role.
        role: Role,
    },
    /// An API key.
    ApiKey {
        /// Key id.
        id: String,
        /// Admin keys may use the management API and every bot.
        admin: bool,
        /// Bots a non-admin key is scoped to.
        bot_ids: Vec<String>,
    },
}

/// The authenticated caller of a request (an axum extractor; 401 when absent or invalid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User or API key.
    pub kind: PrincipalKind,
}

impl Principal {
    /// Whether the caller is an admin user or an admin key.
    pub fn is_admin(&self) -> bool {
        match &self.kind {
            PrincipalKind::User { role, .. } => *role == Role::Admin,
            PrincipalKind::ApiKey { admin, .. } => *admin,
        }
    }

    /// 403 unless [`Principal::is_admin`].
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("admin only".into()))
        }
    }

    /// Whether the caller may see and act on `bot_id`'s data (users: every bot; keys: their scope).
    pub fn can_access_bot(&self, bot_id: &str) -> bool {
        match &self.kind {
            PrincipalKind::User { .. } => true,
            PrincipalKind::ApiKey { admin, bot_ids, .. } => *admin || bot_ids.iter().any(|b| b == bot_id),
        }
    }

    /// `404 bot not found` unless the caller may access `bot_id` (404 rather than 403, so a key
    /// cannot learn which bot ids exist outside its scope).
    pub fn require_bot(&self, bot_id: &str) -> ApiResult<()> {
        if self.can_access_bot(bot_id) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("bot {bot_id:?} not found")))
        }
    }

    /// Whether the caller may see costs, tokens and raw JSON (false for `calls_only` users).
    pub fn can_see_costs(&self) -> bool {
        !matches!(
            self.kind,
            PrincipalKind::User {
                role: Role::CallsOnly,
                ..
            }
        )
    }

    /// Bots the caller is limited to: `None` = all bots.
    pub fn bot_filter(&self) -> Option<Vec<String>> {
        match &self.kind {
            PrincipalKind::ApiKey {
                admin: false, bot_ids, ..
            } => Some(bot_ids.clone()),
            _ => None,
        }
    }

    /// 403 for `calls_only` users (who may only read calls).
    pub fn require_not_calls_only(&self) -> ApiResult<()> {
        if let PrincipalKind::User {
            role: Role::CallsOnly, ..
        } = self.kind
        {
            return Err(ApiError::Forbidden("calls-only users cannot do this".into()));
        }
        Ok(())
    }

    /// A short label for audit fields (`user:alice`, `key:key_…`).
    pub fn label(&self) -> String {
        match &self.kind {
            PrincipalKind::User { username, .. } => format!("user:{username}"),
            PrincipalKind::ApiKey { id, .. } => format!("key:{id}"),
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Resolves an API key to its principal.
pub async fn principal_from_key(state: &AppState, key: &str) -> ApiResult<Option<Principal>> {
    let hash = db::sha256_hex(key);
    let row = sqlx::query("SELECT id, admin, bot_ids_json FROM api_keys WHERE key_hash = $1")
        .bind(&hash)
        .fetch_optional(&state.db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    let admin: i64 = row.try_get("admin")?;
    let bot_ids: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("bot_ids_json")?)?;
    sqlx::query("UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2")
        .bind(db::now_ms())
        .bind(&id)
        .execute(&state.db)
        .await?;
    Ok(Some(Principal {
        kind: PrincipalKind::ApiKey {
            id,
            admin: admin != 0,
            bot_ids,
        },
    }))
}

/// Resolves a session token to its user.
pub async fn principal_from_session(state: &AppState, token: &str) -> ApiResult<Option<Principal>> {
    let hash = db::sha256_hex(token);
    let row = sqlx::query(
        "SELECT u.id, u.username, u.role, s.expires_at_ms FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let expires: i64 = row.try_get("expires_at_ms")?;
    if expires <= db::now_ms() {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&hash)
            .execute(&state.db)
            .await?;
        return Ok(None);
    }
    let role: String = row.try_get("role")?;
    let role = Role::parse(&role).ok_or_else(|| ApiError::Internal(format!("unknown role {role:?}")))?;
    Ok(Some(Principal {
        kind: PrincipalKind::User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            role,
        },
    }))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(key) = parts.headers.get(API_KEY_HEADER) {
            let key = key
                .to_str()
                .map_err(|_| ApiError::Unauthorized("invalid API key".into()))?;
            return principal_from_key(state, key.trim())
                .await?
                .ok_or_else(|| ApiError::Unauthorized("invalid API key".into()));
        }
        let token = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie_value(h, SESSION_COOKIE));
        match token {
            Some(t) => principal_from_session(state, t)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("session expired or invalid".into())),
            None => Err(ApiError::Unauthorized("missing X-API-Key or session cookie".into())),
        }
    }
}
