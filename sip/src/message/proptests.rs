//! Property tests: generated messages survive print → parse exactly, and print∘parse is stable.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::header::{HeaderName, HeaderValue};

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Register),
        Just(Method::Options),
        Just(Method::Refer),
        Just(Method::Notify),
        "[A-Z][A-Za-z0-9.!%*_+`'~-]{0,12}".prop_map(|s| Method::from_bytes(s.as_bytes()).unwrap()),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips"), Just("SIP")],
        proptest::option::of("[a-zA-Z0-9+._-]{1,12}(%[0-9A-F]{2})?"),
        host(),
        proptest::option::of(any::<u16>()),
        proptest::collection::vec("(transport=(udp|tcp)|lr|user=phone|[a-z]{1,6}=[a-z0-9]{1,6})", 0..3),
    )
        .prop_map(|(scheme, user, host, port, params)| {
            let mut s = format!("{scheme}:");
            if let Some(u) = user {
                s += &u;
                s.push('@');
            }
            s += &host;
            if let Some(p) = port {
                s += &format!(":{p}");
            }
            for p in params {
                s.push(';');
                s += &p;
            }
            s
        })
}

/// A header value: printable, no leading/trailing whitespace (the parser trims), no CR/LF.
fn value() -> impl Strategy<Value = String> {
    "([!-~]([ -~]{0,40}[!-~])?)?"
}

fn extra_header() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            "X-[A-Za-z0-9-]{1,12}",
            Just("Allow".to_owned()),
            Just("Supported".to_owned()),
            Just("User-Agent".to_owned()),
            Just("s".to_owned()),
            Just("k".to_owned()),
        ],
        value(),
    )
}

#[derive(Debug, Clone)]
struct Spec {
    request: Option<(Method, String)>,
    status: u16,
    reason: String,
    compact: bool,
    vias: Vec<(String, u32)>,
    from: String,
    to: String,
    call_id: String,
    seq: u32,
    extras: Vec<(usize, (String, String))>,
    body: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::option::of((method(), uri())),
        100u16..700,
        "[ -~]{0,20}",
        any::<bool>(),
        proptest::collection::vec((host(), any::<u32>()), 1..4),
        (
            uri(),
            uri(),
            "[a-zA-Z0-9.!%*_+`'~-]{1,20}(@[a-z0-9.]{1,10})?",
            0u32..(1 << 31),
        ),
        proptest::collection::vec((any::<usize>(), extra_header()), 0..8),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(request, status, reason, compact, vias, (from, to, call_id, seq), extras, body)| Spec {
                request,
                status,
                reason,
                compact,
                vias,
                from,
                to,
                call_id,
                seq,
                extras,
                body,
            },
        )
}

fn build(s: &Spec) -> Message {
    let cseq_method = s.request.as_ref().map_or(Method::Invite, |(m, _)| m.clone());
    let mut m: Message = match &s.request {
        Some((method, uri)) => Request::new(method.clone(), uri).unwrap().into(),
        None => Response::new(s.status, HeaderValue::copy_from(&s.reason)).into(),
    };
    let h = m.headers_mut();
    for (host, branch) in &s.vias {
        let v = format!("SIP/2.0/UDP {host};branch=z9hG4bK{branch};rport");
        if s.compact {
            h.push_named("v", v)
        } else {
            h.push(HeaderName::Via, v)
        }
    }
    h.push(HeaderName::From, format!("\"Caller\" <{}>;tag=abc", s.from));
    h.push(HeaderName::To, format!("<{}>", s.to));
    if s.compact {
        h.push_named("i", HeaderValue::copy_from(&s.call_id));
    } else {
        h.push(HeaderName::CallId, HeaderValue::copy_from(&s.call_id));
    }
    h.push(HeaderName::CSeq, format!("{} {}", s.seq, cseq_method));
    for (pos, (name, value)) in &s.extras {
        let at = pos % (h.len() + 1);
        h.push_named(HeaderValue::copy_from(name), HeaderValue::copy_from(value));
        let last = h.len() - 1;
        let entry = h.entries.remove(last);
        h.entries.insert(at, entry);
    }
    let body = Bytes::from(s.body.clone());
    match &mut m {
        Message::Request(r) => r.set_body(None, body),
        Message::Response(r) => r.set_body(None, body),
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(s in spec()) {
        let m = build(&s);
        let wire = m.to_bytes();
        prop_assert_eq!(wire.len(), m.encoded_len());
        let parsed = Message::parse_strict(wire.clone(), &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&wire))))?;
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parsed.to_bytes(), wire);
        let h = parsed.headers();
        prop_assert_eq!(h.vias().count(), s.vias.len());
        prop_assert_eq!(h.call_id().unwrap(), s.call_id.as_str());
        prop_assert_eq!(h.cseq().unwrap().seq, s.seq);
        prop_assert_eq!(parsed.body(), &s.body[..]);
    }

    #[test]
    fn parse_never_panics_and_reprint_is_stable(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(data) {
            let again = Message::parse(m.to_bytes()).unwrap();
            prop_assert_eq!(again, m);
        }
    }
}
