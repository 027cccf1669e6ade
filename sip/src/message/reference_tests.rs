//! The parser against its previous version ([`super::reference`]) on generated messages:
//! same message or same error, for datagrams and stream frames.

use bytes::Bytes;
use proptest::prelude::*;

use super::{Limits, parse, reference};

/// Header lines, well-formed and not: odd spacing, folding, bad names, compact forms, bytes
/// that are not UTF-8, missing colons.
fn header_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Via: SIP/2.0/UDP h:5060;branch=z9hG4bK1".to_string()),
        Just("v: SIP/2.0/UDP h;branch=z9hG4bK2".to_string()),
        Just("From: <sip:a@b>;tag=1".to_string()),
        Just("f:<sip:a@b>;tag=1".to_string()),
        Just("To: <sip:c@d>".to_string()),
        Just("t :<sip:c@d>".to_string()),
        Just("Call-ID: abc@h".to_string()),
        Just("i:\tabc@h  ".to_string()),
        Just("CSeq: 1 INVITE".to_string()),
        Just("CSeq:  2   INVITE ".to_string()),
        Just("CSeq: 3 BYE".to_string()),
        Just("CSeq: x INVITE".to_string()),
        Just("CSeq: 4 INV@TE".to_string()),
        Just("CSeq: 99999999999 INVITE".to_string()),
        Just("CSeq: 2147483647 INVITE".to_string()),
        Just("CSeq: 2147483648 INVITE".to_string()),
        Just("CSeq: 0012 INVITE".to_string()),
        Just("CSeq: 1 invite".to_string()),
        Just("CSeq: 1 INVITE x".to_string()),
        Just("CSeq: 1\tINVITE".to_string()),
        Just("Content-Length: 0".to_string()),
        Just("Content-Length: 4".to_string()),
        Just("l: 2".to_string()),
        Just("Content-Length: x".to_string()),
        Just("Max-Forwards: 70".to_string()),
        Just("MAX-FORWARDS : 70".to_string()),
        Just("X-Custom: v".to_string()),
        Just("X-Cust om: v".to_string()),
        Just("X-Ünïcode: v".to_string()),
        Just(": no name".to_string()),
        Just("NoColon".to_string()),
        Just(" Leading: ws".to_string()),
        Just("Subject: folded\r\n  continuation".to_string()),
        Just("Subject:\r\n\tonly-continuation".to_string()),
        Just("Empty:".to_string()),
        Just("Colon::double".to_string()),
        "[A-Za-z-]{1,24}: [ -~]{0,90}",
        "[A-Za-z]{1,3}[ \t]{0,2}:[ \t]{0,2}[a-z]{0,8}[ \t]{0,2}",
    ]
}

fn start_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("INVITE sip:+14155550123@10.0.0.5:5060;user=phone SIP/2.0".to_string()),
        Just("INVITE sip:bob@h SIP/2.0".to_string()),
        Just("BYE sip:h;transport=tcp SIP/2.0".to_string()),
        Just("INVITE sip:h?x=y SIP/2.0".to_string()),
        Just("INVITE urn:x SIP/2.0".to_string()),
        Just("INVITE sip:a b SIP/2.0".to_string()),
        Just("INVITE sip:h sip/2.0".to_string()),
        Just("INVITE sip:h SIP/3.0".to_string()),
        Just("INVITE sip:h SIP/2.0 ".to_string()),
        Just("FOO sip:h SIP/2.0".to_string()),
        Just("INV@TE sip:h SIP/2.0".to_string()),
        Just("SIP/2.0 200 OK".to_string()),
        Just("SIP/2.0 180".to_string()),
        Just("sip/2.0 99 Low".to_string()),
        Just("SIP/2.0 2000 x".to_string()),
        "[A-Z]{3,8} sip:[a-z0-9@.:;=]{1,40} SIP/2\\.0",
    ]
}

/// The five mandatory fields (valid) for an INVITE.
const BASE: [&str; 5] = [
    "Via: SIP/2.0/UDP h:5060;branch=z9hG4bK0",
    "From: <sip:a@b>;tag=0",
    "To: <sip:c@d>",
    "Call-ID: id0@h",
    "CSeq: 7 INVITE",
];

fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(""), Just("\r\n")],
        prop_oneof![
            3 => Just("INVITE sip:+14155550123@10.0.0.5:5060;user=phone SIP/2.0".to_string()),
            2 => Just("SIP/2.0 200 OK".to_string()),
            2 => start_line(),
        ],
        proptest::collection::vec((header_line(), any::<u16>()), 0..8),
        any::<u8>(),
        any::<bool>(),
        prop_oneof![Just(""), Just("body"), Just("v=0\r\n")],
        any::<u8>(),
        any::<usize>(),
    )
        .prop_map(|(lead, start, extra, drop, crlf, body, junk, at)| {
            let mut headers: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
            // Now and then one mandatory field is missing.
            if drop < 40 {
                headers.remove(usize::from(drop) % BASE.len());
            }
            for (h, pos) in extra {
                let i = usize::from(pos) % (headers.len() + 1);
                headers.insert(i, h);
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut s = format!("{lead}{start}{eol}");
            for h in headers {
                s.push_str(&h);
                s.push_str(eol);
            }
            s.push_str(eol);
            s.push_str(body);
            let mut b = s.into_bytes();
            // Sometimes a byte that breaks UTF-8 (or a line), anywhere; or a cut.
            if junk >= 0xf0 && !b.is_empty() {
                let i = at % b.len();
                b[i] = junk;
            } else if junk == 0 && !b.is_empty() {
                b.truncate(at % b.len());
            }
            b
        })
}

fn same_as_reference(raw: &[u8], stream: bool) -> Result<(), TestCaseError> {
    let limits = Limits {
        max_headers: 10,
        max_header_line: 80,
        max_vias: 2,
        ..Limits::default()
    };
    for limits in [Limits::default(), limits] {
        let ours = parse::parse(Bytes::copy_from_slice(raw), &limits, stream);
        let theirs = reference::parse(Bytes::copy_from_slice(raw), &limits, stream).map(|(m, _)| m);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b);
                let names = |m: &super::Message| m.headers().iter().map(|f| f.raw_name.to_vec()).collect::<Vec<_>>();
                prop_assert_eq!(names(a), names(b));
            }
            _ => prop_assert_eq!(
                ours.as_ref().err(),
                theirs.as_ref().err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parse_matches_reference(raw in message(), stream in any::<bool>()) {
        same_as_reference(&raw, stream)?;
    }
}

#[test]
fn bench_messages_match_reference() {
    let invite = "INVITE sip:+14155550123@10.0.0.5:5060;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ab1f0e3c1d;rport\r\nMax-Forwards: 69\r\nFrom: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\nTo: <sip:+14155550123@10.0.0.5;user=phone>\r\nCall-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\nCSeq: 102 INVITE\r\nContact: <sip:+12125550199@198.51.100.7:5060;transport=udp>\r\nContent-Length: 4\r\n\r\nbody";
    for raw in [invite.as_bytes(), &invite.as_bytes()[..invite.len() - 2]] {
        same_as_reference(raw, false).unwrap();
        same_as_reference(raw, true).unwrap();
    }
}

#[test]
fn cseq_variants_match_reference() {
    for cseq in [
        "7 INVITE",
        "2147483647 INVITE",
        "2147483648 INVITE",
        "9999999999 INVITE",
        "99999999999 INVITE",
        "0012 INVITE",
        "1 invite",
        "1 INVITE x",
        "1\tINVITE",
        "1  INVITE",
        "1 INVITEx",
        "1 BYE",
        "1 FOO",
        "x INVITE",
        "1INVITE",
        " 1 INVITE",
        "1 INV\u{e9}",
        "",
    ] {
        for start in ["INVITE sip:h SIP/2.0", "SIP/2.0 200 OK", "FOO sip:h SIP/2.0"] {
            let raw = format!(
                "{start}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n\
                 Call-ID: x\r\nCSeq: {cseq}\r\n\r\n"
            );
            same_as_reference(raw.as_bytes(), false).unwrap();
        }
    }
}
