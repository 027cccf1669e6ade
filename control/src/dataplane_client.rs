//! Control's client of a dataplane's internal API: `POST /internal/v1/dial` and
//! `GET /internal/v1/fleet`, both with `Authorization: Bearer <internal_secret>`.

use std::time::Duration;

use cxb_model::{DialAccepted, DialRequest, FleetSnapshot};

/// How long a dial request may take (the dataplane answers once the INVITE is queued).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a capacity query may take.
pub const FLEET_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a dataplane call failed.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The dataplane answered with an error status.
    #[error("dataplane {url} answered {status}: {message}")]
    Status {
        /// Request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The field a 422 names, if any.
        field: Option<String>,
        /// Its message.
        message: String,
    },
    /// Connection failure, timeout or an unreadable answer.
    #[error("dataplane {url}: {source}")]
    Http {
        /// Request URL.
        url: String,
        /// The client error.
        source: reqwest::Error,
    },
}

fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Reads a dataplane error body: `{"error": "...", "field"?, "message"?}` or plain text.
async fn status_error(url: String, resp: reqwest::Response) -> DataplaneError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let (field, message) = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => {
            let field = v.get("field").and_then(|f| f.as_str()).map(str::to_owned);
            let message = v
                .get("message")
                .and_then(|m| m.as_str())
                .or_else(|| v.get("error").and_then(|e| e.as_str()))
                .unwrap_or("")
                .to_owned();
            (field, message)
        }
        Err(_) => (None, text.chars().take(300).collect()),
    };
    DataplaneError::Status {
        url,
        status,
        field,
        message,
    }
}

/// Asks the dataplane at `base` to place `req` (202 → [`DialAccepted`]).
pub async fn dial(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    req: &DialRequest,
) -> Result<DialAccepted, DataplaneError> {
    let url = url(base, "/internal/v1/dial");
    let resp = http
        .post(&url)
        .bearer_auth(secret)
        .json(req)
        .timeout(DIAL_TIMEOUT)
        .send()
        .await
        .map_err(|source| DataplaneError::Http {
            url: url.clone(),
            source,
        })?;
    if !resp.status().is_success() {
        return Err(status_error(url, resp).await);
    }
    resp.json().await.map_err(|source| DataplaneError::Http { url, source })
}

/// The dataplane's capacity snapshot (`GET /internal/v1/fleet`).
pub async fn fleet(http: &reqwest::Client, base: &str, secret: &str) -> Result<FleetSnapshot, DataplaneError> {
    let url = url(base, "/internal/v1/fleet");
    let resp = http
        .get(&url)
        .bearer_auth(secret)
        .timeout(FLEET_TIMEOUT)
        .send()
        .await
        .map_err(|source| DataplaneError::Http {
            url: url.clone(),
            source,
        })?;
    if !resp.status().is_success() {
        return Err(status_error(url, resp).await);
    }
    resp.json().await.map_err(|source| DataplaneError::Http { url, source })
}
