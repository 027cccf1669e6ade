//! Unit tests of the widget checks (the end-to-end ones are in `tests/widget_e2e.rs`).

use cxb_model::{BotConfig, DataplaneSnapshot, WidgetAccess};

use super::*;

fn table() -> RoutingTable {
    RoutingTable::new(DataplaneSnapshot {
        bots: vec![BotConfig::new("w", "Widget"), BotConfig::new("plain", "No widget")],
        widgets: vec![WidgetAccess::new(
            "w",
            "wk_good",
            vec!["shop.example.com".into(), "*.acme.io".into()],
        )],
        ..DataplaneSnapshot::default()
    })
    .unwrap()
}

#[test]
fn accepts_the_key_from_an_allowed_origin() {
    let t = table();
    assert_eq!(
        check(&t, "w", Some("wk_good"), Some("https://shop.example.com")),
        Ok(())
    );
    assert_eq!(check(&t, "w", Some("wk_good"), Some("https://a.acme.io:8443")), Ok(()));
}

#[test]
fn refuses_with_401_403_404() {
    let t = table();
    let status = |bot: &str, key: Option<&str>, origin: Option<&str>| check(&t, bot, key, origin).unwrap_err().status();
    let ok_origin = Some("https://shop.example.com");
    assert_eq!(status("w", None, ok_origin), StatusCode::UNAUTHORIZED);
    assert_eq!(status("w", Some("wk_bad"), ok_origin), StatusCode::UNAUTHORIZED);
    assert_eq!(status("w", Some(""), ok_origin), StatusCode::UNAUTHORIZED);
    assert_eq!(status("w", Some("wk_good"), None), StatusCode::FORBIDDEN);
    assert_eq!(
        status("w", Some("wk_good"), Some("https://evil.com")),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status("w", Some("wk_good"), Some("https://acme.io")),
        StatusCode::FORBIDDEN
    );
    assert_eq!(status("plain", Some("wk_good"), ok_origin), StatusCode::NOT_FOUND);
    assert_eq!(status("nobody", Some("wk_good"), ok_origin), StatusCode::NOT_FOUND);
    // Unknown bot before key, key before origin: nothing about the key leaks without the bot.
    assert_eq!(
        check(&t, "nobody", None, None),
        Err(WidgetError::NoWidget {
            bot_id: "nobody".into()
        })
    );
    assert_eq!(check(&t, "w", None, None), Err(WidgetError::MissingKey));
    assert_eq!(check(&t, "w", Some("wk_good"), None), Err(WidgetError::MissingOrigin));
}

#[test]
fn refusal_bodies_are_json_and_cut_long_input() {
    let long = "x".repeat(1000);
    let t = table();
    match check(&t, &long, Some("k"), None) {
        Err(WidgetError::NoWidget { bot_id }) => assert_eq!(bot_id.len(), 64),
        other => panic!("{other:?}"),
    }
    let origin = format!("https://{long}");
    match check(&t, "w", Some("wk_good"), Some(&origin)) {
        Err(WidgetError::OriginNotAllowed { origin }) => assert_eq!(origin.len(), MAX_ORIGIN),
        other => panic!("{other:?}"),
    }
    let r = WidgetError::BadKey.into_response();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
}
