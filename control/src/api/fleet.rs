//! `GET /health/fleet`: whether the fleet can take calls, its capacity and load, per dataplane
//! (from shared memory on this host, else over HTTP). Any authenticated caller may read it.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};

use crate::auth::Principal;
use crate::fleet::{Fleet, FleetHealth};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health/fleet", get(health))
        .layer(Extension(Arc::new(Fleet::new())))
}

/// The OpenAPI paths of this module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(health))]
    struct Doc;
    Doc::openapi()
}

/// `{fleet_available, total_capacity, active_calls, free, servers: [{url, name, healthy, shards,
/// healthy_shards, capacity, active_calls, free, cpu_load, source, error?}]}`.
#[utoipa::path(get, path = "/health/fleet", tag = "fleet",
    responses((status = 200, body = serde_json::Value), (status = 401)))]
pub async fn health(
    State(state): State<AppState>,
    Extension(fleet): Extension<Arc<Fleet>>,
    _p: Principal,
) -> Json<FleetHealth> {
    Json(fleet.health(&state).await)
}
