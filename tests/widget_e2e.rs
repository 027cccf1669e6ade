//! End-to-end: a real `cxb dataplane` process and a browser-like WebSocket client at the web
//! widget's `/widget/{bot_id}?key=…` with an `Origin` header: refusals (401 key, 403 Origin, 404
//! no widget), an accepted call recorded with `channel = widget`, and a key replaced by a routing
//! push (what control does on regenerate) stopping the old key at once.

mod dp_harness;
mod sip_harness;

use std::io::{Read, Write};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use dp_harness::Dp;

const SECRET: &str = "test-secret-0123456789";
const KEY: &str = "wk_e2e_first_key";
const SID: &str = "MZ00000000000000000000000000000007";

fn snapshot(key: &str) -> String {
    json!({
        "bots": [
            {"id": "wbot", "name": "Widget", "opening_message": "Hello from the widget bot."},
            {"id": "plain", "name": "No widget"}
        ],
        "widgets": [{"bot_id": "wbot", "key_sha256": cxb_model::widget::key_sha256(key),
                     "allowed_domains": ["shop.example.com", "*.acme.io"]}]
    })
    .to_string()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, origin: Option<&str>) -> Result<Ws, (u16, String)> {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
            Err((resp.status().as_u16(), body.unwrap_or_default()))
        }
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

/// `PUT /internal/v1/routing` over plain HTTP/1.1; returns the status.
fn put_routing(dp: &Dp, body: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", dp.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "PUT /internal/v1/routing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SECRET}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "current_thread")]
async fn widget_key_and_origin_are_checked_and_calls_are_recorded() {
    let dp = Dp::start("widget", &snapshot(KEY), &[]);
    tokio::time::timeout(Duration::from_secs(60), async {
        let shop = Some("https://shop.example.com");
        let status = |path: String, origin: Option<&'static str>| {
            let url = dp.url(&path);
            async move { connect(&url, origin).await.err().map(|(s, _)| s) }
        };
        assert_eq!(status("/widget/wbot".into(), shop).await, Some(401), "no key");
        assert_eq!(status("/widget/wbot?key=wk_wrong".into(), shop).await, Some(401));
        assert_eq!(
            status(format!("/widget/wbot?key={KEY}"), None).await,
            Some(403),
            "no Origin"
        );
        let evil = Some("https://evil.example.net");
        assert_eq!(status(format!("/widget/wbot?key={KEY}"), evil).await, Some(403));
        assert_eq!(status(format!("/widget/plain?key={KEY}"), shop).await, Some(404));
        assert_eq!(status(format!("/widget/nobody?key={KEY}"), shop).await, Some(404));
        // The internal secret stays required on /ws, and opens nothing on /widget.
        assert_eq!(status(format!("/ws/wbot?key={KEY}"), shop).await, Some(401));
        assert_eq!(status(format!("/widget/wbot?token={SECRET}"), shop).await, Some(401));
        let (_, body) = connect(&dp.url("/widget/wbot"), shop).await.err().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"],
            "missing widget key"
        );

        // Accepted from a wildcard subdomain; one short call.
        let mut ws = connect(&dp.url(&format!("/widget/wbot?key={KEY}")), Some("https://app.acme.io"))
            .await
            .expect("upgrade");
        let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": SID,
            "start": {"streamSid": SID, "accountSid": "AC1", "callSid": "CA7", "tracks": ["inbound"],
                      // A page cannot pass its calls off as another channel or origin.
                      "customParameters": {"channel": "phone", "widget_origin": "https://bank.example", "page": "/x"},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
        ws.send(Message::text(start.to_string())).await.unwrap();
        // Wait for the bot's first media frame, then hang up.
        loop {
            match tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .expect("media")
            {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"media\"") => break,
                Some(Ok(_)) => {}
                other => panic!("stream ended early: {other:?}"),
            }
        }
        let stop = json!({"event": "stop", "sequenceNumber": "2", "streamSid": SID,
                          "stop": {"accountSid": "AC1", "callSid": "CA7"}});
        ws.send(Message::text(stop.to_string())).await.unwrap();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["direction"], "websocket", "{r}");
        assert_eq!(r["bot_id"], "wbot", "{r}");
        assert_eq!(r["variables"]["channel"], "widget", "{r}");
        assert_eq!(r["variables"]["widget_origin"], "https://app.acme.io", "{r}");
        assert_eq!(r["variables"]["page"], "/x", "other parameters are kept: {r}");

        // Control regenerates the key: the new snapshot makes the old key fail at once.
        assert_eq!(put_routing(&dp, &snapshot("wk_e2e_second_key")), 200);
        assert_eq!(
            status(format!("/widget/wbot?key={KEY}"), shop).await,
            Some(401),
            "old key"
        );
        let ws = connect(&dp.url("/widget/wbot?key=wk_e2e_second_key"), shop).await;
        assert!(ws.is_ok(), "new key works");
        drop(ws);
        // A snapshot without widgets disables it.
        let no_widgets = json!({"bots": [{"id": "wbot", "name": "Widget"}]}).to_string();
        assert_eq!(put_routing(&dp, &no_widgets), 200);
        assert_eq!(
            status("/widget/wbot?key=wk_e2e_second_key".into(), shop).await,
            Some(404)
        );
        // A bad widget entry is refused naming the field.
        let bad = json!({"bots": [{"id": "wbot", "name": "Widget"}],
                         "widgets": [{"bot_id": "ghost", "key_sha256": "00", "allowed_domains": []}]});
        assert_eq!(put_routing(&dp, &bad.to_string()), 422);
    })
    .await
    .expect("test finished in time");
}
