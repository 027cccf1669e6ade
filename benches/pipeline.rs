//! Whole per-call media pipeline cost for one 20 ms frame: `RtpMedia::on_rtp` of one received
//! packet plus one `RtpMedia::tick` (jitter buffer → decode → resample to 16 kHz → VAD with
//! echo gate → caller ring; downlink 16 kHz → line-rate resample → encode → packetize), for
//! PCMU and Opus. The implied capacity is `20 ms / cost` calls per core (printed after the
//! criterion groups, from a plain timing loop over the same code). `pcmu_500_calls_round_robin`
//! runs 500 calls' frames in turn, as a shard does, so each frame starts with its call's state
//! out of the caches: the cost per call-frame under load.
//!
//! No crates.io crate implements a comparable whole RTP media pipeline (jitter buffer, codecs,
//! resampling, VAD, echo gate, DTMF, RTCP) to put in the same run, so this bench has no
//! baseline group; the per-component baselines live in `codecs`, `resample`, `vad`, `jitter`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use cxb_dataplane::media::{MediaCodec, RtpMedia, RtpMediaConfig};
use cxb_dataplane::rtp::{RtpHeader, RtpPacket, write_rtp};

const FRAMES: usize = 250;

/// What the calls under test are fed: pre-encoded packets of a peer talking, and bot audio to
/// queue.
struct Source {
    peer: SocketAddr,
    payloads: Vec<Vec<u8>>,
    bot: Vec<i16>,
    pkt: Vec<u8>,
    pt: u8,
}

/// One call under test and the frame it is at.
struct Call {
    media: RtpMedia,
    src: Source,
    k: u64,
}

fn speechish(n: usize) -> Vec<i16> {
    // Two tones with a slow amplitude envelope: voiced, loud enough for the VAD to work on.
    (0..n)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            let env = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            (env * 6000.0
                * ((2.0 * std::f64::consts::PI * 220.0 * t).sin()
                    + 0.5 * (2.0 * std::f64::consts::PI * 1100.0 * t).sin())) as i16
        })
        .collect()
}

/// A call's media sending to `to` (trusted, rtcp-mux).
fn media(codec: MediaCodec, ssrc: u32, to: SocketAddr) -> RtpMedia {
    RtpMedia::new(RtpMediaConfig {
        remote_rtp: Some(to),
        remote_trusted: true,
        rtcp_mux: true,
        ..RtpMediaConfig::new(codec, ssrc, Duration::ZERO)
    })
    .unwrap()
}

impl Source {
    fn new(codec: MediaCodec) -> Source {
        // The peer encodes FRAMES packets once; the calls under test replay them.
        let mut peer_media = media(codec, 2, "198.18.0.1:20000".parse().unwrap());
        peer_media.downlink_mut().push_bot_audio(&speechish(FRAMES * 320));
        let mut payloads = Vec::new();
        let mut pt = 0;
        for k in 0..FRAMES as u64 {
            peer_media.tick(Duration::from_millis(20 * k), &mut |_, b| {
                if let Ok(p) = RtpPacket::parse(b) {
                    pt = p.pt;
                    payloads.push(p.payload.to_vec());
                }
            });
        }
        Source {
            peer: "198.18.0.2:30000".parse().unwrap(),
            payloads,
            bot: speechish(16_000),
            pkt: vec![0; 1600],
            pt,
        }
    }

    /// Frame `k` of `media`: the packet of this frame arrives, then the tick runs.
    fn frame(&mut self, media: &mut RtpMedia, k: u64) -> usize {
        let now = Duration::from_millis(20 * k);
        let payload = &self.payloads[k as usize % self.payloads.len()];
        let ts_step = if self.pt == 0 { 160 } else { 960 };
        let hdr = RtpHeader {
            pt: self.pt,
            marker: k == 0,
            seq: k as u16,
            ts: (k as u32).wrapping_mul(ts_step),
            ssrc: 99,
        };
        let n = write_rtp(&mut self.pkt, &hdr, payload);
        media.on_rtp(now + Duration::from_millis(5), self.peer, &self.pkt[..n]);
        if media.downlink().queued_samples() < 16_000 {
            media.downlink_mut().push_bot_audio(&self.bot);
        }
        let mut sent = 0;
        media.tick(now + Duration::from_millis(20), &mut |_, b| sent += b.len());
        while media.poll_event().is_some() {}
        sent
    }
}

impl Call {
    fn new(codec: MediaCodec) -> Call {
        let src = Source::new(codec);
        Call {
            media: media(codec, 1, src.peer),
            src,
            k: 0,
        }
    }

    /// The next 20 ms frame.
    fn frame(&mut self) -> usize {
        self.k += 1;
        self.src.frame(&mut self.media, self.k - 1)
    }
}

/// A shard's worth of PCMU calls run round-robin, one frame each in turn, as a shard's tick runs
/// them: every call's state has left the caches by its next frame, so this is the pipeline's
/// cost under load (memory traffic included), not in a hot cache.
struct Shard {
    calls: Vec<(RtpMedia, rtrb::Consumer<i16>)>,
    src: Source,
    next: usize,
    k: u64,
}

impl Shard {
    fn new(n: usize) -> Shard {
        let src = Source::new(MediaCodec::Pcmu);
        let calls = (0..n)
            .map(|i| {
                let mut m = media(MediaCodec::Pcmu, 1000 + i as u32, src.peer);
                let ring = m.uplink_mut().take_caller_ring().unwrap();
                (m, ring)
            })
            .collect();
        Shard {
            calls,
            src,
            next: 0,
            k: 0,
        }
    }

    /// The next call's frame (the packet arrives, the tick runs, the STT side drains the ring).
    fn call_frame(&mut self) -> usize {
        if self.next == self.calls.len() {
            self.next = 0;
            self.k += 1;
        }
        // As the shard's caller pass does: start loading the call after next's inline state and
        // the next call's heap buffers first.
        if let Some((m, _)) = self.calls.get(self.next + 2) {
            cxb_dsp::simd::prefetch(m);
        }
        if let Some((m, _)) = self.calls.get(self.next + 1) {
            m.prefetch_send();
            m.prefetch_receive();
        }
        let (m, ring) = &mut self.calls[self.next];
        self.next += 1;
        let sent = self.src.frame(m, self.k);
        let _ = ring.read_chunk(ring.slots()).map(|c| c.commit_all());
        sent
    }
}

/// Calls of the round-robin group (a shard near its measured capacity).
const SHARD_CALLS: usize = 500;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline_frame");
    for (name, codec) in [("pcmu", MediaCodec::Pcmu), ("opus", MediaCodec::Opus)] {
        let mut call = Call::new(codec);
        // Drain the caller ring as an STT client would.
        let mut ring = call.media.uplink_mut().take_caller_ring().unwrap();
        for _ in 0..100 {
            call.frame();
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                let n = call.frame();
                let _ = ring.read_chunk(ring.slots()).map(|c| c.commit_all());
                black_box(n)
            })
        });
    }
    let mut shard = Shard::new(SHARD_CALLS);
    for _ in 0..SHARD_CALLS * 100 {
        shard.call_frame();
    }
    g.bench_function("pcmu_500_calls_round_robin", |b| {
        b.iter(|| black_box(shard.call_frame()))
    });
    g.finish();
    for (name, codec) in [("pcmu", MediaCodec::Pcmu), ("opus", MediaCodec::Opus)] {
        let mut call = Call::new(codec);
        let mut ring = call.media.uplink_mut().take_caller_ring().unwrap();
        let n = 3000;
        let t = Instant::now();
        for _ in 0..n {
            black_box(call.frame());
            let _ = ring.read_chunk(ring.slots()).map(|c| c.commit_all());
        }
        let per = t.elapsed().as_nanos() as f64 / f64::from(n);
        println!(
            "pipeline_frame/{name}: {per:.0} ns per 20 ms frame -> {:.0} calls per core",
            20e6 / per
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
