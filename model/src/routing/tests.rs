use super::*;
use crate::bot::{ActiveHours, ClockTime, Weekday, WeeklyWindow};

fn snapshot() -> DataplaneSnapshot {
    let mut night = BotConfig::new("night", "Night line");
    night.active_hours = Some(ActiveHours {
        time_zone: "UTC".into(),
        windows: vec![WeeklyWindow {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            start: "20:00".parse().unwrap(),
            end: ClockTime::new(6, 0).unwrap(),
        }],
    });
    let mut off = BotConfig::new("off", "Switched off");
    off.active = false;
    DataplaneSnapshot {
        bots: vec![BotConfig::new("sales", "Sales"), night, off],
        dids: vec![
            DidMapping {
                number: "+49 30 1234-5678".into(),
                bot_id: "sales".into(),
            },
            DidMapping {
                number: "15550100".into(),
                bot_id: "night".into(),
            },
            DidMapping {
                number: "+15550199".into(),
                bot_id: "off".into(),
            },
        ],
        providers: Vec::new(),
        widgets: Vec::new(),
    }
}

const NOON: i64 = 1_704_715_200; // 2024-01-08T12:00:00Z
const MIDNIGHT: i64 = 1_704_672_000; // 2024-01-08T00:00:00Z

#[test]
fn resolves_ids_and_numbers_with_or_without_plus() {
    let t = RoutingTable::new(snapshot()).unwrap();
    let is = |user: &str, id: &str| matches!(t.resolve_at(user, NOON), Route::Bot(b) if b.id == id);
    assert!(is("sales", "sales"));
    assert!(is("+493012345678", "sales"));
    assert!(is("493012345678", "sales"));
    assert!(is("+49-30-12345678;user=phone", "sales"));
    assert_eq!(t.resolve_at("nobody", NOON), Route::Unknown);
    assert_eq!(t.resolve_at("+99999999", NOON), Route::Unknown);
    assert_eq!(t.resolve_at("", NOON), Route::Unknown);
    assert!(matches!(t.resolve_at("off", NOON), Route::Inactive(b) if b.id == "off"));
    assert!(matches!(t.resolve_at("15550199", NOON), Route::Inactive(_)));
    assert!(t.bot("off").is_some());
    assert_eq!(t.bots().len(), 3);
    // resolve() reads the clock; an always-open bot is always a Bot route.
    assert!(matches!(t.resolve("sales"), Route::Bot(_)));
}

#[test]
fn outside_hours_is_reported() {
    let t = RoutingTable::new(snapshot()).unwrap();
    assert!(matches!(t.resolve_at("night", NOON), Route::OutsideHours(b) if b.id == "night"));
    assert!(matches!(t.resolve_at("+15550100", NOON), Route::OutsideHours(_)));
    assert!(matches!(t.resolve_at("night", MIDNIGHT), Route::Bot(_)));
}

#[test]
fn snapshot_errors_are_typed() {
    let mut s = snapshot();
    s.bots.push(BotConfig::new("sales", "again"));
    assert!(matches!(RoutingTable::new(s), Err(SnapshotError::DuplicateBot { id }) if id == "sales"));

    let mut s = snapshot();
    s.dids.push(DidMapping {
        number: "+15550100".into(),
        bot_id: "sales".into(),
    });
    assert!(matches!(RoutingTable::new(s), Err(SnapshotError::DuplicateDid { number }) if number == "+15550100"));

    let mut s = snapshot();
    s.dids.push(DidMapping {
        number: "123456".into(),
        bot_id: "ghost".into(),
    });
    assert!(matches!(RoutingTable::new(s), Err(SnapshotError::UnknownBot { bot_id, .. }) if bot_id == "ghost"));

    let mut s = snapshot();
    s.dids.push(DidMapping {
        number: "12".into(),
        bot_id: "sales".into(),
    });
    assert!(matches!(RoutingTable::new(s), Err(SnapshotError::Did { index: 3, source }) if source.field == "number"));

    let mut s = snapshot();
    s.bots[1].active_hours.as_mut().unwrap().time_zone = "Nowhere/Land".into();
    let err = RoutingTable::new(s).unwrap_err();
    assert!(matches!(&err, SnapshotError::Bot { index: 1, source } if source.field == "active_hours.time_zone"));
    assert!(err.to_string().starts_with("bots[1]: active_hours.time_zone"), "{err}");
}

#[test]
fn loads_json_and_toml_files() {
    let dir = std::env::temp_dir().join(format!("cxb-model-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("snap.json");
    std::fs::write(&json, serde_json::to_string(&snapshot()).unwrap()).unwrap();
    assert_eq!(DataplaneSnapshot::load(&json).unwrap(), snapshot());

    let toml_path = dir.join("snap.toml");
    std::fs::write(
        &toml_path,
        r#"
[[bots]]
id = "sales"
name = "Sales"
ring = "early_media"
variables = { company = "Acme" }

[bots.active_hours]
time_zone = "Europe/Berlin"
windows = [{ days = ["mon", "fri"], start = "09:00", end = "17:00" }]

[[dids]]
number = "+49 30 1234"
bot_id = "sales"
"#,
    )
    .unwrap();
    let snap = DataplaneSnapshot::load(&toml_path).unwrap();
    assert_eq!(snap.bots[0].ring, crate::bot::Ring::EarlyMedia);
    assert_eq!(snap.bots[0].variables["company"], "Acme");
    let t = RoutingTable::new(snap).unwrap();
    // 2024-01-08 (Monday) 10:00 Berlin.
    assert!(matches!(t.resolve_at("4930 1234", 1_704_704_400), Route::Bot(_)));

    std::fs::write(&json, "{ not json").unwrap();
    assert!(matches!(
        DataplaneSnapshot::load(&json),
        Err(SnapshotError::Json { .. })
    ));
    std::fs::write(&toml_path, "[[bots]\n").unwrap();
    assert!(matches!(
        DataplaneSnapshot::load(&toml_path),
        Err(SnapshotError::Toml { .. })
    ));
    assert!(matches!(
        DataplaneSnapshot::load(&dir.join("missing.json")),
        Err(SnapshotError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn widgets_are_looked_up_by_bot_and_validated_by_field() {
    let mut snap = snapshot();
    snap.widgets = vec![WidgetAccess::new("sales", "wk_1", vec!["shop.example.com".into()])];
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["widgets"][0]["key_sha256"].as_str().unwrap().len(), 64);
    assert!(
        !json.to_string().contains("wk_1"),
        "the key itself is never in the snapshot"
    );
    let t = RoutingTable::new(snap.clone()).unwrap();
    assert!(t.widget("sales").unwrap().key_matches("wk_1"));
    assert!(t.widget("night").is_none());

    let field = |snap: DataplaneSnapshot| RoutingTable::new(snap).unwrap_err().field();
    let mut bad = snap.clone();
    bad.widgets.push(WidgetAccess::new("nobody", "k", Vec::new()));
    assert_eq!(field(bad), "widgets[1].bot_id");
    let mut bad = snap.clone();
    bad.widgets.push(WidgetAccess::new("sales", "k", Vec::new()));
    assert_eq!(field(bad), "widgets[1].bot_id");
    let mut bad = snap.clone();
    bad.widgets[0].allowed_domains.push("https://x/".into());
    assert_eq!(field(bad), "widgets[0].allowed_domains[1]");

    // Older snapshots without the field still parse.
    let old: DataplaneSnapshot = serde_json::from_str(r#"{"bots": []}"#).unwrap();
    assert!(old.widgets.is_empty());
}
