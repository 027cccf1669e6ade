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
        let r = app
            .req(
                Method::PUT,
                "/api/v1/settings/fleet",
                k,
                Some(json!({"servers": [url]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
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
