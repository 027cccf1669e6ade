//! The call list: [`CallFilter`] (from the query string, validated field by field) → SQL with
//! `$n` placeholders → [`CallPage`].

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use cxb_model::FieldError;

/// Largest `page_size`.
pub const MAX_PAGE_SIZE: i64 = 200;
/// `page_size` when none is given.
pub const DEFAULT_PAGE_SIZE: i64 = 50;

/// Query-string parameters of `GET /api/v1/calls` (all optional, all text so that a bad value is
/// a 422 naming the parameter rather than a plain-text rejection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CallQuery {
    /// One bot.
    pub bot_id: Option<String>,
    /// `completed`, `failed` or `in_progress`.
    pub status: Option<String>,
    /// `inbound`, `outbound` or `websocket`.
    pub direction: Option<String>,
    /// A `disconnected_by` value (`bot`, `customer`, `RNR`, …).
    pub disconnected_by: Option<String>,
    /// Started at or after: RFC 3339 or `YYYY-MM-DD` (UTC midnight).
    pub from: Option<String>,
    /// Started before: RFC 3339, or `YYYY-MM-DD` (the whole day included).
    pub to: Option<String>,
    /// Digits (or text) found in the from or to number.
    pub q: Option<String>,
    /// `true`/`false` (also `1`/`0`).
    pub is_test: Option<String>,
    /// Page number from 1.
    pub page: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    pub page_size: Option<String>,
}

/// A validated list request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// The caller's scope: `None` = every bot.
    pub scope: Option<Vec<String>>,
    /// One bot.
    pub bot_id: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Direction.
    pub direction: Option<String>,
    /// Who ended the call.
    pub disconnected_by: Option<String>,
    /// Started at or after, Unix ms.
    pub from_ms: Option<i64>,
    /// Started before, Unix ms.
    pub to_ms: Option<i64>,
    /// `LIKE` pattern for the numbers.
    pub number_like: Option<String>,
    /// Test flag.
    pub is_test: Option<bool>,
    /// Page from 1.
    pub page: i64,
    /// Rows per page.
    pub page_size: i64,
}

const STATUSES: &[&str] = &["completed", "failed", "in_progress"];
const DIRECTIONS: &[&str] = &["inbound", "outbound", "websocket"];
const DISCONNECTED_BY: &[&str] = &[
    "bot",
    "customer",
    "voicemail",
    "RNR",
    "outside_hours",
    "no_answer",
    "rejected",
    "timeout",
    "transfer_to_agent",
    "error",
];

fn one_of(field: &'static str, value: Option<String>, allowed: &[&str]) -> Result<Option<String>, FieldError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
        Some(_) => Err(FieldError::new(field, format!("must be one of {}", allowed.join(", ")))),
    }
}

/// Parses RFC 3339 or `YYYY-MM-DD`; a date is UTC midnight, plus one day when `end_of_day`.
fn parse_time(field: &'static str, text: &str, end_of_day: bool) -> Result<i64, FieldError> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time or a YYYY-MM-DD date"))?;
    let date = if end_of_day {
        date.tomorrow()
            .map_err(|_| FieldError::new(field, "date out of range"))?
    } else {
        date
    };
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| FieldError::new(field, "date out of range"))
}

fn parse_int(field: &'static str, text: Option<String>, default: i64, min: i64, max: i64) -> Result<i64, FieldError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) => match t.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                field,
                format!("must be an integer from {min} to {max}"),
            )),
        },
    }
}

impl CallFilter {
    /// Validates `q` for a caller limited to `scope`.
    pub fn from_query(q: CallQuery, scope: Option<Vec<String>>) -> Result<CallFilter, FieldError> {
        // PostgreSQL refuses NUL in text: a 422 here rather than a database error.
        for (field, v) in [("bot_id", &q.bot_id), ("q", &q.q)] {
            if v.as_deref().is_some_and(|v| v.contains('\0') || v.len() > 200) {
                return Err(FieldError::new(field, "must be at most 200 characters without NUL"));
            }
        }
        let is_test = match q.is_test.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => return Err(FieldError::new("is_test", "must be true or false")),
        };
        let number_like = q.q.filter(|s| !s.trim().is_empty()).map(|s| {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let needle = if digits.is_empty() {
                s.trim().replace(['%', '_', '\\'], "")
            } else {
                digits
            };
            format!("%{needle}%")
        });
        let from_ms = q
            .from
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|t| parse_time("from", t, false))
            .transpose()?;
        let to_ms =
            q.to.as_deref()
                .filter(|s| !s.is_empty())
                .map(|t| parse_time("to", t, true))
                .transpose()?;
        Ok(CallFilter {
            scope,
            bot_id: q.bot_id.filter(|s| !s.is_empty()),
            status: one_of("status", q.status, STATUSES)?,
            direction: one_of("direction", q.direction, DIRECTIONS)?,
            disconnected_by: one_of("disconnected_by", q.disconnected_by, DISCONNECTED_BY)?,
            from_ms,
            to_ms,
            number_like,
            is_test,
            page: parse_int("page", q.page, 1, 1, 1_000_000)?,
            page_size: parse_int("page_size", q.page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?,
        })
    }
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    /// Call id.
    pub session_id: String,
    /// Bot.
    pub bot_id: String,
    /// `inbound`, `outbound` or `websocket`.
    pub direction: String,
    /// `completed`, `failed` or `in_progress`.
    pub status: String,
    /// Who ended it.
    pub disconnected_by: String,
    /// Calling number.
    pub from_number: Option<String>,
    /// Called number.
    pub to_number: Option<String>,
    /// Start, RFC 3339.
    pub started_at: String,
    /// Answer to hang-up, seconds.
    pub call_duration_seconds: i64,
    /// Test call.
    pub is_test: bool,
    /// Post-call analysis ran.
    pub has_analysis: bool,
}

/// A page of calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallPage {
    /// Newest first.
    pub items: Vec<CallSummary>,
    /// Page number from 1.
    pub page: i64,
    /// Rows per page.
    pub page_size: i64,
    /// Rows matching the filter on all pages.
    pub total: i64,
}

enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE …` and its arguments.
fn where_clause(f: &CallFilter) -> (String, Vec<Arg>) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let push = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    if let Some(scope) = &f.scope {
        if scope.is_empty() {
            conds.push("1 = 0".into());
        } else {
            let ps: Vec<String> = scope.iter().map(|b| push(&mut args, Arg::Text(b.clone()))).collect();
            conds.push(format!("bot_id IN ({})", ps.join(", ")));
        }
    }
    for (col, v) in [
        ("bot_id", &f.bot_id),
        ("status", &f.status),
        ("direction", &f.direction),
        ("disconnected_by", &f.disconnected_by),
    ] {
        if let Some(v) = v {
            let p = push(&mut args, Arg::Text(v.clone()));
            conds.push(format!("{col} = {p}"));
        }
    }
    if let Some(ms) = f.from_ms {
        let p = push(&mut args, Arg::Int(ms));
        conds.push(format!("started_at_ms >= {p}"));
    }
    if let Some(ms) = f.to_ms {
        let p = push(&mut args, Arg::Int(ms));
        conds.push(format!("started_at_ms < {p}"));
    }
    if let Some(like) = &f.number_like {
        let a = push(&mut args, Arg::Text(like.clone()));
        let b = push(&mut args, Arg::Text(like.clone()));
        conds.push(format!("(from_number LIKE {a} OR to_number LIKE {b})"));
    }
    if let Some(t) = f.is_test {
        let p = push(&mut args, Arg::Int(i64::from(t)));
        conds.push(format!("is_test = {p}"));
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (sql, args)
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &[Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.clone()),
            Arg::Int(n) => q.bind(*n),
        };
    }
    q
}

/// The page of calls `f` selects, newest first, and the total count.
pub async fn list(db: &AnyPool, f: &CallFilter) -> Result<CallPage, sqlx::Error> {
    let (cond, args) = where_clause(f);
    let count_sql = format!("SELECT COUNT(*) AS n FROM calls{cond}");
    let total: i64 = bind_all(sqlx::query(&count_sql), &args)
        .fetch_one(db)
        .await?
        .try_get("n")?;
    let limit_p = args.len() + 1;
    let sql = format!(
        "SELECT session_id, bot_id, direction, status, disconnected_by, from_number, to_number, started_at, \
         duration_seconds, is_test, analysis_json FROM calls{cond} \
         ORDER BY started_at_ms DESC, session_id DESC LIMIT ${limit_p} OFFSET ${}",
        limit_p + 1
    );
    let offset = (f.page - 1).saturating_mul(f.page_size);
    let rows = bind_all(sqlx::query(&sql), &args)
        .bind(f.page_size)
        .bind(offset)
        .fetch_all(db)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(CallSummary {
            session_id: r.try_get("session_id")?,
            bot_id: r.try_get("bot_id")?,
            direction: r.try_get("direction")?,
            status: r.try_get("status")?,
            disconnected_by: r.try_get("disconnected_by")?,
            from_number: r.try_get("from_number")?,
            to_number: r.try_get("to_number")?,
            started_at: r.try_get("started_at")?,
            call_duration_seconds: r.try_get("duration_seconds")?,
            is_test: r.try_get::<i64, _>("is_test")? != 0,
            has_analysis: r.try_get::<Option<String>, _>("analysis_json")?.is_some(),
        });
    }
    Ok(CallPage {
        items,
        page: f.page,
        page_size: f.page_size,
        total,
    })
}
