//! First start: the `admin` user (password from `CXB_ADMIN_PASSWORD` or generated) and an admin
//! API key (from `CXB_ADMIN_API_KEY` or generated), created only when no user exists.

use sqlx::Row;

use super::Role;
use super::secrets;
use crate::db;
use crate::error::ApiResult;
use crate::state::{AppState, FirstStart};

/// Creates the first admin user and admin key when the `users` table is empty; returns the
/// secrets to show once (`None` when users already exist).
pub async fn first_start(state: &AppState) -> ApiResult<Option<FirstStart>> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&state.db)
        .await?
        .try_get("n")?;
    if n > 0 {
        return Ok(None);
    }
    let env_pw = std::env::var("CXB_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    let (password, shown_pw) = match env_pw {
        Some(p) => (p, None),
        None => {
            let p = secrets::new_password();
            (p.clone(), Some(p))
        }
    };
    create_user(state, "admin", &password, Role::Admin).await?;
    let key = std::env::var("CXB_ADMIN_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(secrets::new_api_key);
    insert_api_key(state, "admin (first start)", &key, true, &[]).await?;
    Ok(Some(FirstStart {
        admin_password: shown_pw,
        admin_api_key: Some(key),
    }))
}

/// Inserts a user with an argon2id hash of `password`; returns its id.
pub async fn create_user(state: &AppState, username: &str, password: &str, role: Role) -> ApiResult<String> {
    let hash = secrets::hash_password_async(password.to_owned()).await?;
    let id = db::new_id("usr_");
    sqlx::query("INSERT INTO users (id, username, password_hash, role, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(db::now_ms())
        .execute(&state.db)
        .await?;
    Ok(id)
}

/// Inserts an API key (stored as its SHA-256 and a display prefix); returns its id.
pub async fn insert_api_key(
    state: &AppState,
    name: &str,
    key: &str,
    admin: bool,
    bot_ids: &[String],
) -> ApiResult<String> {
    let id = db::new_id("key_");
    sqlx::query(
        "INSERT INTO api_keys (id, name, key_hash, prefix, admin, bot_ids_json, created_at_ms, last_used_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(&id)
    .bind(name)
    .bind(db::sha256_hex(key))
    .bind(secrets::key_prefix(key))
    .bind(db::b2i(admin))
    .bind(serde_json::to_string(bot_ids)?)
    .bind(db::now_ms())
    .execute(&state.db)
    .await?;
    Ok(id)
}
