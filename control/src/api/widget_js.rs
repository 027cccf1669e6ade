//! `GET /widget.js`: the browser side of the web widget, public (no authentication).
//!
//! The script (`control/assets/widget.js`, plain JavaScript, no build step) is compiled into the
//! binary. A page embeds it with the snippet of `GET /api/v1/bots/{id}/widget`
//! (`<script src="…/widget.js" data-bot-id=… data-widget-key=… data-endpoint="ws(s)://…/widget/{bot}" async>`);
//! it draws a call button (Shadow DOM), captures the microphone, and speaks the dataplane's
//! WebSocket media protocol (µ-law 8 kHz `media` frames, `mark` echoes, `clear`, `transfer`).
//! `window.cxbWidget` exposes `start()`, `stop()`, `state` and `stats`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The script served at `/widget.js`.
pub const WIDGET_JS: &str = include_str!("../../assets/widget.js");

/// Its `Content-Type`.
pub const CONTENT_TYPE: &str = "application/javascript; charset=utf-8";

/// Its `Cache-Control`: pages may cache it for five minutes.
pub const CACHE_CONTROL: &str = "public, max-age=300";

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/widget.js", get(script))
}

/// The OpenAPI paths of this module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(script))]
    struct Doc;
    Doc::openapi()
}

/// The web widget's browser script (public; embed it with the snippet of
/// `GET /api/v1/bots/{id}/widget`).
#[utoipa::path(get, path = "/widget.js", tag = "bots", security(),
    responses((status = 200, description = "The widget script", content_type = "application/javascript", body = String)))]
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, CACHE_CONTROL),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        WIDGET_JS,
    )
}
