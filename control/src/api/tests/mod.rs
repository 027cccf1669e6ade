//! API tests through the real router on SQLite and (with `CXB_TEST_PG_URL`) PostgreSQL.

mod access;
mod bots;
mod settings;
mod widget;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::ControlConfig;
use crate::state::AppState;

/// One control instance on one backend.
pub(crate) struct TestApp {
    pub backend: &'static str,
    pub router: Router,
    pub state: AppState,
    pub admin_key: String,
    pub admin_password: String,
    _dir: tempfile::TempDir,
}

/// A response: status, headers, JSON body (`Null` when empty or not JSON).
pub(crate) struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    Key(&'a str),
    Cookie(&'a str),
}

/// Fresh apps for every backend under test.
pub(crate) async fn apps(name: &str) -> Vec<TestApp> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cxb.db").display());
    out.push(app("sqlite", url, dir).await);
    if let Some(pg) = crate::calls::tests::pg_database(name).await {
        out.push(app("postgres", pg, tempfile::tempdir().expect("temp dir")).await);
    }
    out
}

async fn app(backend: &'static str, url: String, dir: tempfile::TempDir) -> TestApp {
    let mut cfg = ControlConfig::local(dir.path(), "internal-secret");
    cfg.database_url = url;
    cfg.dataplanes = Vec::new();
    cfg.public_url = "https://cxb.example.com".into();
    let (router, state) = crate::build(cfg).await.expect("control builds");
    let first = state.take_first_start().expect("first start secrets");
    assert!(state.take_first_start().is_none(), "first-start secrets are given once");
    TestApp {
        backend,
        router,
        state,
        // With CXB_ADMIN_PASSWORD set in the environment the password is not returned.
        admin_password: first
            .admin_password
            .unwrap_or_else(|| std::env::var("CXB_ADMIN_PASSWORD").unwrap_or_default()),
        admin_key: first.admin_api_key.expect("admin key"),
        _dir: dir,
    }
}

impl TestApp {
    /// Points the fleet at the dataplane `url` (which starts a routing push in the background).
    pub async fn use_fleet(&self, url: &str) {
        let r = self
            .req(
                Method::PUT,
                "/api/v1/settings/fleet",
                Auth::Key(&self.admin_key),
                Some(json!({"servers": [url]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", self.backend, r.body);
    }

    /// Sends one request through the router.
    pub async fn req(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Res {
        let mut b = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Key(k) => b = b.header("x-api-key", k),
            Auth::Cookie(c) => b = b.header("cookie", c),
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res { status, headers, body }
    }

    /// GET with the admin key.
    pub async fn get(&self, path: &str) -> Res {
        self.req(Method::GET, path, Auth::Key(&self.admin_key), None).await
    }

    /// Creates a minimal valid bot with the admin key; returns its JSON.
    pub async fn bot(&self, id: &str) -> Value {
        let r = self
            .req(
                Method::POST,
                "/api/v1/bots",
                Auth::Key(&self.admin_key),
                Some(json!({"id": id, "name": format!("Bot {id}")})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", self.backend, r.body);
        r.body
    }

    /// Creates an API key; returns (id, key).
    pub async fn key(&self, bot_ids: &[&str], admin: bool) -> (String, String) {
        let r = self
            .req(
                Method::POST,
                "/api/v1/api-keys",
                Auth::Key(&self.admin_key),
                Some(json!({"name": "test", "bot_ids": bot_ids, "admin": admin})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", self.backend, r.body);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["key"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn health_metrics_openapi_and_json_404() {
    for app in apps("health").await {
        let r = app.req(Method::GET, "/healthz", Auth::None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", app.backend);
        assert_eq!(r.body["status"], "ok");
        let r = app.req(Method::GET, "/nope", Auth::None, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body["error"]["code"], "not_found");
        let r = app.req(Method::GET, "/api/v1/bots", Auth::None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["error"]["code"], "unauthorized");
        let r = app.req(Method::GET, "/openapi.json", Auth::None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        for p in [
            "/api/v1/bots",
            "/api/v1/bots/{id}",
            "/api/v1/api-keys",
            "/api/v1/trunks",
            "/api/v1/dids",
        ] {
            assert!(r.body["paths"].get(p).is_some(), "openapi lacks {p}");
        }
        let r = app
            .req(Method::POST, "/api/v1/bots", Auth::Key(&app.admin_key), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "no JSON content type");
        let res = app
            .router
            .clone()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        assert!(
            text.contains("cxb_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("route=\"/api/v1/bots\",status=\"401\""), "{text}");
    }
}

#[tokio::test]
async fn body_limit_is_1mib_but_8mib_on_bot_routes() {
    for app in apps("limits").await {
        let big = "x".repeat(2 << 20);
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                Auth::Key(&app.admin_key),
                Some(json!({"number": big, "bot_id": "a"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", app.backend);
        let bot = json!({"id": "kb", "name": "KB", "knowledge_base": [{"title": "t", "text": big}]});
        let r = app
            .req(Method::POST, "/api/v1/bots", Auth::Key(&app.admin_key), Some(bot))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", app.backend, r.body);
    }
}
