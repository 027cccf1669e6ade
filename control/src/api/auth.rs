//! Dashboard login: `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`, `GET /api/v1/me`,
//! and `GET/POST /api/v1/users` (admin).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::{Principal, PrincipalKind, Role, SESSION_COOKIE, bootstrap, cookie_value, secrets};
use crate::db;
use crate::error::{ApiError, ApiJson, ApiResult, Body};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(list_users).post(create_user))
}

/// Login body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Who is logged in (or which key is used).
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user` or `api_key`.
    pub kind: &'static str,
    /// User or key id.
    pub id: String,
    /// User name (users only).
    pub username: Option<String>,
    /// Role (`admin`, `calls_only`, `agent`; keys: `admin` or `scoped`).
    pub role: String,
    /// Bots a scoped key may use (`null`: all).
    pub bot_ids: Option<Vec<String>>,
    /// Whether costs and tokens are visible.
    pub can_see_costs: bool,
}

/// A user as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Created, unix ms.
    pub created_at_ms: i64,
}

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// Login name (1-64 of letters, digits, `_ . @ -`).
    pub username: String,
    /// Password (at least 8 characters).
    pub password: String,
    /// Role.
    pub role: Role,
}

/// A real argon2id hash of a random password, made once, to verify unknown names against.
async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async {
            secrets::hash_password_async(secrets::new_password())
                .await
                .unwrap_or_default()
        })
        .await
        .clone()
}

fn me_of(p: &Principal) -> Me {
    match &p.kind {
        PrincipalKind::User { id, username, role } => Me {
            kind: "user",
            id: id.clone(),
            username: Some(username.clone()),
            role: role.as_str().to_owned(),
            bot_ids: None,
            can_see_costs: p.can_see_costs(),
        },
        PrincipalKind::ApiKey { id, admin, bot_ids } => Me {
            kind: "api_key",
            id: id.clone(),
            username: None,
            role: if *admin { "admin" } else { "scoped" }.to_owned(),
            bot_ids: (!admin).then(|| bot_ids.clone()),
            can_see_costs: true,
        },
    }
}

/// Checks a password and sets the session cookie (HttpOnly, SameSite=Strict, 12 h). 401 on a
/// wrong name or password; 429 after 10 failures in a minute for that name.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login, security(),
    responses((status = 200, body = Me), (status = 401), (status = 429)))]
pub async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<Login>) -> ApiResult<Response> {
    let now = db::now_ms();
    let username = body.username.trim().to_owned();
    if !state.throttle.allowed(&username, now) {
        return Err(ApiError::TooManyRequests(
            "too many failed logins; try again in a minute".into(),
        ));
    }
    let row = sqlx::query("SELECT id, password_hash, role FROM users WHERE username = $1")
        .bind(&username)
        .fetch_optional(&state.db)
        .await?;
    let found = match row {
        Some(r) => Some((
            r.try_get::<String, _>("id")?,
            r.try_get::<String, _>("password_hash")?,
            r.try_get::<String, _>("role")?,
        )),
        None => None,
    };
    // Verify against a dummy hash for unknown names so timing does not reveal them.
    let hash = match &found {
        Some(f) => f.1.clone(),
        None => dummy_hash().await,
    };
    let ok = secrets::verify_password_async(body.password, hash).await;
    let Some((user_id, _, role)) = found.filter(|_| ok) else {
        state.throttle.fail(&username, now);
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    };
    state.throttle.succeed(&username);
    let token = secrets::new_session_token();
    sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at_ms) VALUES ($1, $2, $3)")
        .bind(db::sha256_hex(&token))
        .bind(&user_id)
        .bind(now + secrets::SESSION_TTL_MS)
        .execute(&state.db)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
        .bind(now)
        .execute(&state.db)
        .await?;
    let p = Principal {
        kind: PrincipalKind::User {
            id: user_id,
            username,
            role: Role::parse(&role).ok_or_else(|| ApiError::Internal(format!("unknown role {role:?}")))?,
        },
    };
    let cookie = secrets::session_cookie(&token, state.cfg.is_https());
    Ok(([(header::SET_COOKIE, cookie)], Json(me_of(&p))).into_response())
}

/// Ends the session (its token is deleted) and clears the cookie. Always 204.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(), responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, SESSION_COOKIE));
    if let Some(t) = token {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(db::sha256_hex(t))
            .execute(&state.db)
            .await?;
    }
    let cookie = secrets::clear_cookie(state.cfg.is_https());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = Me), (status = 401)))]
pub async fn me(p: Principal) -> Json<Me> {
    Json(me_of(&p))
}

/// All users (admin only).
#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    responses((status = 200, body = [UserView]), (status = 401), (status = 403)))]
pub async fn list_users(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<UserView>>> {
    p.require_admin()?;
    let rows = sqlx::query("SELECT id, username, role, created_at_ms FROM users ORDER BY username")
        .fetch_all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let role: String = r.try_get("role")?;
        out.push(UserView {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            role: Role::parse(&role).ok_or_else(|| ApiError::Internal(format!("unknown role {role:?}")))?,
            created_at_ms: r.try_get("created_at_ms")?,
        });
    }
    Ok(Json(out))
}

/// Creates a user (admin only); 409 when the name is taken.
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 401), (status = 403), (status = 409), (status = 422)))]
pub async fn create_user(State(state): State<AppState>, p: Principal, body: Body<NewUser>) -> ApiResult<Response> {
    p.require_admin()?;
    let body = body.into_inner()?;
    let name = body.username.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
    {
        return Err(ApiError::field(
            "username",
            "must be 1-64 of letters, digits, '_', '.', '@', '-'",
        ));
    }
    if body.password.chars().count() < 8 || body.password.len() > 1024 {
        return Err(ApiError::field("password", "must be 8 to 1024 characters"));
    }
    let taken = sqlx::query("SELECT id FROM users WHERE username = $1")
        .bind(name)
        .fetch_optional(&state.db)
        .await?;
    if taken.is_some() {
        return Err(ApiError::Conflict {
            message: format!("user {name:?} exists"),
            details: serde_json::Value::Null,
        });
    }
    let id = bootstrap::create_user(&state, name, &body.password, body.role).await?;
    let view = UserView {
        id,
        username: name.to_owned(),
        role: body.role,
        created_at_ms: db::now_ms(),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}
