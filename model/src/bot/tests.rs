use super::*;

fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn berlin_office() -> ActiveHours {
    serde_json::from_str(
        r#"{"time_zone":"Europe/Berlin","windows":[
            {"days":["mon","tue","wed","thu","friday"],"start":"09:00","end":"17:00"}]}"#,
    )
    .unwrap()
}

#[test]
fn office_hours_in_winter_and_summer() {
    let h = berlin_office();
    h.validate().unwrap();
    // 2024-01-08 is a Monday; Berlin is UTC+1 in winter.
    assert!(h.is_open_at(at("2024-01-08T08:30:00Z")));
    assert!(!h.is_open_at(at("2024-01-08T07:59:00Z")));
    assert!(!h.is_open_at(at("2024-01-08T16:00:00Z")));
    assert!(h.is_open_at(at("2024-01-08T15:59:00Z")));
    // Saturday.
    assert!(!h.is_open_at(at("2024-01-13T10:00:00Z")));
    // Summer: UTC+2.
    assert!(h.is_open_at(at("2024-07-08T07:00:00Z")));
    assert!(!h.is_open_at(at("2024-07-08T06:59:00Z")));
    assert!(!h.is_open_at(at("2024-07-08T15:00:00Z")));
}

#[test]
fn overnight_window_runs_into_next_day() {
    let h = ActiveHours {
        time_zone: "UTC".into(),
        windows: vec![WeeklyWindow {
            days: vec![Weekday::Fri],
            start: "22:00".parse().unwrap(),
            end: "06:00".parse().unwrap(),
        }],
    };
    h.validate().unwrap();
    // 2024-01-12 is a Friday.
    assert!(h.is_open_at(at("2024-01-12T23:00:00Z")));
    assert!(h.is_open_at(at("2024-01-13T05:59:00Z")));
    assert!(!h.is_open_at(at("2024-01-13T06:00:00Z")));
    assert!(!h.is_open_at(at("2024-01-12T03:00:00Z")));
    assert!(!h.is_open_at(at("2024-01-12T21:59:00Z")));
}

#[test]
fn whole_day_window_with_end_of_day() {
    let h: ActiveHours = serde_json::from_str(
        r#"{"time_zone":"America/New_York","windows":[{"days":["sun"],"start":"00:00","end":"24:00"}]}"#,
    )
    .unwrap();
    h.validate().unwrap();
    // 2024-01-14 is a Sunday; New York is UTC-5.
    assert!(h.is_open_at(at("2024-01-14T05:00:00Z")));
    assert!(h.is_open_at(at("2024-01-15T04:59:00Z")));
    assert!(!h.is_open_at(at("2024-01-15T05:00:00Z")));
    assert_eq!(serde_json::to_value(&h).unwrap()["windows"][0]["end"], "24:00");
}

#[test]
fn bad_hours_are_field_errors() {
    let mut h = berlin_office();
    h.time_zone = "Mars/Olympus_Mons".into();
    assert_eq!(h.validate().unwrap_err().field, "active_hours.time_zone");
    assert!(!h.is_open_at(at("2024-01-08T08:30:00Z")));
    let mut h = berlin_office();
    h.windows.clear();
    assert_eq!(h.validate().unwrap_err().field, "active_hours.windows");
    let mut h = berlin_office();
    h.windows[0].end = h.windows[0].start;
    assert_eq!(h.validate().unwrap_err().field, "active_hours.windows.end");
}

#[test]
fn clock_time_parsing() {
    assert_eq!("9:05".parse::<ClockTime>().unwrap().minutes(), 545);
    assert_eq!("24:00".parse::<ClockTime>().unwrap(), ClockTime::END_OF_DAY);
    for bad in ["24:01", "25:00", "12:60", "12", "12:5", "ab:cd", "", "123:00"] {
        assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
    }
    let err = serde_json::from_str::<ClockTime>("\"7pm\"").unwrap_err();
    assert!(err.to_string().contains("HH:MM"), "{err}");
}

#[test]
fn bot_defaults_and_validation() {
    let bot: BotConfig = serde_json::from_str(r#"{"id":"sales-1","name":"Sales"}"#).unwrap();
    assert_eq!(bot, BotConfig::new("sales-1", "Sales"));
    assert!(bot.active);
    assert_eq!(bot.ring.status_code(), 180);
    assert_eq!(Ring::EarlyMedia.status_code(), 183);
    bot.validate().unwrap();
    assert!(bot.is_open_at(0));

    let mut b = bot.clone();
    b.id = "has space".into();
    assert_eq!(b.validate().unwrap_err().field, "id");
    let mut b = bot.clone();
    b.name = " ".into();
    assert_eq!(b.validate().unwrap_err().field, "name");
    let mut b = bot.clone();
    b.max_call_seconds = 0;
    assert_eq!(b.validate().unwrap_err().field, "max_call_seconds");
    let mut b = bot.clone();
    b.answer_delay_ms = MAX_ANSWER_DELAY_MS + 1;
    assert_eq!(b.validate().unwrap_err().field, "answer_delay_ms");
    let mut b = bot;
    b.language = String::new();
    assert_eq!(b.validate().unwrap_err().field, "language");
}

#[test]
fn bot_round_trips_with_ring_names() {
    let mut bot = BotConfig::new("b1", "Bot one");
    bot.ring = Ring::EarlyMedia;
    bot.active_hours = Some(berlin_office());
    bot.variables.insert("company".into(), serde_json::json!("Acme"));
    let json = serde_json::to_value(&bot).unwrap();
    assert_eq!(json["ring"], "early_media");
    assert_eq!(json["active_hours"]["windows"][0]["days"][4], "fri");
    let back: BotConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, bot);
}

#[test]
fn did_mapping_normalises() {
    let did = DidMapping::new("+49 30-1234 5678", "b1").unwrap();
    assert_eq!(did.number, "+493012345678");
    assert_eq!(DidMapping::new("12", "b1").unwrap_err().field, "number");
    assert_eq!(DidMapping::new("+4930123", "").unwrap_err().field, "bot_id");
    let raw = DidMapping {
        number: "(030) 1234".into(),
        bot_id: "b1".into(),
    };
    assert_eq!(raw.normalized().unwrap().number, "0301234");
}
