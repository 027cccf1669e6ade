#![no_main]
//! Arbitrary bytes as RFC 4733 packet streams through the receiver, as payloads through the
//! parser, as sender parameters, and as 8/16 kHz audio through the DTMF and tone detectors.
//! Nothing may panic.
use cxb_dsp::dtmf::{DtmfDetector, DtmfDigit, DtmfReceiver, DtmfSender, SenderConfig, TelephoneEvent};
use cxb_dsp::tone::{ToneConfig, ToneDetector, ToneSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else { return };
    match ctl % 3 {
        0 => {
            // Packet stream: [timestamp delta (2 bytes), payload length (1 byte), payload…]*.
            let mut rx = DtmfReceiver::new();
            let mut ts = u32::from(ctl) << 24;
            let mut rest = body;
            while rest.len() >= 3 {
                let delta = u16::from_le_bytes([rest[0], rest[1]]);
                ts = if delta & 1 == 0 {
                    ts.wrapping_add(u32::from(delta))
                } else {
                    ts.wrapping_sub(u32::from(delta))
                };
                let len = usize::from(rest[2] % 17).min(rest.len() - 3);
                let payload = &rest[3..3 + len];
                rest = &rest[3 + len..];
                let _ = TelephoneEvent::decode(payload);
                let _ = rx.handle_packet(ts, payload);
                while rx.poll_event().is_some() {}
            }
            rx.flush();
            while rx.poll_event().is_some() {}
        }
        1 => {
            // Sender parameters.
            if body.len() < 8 {
                return;
            }
            let cfg = SenderConfig {
                clock_rate: u32::from(u16::from_le_bytes([body[0], body[1]])),
                interval_ms: u32::from(body[2]),
                volume: body[3],
                end_packets: body[4] % 8,
                end_spacing_ms: u32::from(body[5]),
            };
            if let Ok(mut tx) = DtmfSender::new(cfg) {
                let digit = DtmfDigit::from_event(body[6] % 16).unwrap_or(DtmfDigit::D0);
                let ms = u32::from(u16::from_le_bytes([body[7], *body.get(8).unwrap_or(&0)]));
                let mut rx = DtmfReceiver::new();
                if tx.start(digit, ms, 1234).is_ok() {
                    let mut count = 0;
                    while let Some(p) = tx.next_packet() {
                        let bytes = p.event.encode().expect("sender volume is checked");
                        rx.handle_packet(p.timestamp, &bytes).expect("4-byte payload");
                        while rx.poll_event().is_some() {}
                        count += 1;
                        assert!(count < 100_000);
                    }
                }
            }
        }
        _ => {
            // Audio.
            let pcm: Vec<i16> = body.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
            let chunk = usize::from(ctl >> 2) + 1;
            for rate in [8000, 16000] {
                let mut det = DtmfDetector::new(rate).expect("supported rate");
                let mut tones =
                    ToneDetector::new(rate, &ToneSpec::call_progress(), ToneConfig::default()).expect("valid presets");
                for piece in pcm.chunks(chunk) {
                    det.process(piece, |_| ());
                    tones.process(piece, |_| ());
                }
                det.finish(|_| ());
                tones.finish(|_| ());
            }
        }
    }
});
