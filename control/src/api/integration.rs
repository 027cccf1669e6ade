//! `GET /api/v1/bots/{id}/integration`: the variable reference of a bot by namespace (`call.*`
//! fixed fields, allowed SIP headers and custom variables; `crm.*` fields its templates use, with
//! example values; `system.*`) and ready-to-run dial-out snippets (curl, Python, Node.js).

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use cxb_model::BotConfig;
use cxb_model::template::variables;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::bots::visible_bot;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/bots/{id}/integration", get(read))
}

/// One template variable.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Variable {
    /// Full name as written in a template (`crm.first_name`).
    pub name: String,
    /// What it holds.
    pub description: String,
    /// An example value.
    pub example: String,
}

/// Variables by namespace.
#[derive(Debug, Serialize, ToSchema)]
pub struct Namespaces {
    /// `call.*`.
    pub call: Vec<Variable>,
    /// `crm.*` found in the bot's templates.
    pub crm: Vec<Variable>,
    /// `system.*`.
    pub system: Vec<Variable>,
}

/// Dial-out snippets.
#[derive(Debug, Serialize, ToSchema)]
pub struct Snippets {
    /// curl command line.
    pub curl: String,
    /// Python with `requests`.
    pub python: String,
    /// Node.js (18+) with `fetch`.
    pub node: String,
}

/// The integration tab of a bot.
#[derive(Debug, Serialize, ToSchema)]
pub struct Integration {
    /// Bot id.
    pub bot_id: String,
    /// The dial-out endpoint.
    pub dialout_url: String,
    /// Variables by namespace.
    pub variables: Namespaces,
    /// Dial-out snippets.
    pub snippets: Snippets,
}

fn var(name: impl Into<String>, description: &str, example: impl Into<String>) -> Variable {
    Variable {
        name: name.into(),
        description: description.to_owned(),
        example: example.into(),
    }
}

/// Every template text of a bot (prompts, messages, policy, CRM URL and key mapper).
fn templates(bot: &BotConfig) -> Vec<&str> {
    let mut t: Vec<&str> = vec![
        &bot.system_prompt,
        &bot.opening_message,
        &bot.analysis_prompt,
        &bot.qc_prompt,
        &bot.behavior.closing_message,
        &bot.behavior.apology_message,
        &bot.voicemail.message,
    ];
    t.extend(bot.behavior.reengage_messages.iter().map(String::as_str));
    for s in &bot.policy {
        t.push(&s.goal);
        t.push(&s.say);
    }
    for tool in &bot.tools {
        t.push(&tool.filler_message);
    }
    if let Some(p) = &bot.crm_prefetch {
        t.push(&p.url);
    }
    if let Some(p) = &bot.crm_push {
        t.extend(p.key_mapper.values().map(String::as_str));
    }
    t
}

/// A plausible example for a CRM field, from its name.
pub fn example_for(path: &str) -> String {
    let p = path.to_ascii_lowercase();
    let ex = if p.contains("email") {
        "jane.doe@example.com"
    } else if p.contains("phone") || p.contains("number") || p.contains("mobile") {
        "+15550100000"
    } else if p.contains("first") {
        "Jane"
    } else if p.contains("last") || p.contains("surname") {
        "Doe"
    } else if p.contains("name") {
        "Jane Doe"
    } else if p.contains("city") {
        "Berlin"
    } else if p.contains("date") || p.ends_with("_at") {
        "2026-01-31"
    } else if p.contains("amount") || p.contains("balance") || p.contains("price") || p.contains("total") {
        "42.50"
    } else if p.ends_with("id") {
        "12345"
    } else {
        "example"
    };
    ex.to_owned()
}

/// Builds the integration document of `bot` for a control reachable at `public_url`.
pub fn integration(bot: &BotConfig, public_url: &str) -> Integration {
    let mut crm = BTreeSet::new();
    let mut custom: BTreeSet<String> = bot.variables.keys().cloned().collect();
    for text in templates(bot) {
        for v in variables(text) {
            match v.namespace.as_str() {
                "crm" if !v.path.is_empty() => {
                    crm.insert(v.path);
                }
                "call" => {
                    if let Some(c) = v.path.strip_prefix("custom.") {
                        custom.insert(c.to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    let mut call = vec![
        var(
            "call.number",
            "The customer's number (caller inbound, callee outbound)",
            "+15550100000",
        ),
        var("call.from_number", "Calling number", "+15550100000"),
        var("call.to_number", "Called number", "+15550199999"),
        var("call.direction", "inbound, outbound or websocket", "outbound"),
        var(
            "call.did",
            "Our number (called inbound, calling outbound)",
            "+15550199999",
        ),
        var("call.caller_id", "Caller id shown", "+15550100000"),
        var(
            "call.session_id",
            "The call's session id",
            "c0ffee00-0000-4000-8000-000000000000",
        ),
        var("call.bot_id", "This bot's id", bot.id.clone()),
    ];
    for h in &bot.allowed_sip_headers {
        call.push(var(
            format!("call.sip_headers.{h}"),
            "Allowed SIP header of the INVITE",
            "value",
        ));
    }
    for c in &custom {
        let example = bot
            .variables
            .get(c)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_else(|| example_for(c));
        call.push(var(
            format!("call.custom.{c}"),
            "Variable passed with the call (also call.<name>)",
            example,
        ));
    }
    let crm = crm
        .into_iter()
        .map(|path| {
            let example = example_for(&path);
            var(format!("crm.{path}"), "Field of the CRM pre-fetch response", example)
        })
        .collect();
    let tz = bot
        .active_hours
        .as_ref()
        .map_or("UTC", |h| h.time_zone.as_str())
        .to_owned();
    let system = vec![
        var(
            "system.now",
            "Current time (RFC 3339, the bot's time zone)",
            "2026-01-31T14:05:00+01:00",
        ),
        var("system.date", "Current date", "2026-01-31"),
        var("system.time", "Current time of day", "14:05:00"),
        var("system.timezone", "The bot's time zone", tz),
        var("system.unix_ms", "Milliseconds since 1970", "1769864700000"),
    ];
    let dialout_url = format!("{}/api/v1/dialout", public_url.trim_end_matches('/'));
    let vars: serde_json::Map<String, Value> = custom
        .iter()
        .map(|c| {
            let v = bot.variables.get(c).cloned().unwrap_or_else(|| json!(example_for(c)));
            (c.clone(), v)
        })
        .collect();
    let body = json!({"bot_id": bot.id, "to_number": "+15550100000", "variables": vars});
    let body_pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    let body_compact = body.to_string();
    let curl = format!(
        "curl -X POST '{dialout_url}' \\\n  -H 'X-API-Key: <YOUR_API_KEY>' \\\n  -H 'Content-Type: application/json' \\\n  -d '{}'",
        body_compact.replace('\'', "'\\''")
    );
    let python = format!(
        "import requests\n\nresp = requests.post(\n    \"{dialout_url}\",\n    headers={{\"X-API-Key\": \"<YOUR_API_KEY>\"}},\n    json={},\n    timeout=10,\n)\nresp.raise_for_status()\nprint(resp.json()[\"call_id\"])\n",
        python_literal(&body)
    );
    let node = format!(
        "const resp = await fetch(\"{dialout_url}\", {{\n  method: \"POST\",\n  headers: {{ \"X-API-Key\": \"<YOUR_API_KEY>\", \"Content-Type\": \"application/json\" }},\n  body: JSON.stringify({}),\n}});\nif (!resp.ok) throw new Error(`dialout failed: ${{resp.status}}`);\nconsole.log((await resp.json()).call_id);\n",
        indent(&body_pretty, "  ")
    );
    Integration {
        bot_id: bot.id.clone(),
        dialout_url,
        variables: Namespaces { call, crm, system },
        snippets: Snippets { curl, python, node },
    }
}

/// JSON as a Python literal (`true`/`false`/`null` → `True`/`False`/`None`).
fn python_literal(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(python_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn indent(text: &str, pad: &str) -> String {
    text.lines().enumerate().fold(String::new(), |mut acc, (i, l)| {
        if i > 0 {
            acc.push('\n');
            acc.push_str(pad);
        }
        acc.push_str(l);
        acc
    })
}

/// The integration tab of a bot.
#[utoipa::path(get, path = "/api/v1/bots/{id}/integration", tag = "bots", params(("id" = String, Path)),
    responses((status = 200, body = Integration), (status = 401), (status = 403), (status = 404)))]
pub async fn read(State(state): State<AppState>, p: Principal, Path(id): Path<String>) -> ApiResult<Json<Integration>> {
    p.require_not_calls_only()?;
    let bot = visible_bot(&state, &p, &id).await?;
    Ok(Json(integration(&bot, &state.cfg.public_url)))
}
