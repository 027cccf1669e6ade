//! Scenario tests in virtual time (no clock is read anywhere).

use std::time::Duration;

use super::sim::{self, SimConfig};
use super::*;

const FRAME_US: i64 = 20_000;

/// (arrival µs, seq, timestamp, ssrc, marker, payload type, payload) of a packet to deliver.
type Pending = (i64, u16, u32, u32, bool, u8, Vec<u8>);

/// µ-law frame of a 125 Hz tone whose phase follows the frame index (continuous signal).
fn tone_frame(i: u64) -> [u8; 160] {
    let mut p = [0u8; 160];
    for (n, c) in p.iter_mut().enumerate() {
        let t = (i * 160 + n as u64) as f64 / 8000.0;
        *c = crate::g711::ulaw_encode((8000.0 * (2.0 * std::f64::consts::PI * 125.0 * t).sin()) as i16);
    }
    p
}

fn at(us: i64) -> Duration {
    Duration::from_micros(us as u64)
}

/// A PCMU call driven in virtual time: packets are queued with arrival times, pulls happen
/// every 20 ms at `pull_phase_us` past the send grid.
struct Call {
    p: Playout,
    pending: Vec<Pending>,
    k: i64,
    kinds: Vec<PulledKind>,
    out: Vec<i16>,
    last: Vec<i16>,
    delays: Vec<f64>,
    targets: Vec<f64>,
}

impl Call {
    fn new(cfg: PlayoutConfig) -> Self {
        Self {
            p: Playout::new(cfg).unwrap(),
            pending: Vec::new(),
            k: 0,
            kinds: Vec::new(),
            out: Vec::new(),
            last: vec![0; 160],
            delays: Vec::new(),
            targets: Vec::new(),
        }
    }

    fn pcmu() -> Self {
        Self::new(PlayoutConfig::new(Codec::Pcmu))
    }

    #[allow(clippy::too_many_arguments)]
    fn send_raw(&mut self, arrival_us: i64, seq: u16, ts: u32, ssrc: u32, marker: bool, pt: u8, payload: &[u8]) {
        self.pending
            .push((arrival_us, seq, ts, ssrc, marker, pt, payload.to_vec()));
    }

    /// Audio frame `i` of a stream starting at `seq0`/`ts0`.
    fn send(&mut self, arrival_us: i64, i: u64, seq0: u16, ts0: u32) {
        self.send_raw(
            arrival_us,
            seq0.wrapping_add(i as u16),
            ts0.wrapping_add(160 * i as u32),
            7,
            false,
            0,
            &tone_frame(i),
        );
    }

    /// Runs pulls until (and including) the pull at `until_us`.
    fn run_until(&mut self, until_us: i64) {
        self.pending.sort_by_key(|p| p.0);
        let mut buf = vec![0i16; 160];
        loop {
            let now = self.k * FRAME_US + 10_000;
            if now > until_us {
                break;
            }
            let ready = self.pending.iter().take_while(|p| p.0 <= now).count();
            for (arr, seq, timestamp, ssrc, marker, payload_type, payload) in self.pending.drain(..ready) {
                let pkt = RtpPacketView {
                    seq,
                    timestamp,
                    ssrc,
                    marker,
                    payload_type,
                    payload: &payload,
                };
                self.p.insert(at(arr), &pkt).unwrap();
            }
            let kind = self.p.pull(at(now), &mut buf).unwrap();
            self.kinds.push(kind);
            self.out.extend_from_slice(&buf);
            self.last.copy_from_slice(&buf);
            let m = self.p.metrics();
            self.delays.push(m.current_delay_ms);
            self.targets.push(m.target_delay_ms);
            self.k += 1;
        }
    }

    /// Runs pulls until every packet was inserted and the buffer has played them all.
    fn run_to_end(&mut self) {
        while !self.pending.is_empty() || self.p.buffer().pending_packets() > 0 {
            let now = self.k * FRAME_US + 10_000;
            self.run_until(now);
        }
    }

    fn m(&self) -> JitterMetrics {
        self.p.metrics()
    }
}

fn count(kinds: &[PulledKind], k: PulledKind) -> usize {
    kinds.iter().filter(|&&x| x == k).count()
}

#[test]
fn in_order_stream_plays_everything_at_constant_delay() {
    let mut c = Call::pcmu();
    for i in 0..500 {
        c.send(i as i64 * FRAME_US + 3_000, i, 1000, 5000);
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(m.frames_played, 500);
    assert_eq!(m.concealed_ms, 0.0);
    assert_eq!((m.late, m.lost, m.duplicates, m.reordered, m.resets), (0, 0, 0, 0, 0));
    assert_eq!(count(&c.kinds, PulledKind::Concealed), 0);
    // After the initial adaptation (start-up target 60 ms → 25 ms) the delay is constant.
    let steady = &c.delays[150..495];
    let (lo, hi) = steady
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &d| (a.min(d), b.max(d)));
    assert!(hi - lo < 0.5, "delay varies {lo}..{hi}");
    assert!((20.0..=45.0).contains(&lo), "delay {lo}");
}

#[test]
fn reordering_by_one_to_three_packets_loses_nothing() {
    let mut cfg = PlayoutConfig::new(Codec::Pcmu);
    cfg.jitter.initial_delay = Duration::from_millis(100);
    let mut c = Call::new(cfg);
    for i in 0..1000u64 {
        // Every 5th packet is held back by 1–3 packet times (so 1–3 later ones overtake it).
        let hold = if i % 5 == 0 {
            20_000 * (1 + (i / 5 % 3) as i64) + 1_000
        } else {
            0
        };
        c.send(i as i64 * FRAME_US + 3_000 + hold, i, 65_000, 1);
    }
    c.run_to_end();
    let m = c.m();
    assert!(m.reordered > 150, "{m:?}");
    assert_eq!(
        (m.late, m.lost, m.missing_frames, m.underrun_frames),
        (0, 0, 0, 0),
        "{m:?}"
    );
    assert_eq!(m.frames_played, 1000);
}

#[test]
fn core_buffer_hands_out_packets_in_sequence_order() {
    let mut jb = JitterBuffer::new(JitterConfig {
        initial_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .unwrap();
    let order = [1u16, 0, 3, 2, 6, 4, 5, 7, 9, 8];
    for (n, &s) in order.iter().enumerate() {
        let payload = [s as u8; 160];
        let pkt = RtpPacketView {
            seq: s,
            timestamp: u32::from(s) * 160,
            ssrc: 1,
            marker: false,
            payload_type: 0,
            payload: &payload,
        };
        assert_eq!(
            jb.insert(at(n as i64 * FRAME_US), &pkt).unwrap(),
            InsertOutcome::Buffered
        );
    }
    let mut seqs = Vec::new();
    for k in 0..20 {
        if let Frame::Packet { seq, payload, .. } = jb.pull(at(10 * FRAME_US + k * FRAME_US)) {
            assert_eq!(payload[0], seq as u8);
            seqs.push(seq);
        }
    }
    assert_eq!(seqs, (0..10).collect::<Vec<u16>>());
    assert_eq!(jb.metrics().reordered, 5);
}

/// Packets of `sizes` (seq `first..`) with payload bytes `seq, seq+1, …`, all arriving at `t_us`
/// in the order of `order` (offsets into `sizes`).
fn insert_sized(jb: &mut JitterBuffer, t_us: i64, ssrc: u32, first: u16, sizes: &[usize], order: &[usize]) {
    for &i in order {
        let seq = first + i as u16;
        let payload: Vec<u8> = (0..sizes[i]).map(|k| (usize::from(seq) + k) as u8).collect();
        let pkt = RtpPacketView {
            seq,
            timestamp: u32::from(seq) * 960,
            ssrc,
            marker: false,
            payload_type: 111,
            payload: &payload,
        };
        assert_eq!(jb.insert(at(t_us), &pkt).unwrap(), InsertOutcome::Buffered, "seq {seq}");
    }
}

/// Pulls `n` frames from `t_us` on and checks each is the packet of the next sequence number
/// with its exact payload.
fn pull_sized(jb: &mut JitterBuffer, t_us: i64, first: u16, sizes: &[usize]) {
    let mut got = Vec::new();
    for k in 0..sizes.len() as i64 + 20 {
        if let Frame::Packet { seq, payload, .. } = jb.pull(at(t_us + k * FRAME_US)) {
            let i = usize::from(seq - first);
            assert_eq!(payload.len(), sizes[i], "seq {seq}");
            assert!(
                payload
                    .iter()
                    .enumerate()
                    .all(|(k, &b)| b == (usize::from(seq) + k) as u8)
            );
            got.push(seq);
        }
    }
    assert_eq!(got, (first..first + sizes.len() as u16).collect::<Vec<_>>());
}

#[test]
fn payloads_above_the_inline_size_play_back_intact_from_the_overflow_store() {
    let cfg = JitterConfig {
        max_payload: 1275,
        clock_rate: 48_000,
        initial_delay: Duration::from_millis(100),
        ..Default::default()
    };
    let mut jb = JitterBuffer::new(cfg).unwrap();
    // An Opus-sized buffer keeps 320 B per slot, not 1,275.
    assert_eq!(jb.payload_bytes(), 32 * buffer::INLINE_PAYLOAD);
    // Mixed sizes, reordered: inline (≤ 320) and overflow payloads interleave.
    let sizes = [1275, 100, 900, 321, 320, 1275, 50, 640, 1, 1000];
    insert_sized(&mut jb, 0, 7, 0, &sizes, &[1, 0, 3, 2, 5, 4, 6, 8, 7, 9]);
    assert_eq!(
        jb.payload_bytes(),
        32 * 320 + 6 * 1275,
        "one overflow entry per large payload buffered"
    );
    pull_sized(&mut jb, 5 * FRAME_US, 0, &sizes);
    // Played entries are reused (here by a new stream): the same number of large payloads
    // needs no new entry.
    insert_sized(&mut jb, 40 * FRAME_US, 8, 10, &sizes, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(jb.payload_bytes(), 32 * 320 + 6 * 1275);
    pull_sized(&mut jb, 45 * FRAME_US, 10, &sizes);
    // A payload over `max_payload` is still refused.
    let big = [0u8; 1276];
    let pkt = RtpPacketView {
        seq: 30,
        timestamp: 30 * 960,
        ssrc: 8,
        marker: false,
        payload_type: 111,
        payload: &big,
    };
    assert!(jb.insert(at(80 * FRAME_US), &pkt).is_err());
}

#[test]
fn duplicates_are_dropped() {
    let mut c = Call::pcmu();
    for i in 0..300 {
        c.send(i as i64 * FRAME_US + 3_000, i, 0, 0);
        // One copy right behind it, and for every 10th packet one long after it was played.
        c.send(i as i64 * FRAME_US + 8_000, i, 0, 0);
        if i % 10 == 0 {
            c.send(i as i64 * FRAME_US + 150_000, i, 0, 0);
        }
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(m.duplicates, 330);
    assert_eq!((m.frames_played, m.late, m.lost), (300, 0, 0));
    assert_eq!(m.concealed_ms, 0.0);
}

#[test]
fn burst_loss_is_concealed_then_recovers_cleanly() {
    let mut c = Call::pcmu();
    for i in 0..400u64 {
        if !(200..206).contains(&i) {
            c.send(i as i64 * FRAME_US + 3_000, i, 10, 10);
        }
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(m.lost, 6);
    assert_eq!(m.missing_frames + m.underrun_frames, 6);
    assert_eq!(m.concealed_ms, 120.0);
    assert_eq!(m.frames_played, 394);
    // One contiguous run of concealed frames, audio before and after.
    let first = c.kinds.iter().position(|&k| k == PulledKind::Concealed).unwrap();
    assert!(
        c.kinds[first..first + 6].iter().all(|&k| k == PulledKind::Concealed),
        "{:?}",
        &c.kinds[first..]
    );
    assert!(c.kinds[first + 7..first + 50].iter().all(|&k| k == PulledKind::Audio));
    // The concealment fades out within 60 ms: the last 60 ms of the gap are silent.
    let gap = &c.out[(first + 3) * 160..(first + 6) * 160];
    assert!(gap.iter().all(|&s| s == 0), "gap not muted");
    // Recovery: 60 ms after the gap the output is the undistorted tone again.
    let after = &c.out[(first + 9) * 160..(first + 10) * 160];
    let peak = after.iter().map(|&s| i32::from(s).abs()).max().unwrap();
    assert!((7_000..9_000).contains(&peak), "peak {peak}");
}

#[test]
fn jitter_spike_raises_target_fast_then_it_decays() {
    let mut c = Call::pcmu();
    for i in 0..4000u64 {
        let send = i as i64 * FRAME_US;
        // 1 s (packets 1000..1050) delayed by an extra 150 ms: a congestion spike.
        let extra = if (1000..1050).contains(&i) { 150_000 } else { 0 };
        c.send(send + 3_000 + extra, i, 0, 0);
    }
    c.run_to_end();
    let before = c.targets[990];
    assert!(before <= 30.0, "target before spike {before}");
    // The spike's first packets reach the buffer at pull ≈ 1008; within 10 more packets the target jumped.
    let soon = c.targets[1000..1030].iter().cloned().fold(0.0, f64::max);
    assert!(soon >= 150.0, "target after spike {soon}");
    // It holds for a while, then decays slowly…
    assert!(c.targets[1200] >= 150.0, "held {}", c.targets[1200]);
    assert!(c.targets[1600] < c.targets[1200]);
    // …back to the baseline.
    let end = c.targets[3990];
    assert!(end <= 30.0, "target at the end {end}");
    let delay_end = c.delays[3990];
    assert!(delay_end <= 50.0, "delay at the end {delay_end}");
}

fn drift_run(ppm: f64) -> sim::SimReport {
    let cfg = SimConfig {
        seconds: 600.0,
        drift_ppm: ppm,
        ..SimConfig::default()
    };
    sim::run(&cfg).unwrap()
}

#[test]
fn sender_clock_fast_by_0_1_percent_for_10_minutes_stays_bounded() {
    let r = drift_run(1000.0);
    let m = r.metrics;
    assert_eq!(m.underruns, 0, "{m:?}");
    assert_eq!((m.late, m.concealed_ms), (0, 0.0));
    assert!(r.delay_max_ms <= 80.0 && r.delay_p95_ms <= 50.0, "{r:?}");
    // 600 s at +1000 ppm: 600 ms of audio too much must have been removed.
    let shrunk = m.accelerate_ms + m.silence_dropped_ms - m.expand_ms - m.silence_inserted_ms;
    assert!((550.0..=700.0).contains(&shrunk), "net shrink {shrunk} ms");
}

#[test]
fn sender_clock_slow_by_0_1_percent_for_10_minutes_stays_bounded() {
    let r = drift_run(-1000.0);
    let m = r.metrics;
    assert!(m.underruns <= 1, "{m:?}");
    assert_eq!((m.late, m.concealed_ms), (0, 0.0), "{m:?}");
    assert!(r.delay_max_ms <= 80.0 && r.delay_p95_ms <= 50.0, "{r:?}");
    let grown = m.expand_ms + m.silence_inserted_ms - m.accelerate_ms - m.silence_dropped_ms;
    // 600 ms missing, less the start-up excess (60 ms initial target) that was dropped.
    assert!((500.0..=650.0).contains(&grown), "net growth {grown} ms");
}

#[test]
fn sequence_and_timestamp_wrap_mid_stream() {
    let mut c = Call::pcmu();
    for i in 0..200 {
        c.send(i as i64 * FRAME_US + 3_000, i, 65_436, u32::MAX - 160 * 50 + 1);
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(
        (m.frames_played, m.late, m.lost, m.resets, m.reanchors),
        (200, 0, 0, 0, 0),
        "{m:?}"
    );
    assert_eq!(m.concealed_ms, 0.0);
}

#[test]
fn ssrc_change_resets_the_stream() {
    let mut c = Call::pcmu();
    for i in 0..100 {
        c.send(i as i64 * FRAME_US + 3_000, i, 500, 12_345);
    }
    for i in 100..200u64 {
        // New source: unrelated sequence numbers and timestamps.
        let (seq, ts) = (40_000u16.wrapping_add(i as u16), 9_000_000u32 + 160 * i as u32);
        c.send_raw(i as i64 * FRAME_US + 3_000, seq, ts, 99, i == 100, 0, &tone_frame(i));
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(m.resets, 1);
    assert_eq!((m.late, m.lost, m.missing_frames), (0, 0, 0), "{m:?}");
    // The old source's not yet played tail is flushed by the reset.
    assert!((1..=3).contains(&m.flushed), "{m:?}");
    assert_eq!(m.frames_played + m.flushed, 200);
}

#[test]
fn marker_bit_after_silence_reanchors_without_loss() {
    let mut c = Call::pcmu();
    for i in 0..100u64 {
        c.send(i as i64 * FRAME_US + 3_000, i, 7, 0);
    }
    // Two seconds of sender silence (DTX): no packets, timestamps move on, sequence does not.
    for i in 100..200u64 {
        let ts = 160 * (i as u32 + 100);
        c.send_raw(
            (i as i64 + 100) * FRAME_US + 3_000,
            7 + i as u16,
            ts,
            7,
            i == 100,
            0,
            &tone_frame(i + 100),
        );
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(m.reanchors, 1, "{m:?}");
    assert_eq!((m.lost, m.late, m.missing_frames), (0, 0, 0), "{m:?}");
    assert_eq!(m.frames_played, 200);
    // The silence in between is silent once the concealment faded out.
    let mid = &c.out[150 * 160..190 * 160];
    assert!(mid.iter().all(|&s| s == 0));
    // The new talkspurt plays at the target delay.
    assert!(c.delays[300] <= 40.0, "{}", c.delays[300]);
}

fn dtmf(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
}

#[test]
fn dtmf_packets_surface_as_events_in_order() {
    let mut c = Call::pcmu();
    let mut seq = 0u16;
    for i in 0..300u64 {
        let arr = i as i64 * FRAME_US + 3_000;
        c.send_raw(arr, seq, 160 * i as u32, 7, false, 0, &tone_frame(i));
        seq = seq.wrapping_add(1);
        // '5' at frame 50 (3 updates, 3 redundant ends), '#' at frame 100.
        for (start, code) in [(50u64, 5u8), (100, 11)] {
            if (start..start + 6).contains(&i) {
                let n = (i - start) as u16;
                let end = n >= 3;
                let p = dtmf(code, end, 160 * (n.min(3) + 1));
                c.send_raw(arr + 1_000, seq, 160 * start as u32, 7, n == 0, 101, &p);
                seq = seq.wrapping_add(1);
            }
        }
    }
    // A stray telephone-event packet with a short payload is ignored.
    c.send_raw(299 * FRAME_US + 5_000, seq, 160 * 299, 7, false, 101, &[1, 2]);
    c.run_to_end();
    let mut evs = Vec::new();
    while let Some(e) = c.p.poll_event() {
        evs.push((e.digit(), e.end, e.timestamp, e.duration));
    }
    assert_eq!(
        evs,
        vec![
            (Some('5'), false, 8000, 160),
            (Some('5'), true, 8000, 640),
            (Some('#'), false, 16_000, 160),
            (Some('#'), true, 16_000, 640)
        ]
    );
    let m = c.m();
    assert_eq!(
        (m.lost, m.missing_frames, m.late, m.dtmf_events, m.invalid),
        (0, 0, 0, 4, 1),
        "{m:?}"
    );
    assert_eq!(m.frames_played, 300);
}

#[test]
fn comfort_noise_plays_as_silence() {
    let mut c = Call::pcmu();
    for i in 0..100u64 {
        let (pt, payload) = if (40..60).contains(&i) {
            (13, vec![40u8])
        } else {
            (0, tone_frame(i).to_vec())
        };
        c.send_raw(
            i as i64 * FRAME_US + 3_000,
            i as u16,
            160 * i as u32,
            1,
            false,
            pt,
            &payload,
        );
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!(m.concealed_ms, 0.0);
    assert_eq!(m.frames_played, 100);
    assert!(count(&c.kinds, PulledKind::Silence) >= 20);
}

#[test]
fn late_packet_is_counted_and_dropped() {
    let mut c = Call::pcmu();
    for i in 0..200 {
        let extra = if i == 100 { 400_000 } else { 0 };
        c.send(i as i64 * FRAME_US + 3_000 + extra, i, 0, 0);
    }
    c.run_to_end();
    let m = c.m();
    assert_eq!((m.late, m.lost, m.frames_played), (1, 0, 199), "{m:?}");
    assert_eq!(m.concealed_ms, 20.0);
}

#[test]
fn long_underrun_fades_to_silence() {
    let mut c = Call::pcmu();
    for i in 0..100 {
        c.send(i as i64 * FRAME_US + 3_000, i, 0, 0);
    }
    c.run_until(130 * FRAME_US);
    assert!(c.m().underrun_frames >= 20);
    assert!(c.last.iter().all(|&s| s == 0));
}

#[test]
fn bad_input_gives_typed_errors() {
    let mut p = Playout::new(PlayoutConfig::new(Codec::Pcmu)).unwrap();
    let big = [0u8; 1000];
    let pkt = RtpPacketView {
        seq: 1,
        timestamp: 1,
        ssrc: 1,
        marker: false,
        payload_type: 0,
        payload: &big,
    };
    assert_eq!(
        p.insert(at(0), &pkt),
        Err(JitterError::PayloadTooLarge { len: 1000, max: 320 })
    );
    let mut short = [0i16; 100];
    assert_eq!(
        p.pull(at(0), &mut short),
        Err(JitterError::OutputLength { len: 100, frame: 160 })
    );
    let bad = JitterConfig {
        capacity: 2,
        ..JitterConfig::default()
    };
    assert!(matches!(
        JitterBuffer::new(bad),
        Err(JitterError::InvalidConfig { field: "capacity", .. })
    ));
    let bad = JitterConfig {
        frame: Duration::from_micros(20_001),
        ..JitterConfig::default()
    };
    assert!(matches!(JitterBuffer::new(bad), Err(JitterError::InvalidConfig { .. })));
    assert!(Playout::new(PlayoutConfig::new(Codec::Opus { rate: 44_100 })).is_err());
}

#[test]
fn opus_stream_with_loss_uses_decoder_concealment() {
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    enc.set_inband_fec(true).unwrap();
    enc.set_packet_loss_perc(20).unwrap();
    let mut p = Playout::new(PlayoutConfig::new(Codec::Opus { rate: 48_000 })).unwrap();
    assert_eq!(p.frame_len(), 960);
    let mut out = vec![0i16; 960];
    let mut kinds = Vec::new();
    let mut pcm = vec![0i16; 960];
    let mut packets = Vec::new();
    for i in 0..150u64 {
        for (n, s) in pcm.iter_mut().enumerate() {
            let t = (i * 960 + n as u64) as f64 / 48_000.0;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * 200.0 * t).sin()) as i16;
        }
        let mut buf = [0u8; 1275];
        let len = enc.encode(&pcm, &mut buf).unwrap();
        packets.push(buf[..len].to_vec());
    }
    for k in 0..160i64 {
        let now = k * FRAME_US + 10_000;
        // Packets arrive 40 ms early relative to their pull, so the one after a loss is there (FEC).
        for i in [k + 2] {
            if (0..150).contains(&i) && i != 80 && i != 81 {
                let pkt = RtpPacketView {
                    seq: i as u16,
                    timestamp: 960 * i as u32,
                    ssrc: 3,
                    marker: false,
                    payload_type: 111,
                    payload: &packets[i as usize],
                };
                p.insert(at(now - 5_000), &pkt).unwrap();
            }
        }
        kinds.push(p.pull(at(now), &mut out).unwrap());
    }
    let m = p.metrics();
    assert_eq!(m.lost, 2);
    assert_eq!(m.missing_frames, 2, "{m:?}");
    assert!(count(&kinds, PulledKind::Audio) >= 140);
}

#[test]
fn simulated_loss_is_concealed_and_zero_impairment_is_clean() {
    let clean = sim::run(&SimConfig {
        seconds: 30.0,
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(
        (clean.concealed_pct, clean.late_loss_pct, clean.lost_pct),
        (0.0, 0.0, 0.0)
    );
    let lossy = sim::run(&SimConfig {
        seconds: 60.0,
        loss: 0.05,
        burst: 3.0,
        ..SimConfig::default()
    })
    .unwrap();
    assert!((3.5..=6.5).contains(&lossy.lost_pct), "{lossy:?}");
    assert!((lossy.concealed_pct - lossy.lost_pct).abs() < 0.2, "{lossy:?}");
}

#[test]
fn simulation_is_deterministic() {
    let cfg = SimConfig {
        seconds: 20.0,
        loss: 0.03,
        burst: 2.0,
        jitter_ms: 30.0,
        reorder: 0.02,
        duplicate: 0.02,
        ..SimConfig::default()
    };
    assert_eq!(sim::run(&cfg).unwrap(), sim::run(&cfg).unwrap());
}

#[test]
fn g722_stream_uses_8k_clock_and_16k_output() {
    let codec = Codec::G722;
    assert_eq!((codec.clock_rate(), codec.sample_rate()), (8000, 16_000));
    let mut p = Playout::new(PlayoutConfig::new(codec)).unwrap();
    assert_eq!(p.frame_len(), 320);
    assert_eq!(p.buffer().config().frame_ts(), 160);
    let mut enc = crate::g722::G722Encoder::new();
    let mut out = vec![0i16; 320];
    let mut kinds = Vec::new();
    let mut decoded = Vec::new();
    for k in 0..100i64 {
        let now = k * FRAME_US + 10_000;
        let i = k as u64;
        if i != 50 {
            let mut pcm = [0i16; 320];
            for (n, s) in pcm.iter_mut().enumerate() {
                let t = (i * 320 + n as u64) as f64 / 16_000.0;
                *s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16;
            }
            let mut payload = [0u8; 160];
            assert_eq!(enc.encode(&pcm, &mut payload).unwrap(), 160);
            let pkt = RtpPacketView {
                seq: i as u16,
                timestamp: 160 * i as u32,
                ssrc: 9,
                marker: i == 0,
                payload_type: 9,
                payload: &payload,
            };
            p.insert(at(now - 5_000), &pkt).unwrap();
        }
        kinds.push(p.pull(at(now), &mut out).unwrap());
        decoded.extend_from_slice(&out);
    }
    let m = p.metrics();
    assert_eq!(m.lost, 1, "{m:?}");
    assert!(count(&kinds, PulledKind::Audio) >= 90, "{kinds:?}");
    // The decoded tail is a loud 1 kHz tone at 16 kHz (not 8 kHz-rate garbage).
    let tail = &decoded[decoded.len() - 3200..];
    let rms = (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
    assert!(rms > 3000.0, "rms {rms}");
}
