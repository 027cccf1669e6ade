//! RtpMedia: latching, SSRC change, DTMF in and out, hold, RTCP, malformed input.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use cxb_dsp::dtmf::TelephoneEvent;
use cxb_sip::sdp::{Direction, Encoding, HoldState, NegotiatedAudio, RemoteAddr};

use super::tests::{rms, tone};
use super::*;
use crate::rtp::{
    ReportBlock, RtcpPacket, RtpHeader, RtpPacket, build_bye, build_report, is_rtcp, parse_compound, write_rtp,
};

pub(crate) type Sent = Vec<(SocketAddr, Vec<u8>)>;

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

pub(crate) fn negotiated(codec: Encoding, pt: u8, clock: u32, ip: [u8; 4], port: u16) -> NegotiatedAudio {
    let ip = IpAddr::V4(Ipv4Addr::from(ip));
    NegotiatedAudio {
        media_index: 0,
        codec,
        payload_type: pt,
        clock_rate: clock,
        channels: 1,
        remote_fmtp: None,
        telephone_event_pt: Some(101),
        ptime: 20,
        remote_rtp: RemoteAddr { ip, port },
        remote_rtcp: RemoteAddr { ip, port },
        rtcp_mux: true,
        direction: Direction::SendRecv,
        hold: HoldState::Active,
    }
}

/// PCMU media whose SDP named a public address (used before latching).
fn public_pcmu() -> RtpMedia {
    let neg = negotiated(Encoding::Pcmu, 0, 8000, [8, 8, 4, 4], 30_000);
    let cfg = RtpMediaConfig::from_negotiated(&neg, 0xabcd, Duration::ZERO).unwrap();
    assert!(cfg.remote_trusted);
    RtpMedia::new(cfg).unwrap()
}

fn tick(m: &mut RtpMedia, now: Duration) -> Sent {
    let mut sent = Sent::new();
    m.tick(now, &mut |to, b| sent.push((to, b.to_vec())));
    sent
}

fn rtp(seq: u16, ts: u32, ssrc: u32, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 12 + payload.len()];
    let n = write_rtp(
        &mut b,
        &RtpHeader {
            pt,
            marker,
            seq,
            ts,
            ssrc,
        },
        payload,
    );
    b.truncate(n);
    b
}

fn events(m: &mut RtpMedia) -> Vec<MediaEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn ulaw_tone(k: usize) -> Vec<u8> {
    tone(400.0, 8000, k * 160, 160, 8000.0)
        .iter()
        .map(|&s| cxb_dsp::g711::ulaw_encode(s))
        .collect()
}

#[test]
fn from_negotiated_maps_codecs_and_rejects_others() {
    let neg = negotiated(Encoding::G722, 9, 8000, [10, 0, 0, 1], 4000);
    let cfg = RtpMediaConfig::from_negotiated(&neg, 1, ms(5)).unwrap();
    assert_eq!(
        (cfg.codec, cfg.payload_type, cfg.dtmf_tx_pt),
        (MediaCodec::G722, 9, Some(101))
    );
    assert!(!cfg.remote_trusted && cfg.rtcp_mux && cfg.send && !cfg.hold);
    let neg = negotiated(Encoding::Opus, 111, 48_000, [8, 8, 8, 8], 4000);
    assert_eq!(
        RtpMediaConfig::from_negotiated(&neg, 1, ms(5)).unwrap().codec,
        MediaCodec::Opus
    );
    let neg = negotiated(Encoding::Other("G729".into()), 18, 8000, [8, 8, 8, 8], 4000);
    assert!(matches!(
        RtpMediaConfig::from_negotiated(&neg, 1, ms(5)),
        Err(MediaError::UnsupportedCodec { payload_type: 18, .. })
    ));
    let neg = NegotiatedAudio {
        ptime: 30,
        direction: Direction::RecvOnly,
        ..negotiated(Encoding::Pcmu, 0, 8000, [8, 8, 8, 8], 4000)
    };
    let cfg = RtpMediaConfig::from_negotiated(&neg, 1, ms(5)).unwrap();
    assert_eq!((cfg.ptime_ms, cfg.send), (20, false));
}

/// A private SDP address is trusted when the signalling also comes from a non-public address
/// (same network, no NAT to latch around), not when it comes from a public one (NAT).
#[test]
fn private_sdp_address_is_trusted_only_for_a_non_public_signalling_peer() {
    let neg = negotiated(Encoding::Pcmu, 0, 8000, [192, 168, 1, 10], 4000);
    let cfg = |peer: &str| {
        let mut c = RtpMediaConfig::from_negotiated(&neg, 7, Duration::ZERO).unwrap();
        c.trust_for_peer(Some(addr(peer)));
        c.remote_trusted
    };
    assert!(cfg("192.168.1.10:5060"));
    assert!(cfg("127.0.0.1:5060"));
    assert!(!cfg("8.8.8.8:5060"));
    let mut c = RtpMediaConfig::from_negotiated(&neg, 7, Duration::ZERO).unwrap();
    c.trust_for_peer(None);
    assert!(!c.remote_trusted);
    let unspecified = negotiated(Encoding::Pcmu, 0, 8000, [0, 0, 0, 0], 4000);
    let mut c = RtpMediaConfig::from_negotiated(&unspecified, 7, Duration::ZERO).unwrap();
    c.trust_for_peer(Some(addr("127.0.0.1:5060")));
    assert!(!c.remote_trusted);
}

#[test]
fn private_sdp_address_waits_for_latching_then_follows_a_new_source() {
    let neg = negotiated(Encoding::Pcmu, 0, 8000, [192, 168, 1, 10], 4000);
    let mut m = RtpMedia::new(RtpMediaConfig::from_negotiated(&neg, 7, Duration::ZERO).unwrap()).unwrap();
    m.downlink_mut()
        .push_bot_audio(&tone(1000.0, 16_000, 0, 16_000, 8000.0));
    for k in 0..5 {
        assert!(tick(&mut m, ms(20 * k)).is_empty(), "nothing before latching");
    }
    let nat = addr("203.0.113.9:41000");
    for k in 0..3u16 {
        m.on_rtp(
            ms(100 + 20 * u64::from(k)),
            nat,
            &rtp(k, 160 * u32::from(k), 55, 0, k == 0, &ulaw_tone(k.into())),
        );
    }
    assert_eq!(events(&mut m), vec![MediaEvent::RemoteLatched { addr: nat }]);
    let sent = tick(&mut m, ms(160));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, nat);
    // A new media server (new port, new SSRC): 4 packets are not enough…
    let other = addr("203.0.113.9:42000");
    for k in 0..4u16 {
        m.on_rtp(ms(180), other, &rtp(500 + k, 0, 66, 0, false, &ulaw_tone(0)));
    }
    assert_eq!(tick(&mut m, ms(180))[0].0, nat);
    // …a packet from the latched source resets the count…
    m.on_rtp(ms(190), nat, &rtp(3, 480, 55, 0, false, &ulaw_tone(3)));
    for k in 4..8u16 {
        m.on_rtp(ms(195), other, &rtp(500 + k, 0, 66, 0, false, &ulaw_tone(0)));
    }
    assert_eq!(tick(&mut m, ms(200))[0].0, nat);
    // …the fifth consecutive one moves the latch.
    m.on_rtp(ms(210), other, &rtp(508, 0, 66, 0, false, &ulaw_tone(0)));
    assert_eq!(
        events(&mut m),
        vec![MediaEvent::RemoteLatched { addr: other }, MediaEvent::BotAudioStarted]
    );
    assert_eq!(tick(&mut m, ms(220))[0].0, other);
    let q = m.quality();
    assert_eq!((q.latched, q.foreign_in), (Some(other), 8));
}

#[test]
fn rtp_out_has_consecutive_seq_ts_and_talkspurt_markers() {
    let mut m = public_pcmu();
    let mut pkts = Vec::new();
    for k in 0..10 {
        if k == 5 {
            m.downlink_mut().push_bot_audio(&tone(1000.0, 16_000, 0, 1600, 8000.0));
        }
        for (to, b) in tick(&mut m, ms(20 * k)) {
            assert_eq!(to, addr("8.8.4.4:30000"));
            let p = RtpPacket::parse(&b).unwrap();
            pkts.push((p.seq, p.ts, p.marker, p.pt, p.ssrc, p.payload.len()));
        }
    }
    assert_eq!(pkts.len(), 10);
    for w in pkts.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1));
        assert_eq!(w[1].1, w[0].1.wrapping_add(160));
    }
    let markers: Vec<bool> = pkts.iter().map(|p| p.2).collect();
    assert_eq!(
        markers,
        [true, false, false, false, false, true, false, false, false, false]
    );
    assert!(pkts.iter().all(|p| p.3 == 0 && p.4 == 0xabcd && p.5 == 160));
    let q = m.quality();
    assert_eq!((q.packets_out, q.bytes_out), (10, 10 * 172));
}

#[test]
fn ssrc_change_resets_the_stream_and_keeps_counting() {
    let mut m = public_pcmu();
    let src = addr("8.8.4.4:30000");
    let mut k = 0u64;
    let mut frames = Vec::new();
    for i in 0..50u16 {
        if i != 20 && i != 21 {
            m.on_rtp(
                ms(20 * k + 5),
                src,
                &rtp(i, 160 * u32::from(i), 1, 0, i == 0, &ulaw_tone(k as usize)),
            );
        }
        tick(&mut m, ms(20 * k));
        frames.push(rms(m.last_frames_16k().0));
        k += 1;
    }
    // The carrier switches streams: new SSRC, unrelated seq/ts.
    for i in 0..50u16 {
        m.on_rtp(
            ms(20 * k + 5),
            src,
            &rtp(
                9000 + i,
                777_777 + 160 * u32::from(i),
                2,
                0,
                i == 0,
                &ulaw_tone(k as usize),
            ),
        );
        tick(&mut m, ms(20 * k));
        frames.push(rms(m.last_frames_16k().0));
        k += 1;
    }
    let q = m.quality();
    assert_eq!((q.packets_in, q.lost), (98, 2));
    assert!(frames[90..].iter().all(|&r| r > 2000.0), "{:?}", &frames[50..]);
}

#[test]
fn dtmf_in_is_reported_once_per_event() {
    let mut m = public_pcmu();
    let src = addr("8.8.4.4:30000");
    for i in 0..5u16 {
        m.on_rtp(
            ms(20 * u64::from(i)),
            src,
            &rtp(i, 160 * u32::from(i), 3, 0, i == 0, &ulaw_tone(i.into())),
        );
    }
    // Digit 5 for 100 ms (800 ts units): updates every 50 ms, then three end packets (+ a duplicate).
    let ev = |duration: u16, end: bool| {
        TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration,
        }
        .encode()
        .unwrap()
    };
    let ts = 800;
    let script: [(u16, bool, u16, bool); 6] = [
        (5, true, 400, false),
        (6, false, 800, false),
        (7, false, 800, true),
        (8, false, 800, true),
        (8, false, 800, true),
        (9, false, 800, true),
    ];
    for (seq, marker, dur, end) in script {
        m.on_rtp(
            ms(100 + 20 * u64::from(seq)),
            src,
            &rtp(seq, ts, 3, 101, marker, &ev(dur, end)),
        );
    }
    let dtmf: Vec<_> = events(&mut m)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Dtmf { .. }))
        .collect();
    assert_eq!(
        dtmf,
        vec![MediaEvent::Dtmf {
            digit: '5',
            duration_ms: 100
        }]
    );
    // A second digit whose end packets are all lost is reported when the next one starts.
    m.on_rtp(
        ms(400),
        src,
        &rtp(
            10,
            2000,
            3,
            101,
            true,
            &TelephoneEvent {
                event: 11,
                end: false,
                volume: 10,
                duration: 160,
            }
            .encode()
            .unwrap(),
        ),
    );
    m.on_rtp(
        ms(600),
        src,
        &rtp(
            11,
            4000,
            3,
            101,
            true,
            &TelephoneEvent {
                event: 1,
                end: true,
                volume: 10,
                duration: 400,
            }
            .encode()
            .unwrap(),
        ),
    );
    let dtmf: Vec<_> = events(&mut m)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Dtmf { .. }))
        .collect();
    assert_eq!(
        dtmf,
        vec![
            MediaEvent::Dtmf {
                digit: '#',
                duration_ms: 20
            },
            MediaEvent::Dtmf {
                digit: '1',
                duration_ms: 50
            }
        ]
    );
}

#[test]
fn dtmf_out_sends_rfc4733_packets_with_three_end_packets() {
    let mut m = public_pcmu();
    m.send_dtmf('9', 100).unwrap();
    assert!(m.send_dtmf('x', 100).is_err());
    let mut audio = Vec::new();
    let mut dtmf = Vec::new();
    for k in 0..20 {
        for (_, b) in tick(&mut m, ms(20 * k)) {
            let p = RtpPacket::parse(&b).unwrap();
            if p.pt == 101 {
                let e = TelephoneEvent::decode(p.payload).unwrap();
                dtmf.push((k, p.seq, p.ts, p.marker, e.event, e.end, e.duration));
            } else {
                audio.push((k, p.seq));
            }
        }
    }
    assert_eq!(dtmf.len(), 2 + 3, "{dtmf:?}");
    assert!(dtmf.iter().all(|d| d.2 == dtmf[0].2 && d.4 == 9));
    assert_eq!(
        dtmf.iter().map(|d| d.3).collect::<Vec<_>>(),
        [true, false, false, false, false]
    );
    assert_eq!(dtmf.iter().filter(|d| d.5).count(), 3);
    assert_eq!(dtmf.last().unwrap().6, 800);
    // Audio is muted while the digit is sent; sequence numbers stay contiguous across both.
    let first_dtmf_tick = dtmf[0].0;
    let last_dtmf_tick = dtmf.last().unwrap().0;
    assert!(audio.iter().all(|a| a.0 < first_dtmf_tick || a.0 > last_dtmf_tick));
    let mut seqs: Vec<u16> = audio.iter().map(|a| a.1).chain(dtmf.iter().map(|d| d.1)).collect();
    seqs.sort_unstable();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn hold_stops_sending_and_resume_marks_the_first_packet() {
    let mut m = public_pcmu();
    assert_eq!(tick(&mut m, ms(0)).len(), 1);
    m.set_hold(true);
    assert!(tick(&mut m, ms(20)).is_empty());
    m.set_hold(false);
    let sent = tick(&mut m, ms(40));
    assert!(RtpPacket::parse(&sent[0].1).unwrap().marker);
}

#[test]
fn rtcp_reports_rtt_and_bye() {
    let mut m = public_pcmu();
    let src = addr("8.8.4.4:30000");
    let mut srs = Vec::new();
    for k in 0..400u64 {
        m.on_rtp(
            ms(20 * k + 3),
            src,
            &rtp(k as u16, 160 * k as u32, 4, 0, k == 0, &ulaw_tone(k as usize)),
        );
        for (to, b) in tick(&mut m, ms(20 * k)) {
            if is_rtcp(&b) {
                assert_eq!(to, src);
                srs.push((k, b));
            }
        }
    }
    // First report after 2.5 s, then every 5 s.
    assert_eq!(srs.iter().map(|s| s.0).collect::<Vec<_>>(), [125, 375]);
    let pkts: Vec<_> = parse_compound(&srs[1].1).collect::<Result<_, _>>().unwrap();
    let RtcpPacket::Sr(sr) = pkts[0] else {
        panic!("{pkts:?}")
    };
    assert_eq!((sr.ssrc, sr.info.packet_count), (0xabcd, 376));
    let block = sr.blocks().next().unwrap();
    assert_eq!((block.ssrc, block.cumulative_lost, block.highest_seq), (4, 0, 375));
    assert!(matches!(
        pkts[1],
        RtcpPacket::Sdes {
            ssrc: 0xabcd,
            cname: Some(_)
        }
    ));

    // The remote echoes our SR after holding it 100 ms; it arrives 130 ms after we sent it.
    let mut rr = [0u8; 128];
    let echo = ReportBlock {
        ssrc: 0xabcd,
        fraction_lost: 128,
        cumulative_lost: 3,
        highest_seq: 376,
        jitter: 16,
        lsr: sr.info.ntp_middle(),
        dlsr: 6554,
    };
    let n = build_report(&mut rr, 4, None, &[echo], b"remote").unwrap();
    let n2 = build_bye(&mut rr[n..], 4, None).unwrap();
    m.on_rtp(ms(20 * 375 + 130), src, &rr[..n + n2]);
    let q = m.quality();
    assert!((q.rtt_ms.unwrap() - 30.0).abs() < 0.5, "{q:?}");
    assert_eq!(
        (q.remote_fraction_lost, q.remote_cumulative_lost, q.remote_jitter_ms),
        (Some(0.5), Some(3), Some(2.0))
    );
    assert!(events(&mut m).contains(&MediaEvent::RemoteBye));
    assert_eq!(q.rtcp_in, 1);
    let cq: cxb_model::CallQuality = q.into();
    assert_eq!((cq.packets_in, cq.packets_lost), (400, 0));

    let mut bye = Sent::new();
    m.bye(ms(9000), &mut |to, b| bye.push((to, b.to_vec())));
    let pkts: Vec<_> = parse_compound(&bye[0].1).collect::<Result<_, _>>().unwrap();
    assert!(matches!(pkts[2], RtcpPacket::Bye(_)));
}

#[test]
fn garbage_and_comfort_noise_are_tolerated() {
    let mut m = public_pcmu();
    let src = addr("8.8.4.4:30000");
    for junk in [&[][..], &[0x80, 0, 1], &[0xff; 40], &[0x80, 0xc8, 0, 0, 0, 0, 0, 0]] {
        m.on_rtp(ms(1), src, junk);
    }
    m.on_rtp(ms(2), src, &rtp(1, 160, 9, 96, false, &[1, 2, 3]));
    m.on_rtp(ms(3), src, &rtp(2, 320, 9, 13, true, &[40]));
    m.on_rtcp(ms(4), src, &[0x80, 0xc9, 0xff, 0xff]);
    for k in 0..5 {
        tick(&mut m, ms(20 * k));
    }
    let q = m.quality();
    assert_eq!((q.invalid_in, q.packets_in), (4, 1));
}

#[test]
fn codec_change_on_reinvite_keeps_the_call_going() {
    let mut m = public_pcmu();
    let src = addr("8.8.4.4:30000");
    for k in 0..10u64 {
        tick(&mut m, ms(20 * k));
    }
    let neg = negotiated(Encoding::G722, 9, 8000, [8, 8, 4, 4], 30_000);
    let cfg = RtpMediaConfig::from_negotiated(&neg, m.ssrc(), ms(200)).unwrap();
    m.update(cfg).unwrap();
    let mut enc = cxb_dsp::g722::G722Encoder::new();
    for k in 10..60u64 {
        let pcm = tone(1000.0, 16_000, k as usize * 320, 320, 8000.0);
        let mut payload = [0u8; 160];
        enc.encode(&pcm, &mut payload).unwrap();
        m.on_rtp(
            ms(20 * k + 5),
            src,
            &rtp(k as u16, 160 * k as u32, 5, 9, k == 10, &payload),
        );
        let sent = tick(&mut m, ms(20 * k));
        let p = RtpPacket::parse(&sent[0].1).unwrap();
        assert_eq!((p.pt, p.payload.len()), (9, 160));
    }
    assert!(rms(m.last_frames_16k().0) > 3000.0);
}

#[test]
fn reinvite_to_a_new_address_drops_the_old_latch() {
    let mut m = public_pcmu();
    m.on_rtp(ms(5), addr("9.9.9.9:1000"), &rtp(1, 160, 1, 0, true, &ulaw_tone(0)));
    assert_eq!(tick(&mut m, ms(20))[0].0, addr("9.9.9.9:1000"));
    // Same address again: the latch stays.
    let same = negotiated(Encoding::Pcmu, 0, 8000, [8, 8, 4, 4], 30_000);
    m.update(RtpMediaConfig::from_negotiated(&same, m.ssrc(), ms(40)).unwrap())
        .unwrap();
    assert_eq!(tick(&mut m, ms(40))[0].0, addr("9.9.9.9:1000"));
    // Moved to another public address: used at once.
    let moved = negotiated(Encoding::Pcmu, 0, 8000, [1, 1, 1, 1], 40_000);
    m.update(RtpMediaConfig::from_negotiated(&moved, m.ssrc(), ms(60)).unwrap())
        .unwrap();
    assert_eq!(tick(&mut m, ms(60))[0].0, addr("1.1.1.1:40000"));
}
