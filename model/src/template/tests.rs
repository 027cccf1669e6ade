use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::record::{CallDirection, CallRecord, DisconnectedBy, TranscriptEntry, TransferMethod};

fn ctx() -> TemplateContext {
    let mut c = TemplateContext::new();
    c.insert(
        "crm",
        json!({
            "name": "Ada",
            "age": 36,
            "vip": true,
            "note": null,
            "address": {"city": "Berlin", "zip": "10115"},
            "items": ["a", {"sku": 7}],
        }),
    );
    c.insert("call", json!({"from_number": "+4930123"}));
    c
}

#[test]
fn renders_strings_numbers_bools_null() {
    let r = render("Hi {{crm.name}}, {{ crm.age }} {{crm.vip}} [{{crm.note}}]", &ctx());
    assert_eq!(r.text, "Hi Ada, 36 true []");
    assert!(r.unknown.is_empty());
}

#[test]
fn nested_paths_and_array_index() {
    let r = render("{{crm.address.city}}/{{crm.items.0}}/{{crm.items.1.sku}}", &ctx());
    assert_eq!(r.text, "Berlin/a/7");
}

#[test]
fn objects_and_arrays_are_json_encoded() {
    let r = render("{{crm.address}} {{crm.items}}", &ctx());
    assert_eq!(r.text, r#"{"city":"Berlin","zip":"10115"} ["a",{"sku":7}]"#);
}

#[test]
fn unknown_variables_render_empty_and_are_listed_once() {
    let r = render(
        "a{{crm.missing}}b{{qc.score}}c{{crm.missing}}{{crm.items.9}}{{crm.name.x}}",
        &ctx(),
    );
    assert_eq!(r.text, "abc");
    assert_eq!(r.unknown, vec!["crm.missing", "qc.score", "crm.items.9", "crm.name.x"]);
}

#[test]
fn unterminated_and_invalid_braces_are_literal() {
    let c = ctx();
    assert_eq!(render("x {{crm.name", &c).text, "x {{crm.name");
    assert_eq!(
        render("{{}} {{ two words }} {{a..b}}", &c).text,
        "{{}} {{ two words }} {{a..b}}"
    );
    assert_eq!(render("{{ {{crm.name}}", &c).text, "{{ Ada");
    assert_eq!(render("{{{crm.name}}}", &c).text, "{Ada}");
    assert_eq!(render("}} {{crm.name}} }}", &c).text, "}} Ada }}");
    assert!(render("{{ two words }}", &c).unknown.is_empty());
}

#[test]
fn bare_namespace_renders_whole_value() {
    let mut c = TemplateContext::new();
    c.insert("qc", json!({"score": 5}));
    assert_eq!(render("{{qc}}", &c).text, r#"{"score":5}"#);
}

#[test]
fn render_json_keeps_types_of_whole_variables() {
    let mapper = json!({
        "name": "{{crm.name}}",
        "age": "{{ crm.age }}",
        "address": "{{crm.address}}",
        "greeting": "Dear {{crm.name}} ({{crm.age}})",
        "missing": "{{analysis.disposition}}",
        "list": ["{{crm.vip}}", 3],
        "{{crm.name}}": "key untouched",
    });
    let (v, unknown) = render_json(&mapper, &ctx());
    assert_eq!(
        v,
        json!({
            "name": "Ada",
            "age": 36,
            "address": {"city": "Berlin", "zip": "10115"},
            "greeting": "Dear Ada (36)",
            "missing": "",
            "list": [true, 3],
            "{{crm.name}}": "key untouched",
        })
    );
    assert_eq!(unknown, vec!["analysis.disposition"]);
}

#[test]
fn variables_lists_references() {
    let vars = variables("{{crm.address.city}} {{ call.number }} {{x}} {{ bad var }} {{crm.items.0");
    assert_eq!(
        vars,
        vec![
            VarRef {
                namespace: "crm".into(),
                path: "address.city".into()
            },
            VarRef {
                namespace: "call".into(),
                path: "number".into()
            },
            VarRef {
                namespace: "x".into(),
                path: String::new()
            },
        ]
    );
    assert_eq!(vars[0].full_name(), "crm.address.city");
    assert_eq!(vars[2].full_name(), "x");
}

#[test]
fn system_namespace_in_a_time_zone() {
    let now: Timestamp = "2024-01-08T12:00:05Z".parse().unwrap();
    let c = TemplateContext::new().with_system(now, "Europe/Berlin");
    let r = render("{{system.now}}|{{system.date}}|{{system.time}}|{{system.timezone}}", &c);
    assert_eq!(r.text, "2024-01-08T13:00:05+01:00|2024-01-08|13:00:05|Europe/Berlin");
    let utc = TemplateContext::new().with_system(now, "Not/AZone");
    assert_eq!(
        render("{{system.now}} {{system.timezone}}", &utc).text,
        "2024-01-08T12:00:05+00:00 UTC"
    );
}

fn record() -> CallRecord {
    let t0: Timestamp = "2024-01-08T12:00:00Z".parse().unwrap();
    let mut r = CallRecord::new("s-1", "sales", CallDirection::Outbound, t0);
    r.from_number = Some("+4930111".into());
    r.to_number = Some("+4930222".into());
    r.answered_at = Some(t0);
    r.variables.insert("lead_id".into(), json!(42));
    r.variables.insert("number".into(), json!("shadowed"));
    r.sip_headers.insert("X-Campaign".into(), "c7".into());
    r.crm.insert("name".into(), json!("Ada"));
    r.transcript = vec![
        TranscriptEntry {
            role: TranscriptRole::Bot,
            text: "Hello!".into(),
            start_ms: 0,
            end_ms: 900,
        },
        TranscriptEntry {
            role: TranscriptRole::Caller,
            text: "Hi there".into(),
            start_ms: 1000,
            end_ms: 1800,
        },
    ];
    r.was_transferred = true;
    r.transfer_method = Some(TransferMethod::SipRefer);
    r.transfer_destination = Some("+4930999".into());
    r.recording_url = Some("https://rec/x.wav".into());
    r.finish("2024-01-08T12:01:30Z".parse().unwrap(), DisconnectedBy::TransferToAgent);
    r
}

#[test]
fn call_namespace_outbound() {
    let c = call_namespace(&record());
    assert_eq!(c["number"], "+4930222");
    assert_eq!(c["did"], "+4930111");
    assert_eq!(c["direction"], "outbound");
    assert_eq!(c["duration"], 90);
    assert_eq!(c["session_id"], "s-1");
    assert_eq!(c["bot_id"], "sales");
    assert_eq!(c["sip_headers"]["X-Campaign"], "c7");
    assert_eq!(c["custom"]["lead_id"], 42);
    assert_eq!(c["lead_id"], 42);
}

#[test]
fn call_namespace_inbound_and_websocket() {
    let mut r = record();
    r.direction = CallDirection::Inbound;
    let c = call_namespace(&r);
    assert_eq!(
        (c["number"].as_str(), c["did"].as_str()),
        (Some("+4930111"), Some("+4930222"))
    );
    r.direction = CallDirection::Websocket;
    assert!(call_namespace(&r)["did"].is_null());
}

#[test]
fn result_namespace_fields() {
    let r = result_namespace(&record());
    assert_eq!(r["disconnected_by"], "transfer_to_agent");
    assert_eq!(r["duration"], 90);
    assert_eq!(r["transcript"], "Bot: Hello!\nCaller: Hi there");
    assert_eq!(r["was_transferred"], true);
    assert_eq!(r["transfer_method"], "sip_refer");
    assert_eq!(r["transfer_destination"], "+4930999");
    assert_eq!(r["recording_url"], "https://rec/x.wav");
    assert!(r["transfer_target"].is_null());
    assert_eq!(r["answered"], true);
}

#[test]
fn record_context_renders_a_key_mapper() {
    let rec = record();
    let mut c = record_context(&rec, "2024-01-08T12:02:00Z".parse().unwrap(), "UTC");
    c.insert("analysis", json!({"disposition": "interested"}));
    let (v, unknown) = render_json(
        &json!({"phone": "{{call.number}}", "who": "{{crm.name}}", "d": "{{analysis.disposition}}",
                "secs": "{{result.duration}}", "day": "{{system.date}}", "q": "{{qc.score}}"}),
        &c,
    );
    assert_eq!(
        v,
        json!({"phone": "+4930222", "who": "Ada", "d": "interested", "secs": 90, "day": "2024-01-08", "q": ""})
    );
    assert_eq!(unknown, vec!["qc.score"]);
}

#[test]
fn url_values_are_percent_encoded() {
    let mut c = ctx();
    c.insert("call", json!({"from_number": "+49 30/123&x=1"}));
    let r = render_url(
        "https://crm.test/c?phone={{call.from_number}}&n={{crm.name}}&z={{crm.nope}}",
        &c,
    );
    assert_eq!(r.text, "https://crm.test/c?phone=%2B49%2030%2F123%26x%3D1&n=Ada&z=");
    assert_eq!(r.unknown, vec!["crm.nope"]);
}

#[test]
fn variables_become_a_namespace() {
    let mut vars = crate::Variables::new();
    vars.insert("first_name".into(), json!("Alice"));
    let mut c = TemplateContext::new();
    c.insert_vars("crm", &vars);
    assert_eq!(render("Hello {{crm.first_name}}", &c).text, "Hello Alice");
}

proptest! {
    #[test]
    fn never_panics_on_random_text(s in "\\PC*") {
        let c = ctx();
        let r = render(&s, &c);
        let _ = variables(&s);
        let _ = render_json(&serde_json::Value::String(s.clone()), &c);
        // Text without braces renders verbatim.
        if !s.contains('{') {
            prop_assert_eq!(r.text, s);
        }
    }

    #[test]
    fn never_panics_on_brace_soup(s in "[{} .a-c0-9\u{e9}]{0,40}") {
        let c = ctx();
        let r = render(&s, &c);
        // Every unknown variable is one that `variables` reports.
        let names: Vec<String> = variables(&s).iter().map(VarRef::full_name).collect();
        for u in &r.unknown {
            prop_assert!(names.contains(u));
        }
    }

    #[test]
    fn known_string_round_trips(v in "[^{}]{0,30}") {
        let mut c = TemplateContext::new();
        c.insert("crm", json!({"v": v.clone()}));
        prop_assert_eq!(render("<{{crm.v}}>", &c).text, format!("<{v}>"));
    }
}
