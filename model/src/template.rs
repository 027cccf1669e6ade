//! `{{namespace.field}}` templates, shared by the dataplane (prompts, opening lines, CRM
//! pre-fetch URLs) and control (post-call CRM push), so both render exactly alike.
//!
//! Syntax: `{{ call.from_number }}` — whitespace inside the braces is allowed, paths nest
//! (`crm.address.city`) and index arrays (`crm.items.0`). Namespaces are `call`, `crm`, `result`,
//! `analysis`, `qc` and `system` ([`NAMESPACES`]); any name is looked up in the
//! [`TemplateContext`], so an unset namespace simply reads as unknown.
//!
//! Rendering ([`render`]): strings are inserted as they are, numbers and booleans stringified,
//! `null` renders empty, objects and arrays JSON-encoded. Unknown variables render empty and are
//! listed in [`Rendered::unknown`]. Text that is not a variable — an unterminated `{{`, `{{}}`,
//! `{{ two words }}` — is kept literally. Rendering never fails and never panics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use crate::record::{CallDirection, CallRecord, TranscriptRole};

/// The namespaces templates use.
pub const NAMESPACES: [&str; 6] = ["call", "crm", "result", "analysis", "qc", "system"];

/// Values a template is rendered against: namespace name → JSON value (usually an object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateContext {
    namespaces: BTreeMap<String, Value>,
}

impl TemplateContext {
    /// An empty context: every variable is unknown.
    pub fn new() -> TemplateContext {
        TemplateContext::default()
    }

    /// Sets (or replaces) namespace `ns`.
    pub fn insert(&mut self, ns: impl Into<String>, value: Value) -> &mut TemplateContext {
        self.namespaces.insert(ns.into(), value);
        self
    }

    /// The value of namespace `ns`, if set.
    pub fn get(&self, ns: &str) -> Option<&Value> {
        self.namespaces.get(ns)
    }

    /// Sets namespace `ns` to an object holding `vars`.
    pub fn insert_vars(&mut self, ns: impl Into<String>, vars: &crate::Variables) -> &mut TemplateContext {
        let map: Map<String, Value> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.insert(ns, Value::Object(map))
    }

    /// Fills `system.*` for the instant `now` in the IANA time zone `tz` (UTC when `tz` is
    /// empty or unknown): `now` (RFC 3339 with the zone's offset), `date` (`YYYY-MM-DD`),
    /// `time` (`HH:MM:SS`), `timezone` (the zone name used), `unix_ms`.
    pub fn with_system(mut self, now: Timestamp, tz: &str) -> TemplateContext {
        let (zone, name) = match TimeZone::get(tz) {
            Ok(z) if !tz.is_empty() => (z, tz.to_owned()),
            _ => (TimeZone::UTC, "UTC".to_owned()),
        };
        let zoned = now.to_zoned(zone);
        let mut sys = Map::new();
        sys.insert(
            "now".into(),
            Value::String(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()),
        );
        sys.insert("date".into(), Value::String(zoned.strftime("%Y-%m-%d").to_string()));
        sys.insert("time".into(), Value::String(zoned.strftime("%H:%M:%S").to_string()));
        sys.insert("timezone".into(), Value::String(name));
        sys.insert("unix_ms".into(), Value::from(now.as_millisecond()));
        self.namespaces.insert("system".into(), Value::Object(sys));
        self
    }

    /// Looks a variable up: `None` when its namespace or path does not exist.
    pub fn lookup(&self, var: &VarRef) -> Option<&Value> {
        let mut cur = self.namespaces.get(&var.namespace)?;
        if var.path.is_empty() {
            return Some(cur);
        }
        for seg in var.path.split('.') {
            cur = match cur {
                Value::Object(m) => m.get(seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// A variable reference in a template: `{{crm.address.city}}` is namespace `crm`, path
/// `address.city` (the path is empty for a bare `{{crm}}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarRef {
    /// First segment.
    pub namespace: String,
    /// The rest, dot-separated; may be empty.
    pub path: String,
}

impl VarRef {
    /// The full dotted name (`crm.address.city`).
    pub fn full_name(&self) -> String {
        if self.path.is_empty() {
            self.namespace.clone()
        } else {
            format!("{}.{}", self.namespace, self.path)
        }
    }
}

/// The output of [`render`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The rendered text.
    pub text: String,
    /// Full names of the unknown variables (rendered empty), each once, in order of appearance.
    pub unknown: Vec<String>,
}

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits `template` into literal text and variable names (trimmed, syntax-checked).
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close_rel) = rest[open + 2..].find("}}") else {
            break; // unterminated: literal
        };
        let close = open + 2 + close_rel;
        // The innermost `{{` before this `}}` opens the variable (`{{ {{x}}` → literal + var).
        let start = open + rest[open..close].rfind("{{").unwrap_or(0);
        let inner = rest[start + 2..close].trim();
        if is_var_name(inner) {
            if start > 0 {
                out.push(Piece::Text(&rest[..start]));
            }
            out.push(Piece::Var(inner));
        } else {
            out.push(Piece::Text(&rest[..close + 2]));
        }
        rest = &rest[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// `ns(.segment)*` where every segment is non-empty and has no whitespace, braces or dots.
fn is_var_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '{' && c != '}')
        })
}

fn var_ref(name: &str) -> VarRef {
    match name.split_once('.') {
        Some((ns, path)) => VarRef {
            namespace: ns.to_owned(),
            path: path.to_owned(),
        },
        None => VarRef {
            namespace: name.to_owned(),
            path: String::new(),
        },
    }
}

/// Appends `v` as template text: strings as-is, `null` empty, objects/arrays as JSON.
fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Array(_) | Value::Object(_) => out.push_str(&v.to_string()),
    }
}

fn note_unknown(unknown: &mut Vec<String>, name: &str) {
    if !unknown.iter().any(|u| u == name) {
        unknown.push(name.to_owned());
    }
}

/// Renders `template` against `ctx` (see the module docs for the rules).
pub fn render(template: &str, ctx: &TemplateContext) -> Rendered {
    let mut out = Rendered {
        text: String::with_capacity(template.len()),
        unknown: Vec::new(),
    };
    render_into(template, ctx, &mut out.text, &mut out.unknown);
    out
}

fn render_into(template: &str, ctx: &TemplateContext, text: &mut String, unknown: &mut Vec<String>) {
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => text.push_str(t),
            Piece::Var(name) => match ctx.lookup(&var_ref(name)) {
                Some(v) => push_value(text, v),
                None => note_unknown(unknown, name),
            },
        }
    }
}

/// Renders `template` as a URL: each inserted value is percent-encoded (everything but the
/// RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~`), so a caller number `+15550100` or a
/// name with spaces stays one query value. The template's own text is kept as written.
pub fn render_url(template: &str, ctx: &TemplateContext) -> Rendered {
    let mut out = Rendered {
        text: String::with_capacity(template.len()),
        unknown: Vec::new(),
    };
    let mut value = String::new();
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.text.push_str(t),
            Piece::Var(name) => match ctx.lookup(&var_ref(name)) {
                Some(v) => {
                    value.clear();
                    push_value(&mut value, v);
                    percent_encode(&value, &mut out.text);
                }
                None => note_unknown(&mut out.unknown, name),
            },
        }
    }
    out
}

fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Renders every string leaf of `value` (object keys are left alone). A string that is exactly
/// one variable (`"{{crm.age}}"`, surrounding whitespace allowed) takes the variable's value with
/// its JSON type (number, object …); an unknown one becomes `""`. Returns the unknown variables.
pub fn render_json(value: &Value, ctx: &TemplateContext) -> (Value, Vec<String>) {
    let mut unknown = Vec::new();
    let v = render_json_into(value, ctx, &mut unknown);
    (v, unknown)
}

fn render_json_into(value: &Value, ctx: &TemplateContext, unknown: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) => {
            if let [Piece::Var(name)] = pieces(s.trim()).as_slice() {
                return match ctx.lookup(&var_ref(name)) {
                    Some(v) => v.clone(),
                    None => {
                        note_unknown(unknown, name);
                        Value::String(String::new())
                    }
                };
            }
            let mut text = String::with_capacity(s.len());
            render_into(s, ctx, &mut text, unknown);
            Value::String(text)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| render_json_into(v, ctx, unknown)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), render_json_into(v, ctx, unknown)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The variables `template` refers to, in order of appearance (repeats included).
pub fn variables(template: &str) -> Vec<VarRef> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) => Some(var_ref(name)),
            Piece::Text(_) => None,
        })
        .collect()
}

fn opt_str(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The `call.*` namespace of a call: `session_id`, `bot_id`, `direction`, `from_number`,
/// `to_number`, `number` (the customer's: caller inbound, callee outbound), `did` (ours: called
/// number inbound, calling number outbound; `null` for WebSocket calls), `caller_id`,
/// `duration` (seconds), `started_at`, `sip_headers` (the allowed ones), `custom` (the call's
/// variables). Each call variable is also available directly (`call.<name>`) unless it collides
/// with one of the names above.
pub fn call_namespace(record: &CallRecord) -> Value {
    let (number, did) = match record.direction {
        CallDirection::Inbound => (&record.from_number, opt_str(&record.to_number)),
        CallDirection::Outbound => (&record.to_number, opt_str(&record.from_number)),
        CallDirection::Websocket => (&record.from_number, Value::Null),
    };
    let mut m = Map::new();
    for (k, v) in &record.variables {
        m.insert(k.clone(), v.clone());
    }
    let fixed = [
        ("session_id", Value::String(record.session_id.clone())),
        ("bot_id", Value::String(record.bot_id.clone())),
        ("direction", json(&record.direction)),
        ("from_number", opt_str(&record.from_number)),
        ("to_number", opt_str(&record.to_number)),
        ("number", opt_str(number)),
        ("did", did),
        ("caller_id", opt_str(&record.caller_id)),
        ("duration", Value::from(record.call_duration_seconds)),
        ("started_at", Value::String(record.started_at.to_string())),
        ("sip_headers", json(&record.sip_headers)),
        ("custom", json(&record.variables)),
    ];
    for (k, v) in fixed {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

/// The transcript as plain text, one `Caller: …` / `Bot: …` line per entry.
pub fn transcript_text(record: &CallRecord) -> String {
    let mut out = String::new();
    for e in &record.transcript {
        let who = match e.role {
            TranscriptRole::Caller => "Caller",
            TranscriptRole::Bot => "Bot",
        };
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "{who}: {}", e.text);
    }
    out
}

/// The `result.*` namespace of a finished call: `disconnected_by`, `duration` (seconds),
/// `answered`, `started_at`, `answered_at`, `ended_at`, `sip_status`, `transcript` (plain text,
/// see [`transcript_text`]), `was_transferred`, `transfer_destination`, `transfer_target`,
/// `transfer_reason`, `transfer_method`, `transfer_at`, `transfer_failed_reason`,
/// `recording_url`, `recording_key`, `amd` (verdict or `null`), `voicemail`.
pub fn result_namespace(record: &CallRecord) -> Value {
    let ts = |t: &Option<Timestamp>| t.map_or(Value::Null, |t| Value::String(t.to_string()));
    let mut m = Map::new();
    let fields = [
        ("session_id", Value::String(record.session_id.clone())),
        ("disconnected_by", json(&record.disconnected_by)),
        ("duration", Value::from(record.call_duration_seconds)),
        ("answered", Value::Bool(record.answered_at.is_some())),
        ("started_at", Value::String(record.started_at.to_string())),
        ("answered_at", ts(&record.answered_at)),
        ("ended_at", Value::String(record.ended_at.to_string())),
        ("sip_status", record.sip_status.map_or(Value::Null, Value::from)),
        ("transcript", Value::String(transcript_text(record))),
        ("was_transferred", Value::Bool(record.was_transferred)),
        ("transfer_destination", opt_str(&record.transfer_destination)),
        ("transfer_target", opt_str(&record.transfer_target)),
        ("transfer_reason", opt_str(&record.transfer_reason)),
        (
            "transfer_method",
            record.transfer_method.as_ref().map_or(Value::Null, json),
        ),
        ("transfer_at", ts(&record.transfer_at)),
        ("transfer_failed_reason", opt_str(&record.transfer_failed_reason)),
        ("recording_url", opt_str(&record.recording_url)),
        ("recording_key", opt_str(&record.recording_key)),
        ("amd", record.amd.as_ref().map_or(Value::Null, |a| json(&a.verdict))),
        (
            "voicemail",
            Value::Bool(record.disconnected_by == crate::record::DisconnectedBy::Voicemail),
        ),
    ];
    for (k, v) in fields {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

/// A context with `call`, `crm` and `result` filled from `record` and `system` at `now` in `tz`
/// (`analysis` / `qc` are the caller's to add).
pub fn record_context(record: &CallRecord, now: Timestamp, tz: &str) -> TemplateContext {
    let mut ctx = TemplateContext::new().with_system(now, tz);
    ctx.insert("call", call_namespace(record));
    ctx.insert("crm", json(&record.crm));
    ctx.insert("result", result_namespace(record));
    ctx
}

#[cfg(test)]
mod tests;
