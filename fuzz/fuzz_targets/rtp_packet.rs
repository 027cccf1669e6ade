#![no_main]
//! RTP: arbitrary bytes into the packet parser and the rtcp-mux demultiplexer must never panic;
//! an accepted packet rewritten with `write_rtp` parses back to the same header and payload.
//! The same bytes, cut into datagrams, then drive a whole `RtpMedia` receive path and ticks.
use std::net::SocketAddr;
use std::time::Duration;

use cxb_dataplane::media::{MediaCodec, RtpMedia, RtpMediaConfig};
use cxb_dataplane::rtp::{RtpHeader, RtpPacket, is_rtcp, write_rtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    if let Ok(p) = RtpPacket::parse(data) {
        let hdr = RtpHeader {
            pt: p.pt,
            marker: p.marker,
            seq: p.seq,
            ts: p.ts,
            ssrc: p.ssrc,
        };
        let mut buf = vec![0u8; 12 + p.payload.len()];
        assert_eq!(write_rtp(&mut buf, &hdr, p.payload), buf.len());
        let q = RtpPacket::parse(&buf).expect("written packet parses");
        assert_eq!(
            (q.pt, q.marker, q.seq, q.ts, q.ssrc, q.payload),
            (p.pt, p.marker, p.seq, p.ts, p.ssrc, p.payload)
        );
    }

    // Datagrams: [len, source selector, bytes…]*.
    let codec = match data.first().map(|b| b % 4) {
        Some(0) | None => MediaCodec::Pcmu,
        Some(1) => MediaCodec::Pcma,
        Some(2) => MediaCodec::G722,
        _ => MediaCodec::Opus,
    };
    let cfg = RtpMediaConfig {
        relatch_packets: 2,
        ..RtpMediaConfig::new(codec, 1, Duration::ZERO)
    };
    let Ok(mut m) = RtpMedia::new(cfg) else { return };
    let sources: [SocketAddr; 2] = ["203.0.113.1:4000".parse().unwrap(), "203.0.113.2:4000".parse().unwrap()];
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut now = Duration::ZERO;
    while rest.len() >= 2 {
        let len = usize::from(rest[0]).min(rest.len() - 2);
        let src = sources[usize::from(rest[1] & 1)];
        let dgram = &rest[2..2 + len];
        if rest[1] & 2 != 0 {
            m.on_rtcp(now, src, dgram);
        } else {
            m.on_rtp(now, src, dgram);
        }
        rest = &rest[2 + len..];
        now += Duration::from_millis(7);
        m.tick(now, &mut |_, bytes| assert!(!bytes.is_empty()));
        while m.poll_event().is_some() {}
    }
    let _ = m.quality();
});
