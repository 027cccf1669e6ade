use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cxb_dsp::g711;

use super::*;

const SID: &str = "MZ18ad3ab5a668481ce02b83e7395059f0";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connected() -> String {
    r#"{"event":"connected","protocol":"Call","version":"1.0.0","callerId":"+15551230000","streamId":"st-1","campaign":"spring","priority":3}"#
        .to_owned()
}

fn start(seq: u64) -> String {
    serde_json::json!({
        "event": "start",
        "sequenceNumber": seq.to_string(),
        "start": {
            "streamSid": SID, "accountSid": ACCOUNT, "callSid": CALL, "tracks": ["inbound"],
            "customParameters": { "crm_id": "42", "language": "en-GB", "campaign": "summer" },
            "mediaFormat": { "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1 }
        },
        "streamSid": SID
    })
    .to_string()
}

fn media(seq: u64, chunk: u64, codes: &[u8]) -> String {
    format!(
        r#"{{"event":"media","sequenceNumber":"{seq}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{}","payload":"{}"}},"streamSid":"{SID}"}}"#,
        (chunk - 1) * 20,
        STANDARD.encode(codes)
    )
}

fn dtmf(seq: u64, digit: &str) -> String {
    format!(
        r#"{{"event":"dtmf","streamSid":"{SID}","sequenceNumber":"{seq}","dtmf":{{"track":"inbound_track","digit":"{digit}"}}}}"#
    )
}

fn mark(seq: u64, name: &str) -> String {
    format!(r#"{{"event":"mark","sequenceNumber":"{seq}","streamSid":"{SID}","mark":{{"name":"{name}"}}}}"#)
}

fn stop(seq: u64) -> String {
    format!(
        r#"{{"event":"stop","sequenceNumber":"{seq}","streamSid":"{SID}","stop":{{"accountSid":"{ACCOUNT}","callSid":"{CALL}"}}}}"#
    )
}

/// `n` samples of a 1 kHz tone at 8 kHz, amplitude 8000, starting at sample `offset`.
fn tone(offset: usize, n: usize) -> Vec<i16> {
    (offset..offset + n)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()).round() as i16)
        .collect()
}

fn snr_db(reference: &[i16], got: &[i16]) -> f64 {
    assert_eq!(reference.len(), got.len());
    let (mut sig, mut noise) = (0.0f64, 0.0f64);
    for (&r, &g) in reference.iter().zip(got) {
        sig += f64::from(r).powi(2);
        noise += (f64::from(r) - f64::from(g)).powi(2);
    }
    10.0 * (sig / noise.max(1e-9)).log10()
}

fn started_call() -> WsCall {
    let mut call = WsCall::new(WsConfig::default());
    call.on_text(ms(0), &connected()).unwrap();
    call.on_text(ms(1), &start(1)).unwrap();
    assert!(matches!(call.poll_event(), Some(WsEvent::Started { .. })));
    call
}

fn drain_outgoing(call: &mut WsCall) -> Vec<String> {
    std::iter::from_fn(|| call.poll_outgoing()).collect()
}

#[test]
fn scripted_twilio_session() {
    let mut call = WsCall::new(WsConfig::default());
    assert_eq!(call.state(), WsState::AwaitingConnected);
    call.on_text(ms(0), &connected()).unwrap();
    assert_eq!(call.state(), WsState::Connected);
    assert_eq!(call.poll_event(), None);
    call.on_text(ms(5), &start(1)).unwrap();
    assert_eq!(call.state(), WsState::Started);
    assert_eq!(call.stream_sid(), Some(SID));

    let Some(WsEvent::Started {
        stream_sid,
        call_sid,
        account_sid,
        caller_id,
        variables,
    }) = call.poll_event()
    else {
        panic!("expected Started");
    };
    assert_eq!(stream_sid, SID);
    assert_eq!(call_sid.as_deref(), Some(CALL));
    assert_eq!(account_sid.as_deref(), Some(ACCOUNT));
    assert_eq!(caller_id.as_deref(), Some("+15551230000"));
    assert_eq!(variables.get("callerId").map(String::as_str), Some("+15551230000"));
    assert_eq!(variables.get("streamId").map(String::as_str), Some("st-1"));
    assert_eq!(variables.get("priority").map(String::as_str), Some("3"));
    assert_eq!(variables.get("crm_id").map(String::as_str), Some("42"));
    assert_eq!(variables.get("language").map(String::as_str), Some("en-GB"));
    // customParameters win over connected fields of the same name.
    assert_eq!(variables.get("campaign").map(String::as_str), Some("summer"));
    assert!(!variables.contains_key("event") && !variables.contains_key("protocol"));

    // We mark the start of our greeting so the peer can echo it.
    call.push_bot_frame(&tone(0, 160)).unwrap();
    call.send_mark("greeting").unwrap();
    assert_eq!(drain_outgoing(&mut call).len(), 2);

    // 50 frames (1 s) of a 1 kHz tone from the caller, read 20 ms at a time.
    let reference = tone(0, 50 * 160);
    let mut decoded = Vec::new();
    let mut seq = 2;
    for chunk in 0..50 {
        let mut codes = [0u8; 160];
        g711::encode_ulaw(&reference[chunk * 160..(chunk + 1) * 160], &mut codes);
        call.on_text(ms(20 * chunk as u64 + 20), &media(seq, chunk as u64 + 1, &codes))
            .unwrap();
        seq += 1;
        assert_eq!(
            call.poll_event(),
            Some(WsEvent::CallerAudio {
                samples: 160,
                timestamp_ms: Some(chunk as u64 * 20)
            })
        );
        let mut frame = [0i16; 160];
        assert_eq!(call.read_caller_audio(&mut frame), 160);
        decoded.extend_from_slice(&frame);
    }
    assert_eq!(call.caller_audio_len(), 0);
    let snr = snr_db(&reference, &decoded);
    assert!(snr > 30.0, "tone SNR through µ-law {snr:.1} dB");

    call.on_text(ms(1100), &dtmf(seq, "1")).unwrap();
    seq += 1;
    assert_eq!(call.poll_event(), Some(WsEvent::Dtmf { digit: '1' }));
    call.on_text(ms(1120), &mark(seq, "greeting")).unwrap();
    seq += 1;
    assert_eq!(
        call.poll_event(),
        Some(WsEvent::MarkPlayed {
            name: "greeting".into()
        })
    );
    assert_eq!(call.pending_marks(), 0);
    call.on_text(ms(1140), &stop(seq)).unwrap();
    assert_eq!(call.poll_event(), Some(WsEvent::Stopped));
    assert_eq!(call.poll_event(), None);
    assert_eq!(call.state(), WsState::Stopped);

    let st = call.stats();
    assert_eq!(
        (st.frames_in, st.errors, st.media_frames, st.caller_samples),
        (55, 0, 50, 8000)
    );
    assert_eq!(st.sequence_gaps, 0);
    // Nothing more is accepted or sent after stop.
    assert!(matches!(
        call.on_text(ms(1200), &dtmf(seq + 1, "2")),
        Err(WsError::OutOfOrder { .. })
    ));
    assert!(matches!(
        call.push_bot_frame(&[0; 160]),
        Err(WsError::NotStreaming {
            state: WsState::Stopped
        })
    ));
}

#[test]
fn consecutive_media_frames_merge_into_one_event() {
    let mut call = started_call();
    for chunk in 1..=3 {
        call.on_text(ms(20 * chunk), &media(chunk + 1, chunk, &[0xFF; 160]))
            .unwrap();
    }
    assert_eq!(
        call.poll_event(),
        Some(WsEvent::CallerAudio {
            samples: 480,
            timestamp_ms: Some(0)
        })
    );
    assert_eq!(call.poll_event(), None);
    assert_eq!(call.caller_audio_len(), 480);
}

#[test]
fn caller_ring_overrun_keeps_newest_audio() {
    let cfg = WsConfig {
        caller_ring_samples: 320,
        ..WsConfig::default()
    };
    let mut call = WsCall::new(cfg);
    call.on_text(ms(0), &start(1)).unwrap(); // `start` without `connected` is accepted.
    for (i, code) in [0x80u8, 0x90, 0xA0].into_iter().enumerate() {
        call.on_text(ms(20), &media(i as u64 + 2, i as u64 + 1, &[code; 160]))
            .unwrap();
    }
    assert_eq!(call.stats().caller_overrun_samples, 160);
    let mut out = [0i16; 400];
    assert_eq!(call.read_caller_audio(&mut out), 320);
    assert!(out[..160].iter().all(|&s| s == g711::ulaw_decode(0x90)));
    assert!(out[160..320].iter().all(|&s| s == g711::ulaw_decode(0xA0)));
}

#[test]
fn outgoing_media_decodes_back() {
    let mut call = started_call();
    let pcm = tone(0, 160);
    call.push_bot_frame(&pcm).unwrap();
    let text = call.poll_outgoing().unwrap();
    let Outbound::Media { stream_sid, media } = serde_json::from_str(&text).unwrap() else {
        panic!("expected media: {text}");
    };
    assert_eq!(stream_sid, SID);
    let codes = STANDARD.decode(media.payload.as_bytes()).unwrap();
    assert_eq!(codes.len(), 160);
    let mut back = [0i16; 160];
    g711::decode_ulaw(&codes, &mut back);
    assert!(snr_db(&pcm, &back) > 30.0);
    // The hand-written JSON is exactly what the serde type would write.
    let reference = serde_json::to_string(&Outbound::Media {
        stream_sid: SID.into(),
        media: OutboundMedia {
            payload: STANDARD.encode(&codes).into(),
        },
    })
    .unwrap();
    assert_eq!(text, reference);
}

#[test]
fn marks_and_clear() {
    let mut call = started_call();
    call.push_bot_frame(&[100; 160]).unwrap();
    call.send_mark("a \"quoted\" mark").unwrap();
    let out = drain_outgoing(&mut call);
    let Outbound::Mark { stream_sid, mark: body } = serde_json::from_str(&out[1]).unwrap() else {
        panic!("{}", out[1])
    };
    assert_eq!((stream_sid.as_ref(), body.name.as_ref()), (SID, "a \"quoted\" mark"));

    // Queued but not sent: clear drops them and reports the mark as cleared.
    call.push_bot_frame(&[100; 160]).unwrap();
    call.send_mark("second").unwrap();
    call.push_bot_frame(&[100; 160]).unwrap();
    assert_eq!(call.pending_marks(), 2);
    call.clear().unwrap();
    assert_eq!(call.poll_event(), Some(WsEvent::MarkCleared { name: "second".into() }));
    let out = drain_outgoing(&mut call);
    assert_eq!(out.len(), 1);
    assert_eq!(
        serde_json::from_str::<Outbound<'_>>(&out[0]).unwrap(),
        Outbound::Clear { stream_sid: SID.into() }
    );
    assert_eq!(call.stats().cleared_messages, 3);

    // The peer echoes the mark it held (escaped in JSON) after the clear.
    call.on_text(ms(50), &mark(9, r#"a \"quoted\" mark"#)).unwrap();
    assert_eq!(
        call.poll_event(),
        Some(WsEvent::MarkPlayed {
            name: "a \"quoted\" mark".into()
        })
    );
    assert_eq!(call.pending_marks(), 0);
    // An echo of a mark we never sent is an error.
    assert!(matches!(
        call.on_text(ms(60), &mark(10, "nope")),
        Err(WsError::UnknownMark { .. })
    ));
    assert!(matches!(call.send_mark(""), Err(WsError::BadMarkName { len: 0 })));
    assert!(matches!(
        call.send_mark(&"x".repeat(300)),
        Err(WsError::BadMarkName { len: 300 })
    ));
}

#[test]
fn bot_audio_before_start_is_refused() {
    let mut call = WsCall::new(WsConfig::default());
    assert!(matches!(
        call.push_bot_frame(&[0; 160]),
        Err(WsError::NotStreaming {
            state: WsState::AwaitingConnected
        })
    ));
    assert!(matches!(call.send_mark("m"), Err(WsError::NotStreaming { .. })));
    assert!(matches!(call.clear(), Err(WsError::NotStreaming { .. })));
    assert_eq!(call.poll_outgoing(), None);
}

#[test]
fn outgoing_queue_is_bounded() {
    let mut call = WsCall::new(WsConfig {
        max_outgoing: 2,
        max_bot_frame_samples: 160,
        ..WsConfig::default()
    });
    call.on_text(ms(0), &start(1)).unwrap();
    call.push_bot_frame(&[0; 160]).unwrap();
    call.push_bot_frame(&[0; 160]).unwrap();
    assert!(matches!(
        call.push_bot_frame(&[0; 160]),
        Err(WsError::OutgoingFull { capacity: 2 })
    ));
    assert!(matches!(
        call.push_bot_frame(&[0; 161]),
        Err(WsError::BotFrameTooLong { samples: 161, max: 160 })
    ));
    call.push_bot_frame(&[]).unwrap();
    assert_eq!(call.outgoing_len(), 2);
}

#[test]
fn malformed_inputs_give_errors_and_the_session_continues() {
    let mut call = started_call();
    type Check = fn(&WsError) -> bool;
    let bad: Vec<(String, Check)> = vec![
        ("not json".into(), |e| matches!(e, WsError::BadJson { .. })),
        ("[1,2,3]".into(), |e| matches!(e, WsError::BadJson { .. })),
        (r#"{"no_event":1}"#.into(), |e| matches!(e, WsError::BadJson { .. })),
        (r#"{"event":42}"#.into(), |e| matches!(e, WsError::BadJson { .. })),
        (
            r#"{"event":"party"}"#.into(),
            |e| matches!(e, WsError::UnknownEvent { event } if event == "party"),
        ),
        (r#"{"event":"clear","streamSid":"x"}"#.into(), |e| {
            matches!(e, WsError::UnknownEvent { .. })
        }),
        (r#"{"event":"media","streamSid":"x"}"#.into(), |e| {
            matches!(
                e,
                WsError::Malformed {
                    event: EventKind::Media,
                    ..
                }
            )
        }),
        (
            format!(r#"{{"event":"media","streamSid":"{SID}","media":{{"payload":"@@@not base64"}}}}"#),
            |e| matches!(e, WsError::BadBase64 { .. }),
        ),
        (
            format!(r#"{{"event":"media","streamSid":"{SID}","media":{{"payload":"AAA","chunk":"one"}}}}"#),
            |e| matches!(e, WsError::Malformed { .. }),
        ),
        (media(2, 1, &[0; 160]).replace(SID, "MZother"), |e| {
            matches!(
                e,
                WsError::StreamSidMismatch {
                    event: EventKind::Media
                }
            )
        }),
        (
            dtmf(3, "12"),
            |e| matches!(e, WsError::BadDigit { digit } if digit == "12"),
        ),
        (dtmf(3, "x"), |e| matches!(e, WsError::BadDigit { .. })),
        (start(2), |e| {
            matches!(
                e,
                WsError::OutOfOrder {
                    event: EventKind::Start,
                    state: WsState::Started
                }
            )
        }),
        (connected(), |e| {
            matches!(
                e,
                WsError::OutOfOrder {
                    event: EventKind::Connected,
                    ..
                }
            )
        }),
        (
            format!(r#"{{"event":"media","media":{{"payload":"{}"}}}}"#, "A".repeat(70_000)),
            |e| matches!(e, WsError::FrameTooLarge { max: 65536, .. }),
        ),
    ];
    for (i, (text, ok)) in bad.iter().enumerate() {
        let err = call.on_text(ms(10 + i as u64), text).expect_err(text);
        assert!(ok(&err), "{text}: unexpected {err:?}");
        let _ = err.to_string();
    }
    assert_eq!(call.stats().errors, bad.len() as u64);
    assert_eq!(call.poll_event(), None);
    // Still running: media, lower-case DTMF and a payload without padding all work.
    call.on_text(ms(100), &media(2, 1, &[0xFF; 160])).unwrap();
    assert_eq!(call.caller_audio_len(), 160);
    call.on_text(ms(120), &dtmf(3, "b")).unwrap();
    let unpadded = format!(r#"{{"event":"media","streamSid":"{SID}","media":{{"payload":"/w"}}}}"#);
    call.on_text(ms(140), &unpadded).unwrap();
    assert_eq!(call.caller_audio_len(), 161);
    assert!(matches!(
        call.poll_event(),
        Some(WsEvent::CallerAudio { samples: 160, .. })
    ));
    assert_eq!(call.poll_event(), Some(WsEvent::Dtmf { digit: 'B' }));
    assert!(matches!(
        call.poll_event(),
        Some(WsEvent::CallerAudio { samples: 1, .. })
    ));
}

#[test]
fn media_before_start_and_unsupported_format_are_refused() {
    let mut call = WsCall::new(WsConfig::default());
    call.on_text(ms(0), &connected()).unwrap();
    assert!(matches!(
        call.on_text(ms(1), &media(2, 1, &[0; 160])),
        Err(WsError::OutOfOrder {
            event: EventKind::Media,
            state: WsState::Connected
        })
    ));
    let l16 = start(1).replace("audio/x-mulaw", "audio/l16").replace("8000", "16000");
    assert!(matches!(
        call.on_text(ms(2), &l16),
        Err(WsError::UnsupportedMediaFormat {
            sample_rate: 16000,
            channels: 1,
            ..
        })
    ));
    let no_sid = r#"{"event":"start","start":{"callSid":"CA1"}}"#;
    assert!(matches!(
        call.on_text(ms(3), no_sid),
        Err(WsError::MissingField {
            event: EventKind::Start,
            field: "streamSid"
        })
    ));
    assert_eq!(call.state(), WsState::Connected);
    call.on_text(ms(4), &start(1)).unwrap();
    assert_eq!(call.state(), WsState::Started);
}

#[test]
fn caller_id_falls_back_to_custom_parameters_and_numbers_may_be_integers() {
    let mut call = WsCall::new(WsConfig::default());
    let text = format!(
        r#"{{"event":"start","sequenceNumber":1,"start":{{"streamSid":"{SID}","customParameters":{{"From":"+442071234567"}}}}}}"#
    );
    call.on_text(ms(0), &text).unwrap();
    let Some(WsEvent::Started {
        caller_id, call_sid, ..
    }) = call.poll_event()
    else {
        panic!()
    };
    assert_eq!(caller_id.as_deref(), Some("+442071234567"));
    assert_eq!(call_sid, None);
    // A sequence jump is counted, not refused.
    call.on_text(ms(20), &media(5, 1, &[0xFF; 160])).unwrap();
    assert_eq!(call.stats().sequence_gaps, 1);
}

#[test]
fn outbound_track_is_ignored() {
    let mut call = started_call();
    call.on_text(
        ms(20),
        &media(2, 1, &[0; 160]).replace(r#""track":"inbound""#, r#""track":"outbound""#),
    )
    .unwrap();
    assert_eq!(call.caller_audio_len(), 0);
    assert_eq!(call.stats().outbound_track_frames, 1);
    assert_eq!(call.poll_event(), None);
}

#[test]
fn idle_timeout_and_close() {
    let mut call = WsCall::new(WsConfig {
        idle_timeout: Some(Duration::from_secs(2)),
        ..WsConfig::default()
    });
    assert_eq!(call.poll_timeout(), None);
    call.on_text(ms(1000), &start(1)).unwrap();
    call.poll_event();
    assert_eq!(call.poll_timeout(), Some(ms(3000)));
    call.handle_timeout(ms(2999));
    assert_eq!(call.poll_event(), None);
    call.handle_timeout(ms(3000));
    assert_eq!(call.poll_event(), Some(WsEvent::IdleTimeout));
    assert_eq!(call.poll_timeout(), None);
    call.handle_timeout(ms(4000));
    assert_eq!(call.poll_event(), None);
    // Traffic re-arms the timer.
    call.on_text(ms(5000), &media(2, 1, &[0; 160])).unwrap();
    assert_eq!(call.poll_timeout(), Some(ms(7000)));
    call.on_closed();
    assert!(matches!(call.poll_event(), Some(WsEvent::CallerAudio { .. })));
    assert_eq!(call.poll_event(), Some(WsEvent::Stopped));
    call.on_closed();
    assert_eq!(call.poll_event(), None);
    assert_eq!(call.poll_timeout(), None);
}

#[test]
fn inbound_types_round_trip_through_serde() {
    for text in [
        connected(),
        start(1),
        media(3, 1, &[1, 2, 3]),
        dtmf(4, "#"),
        mark(5, "m"),
        stop(6),
    ] {
        let msg = Inbound::parse(&text).unwrap();
        let again = serde_json::to_string(&msg).unwrap();
        assert_eq!(Inbound::parse(&again).unwrap(), msg, "{text}");
    }
    // Escape-free strings borrow from the frame (no allocation per media frame).
    let text = media(3, 1, &[1, 2, 3]);
    let Inbound::Media(m) = Inbound::parse(&text).unwrap() else {
        panic!()
    };
    assert!(matches!(m.media.payload, std::borrow::Cow::Borrowed(_)));
    assert!(matches!(m.stream_sid, Some(std::borrow::Cow::Borrowed(_))));
    assert_eq!(
        (m.sequence_number, m.media.chunk, m.media.timestamp),
        (Some(3), Some(1), Some(0))
    );
}

#[test]
fn sample_ring_wraps() {
    let mut ring = SampleRing::new(5);
    assert_eq!(ring.push_ulaw(&[0xFF, 0xFF, 0xFF]), 0);
    let mut out = [0i16; 2];
    assert_eq!(ring.read(&mut out), 2);
    let codes = [0x80, 0x81, 0x82, 0x83];
    assert_eq!(ring.push_ulaw(&codes), 0); // wraps around the end
    assert_eq!(ring.len(), 5);
    let mut all = [0i16; 8];
    assert_eq!(ring.read(&mut all), 5);
    let want: Vec<i16> = [0xFF, 0x80, 0x81, 0x82, 0x83]
        .iter()
        .map(|&c| g711::ulaw_decode(c))
        .collect();
    assert_eq!(&all[..5], &want[..]);
    assert!(ring.is_empty());
    assert_eq!(ring.push_ulaw(&[0u8; 12]), 7);
    assert_eq!(ring.len(), 5);
    ring.clear();
    assert_eq!(ring.read(&mut all), 0);
}
