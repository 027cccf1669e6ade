//! The bot's voice: segments (one per chunk or fixed line), TTS audio queued by segment and
//! pushed to the downlink in order, playout progress, barge-in cuts and the idle check that
//! drives re-engagement, hang-up and transfer after a reply.

use std::time::Duration;

use cxb_dsp::resample::{Quality, Resampler};
use cxb_model::{CallEventKind, TranscriptEntry, TranscriptRole};

use super::types::{Action, SegmentId};
use super::{Conversation, Voicemail, append, text};
use crate::agent::api::{ChatMessage, ProviderError, ProviderErrorKind, Role, TtsAudio};
use crate::media::{PIPELINE_RATE, SharedPcm};

/// Rough 16 kHz samples per character of speech, to estimate a segment still being synthesized.
const SAMPLES_PER_CHAR: u64 = 1040;

/// One piece of bot speech.
#[derive(Debug)]
pub(super) struct Seg {
    pub(super) id: SegmentId,
    pub(super) text: String,
    /// Part of the current LLM reply.
    pub(super) reply: bool,
    /// The assistant message (index into the context) this text belongs to.
    pub(super) msg: Option<usize>,
    pub(super) speak_at: Duration,
    pub(super) tts_done: bool,
    /// Audio received and not yet pushed, at `rate`: the chunks as received (slices of a cached
    /// phrase stay shared, never merged into a copy).
    pub(super) pending: Vec<SharedPcm>,
    pub(super) rate: u32,
    /// Position of its first pushed sample in the pushed stream.
    pub(super) start: Option<u64>,
    /// 16 kHz samples pushed.
    pub(super) len: u64,
    pub(super) got_audio: bool,
}

impl Conversation {
    /// Bot output is pending: a reply being computed or spoken, or audio queued.
    pub(super) fn bot_busy(&self) -> bool {
        self.reply.is_some() || !self.segs.is_empty() || self.queued > 0
    }

    /// Says a fixed line (opening, re-engagement, closing, apology, filler, voicemail);
    /// `in_context`: the model sees it as an assistant message.
    pub(super) fn say_line(&mut self, now: Duration, line: &str, in_context: bool) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let msg = if in_context {
            self.messages.push(ChatMessage::text(Role::Assistant, line));
            Some(self.messages.len() - 1)
        } else {
            None
        };
        self.reengage_at = None;
        self.new_seg(now, line, msg, false);
    }

    /// A new segment: asks for its synthesis.
    pub(super) fn new_seg(&mut self, now: Duration, text: &str, msg: Option<usize>, reply: bool) -> SegmentId {
        let id = SegmentId(self.next_seg);
        self.next_seg += 1;
        self.rec.usage.tts_characters += text.chars().count() as u64;
        self.segs.push_back(Seg {
            id,
            text: text.to_owned(),
            reply,
            msg,
            speak_at: now,
            tts_done: false,
            pending: Vec::new(),
            rate: PIPELINE_RATE,
            start: None,
            len: 0,
            got_audio: false,
        });
        self.actions.push_back(Action::Speak {
            seg: id,
            text: text.to_owned(),
        });
        id
    }

    pub(super) fn tts_audio(&mut self, now: Duration, seg: SegmentId, audio: TtsAudio) {
        let Some(s) = self.segs.iter_mut().find(|s| s.id == seg) else {
            return;
        };
        if s.tts_done || audio.pcm.is_empty() {
            return;
        }
        if s.pending.is_empty() {
            s.rate = audio.sample_rate;
        }
        let first = !s.got_audio;
        s.got_audio = true;
        let (reply_seg, speak_at) = (s.reply, s.speak_at);
        s.pending.push(audio.pcm);
        if first
            && reply_seg
            && let Some(r) = &mut self.reply
            && r.lat.tts_first_audio_ms.is_none()
        {
            r.lat.tts_first_audio_ms = Some(now.saturating_sub(speak_at).as_millis() as u32);
        }
        self.pump(now);
    }

    pub(super) fn tts_done(&mut self, now: Duration, seg: SegmentId) {
        if let Some(s) = self.segs.iter_mut().find(|s| s.id == seg) {
            s.tts_done = true;
        }
        self.pump(now);
        self.check_idle(now);
    }

    /// Pushes received audio to the downlink, segment after segment, unless the caller is
    /// speaking and the bot is silent (the bot does not start talking over the caller).
    pub(super) fn pump(&mut self, now: Duration) {
        let hold = self.caller_speaking && self.queued == 0 && self.voicemail == Voicemail::None;
        let mut i = 0;
        while i < self.segs.len() {
            let s = &self.segs[i];
            if s.tts_done && s.pending.is_empty() {
                i += 1;
                continue;
            }
            if s.start.is_none() && hold {
                break;
            }
            if !s.pending.is_empty() {
                let pcm = std::mem::take(&mut self.segs[i].pending);
                let (id, rate, reply_seg) = (self.segs[i].id, self.segs[i].rate, self.segs[i].reply);
                let out = self.resample_16k(now, id, rate, pcm);
                let n: u64 = out.iter().map(|c| c.len() as u64).sum();
                if n > 0 {
                    if self.line.is_none() {
                        self.line = Some((self.ms(now), String::new()));
                        self.event(now, CallEventKind::BotTurnStarted, "");
                    }
                    let s = &mut self.segs[i];
                    s.start.get_or_insert(self.pushed);
                    s.len += n;
                    self.pushed += n;
                    self.queued += n;
                    if reply_seg
                        && let Some(r) = &mut self.reply
                        && r.lat.total_ms.is_none()
                    {
                        r.lat.total_ms = Some(now.saturating_sub(r.caller_end).as_millis() as u32);
                    }
                    let chunks = out.into_iter().filter(|c| !c.is_empty());
                    self.actions
                        .extend(chunks.map(|pcm16k| Action::PlayAudio { seg: id, pcm16k }));
                }
            }
            if !self.segs[i].tts_done {
                break;
            }
            i += 1;
        }
    }

    /// A segment's audio at 16 kHz: the chunks themselves at 16 kHz (shared, not copied), else one
    /// fresh resampled chunk (one resampler, reset at each new segment).
    fn resample_16k(&mut self, now: Duration, seg: SegmentId, rate: u32, pcm: Vec<SharedPcm>) -> Vec<SharedPcm> {
        if rate == PIPELINE_RATE {
            return pcm;
        }
        let fresh = self.res_seg != Some(seg) || self.resampler.as_ref().is_none_or(|r| r.in_rate() != rate);
        if fresh {
            match &mut self.resampler {
                Some(r) if r.in_rate() == rate => r.reset(),
                _ => match Resampler::new(rate, PIPELINE_RATE, Quality::Telephone) {
                    Ok(r) => self.resampler = Some(r),
                    Err(e) => {
                        let err = ProviderError::new(ProviderErrorKind::Protocol, "audio", e.to_string());
                        self.service_error(now, cxb_model::ServiceKind::Tts, &err, false);
                        return Vec::new();
                    }
                },
            }
            self.res_seg = Some(seg);
        }
        let Some(r) = &mut self.resampler else {
            return Vec::new();
        };
        let total: usize = pcm.iter().map(|c| c.len()).sum();
        let mut out = vec![0i16; r.output_len_for(total) + 64];
        let mut produced = 0;
        for chunk in &pcm {
            let mut done = 0;
            while done < chunk.len() {
                if out.len() - produced < 64 {
                    out.resize(out.len() + 1024, 0);
                }
                let p = r.process_i16(&chunk[done..], &mut out[produced..]);
                done += p.consumed;
                produced += p.produced;
                if p.consumed == 0 && p.produced == 0 {
                    break;
                }
            }
        }
        out.truncate(produced);
        vec![out.into()]
    }

    /// 16 kHz samples played so far.
    fn played(&self) -> u64 {
        self.pushed.saturating_sub(self.queued)
    }

    /// Drops fully played segments (their text joins the transcript line and the heard text).
    fn reap(&mut self) {
        let played = self.played();
        while let Some(s) = self.segs.front() {
            let done = s.tts_done && s.pending.is_empty() && s.start.is_none_or(|st| played >= st + s.len);
            if !done {
                break;
            }
            let Some(s) = self.segs.pop_front() else { break };
            if s.got_audio {
                if let Some((_, line)) = &mut self.line {
                    append(line, &s.text);
                }
                if let Some(m) = s.msg {
                    self.add_heard(m, &s.text);
                }
            }
        }
    }

    fn add_heard(&mut self, msg: usize, text: &str) {
        match self.heard.iter_mut().find(|(m, _)| *m == msg) {
            Some((_, t)) => append(t, text),
            None => {
                let mut t = String::new();
                append(&mut t, text);
                self.heard.push((msg, t));
            }
        }
    }

    /// Ends the bot's transcript line at `now`.
    pub(super) fn flush_line(&mut self, now: Duration) {
        if let Some((start_ms, text)) = self.line.take() {
            let end_ms = self.ms(now).max(start_ms);
            if !text.is_empty() {
                self.rec.transcript.push(TranscriptEntry {
                    role: TranscriptRole::Bot,
                    text,
                    start_ms,
                    end_ms,
                });
            }
            self.event(now, CallEventKind::BotTurnEnded, "");
        }
    }

    /// The caller interrupted: stop playout now, cancel the reply, cut the context to what was
    /// heard; the overlapping speech becomes the caller's turn.
    pub(super) fn barge_in(&mut self, now: Duration) {
        self.event(now, CallEventKind::BargeIn, "");
        self.cut_output(now, true);
        self.adopt_overlap(now);
    }

    /// Stops all bot output (max duration, voicemail, closing) without a barge-in.
    pub(super) fn stop_all(&mut self, now: Duration) {
        self.opening_at = None;
        self.cut_output(now, false);
    }

    fn cut_output(&mut self, now: Duration, interrupted: bool) {
        self.reap();
        self.actions.push_back(Action::StopPlayout);
        let played = self.played();
        let segs = std::mem::take(&mut self.segs);
        for s in &segs {
            if !s.tts_done {
                self.actions.push_back(Action::CancelTts { seg: s.id });
            }
            let heard = match s.start {
                Some(st) if s.got_audio => {
                    let expected = if s.tts_done {
                        s.len
                    } else {
                        s.len.max(s.text.chars().count() as u64 * SAMPLES_PER_CHAR)
                    };
                    let frac = played.saturating_sub(st).min(s.len) as f64 / expected.max(1) as f64;
                    text::cut_to_heard(&s.text, frac)
                }
                _ => "",
            };
            if let Some((_, line)) = &mut self.line {
                append(line, heard);
            }
            if let Some(m) = s.msg {
                self.add_heard(m, heard);
            }
        }
        self.queued = 0;
        self.res_seg = None;
        if let Some(r) = &mut self.reply {
            r.chunker.clear();
            r.lat.interrupted |= interrupted;
            if let Some(id) = r.llm.take() {
                self.actions.push_back(Action::CancelLlm { id });
            }
            if let Some(m) = r.msg {
                self.add_heard(m, "");
            }
        }
        // Cut each affected assistant message to what was heard (drop it when nothing was).
        let mut heard = std::mem::take(&mut self.heard);
        heard.sort_by_key(|h| std::cmp::Reverse(h.0));
        for (m, t) in heard {
            let last = m + 1 == self.messages.len();
            let Some(msg) = self.messages.get_mut(m) else { continue };
            if t.is_empty() && msg.tool_calls.is_empty() && last {
                self.messages.pop();
            } else {
                msg.content = t;
            }
        }
        // Tool calls still open get a result, so the context stays valid.
        if let Some(r) = &mut self.reply {
            r.pending.clear();
            for (call_id, content) in r.tool_results.drain(..) {
                let content = content.unwrap_or_else(|| r#"{"error":"cancelled: the caller interrupted"}"#.to_owned());
                self.messages.push(ChatMessage {
                    role: Role::Tool,
                    content,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call_id),
                });
            }
        }
        self.flush_line(now);
        self.finish_reply(now, false);
    }

    /// Called whenever output may have finished: flushes the transcript line, finishes the reply
    /// (running its hang-up or transfer), hangs up after a closing line, arms re-engagement.
    pub(super) fn check_idle(&mut self, now: Duration) {
        if self.ended {
            return;
        }
        self.reap();
        if !self.segs.is_empty() || self.queued > 0 {
            return;
        }
        if self.reply.as_ref().is_some_and(|r| !r.is_done()) {
            return;
        }
        self.heard.clear();
        self.flush_line(now);
        if self.reply.is_some() {
            self.finish_reply(now, true);
        }
        if self.ended || self.transferring || !self.segs.is_empty() {
            return;
        }
        if let Some((by, _)) = self.hangup {
            self.do_hangup(by);
            return;
        }
        let gap = self.bot.behavior.reengage_gap_secs;
        if gap > 0
            && self.answered_at.is_some()
            && self.voicemail == Voicemail::None
            && !self.caller_speaking
            && self.turn.eot_at.is_none()
            && self.turn.finals.is_empty()
            && self.reengage_at.is_none()
        {
            self.reengage_at = Some(now + Duration::from_secs(u64::from(gap)));
        }
    }
}
