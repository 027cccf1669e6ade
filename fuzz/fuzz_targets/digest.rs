#![no_main]
//! Digest: arbitrary header values into the challenge and credentials parsers, the client and
//! the server verifier must never panic; anything the generic parser accepts must print to text
//! that parses back to the same names and values.
use cxb_sip::auth::{
    AuthParams, ChallengeKind, Credentials, DigestClient, DigestServer, NonceCounts, Request, StoredCredential,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = AuthParams::parse_list(data) {
        for p in &list {
            let printed = p.to_string();
            let back = AuthParams::parse_list(printed.as_bytes()).expect("printed params parse");
            assert_eq!(back.len(), 1);
            assert!(back[0].scheme == p.scheme);
            let pairs = |a: &AuthParams| {
                a.params
                    .iter()
                    .map(|q| (q.name.clone(), q.value.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(pairs(&back[0]), pairs(p));
        }
    }
    if let Ok(c) = Credentials::parse(data) {
        let again = Credentials::parse(c.to_string().as_bytes()).expect("printed credentials parse");
        assert_eq!(again.response, c.response);
    }

    let server = DigestServer::new("trunk.example", b"fuzz-secret", 300);
    let mut counts = NonceCounts::new(4);
    let _ = server.verify(
        data,
        "INVITE",
        "sip:a@b",
        1_000_000,
        |u| Some(StoredCredential::from_password(u, "trunk.example", "pw")),
        &mut counts,
    );

    let mut client = DigestClient::new("user", "pw");
    let req = Request {
        method: "INVITE",
        uri: "sip:a@b",
        body: Some(b"v=0\r\n"),
    };
    if client
        .respond(ChallengeKind::Proxy, &[data, data], &req, "0a4f113b")
        .is_ok()
    {
        let _ = client.respond(ChallengeKind::Proxy, &[data], &req, "0a4f113c");
        client.request_accepted();
        let _ = client.authorize(&req, "0a4f113d");
    }
});
