//! Scripted conversations in virtual time: a harness plays the driver (VAD events, STT results,
//! LLM token streams, TTS audio, tool results, a simulated downlink drained 320 samples per
//! 20 ms tick) and drains the actions.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use cxb_model::{
    AmdVerdict, Behavior, BotConfig, CallDirection, CallEventKind, DisconnectedBy, KnowledgeDoc, ToolCallStatus,
    ToolConfig, TransferTarget, VoicemailAction,
};

use super::*;
use crate::agent::api::{ChatRequest, LlmUsage, ProviderErrorKind, ToolCall};

const TICK: Duration = Duration::from_millis(20);
const OPENING: &str =
    "Hello and welcome to Acme support. I can help with orders, billing and returns. What do you need today?";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A step of a scripted LLM response: delay after the request, then the event.
#[derive(Clone)]
enum Step {
    Text(u64, &'static str),
    Tool(u64, &'static str, &'static str),
    Done(u64),
    Fail(u64, u16),
}

#[derive(Debug, Clone)]
enum Ev {
    Media(MediaEvent),
    Stt(SttEvent),
    Llm(LlmId, LlmEvent),
    LlmErr(LlmId, ProviderError),
    Tts(SegmentId, TtsAudio),
    TtsDone(SegmentId),
    Tool(ToolCallId, ToolOutcome),
}

struct H {
    c: Conversation,
    now: Duration,
    queued: usize,
    seq: u64,
    sched: Vec<(Duration, u64, Ev)>,
    scripts: VecDeque<Vec<Step>>,
    log: Vec<(Duration, Action)>,
    tts_rate: u32,
    ms_per_char: u64,
    tts_latency: u64,
}

fn bot() -> BotConfig {
    let mut b = BotConfig::new("demo", "Demo");
    b.opening_message = OPENING.to_owned();
    b.behavior.min_words_to_interrupt = 2;
    b.behavior.reengage_gap_secs = 0;
    b
}

impl H {
    fn new(bot: BotConfig) -> H {
        H::with_direction(bot, CallDirection::Inbound)
    }

    fn with_direction(bot: BotConfig, direction: CallDirection) -> H {
        let ctx = ConversationCtx::new(direction, Duration::ZERO);
        H {
            c: Conversation::new(Rc::new(bot), ctx),
            now: Duration::ZERO,
            queued: 0,
            seq: 0,
            sched: Vec::new(),
            scripts: VecDeque::new(),
            log: Vec::new(),
            tts_rate: 24_000,
            ms_per_char: 60,
            tts_latency: 100,
        }
    }

    fn answer(mut self) -> H {
        self.c.on_answered(self.now);
        self.drain();
        self
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.sched.push((ms(t), self.seq, ev));
        self.sched.sort_by_key(|e| (e.0, e.1));
    }

    fn script(&mut self, steps: Vec<Step>) {
        self.scripts.push_back(steps);
    }

    /// The caller speaks from `start` to `end` ms: VAD events, one interim per word, a final
    /// 100 ms after the end.
    fn say(&mut self, start: u64, end: u64, text: &'static str) {
        self.at(start, Ev::Media(MediaEvent::SpeechStarted { at: ms(start) }));
        let words: Vec<&str> = text.split_whitespace().collect();
        for k in 1..=words.len() {
            let t = start + (end - start) * k as u64 / (words.len() as u64 + 1);
            self.at(
                t,
                Ev::Stt(SttEvent::Interim {
                    text: words[..k].join(" "),
                }),
            );
        }
        self.at(end, Ev::Media(MediaEvent::SpeechEnded { at: ms(end) }));
        self.at(
            end + 100,
            Ev::Stt(SttEvent::Final {
                text: text.to_owned(),
                end_of_turn: true,
            }),
        );
    }

    fn drain(&mut self) {
        while let Some(a) = self.c.poll_action() {
            match &a {
                Action::StartLlm { id, .. } => {
                    let steps = self.scripts.pop_front().unwrap_or_else(|| vec![Step::Done(50)]);
                    let base = self.now.as_millis() as u64;
                    for s in steps {
                        let (t, ev) = match s {
                            Step::Text(d, t) => (d, Ev::Llm(*id, LlmEvent::Text(t.to_owned()))),
                            Step::Tool(d, name, args) => (
                                d,
                                Ev::Llm(
                                    *id,
                                    LlmEvent::ToolCall(ToolCall {
                                        id: format!("call_{name}_{}", id.0),
                                        name: name.to_owned(),
                                        arguments: args.to_owned(),
                                    }),
                                ),
                            ),
                            Step::Done(d) => (
                                d,
                                Ev::Llm(
                                    *id,
                                    LlmEvent::Done {
                                        usage: LlmUsage {
                                            prompt_tokens: 100,
                                            completion_tokens: 20,
                                            ..LlmUsage::default()
                                        },
                                    },
                                ),
                            ),
                            Step::Fail(d, status) => {
                                let mut e = ProviderError::new(ProviderErrorKind::Status, "stream", "server error");
                                e.status = Some(status);
                                (d, Ev::LlmErr(*id, e))
                            }
                        };
                        self.at(base + t, ev);
                    }
                }
                Action::Speak { seg, text } => {
                    let n = (text.chars().count() as u64 * self.ms_per_char * u64::from(self.tts_rate) / 1000) as usize;
                    let t = self.now.as_millis() as u64 + self.tts_latency;
                    let audio = TtsAudio {
                        sample_rate: self.tts_rate,
                        pcm: vec![1000; n].into(),
                    };
                    self.at(t, Ev::Tts(*seg, audio));
                    self.at(t, Ev::TtsDone(*seg));
                }
                Action::CancelTts { seg } => {
                    self.sched
                        .retain(|e| !matches!(&e.2, Ev::Tts(s, _) | Ev::TtsDone(s) if s == seg));
                }
                Action::CancelLlm { id } => {
                    self.sched
                        .retain(|e| !matches!(&e.2, Ev::Llm(i, _) | Ev::LlmErr(i, _) if i == id));
                }
                Action::PlayAudio { pcm16k, .. } => self.queued += pcm16k.len(),
                Action::StopPlayout => self.queued = 0,
                _ => {}
            }
            self.log.push((self.now, a));
        }
    }

    fn deliver(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Media(m) => self.c.on_media(now, &m),
            Ev::Stt(s) => self.c.on_stt(now, s),
            Ev::Llm(id, e) => self.c.on_llm(now, id, e),
            Ev::LlmErr(id, e) => self.c.on_provider_error(now, ProviderOp::Llm(id), e),
            Ev::Tts(s, a) => self.c.on_tts(now, s, a),
            Ev::TtsDone(s) => self.c.on_tts_done(now, s),
            Ev::Tool(id, o) => self.c.on_tool_result(now, id, o),
        }
        self.drain();
    }

    /// One 20 ms tick: due events, due timers, then one downlink frame.
    fn tick(&mut self) {
        while self.sched.first().is_some_and(|e| e.0 <= self.now) {
            let (_, _, ev) = self.sched.remove(0);
            self.deliver(ev);
        }
        while self.c.poll_timeout().is_some_and(|t| t <= self.now) {
            self.c.on_timeout(self.now);
            self.drain();
        }
        if self.queued > 0 {
            self.queued -= self.queued.min(320);
            self.c.on_played(self.now, self.queued);
            if self.queued == 0 {
                self.c.on_media(self.now, &MediaEvent::BotAudioDrained);
            }
            self.drain();
        }
        self.now += TICK;
    }

    fn run_until(&mut self, t: u64) {
        while self.now <= ms(t) && !self.c.is_ended() {
            self.tick();
        }
    }

    fn actions(&self) -> impl Iterator<Item = &(Duration, Action)> {
        self.log.iter()
    }

    fn spoken(&self) -> Vec<String> {
        self.actions()
            .filter_map(|(_, a)| match a {
                Action::Speak { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn requests(&self) -> Vec<ChatRequest> {
        self.actions()
            .filter_map(|(_, a)| match a {
                Action::StartLlm { request, .. } => Some(request.clone()),
                _ => None,
            })
            .collect()
    }

    fn first(&self, f: impl Fn(&Action) -> bool) -> Option<Duration> {
        self.actions().find(|(_, a)| f(a)).map(|(t, _)| *t)
    }

    fn hangup(&self) -> Option<DisconnectedBy> {
        self.actions().find_map(|(_, a)| match a {
            Action::Hangup { by } => Some(*by),
            _ => None,
        })
    }

    fn count_events(&self, kind: CallEventKind) -> usize {
        self.c.record().events.iter().filter(|e| e.kind == kind).count()
    }
}

#[test]
fn backchannel_does_not_interrupt_but_three_words_do_and_context_is_cut() {
    let mut h = H::new(bot()).answer();
    // "uh-huh" while the opening plays: no barge-in.
    h.say(1000, 1400, "uh-huh");
    h.run_until(2000);
    assert!(h.first(|a| matches!(a, Action::StopPlayout)).is_none());
    assert_eq!(h.count_events(CallEventKind::BargeIn), 0);
    // "yeah ok": two words, all backchannels: still no barge-in.
    h.say(2000, 2400, "yeah ok");
    h.run_until(2500);
    assert_eq!(h.count_events(CallEventKind::BargeIn), 0);
    assert!(h.queued > 0, "the bot is still talking");
    // "wait stop please": the second word interrupts.
    h.script(vec![Step::Text(200, "Sure, what can I do?"), Step::Done(300)]);
    h.say(3000, 3600, "wait stop please");
    h.run_until(3400);
    let stop = h.first(|a| matches!(a, Action::StopPlayout)).expect("barge-in");
    // Interims at 3150 ("wait") and 3300 ("wait stop"): the tick at 3300 stops playout, and the
    // frame of that same tick is already silent.
    assert_eq!(stop, ms(3300));
    assert_eq!(h.count_events(CallEventKind::BargeIn), 1);
    assert!(
        h.log
            .iter()
            .all(|(t, a)| !matches!(a, Action::PlayAudio { .. }) || *t < stop)
    );
    h.run_until(6000);
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1, "one reply after the turn");
    let msgs = &reqs[0].messages;
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0].role, Role::Assistant);
    let heard = &msgs[0].content;
    assert!(
        !heard.is_empty() && heard.len() < OPENING.len() && OPENING.starts_with(heard.as_str()),
        "{heard:?}"
    );
    // Played ~3.2 s of a ~6.1 s opening: about half of it, cut at a word boundary.
    let frac = heard.len() as f64 / OPENING.len() as f64;
    assert!((0.35..0.65).contains(&frac), "{frac} {heard:?}");
    assert_eq!(msgs[1], ChatMessage::text(Role::User, "wait stop please"));
    let tr = &h.c.record().transcript;
    assert_eq!(tr[0].role, cxb_model::TranscriptRole::Bot);
    assert_eq!(&tr[0].text, heard);
    assert_eq!(tr[1].text, "wait stop please");
    assert_eq!(tr.len(), 3, "{tr:?}");
}

#[test]
fn min_words_one_interrupts_on_vad_start_and_marks_the_turn() {
    let mut b = bot();
    b.behavior.min_words_to_interrupt = 1;
    b.opening_message = "Hi.".into();
    let mut h = H::new(b).answer();
    h.script(vec![
        Step::Text(100, "Let me tell you all about our products and their many features. "),
        Step::Text(300, "There is a lot to say about each of them, so listen closely. "),
        Step::Done(400),
    ]);
    h.say(1000, 1500, "tell me about products");
    h.run_until(2500);
    assert!(h.queued > 0);
    h.script(vec![Step::Text(100, "Sure."), Step::Done(150)]);
    h.at(3000, Ev::Media(MediaEvent::SpeechStarted { at: ms(3000) }));
    h.run_until(3000);
    assert_eq!(h.first(|a| matches!(a, Action::StopPlayout)), Some(ms(3000)));
    h.at(3400, Ev::Media(MediaEvent::SpeechEnded { at: ms(3400) }));
    h.at(
        3450,
        Ev::Stt(SttEvent::Final {
            text: "stop".into(),
            end_of_turn: true,
        }),
    );
    h.run_until(5000);
    let lat = &h.c.record().turn_latencies;
    assert!(lat[0].interrupted);
    assert!(!lat[1].interrupted);
    let reqs = h.requests();
    let ctx = &reqs[1].messages;
    // Assistant reply cut to what was heard, then the new user turn.
    assert_eq!(ctx[ctx.len() - 1], ChatMessage::text(Role::User, "stop"));
    let cut = &ctx[ctx.len() - 2];
    assert_eq!(cut.role, Role::Assistant);
    assert!(
        cut.content.starts_with("Let me tell you") && cut.content.len() < 60,
        "{:?}",
        cut.content
    );
}

#[test]
fn noise_without_words_never_interrupts_or_takes_a_turn() {
    let mut h = H::new(bot()).answer();
    h.at(1000, Ev::Media(MediaEvent::SpeechStarted { at: ms(1000) }));
    h.at(1300, Ev::Media(MediaEvent::SpeechEnded { at: ms(1300) }));
    h.run_until(9000);
    assert_eq!(h.count_events(CallEventKind::BargeIn), 0);
    assert!(h.requests().is_empty());
    assert_eq!(h.c.record().transcript.len(), 1);
    assert_eq!(h.c.record().transcript[0].text, OPENING);
}

#[test]
fn reengages_then_hangs_up_rnr_when_the_caller_never_spoke() {
    let mut b = bot();
    b.opening_message = "Hello?".into();
    b.behavior.reengage_gap_secs = 2;
    b.behavior.reengage_retries = 2;
    b.behavior.reengage_messages = vec!["Are you still there?".into(), "Hello, can you hear me?".into()];
    let mut h = H::new(b).answer();
    h.run_until(30_000);
    assert_eq!(
        h.spoken(),
        vec![
            "Hello?",
            "Are you still there?",
            "Hello, can you hear me?",
            "Thank you for calling. Goodbye."
        ]
    );
    assert_eq!(h.hangup(), Some(DisconnectedBy::Rnr));
    // The hang-up comes after the closing line played.
    let close = h
        .first(|a| matches!(a, Action::Speak { text, .. } if text.starts_with("Thank")))
        .unwrap();
    let bye = h.first(|a| matches!(a, Action::Hangup { .. })).unwrap();
    assert!(bye >= close + ms(1500), "{close:?} {bye:?}");
    assert_eq!(h.c.record().disconnected_by, Some(DisconnectedBy::Rnr));
}

#[test]
fn reengage_after_the_caller_spoke_ends_by_bot() {
    let mut b = bot();
    b.opening_message = "Hello?".into();
    b.behavior.reengage_gap_secs = 2;
    b.behavior.reengage_retries = 1;
    let mut h = H::new(b).answer();
    h.script(vec![Step::Text(100, "Okay."), Step::Done(120)]);
    h.say(1000, 1500, "hi there");
    h.run_until(30_000);
    assert_eq!(h.hangup(), Some(DisconnectedBy::Bot));
    assert_eq!(h.spoken().iter().filter(|s| *s == "Are you still there?").count(), 1);
}

#[test]
fn max_duration_says_closing_and_hangs_up_timeout() {
    let mut b = bot();
    b.max_call_seconds = 5;
    let mut h = H::new(b).answer();
    h.run_until(20_000);
    assert_eq!(h.hangup(), Some(DisconnectedBy::Timeout));
    let close = h
        .first(|a| matches!(a, Action::Speak { text, .. } if text.starts_with("Thank")))
        .unwrap();
    assert_eq!(close, ms(5000));
    // The opening was still playing at 5 s: stopped first.
    assert!(
        h.first(|a| matches!(a, Action::StopPlayout))
            .is_some_and(|t| t == ms(5000))
    );
}

#[test]
fn remote_hangup_is_rnr_without_speech_and_customer_after_it() {
    let mut h = H::new(bot()).answer();
    h.run_until(1000);
    h.c.on_remote_hangup(h.now);
    assert_eq!(h.c.record().disconnected_by, Some(DisconnectedBy::Rnr));
    let mut h = H::new(bot()).answer();
    h.say(7000, 7500, "hello");
    h.run_until(8000);
    h.c.on_remote_hangup(h.now);
    let rec = h.c.finish(ms(8000));
    assert_eq!(rec.disconnected_by, Some(DisconnectedBy::Customer));
}

fn tool_bot(timeout_ms: u32) -> BotConfig {
    let mut b = bot();
    b.opening_message = "Hi.".into();
    b.tools.push(ToolConfig {
        name: "lookup_order".into(),
        description: "Find an order".into(),
        parameters: serde_json::json!({"type": "object", "properties": {"order": {"type": "string"}}}),
        url: "http://127.0.0.1:9/orders".into(),
        method: cxb_model::HttpMethod::Post,
        timeout_ms,
        auth_header: None,
        filler_message: "One moment please.".into(),
        filler_after_ms: 1000,
    });
    b
}

#[test]
fn tool_ok_result_goes_back_to_the_model() {
    let mut h = H::new(tool_bot(5000)).answer();
    h.script(vec![
        Step::Tool(150, "lookup_order", r#"{"order":"123"}"#),
        Step::Done(160),
    ]);
    h.script(vec![Step::Text(100, "Your order has shipped."), Step::Done(150)]);
    h.say(1000, 1500, "where is my order");
    h.run_until(1800);
    let (t, id) = h
        .actions()
        .find_map(|(t, a)| match a {
            Action::CallTool { id, tool, arguments } => {
                assert_eq!(tool.name, "lookup_order");
                assert_eq!(arguments, &serde_json::json!({"order": "123"}));
                Some((*t, *id))
            }
            _ => None,
        })
        .expect("CallTool");
    let ok = ToolOutcome {
        status: ToolCallStatus::Ok,
        result: serde_json::json!({"status": "shipped"}),
        duration: ms(500),
    };
    h.at(t.as_millis() as u64 + 500, Ev::Tool(id, ok));
    h.run_until(8000);
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].tools.iter().any(|t| t.name == "end_call"));
    let ctx = &reqs[1].messages;
    let asst = &ctx[ctx.len() - 2];
    assert_eq!(asst.tool_calls.len(), 1);
    let tool_msg = &ctx[ctx.len() - 1];
    assert_eq!(tool_msg.role, Role::Tool);
    assert_eq!(tool_msg.content, r#"{"status":"shipped"}"#);
    assert!(h.spoken().contains(&"Your order has shipped.".to_owned()));
    assert!(
        !h.spoken().contains(&"One moment please.".to_owned()),
        "fast tool: no filler"
    );
    let rec = h.c.record();
    assert_eq!(rec.tool_calls.len(), 1);
    assert_eq!(rec.tool_calls[0].status, ToolCallStatus::Ok);
    assert_eq!(rec.tool_calls[0].duration_ms, 500);
    assert_eq!(rec.turn_latencies[0].tool_ms, Some(500));
}

#[test]
fn slow_tool_gets_a_filler_then_times_out_and_the_model_is_told() {
    let mut h = H::new(tool_bot(3000)).answer();
    h.script(vec![
        Step::Tool(150, "lookup_order", r#"{"order":"9"}"#),
        Step::Done(160),
    ]);
    h.script(vec![
        Step::Text(100, "Sorry, I cannot look that up right now."),
        Step::Done(150),
    ]);
    h.say(1000, 1500, "where is order 9");
    h.run_until(10_000);
    let call = h.first(|a| matches!(a, Action::CallTool { .. })).unwrap();
    let filler = h
        .first(|a| matches!(a, Action::Speak { text, .. } if text == "One moment please."))
        .unwrap();
    assert_eq!(filler, call + ms(1000));
    let rec = h.c.record();
    assert_eq!(rec.tool_calls[0].status, ToolCallStatus::Timeout);
    assert_eq!(rec.tool_calls[0].duration_ms, 3000);
    let reqs = h.requests();
    assert!(reqs[1].messages.last().unwrap().content.contains("timeout"));
    assert!(
        h.spoken()
            .contains(&"Sorry, I cannot look that up right now.".to_owned())
    );
}

fn transfer_bot() -> BotConfig {
    let mut b = bot();
    b.opening_message = "Hi.".into();
    b.transfer_targets.push(TransferTarget {
        name: "sales".into(),
        destination: "sip:sales@pbx.example".into(),
        description: "buying".into(),
    });
    b
}

fn run_transfer(ok: bool) -> H {
    let mut h = H::new(transfer_bot()).answer();
    h.script(vec![
        Step::Text(100, "Let me connect you to sales."),
        Step::Tool(120, "transfer_call", r#"{"target":"sales","reason":"wants pricing"}"#),
        Step::Done(130),
    ]);
    h.say(1000, 1500, "I want to buy");
    h.run_until(5000);
    let spoke = h
        .first(|a| matches!(a, Action::Speak { text, .. } if text.starts_with("Let me connect")))
        .unwrap();
    let tr = h.first(|a| matches!(a, Action::Transfer { .. })).expect("transfer");
    assert!(tr > spoke + ms(1000), "the hand-over line plays first");
    let reqs = h.requests();
    assert!(reqs[0].tools.iter().any(|t| t.name == "transfer_call"));
    h.c.on_transfer_result(h.now, ok, (!ok).then(|| "480 Temporarily Unavailable".to_owned()));
    h.drain();
    h.run_until(9000);
    h
}

#[test]
fn transfer_ok_hangs_up_transfer_to_agent() {
    let h = run_transfer(true);
    assert_eq!(h.hangup(), Some(DisconnectedBy::TransferToAgent));
    let rec = h.c.record();
    assert!(rec.was_transferred);
    assert_eq!(rec.transfer_target.as_deref(), Some("sales"));
    assert_eq!(rec.transfer_destination.as_deref(), Some("sip:sales@pbx.example"));
    assert_eq!(rec.transfer_reason.as_deref(), Some("wants pricing"));
    assert_eq!(rec.transfer_method, Some(cxb_model::TransferMethod::SipRefer));
    assert!(rec.transfer_at_ms.is_some());
    assert_eq!(rec.transfer_failed_reason, None);
}

#[test]
fn transfer_failure_tells_the_caller_and_goes_on() {
    let h = run_transfer(false);
    assert_eq!(h.hangup(), None);
    let rec = h.c.record();
    assert!(!rec.was_transferred);
    assert_eq!(
        rec.transfer_failed_reason.as_deref(),
        Some("480 Temporarily Unavailable")
    );
    assert!(h.spoken().contains(&TRANSFER_FAILED_LINE.to_owned()));
    assert_eq!(h.count_events(CallEventKind::TransferFailed), 1);
}

#[test]
fn voicemail_leave_message_waits_for_the_beep() {
    let mut b = bot();
    b.voicemail.action = VoicemailAction::LeaveMessage;
    b.voicemail.message = "Please call Acme back.".into();
    let mut h = H::new(b).answer();
    h.run_until(1000);
    let verdict_at = h.now;
    h.c.on_amd(h.now, AmdVerdict::Machine, false);
    h.drain();
    assert!(
        h.log
            .last()
            .is_some_and(|(_, a)| matches!(a, Action::StopPlayout | Action::CancelTts { .. }))
    );
    // The greeting goes on; it is not a caller turn.
    h.say(
        1200,
        3500,
        "you have reached the voicemail of john please leave a message",
    );
    h.run_until(4000);
    assert!(h.requests().is_empty());
    assert!(!h.spoken().contains(&"Please call Acme back.".to_owned()));
    h.c.on_amd(h.now, AmdVerdict::Machine, true);
    h.drain();
    let beep = h.now;
    h.run_until(10_000);
    assert_eq!(
        h.first(|a| matches!(a, Action::Speak { text, .. } if text == "Please call Acme back.")),
        Some(beep)
    );
    assert_eq!(h.hangup(), Some(DisconnectedBy::Voicemail));
    let amd = h.c.record().amd.clone().unwrap();
    assert_eq!(amd.verdict, AmdVerdict::Machine);
    assert_eq!(amd.at_ms, verdict_at.as_millis() as u64);
    assert_eq!(amd.beep_at_ms, Some(beep.as_millis() as u64));
}

#[test]
fn voicemail_hang_up_action() {
    let mut h = H::new(bot()).answer();
    h.run_until(500);
    h.c.on_amd(h.now, AmdVerdict::Machine, false);
    h.drain();
    assert_eq!(h.hangup(), Some(DisconnectedBy::Voicemail));
}

#[test]
fn llm_500_retries_then_apologizes_then_recovers() {
    let mut b = bot();
    b.opening_message = "Hi.".into();
    let mut h = H::new(b).answer();
    h.script(vec![Step::Fail(200, 500)]);
    h.script(vec![Step::Fail(200, 503)]);
    h.say(1000, 1500, "what are your hours");
    h.run_until(6000);
    assert_eq!(h.requests().len(), 2, "one retry");
    let apology = Behavior::default().apology_message;
    assert!(h.spoken().contains(&apology));
    h.script(vec![Step::Text(100, "We are open nine to five."), Step::Done(150)]);
    h.say(8000, 8500, "what are your hours");
    h.run_until(12_000);
    assert!(h.spoken().contains(&"We are open nine to five.".to_owned()));
    assert_eq!(h.hangup(), None);
    let errs = &h.c.record().service_errors;
    assert_eq!(errs.len(), 2);
    assert!(
        errs.iter()
            .all(|e| !e.fatal && e.service == cxb_model::ServiceKind::Llm)
    );
}

#[test]
fn second_failed_turn_hangs_up_with_error() {
    let mut b = bot();
    b.opening_message = "Hi.".into();
    let mut h = H::new(b).answer();
    for _ in 0..4 {
        h.script(vec![Step::Fail(200, 500)]);
    }
    h.say(1000, 1500, "hello");
    h.run_until(6000);
    h.say(8000, 8500, "hello again");
    h.run_until(20_000);
    assert_eq!(h.hangup(), Some(DisconnectedBy::Error));
    assert!(h.spoken().last().is_some_and(|s| s.starts_with("Thank you")));
    assert!(h.c.record().service_errors.last().is_some_and(|e| e.fatal));
}

#[test]
fn first_audio_leaves_before_the_llm_finishes_and_metrics_are_filled() {
    let mut b = bot();
    b.opening_message = String::new();
    let mut h = H::new(b).answer();
    h.script(vec![
        Step::Text(200, "Sure, I can help with that. "),
        Step::Text(1500, "Let me explain the options in detail. "),
        Step::Text(2500, "First"),
        Step::Done(3000),
    ]);
    h.say(1000, 1500, "can you help me");
    h.run_until(10_000);
    let req = h.first(|a| matches!(a, Action::StartLlm { .. })).unwrap();
    let audio = h.first(|a| matches!(a, Action::PlayAudio { .. })).unwrap();
    assert!(
        audio < req + ms(3000),
        "first audio at {audio:?}, LLM done at {:?}",
        req + ms(3000)
    );
    assert_eq!(
        h.spoken(),
        vec![
            "Sure, I can help with that.",
            "Let me explain the options in detail.",
            "First"
        ]
    );
    let lat = h.c.record().turn_latencies[0];
    assert_eq!(lat.stt_ms, Some(100));
    assert_eq!(lat.llm_first_token_ms, Some(200));
    assert_eq!(lat.llm_total_ms, Some(3000));
    assert_eq!(lat.tts_first_audio_ms, Some(100));
    // Speech end 1500 → final 1600 → request → token +200 → TTS +100 → audio.
    assert_eq!(lat.total_ms, Some(400));
    assert_eq!(lat.prompt_tokens, 100);
    assert_eq!(lat.completion_tokens, 20);
    assert_eq!(lat.tts_characters, 27 + 37 + 5);
    assert!(!lat.interrupted);
    let rec = h.c.finish(h.now);
    assert_eq!(rec.usage.completion_tokens, 20);
    let bot_line = rec
        .transcript
        .iter()
        .find(|t| t.role == cxb_model::TranscriptRole::Bot)
        .unwrap();
    assert_eq!(
        bot_line.text,
        "Sure, I can help with that. Let me explain the options in detail. First"
    );
}

#[test]
fn caller_reading_a_number_is_not_cut_off() {
    let mut b = bot();
    b.opening_message = String::new();
    let mut h = H::new(b).answer();
    h.script(vec![Step::Text(100, "Thanks."), Step::Done(120)]);
    // A pause of 900 ms after "555" (VAD ended), then the rest of the number.
    h.say(1000, 2000, "my number is 555");
    h.say(2900, 3600, "1234");
    h.run_until(8000);
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].messages.last().unwrap().content, "my number is 555 1234");
    assert!(h.first(|a| matches!(a, Action::StartLlm { .. })).unwrap() > ms(3600));
}

#[test]
fn dtmf_digits_join_the_turn() {
    let mut b = bot();
    b.opening_message = String::new();
    let mut h = H::new(b).answer();
    h.at(
        1000,
        Ev::Media(MediaEvent::Dtmf {
            digit: '4',
            duration_ms: 100,
        }),
    );
    h.at(
        1300,
        Ev::Media(MediaEvent::Dtmf {
            digit: '2',
            duration_ms: 100,
        }),
    );
    h.run_until(5000);
    assert_eq!(h.requests()[0].messages[0].content, "[DTMF 4] [DTMF 2]");
    assert_eq!(
        h.first(|a| matches!(a, Action::StartLlm { .. })),
        Some(ms(1300) + DTMF_WAIT)
    );
}

#[test]
fn knowledge_hits_and_policy_go_into_the_system_prompt() {
    let mut b = bot();
    b.opening_message = String::new();
    b.system_prompt = "You help {{call.name}}.".into();
    b.policy.push(cxb_model::PolicyStep {
        name: "greet".into(),
        goal: "Greet".into(),
        say: String::new(),
    });
    b.knowledge_base.push(KnowledgeDoc {
        title: "Hours".into(),
        text: "Open 9-5".into(),
    });
    let mut h = H::new(b);
    h.c.ctx.call.insert("name".into(), "Ann".into());
    let mut h = h.answer();
    h.say(1000, 1500, "when are you open");
    h.run_until(1700);
    let turn = h
        .actions()
        .find_map(|(_, a)| match a {
            Action::Search { turn, query } => {
                assert_eq!(query, "when are you open");
                Some(*turn)
            }
            _ => None,
        })
        .expect("search");
    assert!(h.requests().is_empty(), "waits for the hits");
    let rec = cxb_model::KnowledgeSearch {
        at_ms: 0,
        turn: 0,
        query: "q".into(),
        hits: 1,
        latency_us: 50,
        cached: false,
    };
    h.c.on_knowledge(h.now, turn, vec!["We are open\n9 to 5.".into()], rec);
    h.drain();
    let reqs = h.requests();
    assert_eq!(
        reqs[0].system,
        "You help .\n\nConversation steps:\n1. greet: Greet\n\nRelevant knowledge:\n- We are open 9 to 5."
    );
    assert_eq!(h.c.record().knowledge_searches.len(), 1);
    assert!(h.c.record().turn_latencies.is_empty());
    assert_eq!(h.c.record().unknown_variables, vec!["call.name"]);
}

#[test]
fn closing_phrase_and_end_call_hang_up_by_bot_after_playout() {
    let mut b = bot();
    b.opening_message = String::new();
    b.behavior.closing_phrases = vec!["have a nice day".into()];
    let mut h = H::new(b).answer();
    h.script(vec![Step::Text(100, "Thanks, have a nice day!"), Step::Done(150)]);
    h.say(1000, 1500, "that's all");
    h.run_until(10_000);
    assert_eq!(h.hangup(), Some(DisconnectedBy::Bot));
    let last_audio = h
        .log
        .iter()
        .rev()
        .find(|(_, a)| matches!(a, Action::PlayAudio { .. }))
        .unwrap()
        .0;
    assert!(h.first(|a| matches!(a, Action::Hangup { .. })).unwrap() > last_audio + ms(1000));

    let mut b = bot();
    b.opening_message = String::new();
    let mut h = H::new(b).answer();
    h.script(vec![
        Step::Text(100, "Goodbye."),
        Step::Tool(120, "end_call", "{}"),
        Step::Done(150),
    ]);
    h.say(1000, 1500, "bye");
    h.run_until(10_000);
    assert_eq!(h.hangup(), Some(DisconnectedBy::Bot));
    assert_eq!(h.c.record().tool_calls[0].name, "end_call");
}

#[test]
fn record_applies_to_a_call_record() {
    let mut h = run_transfer(true);
    let rec = std::mem::replace(
        &mut h.c,
        Conversation::new(
            Rc::new(bot()),
            ConversationCtx::new(CallDirection::Inbound, Duration::ZERO),
        ),
    )
    .finish(h.now);
    let started = cxb_model::Timestamp::from_second(1_700_000_000).unwrap();
    let mut call = cxb_model::CallRecord::new("s", "demo", CallDirection::Inbound, started);
    let at = rec.transfer_at_ms.unwrap();
    rec.apply_to(&mut call);
    assert!(call.was_transferred);
    assert_eq!(
        call.transfer_at.unwrap().as_millisecond(),
        started.as_millisecond() + at as i64
    );
    assert!(!call.transcript.is_empty());
}

/// Outbound: the bot lets the callee say "Hello?" first and answers it with the opening; no LLM
/// request for the hello itself.
#[test]
fn outbound_opening_waits_for_the_callee_hello() {
    let mut h = H::with_direction(bot(), CallDirection::Outbound).answer();
    h.say(400, 900, "hello");
    h.run_until(9000);
    let opening_at = h.first(|a| matches!(a, Action::Speak { .. })).expect("opening said");
    assert!(opening_at >= ms(1000) && opening_at < ms(1200), "{opening_at:?}");
    assert_eq!(h.spoken()[0], OPENING);
    assert!(
        h.requests().is_empty(),
        "the hello is answered by the opening, not the model"
    );
    let t = &h.c.record().transcript;
    assert_eq!(t[0].role, cxb_model::TranscriptRole::Caller);
    assert_eq!(t[0].text, "hello");
    assert_eq!(t[1].role, cxb_model::TranscriptRole::Bot);
}

/// Outbound and the callee says nothing: the opening goes after the wait; a callee who is still
/// talking at the deadline is not talked over.
#[test]
fn outbound_opening_after_silence_or_after_a_long_hello() {
    let mut h = H::with_direction(bot(), CallDirection::Outbound).answer();
    h.run_until(2500);
    let at = h.first(|a| matches!(a, Action::Speak { .. })).expect("opening said");
    assert!(at >= OUTBOUND_HELLO_WAIT && at < OUTBOUND_HELLO_WAIT + ms(40), "{at:?}");

    let mut h = H::with_direction(bot(), CallDirection::Outbound).answer();
    h.say(1500, 3500, "hello this is doctor jones office speaking");
    h.run_until(5000);
    let at = h.first(|a| matches!(a, Action::Speak { .. })).expect("opening said");
    assert!(at >= ms(3600), "spoke over the callee at {at:?}");
}

/// Outbound early media: a SIT ends the attempt as `rejected` before any answer; ring-back does not.
#[test]
fn sit_on_early_media_rejects_the_call_and_ringback_does_not() {
    let mut h = H::with_direction(bot(), CallDirection::Outbound);
    h.c.on_early_tone(ms(500), "ringback", false);
    h.drain();
    assert_eq!(h.hangup(), None);
    h.c.on_early_tone(ms(900), "sit", true);
    h.drain();
    assert_eq!(h.hangup(), Some(DisconnectedBy::Rejected));
    let amd = h.c.record().amd.clone().expect("amd result");
    assert_eq!(amd.reason, "sit");
    assert!(h.c.record().events.iter().any(|e| e.detail == "early media: sit"));
}
