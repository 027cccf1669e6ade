//! Full call setups per second through the sans-IO transaction layer: a UAC layer and a UAS layer
//! wired back to back in memory. Every message is printed to bytes by the sending layer and
//! parsed again by the receiving one (`handle_datagram`):
//!
//! INVITE → 100 → 180 → 200 → ACK (own transaction for the 2xx, sent statelessly) → BYE → 200.
//!
//! Virtual time advances 1 ms per call and timers are driven, so finished transactions linger
//! as they would (Timer L/M/J 32 s over UDP): the steady state holds ~32 000 calls' transactions.
//!
//! Run: `cargo bench --bench sip_txn`. calls/s = 1 / time per iteration. Two groups: `sip_txn`
//! (wall clock, criterion's default) and `sip_txn_cpu` (this thread's CPU time from
//! `/proc/thread-self/schedstat`, i.e. the cost per call on one core even on a loaded machine;
//! falls back to wall time where that file does not exist).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use cxb_sip::header::{HeaderName, Transport};
use cxb_sip::message::{Method, Request, Response};
use cxb_sip::transaction::{Config, Target, TransactionLayer, TxEvent};

struct Bench {
    now: Instant,
    uac: TransactionLayer,
    uas: TransactionLayer,
    transport: Transport,
    uac_addr: SocketAddr,
    uas_addr: SocketAddr,
    n: u64,
}

impl Bench {
    fn new(transport: Transport) -> Bench {
        let config = Config {
            max_transactions: 1 << 20,
            ..Config::default()
        };
        Bench {
            now: Instant::now(),
            uac: TransactionLayer::new(config.clone()),
            uas: TransactionLayer::new(Config {
                branch_seed: 42,
                ..config
            }),
            transport,
            uac_addr: "10.0.0.1:5060".parse().unwrap(),
            uas_addr: "10.0.0.2:5060".parse().unwrap(),
            n: 0,
        }
    }

    fn request(&self, method: Method, cseq: u32, to_tag: Option<&str>) -> Request {
        let mut r = Request::new(method.clone(), "sip:+15550100@10.0.0.2:5060").unwrap();
        let h = r.headers_mut();
        h.push(
            HeaderName::Via,
            format!("SIP/2.0/{} 10.0.0.1:5060;rport", self.transport.as_str()),
        );
        h.push(HeaderName::MaxForwards, "70");
        h.push(
            HeaderName::From,
            format!("\"Dialler\" <sip:+15550199@10.0.0.1>;tag=f{}", self.n),
        );
        h.push(
            HeaderName::To,
            match to_tag {
                Some(t) => format!("<sip:+15550100@10.0.0.2>;tag={t}"),
                None => "<sip:+15550100@10.0.0.2>".to_owned(),
            },
        );
        h.push(HeaderName::CallId, format!("{}-bench@10.0.0.1", self.n));
        h.push(HeaderName::CSeq, format!("{cseq} {method}"));
        h.push(HeaderName::Contact, "<sip:dialler@10.0.0.1:5060>");
        r
    }

    /// Moves all transmits across (printed bytes → parse) and lets both TUs react, until quiet.
    fn pump(&mut self, tag: &str) -> u32 {
        let mut ok_for_bye = 0;
        loop {
            let mut work = false;
            while let Some(t) = self.uac.poll_transmit() {
                work = true;
                self.uas
                    .handle_datagram(self.now, t.payload, self.uac_addr, t.transport);
            }
            while let Some(t) = self.uas.poll_transmit() {
                work = true;
                self.uac
                    .handle_datagram(self.now, t.payload, self.uas_addr, t.transport);
            }
            while let Some(e) = self.uas.poll_event() {
                work = true;
                if let TxEvent::NewRequest { tx, request, .. } = e {
                    if request.method() == &Method::Invite {
                        self.uas
                            .send_response(self.now, tx, Response::from_request(&request, 100, "Trying"))
                            .unwrap();
                        for (status, reason) in [(180, "Ringing"), (200, "OK")] {
                            let mut r = Response::from_request(&request, status, reason);
                            r.set_to_tag(tag);
                            if status == 200 {
                                r.headers_mut().push(HeaderName::Contact, "<sip:bot@10.0.0.2:5060>");
                            }
                            self.uas.send_response(self.now, tx, r).unwrap();
                        }
                    } else {
                        let mut r = Response::from_request(&request, 200, "OK");
                        r.set_to_tag(tag);
                        self.uas.send_response(self.now, tx, r).unwrap();
                    }
                }
            }
            while let Some(e) = self.uac.poll_event() {
                work = true;
                if let TxEvent::Response { response, .. } = e
                    && response.status() == 200
                {
                    let method = response.headers().cseq().unwrap().method;
                    if method == Method::Invite {
                        let mut ack = self.request(Method::Ack, 1, Some(tag));
                        let via = format!(
                            "SIP/2.0/{} 10.0.0.1:5060;rport;branch=z9hG4bKack{}",
                            self.transport.as_str(),
                            self.n
                        );
                        ack.headers_mut().set(HeaderName::Via, via);
                        ack.set_body(None, "");
                        self.uac.send_stateless(
                            ack,
                            Target {
                                addr: self.uas_addr,
                                transport: self.transport,
                            },
                        );
                    }
                    ok_for_bye += 1;
                }
            }
            if !work {
                return ok_for_bye;
            }
        }
    }

    fn call(&mut self) {
        self.n += 1;
        self.now += Duration::from_millis(1);
        self.uac.handle_timeout(self.now);
        self.uas.handle_timeout(self.now);
        let tag = format!("t{}", self.n);
        let target = Target {
            addr: self.uas_addr,
            transport: self.transport,
        };
        let mut invite = self.request(Method::Invite, 1, None);
        invite.set_body(Some("application/sdp".into()), SDP);
        self.uac.send_request(self.now, invite, target).unwrap();
        let ok = self.pump(&tag);
        let mut bye = self.request(Method::Bye, 2, Some(&tag));
        bye.set_body(None, "");
        self.uac.send_request(self.now, bye, target).unwrap();
        let ok = ok + self.pump(&tag);
        assert_eq!(ok, 2, "INVITE and BYE answered with 200");
    }
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

const CPU_BATCH: u64 = 10;

/// CPU time of the current thread (Linux `/proc/thread-self/schedstat`, first field, ns).
struct ThreadCpuTime;

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_ascii_whitespace().next()?.parse().ok()
}

impl Measurement for ThreadCpuTime {
    type Intermediate = (Option<u64>, Instant);
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        (thread_cpu_ns(), Instant::now())
    }
    fn end(&self, (cpu, wall): Self::Intermediate) -> Self::Value {
        match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => wall.elapsed(),
        }
    }
    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        *v1 + *v2
    }
    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn bench_call_setup_cpu(c: &mut Criterion<ThreadCpuTime>) {
    // The kernel updates a running thread's CPU time at scheduler ticks: use flat sampling (every
    // sample the same, large, iteration count) and 10 calls per iteration so no sample reads zero.
    let mut g = c.benchmark_group("sip_txn_cpu");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(CPU_BATCH));
    let mut b = Bench::new(Transport::Udp);
    g.bench_function("call_setup_udp_x10", |bencher| {
        bencher.iter(|| {
            for _ in 0..CPU_BATCH {
                b.call();
            }
            black_box(b.uac.len() + b.uas.len())
        })
    });
    g.finish();
}

fn bench_call_setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("sip_txn");
    g.throughput(Throughput::Elements(1));
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut b = Bench::new(transport);
        g.bench_function(format!("call_setup_{}", transport.as_str().to_lowercase()), |bencher| {
            bencher.iter(|| {
                b.call();
                black_box(b.uac.len() + b.uas.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_call_setup);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_call_setup_cpu
}
criterion_main!(benches, cpu);
