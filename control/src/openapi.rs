//! The OpenAPI document served at `/openapi.json`, generated from the handlers' `#[utoipa::path]`
//! annotations and the request/response types' `ToSchema`.
//!
//! Other modules register their paths by providing `pub fn openapi() -> utoipa::openapi::OpenApi`
//! (usually `ApiDoc::openapi()` of their own `#[derive(OpenApi)]`) and being listed in [`document`].

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

use crate::api;

/// Security schemes: `X-API-Key` and the session cookie.
#[derive(Debug)]
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("cxb_session"))),
        );
    }
}

/// ctl-a's paths.
#[derive(OpenApi)]
#[openapi(
    info(title = "cxb control API", description = "Bots, calls, dial-out, settings of a cxb install."),
    modifiers(&Security),
    security(("api_key" = []), ("session" = [])),
    paths(
        api::auth::login,
        api::auth::logout,
        api::auth::me,
        api::auth::list_users,
        api::auth::create_user,
        api::keys::create,
        api::keys::list,
        api::keys::remove,
        api::bots::list,
        api::bots::create,
        api::bots::read,
        api::bots::replace,
        api::bots::patch,
        api::bots::remove,
        api::bots::clone,
        api::bots::cache_status,
        api::bots::cache_set,
        api::bots::cache_refresh,
        api::widget::read,
        api::widget::update,
        api::widget::regenerate,
        api::integration::read,
        api::dids::list,
        api::dids::create,
        api::dids::remove,
        api::trunks::list,
        api::trunks::create,
        api::trunks::read,
        api::trunks::replace,
        api::trunks::remove,
        api::settings::get_providers,
        api::settings::put_provider,
        api::settings::get_fleet,
        api::settings::put_fleet,
    )
)]
struct CoreDoc;

/// The full document: ctl-a's paths merged with the other modules' documents.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = CoreDoc::openapi();
    doc.merge(api::dialout::openapi());
    doc.merge(api::calls::openapi());
    doc.merge(api::fleet::openapi());
    doc.merge(api::internal::openapi());
    doc.merge(api::widget_js::openapi());
    doc
}
