use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A record with every field set, as in `golden.json`.
pub(crate) fn full_record() -> CallRecord {
    let mut r = CallRecord::new("s-0001", "sales", CallDirection::Outbound, ts("2024-01-08T12:00:00Z"));
    r.caller_id = Some("Acme Sales".into());
    r.from_number = Some("+4930123456".into());
    r.to_number = Some("+15550100".into());
    r.answered_at = Some(ts("2024-01-08T12:00:05.250Z"));
    r.sip_status = Some(200);
    r.transcript = vec![
        TranscriptEntry {
            role: TranscriptRole::Bot,
            text: "Hello!".into(),
            start_ms: 5300,
            end_ms: 6100,
        },
        TranscriptEntry {
            role: TranscriptRole::Caller,
            text: "Hi, an agent please".into(),
            start_ms: 6500,
            end_ms: 8000,
        },
    ];
    r.events = vec![
        CallEvent {
            at_ms: 0,
            kind: CallEventKind::Invite,
            detail: String::new(),
        },
        CallEvent {
            at_ms: 5250,
            kind: CallEventKind::Answered,
            detail: "200".into(),
        },
        CallEvent {
            at_ms: 9000,
            kind: CallEventKind::TransferStarted,
            detail: "sip:agent@pbx".into(),
        },
    ];
    r.turn_latencies = vec![TurnLatency {
        turn: 0,
        stt_ms: Some(180),
        llm_first_token_ms: Some(320),
        tts_first_audio_ms: Some(90),
        total_ms: Some(640),
        ..TurnLatency::default()
    }];
    r.quality = CallQuality {
        packets_in: 1500,
        packets_out: 1490,
        packets_lost: 3,
        jitter_ms: 2.5,
        max_jitter_ms: 11.0,
        rtt_ms: Some(42.0),
        remote_packets_lost: Some(1),
        remote_fraction_lost: Some(0.0),
    };
    r.service_errors = vec![ServiceError {
        service: ServiceKind::Tts,
        stage: "first_audio".into(),
        at_ms: 7000,
        fatal: false,
        message: "retried after 503".into(),
    }];
    r.recording_key = Some("recordings/s-0001.wav".into());
    r.recording_url = Some("https://files.example/recordings/s-0001.wav".into());
    r.variables.insert("customer_name".into(), serde_json::json!("Ada"));
    r.post_call_analysis = Some(serde_json::json!({"sentiment": "positive"}));
    r.was_transferred = true;
    r.transfer_destination = Some("sip:agent@pbx".into());
    r.transfer_target = Some("billing".into());
    r.transfer_reason = Some("caller asked for an agent".into());
    r.transfer_method = Some(TransferMethod::SipRefer);
    r.transfer_at = Some(ts("2024-01-08T12:00:09Z"));
    r.finish(ts("2024-01-08T12:00:10Z"), DisconnectedBy::TransferToAgent);
    r
}

#[test]
fn golden_json_field_names() {
    let golden: serde_json::Value = serde_json::from_str(include_str!("golden.json")).unwrap();
    assert_eq!(serde_json::to_value(full_record()).unwrap(), golden);
}

#[test]
fn round_trips() {
    let r = full_record();
    let back: CallRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn disconnected_by_values_are_exact() {
    use DisconnectedBy::*;
    let all = [
        Bot,
        Customer,
        Voicemail,
        Rnr,
        OutsideHours,
        NoAnswer,
        Rejected,
        Timeout,
        TransferToAgent,
        Error,
    ];
    let names = serde_json::to_value(all).unwrap();
    assert_eq!(
        names,
        serde_json::json!([
            "bot",
            "customer",
            "voicemail",
            "RNR",
            "outside_hours",
            "no_answer",
            "rejected",
            "timeout",
            "transfer_to_agent",
            "error"
        ])
    );
    let back: Vec<DisconnectedBy> = serde_json::from_value(names).unwrap();
    assert_eq!(back, all);
    assert!(serde_json::from_str::<DisconnectedBy>("\"rnr\"").is_err());
    assert_eq!(
        serde_json::to_value(TransferMethod::WebsocketReverseTransfer).unwrap(),
        "websocket_reverse_transfer"
    );
}

#[test]
fn minimal_json_uses_defaults_and_unknown_kinds_read_as_other() {
    let r: CallRecord = serde_json::from_str(
        r#"{"session_id":"x","bot_id":"b","direction":"websocket","started_at":"2024-01-08T12:00:00Z",
            "ended_at":"2024-01-08T12:00:01Z","call_duration_seconds":0,"disconnected_by":"customer",
            "events":[{"at_ms":1,"kind":"some_future_kind"}],
            "service_errors":[{"service":"quantum","stage":"x","at_ms":0,"fatal":true,"message":"m"}]}"#,
    )
    .unwrap();
    assert_eq!(r.direction, CallDirection::Websocket);
    assert_eq!(r.events[0].kind, CallEventKind::Other);
    assert_eq!(r.service_errors[0].service, ServiceKind::Other);
    assert!(r.transcript.is_empty() && !r.was_transferred && r.transfer_method.is_none());
}

#[test]
fn finish_computes_duration_from_answer() {
    let mut r = CallRecord::new("s", "b", CallDirection::Inbound, ts("2024-01-08T12:00:00Z"));
    r.finish(ts("2024-01-08T12:00:30Z"), DisconnectedBy::NoAnswer);
    assert_eq!(r.call_duration_seconds, 0);
    r.answered_at = Some(ts("2024-01-08T12:00:02Z"));
    r.finish(ts("2024-01-08T12:01:02.600Z"), DisconnectedBy::Customer);
    assert_eq!(r.call_duration_seconds, 61);
    assert_eq!(r.offset_ms(ts("2024-01-08T12:00:01.5Z")), 1500);
    assert_eq!(r.offset_ms(ts("2024-01-08T11:00:00Z")), 0);
}
