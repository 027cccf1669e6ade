//! Websocket reverse transfer: `transfer` out, `transfer_result` in.

use std::time::Duration;

use super::*;

const SID: &str = "MZ1";

fn started_call() -> WsCall {
    let mut call = WsCall::new(WsConfig::default());
    let t = Duration::ZERO;
    call.on_text(t, r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
        .unwrap();
    call.on_text(t, r#"{"event":"start","start":{"streamSid":"MZ1"},"streamSid":"MZ1"}"#)
        .unwrap();
    while call.poll_event().is_some() {}
    call
}

fn result(status: &str, reason: Option<&str>) -> String {
    let mut v = serde_json::json!({"event": "transfer_result", "streamSid": SID, "status": status});
    if let Some(r) = reason {
        v["reason"] = r.into();
    }
    v.to_string()
}

#[test]
fn transfer_goes_out_and_its_result_comes_back() {
    let mut call = started_call();
    assert!(!call.transfer_pending());
    call.send_transfer("sales", "+15550001111", "wants pricing").unwrap();
    assert!(call.transfer_pending());
    let text = call.poll_outgoing().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"event": "transfer", "streamSid": SID,
            "transfer": {"target": "sales", "destination": "+15550001111", "reason": "wants pricing"}})
    );
    let back: Outbound<'_> = serde_json::from_str(&text).unwrap();
    assert!(matches!(back, Outbound::Transfer { .. }));

    call.on_text(Duration::ZERO, &result("failed", Some("busy"))).unwrap();
    assert_eq!(
        call.poll_event(),
        Some(WsEvent::TransferResult {
            ok: false,
            reason: Some("busy".into())
        })
    );
    assert!(!call.transfer_pending());

    call.send_transfer("sales", "+15550001111", "again").unwrap();
    call.on_text(Duration::ZERO, &result("ok", None)).unwrap();
    assert_eq!(
        call.poll_event(),
        Some(WsEvent::TransferResult { ok: true, reason: None })
    );
}

#[test]
fn unexpected_or_malformed_results_are_errors_and_the_stream_goes_on() {
    let mut call = started_call();
    assert!(matches!(
        call.on_text(Duration::ZERO, &result("ok", None)),
        Err(WsError::UnexpectedTransferResult)
    ));
    call.send_transfer("sales", "sip:sales@pbx", "").unwrap();
    for bad in [
        result("maybe", None),
        r#"{"event":"transfer_result","streamSid":"MZ1"}"#.to_owned(),
        r#"{"event":"transfer_result","streamSid":"MZ1","status":7}"#.to_owned(),
        r#"{"event":"transfer_result","streamSid":"MZ1","status":"ok","reason":[1]}"#.to_owned(),
    ] {
        assert!(
            matches!(
                call.on_text(Duration::ZERO, &bad),
                Err(WsError::Malformed {
                    event: EventKind::TransferResult,
                    ..
                })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        call.on_text(
            Duration::ZERO,
            r#"{"event":"transfer_result","streamSid":"other","status":"ok"}"#
        ),
        Err(WsError::StreamSidMismatch { .. })
    ));
    assert!(call.transfer_pending(), "still waiting after bad answers");
    call.abandon_transfer();
    assert!(matches!(
        call.on_text(Duration::ZERO, &result("ok", None)),
        Err(WsError::UnexpectedTransferResult)
    ));
    assert_eq!(call.poll_event(), None);
    call.push_bot_frame(&[0; 160]).unwrap();
}

#[test]
fn clear_keeps_a_queued_transfer_and_long_reasons_are_cut() {
    let mut call = started_call();
    call.push_bot_frame(&[0; 160]).unwrap();
    call.send_transfer("sales", "+1555", &"x".repeat(1000)).unwrap();
    call.push_bot_frame(&[0; 160]).unwrap();
    call.clear().unwrap();
    let out: Vec<String> = std::iter::from_fn(|| call.poll_outgoing()).collect();
    assert_eq!(out.len(), 2, "{out:?}");
    let transfer: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(transfer["event"], "transfer");
    assert_eq!(transfer["transfer"]["reason"].as_str().unwrap().len(), 256);
    assert!(out[1].contains(r#""event":"clear""#));
    assert_eq!(call.stats().cleared_messages, 2);
}

#[test]
fn transfer_needs_a_running_stream() {
    let mut call = WsCall::new(WsConfig::default());
    assert!(matches!(
        call.send_transfer("a", "b", "c"),
        Err(WsError::NotStreaming { .. })
    ));
    assert_eq!(
        EventKind::from_inbound("transfer_result"),
        Some(EventKind::TransferResult)
    );
    assert_eq!(EventKind::from_inbound("transfer"), None);
    assert_eq!(EventKind::Transfer.as_str(), "transfer");
}

#[test]
fn transfer_result_round_trips_through_serde() {
    let text = r#"{"event":"transfer_result","sequenceNumber":"12","streamSid":"MZ1","status":"failed","reason":"busy \"line\""}"#;
    let msg = Inbound::parse(text).unwrap();
    assert_eq!(msg.kind(), EventKind::TransferResult);
    let Inbound::TransferResult(r) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!((r.sequence_number, r.status), (Some(12), TransferStatus::Failed));
    assert_eq!(r.reason.as_deref(), Some("busy \"line\""));
    let printed = serde_json::to_string(&msg).unwrap();
    assert_eq!(Inbound::parse(&printed).unwrap(), msg, "{printed}");
}
