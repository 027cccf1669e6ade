//! Post-call CRM push: the bot's `crm_push` (`url`, `token`, `method`, `key_mapper`) sends the
//! call's result to the customer's CRM. The body is the key mapper rendered with the shared
//! template code over `call/crm/result/analysis/qc/system`; the token goes in
//! `Authorization: Bearer …` and is never logged. One attempt per run of the `crm_push` job
//! (the job queue retries with exponential backoff); every attempt lands in the integration log.

pub mod log;
#[cfg(test)]
mod tests;

use std::time::Duration;

use cxb_model::template::{self, TemplateContext, render_json};
use cxb_model::{CrmPush, HttpMethod, Timestamp};
use serde_json::{Map, Value};

use crate::db::now_ms;
use crate::postcall::PostcallError;
use crate::postcall::analysis::{bot_tz, load_bot, load_call};
use crate::state::AppState;
pub use log::LogEntry;

/// Log kind of a CRM push attempt.
pub const LOG_KIND: &str = "crm_push";
/// How long one push may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why one push attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Connecting, sending or reading failed (or timed out).
    #[error("CRM request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// The configured URL does not parse.
    #[error("CRM URL is not a valid URL")]
    BadUrl,
    /// The CRM answered with a non-success status.
    #[error("CRM answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
}

impl PushError {
    /// Whether a later attempt may succeed: transport errors, 5xx, 408, 425, 429 (other 4xx
    /// mean the request itself is wrong).
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Transport(_) => true,
            PushError::BadUrl => false,
            PushError::Status { status } => *status >= 500 || matches!(*status, 408 | 425 | 429),
        }
    }
}

/// The push body: `key_mapper` rendered over `ctx` (each value a template; a value that is one
/// whole variable keeps its JSON type). An empty mapper sends every namespace as it is.
/// Returns the body and the unknown variables.
pub fn build_body(push: &CrmPush, ctx: &TemplateContext) -> (Value, Vec<String>) {
    if push.key_mapper.is_empty() {
        let mut m = Map::new();
        for ns in ["call", "crm", "result", "analysis", "qc"] {
            m.insert(ns.to_owned(), ctx.get(ns).cloned().unwrap_or(Value::Null));
        }
        return (Value::Object(m), Vec::new());
    }
    let mapper: Map<String, Value> = push
        .key_mapper
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    render_json(&Value::Object(mapper), ctx)
}

/// A JSON value as a query-string value (GET pushes).
fn query_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Sends `body` once. Returns the HTTP status on success.
pub async fn send(http: &reqwest::Client, push: &CrmPush, body: &Value, timeout: Duration) -> Result<u16, PushError> {
    let method = match push.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
    };
    let mut url = reqwest::Url::parse(&push.url).map_err(|_| PushError::BadUrl)?;
    if push.method == HttpMethod::Get
        && let Some(m) = body.as_object()
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in m {
            q.append_pair(k, &query_value(v));
        }
    }
    let mut rb = http.request(method, url).timeout(timeout);
    if push.method != HttpMethod::Get {
        rb = rb.json(body);
    }
    if let Some(token) = push.token.as_deref().filter(|t| !t.is_empty()) {
        rb = rb.bearer_auth(token);
    }
    let resp = rb.send().await.map_err(|e| PushError::Transport(e.without_url()))?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        Ok(status)
    } else {
        Err(PushError::Status { status })
    }
}

/// One push attempt for `call_id` (`attempt` from 1; `last` when no retry follows), logged.
/// A call whose bot has no `crm_push` (any more) succeeds without sending.
pub async fn push_call(
    state: &AppState,
    call_id: &str,
    attempt: u32,
    last: bool,
    timeout: Duration,
) -> Result<(), PostcallError> {
    let call = load_call(&state.db, call_id).await?;
    let Some(bot) = load_bot(&state.db, &call.record.bot_id).await? else {
        return Ok(());
    };
    let Some(push) = &bot.crm_push else {
        return Ok(());
    };
    let mut ctx = template::record_context(&call.record, Timestamp::now(), bot_tz(&bot));
    if let Some(a) = call.analysis {
        ctx.insert("analysis", a);
    }
    if let Some(q) = call.qc {
        ctx.insert("qc", q);
    }
    let (body, unknown) = build_body(push, &ctx);
    let result = send(&state.http, push, &body, timeout).await;
    state.metrics.crm_push(match &result {
        Ok(_) => "ok",
        Err(PushError::Status { .. }) => "http_error",
        Err(PushError::Transport(_)) => "transport",
        Err(PushError::BadUrl) => "bad_url",
    });
    let at_ms = now_ms();
    let (status, http_status, mut detail) = match &result {
        Ok(s) => (
            "ok",
            Some(*s),
            format!("{} {} → HTTP {s}", method_name(push.method), push.url),
        ),
        Err(PushError::Status { status }) => ("error", Some(*status), format!("HTTP {status}")),
        Err(e) => ("error", None, e.to_string()),
    };
    if let Err(e) = &result {
        if !e.is_retryable() {
            detail.push_str("; not retried");
        } else if last {
            detail.push_str("; giving up");
        }
    }
    if !unknown.is_empty() {
        detail.push_str(&format!("; unknown variables: {}", unknown.join(", ")));
    }
    let entry = LogEntry {
        at_ms,
        at: Timestamp::from_millisecond(at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        kind: LOG_KIND.to_owned(),
        attempt,
        status: status.to_owned(),
        http_status,
        detail,
        unknown_variables: unknown,
    };
    log::append(&state.db, call_id, &entry).await?;
    result.map(|_| ()).map_err(PostcallError::Crm)
}

fn method_name(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Patch => "PATCH",
    }
}
