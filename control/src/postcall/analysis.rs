//! The `postcall` job: analysis and QC of one call through the bot's LLM (or locally), stored in
//! `calls.analysis_json` / `qc_json` / `postcall_usage_json`, then the CRM push is queued.

use std::fmt::Write as _;

use cxb_model::template::{self, TemplateContext, render};
use cxb_model::{BotConfig, CallRecord, ProviderEndpoint, ProviderKind, Timestamp};
use serde_json::Value;
use sqlx::Row;

use super::{PostcallError, cache, local, queue};
use crate::db::now_ms;
use crate::llm::{self, LlmRequest, Usage};
use crate::state::AppState;

/// A call row as the post-call pipeline needs it.
#[derive(Debug, Clone)]
pub(crate) struct StoredCall {
    pub record: CallRecord,
    pub analysis: Option<Value>,
    pub qc: Option<Value>,
}

/// Loads a call (`CallNotFound` when missing).
pub(crate) async fn load_call(db: &sqlx::AnyPool, call_id: &str) -> Result<StoredCall, PostcallError> {
    let row = sqlx::query("SELECT record_json, analysis_json, qc_json FROM calls WHERE session_id = $1")
        .bind(call_id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| PostcallError::CallNotFound(call_id.to_owned()))?;
    let parse = |s: Option<String>| -> Result<Option<Value>, serde_json::Error> {
        s.map(|s| serde_json::from_str(&s)).transpose()
    };
    Ok(StoredCall {
        record: serde_json::from_str(&row.try_get::<String, _>("record_json")?)?,
        analysis: parse(row.try_get("analysis_json")?)?,
        qc: parse(row.try_get("qc_json")?)?,
    })
}

/// Loads a bot's configuration, `None` when it was deleted.
pub(crate) async fn load_bot(db: &sqlx::AnyPool, bot_id: &str) -> Result<Option<BotConfig>, PostcallError> {
    let row = sqlx::query("SELECT config_json FROM bots WHERE id = $1")
        .bind(bot_id)
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => Ok(Some(serde_json::from_str(&r.try_get::<String, _>("config_json")?)?)),
        None => Ok(None),
    }
}

/// The time zone templates use for a bot (its active hours' zone, else UTC).
pub(crate) fn bot_tz(bot: &BotConfig) -> &str {
    bot.active_hours.as_ref().map_or("UTC", |h| h.time_zone.as_str())
}

/// Queues the CRM push of a call when its bot has one configured.
pub(crate) async fn enqueue_crm(state: &AppState, call_id: &str, bot: Option<&BotConfig>) -> Result<(), PostcallError> {
    if bot.is_some_and(|b| b.crm_push.is_some()) {
        let now = now_ms();
        queue::insert(&state.db, queue::KIND_CRM_PUSH, call_id, now, now).await?;
    }
    Ok(())
}

/// Runs the `postcall` job of `call_id`.
pub(crate) async fn run(state: &AppState, call_id: &str) -> Result<(), PostcallError> {
    let call = load_call(&state.db, call_id).await?;
    let bot = load_bot(&state.db, &call.record.bot_id).await?;
    let (analysis, qc, usage) = match &bot {
        None => (None, None, Usage::default()),
        Some(_) if !local::customer_spoke(&call.record) => (Some(local::no_speech_analysis()), None, Usage::default()),
        Some(bot) => analyse(state, &call.record, bot).await?,
    };
    store(state, call_id, call.record, analysis, qc, usage).await?;
    enqueue_crm(state, call_id, bot.as_ref()).await
}

/// Runs the bot's analysis and QC prompts (each only when set).
async fn analyse(
    state: &AppState,
    record: &CallRecord,
    bot: &BotConfig,
) -> Result<(Option<Value>, Option<Value>, Usage), PostcallError> {
    let ctx = template::record_context(record, Timestamp::now(), bot_tz(bot));
    let has_analysis = !bot.analysis_prompt.trim().is_empty();
    let has_qc = !bot.qc_prompt.trim().is_empty();
    if !has_analysis && !has_qc {
        return Ok((None, None, Usage::default()));
    }
    let Some(endpoint) = endpoint(state, bot).await? else {
        let analysis = has_analysis.then(|| local::analysis(record));
        let qc = has_qc.then(|| local::qc(record, bot, &ctx));
        return Ok((analysis, qc, Usage::default()));
    };
    let cache = cache::status(&state.db, &bot.id)
        .await
        .map_err(PostcallError::Settings)?;
    let mut usage = Usage::default();
    let mut run = async |name: &'static str, prompt: &str| -> Result<Value, PostcallError> {
        let req = request(record, bot, &ctx, prompt, &cache);
        let out = llm::complete_json(&state.http, &endpoint, &req)
            .await
            .map_err(|source| PostcallError::Llm { prompt: name, source })?;
        usage += out.usage;
        Ok(out.json)
    };
    let analysis = if has_analysis {
        Some(run("analysis", &bot.analysis_prompt).await?)
    } else {
        None
    };
    let qc = if has_qc {
        Some(run("qc", &bot.qc_prompt).await?)
    } else {
        None
    };
    Ok((analysis, qc, usage))
}

/// The networked endpoint of the bot's LLM, `None` for the in-process ones (embedded, sim).
async fn endpoint(state: &AppState, bot: &BotConfig) -> Result<Option<ProviderEndpoint>, PostcallError> {
    let kind = bot.pipeline.llm.provider;
    if matches!(kind, ProviderKind::Embedded | ProviderKind::Sim) {
        return Ok(None);
    }
    let stored = crate::settings::provider_endpoint(state, kind)
        .await
        .map_err(PostcallError::Settings)?;
    let mut ep = stored.unwrap_or_else(|| ProviderEndpoint {
        kind,
        base_url: kind.default_base_url().unwrap_or_default().to_owned(),
        api_key: None,
    });
    if !bot.pipeline.llm.base_url.is_empty() {
        ep.base_url = bot.pipeline.llm.base_url.clone();
    }
    Ok(Some(ep))
}

/// The request for one prompt: the instructions and policy form the cacheable system part (with
/// the cache version when caching is on), the transcript and call facts the user part.
pub(crate) fn request(
    record: &CallRecord,
    bot: &BotConfig,
    ctx: &TemplateContext,
    prompt: &str,
    cache: &cache::CacheStatus,
) -> LlmRequest {
    let mut system = render(prompt, ctx).text;
    if !bot.policy.is_empty() {
        system.push_str("\n\nConversation policy the bot was told to follow, in order:");
        for (i, step) in bot.policy.iter().enumerate() {
            let _ = write!(system, "\n{}. {}", i + 1, step.name);
            if !step.goal.is_empty() {
                let _ = write!(system, " (goal: {})", step.goal);
            }
            if !step.say.is_empty() {
                let _ = write!(system, " (line: {})", step.say);
            }
        }
    }
    system.push_str("\n\nAnswer with one JSON object and nothing else.");
    if cache.enabled {
        let _ = write!(system, "\n[post-call cache v{}]", cache.version);
    }
    let mut user = String::from("Call facts:\n");
    let facts = serde_json::json!({
        "direction": record.direction,
        "from_number": record.from_number,
        "to_number": record.to_number,
        "disconnected_by": record.disconnected_by,
        "duration_seconds": record.call_duration_seconds,
        "was_transferred": record.was_transferred,
        "crm": record.crm,
    });
    user.push_str(&facts.to_string());
    user.push_str("\n\nTranscript:\n");
    user.push_str(&template::transcript_text(record));
    LlmRequest {
        model: bot.pipeline.llm.model.clone(),
        system,
        user,
        cache_key: cache
            .enabled
            .then(|| format!("cxb-postcall-{}-v{}", bot.id, cache.version)),
        temperature: Some(0.0),
        max_tokens: 0,
    }
}

/// Writes the results (also into the stored record's `post_call_analysis`).
async fn store(
    state: &AppState,
    call_id: &str,
    mut record: CallRecord,
    analysis: Option<Value>,
    qc: Option<Value>,
    usage: Usage,
) -> Result<(), PostcallError> {
    record.post_call_analysis = analysis.clone();
    let to_text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    sqlx::query(
        "UPDATE calls SET analysis_json = $2, qc_json = $3, postcall_usage_json = $4, record_json = $5 \
         WHERE session_id = $1",
    )
    .bind(call_id)
    .bind(to_text(&analysis))
    .bind(to_text(&qc))
    .bind(serde_json::to_string(&usage)?)
    .bind(serde_json::to_string(&record)?)
    .execute(&state.db)
    .await?;
    Ok(())
}
