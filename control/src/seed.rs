//! First-start seeding for `cxb up`: the demo bot `demo` ([`cxb_model::demo::demo_bot`]) stored
//! through the database like any bot, so the dataplane receives it with the routing push.

use crate::db;
use crate::error::ApiResult;
use crate::state::AppState;

/// Stores the demo bot and the demo customer unless bots with their ids exist; true when the
/// demo bot was added.
pub async fn seed_demo(state: &AppState) -> ApiResult<bool> {
    seed_bot(state, &cxb_model::demo::demo_customer_bot()).await?;
    seed_bot(state, &cxb_model::demo::demo_bot()).await
}

async fn seed_bot(state: &AppState, bot: &cxb_model::BotConfig) -> ApiResult<bool> {
    let json = serde_json::to_string(bot)?;
    let now = db::now_ms();
    let done = sqlx::query(
        "INSERT INTO bots (id, name, active, config_json, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&bot.id)
    .bind(&bot.name)
    .bind(db::b2i(bot.active))
    .bind(json)
    .bind(now)
    .bind(now)
    .execute(&state.db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The number the demo DID maps to the demo bot.
pub const DEMO_NUMBER: &str = "+15550100";

/// The number mapped to the demo customer (the `cxb up` dial-out example calls it).
pub const DEMO_CUSTOMER_NUMBER: &str = "+15550101";

/// For `cxb up`'s ready-to-run dial-out: a default trunk `loopback` at `127.0.0.1:sip_port` (the
/// local dataplane itself), the DID [`DEMO_NUMBER`] → `demo` and [`DEMO_CUSTOMER_NUMBER`] →
/// `demo-customer`, so the demo bot can place a call with no carrier. Each is added only if absent (no trunk at all / number unmapped);
/// returns whether the trunk was added.
pub async fn seed_loopback(state: &AppState, sip_port: u16) -> ApiResult<bool> {
    let trunks: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM trunks")
            .fetch_one(&state.db)
            .await?,
        "n",
    )?;
    let added = trunks == 0;
    if added {
        sqlx::query(
            "INSERT INTO trunks (id, name, host, port, transport, username, password_enc, default_from_number, \
             number_pool_json, is_default) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, $7, 1)",
        )
        .bind(db::new_id("trk_"))
        .bind("loopback (demo: calls the local dataplane)")
        .bind("127.0.0.1")
        .bind(i64::from(sip_port))
        .bind("udp")
        .bind("+15550000")
        .bind("[]")
        .execute(&state.db)
        .await?;
    }
    for (number, bot) in [
        (DEMO_NUMBER, cxb_model::demo::DEMO_BOT_ID),
        (DEMO_CUSTOMER_NUMBER, cxb_model::demo::DEMO_CUSTOMER_ID),
    ] {
        sqlx::query("INSERT INTO dids (number, bot_id) VALUES ($1, $2) ON CONFLICT (number) DO NOTHING")
            .bind(number)
            .bind(bot)
            .execute(&state.db)
            .await?;
    }
    Ok(added)
}
