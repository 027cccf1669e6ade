//! `PUT /internal/v1/routing`: control pushes the bots and DID mappings; the table in force is
//! replaced whole (calls in progress keep the bot they started with).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cxb_model::{DataplaneSnapshot, RoutingTable};
use serde_json::json;

use super::{Http, auth, unprocessable};

/// 200 with the counts, 401, or 422 naming the offending field (`bots[2].active_hours.time_zone`,
/// `widgets[0].bot_id`).
pub async fn put(
    State(h): State<Http>,
    headers: HeaderMap,
    body: Result<Json<DataplaneSnapshot>, JsonRejection>,
) -> Response {
    if let Err(e) = auth::check(&h.shared.cfg.internal_secret, &headers) {
        return e.into_response();
    }
    let snapshot = match body {
        Ok(Json(s)) => s,
        Err(e) => return unprocessable("body", &e.body_text()),
    };
    let (bots, dids) = (snapshot.bots.len(), snapshot.dids.len());
    match RoutingTable::new(snapshot) {
        Ok(table) => {
            h.shared.routing.store(table);
            (StatusCode::OK, Json(json!({ "bots": bots, "dids": dids }))).into_response()
        }
        Err(e) => unprocessable(&e.field(), &e.to_string()),
    }
}
