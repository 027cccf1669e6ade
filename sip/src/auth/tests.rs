//! Digest and ACL tests: RFC vectors, parse/print, client behaviour, client ↔ server round trips.

use std::net::IpAddr;

use super::hash::{hex, hmac_sha256};
use super::*;

const RFC2617_CHALLENGE: &str = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
     nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

fn get<'a>(req: &'a str) -> Request<'a> {
    Request {
        method: "GET",
        uri: req,
        body: None,
    }
}

/// RFC 2617 §3.5: Mufasa / "Circle Of Life".
#[test]
fn rfc2617_example_response() {
    let ha1 = ha1(HashKind::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
    let input = ResponseInput {
        algorithm: &Algorithm::Md5,
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        cnonce: "0a4f113b",
        nc: 1,
        qop: Some(&Qop::Auth),
        method: "GET",
        uri: "/dir/index.html",
        body: b"",
    };
    assert_eq!(response(&ha1, &input).unwrap(), "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc2617_example_through_the_client() {
    let mut c = DigestClient::new("Mufasa", "Circle Of Life");
    let h = c
        .respond(
            ChallengeKind::Www,
            &[RFC2617_CHALLENGE.as_bytes()],
            &get("/dir/index.html"),
            "0a4f113b",
        )
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].name(), "Authorization");
    assert_eq!(
        h[0].credentials.to_string(),
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         uri=\"/dir/index.html\", response=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001"
    );
}

/// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
#[test]
fn rfc7616_example_responses() {
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    for (alg, kind, expected) in [
        (
            Algorithm::Sha256,
            HashKind::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        (Algorithm::Md5, HashKind::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
    ] {
        let ha1 = ha1(kind, "Mufasa", "http-auth@example.org", "Circle of Life");
        let input = ResponseInput {
            algorithm: &alg,
            nonce,
            cnonce,
            nc: 1,
            qop: Some(&Qop::Auth),
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        };
        assert_eq!(response(&ha1, &input).unwrap(), expected, "{alg:?}");
    }
}

/// RFC 4231 test case 2.
#[test]
fn hmac_sha256_vector() {
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"])),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn challenge_parse_is_case_insensitive_with_escapes_and_unknowns() {
    let v = "digest REALM=\"a \\\"quoted\\\" \\\\ realm\", Nonce=abc, stale=TRUE, algorithm=sha-256, \
             qop=\"auth, auth-int\", charset=UTF-8, userhash=\"false\"";
    let c = Challenge::parse(v.as_bytes()).unwrap();
    assert_eq!(c.realm, "a \"quoted\" \\ realm");
    assert_eq!(c.nonce, "abc");
    assert!(c.stale);
    assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
    assert_eq!(
        c.extra,
        [Param::token("charset", "UTF-8"), Param::quoted("userhash", "false")]
    );
    let printed = c.to_string();
    assert_eq!(
        printed,
        "Digest realm=\"a \\\"quoted\\\" \\\\ realm\", nonce=\"abc\", stale=true, algorithm=SHA-256, \
         qop=\"auth,auth-int\", charset=UTF-8, userhash=\"false\""
    );
    assert_eq!(Challenge::parse(printed.as_bytes()).unwrap(), c);
}

#[test]
fn several_challenges_in_one_value() {
    let v = b"Digest realm=\"r\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\", Basic realm=\"x\", \
              Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"";
    let all = AuthParams::parse_list(v).unwrap();
    assert_eq!(
        all.iter().map(|p| p.scheme.as_str()).collect::<Vec<_>>(),
        ["Digest", "Basic", "Digest"]
    );
    let digest = Challenge::parse_all(v).unwrap();
    assert_eq!(digest.len(), 2);
    assert_eq!(digest[1].algorithm(), Algorithm::Md5);
}

#[test]
fn parse_errors_are_typed() {
    let p = |s: &str| AuthParams::parse_list(s.as_bytes()).unwrap_err();
    assert_eq!(p("  "), ParseError::Empty);
    assert_eq!(p("Digest realm"), ParseError::ExpectedEquals { pos: 12 });
    assert_eq!(p("Digest realm=\"x"), ParseError::UnterminatedQuote { pos: 13 });
    assert_eq!(p("Digest realm=x nonce=y"), ParseError::ExpectedComma { pos: 15 });
    assert_eq!(
        p("Digest realm=x, REALM=y"),
        ParseError::DuplicateParam { name: "REALM".into() }
    );
    assert_eq!(p("=x"), ParseError::ExpectedToken { pos: 0 });
    assert!(matches!(p(&"a".repeat(MAX_VALUE_LEN + 1)), ParseError::TooLong { .. }));
    assert_eq!(
        Challenge::parse(b"Digest nonce=x").unwrap_err(),
        DigestError::Missing { name: "realm" }
    );
    assert_eq!(
        Challenge::parse(b"Digest realm=x, nonce=y, stale=maybe").unwrap_err(),
        DigestError::BadStale
    );
    assert_eq!(
        Challenge::parse(b"Basic realm=x").unwrap_err(),
        DigestError::NotDigest { scheme: "Basic".into() }
    );
}

#[test]
fn credentials_parse_and_print() {
    let v = "Digest username=\"bob\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"ABCD\", \
             algorithm=MD5-sess, cnonce=\"c\", qop=auth, nc=0000001f, x-extra=1";
    let c = Credentials::parse(v.as_bytes()).unwrap();
    assert_eq!(
        (c.nc, c.qop.clone(), c.algorithm()),
        (Some(31), Some(Qop::Auth), Algorithm::Md5Sess)
    );
    assert_eq!(c.extra, [Param::token("x-extra", "1")]);
    assert_eq!(Credentials::parse(c.to_string().as_bytes()).unwrap(), c);
    let bad_nc = v.replace("0000001f", "1f");
    assert_eq!(
        Credentials::parse(bad_nc.as_bytes()).unwrap_err(),
        DigestError::BadNonceCount
    );
    let no_user = v.replace("username=\"bob\", ", "");
    assert_eq!(
        Credentials::parse(no_user.as_bytes()).unwrap_err(),
        DigestError::Missing { name: "username" }
    );
}

const MD5_CH: &str = "Digest realm=\"sip.example\", nonce=\"n-md5\", algorithm=MD5, qop=\"auth\"";
const SHA_CH: &str = "Digest realm=\"sip.example\", nonce=\"n-sha\", algorithm=SHA-256, qop=\"auth\"";

fn invite() -> Request<'static> {
    Request {
        method: "INVITE",
        uri: "sip:+15551234567@sip.example",
        body: None,
    }
}

#[test]
fn client_prefers_sha256_over_md5() {
    let mut c = DigestClient::new("u", "p");
    let h = c
        .respond(
            ChallengeKind::Proxy,
            &[MD5_CH.as_bytes(), SHA_CH.as_bytes()],
            &invite(),
            "cn",
        )
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].name(), "Proxy-Authorization");
    assert_eq!(h[0].credentials.algorithm, Some(Algorithm::Sha256));
    assert_eq!(h[0].credentials.response.len(), 64);
}

#[test]
fn client_skips_unsupported_algorithm_and_answers_each_realm() {
    let other = "Digest realm=\"sip.example\", nonce=\"x\", algorithm=SHA-512-256, qop=\"auth\"";
    let second_realm = "Digest realm=\"proxy2\", nonce=\"y\", qop=\"auth\"";
    let mut c = DigestClient::new("u", "p");
    let h = c
        .respond(
            ChallengeKind::Proxy,
            &[other.as_bytes(), MD5_CH.as_bytes(), second_realm.as_bytes()],
            &invite(),
            "cn",
        )
        .unwrap();
    let realms: Vec<(&str, Algorithm)> = h
        .iter()
        .map(|h| (h.credentials.realm.as_str(), h.credentials.algorithm()))
        .collect();
    assert_eq!(realms, [("sip.example", Algorithm::Md5), ("proxy2", Algorithm::Md5)]);
    let e = DigestClient::new("u", "p")
        .respond(ChallengeKind::Www, &[other.as_bytes()], &invite(), "cn")
        .unwrap_err();
    assert_eq!(
        e,
        ClientError::UnsupportedAlgorithm {
            algorithm: "SHA-512-256".into()
        }
    );
    let e = DigestClient::new("u", "p")
        .respond(ChallengeKind::Www, &[b"Basic realm=x"], &invite(), "cn")
        .unwrap_err();
    assert_eq!(e, ClientError::NoDigestChallenge);
}

#[test]
fn client_auth_int_only_needs_a_body() {
    let ch = "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"";
    let mut c = DigestClient::new("u", "p");
    assert_eq!(
        c.respond(ChallengeKind::Www, &[ch.as_bytes()], &invite(), "cn")
            .unwrap_err(),
        ClientError::AuthIntUnsupported
    );
    let body = b"v=0\r\n";
    let req = Request {
        body: Some(body),
        ..invite()
    };
    let h = c.respond(ChallengeKind::Www, &[ch.as_bytes()], &req, "cn").unwrap();
    assert_eq!(h[0].credentials.qop, Some(Qop::AuthInt));
    let ha1 = ha1(HashKind::Md5, "u", "r", "p");
    let input = ResponseInput {
        algorithm: &Algorithm::Md5,
        nonce: "n",
        cnonce: "cn",
        nc: 1,
        qop: Some(&Qop::AuthInt),
        method: "INVITE",
        uri: req.uri,
        body,
    };
    assert_eq!(h[0].credentials.response, response(&ha1, &input).unwrap());
    // auth offered alongside auth-int: plain auth is used.
    let both = "Digest realm=\"r2\", nonce=\"n\", qop=\"auth-int,auth\"";
    let h = c
        .respond(ChallengeKind::Www, &[both.as_bytes()], &invite(), "cn")
        .unwrap();
    assert_eq!(h[0].credentials.qop, Some(Qop::Auth));
}

#[test]
fn client_rfc2069_challenge_without_qop() {
    let ch = "Digest realm=\"r\", nonce=\"n\"";
    let h = DigestClient::new("u", "p")
        .respond(ChallengeKind::Www, &[ch.as_bytes()], &invite(), "cn")
        .unwrap();
    let c = &h[0].credentials;
    assert_eq!(
        (c.qop.clone(), c.nc, c.cnonce.clone(), c.algorithm.clone()),
        (None, None, None, None)
    );
}

#[test]
fn nonce_count_increments_on_reuse() {
    let mut c = DigestClient::new("u", "p");
    let h = c
        .respond(ChallengeKind::Www, &[MD5_CH.as_bytes()], &invite(), "c1")
        .unwrap();
    assert_eq!(h[0].credentials.nc, Some(1));
    c.request_accepted();
    let bye = Request {
        method: "BYE",
        uri: "sip:a@b",
        body: None,
    };
    assert_eq!(c.authorize(&bye, "c2")[0].credentials.nc, Some(2));
    c.request_accepted();
    assert_eq!(c.authorize(&bye, "c3")[0].credentials.nc, Some(3));
    c.request_accepted();
    // A new nonce starts again at 1.
    let h = c
        .respond(ChallengeKind::Www, &[SHA_CH.as_bytes()], &invite(), "c4")
        .unwrap();
    assert_eq!(
        (h[0].credentials.nonce.as_str(), h[0].credentials.nc),
        ("n-sha", Some(1))
    );
    assert!(DigestClient::new("u", "p").authorize(&bye, "x").is_empty());
}

#[test]
fn stale_retry_and_loop_protection() {
    let mut c = DigestClient::new("u", "p");
    c.respond(ChallengeKind::Www, &[MD5_CH.as_bytes()], &invite(), "c1")
        .unwrap();
    // Same challenge again, not stale: our credentials were refused.
    let e = c
        .respond(ChallengeKind::Www, &[MD5_CH.as_bytes()], &invite(), "c2")
        .unwrap_err();
    assert_eq!(
        e,
        ClientError::Rejected {
            realm: "sip.example".into()
        }
    );
    // A fresh nonce without stale=true is a rejection too.
    let fresh = MD5_CH.replace("n-md5", "n2");
    assert!(matches!(
        c.respond(ChallengeKind::Www, &[fresh.as_bytes()], &invite(), "c2"),
        Err(ClientError::Rejected { .. })
    ));
    // stale=true: retry with the new nonce, no prompt.
    let stale = format!("{}, stale=true", MD5_CH.replace("n-md5", "n3"));
    let h = c
        .respond(ChallengeKind::Www, &[stale.as_bytes()], &invite(), "c3")
        .unwrap();
    assert_eq!((h[0].credentials.nonce.as_str(), h[0].credentials.nc), ("n3", Some(1)));
    // ...but not forever.
    for i in 0..3 {
        let s = stale.replace("n3", &format!("s{i}"));
        let r = c.respond(ChallengeKind::Www, &[s.as_bytes()], &invite(), "c");
        if i < 2 {
            assert!(r.is_ok());
        } else {
            assert_eq!(
                r.unwrap_err(),
                ClientError::TooManyStale {
                    realm: "sip.example".into()
                }
            );
        }
    }
    // After success, a later challenge (e.g. re-REGISTER) is answered again.
    c.request_accepted();
    assert!(
        c.respond(ChallengeKind::Www, &[MD5_CH.as_bytes()], &invite(), "c9")
            .is_ok()
    );
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_763_700_000;

fn server() -> DigestServer {
    DigestServer::new("trunk.cxb.example", SECRET, 300)
}

fn store(user: &str) -> Option<StoredCredential> {
    (user == "carrier1").then(|| StoredCredential::from_password("carrier1", "trunk.cxb.example", "s3cret"))
}

fn login(server: &DigestServer, password: &str, prefer: Option<Algorithm>, now: u64) -> AuthorizationHeader {
    let mut chs = server.challenges(now, false);
    if let Some(a) = prefer {
        chs.retain(|c| c.algorithm() == a);
    }
    let values: Vec<String> = chs.iter().map(ToString::to_string).collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    let mut c = DigestClient::new("carrier1", password);
    c.respond(ChallengeKind::Www, &refs, &invite(), &cnonce_from_random(&[7; 8]))
        .unwrap()
        .remove(0)
}

#[test]
fn server_challenge_lists_sha256_first() {
    let chs = server().challenges(NOW, true);
    let algs: Vec<Algorithm> = chs.iter().map(Challenge::algorithm).collect();
    assert_eq!(algs, [Algorithm::Sha256, Algorithm::Md5]);
    assert!(
        chs.iter()
            .all(|c| c.stale && c.qop == [Qop::Auth] && c.nonce.len() == 64)
    );
    assert_eq!(
        server().nonce(NOW),
        server().nonce(NOW),
        "deterministic from time and secret"
    );
    assert_ne!(server().nonce(NOW), server().nonce(NOW + 1));
    let s = server();
    assert_ne!(s.nonce(NOW), s.nonce(NOW), "unique within one second");
}

#[test]
fn server_round_trip_sha256_and_md5() {
    let s = server();
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let h = login(&s, "s3cret", Some(alg.clone()), NOW);
        let v = h.credentials.to_string();
        let mut counts = NonceCounts::new(16);
        let ok = s
            .verify(v.as_bytes(), "INVITE", invite().uri, NOW + 10, store, &mut counts)
            .unwrap();
        assert_eq!(
            ok,
            Verified {
                username: "carrier1".into(),
                algorithm: alg
            }
        );
    }
    // With both offered the client picks SHA-256.
    assert_eq!(
        login(&s, "s3cret", None, NOW).credentials.algorithm(),
        Algorithm::Sha256
    );
}

#[test]
fn server_rejections() {
    let s = server();
    let mut counts = NonceCounts::new(16);
    let uri = invite().uri;
    let good = login(&s, "s3cret", None, NOW).credentials.to_string();
    let verify =
        |v: &str, now: u64, counts: &mut NonceCounts| s.verify(v.as_bytes(), "INVITE", uri, now, store, counts);

    let wrong = login(&s, "guess", None, NOW).credentials.to_string();
    let e = verify(&wrong, NOW, &mut counts).unwrap_err();
    assert_eq!((e.clone(), e.status_code()), (VerifyError::WrongResponse, 403));

    let e = verify(&good, NOW + 301, &mut counts).unwrap_err();
    assert!(e.is_stale());
    assert_eq!(e.status_code(), 401);

    assert!(verify(&good, NOW + 5, &mut counts).is_ok());
    assert_eq!(
        verify(&good, NOW + 6, &mut counts).unwrap_err(),
        VerifyError::NonceCountReused { nc: 1 }
    );

    let tampered = good.replace(&s.nonce(NOW)[..16], &s.nonce(NOW + 1000)[..16]);
    assert_eq!(
        verify(&tampered, NOW, &mut counts).unwrap_err(),
        VerifyError::InvalidNonce
    );
    let other_secret = DigestServer::new("trunk.cxb.example", b"other", 300);
    let foreign = login(&other_secret, "s3cret", None, NOW).credentials.to_string();
    assert_eq!(
        verify(&foreign, NOW, &mut counts).unwrap_err(),
        VerifyError::InvalidNonce
    );
    let future = login(&s, "s3cret", None, NOW + 3600).credentials.to_string();
    assert_eq!(
        verify(&future, NOW, &mut counts).unwrap_err(),
        VerifyError::InvalidNonce
    );

    let mut c = Credentials::parse(good.as_bytes()).unwrap();
    c.realm = "elsewhere".into();
    assert_eq!(
        verify(&c.to_string(), NOW, &mut counts).unwrap_err(),
        VerifyError::WrongRealm {
            realm: "elsewhere".into()
        }
    );
    let mut c = Credentials::parse(good.as_bytes()).unwrap();
    c.username = "nobody".into();
    assert_eq!(
        verify(&c.to_string(), NOW, &mut counts).unwrap_err(),
        VerifyError::UnknownUser
    );
    let mut c = Credentials::parse(good.as_bytes()).unwrap();
    c.qop = None;
    assert_eq!(
        verify(&c.to_string(), NOW, &mut counts).unwrap_err(),
        VerifyError::QopRequired
    );
    let mut c = Credentials::parse(good.as_bytes()).unwrap();
    c.algorithm = Some(Algorithm::Sha256Sess);
    assert!(matches!(
        verify(&c.to_string(), NOW, &mut counts).unwrap_err(),
        VerifyError::UnsupportedAlgorithm { .. }
    ));
    let e = s
        .verify(good.as_bytes(), "INVITE", "sip:other@x", NOW, store, &mut counts)
        .unwrap_err();
    assert_eq!(e, VerifyError::UriMismatch);
    let e = verify("Digest username=", NOW, &mut counts).unwrap_err();
    assert!(matches!(e, VerifyError::Malformed(_)));
    assert_eq!(e.status_code(), 400);
}

#[test]
fn server_accepts_increasing_nc_and_md5_only_store() {
    let s = server();
    let mut counts = NonceCounts::new(2);
    let ch = s.challenges(NOW, false);
    let values: Vec<String> = ch.iter().map(ToString::to_string).collect();
    let mut c = DigestClient::new("carrier1", "s3cret");
    let first = c
        .respond(ChallengeKind::Www, &[values[0].as_bytes()], &invite(), "aa")
        .unwrap()
        .remove(0);
    c.request_accepted();
    let second = c.authorize(&invite(), "bb").remove(0);
    let v = |h: &AuthorizationHeader, counts: &mut NonceCounts| {
        s.verify(
            h.credentials.to_string().as_bytes(),
            "INVITE",
            invite().uri,
            NOW,
            store,
            counts,
        )
    };
    assert!(v(&first, &mut counts).is_ok());
    assert!(v(&second, &mut counts).is_ok());
    assert!(v(&first, &mut counts).is_err());
    // A user provisioned with MD5 only cannot use SHA-256.
    let md5_only = |_: &str| {
        Some(StoredCredential {
            sha256_ha1: None,
            ..store("carrier1").unwrap()
        })
    };
    let e = s.verify(
        first.credentials.to_string().as_bytes(),
        "INVITE",
        invite().uri,
        NOW,
        md5_only,
        &mut NonceCounts::new(1),
    );
    assert_eq!(e.unwrap_err(), VerifyError::UnknownUser);
}

#[test]
fn stored_credential_is_ha1_only() {
    let sc = StoredCredential::from_password("Mufasa", "testrealm@host.com", "Circle Of Life");
    assert_eq!(sc.md5_ha1.as_deref(), Some("939e7578ed9e3c518a452acee763bce9"));
    assert!(!format!("{sc:?}").contains("Circle"));
    assert!(!format!("{:?}", DigestClient::new("Mufasa", "Circle Of Life")).contains("Circle"));
    assert!(!format!("{:?}", server()).contains("0123456789"));
}

#[test]
fn constant_time_eq_basics() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cidr_parse_and_contains() {
    let c: Cidr = "10.1.2.3/8".parse().unwrap();
    assert_eq!(c.to_string(), "10.0.0.0/8");
    assert!(c.contains(ip("10.255.0.1")) && !c.contains(ip("11.0.0.1")));
    assert!(c.contains(ip("::ffff:10.0.0.9")), "IPv4-mapped source matches");
    let six: Cidr = "2001:db8::/32".parse().unwrap();
    assert!(six.contains(ip("2001:db8:1::5")) && !six.contains(ip("2001:db9::1")) && !six.contains(ip("10.0.0.1")));
    let host: Cidr = "54.172.60.1".parse().unwrap();
    assert!(host.contains(ip("54.172.60.1")) && !host.contains(ip("54.172.60.2")));
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
    assert_eq!("::/0".parse::<Cidr>().unwrap().to_string(), "::/0");
    assert_eq!("10.0.0.0/33".parse::<Cidr>().unwrap_err(), CidrError::BadPrefix);
    assert_eq!("10.0.0.0/".parse::<Cidr>().unwrap_err(), CidrError::BadPrefix);
    assert_eq!("10.0.0/8".parse::<Cidr>().unwrap_err(), CidrError::BadAddress);
    assert_eq!("::1/129".parse::<Cidr>().unwrap_err(), CidrError::BadPrefix);
}

#[test]
fn acl_allow_and_deny() {
    let open = IpAcl::default();
    assert!(open.permits(ip("1.2.3.4")));
    let acl = IpAcl {
        allow: vec!["54.172.60.0/22".parse().unwrap(), "2600:1f18::/32".parse().unwrap()],
        deny: vec!["54.172.60.13/32".parse().unwrap()],
    };
    assert!(acl.permits(ip("54.172.61.200")));
    assert!(acl.permits(ip("2600:1f18:aa::1")));
    assert!(!acl.permits(ip("54.172.60.13")), "deny wins");
    assert!(!acl.permits(ip("8.8.8.8")));
    let deny_only = IpAcl {
        allow: vec![],
        deny: vec!["192.168.0.0/16".parse().unwrap()],
    };
    assert!(!deny_only.permits(ip("192.168.1.1")) && deny_only.permits(ip("1.1.1.1")));
}
