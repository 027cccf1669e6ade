//! The web widget in the routing snapshot (key hashed, pushed at once on change), its embed
//! snippet, and the `/metrics` counters of dial-outs and call ingestion.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cxb_model::{CallDirection, CallRecord, DisconnectedBy, Timestamp, WidgetAccess};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Auth, apps};

type Seen = Arc<Mutex<Vec<Value>>>;

/// A dataplane's routing endpoint that keeps every snapshot pushed to it.
async fn fake_dataplane() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/internal/v1/routing",
        axum::routing::put(move |axum::Json(body): axum::Json<Value>| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(body);
                axum::Json(json!({"bots": 0, "dids": 0}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn last_widgets(seen: &Seen) -> Value {
    seen.lock().unwrap().last().expect("a push")["widgets"].clone()
}

#[tokio::test]
async fn snapshot_carries_enabled_widgets_hashed_and_pushes_on_change() {
    for app in apps("widget_snapshot").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        let (url, seen) = fake_dataplane().await;
        app.use_fleet(&url).await;
        app.bot("w").await;
        app.bot("other").await;
        let snap = crate::routing_push::snapshot(&app.state).await.unwrap();
        assert!(snap.widgets.is_empty(), "{b}: a disabled widget is not in the snapshot");

        let r = app
            .req(
                Method::PUT,
                "/api/v1/bots/w/widget",
                k,
                Some(json!({"enabled": true, "allowed_domains": ["Shop.Example.com", "*.acme.io"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let ws_url = r.body["ws_url"].as_str().unwrap().to_owned();
        assert_eq!(
            ws_url,
            format!("{}/widget/w", url.replacen("http://", "ws://", 1)),
            "{b}"
        );
        assert!(r.body["embed_snippet"].as_str().unwrap().contains(&ws_url), "{b}");
        let key = app.get("/api/v1/bots/w/widget?reveal=true").await.body["widget_key"]
            .as_str()
            .unwrap()
            .to_owned();

        // The PUT answered after the push: the dataplane has the widget already.
        let pushed = last_widgets(&seen);
        assert_eq!(pushed.as_array().unwrap().len(), 1, "{b}: {pushed}");
        assert_eq!(pushed[0]["bot_id"], "w");
        assert_eq!(pushed[0]["allowed_domains"], json!(["shop.example.com", "*.acme.io"]));
        let old_hash = pushed[0]["key_sha256"].as_str().unwrap().to_owned();
        assert_eq!(old_hash, cxb_model::widget::key_sha256(&key));
        assert!(
            !seen.lock().unwrap().last().unwrap().to_string().contains(&key),
            "{b}: key never sent"
        );
        let snap = crate::routing_push::snapshot(&app.state).await.unwrap();
        assert_eq!(
            snap.widgets,
            vec![WidgetAccess::new(
                "w",
                &key,
                vec!["shop.example.com".into(), "*.acme.io".into()]
            )]
        );
        cxb_model::RoutingTable::new(snap).expect("the dataplane accepts the snapshot");

        let r = app.req(Method::POST, "/api/v1/bots/w/widget/regenerate", k, None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let new_key = r.body["widget_key"].as_str().unwrap().to_owned();
        let pushed = last_widgets(&seen);
        let new_hash = pushed[0]["key_sha256"].as_str().unwrap();
        assert_ne!(new_hash, old_hash, "{b}: regenerate pushes the new hash at once");
        assert_eq!(new_hash, cxb_model::widget::key_sha256(&new_key));

        let r = app
            .req(Method::PUT, "/api/v1/bots/w/widget", k, Some(json!({"enabled": false})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(last_widgets(&seen), json!([]), "{b}: disabling removes it at once");
    }
}

async fn metrics_text(app: &super::TestApp) -> String {
    let res = app
        .router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn metrics_count_dialouts_by_status_and_ingested_calls() {
    for app in apps("widget_metrics").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        let dial = |bot: &str| json!({"bot_id": bot, "to_number": "+15550100123"});
        let r = app
            .req(Method::POST, "/api/v1/dialout", Auth::None, Some(dial("x")))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b}");
        let r = app.req(Method::POST, "/api/v1/dialout", k, Some(dial("nobody"))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        let r = app
            .req(Method::POST, "/api/v1/dialout", k, Some(json!({"bot_id": 5})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {}", r.body);
        let off = json!({"id": "off", "name": "Off", "active": false});
        let r = app.req(Method::POST, "/api/v1/bots", k, Some(off)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let r = app.req(Method::POST, "/api/v1/dialout", k, Some(dial("off"))).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{b}: {}", r.body);

        let mut rec = CallRecord::new("metrics-call-1", "off", CallDirection::Websocket, Timestamp::now());
        rec.finish(Timestamp::now(), DisconnectedBy::Customer);
        let ingest = || {
            Request::post("/internal/v1/calls")
                .header("authorization", "Bearer internal-secret")
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&rec).unwrap()))
                .unwrap()
        };
        let res = app.router.clone().oneshot(ingest()).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{b}");
        let res = app.router.clone().oneshot(ingest()).await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "{b}");

        let text = metrics_text(&app).await;
        for line in [
            "cxb_dialout_total{status=\"401\"} 1",
            "cxb_dialout_total{status=\"404\"} 1",
            "cxb_dialout_total{status=\"422\"} 1",
            "cxb_dialout_total{status=\"503\"} 1",
            "cxb_calls_ingested_total 1",
            "cxb_calls_duplicate_total 1",
            "# TYPE cxb_postcall_jobs_total counter",
            "# TYPE cxb_crm_push_total counter",
        ] {
            assert!(text.contains(line), "{b}: no {line:?} in\n{text}");
        }
    }
}

#[tokio::test]
async fn ws_url_uses_the_dataplane_public_url_when_set() {
    use crate::api::widget::{ws_base, ws_url};
    assert_eq!(ws_base("https://voice.example.com/"), "wss://voice.example.com");
    assert_eq!(ws_base("http://10.0.0.5:8081"), "ws://10.0.0.5:8081");
    assert_eq!(ws_base("wss://voice.example.com"), "wss://voice.example.com");
    for (public, want) in [
        ("https://voice.example.com/", "wss://voice.example.com/widget/w"),
        ("http://dp.internal:8081", "ws://dp.internal:8081/widget/w"),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = crate::config::ControlConfig::local(dir.path(), "internal-secret");
        cfg.database_url = format!("sqlite://{}?mode=rwc", dir.path().join("cxb.db").display());
        cfg.dataplanes = vec![crate::config::DataplaneEndpoint {
            url: "http://127.0.0.1:1".into(),
        }];
        cfg.public_url = "https://cxb.example.com".into();
        cfg.dataplane_public_url = Some(public.into());
        let (router, state) = crate::build(cfg).await.expect("control builds");
        assert_eq!(ws_url(&state, "w").await.unwrap(), want);
        let key = state
            .take_first_start()
            .and_then(|f| f.admin_api_key)
            .expect("admin key");
        let app = super::TestApp {
            backend: "sqlite",
            router,
            state,
            admin_key: key,
            admin_password: String::new(),
            _dir: dir,
        };
        app.bot("w").await;
        let r = app.get("/api/v1/bots/w/widget").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["ws_url"], want);
        let snippet = r.body["embed_snippet"].as_str().unwrap();
        assert!(snippet.contains(&format!("data-endpoint=\"{want}\"")), "{snippet}");
        assert!(
            snippet.starts_with("<script src=\"https://cxb.example.com/widget.js\""),
            "{snippet}"
        );
    }
    // Unset: today's behaviour (the first dataplane; see the snapshot test above).
    for app in apps("widget_ws_url").await {
        assert_eq!(app.state.cfg.dataplane_public_url, None);
        app.bot("w").await;
        let r = app.get("/api/v1/bots/w/widget").await;
        assert_eq!(
            r.body["ws_url"], "wss://cxb.example.com/widget/w",
            "{}: no dataplane known",
            app.backend
        );
    }
}

#[tokio::test]
async fn widget_js_is_public_javascript_with_cache_headers_and_documented() {
    for app in apps("widget_js").await {
        let b = app.backend;
        let res = app
            .router
            .clone()
            .oneshot(Request::get("/widget.js").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{b}: no authentication needed");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "application/javascript; charset=utf-8", "{b}");
        assert_eq!(h["cache-control"], "public, max-age=300", "{b}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{b}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let js = std::str::from_utf8(&body).expect("UTF-8");
        assert_eq!(js, crate::api::widget_js::WIDGET_JS, "{b}");
        for needle in [
            "window.cxbWidget",
            "registerProcessor(\"cxb-capture\"",
            "audio/x-mulaw",
            "transfer_result",
        ] {
            assert!(js.contains(needle), "{b}: {needle}");
        }
        let r = app.req(Method::GET, "/openapi.json", Auth::None, None).await;
        let op = &r.body["paths"]["/widget.js"]["get"];
        assert!(op.is_object(), "{b}: /widget.js documented");
        assert_eq!(op["security"], json!([]), "{b}: public, no authentication");
        assert!(
            op["responses"]["200"]["content"]["application/javascript"].is_object(),
            "{b}: {op}"
        );
    }
}
