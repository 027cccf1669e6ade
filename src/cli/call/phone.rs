//! The call's media side: [`RtpMedia`] driven by the loop in [`super`], the microphone fed in,
//! the far end recorded, our RTP sent through the [`Impairer`], and the end-of-call summary.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use cxb_dataplane::media::{FRAME_16K, RtpMedia, RtpMediaConfig};
use cxb_sip::dialog::{CallHandle, EndReason, UaEvent, UserAgent, reason_phrase};
use cxb_sip::sdp::{AudioSession, NegotiatedAudio, SessionDescription};
use tokio::net::UdpSocket;

use super::impair::Impairer;
use super::{Args, audio};

/// How the call went.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) answered: Option<Instant>,
    pub(super) ended: Option<(Instant, EndReason)>,
    pub(super) failure: Option<String>,
}

pub(super) fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 2 && (200..=204).contains(&packet[1])
}

/// The call's media side.
#[derive(Debug)]
pub(super) struct Phone {
    pub(super) media: Option<RtpMedia>,
    pub(super) ring: Option<rtrb::Consumer<i16>>,
    pub(super) recording: Vec<i16>,
    pub(super) mic: Vec<i16>,
    pub(super) mic_pos: usize,
    pub(super) talk: super::talk::Talk,
    pub(super) impairer: Option<Impairer>,
    pub(super) ssrc: u32,
    pub(super) start: Instant,
    pub(super) wallclock: Duration,
}

impl Phone {
    pub(super) fn on_event(
        &mut self,
        now: Instant,
        ev: UaEvent,
        handle: CallHandle,
        sdp: &mut AudioSession,
        ua: &mut UserAgent,
        out: &mut Outcome,
    ) {
        match ev {
            UaEvent::Progress { status, body, .. } => {
                eprintln!("{status} {}", reason_phrase(status));
                if let Some(a) = body.as_deref().and_then(|b| accept(sdp, b)) {
                    let _ = self.start_media(now, &a);
                }
            }
            UaEvent::Answered { body, .. } => {
                out.answered = Some(now);
                let audio = body
                    .as_deref()
                    .and_then(|b| accept(sdp, b))
                    .or_else(|| sdp.negotiated().cloned());
                let started = match audio {
                    Some(a) => self.start_media(now, &a),
                    None => Err(anyhow::anyhow!("200 without a usable SDP answer")),
                };
                if let Err(e) = started {
                    out.failure = Some(format!("{e:#}"));
                    let _ = ua.hangup(now, handle);
                }
            }
            UaEvent::Ended { reason, .. } => {
                if let EndReason::Outbound(o) = reason
                    && out.failure.is_none()
                {
                    out.failure = Some(format!("{} {}", o.code(), reason_phrase(o.code())));
                } else if matches!(reason, EndReason::AckTimeout | EndReason::SessionExpired) {
                    out.failure.get_or_insert_with(|| format!("{reason:?}"));
                }
                out.ended = Some((now, reason));
            }
            _ => {}
        }
    }

    pub(super) fn start_media(&mut self, now: Instant, audio: &NegotiatedAudio) -> anyhow::Result<()> {
        let mut cfg = RtpMediaConfig::from_negotiated(audio, self.ssrc, now - self.start)
            .context("cannot set up media for the answer")?;
        // We asked this peer: its SDP address is where media goes, even if private.
        cfg.remote_trusted = true;
        cfg.wallclock_at_zero = self.wallclock;
        match self.media.as_mut() {
            Some(m) => m.update(cfg)?,
            None => {
                let mut m = RtpMedia::new(cfg)?;
                self.ring = m.uplink_mut().take_caller_ring();
                self.media = Some(m);
            }
        }
        Ok(())
    }

    /// One 20 ms step: microphone in, a frame out (through the impairer), caller audio recorded.
    pub(super) fn tick(&mut self, now: Instant, answered: bool, rtp: &UdpSocket) {
        let Some(m) = self.media.as_mut() else { return };
        if answered {
            while m.downlink().queued_samples() < 2 * FRAME_16K && self.mic_pos < self.mic.len() {
                let end = (self.mic_pos + FRAME_16K).min(self.mic.len());
                let n = m.downlink_mut().push_bot_audio(&self.mic[self.mic_pos..end]);
                if n == 0 {
                    break;
                }
                self.mic_pos += n;
            }
        }
        let t = now - self.start;
        let impairer = &mut self.impairer;
        m.tick(t, &mut |to, pkt| match impairer.as_mut() {
            Some(i) if !is_rtcp(pkt) => i.push(t, to, pkt),
            _ => {
                let _ = rtp.try_send_to(pkt, to);
            }
        });
        while m.poll_event().is_some() {}
        let before = self.recording.len();
        if let Some(ring) = self.ring.as_mut()
            && let Ok(chunk) = ring.read_chunk(ring.slots())
        {
            let (a, b) = chunk.as_slices();
            self.recording.extend_from_slice(a);
            self.recording.extend_from_slice(b);
            chunk.commit_all();
        }
        if answered && let Some((text, pcm)) = self.talk.step(&self.recording[before..]) {
            eprintln!("you: {text}");
            self.mic.extend_from_slice(pcm);
        }
    }

    pub(super) fn release_impaired(&mut self, now: Instant, rtp: &UdpSocket) {
        if let Some(i) = self.impairer.as_mut() {
            while let Some((to, pkt)) = i.pop_due(now - self.start) {
                let _ = rtp.try_send_to(pkt, to);
            }
        }
    }

    /// Writes the recording, prints the summary, and says how it ended.
    pub(super) fn finish(self, args: &Args, out: &Outcome) -> anyhow::Result<ExitCode> {
        if let Some(path) = &args.record {
            audio::write_16k_mono(path, &self.recording)?;
        }
        let seconds = match (out.answered, out.ended) {
            (Some(a), Some((e, _))) => e.saturating_duration_since(a).as_secs_f64(),
            (Some(a), None) => a.elapsed().as_secs_f64(),
            _ => 0.0,
        };
        let ended_by = match out.ended.map(|(_, r)| r) {
            Some(EndReason::RemoteBye) => "the far end",
            Some(EndReason::LocalBye) => "us",
            Some(_) => "error",
            None => "nobody",
        };
        let q = self.media.as_ref().map(RtpMedia::quality).unwrap_or_default();
        let mut line = format!(
            "{}; ended by {ended_by}; {seconds:.1} s; packets in {} out {} lost {}; jitter {:.1} ms",
            if out.answered.is_some() {
                "answered"
            } else {
                "not answered"
            },
            q.packets_in,
            q.packets_out,
            q.lost,
            q.jitter_ms
        );
        if let Some(i) = &self.impairer {
            let s = i.stats();
            line.push_str(&format!(
                "; impaired: dropped {} reordered {} duplicated {}",
                s.dropped, s.reordered, s.duplicated
            ));
        }
        println!("{line}");
        if args.barge_in_after.is_some() {
            match self.talk.barge_in_stop() {
                Some(d) => println!(
                    "barge-in: far end stopped {} ms after we started talking",
                    d.as_millis()
                ),
                None => println!("barge-in: far end did not stop"),
            }
        }
        let clean = out.answered.is_some()
            && out.failure.is_none()
            && matches!(
                out.ended.map(|(_, r)| r),
                Some(EndReason::RemoteBye | EndReason::LocalBye)
            );
        if clean {
            return Ok(ExitCode::SUCCESS);
        }
        let reason = out
            .failure
            .clone()
            .unwrap_or_else(|| "the call did not end cleanly".into());
        eprintln!("call failed: {reason}");
        Ok(ExitCode::FAILURE)
    }
}

fn accept(sdp: &mut AudioSession, body: &[u8]) -> Option<NegotiatedAudio> {
    let sd = SessionDescription::parse(body).ok()?;
    sdp.accept_answer(&sd).ok()
}
