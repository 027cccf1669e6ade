//! Two `RtpMedia` talking to each other in virtual time, clean and impaired, plus the recorder.

use std::net::SocketAddr;
use std::time::Duration;

use super::session_tests::addr;
use super::tests::tone;
use super::*;

const A: &str = "198.18.0.1:20000";
const B: &str = "198.18.0.2:30000";

fn media(codec: MediaCodec, ssrc: u32, peer: &str) -> RtpMedia {
    let cfg = RtpMediaConfig {
        remote_rtp: Some(addr(peer)),
        remote_trusted: true,
        rtcp_mux: true,
        ..RtpMediaConfig::new(codec, ssrc, Duration::ZERO)
    };
    RtpMedia::new(cfg).unwrap()
}

/// Deterministic network: each packet is lost with probability `loss`, delayed 10 ms plus up to
/// `jitter_ms`, and with probability `reorder` held back an extra 30 ms (arriving after later ones).
struct Net {
    loss: f64,
    jitter_ms: u64,
    reorder: f64,
    rng: u64,
    in_flight: Vec<(Duration, SocketAddr, SocketAddr, Vec<u8>)>,
    lost: u32,
}

impl Net {
    fn new(loss: f64, jitter_ms: u64, reorder: f64) -> Self {
        Net {
            loss,
            jitter_ms,
            reorder,
            rng: 0x9e37_79b9_7f4a_7c15,
            in_flight: Vec::new(),
            lost: 0,
        }
    }

    fn rand(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn send(&mut self, now: Duration, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if self.rand() < self.loss {
            self.lost += 1;
            return;
        }
        let mut delay = 10 + (self.rand() * self.jitter_ms as f64) as u64;
        if self.rand() < self.reorder {
            delay += 30;
        }
        self.in_flight
            .push((now + Duration::from_millis(delay), from, to, bytes.to_vec()));
    }

    /// Delivers everything due by `now`, in arrival order.
    fn deliver(&mut self, now: Duration, a: &mut RtpMedia, b: &mut RtpMedia) {
        self.in_flight.sort_by_key(|p| p.0);
        let due = self.in_flight.iter().take_while(|p| p.0 <= now).count();
        for (at, from, to, bytes) in self.in_flight.drain(..due) {
            if to == addr(B) {
                b.on_rtp(at, from, &bytes);
            } else {
                a.on_rtp(at, from, &bytes);
            }
        }
    }
}

/// Runs A (talking a 1 kHz tone) and B for `secs` seconds; returns B's 16 kHz caller audio.
fn talk(codec: MediaCodec, net: &mut Net, secs: u64, mut tap: impl FnMut(&RtpMedia)) -> Vec<i16> {
    let mut a = media(codec, 0xa, B);
    let mut b = media(codec, 0xb, A);
    let mut ring = b.uplink_mut().take_caller_ring().unwrap();
    let total = secs as usize * 16_000;
    assert_eq!(
        a.downlink_mut()
            .push_bot_audio(&tone(1000.0, 16_000, 0, total, 10_000.0)),
        total
    );
    let mut heard = Vec::new();
    for k in 0..secs * 50 {
        let now = Duration::from_millis(20 * k);
        // Both ticks run at the same instant, packets land between ticks.
        let mut out = Vec::new();
        a.tick(now, &mut |to, bytes| out.push((addr(A), to, bytes.to_vec())));
        b.tick(now, &mut |to, bytes| out.push((addr(B), to, bytes.to_vec())));
        for (from, to, bytes) in out {
            net.send(now, from, to, &bytes);
        }
        tap(&b);
        net.deliver(now + Duration::from_millis(19), &mut a, &mut b);
        while let Ok(s) = ring.pop() {
            heard.push(s);
        }
    }
    heard
}

/// SNR of `x` against the best-fitting 1 kHz sinusoid (+ DC) at 16 kHz, in dB.
fn snr_1khz(x: &[i16]) -> f64 {
    let w = 2.0 * std::f64::consts::PI * 1000.0 / 16_000.0;
    // Least squares on [sin, cos, 1] (orthogonal over whole periods: 16 samples).
    let n = x.len() / 16 * 16;
    let (mut s, mut c, mut m) = (0.0, 0.0, 0.0);
    for (i, &v) in x[..n].iter().enumerate() {
        let v = f64::from(v);
        s += v * (w * i as f64).sin();
        c += v * (w * i as f64).cos();
        m += v;
    }
    let (s, c, m) = (2.0 * s / n as f64, 2.0 * c / n as f64, m / n as f64);
    let (mut sig, mut err) = (0.0, 0.0);
    for (i, &v) in x[..n].iter().enumerate() {
        let fit = s * (w * i as f64).sin() + c * (w * i as f64).cos() + m;
        sig += fit * fit;
        err += (f64::from(v) - fit).powi(2);
    }
    10.0 * (sig / err.max(1e-9)).log10()
}

#[test]
fn bot_tone_reaches_the_peer_uplink_cleanly_for_every_codec() {
    for codec in [MediaCodec::Pcmu, MediaCodec::Pcma, MediaCodec::G722, MediaCodec::Opus] {
        let heard = talk(codec, &mut Net::new(0.0, 0, 0.0), 4, |_| {});
        assert!(heard.len() >= 4 * 16_000 - 640, "{codec:?}: {}", heard.len());
        let snr = snr_1khz(&heard[16_000..48_000]);
        assert!(snr > 20.0, "{codec:?}: SNR {snr:.1} dB");
    }
}

#[test]
fn impaired_path_still_yields_continuous_audio() {
    for codec in [MediaCodec::Pcmu, MediaCodec::Opus] {
        let mut net = Net::new(0.05, 20, 0.05);
        let heard = talk(codec, &mut net, 10, |_| {});
        assert!(net.lost > 10, "{}", net.lost);
        // After start-up the audio goes on: losses are concealed and reordering absorbed. At
        // most 2 % of 10 ms windows dip below -17 dB of the tone (Opus concealment fades a
        // little), and never more than 40 ms in a row.
        let quiet: Vec<usize> = heard[16_000..9 * 16_000]
            .chunks(160)
            .enumerate()
            .filter(|(_, w)| super::tests::rms(w) < 1000.0)
            .map(|(i, _)| i)
            .collect();
        let mut run = 0;
        let mut longest = 0;
        for (j, &i) in quiet.iter().enumerate() {
            run = if j > 0 && quiet[j - 1] + 1 == i { run + 1 } else { 1 };
            longest = longest.max(run);
        }
        assert!(
            quiet.len() <= 16 && longest <= 4,
            "{codec:?}: quiet 10 ms windows {quiet:?}"
        );
        let snr = snr_1khz(&heard[16_000..9 * 16_000]);
        assert!(snr > 3.0, "{codec:?}: SNR {snr:.1} dB");
    }
}

#[test]
fn recorder_gets_both_directions_time_aligned() {
    let tmp = tempfile::Builder::new().prefix("cxb-loop-rec-").tempdir().unwrap();
    let root = tmp.path();
    let svc = crate::recording::RecorderService::start(root).unwrap();
    let mut rec = svc.open("2026/11/21/loop", PIPELINE_RATE).unwrap();
    let mut k = 0;
    talk(MediaCodec::G722, &mut Net::new(0.0, 0, 0.0), 3, |b| {
        let (caller, bot) = b.last_frames_16k();
        assert_eq!((caller.len(), bot.len()), (FRAME_16K, FRAME_16K));
        rec.push_stereo(caller, bot);
        k += 1;
        if k % 25 == 0 {
            // Virtual time runs far ahead of the writer's 20 ms drain: let it catch up.
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    let info = rec.finish().wait(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(info.frames, 150 * FRAME_16K as u64);
    assert_eq!(info.duration, Duration::from_secs(3));
    assert_eq!(info.dropped_frames, 0);
    let mut r = hound::WavReader::open(&info.path).unwrap();
    assert_eq!((r.spec().channels, r.duration()), (2, 48_000));
    // B hears A's tone on the left (caller) and plays nothing on the right (bot).
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s[32_000..].iter().step_by(2).copied().collect();
    let right: Vec<i16> = s[32_001..].iter().step_by(2).copied().collect();
    assert!(super::tests::rms(&left) > 4000.0 && super::tests::rms(&right) == 0.0);
}
