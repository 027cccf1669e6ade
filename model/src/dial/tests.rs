use super::*;

fn request() -> DialRequest {
    serde_json::from_str(
        r#"{"bot_id":"sales","to_number":"+1 555 0100","from_number":"+49 30 1234",
            "variables":{"customer_name":"Ada","tier":2},
            "trunk":{"address":"sip.carrier.example:5060","transport":"tcp","username":"u","password":"p"}}"#,
    )
    .unwrap()
}

fn trunk(r: &mut DialRequest) -> &mut TrunkSettings {
    r.trunk.as_mut().unwrap()
}

fn field_of(f: impl FnOnce(&mut DialRequest)) -> String {
    let mut r = request();
    f(&mut r);
    r.validate().unwrap_err().field.into_owned()
}

#[test]
fn valid_request_normalises() {
    let r = request();
    r.validate().unwrap();
    assert_eq!(r.trunk.as_ref().unwrap().transport, TrunkTransport::Tcp);
    let n = r.normalized().unwrap();
    assert_eq!(n.to_number, "+15550100");
    assert_eq!(n.from_number.as_deref(), Some("+49301234"));
    let minimal: DialRequest = serde_json::from_str(r#"{"bot_id":"b","to_number":"5550100"}"#).unwrap();
    minimal.validate().unwrap();
}

#[test]
fn errors_name_the_field() {
    assert_eq!(field_of(|r| r.bot_id.clear()), "bot_id");
    assert_eq!(field_of(|r| r.to_number = "call me".into()), "to_number");
    assert_eq!(field_of(|r| r.from_number = Some("1".into())), "from_number");
    assert_eq!(field_of(|r| trunk(r).address = "no-port".into()), "trunk.address");
    assert_eq!(field_of(|r| trunk(r).address = "host:0".into()), "trunk.address");
    assert_eq!(field_of(|r| trunk(r).address = "host:70000".into()), "trunk.address");
    assert_eq!(field_of(|r| trunk(r).address = ":5060".into()), "trunk.address");
    assert_eq!(field_of(|r| trunk(r).address = "bad host:5060".into()), "trunk.address");
    assert_eq!(field_of(|r| trunk(r).password = None), "trunk.password");
    assert_eq!(field_of(|r| trunk(r).username = None), "trunk.username");
    assert_eq!(
        field_of(|r| trunk(r).caller_id = Some(String::new())),
        "trunk.caller_id"
    );
    let mut r = request();
    r.trunk.as_mut().unwrap().address = "[::1]:5080".into();
    r.validate().unwrap();
    r.trunk.as_mut().unwrap().address = "10.0.0.1:5060".into();
    r.validate().unwrap();
    r.trunk.as_mut().unwrap().address = "[nope]:5060".into();
    assert_eq!(r.validate().unwrap_err().field, "trunk.address");
}

#[test]
fn password_is_not_printed() {
    let r = request();
    let dbg = format!("{r:?}");
    assert!(dbg.contains("<redacted>") && !dbg.contains("\"p\""), "{dbg}");
}

#[test]
fn accepted_round_trips() {
    let a = DialAccepted {
        session_id: "s1".into(),
        shard: 3,
    };
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, r#"{"session_id":"s1","shard":3}"#);
    assert_eq!(serde_json::from_str::<DialAccepted>(&json).unwrap(), a);
}
