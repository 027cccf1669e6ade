//! Password hashing (argon2id), API keys (`cxb_` + 32 random bytes, stored as SHA-256) and
//! session tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::db;
use crate::error::ApiError;

/// Session lifetime, milliseconds (12 h).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;
/// Characters of an API key kept for display.
pub const KEY_PREFIX_LEN: usize = 12;

/// Argon2id hash (PHC string) of `password`. CPU-heavy: call from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&db::random_bytes(16)).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches the PHC `hash`. CPU-heavy: call from `spawn_blocking`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// [`hash_password`] on the blocking pool.
pub async fn hash_password_async(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// [`verify_password`] on the blocking pool.
pub async fn verify_password_async(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// A new API key: `cxb_` + 32 random bytes in base64url.
pub fn new_api_key() -> String {
    format!("cxb_{}", URL_SAFE_NO_PAD.encode(db::random_bytes(32)))
}

/// The displayable prefix of a key.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(KEY_PREFIX_LEN).collect()
}

/// A new random password (24 base64url characters).
pub fn new_password() -> String {
    URL_SAFE_NO_PAD.encode(db::random_bytes(18))
}

/// A new session token (32 random bytes, base64url).
pub fn new_session_token() -> String {
    URL_SAFE_NO_PAD.encode(db::random_bytes(32))
}

/// `Set-Cookie` value for a session token (`Secure` when `secure`).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        super::SESSION_COOKIE,
        SESSION_TTL_MS / 1000
    )
}

/// `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}",
        super::SESSION_COOKIE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_and_is_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn api_keys_are_long_and_distinct() {
        let a = new_api_key();
        assert!(a.starts_with("cxb_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, new_api_key());
        assert_eq!(key_prefix(&a).len(), KEY_PREFIX_LEN);
        assert!(session_cookie("t", true).contains("; Secure"));
        assert!(session_cookie("t", false).contains("HttpOnly; SameSite=Strict"));
    }
}
