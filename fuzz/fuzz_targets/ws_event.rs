#![no_main]
//! WebSocket media stream (Twilio Media Streams format): arbitrary text frames must never panic.
//! The input is split into frames at newlines; a set low bit of the first byte first plays a valid
//! `connected` + `start` so media, DTMF and marks are reached. Between frames, bytes of the input
//! drive the bot side (audio, marks, clear, transfer, timers); `transfer_result` frames in the
//! input are answered only while a transfer of ours is pending. Whatever parses must print back to the same
//! value, and everything we send must parse as an outbound message.
use std::time::Duration;

use cxb_dataplane::ws::{Inbound, Outbound, WsCall, WsConfig, WsEvent};
use libfuzzer_sys::fuzz_target;

const HELLO: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0","callerId":"+15550001111"}"#;
const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],"customParameters":{"k":"v"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else { return };
    let text = String::from_utf8_lossy(&data[1..]);
    let cfg = WsConfig {
        max_text_len: 4096,
        caller_ring_samples: 400,
        max_outgoing: 8,
        max_events: 8,
        ..WsConfig::default()
    };
    let mut call = WsCall::new(cfg);
    let mut now = Duration::ZERO;
    if first & 1 == 1 {
        call.on_text(now, HELLO).expect("hello");
        call.on_text(now, START).expect("start");
    }
    let mut pcm = [0i16; 160];
    for (i, frame) in text.split('\n').enumerate() {
        now += Duration::from_millis(20);
        if let Ok(msg) = Inbound::parse(frame) {
            let printed = serde_json::to_string(&msg).expect("inbound prints");
            assert_eq!(
                Inbound::parse(&printed).expect("printed message parses"),
                msg,
                "{printed}"
            );
        }
        let _ = call.on_text(now, frame);
        while let Some(ev) = call.poll_event() {
            match ev {
                WsEvent::Started { stream_sid, .. } => assert_eq!(call.stream_sid(), Some(stream_sid.as_str())),
                WsEvent::TransferResult { .. } => assert!(!call.transfer_pending()),
                _ => {}
            }
        }
        while call.read_caller_audio(&mut pcm) > 0 {}
        let op = frame.as_bytes().first().copied().unwrap_or(0) ^ (i as u8);
        match op % 7 {
            0 => {
                pcm.iter_mut()
                    .enumerate()
                    .for_each(|(j, s)| *s = (j as i16).wrapping_mul(i16::from(op)));
                let _ = call.push_bot_frame(&pcm[..usize::from(op) % 161]);
            }
            1 => {
                let _ = call.send_mark(frame.get(..frame.len().min(20)).unwrap_or("m"));
            }
            2 => {
                let _ = call.clear();
            }
            3 => call.handle_timeout(now + Duration::from_secs(u64::from(op))),
            4 => {
                let part = frame.get(..frame.len().min(40)).unwrap_or("t");
                if call.send_transfer(part, "+15550001111", part).is_ok() {
                    assert!(call.transfer_pending());
                }
            }
            5 => call.abandon_transfer(),
            _ => {}
        }
        if op % 3 == 0 {
            while let Some(out) = call.poll_outgoing() {
                serde_json::from_str::<Outbound<'_>>(&out).expect("outgoing parses");
            }
        }
    }
    call.on_closed();
    while call.poll_event().is_some() {}
});
