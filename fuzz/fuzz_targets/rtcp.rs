#![no_main]
//! RTCP: arbitrary bytes into the compound parser must never panic; accepted SR/RR packets
//! rebuilt with `build_report` parse back to the same sender info and report blocks.
use cxb_dataplane::rtp::{ReportBlock, RtcpPacket, build_report, parse_compound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for p in parse_compound(data) {
        let Ok(p) = p else { break };
        let (ssrc, info, blocks): (u32, _, Vec<ReportBlock>) = match p {
            RtcpPacket::Sr(sr) => (sr.ssrc, Some(sr.info), sr.blocks().collect()),
            RtcpPacket::Rr(rr) => (rr.ssrc, None, rr.blocks().collect()),
            RtcpPacket::Bye(b) => {
                let _ = b.ssrcs().count();
                continue;
            }
            _ => continue,
        };
        let mut buf = vec![0u8; 2048];
        let n = build_report(&mut buf, ssrc, info.as_ref(), &blocks, b"fuzz").expect("fits");
        let again: Vec<_> = parse_compound(&buf[..n])
            .collect::<Result<_, _>>()
            .expect("built report parses");
        match again[0] {
            RtcpPacket::Sr(sr) => {
                assert_eq!((sr.ssrc, Some(sr.info)), (ssrc, info));
                // Cumulative loss is 24-bit on the wire: compare what survives.
                assert_eq!(sr.blocks().count(), blocks.len().min(31));
            }
            RtcpPacket::Rr(rr) => {
                assert!(info.is_none());
                assert_eq!(rr.ssrc, ssrc);
                assert!(rr.blocks().zip(&blocks).all(|(a, b)| a == *b));
            }
            other => panic!("rebuilt report is {other:?}"),
        }
    }
});
