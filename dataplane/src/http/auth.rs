//! Shared-secret bearer authentication of the internal API (constant-time comparison).

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Authentication failure (401 with a JSON reason; the secret is never echoed or logged).
#[derive(Debug)]
pub struct Unauthorized(&'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({ "error": self.0 })),
        )
            .into_response()
    }
}

/// Checks `Authorization: Bearer <secret>`. An empty configured secret refuses everything.
pub fn check(secret: &str, headers: &HeaderMap) -> Result<(), Unauthorized> {
    if secret.is_empty() {
        return Err(Unauthorized("internal API disabled: no secret configured"));
    }
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Unauthorized("missing bearer token"))?;
    if constant_time_eq(got.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(Unauthorized("invalid bearer token"))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_checks() {
        let mut h = HeaderMap::new();
        assert!(check("s3cret", &h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(check("s3cret", &h).is_ok());
        assert!(check("other!", &h).is_err());
        assert!(check("", &h).is_err());
    }
}
