//! Jitter buffer cost per packet: insert + pull through the PCMU playout path (decode, PLC,
//! time-scaling), in steady state and under 5 % bursty loss with 40 ms Pareto jitter.
//!
//! No crates.io crate offers a comparable sans-IO adaptive audio jitter buffer with PLC to
//! put in the same run (see the report in the jitter work notes), so this bench has no
//! baseline group.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cxb_dsp::jitter::sim::{self, SimConfig};
use cxb_dsp::jitter::{Codec, Playout, PlayoutConfig, RtpPacketView};

/// Plays a whole trace through a fresh playout; returns a checksum of the output.
fn play(trace: &sim::Trace, p: &mut Playout, out: &mut [i16]) -> i64 {
    let mut next = 0;
    let mut k: i64 = 0;
    let mut sum = 0i64;
    while next < trace.arrivals.len() {
        let now_us = k * 20_000 + 7_000;
        while next < trace.arrivals.len() && trace.arrivals[next].arrival_us <= now_us {
            let a = trace.arrivals[next];
            let pkt = RtpPacketView {
                seq: a.seq,
                timestamp: a.timestamp,
                ssrc: trace.ssrc,
                marker: a.marker,
                payload_type: 0,
                payload: &trace.payloads[a.frame],
            };
            let _ = p.insert(Duration::from_micros(a.arrival_us as u64), &pkt);
            next += 1;
        }
        let _ = p.pull(Duration::from_micros(now_us as u64), out);
        sum += i64::from(out[0]);
        k += 1;
    }
    sum
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("jitter_pcmu");
    for (name, cfg) in [
        (
            "steady",
            SimConfig {
                seconds: 20.0,
                ..SimConfig::default()
            },
        ),
        (
            "loss5_burst3_jitter40",
            SimConfig {
                seconds: 20.0,
                loss: 0.05,
                burst: 3.0,
                jitter_ms: 40.0,
                ..SimConfig::default()
            },
        ),
    ] {
        let trace = sim::trace(&cfg);
        // One element = one packet sent (one insert + one 20 ms pull).
        g.throughput(Throughput::Elements(trace.sent as u64));
        let mut out = vec![0i16; 160];
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || Playout::new(PlayoutConfig::new(Codec::Pcmu)).expect("config"),
                |p| black_box(play(&trace, p, &mut out)),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
