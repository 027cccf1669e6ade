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
use cxb_sip::message::samples::{ACK, BYE, INVITE, OK_200};
use rsip::prelude::*;

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
