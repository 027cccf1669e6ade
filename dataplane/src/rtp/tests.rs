//! RTP/RTCP parse/build round trips, malformed input and RFC 3550 statistics.

use std::time::Duration;

use super::*;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

#[test]
fn rtp_round_trip() {
    let hdr = RtpHeader {
        pt: 0,
        marker: true,
        seq: 65_535,
        ts: 0xdead_beef,
        ssrc: 0x1234_5678,
    };
    let mut buf = [0u8; 200];
    let n = write_rtp(&mut buf, &hdr, &[1, 2, 3]);
    assert_eq!(n, 15);
    let p = RtpPacket::parse(&buf[..n]).unwrap();
    assert_eq!(
        (p.pt, p.marker, p.seq, p.ts, p.ssrc),
        (0, true, 65_535, 0xdead_beef, 0x1234_5678)
    );
    assert_eq!(p.payload, &[1, 2, 3]);
    assert!(!is_rtcp(&buf[..n]));
    assert_eq!(write_rtp(&mut buf[..14], &hdr, &[1, 2, 3]), 0);
}

#[test]
fn rtp_csrc_extension_and_padding_are_skipped() {
    let mut b = vec![0xb2u8, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 9];
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // 2 CSRCs
    b.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]); // 1-word extension
    b.extend_from_slice(&[7, 7, 7, 7]); // payload
    b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
    let p = RtpPacket::parse(&b).unwrap();
    assert_eq!(
        (p.csrc_count, p.has_extension, p.pt, p.seq, p.ts, p.ssrc),
        (2, true, 8, 7, 160, 9)
    );
    assert_eq!(p.payload, &[7, 7, 7, 7]);
}

#[test]
fn malformed_rtp_is_an_error_not_a_panic() {
    assert!(matches!(RtpPacket::parse(&[]), Err(RtpError::TooShort { .. })));
    assert!(matches!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::TooShort { .. })));
    assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion { version: 1 }));
    // CSRC count 15 but no CSRCs.
    assert!(matches!(RtpPacket::parse(&[0x8f; 12]), Err(RtpError::TooShort { .. })));
    // Extension header missing / too long.
    let mut b = [0u8; 16];
    b[0] = 0x90;
    b[14] = 0xff;
    assert!(matches!(RtpPacket::parse(&b[..13]), Err(RtpError::TooShort { .. })));
    assert!(matches!(RtpPacket::parse(&b), Err(RtpError::TooShort { .. })));
    // Padding of 0 or longer than the payload.
    let mut b = [0u8; 14];
    b[0] = 0xa0;
    assert!(matches!(RtpPacket::parse(&b), Err(RtpError::BadPadding { .. })));
    b[13] = 3;
    assert!(matches!(RtpPacket::parse(&b), Err(RtpError::BadPadding { .. })));
    b[13] = 2;
    assert_eq!(RtpPacket::parse(&b).unwrap().payload, &[] as &[u8]);
    // Every short prefix of garbage.
    let junk: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) | 0x80).collect();
    for n in 0..junk.len() {
        let _ = RtpPacket::parse(&junk[..n]);
        let _ = parse_compound(&junk[..n]).count();
    }
}

#[test]
fn rtcp_mux_demux() {
    let mut b = [0u8; 8];
    b[0] = 0x80;
    for pt in 192..=223u8 {
        b[1] = pt;
        assert!(is_rtcp(&b), "{pt}");
    }
    for byte1 in [0u8, 8, 9, 101, 111, 0x80, 0x80 | 111, 0xe0] {
        b[1] = byte1;
        assert!(!is_rtcp(&b), "{byte1}");
    }
    b[1] = 200;
    assert!(!is_rtcp(&b[..4]));
}

fn block(ssrc: u32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 51,
        cumulative_lost: -3,
        highest_seq: 70_000,
        jitter: 123,
        lsr: 0x1234_5678,
        dlsr: 65_536,
    }
}

#[test]
fn sr_sdes_bye_round_trip() {
    let info = SenderInfo {
        ntp: ntp_from_duration(Duration::new(1_700_000_000, 500_000_000)),
        rtp_ts: 160_000,
        packet_count: 1000,
        octet_count: 160_000,
    };
    assert_eq!(info.ntp >> 32, 1_700_000_000 + 2_208_988_800);
    assert_eq!(info.ntp as u32, 1 << 31);
    let mut buf = [0u8; 256];
    let n = build_report(&mut buf, 42, Some(&info), &[block(7), block(8)], b"cxb@host").unwrap();
    assert_eq!(n % 4, 0);
    let m = build_bye(&mut buf[n..], 42, Some(b"hangup")).unwrap();
    let pkts: Vec<_> = parse_compound(&buf[..n + m]).collect::<Result<_, _>>().unwrap();
    assert_eq!(pkts.len(), 3);
    let RtcpPacket::Sr(sr) = pkts[0] else {
        panic!("{:?}", pkts[0])
    };
    assert_eq!((sr.ssrc, sr.info), (42, info));
    assert_eq!(sr.blocks().collect::<Vec<_>>(), vec![block(7), block(8)]);
    assert_eq!(
        pkts[1],
        RtcpPacket::Sdes {
            ssrc: 42,
            cname: Some(b"cxb@host")
        }
    );
    let RtcpPacket::Bye(bye) = pkts[2] else { panic!() };
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![42]);
    assert_eq!(bye.reason, Some(&b"hangup"[..]));
    assert!(matches!(
        build_report(&mut buf[..20], 42, Some(&info), &[], b"x"),
        Err(RtpError::OutputTooSmall { .. })
    ));
}

#[test]
fn rr_without_sender_info_and_unknown_types_skipped() {
    let mut buf = [0u8; 256];
    // An APP packet (PT 204) first, then RR + SDES.
    buf[..12].copy_from_slice(&[0x80, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e']);
    let n = build_report(&mut buf[12..], 5, None, &[block(9)], b"").unwrap();
    let pkts: Vec<_> = parse_compound(&buf[..12 + n]).collect::<Result<_, _>>().unwrap();
    assert_eq!(pkts[0], RtcpPacket::Other { pt: 204 });
    let RtcpPacket::Rr(rr) = pkts[1] else { panic!() };
    assert_eq!(rr.ssrc, 5);
    assert_eq!(rr.blocks().next(), Some(block(9)));
    assert_eq!(
        pkts[2],
        RtcpPacket::Sdes {
            ssrc: 5,
            cname: Some(b"")
        }
    );
}

#[test]
fn malformed_rtcp_stops_with_an_error() {
    // Length beyond the datagram.
    let b = [0x81, 201, 0, 50, 0, 0, 0, 1];
    let r: Vec<_> = parse_compound(&b).collect();
    assert!(matches!(r[..], [Err(RtpError::BadLength { .. })]));
    // RR claiming one block but too short for it.
    let b = [0x81, 201, 0, 1, 0, 0, 0, 1];
    assert!(matches!(
        parse_compound(&b).next(),
        Some(Err(RtpError::TooShort { .. }))
    ));
    // Version 0.
    assert!(matches!(
        parse_compound(&[0, 201, 0, 0]).next(),
        Some(Err(RtpError::BadVersion { version: 0 }))
    ));
    // Truncated SDES item: tolerated, no CNAME.
    let b = [0x81, 202, 0, 2, 0, 0, 0, 3, 1, 200, b'a', b'b'];
    assert_eq!(
        parse_compound(&b).next(),
        Some(Ok(RtcpPacket::Sdes { ssrc: 3, cname: None }))
    );
}

/// Scripted arrivals: (seq, arrival offset in ms over the 20 ms send grid). Seq 3 and 7 are
/// lost, 6 arrives before 5.
const SCRIPT: [(u16, u64); 8] = [(0, 0), (1, 0), (2, 5), (4, 0), (6, 10), (5, 12), (8, 0), (9, 0)];

#[test]
fn receiver_stats_loss_reordering_and_jitter_match_hand_calculation() {
    let mut st = ReceiverStats::new(8000);
    for (seq, off) in SCRIPT {
        assert!(st.record(ms(20 * u64::from(seq) + off), 77, seq, 160 * u32::from(seq), true));
    }
    assert_eq!(st.expected(), 10);
    assert_eq!(st.received(), 8);
    assert_eq!(st.cumulative_lost(), 2);
    assert_eq!(st.extended_max(), 9);
    // Transit (8 ts units per ms of offset) in arrival order: 0 0 40 0 80 96 0 0;
    // |D| = 0 40 40 80 16 96 0; J += (|D| - J) / 16 each step:
    // 0, 2.5, 4.84375, 9.541015625, 9.9447021484, 15.3231582642, 14.3654608727.
    assert!((st.jitter() - 14.365_460_872_7).abs() < 1e-6, "{}", st.jitter());
    assert!((st.jitter_ms() - 14.365_460_872_7 / 8.0).abs() < 1e-6);
    let rb = st.report_block(ms(200)).unwrap();
    assert_eq!(u32::from(rb.fraction_lost), (2 << 8) / 10);
    assert_eq!((rb.cumulative_lost, rb.highest_seq, rb.jitter, rb.ssrc), (2, 9, 14, 77));
    assert_eq!((rb.lsr, rb.dlsr), (0, 0));
    // Next interval without loss: fraction 0, cumulative unchanged.
    for seq in 10..20u16 {
        st.record(ms(20 * u64::from(seq)), 77, seq, 160 * u32::from(seq), true);
    }
    let rb = st.report_block(ms(400)).unwrap();
    assert_eq!((rb.fraction_lost, rb.cumulative_lost, rb.highest_seq), (0, 2, 19));
}

#[test]
fn receiver_stats_sequence_wrap_and_restart() {
    let mut st = ReceiverStats::new(8000);
    for (i, seq) in [65_534u16, 65_535, 0, 1].into_iter().enumerate() {
        st.record(ms(20 * i as u64), 1, seq, 0, false);
    }
    assert_eq!(st.extended_max(), 65_536 + 1);
    assert_eq!((st.expected(), st.cumulative_lost()), (4, 0));
    // A large jump is accepted only when the next packet confirms it.
    assert!(!st.record(ms(100), 1, 30_000, 0, false));
    assert!(st.record(ms(120), 1, 30_001, 0, false));
    assert_eq!((st.expected(), st.received()), (1, 1));
    // A new SSRC starts over.
    st.record(ms(140), 2, 500, 0, false);
    assert_eq!((st.ssrc(), st.expected()), (Some(2), 1));
}

#[test]
fn lsr_dlsr_and_remote_rtt() {
    let mut st = ReceiverStats::new(8000);
    st.record(ms(0), 3, 1, 0, true);
    let their_sr = SenderInfo {
        ntp: 0x0001_2345_6789_0000,
        ..SenderInfo::default()
    };
    st.on_sender_report(ms(1000), &their_sr);
    let rb = st.report_block(ms(1500)).unwrap();
    assert_eq!((rb.lsr, rb.dlsr), (0x2345_6789, 32_768));

    // Our SR at NTP T, the remote holds it 1 s, its RR arrives at T + 1.05 s: RTT 50 ms.
    let t = ntp_from_duration(Duration::new(1_700_000_000, 0));
    let mut view = RemoteView::default();
    let rr = ReportBlock {
        ssrc: 9,
        fraction_lost: 64,
        cumulative_lost: 10,
        highest_seq: 100,
        jitter: 80,
        lsr: (t >> 16) as u32,
        dlsr: 65_536,
    };
    view.on_block(&rr, ntp_from_duration(Duration::new(1_700_000_001, 50_000_000)), 8000);
    assert!((view.rtt_ms.unwrap() - 50.0).abs() < 0.1, "{view:?}");
    assert_eq!(
        (view.fraction_lost, view.cumulative_lost, view.jitter_ms),
        (0.25, 10, 10.0)
    );
}
