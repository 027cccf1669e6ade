//! Dial-out through the real router against a fake dataplane on loopback (its internal API:
//! `GET /internal/v1/fleet`, `POST /internal/v1/dial`).

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use cxb_model::{DialAccepted, DialRequest, FleetSnapshot, FleetTotals, ShardStatus};
use serde_json::{Value, json};

use crate::api::tests::{Auth, TestApp, apps};

#[derive(Clone, Default)]
struct Fake {
    dials: Arc<Mutex<Vec<DialRequest>>>,
    full: Arc<Mutex<bool>>,
}

fn snapshot(free: bool) -> FleetSnapshot {
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    let shard = ShardStatus {
        index: 0,
        capacity: 10,
        active_calls: if free { 2 } else { 10 },
        calls_setup_total: 0,
        calls_rejected_total: 0,
        cpu_load_permille: 250,
        heartbeat_unix_ms: now,
        healthy: true,
        ticks_total: 0,
        ticks_late_total: 0,
    };
    FleetSnapshot {
        layout_version: 1,
        pid: 0,
        node_start_unix_ms: 1,
        stopped_unix_ms: None,
        shards: vec![shard],
        totals: FleetTotals {
            shards: 1,
            healthy_shards: 1,
            capacity: 10,
            active_calls: shard.active_calls,
            free: shard.free(),
            calls_setup_total: 0,
            calls_rejected_total: 0,
        },
    }
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer internal-secret")
}

/// Starts the fake dataplane; returns its base URL.
async fn fake_dataplane(fake: Fake) -> String {
    let f1 = fake.clone();
    let f2 = fake.clone();
    let app = Router::new()
        .route(
            "/internal/v1/fleet",
            get(move |h: HeaderMap| {
                let f = f1.clone();
                async move {
                    if !authorized(&h) {
                        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "no"})));
                    }
                    let full = *f.full.lock().unwrap();
                    (StatusCode::OK, Json(serde_json::to_value(snapshot(!full)).unwrap()))
                }
            }),
        )
        .route(
            "/internal/v1/dial",
            post(move |h: HeaderMap, Json(req): Json<DialRequest>| {
                let f = f2.clone();
                async move {
                    if !authorized(&h) {
                        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "no"})));
                    }
                    if req.to_number == "+4930000000" {
                        return (
                            StatusCode::UNPROCESSABLE_ENTITY,
                            Json(json!({"error": "validation failed", "field": "to_number", "message": "busy"})),
                        );
                    }
                    f.dials.lock().unwrap().push(req);
                    let acc = DialAccepted {
                        session_id: "sess-1".into(),
                        shard: 0,
                    };
                    (StatusCode::ACCEPTED, Json(serde_json::to_value(acc).unwrap()))
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

async fn send(app: &TestApp, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let auth = key.map_or(Auth::None, Auth::Key);
    let r = app.req(Method::POST, path, auth, Some(body)).await;
    (r.status, r.body)
}

async fn trunk(app: &TestApp) {
    let r = app
        .req(
            Method::POST,
            "/api/v1/trunks",
            Auth::Key(&app.admin_key),
            Some(
                json!({"name": "carrier", "host": "127.0.0.1", "port": 5099, "transport": "udp",
                "username": "u1", "password": "p4ss", "default_from_number": "+4930123456",
                "number_pool": [], "is_default": true}),
            ),
        )
        .await;
    assert!(r.status.is_success(), "{}: {}", app.backend, r.body);
}

#[tokio::test]
async fn refusals_name_the_reason() {
    for app in apps("dialrefuse").await {
        app.bot("bot-a").await;
        app.bot("bot-b").await;
        let (_, key_b) = app.key(&["bot-b"], false).await;
        let admin = Some(app.admin_key.as_str());
        let ok = json!({"bot_id": "bot-a", "to_number": "+4915112345678"});
        for path in ["/api/v1/dialout", "/api/v1/sip/dialout"] {
            assert_eq!(send(&app, path, None, ok.clone()).await.0, StatusCode::UNAUTHORIZED);
            assert_eq!(
                send(&app, path, Some("cxb_bogus"), ok.clone()).await.0,
                StatusCode::UNAUTHORIZED
            );
            let (s, b) = send(&app, path, Some(&key_b), ok.clone()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "key scoped to another bot: {b}");
            let (s, _) = send(
                &app,
                path,
                admin,
                json!({"bot_id": "nope", "to_number": "+4915112345678"}),
            )
            .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{}", app.backend);
            let (s, b) = send(&app, path, admin, json!({"bot_id": "bot-a", "to_number": "12"})).await;
            assert_eq!(
                (s, b["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("to_number"))
            );
            let (s, b) = send(&app, path, admin, json!({"bot_id": "bot-a"})).await;
            assert_eq!(
                (s, b["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("to_number"))
            );
            let (s, b) = send(
                &app,
                path,
                admin,
                json!({"bot_id": "bot-a", "to_number": "+4915112345678", "from_number": 5}),
            )
            .await;
            assert_eq!(
                (s, b["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("from_number"))
            );
            let (s, b) = send(
                &app,
                path,
                admin,
                json!({"bot_id": "bot-a", "to_number": "+4915112345678",
                "variables": [1]}),
            )
            .await;
            assert_eq!(
                (s, b["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("variables"))
            );
            // No trunk configured yet.
            let (s, b) = send(&app, path, admin, ok.clone()).await;
            assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        }
        // JSON syntax error.
        let r = {
            use axum::body::Body;
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let req = axum::http::Request::post("/api/v1/dialout")
                .header("x-api-key", &app.admin_key)
                .header("content-type", "application/json")
                .body(Body::from("{\"bot_id\": "))
                .unwrap();
            let res = app.router.clone().oneshot(req).await.unwrap();
            let status = res.status();
            let v: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
            (status, v)
        };
        assert_eq!(
            (r.0, r.1["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("body"))
        );

        trunk(&app).await;
        // A trunk, but no dataplane: no capacity.
        let (s, b) = send(&app, "/api/v1/dialout", admin, ok.clone()).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains("capacity"), "{b}");
        // Inactive bot.
        let r = app
            .req(
                Method::PATCH,
                "/api/v1/bots/bot-a",
                Auth::Key(&app.admin_key),
                Some(json!({"active": false})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        let (s, b) = send(&app, "/api/v1/dialout", admin, ok.clone()).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains("inactive"), "{b}");
    }
}

#[tokio::test]
async fn dials_through_the_dataplane_with_capacity() {
    for app in apps("dialok").await {
        let fake = Fake::default();
        let url = fake_dataplane(fake.clone()).await;
        app.use_fleet(&url).await;
        app.bot("bot-a").await;
        trunk(&app).await;
        let (_, key_a) = app.key(&["bot-a"], false).await;

        let h = app.req(Method::GET, "/health/fleet", Auth::Key(&key_a), None).await;
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.body["fleet_available"], true, "{}", h.body);
        assert_eq!(h.body["total_capacity"], 10);
        assert_eq!(h.body["servers"][0]["source"], "http");
        assert_eq!(h.body["servers"][0]["cpu_load"], 0.25);
        assert_eq!(
            app.req(Method::GET, "/health/fleet", Auth::None, None).await.status,
            StatusCode::UNAUTHORIZED
        );

        let body = json!({"bot_id": "bot-a", "to_number": "+49 151 1234-5678", "variables": {"name": "Ann"}});
        let (s, b) = send(&app, "/api/v1/dialout", Some(&key_a), body).await;
        assert_eq!(s, StatusCode::OK, "{}: {b}", app.backend);
        assert_eq!(b, json!({"status": "ok", "call_id": "sess-1"}));
        let sent = fake.dials.lock().unwrap().pop().unwrap();
        assert_eq!(sent.to_number, "+4915112345678");
        assert_eq!(sent.from_number.as_deref(), Some("+4930123456"), "trunk default");
        assert_eq!(sent.variables["name"], "Ann");
        let t = sent.trunk.unwrap();
        assert_eq!(t.address, "127.0.0.1:5099");
        assert_eq!(
            (t.username.as_deref(), t.password.as_deref()),
            (Some("u1"), Some("p4ss"))
        );

        // The dataplane's 422 is passed through naming its field.
        let (s, b) = send(
            &app,
            "/api/v1/sip/dialout",
            Some(&key_a),
            json!({"bot_id": "bot-a",
            "to_number": "+4930000000", "from_number": "+4930999"}),
        )
        .await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("to_number"))
        );

        // Full fleet: 503, nothing sent.
        *fake.full.lock().unwrap() = true;
        tokio::time::sleep(crate::fleet::REFRESH).await;
        let (s, _) = send(
            &app,
            "/api/v1/dialout",
            Some(&key_a),
            json!({"bot_id": "bot-a",
            "to_number": "+4915112345678"}),
        )
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(fake.dials.lock().unwrap().is_empty());
    }
}
