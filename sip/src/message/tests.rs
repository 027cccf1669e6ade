//! Unit tests of the message parser, printer and builders.

use bytes::Bytes;

use super::*;
use crate::error::{HeaderFault, ParseError};
use crate::header::{Contact, HeaderName, HeaderValue, RPort, Transport, ViaSpec};
use crate::uri::Scheme;

use super::samples::INVITE;

#[test]
fn typical_invite_fields() {
    assert_eq!(INVITE.len() - INVITE.find("\r\n\r\n").unwrap() - 4, 264);
    let m = Message::parse_strict(INVITE, &Limits::default()).unwrap();
    let Message::Request(r) = &m else { panic!() };
    assert_eq!(r.method(), &Method::Invite);
    assert_eq!(r.uri().user(), Some("+14155550123"));
    assert_eq!(r.uri().param("user"), Some(Some("phone")));
    let h = r.headers();
    let via = h.via().unwrap();
    assert_eq!(via.transport, Transport::Udp);
    assert_eq!((via.host, via.port), ("198.51.100.7", Some(5060)));
    assert_eq!(via.branch(), Some("z9hG4bK-524287-1---77ab1f0e3c1d"));
    assert_eq!(via.rport(), Some(RPort::Requested));
    assert_eq!(h.from().unwrap().tag(), Some("as5f1e2a7b"));
    assert_eq!(h.from().unwrap().display_name().unwrap(), "ACME Corp");
    assert_eq!(h.to().unwrap().tag(), None);
    assert_eq!(h.call_id().unwrap(), "3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7");
    assert_eq!(h.cseq().unwrap().seq, 102);
    assert_eq!(h.max_forwards().unwrap(), Some(69));
    assert_eq!(h.content_length().unwrap(), Some(264));
    assert!(h.content_type().unwrap().unwrap().is_sdp());
    assert!(h.has_token(HeaderName::Supported, "100rel"));
    assert_eq!(
        h.p_asserted_identities().next().unwrap().unwrap().uri().host_str(),
        "carrier.example.net"
    );
    assert!(m.body().starts_with(b"v=0\r\n"));
    assert_eq!(h.get_by_name("user-agent"), Some(&b"CarrierSBC/4.2"[..]));
    // Exact round trip.
    assert_eq!(m.to_bytes(), INVITE.as_bytes());
    assert_eq!(m.encoded_len(), INVITE.len());
}

#[test]
fn compact_forms_folding_and_bare_lf() {
    let raw = "OPTIONS sip:a@example.com SIP/2.0\n\
v: SIP/2.0/TCP h.example.com;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1:5070\n ;branch=z9hG4bK2;received=10.0.0.9;rport=5071\n\
f: <sip:b@example.com>;tag=1\nt: sip:a@example.com\ni: abc@h\nCSeq: 5 OPTIONS\nm: *\n\
X-Folded: one\n\t two\n   three\nl: 0\n\n";
    let m = Message::parse_strict(raw, &Limits::default()).unwrap();
    let h = m.headers();
    let vias: Vec<_> = h.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].port, Some(5070));
    assert_eq!(vias[1].rport(), Some(RPort::Value(5071)));
    assert_eq!(vias[1].received(), Some("10.0.0.9"));
    assert_eq!(h.get_by_name("x-folded"), Some(&b"one two three"[..]));
    assert_eq!(h.contacts().next().unwrap().unwrap(), Contact::Star);
    let norm = m.to_normalized_bytes();
    let text = std::str::from_utf8(&norm).unwrap();
    assert!(text.contains("\r\nVia: SIP/2.0/TCP"), "{text}");
    assert!(text.contains("\r\nCall-ID: abc@h\r\n"));
    assert!(text.contains("\r\nContent-Length: 0\r\n\r\n"));
    // Normalized output parses to the same header values.
    let again = Message::parse(norm.clone()).unwrap();
    assert_eq!(again.to_normalized_bytes(), norm);
}

#[test]
fn body_rules() {
    let base = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\n\
To: <sip:a@b>\r\nCall-ID: q\r\nCSeq: 1 MESSAGE\r\n";
    let long = format!("{base}Content-Length: 3\r\n\r\nabcdef");
    assert_eq!(Message::parse(long).unwrap().body(), b"abc");
    let short = format!("{base}Content-Length: 30\r\n\r\nabc");
    assert_eq!(
        Message::parse(short).unwrap_err(),
        ParseError::BodyTooShort {
            declared: 30,
            available: 3
        }
    );
    let none = format!("{base}\r\nxyz");
    assert_eq!(Message::parse(none).unwrap().body(), b"xyz");
    let neg = format!("{base}Content-Length: -1\r\n\r\n");
    assert!(matches!(
        Message::parse(neg).unwrap_err(),
        ParseError::MalformedHeader {
            name: HeaderName::ContentLength,
            fault: HeaderFault::Number
        }
    ));
    let two = format!("{base}Content-Length: 0\r\nl: 0\r\n\r\n");
    assert_eq!(
        Message::parse(two).unwrap_err(),
        ParseError::DuplicateHeader(HeaderName::ContentLength)
    );
}

#[test]
fn errors_have_status_and_reason() {
    let no_callid = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\n\
To: <sip:a@b>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let e = Message::parse(no_callid).unwrap_err();
    assert_eq!(e.status_line(), "400 Bad Request - Missing Call-ID header");
    let r = error_response(no_callid.as_bytes(), &e, "srv1").unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers().to().unwrap().tag(), Some("srv1"));
    assert_eq!(r.headers().via().unwrap().branch(), Some("z9hG4bK1"));
    let reparsed = Response::parse(r.to_bytes());
    assert!(matches!(reparsed, Err(ParseError::MissingHeader(HeaderName::CallId))));

    let bad_via = no_callid
        .replace("CSeq", "Call-ID: x\r\nCSeq")
        .replace("h;branch", "h;;branch");
    let e = Message::parse_strict(bad_via, &Limits::default()).unwrap_err();
    assert_eq!(e.status_line(), "400 Bad Request - Malformed Via header");
    let vers = no_callid.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia");
    assert_eq!(
        Message::parse(vers).unwrap_err().status_line(),
        "505 Version Not Supported"
    );
    let scheme = no_callid.replace("sip:a@b SIP", "http:a SIP");
    assert_eq!(Message::parse(scheme).unwrap_err().status_code(), 416);
    let big = Message::parse_with(
        no_callid,
        &Limits {
            max_message_bytes: 10,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(big.status_code(), 413);
    let long_uri = no_callid.replace("sip:a@b SIP", &format!("sip:{}@b SIP", "a".repeat(5000)));
    let e = Message::parse_with(
        long_uri,
        &Limits {
            max_message_bytes: 1 << 20,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.status_code(), 414);
    let many: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    let e = Message::parse(no_callid.replace("\r\n\r\n", &format!("\r\n{many}\r\n"))).unwrap_err();
    assert_eq!(e, ParseError::TooManyHeaders { limit: 256 });
    assert_eq!(Message::parse("\r\n\r\n").unwrap_err(), ParseError::Empty);
    assert_eq!(
        Message::parse("SIP/2.0 200 OK\r\nVia: x\r\n").unwrap_err(),
        ParseError::Incomplete
    );
    assert!(error_response(b"SIP/2.0 200 OK\r\n\r\n", &ParseError::Empty, "t").is_none());
}

#[test]
fn build_print_parse_round_trip() {
    let mut req = Request::new(Method::Invite, "sip:bob@example.com").unwrap();
    let via = ViaSpec {
        transport: Transport::Udp,
        host: "10.0.0.1",
        port: Some(5060),
        branch: "z9hG4bKabc",
        rport: true,
    };
    let h = req.headers_mut();
    h.push(HeaderName::Via, via.to_string());
    h.push(HeaderName::MaxForwards, "70");
    h.push(HeaderName::From, "<sip:alice@a.example>;tag=9fxced76sl");
    h.push(HeaderName::To, "<sip:bob@example.com>");
    h.push(
        HeaderName::CallId,
        HeaderValue::copy_from("3848276298220188511@a.example"),
    );
    h.push(HeaderName::CSeq, "1 INVITE");
    h.push_named("X-Campaign-Id", "42");
    req.set_body(Some("application/sdp".into()), Bytes::from_static(b"v=0\r\n"));
    let wire = req.to_bytes();
    let parsed = Request::parse(wire.clone()).unwrap();
    assert_eq!(parsed, req);
    assert_eq!(parsed.to_bytes(), wire);
    assert_eq!(parsed.headers().content_length().unwrap(), Some(5));
    assert_eq!(parsed.headers().get_by_name("x-campaign-id"), Some(&b"42"[..]));

    let mut resp = Response::from_request(&parsed, 200, "OK");
    assert!(resp.set_to_tag("as83kd"));
    let resp_wire = resp.to_bytes();
    let r2 = Response::parse(resp_wire.clone()).unwrap();
    assert_eq!(r2, resp);
    assert_eq!(r2.headers().to().unwrap().tag(), Some("as83kd"));
    assert_eq!(r2.headers().cseq().unwrap().method, Method::Invite);
    assert_eq!(r2.to_bytes(), resp_wire);
    assert_eq!(parsed.uri().scheme(), Scheme::Sip);
}

#[test]
fn request_line_strictness() {
    let tail = " SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\n\
Call-ID: q\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    for (line, want) in [
        ("OPTIONS  sip:a@b", 400),
        ("OPTIONS <sip:a@b>", 400),
        ("OPTIONS sip:a@b; lr", 400),
        ("OPTIONS sip:a@b?Route=%3Csip:x%3E", 400),
        ("OPTIONS sip:a@b SIP/2.0 ", 400),
    ] {
        let e = Message::parse(format!("{line}{tail}")).unwrap_err();
        assert_eq!(e.status_code(), want, "{line}: {e}");
    }
    let e = Message::parse(format!("INVITE sip:a@b{tail}")).unwrap_err();
    assert_eq!(e, ParseError::CSeqMethodMismatch);
}
