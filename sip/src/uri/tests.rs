//! URI tests, including a comparison with the previous parser ([`reference`]) on generated input.

use proptest::prelude::*;

use super::*;

mod reference;
use reference::RefUri;

#[test]
fn sip_uri_parts() {
    let u = Uri::parse("sip:alice:secret@[2001:db8::1]:5061;transport=tcp;lr;user=phone?Replaces=a%40b&X=1").unwrap();
    assert_eq!(u.scheme(), Scheme::Sip);
    assert_eq!(u.user(), Some("alice"));
    assert_eq!(u.password(), Some("secret"));
    assert_eq!(u.host(), Some(Host::Ipv6("2001:db8::1".parse().unwrap())));
    assert_eq!(u.port(), Some(5061));
    assert_eq!(u.transport(), Some("tcp"));
    assert!(u.is_loose_route());
    assert_eq!(u.param("user"), Some(Some("phone")));
    let h: Vec<_> = u.headers().collect();
    assert_eq!(h, vec![("Replaces", "a%40b"), ("X", "1")]);
}

#[test]
fn escaped_user_and_semicolon_user() {
    let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
    assert_eq!(u.user_unescaped().unwrap().as_ref(), b"sips:user@example.com");
    assert_eq!(u.host_str(), "example.net");
    let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
    assert_eq!(u.user(), Some("user;par=u%40example.net"));
    assert_eq!(u.params().iter().count(), 0);
    let u = Uri::parse("sip:null-%00-null@example.com").unwrap();
    assert_eq!(u.user_unescaped().unwrap().as_ref(), b"null-\0-null");
}

#[test]
fn tel_and_other() {
    let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
    assert_eq!(u.scheme(), Scheme::Tel);
    assert_eq!(u.user(), Some("+1-201-555-0123"));
    assert_eq!(u.param("phone-context"), Some(Some("example.com")));
    let u = Uri::parse("urn:service:sos").unwrap();
    assert_eq!(u.scheme(), Scheme::Other);
    assert_eq!(u.opaque(), "service:sos");
}

#[test]
fn rejects_bad_uris() {
    for bad in [
        "",
        "sip:",
        "<sip:a@b>",
        "sip:user@example.com; lr",
        "sip:a@b:99999",
        "sip:a@b:x",
        "sip:a%4@b",
        "sip:@b",
        "sip:a@b;;",
        "sip:a@[::1",
        "tel:abc-x",
        "1sip:a@b",
    ] {
        assert!(Uri::parse(bad).is_err(), "{bad:?} accepted");
    }
}

/// Text that looks like URIs: scheme-ish prefixes and every delimiter the grammar cares about.
fn uri_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("sip:".to_string()),
        Just("sips:".to_string()),
        Just("tel:".to_string()),
        Just("urn:".to_string()),
        Just("SIP:".to_string()),
        "[a-z0-9]{1,6}",
        "[0-9]{1,6}",
        "[@:;?=&%.+\\-\\[\\]/ !~*()#,$]",
        "%[0-9a-fA-F]{2}",
        "%[0-9g]{0,2}",
        Just("[2001:db8::1]".to_string()),
        Just("\u{e9}".to_string()),
        Just("\t".to_string()),
        Just("<".to_string()),
    ];
    (
        prop_oneof![Just("sip:"), Just("sips:"), Just("tel:"), Just("x:"), Just("")],
        proptest::collection::vec(piece, 0..10),
    )
        .prop_map(|(p, v)| format!("{p}{}", v.concat()))
}

fn same_as_reference(s: &str) -> Result<(), TestCaseError> {
    match (Uri::parse(s), RefUri::parse(s)) {
        (Ok(u), Ok(r)) => {
            prop_assert_eq!(u.scheme(), r.scheme);
            prop_assert_eq!(u.scheme_str(), &r.raw[..r.scheme_len]);
            prop_assert_eq!(u.user(), r.user);
            prop_assert_eq!(u.password(), r.password);
            prop_assert_eq!(u.host_str(), r.host);
            prop_assert_eq!(u.port(), r.port);
            prop_assert_eq!(u.params().as_str(), r.params);
            prop_assert_eq!(u.headers_str(), r.headers);
        }
        (Err(a), Err(b)) => prop_assert_eq!(a, b, "{:?}", s),
        (a, b) => prop_assert!(false, "{s:?}: {a:?} vs reference {b:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn parse_matches_reference(s in uri_like()) {
        same_as_reference(&s)?;
    }

    #[test]
    fn request_uri_check_matches_reference(mut b in uri_like().prop_map(String::into_bytes), junk in any::<u8>(), at in any::<usize>()) {
        // Sometimes a byte that breaks UTF-8.
        if junk >= 0x80 && !b.is_empty() {
            let i = at % b.len();
            b[i] = junk;
        }
        let want = match std::str::from_utf8(&b) {
            Err(_) => Err(UriError::Char),
            Ok(s) => RefUri::parse(s).map(|r| (r.scheme, !r.headers.is_empty())),
        };
        prop_assert_eq!(check_request_uri(&b), want);
    }
}

#[test]
fn fast_paths_match_reference_on_fixed_cases() {
    for s in [
        "sip:+14155550123@10.0.0.5:5060;user=phone",
        "sip:alice:secret@host",
        "sip:alice:se;cret@host",
        "sip:alice:@host",
        "sip::x@host",
        "sip:a%4@b",
        "sip:a%41@b",
        "sip:a@b@c",
        "sip:10.0.0.5:5060;transport=udp",
        "sip:host;a=b?c=d",
        "sip:host;a=b;c?x=y&z=w",
        "sip:host;=a",
        "sip:host;a;;b",
        "sip:host;a%zz",
        "sip:ho st",
        "sip:host x",
        "sip:h_st",
        "sip:;a=b",
        "sip:u@;a=b",
        "sip:u@[::1]:5060;lr",
        "sip:u@[::1",
        "sip:u@[zz]",
        "sips:u@h?",
        "tel:+1-201-555-0123;phone-context=example.com",
        "urn:service:sos",
        "SIPS:u@h",
        "Sip:h",
        "TEL:+1",
        "sipsx:a",
        "sips",
        "sip:",
        "sips:",
        "sip:h:123456",
        "sip:h:65536",
        "sip:h:0",
        "sip:abcd.efgh-ijkl.mn:1",
    ] {
        same_as_reference(s).unwrap();
    }
}
