//! Parse/print tests: real-world samples, round trips, typed views, errors, limits, proptest.

use std::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;

use super::samples::*;
use super::*;

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// print(parse(x)) is a fixed point of parse∘print.
fn assert_stable(s: &str) {
    let first = parse(s).to_string();
    let second = parse(&first).to_string();
    assert_eq!(first, second);
    assert_eq!(parse(&first), parse(s));
}

#[test]
fn all_samples_round_trip_stably() {
    for s in [
        ASTERISK,
        FREESWITCH,
        TWILIO,
        TELNYX,
        BARESIP,
        SIPP_UAC,
        LINPHONE_IP6,
        WEBRTC_SRTP,
        KITCHEN_SINK,
    ] {
        assert_stable(s);
    }
}

#[test]
fn crlf_samples_print_byte_identical() {
    for s in [
        ASTERISK,
        FREESWITCH,
        TWILIO,
        TELNYX,
        SIPP_UAC,
        LINPHONE_IP6,
        WEBRTC_SRTP,
        KITCHEN_SINK,
    ] {
        assert_eq!(parse(s).to_string(), s);
    }
}

#[test]
fn bare_lf_input_prints_crlf() {
    let out = parse(BARESIP).to_string();
    assert_eq!(out, BARESIP.replace('\n', "\r\n"));
    assert_eq!(parse(BARESIP).to_bytes(), out.into_bytes());
}

#[test]
fn kitchen_sink_fields() {
    let sdp = parse(KITCHEN_SINK);
    assert_eq!(sdp.origin.username, "jdoe");
    assert_eq!(sdp.origin.session_version, 2890842807);
    assert_eq!(
        sdp.information.as_deref(),
        Some("A Seminar on the session description protocol")
    );
    assert_eq!(sdp.emails.len(), 1);
    assert_eq!(sdp.phones, ["+1 617 555-6011"]);
    let c = sdp.connection.as_ref().unwrap();
    assert_eq!(
        (c.address.as_str(), c.multicast_suffix.as_deref()),
        ("224.2.17.12", Some("127"))
    );
    assert_eq!(
        sdp.bandwidths,
        [Bandwidth {
            kind: "CT".into(),
            value: 128
        }]
    );
    assert_eq!(sdp.times[0].repeats, ["604800 3600 0 90000"]);
    assert_eq!(sdp.time_zones.as_deref(), Some("2882844526 -1h 2898848070 0"));
    assert_eq!(sdp.key.as_deref(), Some("prompt"));
    assert_eq!(
        sdp.unknown_lines,
        [UnknownLine {
            kind: 'y',
            value: "0123456789".into()
        }]
    );
    assert_eq!(sdp.media.len(), 3);
    let m = &sdp.media[0];
    assert_eq!(m.information.as_deref(), Some("voice"));
    assert_eq!(m.key.as_deref(), Some("clear:secret"));
    assert_eq!(m.unknown_lines[0].kind, 'x');
    assert_eq!(m.attributes, [Attribute::value("x-custom", "1")]);
    assert_eq!((sdp.media[1].port, sdp.media[1].num_ports), (51372, Some(2)));
    assert_eq!(sdp.media[2].formats, ["wb"]);
    // session-level recvonly applies to media without their own direction
    assert_eq!(sdp.media_direction(0), Direction::RecvOnly);
}

#[test]
fn unknown_attributes_keep_their_order() {
    let sdp = parse(BARESIP);
    let names: Vec<&str> = sdp.media[0].attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rtpmap", "fmtp", "rtpmap", "rtpmap", "rtpmap", "fmtp", "rtcp-mux", "sendrecv", "label", "ssrc"
        ]
    );
}

#[test]
fn rtpmap_and_static_payload_types() {
    let sdp = parse(FREESWITCH);
    let codecs = sdp.media[0].codecs();
    let summary: Vec<(u8, &str, u32, u16)> = codecs
        .iter()
        .map(|c| (c.payload_type, c.encoding.name(), c.clock_rate, c.channels))
        .collect();
    assert_eq!(
        summary,
        [
            (9, "G722", 8000, 1),
            (0, "PCMU", 8000, 1),
            (8, "PCMA", 8000, 1),
            (102, "opus", 48000, 2),
            (101, "telephone-event", 8000, 1),
            (13, "CN", 8000, 1),
        ]
    );
    assert_eq!(
        RtpMap::parse("101 telephone-event/48000"),
        Some(RtpMap {
            payload_type: 101,
            encoding: Encoding::TelephoneEvent,
            clock_rate: 48000,
            channels: None
        })
    );
    assert_eq!(RtpMap::parse("96 OPUS/48000/2").unwrap().encoding, Encoding::Opus);
    assert_eq!(RtpMap::parse("200 PCMU/8000"), None);
    assert_eq!(RtpMap::parse("0 PCMU"), None);
    assert_eq!(static_payload_type(13), Some((Encoding::Cn, 8000, 1)));
    assert_eq!(static_payload_type(96), None);
}

#[test]
fn fmtp_views() {
    let sdp = parse(FREESWITCH);
    let m = &sdp.media[0];
    let opus = m.fmtp(102).unwrap().opus();
    assert_eq!(opus.useinbandfec, Some(true));
    assert_eq!(opus.minptime, Some(10));
    assert_eq!(opus.maxplaybackrate, Some(16000));
    assert_eq!(opus.stereo, None);
    let ev = m.fmtp(101).unwrap().telephone_events().unwrap();
    assert!(ev.contains(16) && ev.contains(0) && !ev.contains(17));
    assert_eq!(ev.to_string(), "0-16");
    let odd = EventList::parse("32, 0-11,12-15 ,16").unwrap();
    assert_eq!(odd.to_string(), "0-16,32");
    assert_eq!(odd.intersect(&EventList::range(0, 15)).unwrap().to_string(), "0-15");
    assert_eq!(EventList::parse("5-2"), None);
    assert_eq!(EventList::parse(""), None);
}

#[test]
fn ptime_rtcp_mux_rtcp_attribute() {
    let a = parse(ASTERISK);
    assert_eq!((a.media[0].ptime(), a.media[0].maxptime()), (Some(20), Some(150)));
    assert!(!a.media[0].rtcp_mux());
    let b = parse(BARESIP);
    assert!(b.media[0].rtcp_mux());
    let f = parse(FREESWITCH);
    let rtcp = f.media[0].rtcp().unwrap();
    assert_eq!(rtcp.port, 24643);
    assert_eq!(rtcp.connection.unwrap().ip(), Some("44.201.7.21".parse().unwrap()));
    let t = parse(TELNYX);
    assert_eq!(
        t.media[0].rtcp(),
        Some(RtcpAttribute {
            port: 16391,
            connection: None
        })
    );
}

#[test]
fn direction_session_default_and_media_override() {
    let s = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\na=sendonly\r\n\
             m=audio 1000 RTP/AVP 0\r\nm=audio 1002 RTP/AVP 0\r\na=inactive\r\n";
    let sdp = parse(s);
    assert_eq!(sdp.media_direction(0), Direction::SendOnly);
    assert_eq!(sdp.media_direction(1), Direction::Inactive);
    assert_eq!(parse(SIPP_UAC).media_direction(0), Direction::SendRecv);
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    assert_eq!(Direction::SendRecv.intersect(Direction::RecvOnly), Direction::RecvOnly);
}

#[test]
fn media_connection_falls_back_to_session() {
    let s = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
             m=audio 1000 RTP/AVP 0\r\nm=audio 1002 RTP/AVP 0\r\nc=IN IP4 5.6.7.8\r\n";
    let sdp = parse(s);
    assert_eq!(sdp.media_connection(0).unwrap().address, "1.2.3.4");
    assert_eq!(sdp.media_connection(1).unwrap().address, "5.6.7.8");
    assert!(sdp.media_connection(2).is_some_and(|c| c.address == "1.2.3.4"));
}

#[test]
fn ipv6_connection() {
    let sdp = parse(LINPHONE_IP6);
    let c = sdp.media_connection(0).unwrap();
    assert_eq!(c.addr_type, AddrType::Ip6);
    assert_eq!(
        c.ip(),
        Some(IpAddr::V6("2a01:4f8:c17:1::10".parse::<Ipv6Addr>().unwrap()))
    );
    assert_eq!(sdp.origin.addr_type, AddrType::Ip6);
}

#[test]
fn port_zero_is_rejected_stream() {
    let sdp = parse(&SIPP_UAC.replace("6000", "0"));
    assert!(sdp.media[0].is_rejected());
    assert!(!parse(SIPP_UAC).media[0].is_rejected());
}

#[test]
fn lenient_whitespace_and_blank_lines() {
    let s = "v=0  \r\n\r\no=-  1 1   IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4 \r\nt=0 0\t\r\n\
             m=audio  1000 RTP/AVP  0  8\r\na=rtpmap:0 PCMU/8000 \r\n\r\n";
    let sdp = parse(s);
    assert_eq!(sdp.media[0].formats, ["0", "8"]);
    assert_eq!(sdp.media[0].rtpmap(0).unwrap().encoding, Encoding::Pcmu);
    assert_stable(s);
}

#[test]
fn host_name_connection_is_accepted() {
    let s = SIPP_UAC.replace("c=IN IP4 127.0.1.1", "c=IN IP4 media.example.net");
    let sdp = parse(&s);
    assert_eq!(sdp.connection.as_ref().unwrap().ip(), None);
}

fn err(s: &str) -> SdpError {
    SessionDescription::parse(s.as_bytes()).unwrap_err()
}

#[test]
fn typed_errors() {
    assert_eq!(err(""), SdpError::Missing { kind: 'v' });
    assert_eq!(err("v=0\r\ns=-\r\nt=0 0\r\n"), SdpError::Missing { kind: 'o' });
    assert_eq!(
        err("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\n"),
        SdpError::Missing { kind: 's' }
    );
    assert_eq!(
        err("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"),
        SdpError::Missing { kind: 't' }
    );
    assert_eq!(err("v=1\r\n"), SdpError::BadVersion { line: 1 });
    assert_eq!(err("v=0\r\nv=0\r\n"), SdpError::Duplicate { line: 2, kind: 'v' });
    assert_eq!(
        err("v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n"),
        SdpError::BadOrigin { line: 2 }
    );
    assert_eq!(err("v=0\r\no=- 1 IN IP4 1.2.3.4\r\n"), SdpError::BadOrigin { line: 2 });
    assert_eq!(err("hello\r\n"), SdpError::MalformedLine { line: 1 });
    assert_eq!(err("=0\r\n"), SdpError::MalformedLine { line: 1 });
    let base = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";
    let with = |extra: &str| err(&format!("{base}{extra}"));
    assert_eq!(with("m=audio\r\n"), SdpError::BadMediaLine { line: 5 });
    assert_eq!(with("m=audio 70000 RTP/AVP 0\r\n"), SdpError::BadPort { line: 5 });
    assert_eq!(with("m=audio -1 RTP/AVP 0\r\n"), SdpError::BadPort { line: 5 });
    assert_eq!(with("m=audio 1000/x RTP/AVP 0\r\n"), SdpError::BadPort { line: 5 });
    assert_eq!(
        with("c=IN IP4 1.2.3.999\r\n"),
        SdpError::BadConnectionAddress { line: 5 }
    );
    assert_eq!(
        with("c=IN IP6 1.2.3.4.5\r\n"),
        SdpError::BadConnectionAddress { line: 5 }
    );
    assert_eq!(with("c=IN IP4 a_b\r\n"), SdpError::BadConnectionAddress { line: 5 });
    assert_eq!(with("c=IN IP4\r\n"), SdpError::BadConnection { line: 5 });
    assert_eq!(with("b=AS\r\n"), SdpError::BadBandwidth { line: 5 });
    assert_eq!(with("t=now 0\r\n"), SdpError::BadTiming { line: 5 });
    assert_eq!(err("v=0\r\nr=1 2 3\r\n"), SdpError::BadTiming { line: 2 });
    assert_eq!(
        SessionDescription::parse(b"v=0\r\ns=\xff\r\n").unwrap_err(),
        SdpError::NotUtf8 { line: 2 }
    );
}

#[test]
fn limits_are_enforced() {
    let small = Limits {
        max_lines: 5,
        max_line_len: 80,
        max_media: 1,
    };
    let p = |s: &str| SessionDescription::parse_with_limits(s.as_bytes(), &small);
    assert_eq!(p(SIPP_UAC).unwrap_err(), SdpError::TooManyLines { max: 5 });
    let long = format!("v=0\r\ns={}\r\n", "x".repeat(90));
    assert_eq!(
        p(&long).unwrap_err(),
        SdpError::LineTooLong {
            line: 2,
            len: 92,
            max: 80
        }
    );
    let two = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n";
    let lim = Limits {
        max_lines: 100,
        max_line_len: 100,
        max_media: 1,
    };
    assert_eq!(
        SessionDescription::parse_with_limits(two.as_bytes(), &lim).unwrap_err(),
        SdpError::TooManyMedia { max: 1 }
    );
    let many = format!("{}{}", SIPP_UAC, "a=x\r\n".repeat(600));
    assert_eq!(
        SessionDescription::parse(many.as_bytes()).unwrap_err(),
        SdpError::TooManyLines { max: 512 }
    );
}

#[test]
fn empty_session_name_prints_a_space() {
    let s = SIPP_UAC.replace("s=-", "s=");
    let out = parse(&s).to_string();
    assert!(out.contains("\r\ns= \r\n"));
    assert_stable(&s);
}

fn line() -> impl Strategy<Value = String> {
    let value = "[ -~]{0,30}";
    prop_oneof![
        value.prop_map(|v| format!("a={v}")),
        "[a-z]{1,10}(:[ -~]{0,20})?".prop_map(|v| format!("a={v}")),
        "[a-z]{2,8} [0-9]{1,5} RTP/AVP( [0-9]{1,3}){0,4}".prop_map(|v| format!("m={v}")),
        "(IN IP4 ([0-9]{1,3}\\.){3}[0-9]{1,3}|IN IP6 [0-9a-f:]{2,20}|IN IP4 [a-z]{1,8}\\.com)"
            .prop_map(|v| format!("c={v}")),
        "[A-Z]{2,4}:[0-9]{1,6}".prop_map(|v| format!("b={v}")),
        "[0-9]{1,10} [0-9]{1,10}".prop_map(|v| format!("t={v}")),
        ("[ikuepzry]", value).prop_map(|(k, v)| format!("{k}={v}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    /// Whatever we accept prints to a fixed point, and the printed form parses to an equal value.
    #[test]
    fn proptest_round_trip(lines in proptest::collection::vec(line(), 0..24), lf in any::<bool>()) {
        let mut s = String::from("v=0\r\no=- 12 34 IN IP4 192.0.2.1\r\ns=x\r\nt=0 0\r\n");
        for l in &lines {
            s.push_str(l);
            s.push_str(if lf { "\n" } else { "\r\n" });
        }
        if let Ok(sdp) = SessionDescription::parse(s.as_bytes()) {
            let printed = sdp.to_string();
            let again = SessionDescription::parse(printed.as_bytes()).expect("printed SDP parses");
            prop_assert_eq!(&again, &sdp);
            prop_assert_eq!(again.to_string(), printed);
        }
    }
}
