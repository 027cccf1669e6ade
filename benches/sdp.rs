//! SDP and Digest benchmarks: parsing a typical carrier offer, printing it, answering it
//! (parse + negotiate + print, the work done per incoming INVITE), and Digest verification.
//!
//! Run: `cargo bench --bench sdp -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use cxb_sip::auth::{ChallengeKind, DigestClient, DigestServer, NonceCounts, Request, StoredCredential};
use cxb_sip::sdp::{AudioSession, LocalCapabilities, SessionDescription};

/// A FreeSWITCH-style offer: several codecs, static types without rtpmap, opus, DTMF, CN, rtcp.
const OFFER: &str = "v=0\r\n\
o=FreeSWITCH 1700000000 1700000001 IN IP4 44.201.7.20\r\n\
s=FreeSWITCH\r\n\
c=IN IP4 44.201.7.20\r\n\
t=0 0\r\n\
m=audio 24642 RTP/AVP 9 0 8 102 101 13\r\n\
a=rtpmap:102 opus/48000/2\r\n\
a=fmtp:102 useinbandfec=1; maxplaybackrate=16000; minptime=10\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=rtpmap:13 CN/8000\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp:24643 IN IP4 44.201.7.20\r\n";

fn caps() -> LocalCapabilities {
    LocalCapabilities::new(IpAddr::V4(Ipv4Addr::new(35, 180, 1, 2)), 40000)
}

fn sdp_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("sdp");
    g.bench_function("parse_offer", |b| {
        b.iter(|| SessionDescription::parse(black_box(OFFER.as_bytes())).unwrap())
    });
    let offer = SessionDescription::parse(OFFER.as_bytes()).unwrap();
    g.bench_function("print_offer", |b| b.iter(|| black_box(&offer).to_bytes()));
    g.bench_function("answer_parsed_offer", |b| {
        b.iter(|| AudioSession::new(caps(), 1, 1).answer_offer(black_box(&offer)).unwrap())
    });
    g.bench_function("parse_answer_print", |b| {
        b.iter(|| {
            let offer = SessionDescription::parse(black_box(OFFER.as_bytes())).unwrap();
            AudioSession::new(caps(), 1, 1)
                .answer_offer(&offer)
                .unwrap()
                .sdp
                .to_bytes()
        })
    });
    g.finish();
}

fn digest_benches(c: &mut Criterion) {
    let server = DigestServer::new("trunk.example", b"0123456789abcdef", 300);
    let stored = StoredCredential::from_password("carrier1", "trunk.example", "s3cret");
    let mut g = c.benchmark_group("digest");
    for (name, idx) in [("verify_sha256", 0), ("verify_md5", 1)] {
        let challenge = server.challenges(1000, false)[idx].to_string();
        let req = Request {
            method: "INVITE",
            uri: "sip:+15551234567@trunk.example",
            body: None,
        };
        let mut client = DigestClient::new("carrier1", "s3cret");
        let header = client
            .respond(ChallengeKind::Www, &[challenge.as_bytes()], &req, "0a4f113b")
            .unwrap();
        let value = header[0].credentials.to_string();
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut counts = NonceCounts::new(4);
                server
                    .verify(
                        black_box(value.as_bytes()),
                        "INVITE",
                        req.uri,
                        1001,
                        |_| Some(stored.clone()),
                        &mut counts,
                    )
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sdp_benches, digest_benches);
criterion_main!(benches);
