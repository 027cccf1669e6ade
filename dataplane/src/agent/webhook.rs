//! HTTP side of tools and CRM pre-fetch: a function tool is a customer webhook called with the
//! model's arguments (GET: query parameters; POST/PUT/PATCH: JSON body); the CRM pre-fetch fills
//! the `crm.*` namespace at call start. Secrets (auth header, token) never reach a log or message.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::agent::api::{ProviderError, ProviderErrorKind};
use crate::agent::providers::pool::{self, HttpPool, map_reqwest};
use cxb_model::template::{self, Rendered, TemplateContext};
use cxb_model::{CrmPrefetch, HttpMethod, ToolCallStatus, ToolConfig, Variables};

/// Most bytes of a webhook response read.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest tool result handed to the model (bytes of JSON text); longer ones are cut.
pub const MAX_RESULT: usize = 8 * 1024;

/// What a tool call came to.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// ok (2xx), error, or timeout.
    pub status: ToolCallStatus,
    /// From start to the end of the response (or the failure).
    pub duration: Duration,
    /// The response (JSON, or `{"text": …}` for a non-JSON body; `{"truncated": true, "text": …}`
    /// when cut), or `{"error": …}`.
    pub result: Value,
}

impl ToolOutcome {
    /// The result as the JSON text of the tool message given to the model.
    pub fn llm_content(&self) -> String {
        self.result.to_string()
    }
}

/// Calls a tool's webhook with the model's arguments (a JSON object; anything else is sent as
/// `{"arguments": …}`). Never fails: failures are outcomes with status error/timeout.
pub async fn call_tool(pool: &HttpPool, tool: &ToolConfig, args: &Value) -> ToolOutcome {
    let start = Instant::now();
    let timeout = Duration::from_millis(u64::from(tool.timeout_ms.max(1)));
    let res = tokio::time::timeout(
        timeout,
        request(pool, &tool.url, tool.method, tool.auth_header.as_deref(), args),
    )
    .await;
    let duration = start.elapsed();
    let (status, result) = match res {
        Err(_) => (
            ToolCallStatus::Timeout,
            json!({"error": "the tool did not answer in time"}),
        ),
        Ok(Err(e)) if e.kind == ProviderErrorKind::Timeout => {
            (ToolCallStatus::Timeout, json!({"error": e.to_string()}))
        }
        Ok(Err(e)) => (ToolCallStatus::Error, json!({"error": e.to_string()})),
        Ok(Ok(Response {
            status,
            body,
            truncated,
        })) => {
            let result = llm_result(&body, truncated);
            if (200..300).contains(&status) {
                (ToolCallStatus::Ok, result)
            } else {
                (
                    ToolCallStatus::Error,
                    json!({"error": format!("HTTP {status}"), "response": result}),
                )
            }
        }
    };
    ToolOutcome {
        status,
        duration,
        result,
    }
}

/// Fetches CRM data for the `crm.*` namespace from an already rendered URL. The answer must be
/// a JSON object.
pub async fn prefetch(
    pool: &HttpPool,
    crm: &CrmPrefetch,
    rendered_url: &str,
) -> Result<Map<String, Value>, ProviderError> {
    let auth = crm
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| format!("Bearer {t}"));
    let timeout = Duration::from_millis(u64::from(crm.timeout_ms.max(1)));
    let no_args = Value::Object(Map::new());
    let fut = request(pool, rendered_url, crm.method, auth.as_deref(), &no_args);
    let resp = match tokio::time::timeout(timeout, fut).await {
        Err(_) => {
            return Err(ProviderError::new(
                ProviderErrorKind::Timeout,
                "prefetch",
                "CRM did not answer in time",
            ));
        }
        Ok(r) => r?,
    };
    if !(200..300).contains(&resp.status) {
        return Err(pool::status_error(resp.status, None, &resp.body, crm.token.as_deref()));
    }
    if resp.truncated {
        return Err(ProviderError::new(
            ProviderErrorKind::Protocol,
            "prefetch",
            "CRM response larger than 64 KiB",
        ));
    }
    match serde_json::from_slice(&resp.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ProviderError::new(
            ProviderErrorKind::Protocol,
            "prefetch",
            "CRM response is not a JSON object",
        )),
        Err(e) => Err(ProviderError::new(
            ProviderErrorKind::Protocol,
            "prefetch",
            format!("CRM response: {e}"),
        )),
    }
}

/// What a call's CRM pre-fetch came to.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefetchOutcome {
    /// The CRM's JSON object (its fields become `crm.*`), or why there is none.
    pub result: Result<Map<String, Value>, ProviderError>,
    /// From start to the end of the response (or the failure).
    pub duration: Duration,
    /// Variables of the URL template that were unknown (rendered empty).
    pub unknown: Vec<String>,
}

/// The pre-fetch URL of a call: `crm.url` rendered over `ctx` (usually
/// [`cxb_model::template::record_context`] of the call: `call.*`, dial-out `crm.*`, `system.*`),
/// each inserted value percent-encoded ([`template::render_url`]).
pub fn prefetch_url(crm: &CrmPrefetch, ctx: &TemplateContext) -> Rendered {
    template::render_url(&crm.url, ctx)
}

/// Renders the URL over `ctx` and runs [`prefetch`]; never takes longer than the pre-fetch's
/// `timeout_ms` (plus scheduling). Failures are outcomes, so a failing CRM never fails a call.
pub async fn prefetch_for_call(pool: &HttpPool, crm: &CrmPrefetch, ctx: &TemplateContext) -> PrefetchOutcome {
    let start = Instant::now();
    let url = prefetch_url(crm, ctx);
    let result = prefetch(pool, crm, &url.text).await;
    PrefetchOutcome {
        result,
        duration: start.elapsed(),
        unknown: url.unknown,
    }
}

/// `crm` (the dial-out variables) with the pre-fetched `fields` merged over it: on a name in both,
/// **the pre-fetch wins** — the CRM is the system of record at call time, while dial variables are
/// what the dialler knew when it queued the call. Returns how many fields were taken.
pub fn merge_crm(crm: &mut Variables, fields: Map<String, Value>) -> usize {
    let n = fields.len();
    crm.extend(fields);
    n
}

struct Response {
    status: u16,
    body: Vec<u8>,
    truncated: bool,
}

async fn request(
    pool: &HttpPool,
    url: &str,
    method: HttpMethod,
    auth: Option<&str>,
    args: &Value,
) -> Result<Response, ProviderError> {
    let client = pool.webhook_client(url)?;
    let mut rb = match method {
        HttpMethod::Get => client.get(with_query(url, args)),
        HttpMethod::Post => client.post(url).json(&body_of(args)),
        HttpMethod::Put => client.put(url).json(&body_of(args)),
        HttpMethod::Patch => client.patch(url).json(&body_of(args)),
    };
    rb = rb.header("accept", "application/json");
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    let mut resp = rb.send().await.map_err(|e| map_reqwest(e, "connect"))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(c) = resp.chunk().await.map_err(|e| map_reqwest(e, "body"))? {
        let room = MAX_BODY - body.len();
        if c.len() > room {
            body.extend_from_slice(&c[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&c);
    }
    Ok(Response {
        status,
        body,
        truncated,
    })
}

fn body_of(args: &Value) -> Value {
    if args.is_object() {
        args.clone()
    } else {
        json!({"arguments": args})
    }
}

/// `url` with the arguments appended as query parameters (strings as they are, other values
/// as JSON text).
fn with_query(url: &str, args: &Value) -> String {
    let mut out = url.to_owned();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    let pairs: Vec<(String, String)> = match args {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect(),
        Value::Null => Vec::new(),
        other => vec![("arguments".to_owned(), scalar_text(other))],
    };
    for (k, v) in pairs {
        out.push(sep);
        out.push_str(&pool::encode_query(&k));
        out.push('=');
        out.push_str(&pool::encode_query(&v));
        sep = '&';
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The response body as the model will see it: JSON when it is JSON and short enough, else text,
/// cut to [`MAX_RESULT`] bytes at a character boundary.
fn llm_result(body: &[u8], truncated: bool) -> Value {
    if !truncated
        && body.len() <= MAX_RESULT
        && let Ok(v) = serde_json::from_slice::<Value>(body)
    {
        return v;
    }
    let text = String::from_utf8_lossy(body);
    if !truncated && text.len() <= MAX_RESULT {
        return json!({"text": text});
    }
    let mut end = MAX_RESULT.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({"truncated": true, "text": &text[..end]})
}

#[cfg(test)]
mod tests;
