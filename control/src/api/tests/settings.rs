//! Trunks (password sealed, never returned, one default), provider keys (sealed, masked), fleet
//! servers, and the routing push to a dataplane.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use super::{Auth, apps};

#[tokio::test]
async fn trunk_password_is_sealed_and_never_returned() {
    for app in apps("trunks").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        let t = json!({"name": "Main", "host": "sip.carrier.example", "port": 5061, "transport": "tcp",
            "username": "acct", "password": "trunk-pass-xyz", "default_from_number": "+1 555 010 0000",
            "number_pool": ["+15550100001"], "is_default": true});
        let r = app.req(Method::POST, "/api/v1/trunks", k, Some(t.clone())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert!(!r.body.to_string().contains("trunk-pass-xyz"));
        assert_eq!(r.body["has_password"], true);
        assert_eq!(r.body["default_from_number"], "+15550100000");
        assert_eq!(r.body["transport"], "tcp");
        let id = r.body["id"].as_str().unwrap().to_owned();
        let raw: String = sqlx::query("SELECT password_enc FROM trunks")
            .fetch_one(&app.state.db)
            .await
            .unwrap()
            .try_get("password_enc")
            .unwrap();
        assert!(!raw.contains("trunk-pass-xyz"), "{b}: stored in clear");
        assert_eq!(app.state.crypto.open(&raw).unwrap(), "trunk-pass-xyz");
        let (settings, from) = crate::api::trunks::default_trunk(&app.state).await.unwrap().unwrap();
        assert_eq!(settings.address, "sip.carrier.example:5061");
        assert_eq!(settings.password.as_deref(), Some("trunk-pass-xyz"));
        assert_eq!(from, "+15550100000");
        // A second default takes over; PUT without password keeps it.
        let mut t2 = t.clone();
        t2["name"] = json!("Backup");
        t2.as_object_mut().unwrap().remove("password");
        t2.as_object_mut().unwrap().remove("username");
        let r = app.req(Method::POST, "/api/v1/trunks", k, Some(t2)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["has_password"], false);
        let list = app.get("/api/v1/trunks").await.body;
        let defaults: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["is_default"] == true)
            .collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0]["name"], "Backup");
        let mut t3 = t.clone();
        t3.as_object_mut().unwrap().remove("password");
        t3["is_default"] = json!(false);
        let r = app.req(Method::PUT, &format!("/api/v1/trunks/{id}"), k, Some(t3)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["has_password"], true);
        let r = app.get(&format!("/api/v1/trunks/{id}")).await;
        assert!(!r.body.to_string().contains("trunk-pass"));
        let mut bad = t.clone();
        bad["number_pool"] = json!(["+1555", "x"]);
        let r = app.req(Method::POST, "/api/v1/trunks", k, Some(bad)).await;
        assert_eq!(r.body["error"]["field"], "number_pool[1]");
        let r = app.req(Method::DELETE, &format!("/api/v1/trunks/{id}"), k, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(&format!("/api/v1/trunks/{id}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn provider_keys_are_sealed_at_rest_and_masked() {
    for app in apps("providers").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/providers",
                k,
                Some(json!({"kind": "openai", "api_key": "sk-test-secret-9876"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["api_key_masked"], "****9876");
        assert_eq!(r.body["base_url"], "https://api.openai.com/v1");
        let raw: String = sqlx::query("SELECT api_key_enc FROM provider_keys WHERE kind = 'openai'")
            .fetch_one(&app.state.db)
            .await
            .unwrap()
            .try_get("api_key_enc")
            .unwrap();
        assert_ne!(raw, "sk-test-secret-9876");
        assert!(!raw.contains("sk-test-secret"), "{b}");
        let list = app.get("/api/v1/settings/providers").await.body;
        assert!(!list.to_string().contains("sk-test-secret"));
        assert_eq!(list.as_array().unwrap().len(), 4);
        let ep = crate::api::settings::provider_endpoint(&app.state, cxb_model::ProviderKind::Openai)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ep.api_key.as_deref(), Some("sk-test-secret-9876"));
        // Base URL change keeps the key; "" clears it.
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/providers",
                k,
                Some(json!({"kind": "openai", "base_url": "http://127.0.0.1:9/v1"})),
            )
            .await;
        assert_eq!(r.body["has_api_key"], true);
        assert_eq!(r.body["base_url"], "http://127.0.0.1:9/v1");
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/providers",
                k,
                Some(json!({"kind": "openai", "api_key": ""})),
            )
            .await;
        assert_eq!(r.body["has_api_key"], false);
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/providers",
                k,
                Some(json!({"kind": "embedded"})),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "kind");
        assert!(
            crate::api::settings::provider_endpoint(&app.state, cxb_model::ProviderKind::Anthropic)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// What the fake dataplane received: (authorization header, body).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn fake_dataplane() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/internal/v1/routing",
        axum::routing::put(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let s = s.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                s.lock().unwrap().push((auth, body));
                axum::Json(json!({"bots": 0, "dids": 0}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn fleet_settings_and_routing_push_with_decrypted_providers() {
    for app in apps("push").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        let (url, seen) = fake_dataplane().await;
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/fleet",
                k,
                Some(json!({"servers": [format!("{url}/")]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["servers"], json!([url]));
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/fleet",
                k,
                Some(json!({"servers": ["ftp://x"]})),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "servers[0]");
        assert_eq!(app.get("/api/v1/settings/fleet").await.body["servers"], json!([url]));
        app.req(
            Method::PUT,
            "/api/v1/settings/providers",
            k,
            Some(json!({"kind": "deepgram", "api_key": "dg-key-1234"})),
        )
        .await;
        app.bot("pushed").await;
        app.req(
            Method::POST,
            "/api/v1/dids",
            k,
            Some(json!({"number": "+15550109999", "bot_id": "pushed"})),
        )
        .await;
        // Pushes run in the background; push once more in the foreground to be sure.
        crate::routing_push::push_all(&app.state).await.unwrap();
        let seen = seen.lock().unwrap();
        let (auth, snap) = seen.last().unwrap();
        assert_eq!(auth, "Bearer internal-secret");
        assert_eq!(snap["bots"][0]["id"], "pushed");
        assert_eq!(snap["dids"][0]["number"], "+15550109999");
        assert_eq!(snap["providers"][0]["kind"], "deepgram");
        assert_eq!(snap["providers"][0]["api_key"], "dg-key-1234");
        let parsed: cxb_model::DataplaneSnapshot = serde_json::from_value(snap.clone()).unwrap();
        cxb_model::RoutingTable::new(parsed).expect("the dataplane accepts the snapshot");
    }
}

/// A fake dataplane that records every routing it takes, holding each request `delay` first (or
/// only the first request, with `first_only`).
async fn slow_dataplane(delay: std::time::Duration, first_only: bool) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let s = seen.clone();
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let router = axum::Router::new().route(
        "/internal/v1/routing",
        axum::routing::put(move |axum::Json(body): axum::Json<Value>| {
            let (s, first) = (s.clone(), first.clone());
            async move {
                if first.swap(false, std::sync::atomic::Ordering::SeqCst) || !first_only {
                    tokio::time::sleep(delay).await;
                }
                s.lock().unwrap().push(body);
                axum::Json(json!({"bots": 0, "dids": 0}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// A push whose request is slow on the wire must not land after a later push: the dataplane
/// would keep the older routing. The fake dataplane holds its first request (the push after the
/// fleet change, whose snapshot has no bots) for 500 ms; two bots are created meanwhile and a
/// push made in the foreground. The last routing it takes must have both bots.
#[tokio::test]
async fn a_slow_routing_push_never_lands_after_a_later_one() {
    for app in apps("push_order").await {
        let (url, seen) = slow_dataplane(std::time::Duration::from_millis(500), true).await;
        app.use_fleet(&url).await;
        app.bot("one").await;
        app.bot("two").await;
        crate::routing_push::push_all(&app.state).await.unwrap();
        // Time for a push still on the wire to land.
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let seen = seen.lock().unwrap();
        let last = seen.last().expect("pushed");
        let mut bots: Vec<&str> = last["bots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        bots.sort_unstable();
        assert_eq!(
            bots,
            ["one", "two"],
            "{}: the last routing pushed of {}",
            app.backend,
            seen.len()
        );
    }
}

/// Pushes asked for while one is on the wire are covered by the next snapshot: six at once send
/// at most two (the one that takes the turn first, and one for the rest), all reporting success.
#[tokio::test]
async fn routing_pushes_asked_together_are_coalesced() {
    for app in apps("push_coalesce").await {
        let (url, seen) = slow_dataplane(std::time::Duration::from_millis(300), false).await;
        app.use_fleet(&url).await;
        // Settle the fleet change's own push.
        crate::routing_push::push_all(&app.state).await.unwrap();
        let before = seen.lock().unwrap().len();
        let pushes: Vec<_> = (0..6)
            .map(|_| {
                let state = app.state.clone();
                tokio::spawn(async move { crate::routing_push::push_all(&state).await })
            })
            .collect();
        for p in pushes {
            p.await.unwrap().unwrap();
        }
        let sent = seen.lock().unwrap().len() - before;
        assert!(
            (1..=2).contains(&sent),
            "{}: six pushes asked together sent {sent}",
            app.backend
        );
    }
}
