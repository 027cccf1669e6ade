#![no_main]
//! Arbitrary sequences of (time advance, packet fields, payload, pull) through the PCMU
//! playout and the codec-agnostic buffer: never panics, metrics stay consistent.

use std::time::Duration;

use cxb_dsp::jitter::{Codec, Frame, JitterBuffer, JitterConfig, Playout, PlayoutConfig, RtpPacketView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = PlayoutConfig::new(Codec::Pcmu);
    let mut playout = Playout::new(cfg).expect("valid playout config");
    let small = JitterConfig {
        capacity: 32,
        max_payload: 64,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(small).expect("valid buffer config");
    let mut out = vec![0i16; playout.frame_len()];
    let mut now_us: u64 = 0;
    let mut d = data;
    while d.len() >= 12 {
        let (op, rest) = d.split_at(12);
        d = rest;
        // Time advance: mostly small steps, sometimes huge jumps (and occasionally backwards).
        let adv = u64::from(u16::from_le_bytes([op[0], op[1]]));
        now_us = match op[2] & 0x0f {
            0 => now_us.saturating_add(adv * 1_000_000),
            1 => now_us.saturating_sub(adv),
            _ => now_us.saturating_add(adv * 4),
        };
        let now = Duration::from_micros(now_us);
        if op[2] & 0x80 != 0 {
            let _ = playout.pull(now, &mut out);
            let frame = jb.pull(now);
            if let Frame::Packet { payload, .. } = frame {
                assert!(payload.len() <= 64);
            }
        } else {
            let seq = u16::from_le_bytes([op[3], op[4]]);
            let timestamp = u32::from_le_bytes([op[5], op[6], op[7], op[8]]);
            let ssrc = u32::from(op[9] & 0x03);
            let payload_type = op[10] & 0x7f;
            let len = usize::from(op[11]).min(d.len() + 200);
            let payload: Vec<u8> = d.iter().copied().cycle().take(len).collect();
            let pkt = RtpPacketView {
                seq,
                timestamp,
                ssrc,
                marker: op[9] & 0x80 != 0,
                payload_type,
                payload: &payload,
            };
            let _ = playout.insert(now, &pkt);
            let _ = jb.insert(now, &pkt);
        }
        while playout.poll_event().is_some() {}
        for m in [playout.metrics(), jb.metrics()] {
            assert!(m.target_delay_ms >= 0.0 && m.target_delay_ms <= 200.0, "{m:?}");
            assert!(m.current_delay_ms >= 0.0 && m.current_delay_ms.is_finite(), "{m:?}");
            assert!(m.duplicates + m.late <= m.packets_received, "{m:?}");
            assert!(
                m.concealed_ms >= 0.0 && m.accelerate_ms >= 0.0 && m.expand_ms >= 0.0,
                "{m:?}"
            );
        }
        assert!(jb.pending_packets() <= 32);
    }
});
