//! End-to-end: the real `cxb control` and `cxb dataplane` processes. A bot's widget is enabled
//! through control's API, a browser-like client connects to the `ws_url` control shows with the
//! key and an allowed `Origin`, then the key is regenerated and the old one is refused (401) by the
//! dataplane at once while the new one works.

mod ctl_harness;
mod dp_harness;
mod sip_harness;

use std::time::Duration;

use ctl_harness::Control;
use dp_harness::Dp;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The upgrade's status: 101 when accepted, else the refusal's.
async fn upgrade_status(url: &str, origin: &str) -> u16 {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            drop(ws);
            resp.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn control_enables_and_regenerates_the_widget_key_the_dataplane_checks() {
    let dp = Dp::start("widget-ctl", r#"{"bots": []}"#, &[]);
    let ctl = Control::start(dp.http, None);
    let admin = ctl.admin_key.clone();
    let (s, b) = ctl.req(
        "POST",
        "/api/v1/bots",
        &admin,
        Some(&json!({"id": "wb", "name": "Widget"})),
    );
    assert_eq!(s, 201, "{b}");
    let body = json!({"enabled": true, "allowed_domains": ["shop.example.com"]});
    let (s, b) = ctl.req("PUT", "/api/v1/bots/wb/widget", &admin, Some(&body));
    assert_eq!(s, 200, "{b}");
    let ws_url = b["ws_url"].as_str().unwrap().to_owned();
    assert_eq!(ws_url, format!("ws://127.0.0.1:{}/widget/wb", dp.http));
    let (s, b) = ctl.req("GET", "/api/v1/bots/wb/widget?reveal=true", &admin, None);
    assert_eq!(s, 200, "{b}");
    let old = b["widget_key"].as_str().unwrap().to_owned();

    let shop = "https://shop.example.com";
    let with_key = |k: &str| format!("{ws_url}?key={k}");
    assert_eq!(upgrade_status(&with_key(&old), shop).await, 101);
    assert_eq!(upgrade_status(&with_key(&old), "https://evil.example.org").await, 403);

    let (s, b) = ctl.req("POST", "/api/v1/bots/wb/widget/regenerate", &admin, None);
    assert_eq!(s, 200, "{b}");
    let new = b["widget_key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        upgrade_status(&with_key(&old), shop).await,
        401,
        "the old key stops at once"
    );
    assert_eq!(upgrade_status(&with_key(&new), shop).await, 101);

    let (s, b) = ctl.req(
        "PUT",
        "/api/v1/bots/wb/widget",
        &admin,
        Some(&json!({"enabled": false})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(upgrade_status(&with_key(&new), shop).await, 404, "disabled at once");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
