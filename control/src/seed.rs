//! First-start seeding for `cxb up`: the demo bot `demo` ([`cxb_model::demo::demo_bot`]) stored
//! through the database like any bot, so the dataplane receives it with the routing push.

use crate::db;
use crate::error::ApiResult;
use crate::state::AppState;

/// Stores the demo bot unless a bot with its id exists; true when it was added.
pub async fn seed_demo(state: &AppState) -> ApiResult<bool> {
    let bot = cxb_model::demo::demo_bot();
    let json = serde_json::to_string(&bot)?;
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

/// The number the demo DID maps to the demo bot (the `cxb up` dial-out example calls it).
pub const DEMO_NUMBER: &str = "+15550100";

/// For `cxb up`'s ready-to-run dial-out: a default trunk `loopback` at `127.0.0.1:sip_port` (the
/// local dataplane itself) and the DID [`DEMO_NUMBER`] → `demo`, so the demo bot can call
/// itself with no carrier. Each is added only if absent (no trunk at all / number unmapped);
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
    sqlx::query("INSERT INTO dids (number, bot_id) VALUES ($1, $2) ON CONFLICT (number) DO NOTHING")
        .bind(DEMO_NUMBER)
        .bind(cxb_model::demo::DEMO_BOT_ID)
        .execute(&state.db)
        .await?;
    Ok(added)
}
