//! RFC 4475 torture messages (`tests/sip/torture/*.sip`): valid ones parse with the expected
//! typed values, invalid ones get the error (and status code) a UA answers with.

use cxb_sip::error::{HeaderFault, ParseError};
use cxb_sip::header::{Contact, HeaderName, RPort, Transport};
use cxb_sip::message::{Limits, Message, Method, error_response};
use cxb_sip::uri::Scheme;

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/sip/torture/{name}.sip", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn valid(name: &str) -> Message {
    let raw = load(name);
    let m = Message::parse_strict(raw.clone(), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Printing and re-parsing gives the same message, and printing is then a fixed point.
    let printed = m.to_bytes();
    let again = Message::parse_strict(printed.clone(), &Limits::default()).unwrap();
    assert_eq!(again, m, "{name}");
    assert_eq!(again.to_bytes(), printed, "{name}");
    let normalized = Message::parse_strict(m.to_normalized_bytes(), &Limits::default()).unwrap();
    assert_eq!(normalized.body(), m.body(), "{name}");
    m
}

fn invalid(name: &str) -> ParseError {
    match Message::parse_strict(load(name), &Limits::default()) {
        Ok(_) => panic!("{name} accepted"),
        Err(e) => e,
    }
}

#[test]
fn wsinv_short_tortuous_invite() {
    let m = valid("wsinv");
    let r = m.as_request().unwrap();
    assert_eq!(r.method(), &Method::Invite);
    assert_eq!(r.uri().param("unknownparam"), Some(None));
    let h = r.headers();
    let to = h.to().unwrap();
    assert_eq!(to.uri().as_str(), "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.display_name().unwrap(), "J Rosenberg \\\"");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.content_length().unwrap(), Some(150));
    let vias: Vec<_> = h.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport, vias[0].host, vias[0].branch()),
        (Transport::Udp, "192.0.2.2", Some("390skdjuw"))
    );
    assert_eq!(
        (vias[1].transport, vias[1].host, vias[1].branch()),
        (Transport::Tcp, "spindle.example.com", Some("z9hG4bK9ikj8"))
    );
    assert_eq!(
        (vias[2].host, vias[2].branch()),
        ("192.168.255.111", Some("z9hG4bK30239"))
    );
    assert_eq!(h.get(HeaderName::Subject), Some(&b""[..]));
    assert_eq!(
        h.get_by_name("newfangledheader"),
        Some(&b"newfangled value continued newfangled value"[..])
    );
    assert_eq!(h.get_by_name("UnknownHeaderWithUnusualValue"), Some(&b";;,,;;,;"[..]));
    let route = h.routes().next().unwrap().unwrap();
    assert!(route.uri().is_loose_route());
    assert_eq!(route.uri().param("unknown-no-value"), Some(None));
    let Contact::Addr(c) = h.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.display_name().unwrap(), "Quoted string \"\"");
    assert_eq!(c.param("newparam"), Some(Some("newvalue")));
    assert_eq!(c.param("secondparam"), Some(None));
    assert_eq!(c.q(), Some(330));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    let m = valid("intmeth");
    let r = m.as_request().unwrap();
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(r.method().as_str(), method);
    let uri = r.uri();
    assert_eq!(uri.user(), Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
    assert_eq!(uri.password(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
    assert_eq!(uri.host_str(), "example.com");
    let h = r.headers();
    assert_eq!(h.to().unwrap().display_name().unwrap(), "BEL:\u{7} NUL:\0 DEL:\u{7f}");
    let from = h.from().unwrap();
    assert_eq!(from.display_name_raw(), Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(from.param("fromParam''~+*_!.-%"), Some(Some("\"работающий\"")));
    assert_eq!(h.call_id().unwrap(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(h.cseq().unwrap().method.as_str(), method);
    assert_eq!(h.max_forwards().unwrap(), Some(255));
    assert_eq!(h.via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        h.get_by_name("extensionHeader-!.%*+_`'~")
            .map(|v| std::str::from_utf8(v).unwrap()),
        Some("\u{feff}大停電")
    );
}

#[test]
fn esc01_escnull_esc02_escapes() {
    let m = valid("esc01");
    let r = m.as_request().unwrap();
    assert_eq!(r.uri().user_unescaped().unwrap().as_ref(), b"sips:user@example.com");
    let h = r.headers();
    assert_eq!(h.to().unwrap().uri().user_unescaped().unwrap().as_ref(), b"user");
    assert_eq!(
        h.from().unwrap().uri().user_unescaped().unwrap().as_ref(),
        b"I have spaces"
    );
    assert!(h.content_type().unwrap().unwrap().is_sdp());
    let Contact::Addr(c) = h.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.uri().param("n%61me"), Some(Some("v%61lue%25%34%31")));

    let m = valid("escnull");
    let h = m.headers();
    assert_eq!(
        h.to().unwrap().uri().user_unescaped().unwrap().as_ref(),
        b"null-\0-null"
    );
    assert_eq!(h.contacts().count(), 2);
    assert_eq!(h.content_length().unwrap(), Some(0));

    let m = valid("esc02");
    let r = m.as_request().unwrap();
    assert_eq!(r.method(), &Method::Extension("RE%47IST%45R".into()));
    assert_eq!(r.headers().contacts().count(), 2, "C%6Fntact is an unknown header");
    assert_eq!(
        r.headers().get_by_name("C%6Fntact"),
        Some(&b"<sip:alias2@host2.example.com>"[..])
    );
    assert_eq!(r.headers().to().unwrap().display_name().unwrap(), "%Z%45");
}

#[test]
fn lwsdisp_longreq_dblreq_semiuri_transports() {
    let m = valid("lwsdisp");
    assert_eq!(m.headers().from().unwrap().display_name_raw(), Some("caller"));

    let m = valid("longreq");
    let h = m.headers();
    assert_eq!(h.vias().count(), 34);
    assert_eq!(h.vias().last().unwrap().unwrap().received(), Some("192.0.2.5"));
    assert_eq!(h.to().unwrap().uri().port(), Some(6000));
    assert!(h.from().unwrap().tag().unwrap().len() > 150);
    assert_eq!(m.body().len(), 150);

    let m = valid("dblreq");
    assert_eq!(m.as_request().unwrap().method(), &Method::Register);
    assert!(m.body().is_empty(), "trailing octets after Content-Length are dropped");

    let m = valid("semiuri");
    let uri = m.as_request().unwrap().uri();
    assert_eq!(uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(uri.host_str(), "example.com");
    assert!(uri.params().is_empty());
    assert_eq!(m.headers().tokens(HeaderName::Accept).count(), 6);

    let m = valid("transports");
    let t: Vec<_> = m.headers().vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(
        t,
        [
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other,
            Transport::Tcp
        ]
    );
    assert_eq!(m.headers().vias().nth(3).unwrap().unwrap().transport_str, "UNKNOWN");
}

#[test]
fn mpart01_unreason_noreason() {
    let m = valid("mpart01");
    let ct = m.headers().content_type().unwrap().unwrap();
    assert!(ct.is("multipart", "mixed"));
    assert_eq!(ct.params.get("boundary"), Some(Some("7a9cbec02ceef655")));
    assert_eq!(m.headers().via().unwrap().rport(), Some(RPort::Requested));
    assert!(m.body().ends_with(b"--7a9cbec02ceef655--\r\n"));

    let m = valid("unreason");
    let r = m.as_response().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.reason(), "= 2**3 * 5**2 но сто девяносто девять - простое");

    let m = valid("noreason");
    let r = m.as_response().unwrap();
    assert_eq!((r.status(), r.reason().as_ref()), (100, ""));
}

fn assert_error(name: &str, status: u16, expected: ParseError) {
    let e = invalid(name);
    assert_eq!(e, expected, "{name}");
    assert_eq!(e.status_code(), status, "{name}");
}

#[test]
fn invalid_messages_rfc4475_3_1_2() {
    use HeaderName as H;
    let malformed = |name, fault| ParseError::MalformedHeader { name, fault };
    assert_error("badinv01", 400, malformed(H::Via, HeaderFault::Param));
    assert_error(
        "clerr",
        400,
        ParseError::BodyTooShort {
            declared: 9999,
            available: 154,
        },
    );
    assert_error("ncl", 400, malformed(H::ContentLength, HeaderFault::Number));
    assert_error("scalar02", 400, malformed(H::CSeq, HeaderFault::Number));
    assert_error("scalarlg", 400, malformed(H::CSeq, HeaderFault::Number));
    assert_error("quotbal", 400, malformed(H::To, HeaderFault::UnterminatedQuote));
    assert!(matches!(invalid("ltgtruri"), ParseError::MalformedRequestUri(_)));
    assert_error("lwsruri", 400, ParseError::MalformedRequestLine);
    assert_error("lwsstart", 400, ParseError::MalformedRequestLine);
    assert_error("trws", 400, ParseError::MalformedRequestLine);
    assert_error("escruri", 400, ParseError::HeadersInRequestUri);
    assert_error("regbadct", 400, malformed(H::Contact, HeaderFault::UnenclosedUri));
    assert!(matches!(
        invalid("badaspec"),
        ParseError::MalformedHeader {
            name: H::To,
            fault: HeaderFault::Uri(_)
        }
    ));
    assert_error("baddn", 400, malformed(H::From, HeaderFault::DisplayName));
    assert_error("badvers", 505, ParseError::BadVersion);
    assert_error("mismatch01", 400, ParseError::CSeqMethodMismatch);
    assert_error("mismatch02", 400, ParseError::CSeqMethodMismatch);
    assert_error("bigcode", 400, ParseError::MalformedStatusLine);
    // baddate: the RFC allows accepting it (the Date value is not needed for processing).
    valid("baddate");
}

#[test]
fn application_layer_rfc4475_3_2_to_3_4() {
    assert_error("insuf", 400, ParseError::MissingHeader(HeaderName::CallId));
    assert_eq!(
        invalid("insuf").status_line(),
        "400 Bad Request - Missing Call-ID header"
    );
    assert_error("unkscm", 416, ParseError::UnsupportedUriScheme);
    assert_error("novelsc", 416, ParseError::UnsupportedUriScheme);
    assert_error("multi01", 400, ParseError::DuplicateHeader(HeaderName::CallId));
    assert_error("mcl01", 400, ParseError::DuplicateHeader(HeaderName::ContentLength));

    let m = valid("unksm2");
    assert_eq!(m.headers().to().unwrap().uri().scheme(), Scheme::Other);
    assert_eq!(m.headers().from().unwrap().uri().scheme_str(), "http");
    let m = valid("bext01");
    assert!(m.headers().has_token(HeaderName::Require, "nothingSupportsThisEither"));
    assert_eq!(m.headers().tokens(HeaderName::ProxyRequire).count(), 2);
    let m = valid("invut");
    assert_eq!(m.body().len(), 40);
    let m = valid("regaut01");
    assert_eq!(
        m.headers().auth_values(HeaderName::Authorization).next(),
        Some(&b"NoOneKnowsThisScheme opaque-data=here"[..])
    );
    let m = valid("zeromf");
    assert_eq!(m.headers().max_forwards().unwrap(), Some(0));
    let m = valid("cparam01");
    let Contact::Addr(c) = m.headers().contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.param("unknownparam"), c.uri().param("unknownparam")),
        (Some(None), None)
    );
    let m = valid("cparam02");
    let Contact::Addr(c) = m.headers().contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.param("unknownparam"), c.uri().param("unknownparam")),
        (None, Some(None))
    );
    let m = valid("regescrt");
    let Contact::Addr(c) = m.headers().contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.uri().headers().next(), Some(("Route", "%3Csip:sip.example.com%3E")));
    valid("sdp01");
    let m = valid("bcast");
    assert_eq!(m.headers().vias().nth(1).unwrap().unwrap().host, "255.255.255.255");
    let m = valid("badbranch");
    assert_eq!(m.headers().via().unwrap().branch(), Some("z9hG4bK"));
    let m = valid("inv2543");
    assert_eq!(m.headers().via().unwrap().branch(), None);
    assert_eq!(m.headers().content_length().unwrap(), None);
    assert!(m.body().starts_with(b"v=0"));
}

#[test]
fn error_responses_for_invalid_requests() {
    for (name, status) in [
        ("badinv01", 400),
        ("insuf", 400),
        ("unkscm", 416),
        ("badvers", 505),
        ("mcl01", 400),
    ] {
        let raw = load(name);
        let e = invalid(name);
        let resp = error_response(&raw, &e, "cxb1").unwrap_or_else(|| panic!("{name}: no response"));
        assert_eq!(resp.status(), status, "{name}");
        assert!(resp.reason().starts_with(&e.reason_phrase()[..5]), "{name}");
        // The response is well formed apart from what the request lacked.
        let printed = resp.to_bytes();
        match Message::parse(printed.clone()) {
            Ok(m) => assert_eq!(m.to_bytes(), printed),
            Err(pe) => assert!(matches!(pe, ParseError::MissingHeader(_)), "{name}: {pe}"),
        }
    }
    // Responses are never answered.
    assert!(error_response(&load("bigcode"), &invalid("bigcode"), "x").is_none());
}
