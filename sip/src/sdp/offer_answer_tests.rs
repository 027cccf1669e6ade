//! Offer/answer tests (RFC 3264): codec choice, telephone-event, directions and hold, rejected
//! streams, re-INVITE, late offer, 488 paths, remote address hints.

use std::net::{IpAddr, Ipv4Addr};

use super::samples::*;
use super::*;

const OUR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(35, 180, 1, 2));

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s.as_bytes()).unwrap()
}

fn session() -> AudioSession {
    AudioSession::new(LocalCapabilities::new(OUR_IP, 40000), 777, 1)
}

fn answer(s: &str) -> Answered {
    session().answer_offer(&parse(s)).unwrap()
}

/// The printed answer must itself be valid SDP that parses back to the same value.
fn reparse(sdp: &SessionDescription) -> SessionDescription {
    let back = SessionDescription::parse(&sdp.to_bytes()).unwrap();
    assert_eq!(&back, sdp);
    back
}

#[test]
fn asterisk_offer_gets_pcmu_and_telephone_event() {
    let a = answer(ASTERISK);
    let n = &a.audio;
    assert_eq!(
        (n.codec.clone(), n.payload_type, n.clock_rate, n.channels),
        (Encoding::Pcmu, 0, 8000, 1)
    );
    assert_eq!(n.telephone_event_pt, Some(101));
    assert_eq!(n.ptime, 20);
    assert_eq!(n.remote_rtp.socket_addr(), "34.120.8.10:10554".parse().unwrap());
    assert_eq!(n.remote_rtcp.socket_addr(), "34.120.8.10:10555".parse().unwrap());
    assert!(!n.rtcp_mux);
    assert_eq!((n.direction, n.hold), (Direction::SendRecv, HoldState::Active));
    assert!(!n.remote_rtp.is_private_or_unusable());
    let text = a.sdp.to_string();
    assert_eq!(
        text,
        "v=0\r\no=cxb 777 1 IN IP4 35.180.1.2\r\ns=cxb\r\nc=IN IP4 35.180.1.2\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    reparse(&a.sdp);
}

#[test]
fn freeswitch_offer_g722_first_with_rtcp_attribute() {
    let a = answer(FREESWITCH);
    assert_eq!(
        (a.audio.codec.clone(), a.audio.payload_type, a.audio.clock_rate),
        (Encoding::G722, 9, 8000)
    );
    assert_eq!(a.audio.telephone_event_pt, Some(101));
    assert_eq!(a.audio.remote_rtcp.socket_addr(), "44.201.7.21:24643".parse().unwrap());
    assert!(
        a.sdp
            .to_string()
            .contains("m=audio 40000 RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\n")
    );
}

#[test]
fn prefer_local_order_when_configured() {
    let mut caps = LocalCapabilities::new(OUR_IP, 40000);
    caps.prefer_local_order = true;
    let a = AudioSession::new(caps, 1, 1).answer_offer(&parse(FREESWITCH)).unwrap();
    assert_eq!(a.audio.codec, Encoding::Pcmu);
}

#[test]
fn telnyx_unsupported_first_codec_is_skipped_and_rtcp_port_used() {
    let a = answer(TELNYX);
    assert_eq!(a.audio.codec, Encoding::Pcmu);
    assert_eq!(
        a.audio.remote_rtcp.socket_addr(),
        "192.76.120.10:16391".parse().unwrap()
    );
}

#[test]
fn opus_uses_48k_telephone_event_and_ipv6() {
    let caps = LocalCapabilities::new("2a05:d014::1".parse().unwrap(), 40000);
    let a = AudioSession::new(caps, 5, 9)
        .answer_offer(&parse(LINPHONE_IP6))
        .unwrap();
    assert_eq!(
        (
            a.audio.codec.clone(),
            a.audio.payload_type,
            a.audio.clock_rate,
            a.audio.channels
        ),
        (Encoding::Opus, 96, 48000, 2)
    );
    assert_eq!(
        a.audio.telephone_event_pt,
        Some(101),
        "telephone-event/48000 goes with opus"
    );
    assert_eq!(a.audio.remote_fmtp.as_deref(), Some("useinbandfec=1"));
    assert_eq!(
        a.audio.remote_rtp.socket_addr(),
        "[2a01:4f8:c17:1::10]:7078".parse().unwrap()
    );
    let text = a.sdp.to_string();
    assert!(text.contains("c=IN IP6 2a05:d014::1\r\n"));
    assert!(text.contains(
        "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 minptime=10;useinbandfec=1\r\na=rtpmap:101 telephone-event/48000\r\n"
    ));
    assert!(
        text.contains("a=fmtp:101 0-15\r\n"),
        "no fmtp offered: RFC 4733 default 0-15"
    );
    reparse(&a.sdp);
}

#[test]
fn opus_without_48k_telephone_event_gets_none_and_nat_hint() {
    let a = answer(BARESIP);
    assert_eq!(a.audio.codec, Encoding::Opus);
    assert_eq!(
        a.audio.telephone_event_pt, None,
        "telephone-event/8000 does not match opus/48000"
    );
    assert!(a.audio.rtcp_mux);
    assert_eq!(a.audio.remote_rtcp, a.audio.remote_rtp);
    assert!(
        a.audio.remote_rtp.is_private_or_unusable(),
        "192.168/16 is a latch hint only"
    );
    assert!(a.sdp.media[0].rtcp_mux());
}

#[test]
fn sipp_default_offer() {
    let a = answer(SIPP_UAC);
    assert_eq!(a.audio.codec, Encoding::Pcmu);
    assert_eq!(a.audio.telephone_event_pt, None);
    assert!(a.audio.remote_rtp.is_private_or_unusable());
    assert_eq!(a.sdp.media[0].formats, ["0"]);
}

#[test]
fn no_common_codec_is_488_and_keeps_state() {
    let mut s = session();
    s.answer_offer(&parse(TWILIO)).unwrap();
    let before = s.negotiated().cloned();
    let g729 = "v=0\r\no=- 1 2 IN IP4 54.1.1.1\r\ns=-\r\nc=IN IP4 54.1.1.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 18 101\r\n\
                a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let e = s.answer_offer(&parse(g729)).unwrap_err();
    assert_eq!(e, OfferAnswerError::NoCommonCodec);
    assert_eq!(e.status_code(), 488);
    assert_eq!(s.negotiated().cloned(), before);
    assert_eq!(s.local_description().unwrap().origin.session_version, 1);
}

#[test]
fn srtp_only_offer_is_488() {
    let e = session().answer_offer(&parse(WEBRTC_SRTP)).unwrap_err();
    assert_eq!(
        e,
        OfferAnswerError::UnsupportedTransport {
            proto: "UDP/TLS/RTP/SAVPF".into()
        }
    );
    assert_eq!(e.status_code(), 488);
    let video_only =
        "v=0\r\no=- 1 2 IN IP4 54.1.1.1\r\ns=-\r\nc=IN IP4 54.1.1.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    assert_eq!(
        session().answer_offer(&parse(video_only)).unwrap_err(),
        OfferAnswerError::NoAudio
    );
}

#[test]
fn missing_connection_is_488() {
    let s = "v=0\r\no=- 1 2 IN IP4 54.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
    let e = session().answer_offer(&parse(s)).unwrap_err();
    assert_eq!(e, OfferAnswerError::NoConnectionAddress { media_index: 0 });
    assert_eq!(e.status_code(), 488);
}

#[test]
fn non_audio_and_rejected_lines_answered_with_port_zero() {
    let s = "v=0\r\no=- 1 2 IN IP4 54.1.1.1\r\ns=-\r\nc=IN IP4 54.1.1.1\r\nt=0 0\r\n\
             m=audio 0 RTP/AVP 0\r\n\
             m=video 5002 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\n\
             m=audio 5000 RTP/AVP 8 0\r\n\
             m=image 5004 udptl t38\r\n\
             m=audio 5006 RTP/AVP 0\r\n";
    let a = answer(s);
    assert_eq!(a.audio.media_index, 2);
    assert_eq!(a.audio.codec, Encoding::Pcma);
    let m = &a.sdp.media;
    assert_eq!(m.len(), 5, "one answer m= per offer m=");
    let lines: Vec<(&str, u16, &str, Vec<&str>)> = m
        .iter()
        .map(|m| {
            (
                m.media.as_str(),
                m.port,
                m.proto.as_str(),
                m.formats.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("audio", 0, "RTP/AVP", vec!["0"]),
            ("video", 0, "RTP/AVP", vec!["96", "97"]),
            ("audio", 40000, "RTP/AVP", vec!["8"]),
            ("image", 0, "udptl", vec!["t38"]),
            ("audio", 0, "RTP/AVP", vec!["0"]),
        ]
    );
    reparse(&a.sdp);
}

fn with_dir(base: &str, attr: &str) -> String {
    base.replace("a=sendrecv\r\n", attr)
}

#[test]
fn directions_are_mirrored() {
    let cases = [
        ("a=sendonly\r\n", Direction::RecvOnly, HoldState::Remote),
        ("a=inactive\r\n", Direction::Inactive, HoldState::Remote),
        ("a=recvonly\r\n", Direction::SendOnly, HoldState::Active),
        ("a=sendrecv\r\n", Direction::SendRecv, HoldState::Active),
        ("", Direction::SendRecv, HoldState::Active),
    ];
    for (attr, dir, hold) in cases {
        let a = answer(&with_dir(TWILIO, attr));
        assert_eq!((a.audio.direction, a.audio.hold), (dir, hold), "{attr}");
        assert_eq!(a.sdp.media_direction(0), dir);
    }
}

#[test]
fn rfc2543_hold_with_zero_address() {
    let a = answer(&TWILIO.replace("c=IN IP4 54.172.60.1", "c=IN IP4 0.0.0.0"));
    assert_eq!(a.audio.hold, HoldState::Remote);
    assert_eq!(a.audio.direction, Direction::RecvOnly);
    assert!(a.audio.remote_rtp.is_private_or_unusable());
}

#[test]
fn hold_and_resume_by_remote_reinvite() {
    let mut s = session();
    let first = s.answer_offer(&parse(ASTERISK)).unwrap();
    assert_eq!(first.sdp.origin.session_version, 1);
    let hold_offer = with_dir(ASTERISK, "a=sendonly\r\n").replace("1630574364 1630574364", "1630574364 1630574365");
    let held = s.answer_offer(&parse(&hold_offer)).unwrap();
    assert!(held.hold_changed && !held.codec_changed);
    assert_eq!(held.audio.hold, HoldState::Remote);
    assert_eq!(held.sdp.media_direction(0), Direction::RecvOnly);
    assert_eq!(
        held.sdp.origin.session_version, 2,
        "our answer changed, so o= version increments"
    );
    let resumed = s.answer_offer(&parse(ASTERISK)).unwrap();
    assert!(resumed.hold_changed);
    assert_eq!(resumed.audio.hold, HoldState::Active);
    assert_eq!(resumed.sdp.media_direction(0), Direction::SendRecv);
    assert_eq!(resumed.sdp.origin.session_version, 3);
}

#[test]
fn session_refresh_keeps_version() {
    let mut s = session();
    let a = s.answer_offer(&parse(TWILIO)).unwrap();
    let b = s.answer_offer(&parse(TWILIO)).unwrap();
    assert_eq!(a.sdp, b.sdp);
    assert!(!b.codec_changed && !b.hold_changed);
}

#[test]
fn codec_change_on_reinvite() {
    let mut s = session();
    assert_eq!(s.answer_offer(&parse(ASTERISK)).unwrap().audio.codec, Encoding::Pcmu);
    let pcma = ASTERISK.replace("RTP/AVP 0 8 9 101", "RTP/AVP 8 101");
    let b = s.answer_offer(&parse(&pcma)).unwrap();
    assert!(b.codec_changed);
    assert_eq!((b.audio.codec, b.audio.payload_type), (Encoding::Pcma, 8));
    assert_eq!(b.sdp.origin.session_version, 2);
}

#[test]
fn late_offer_then_answer_from_ack() {
    let mut s = session();
    let offer = s.create_offer();
    let text = offer.to_string();
    assert!(text.contains("m=audio 40000 RTP/AVP 0 8 9 111 101 110\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"));
    assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"));
    assert!(text.contains("a=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-16\r\n"));
    assert!(text.contains("a=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"));
    reparse(&offer);
    assert!(s.pending_offer().is_some());
    let ack_answer = "v=0\r\no=- 9 9 IN IP4 54.172.60.1\r\ns=-\r\nc=IN IP4 54.172.60.1\r\nt=0 0\r\n\
                      m=audio 12000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
                      a=ptime:30\r\n";
    let n = s.accept_answer(&parse(ack_answer)).unwrap();
    assert_eq!(
        (n.codec.clone(), n.payload_type, n.telephone_event_pt, n.ptime),
        (Encoding::Pcma, 8, Some(101), 30)
    );
    assert_eq!(n.remote_rtcp.port, 12001, "no rtcp-mux in the answer: RTP port + 1");
    assert_eq!((n.direction, n.hold), (Direction::SendRecv, HoldState::Active));
    assert!(s.pending_offer().is_none());
    assert_eq!(s.negotiated(), Some(&n));
}

#[test]
fn late_offer_answer_errors() {
    let mut s = session();
    assert_eq!(
        s.accept_answer(&parse(TWILIO)).unwrap_err(),
        OfferAnswerError::NoOfferPending
    );
    s.create_offer();
    assert_eq!(
        s.accept_answer(&parse(&TWILIO.replace("12878", "0"))).unwrap_err(),
        OfferAnswerError::AnswerRejected
    );
    s.create_offer();
    let two = format!("{TWILIO}m=video 0 RTP/AVP 96\r\n");
    assert_eq!(
        s.accept_answer(&parse(&two)).unwrap_err(),
        OfferAnswerError::AnswerMismatch {
            offered: 1,
            answered: 2
        }
    );
    s.create_offer();
    let g729 = TWILIO.replace("RTP/AVP 0 101", "RTP/AVP 18");
    assert_eq!(
        s.accept_answer(&parse(&g729)).unwrap_err(),
        OfferAnswerError::NoCommonCodec
    );
}

#[test]
fn glare_is_491() {
    let mut s = session();
    s.create_offer();
    let e = s.answer_offer(&parse(TWILIO)).unwrap_err();
    assert_eq!((e.clone(), e.status_code()), (OfferAnswerError::OfferPending, 491));
    s.abandon_offer();
    assert!(s.answer_offer(&parse(TWILIO)).is_ok());
}

#[test]
fn local_hold_and_resume_by_reoffer() {
    let mut s = session();
    s.answer_offer(&parse(FREESWITCH)).unwrap();
    s.set_local_hold(true);
    let hold = s.create_offer();
    assert_eq!(hold.origin.session_version, 2);
    assert_eq!(hold.media_direction(0), Direction::SendOnly);
    assert_eq!(hold.media[0].formats[0], "9", "current codec first in a re-offer");
    let answer = with_dir(FREESWITCH, "a=recvonly\r\n").replace("RTP/AVP 9 0 8 102 101 13", "RTP/AVP 9 101");
    let n = s.accept_answer(&parse(&answer)).unwrap();
    assert_eq!((n.direction, n.hold), (Direction::SendOnly, HoldState::Local));
    // A remote re-INVITE while we hold: we stay sendonly.
    let a = s.answer_offer(&parse(FREESWITCH)).unwrap();
    assert_eq!(
        (a.audio.direction, a.audio.hold),
        (Direction::SendOnly, HoldState::Local)
    );
    s.set_local_hold(false);
    let resume = s.create_offer();
    assert_eq!(resume.media_direction(0), Direction::SendRecv);
    assert!(resume.origin.session_version > hold.origin.session_version);
    let n = s.accept_answer(&parse(FREESWITCH)).unwrap();
    assert_eq!((n.direction, n.hold), (Direction::SendRecv, HoldState::Active));
}

#[test]
fn reoffer_keeps_rejected_streams() {
    let mut s = session();
    let offer = format!("{TWILIO}m=video 5002 RTP/AVP 96\r\n");
    s.answer_offer(&parse(&offer)).unwrap();
    let re = s.create_offer();
    assert_eq!(re.media.len(), 2);
    assert_eq!((re.media[1].media.as_str(), re.media[1].port), ("video", 0));
}

#[test]
fn private_and_unusable_addresses() {
    let un = |s: &str| ip_is_private_or_unusable(s.parse().unwrap());
    for a in [
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.10",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "ff02::1",
    ] {
        assert!(un(a), "{a}");
    }
    for a in [
        "54.172.60.1",
        "172.32.0.1",
        "100.128.0.1",
        "8.8.8.8",
        "2a01:4f8:c17:1::10",
        "::ffff:54.172.60.1",
    ] {
        assert!(!un(a), "{a}");
    }
    assert!(
        RemoteAddr {
            ip: "54.172.60.1".parse().unwrap(),
            port: 0
        }
        .is_private_or_unusable()
    );
}

#[test]
fn host_name_connection_is_a_hint_only() {
    let a = answer(&TWILIO.replace("c=IN IP4 54.172.60.1", "c=IN IP4 media.twilio.example"));
    assert!(a.audio.remote_rtp.is_private_or_unusable());
}
