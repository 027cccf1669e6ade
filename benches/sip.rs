//! SIP message parse/print benchmarks: cxb-sip against rsip 0.4 on the same bytes, same run.
//!
//! Messages: a carrier INVITE with SDP (~900 bytes), a 200 OK with SDP, an ACK and a BYE.
//! Throughput is one message per iteration, so criterion reports messages/s on one core.
//! `sip_parse_access` adds reading the typed Via branch, From/To tags, CSeq and Call-ID,
//! because cxb decodes those lazily while rsip's typed conversion is a separate step too.
//!
//! Time is the benchmark thread's CPU time (`/proc/thread-self/schedstat`, falling back to wall
//! time elsewhere), so figures stay per-core on a shared, oversubscribed machine. The kernel
//! updates that counter on scheduler ticks, so samples are flat and few (20 per benchmark) to make
//! each one many ticks long.
//!
//! Run: `cargo bench --bench sip -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use cxb_sip::message::Message;
use rsip::prelude::*;

const INVITE: &str = "INVITE sip:+14155550123@10.0.0.5:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ab1f0e3c1d;rport\r\n\
Max-Forwards: 69\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+12125550199@198.51.100.7:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE, PRACK\r\n\
Supported: replaces, timer, 100rel\r\n\
P-Asserted-Identity: \"ACME Corp\" <sip:+12125550199@carrier.example.net;user=phone>\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 264\r\n\
\r\n\
v=0\r\n\
o=- 1731234567 1731234567 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 16384 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

const OK_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ab1f0e3c1d;rport=5060;received=198.51.100.7\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-8f3a2c1d\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:bot@10.0.0.5:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
Supported: replaces, timer\r\n\
Server: cxb/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 182\r\n\
\r\n\
v=0\r\n\
o=cxb 42 42 IN IP4 10.0.0.5\r\n\
s=cxb\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n";

const ACK: &str = "ACK sip:bot@10.0.0.5:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---a8c2e0d94b7f;rport\r\n\
Max-Forwards: 70\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-8f3a2c1d\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 ACK\r\n\
Content-Length: 0\r\n\
\r\n";

const BYE: &str = "BYE sip:+12125550199@198.51.100.7:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-cxb-1d0f6a37b2;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-8f3a2c1d\r\n\
To: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 1 BYE\r\n\
Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n\
Content-Length: 0\r\n\
\r\n";

const MESSAGES: [(&str, &str); 4] = [
    ("invite_sdp", INVITE),
    ("200ok_sdp", OK_200),
    ("ack", ACK),
    ("bye", BYE),
];

/// CPU time of the calling thread in nanoseconds (Linux), wall time otherwise.
#[derive(Debug, Clone, Copy)]
struct CpuTime;

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

static WALL: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = (Option<u64>, Instant);
    type Value = u64;

    fn start(&self) -> Self::Intermediate {
        (thread_cpu_ns(), Instant::now())
    }

    fn end(&self, (cpu, wall): Self::Intermediate) -> u64 {
        match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => u64::try_from(wall.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// Equal-size samples of at least a few scheduler ticks each (see [`CpuTime`]).
fn setup(g: &mut criterion::BenchmarkGroup<'_, CpuTime>) {
    g.throughput(Throughput::Elements(1));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);
}

fn parse(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("sip_parse");
    setup(&mut g);
    for (name, text) in MESSAGES {
        // A shared (refcounted) buffer, as a datagram read into a BytesMut and frozen would be.
        let bytes = Bytes::copy_from_slice(text.as_bytes());
        assert!(Message::parse(bytes.clone()).is_ok());
        assert!(rsip::SipMessage::try_from(text.as_bytes()).is_ok());
        g.bench_with_input(BenchmarkId::new("cxb", name), &bytes, |b, bytes| {
            b.iter(|| Message::parse(black_box(bytes.clone())).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("rsip", name), &bytes, |b, bytes| {
            b.iter(|| rsip::SipMessage::try_from(black_box(&bytes[..])).unwrap())
        });
    }
    g.finish();
}

fn parse_access(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("sip_parse_access");
    setup(&mut g);
    for (name, text) in MESSAGES {
        let bytes = Bytes::copy_from_slice(text.as_bytes());
        g.bench_with_input(BenchmarkId::new("cxb", name), &bytes, |b, bytes| {
            b.iter(|| {
                let m = Message::parse(black_box(bytes.clone())).unwrap();
                let h = m.headers();
                let via = h.via().unwrap();
                black_box((via.branch(), via.host, via.port));
                black_box(h.from().unwrap().tag());
                black_box(h.to().unwrap().tag());
                black_box(h.cseq().unwrap().seq);
                black_box(h.call_id().unwrap());
            })
        });
        g.bench_with_input(BenchmarkId::new("rsip", name), &bytes, |b, bytes| {
            b.iter(|| {
                let m = rsip::SipMessage::try_from(black_box(&bytes[..])).unwrap();
                let via = m.via_header().unwrap().typed().unwrap();
                black_box(via.branch().cloned());
                black_box(m.from_header().unwrap().typed().unwrap().tag().cloned());
                black_box(m.to_header().unwrap().typed().unwrap().tag().cloned());
                black_box(m.cseq_header().unwrap().typed().unwrap().seq);
                black_box(m.call_id_header().unwrap().value().len());
            })
        });
    }
    g.finish();
}

fn print(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("sip_print");
    setup(&mut g);
    for (name, text) in MESSAGES {
        let ours = Message::parse(Bytes::copy_from_slice(text.as_bytes())).unwrap();
        assert_eq!(ours.to_bytes(), text.as_bytes());
        let theirs = rsip::SipMessage::try_from(text.as_bytes()).unwrap();
        let mut out = Vec::with_capacity(2048);
        g.bench_function(BenchmarkId::new("cxb", name), |b| {
            b.iter(|| {
                out.clear();
                black_box(&ours).write_to(&mut out);
                black_box(out.len())
            })
        });
        g.bench_function(BenchmarkId::new("rsip", name), |b| {
            b.iter(|| black_box(&theirs).to_string())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = parse, parse_access, print
}
criterion_main!(benches);
