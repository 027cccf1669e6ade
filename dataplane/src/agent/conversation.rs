//! The conversation state machine of one call: turn-taking, barge-in, streaming replies, tools,
//! transfer, voicemail, re-engagement and provider failures. Sans-IO (like quinn-proto or str0m):
//! no clock, sockets or tasks; time comes in as `now` (the media clock of
//! [`MediaEvent`]`::*{at}`), effects go out through [`Conversation::poll_action`].
//!
//! # Driver contract (one call, on its shard)
//! - On answer: [`on_answered`](Conversation::on_answered).
//! - Every 20 ms tick, after `Downlink::next_frame`: [`on_played`](Conversation::on_played) with
//!   `Downlink::queued_samples()` (cheap, no allocation), then every pending `MediaEvent` to
//!   [`on_media`](Conversation::on_media) (VAD, DTMF, playout).
//! - Provider events as they arrive: [`on_stt`](Conversation::on_stt), [`on_llm`](Conversation::on_llm),
//!   [`on_tts`](Conversation::on_tts) / [`on_tts_done`](Conversation::on_tts_done),
//!   [`on_provider_error`](Conversation::on_provider_error); webhook, knowledge, transfer and AMD
//!   results likewise.
//! - When [`poll_timeout`](Conversation::poll_timeout) is due: [`on_timeout`](Conversation::on_timeout).
//! - After every input: drain [`poll_action`](Conversation::poll_action) and carry each action out
//!   in order. [`Action::StopPlayout`] must clear the downlink before the next frame is sent, so a
//!   barge-in silences the bot within one 20 ms frame. [`Action::PlayAudio`] goes out in the next
//!   frame: `total_ms` (caller's last speech → our first reply audio) is measured when the action
//!   is emitted and is therefore up to 20 ms short of the wire time.
//! - At the end: [`finish`](Conversation::finish) → [`ConversationRecord`], then
//!   [`ConversationRecord::apply_to`] the call record.
//!
//! # Turn-taking
//! A caller turn ends when the VAD says speech ended and a final transcript is in (or up to
//! [`EOT_GRACE`] after speech end, with whatever was transcribed); a turn ending in a digit or a
//! number word waits [`NUMBER_HOLD`] after speech end so a caller reading a number is not cut off.
//! While the bot is busy (reply being computed or audio queued), caller speech interrupts only
//! once its transcript holds `behavior.min_words_to_interrupt` words that are not all backchannels
//! ("uh-huh", "yeah", "ok" …); with a minimum of 0 or 1 the VAD start alone interrupts. Speech that
//! does not interrupt is dropped. The bot never *starts* talking while the caller speaks.

mod output;
mod reply;
mod text;
mod types;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use cxb_dsp::resample::Resampler;
use cxb_model::{
    AmdResult, AmdVerdict, BotConfig, CallDirection, CallEvent, CallEventKind, DisconnectedBy, KnowledgeSearch,
    ServiceError, ServiceKind, TranscriptEntry, TranscriptRole, VoicemailAction,
};

use crate::agent::api::{ChatMessage, LlmEvent, ProviderError, Role, SttEvent, ToolSpec, TtsAudio};
use crate::media::MediaEvent;

pub use text::template_context;
pub use types::{Action, ConversationCtx, ConversationRecord, LlmId, ProviderOp, SegmentId, ToolCallId, ToolOutcome};

/// Wait for a final transcript after the VAD says speech ended.
pub const EOT_GRACE: Duration = Duration::from_millis(600);
/// Wait after speech end when the caller's words end in a number (they may go on reading it).
pub const NUMBER_HOLD: Duration = Duration::from_millis(1500);
/// Wait after a DTMF digit for more digits before the turn ends.
pub const DTMF_WAIT: Duration = Duration::from_millis(1500);
/// Longest wait for knowledge-base hits before the LLM is asked without them.
pub const RAG_WAIT: Duration = Duration::from_millis(300);
/// Most tool rounds (tool results fed back to the model) per turn.
pub const MAX_TOOL_ROUNDS: u32 = 5;
/// Longest wait for the voicemail beep before the message is left anyway.
pub const BEEP_WAIT: Duration = Duration::from_secs(20);
/// Longest wait for a closing line to play out before hanging up anyway.
pub const HANGUP_WAIT: Duration = Duration::from_secs(20);
/// What the bot says when a transfer fails.
/// Outbound calls: how long the bot waits after the answer for the callee's "Hello?" before it
/// speaks its opening anyway. While the callee talks, the wait extends to the end of their turn.
pub const OUTBOUND_HELLO_WAIT: Duration = Duration::from_millis(2000);
/// The line said when a transfer fails.
pub const TRANSFER_FAILED_LINE: &str = "I'm sorry, I could not transfer your call right now.";

/// Where a voicemail drop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voicemail {
    /// No machine (or not detected yet).
    None,
    /// Machine: waiting for the beep until the deadline.
    WaitBeep(Duration),
    /// Leaving (or left) the message.
    Leaving,
}

/// The caller's turn being collected.
#[derive(Debug, Default)]
struct CallerTurn {
    /// Final text of the turn so far.
    finals: String,
    /// Latest interim transcript (replaced by each interim, cleared by a final).
    interim: String,
    /// Text of speech that overlaps the bot and has not (yet) interrupted it.
    overlap_text: String,
    /// The current speech run overlaps the bot and has not interrupted it.
    overlap: bool,
    /// First speech of the turn.
    start: Option<Duration>,
    /// Last speech end of the turn.
    end: Option<Duration>,
    /// Start of the current speech run.
    run_start: Option<Duration>,
    /// Speech end → final transcript.
    stt_ms: Option<u32>,
    /// The turn ends at this time (grace, number hold, DTMF wait).
    eot_at: Option<Duration>,
}

/// The conversation of one call. See the [module docs](self).
#[derive(Debug)]
pub struct Conversation {
    bot: Rc<BotConfig>,
    ctx: ConversationCtx,
    actions: VecDeque<Action>,
    rec: ConversationRecord,
    tools: Vec<ToolSpec>,
    system: String,
    messages: Vec<ChatMessage>,
    answered_at: Option<Duration>,
    max_at: Option<Duration>,
    ended: bool,
    caller_speaking: bool,
    caller_spoke: bool,
    turn: CallerTurn,
    // Output (see output.rs).
    segs: VecDeque<output::Seg>,
    pushed: u64,
    queued: u64,
    resampler: Option<Resampler>,
    res_seg: Option<SegmentId>,
    line: Option<(u64, String)>,
    heard: Vec<(usize, String)>,
    next_seg: u64,
    // Replies (see reply.rs).
    reply: Option<reply::Reply>,
    next_llm: u32,
    next_turn: u32,
    next_tool: u64,
    llm_fail_turns: u32,
    reengage_at: Option<Duration>,
    reengage_count: u32,
    hangup: Option<(DisconnectedBy, Duration)>,
    transferring: bool,
    voicemail: Voicemail,
    /// Outbound: the opening waits for the callee's first words or this deadline.
    opening_at: Option<Duration>,
}

impl Conversation {
    /// A conversation for `bot` on a call described by `ctx`; nothing happens until
    /// [`on_answered`](Self::on_answered).
    pub fn new(bot: Rc<BotConfig>, ctx: ConversationCtx) -> Conversation {
        let mut unknown = Vec::new();
        let tpl = text::template_context(&bot, &ctx);
        let (system, _) = text::render(&bot.system_prompt, &tpl, &mut unknown);
        let tools = text::tool_specs(&bot);
        let events = unknown
            .iter()
            .map(|u| CallEvent {
                at_ms: 0,
                kind: CallEventKind::Other,
                detail: format!("unknown template variable {{{{{u}}}}} in the system prompt"),
            })
            .collect();
        Conversation {
            rec: ConversationRecord {
                unknown_variables: unknown,
                events,
                ..ConversationRecord::default()
            },
            tools,
            system,
            bot,
            ctx,
            actions: VecDeque::with_capacity(16),
            messages: Vec::new(),
            answered_at: None,
            max_at: None,
            ended: false,
            caller_speaking: false,
            caller_spoke: false,
            turn: CallerTurn::default(),
            segs: VecDeque::new(),
            pushed: 0,
            queued: 0,
            resampler: None,
            res_seg: None,
            line: None,
            heard: Vec::new(),
            next_seg: 0,
            reply: None,
            next_llm: 0,
            next_turn: 0,
            next_tool: 0,
            llm_fail_turns: 0,
            reengage_at: None,
            reengage_count: 0,
            hangup: None,
            transferring: false,
            voicemail: Voicemail::None,
            opening_at: None,
        }
    }

    /// The bot this conversation runs.
    pub fn bot(&self) -> &BotConfig {
        &self.bot
    }

    /// Whether the conversation asked for a hang-up (or the caller hung up): no more actions.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The LLM context so far (for inspection and tests).
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// The record so far (for inspection and tests).
    pub fn record(&self) -> &ConversationRecord {
        &self.rec
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`on_timeout`](Self::on_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.ended {
            return None;
        }
        let mut t = [
            self.turn.eot_at,
            self.reengage_at,
            self.opening_at
                .filter(|_| !self.caller_speaking && self.turn.start.is_none()),
            self.max_at,
            self.hangup.map(|h| h.1),
            match self.voicemail {
                Voicemail::WaitBeep(d) => Some(d),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(r) = &self.reply {
            for d in r.deadlines() {
                t = Some(t.map_or(d, |x: Duration| x.min(d)));
            }
        }
        t
    }

    /// Ms since the call's start at `now` (the record's offsets).
    fn ms(&self, now: Duration) -> u64 {
        now.saturating_sub(self.ctx.started).as_millis() as u64
    }

    fn event(&mut self, now: Duration, kind: CallEventKind, detail: impl Into<String>) {
        let at_ms = self.ms(now);
        self.rec.events.push(CallEvent {
            at_ms,
            kind,
            detail: detail.into(),
        });
    }

    fn service_error(&mut self, now: Duration, service: ServiceKind, err: &ProviderError, fatal: bool) {
        let at_ms = self.ms(now);
        self.rec.service_errors.push(ServiceError {
            service,
            stage: err.stage.to_owned(),
            at_ms,
            fatal,
            message: err.to_string(),
        });
    }

    /// Renders one of the bot's texts over the call's template context; a variable that is
    /// unknown renders empty, is listed in `unknown_variables` and gets an event (once).
    fn render(&mut self, now: Duration, tpl: &str) -> String {
        let ctx = text::template_context(&self.bot, &self.ctx);
        let (out, new) = text::render(tpl, &ctx, &mut self.rec.unknown_variables);
        for u in new {
            self.event(
                now,
                CallEventKind::Other,
                format!("unknown template variable {{{{{u}}}}}"),
            );
        }
        out
    }

    /// The call was answered at `now`: the max-duration clock starts and the opening message is said.
    pub fn on_answered(&mut self, now: Duration) {
        if self.answered_at.is_some() || self.ended {
            return;
        }
        self.answered_at = Some(now);
        self.max_at = Some(now + Duration::from_secs(u64::from(self.bot.max_call_seconds)));
        if self.ctx.direction == CallDirection::Outbound && !self.bot.opening_message.trim().is_empty() {
            // The callee speaks first on an outbound call ("Hello?"); talking over them, or over
            // an answering machine, is what makes bots sound like bots.
            self.opening_at = Some(now + OUTBOUND_HELLO_WAIT);
            return;
        }
        self.say_opening(now);
    }

    /// Says the opening message (rendered), or starts the idle timer when there is none.
    fn say_opening(&mut self, now: Duration) {
        self.opening_at = None;
        let opening = self.bot.opening_message.clone();
        let opening = self.render(now, &opening);
        if opening.trim().is_empty() {
            self.check_idle(now);
        } else {
            self.say_line(now, &opening, true);
        }
    }

    /// A media event of the call (VAD, DTMF, playout).
    pub fn on_media(&mut self, now: Duration, ev: &MediaEvent) {
        if self.ended {
            return;
        }
        match *ev {
            MediaEvent::SpeechStarted { at } => self.speech_started(now, at),
            MediaEvent::SpeechEnded { at } => self.speech_ended(now, at),
            MediaEvent::Dtmf { digit, .. } => self.dtmf(now, digit),
            MediaEvent::BotAudioDrained => {
                self.queued = 0;
                self.pump(now);
                self.check_idle(now);
            }
            MediaEvent::BotAudioStarted
            | MediaEvent::MarkPlayed { .. }
            | MediaEvent::RemoteLatched { .. }
            | MediaEvent::RemoteBye => {}
        }
    }

    fn in_voicemail(&self) -> bool {
        self.voicemail != Voicemail::None
    }

    fn speech_started(&mut self, now: Duration, at: Duration) {
        self.caller_speaking = true;
        self.reengage_at = None;
        self.turn.run_start = Some(at);
        self.event(now, CallEventKind::SpeechStarted, "");
        if self.in_voicemail() {
            return;
        }
        self.turn.eot_at = None;
        self.turn.overlap = self.bot_busy() && self.hangup.is_none() && !self.transferring;
        self.turn.overlap_text.clear();
        if self.turn.overlap && self.bot.behavior.min_words_to_interrupt <= 1 {
            self.barge_in(now);
        }
        if !self.turn.overlap && self.turn.start.is_none() {
            self.turn.start = Some(at);
        }
    }

    fn speech_ended(&mut self, now: Duration, at: Duration) {
        self.caller_speaking = false;
        if let Some(s) = self.turn.run_start.take() {
            self.rec.usage.stt_seconds += at.saturating_sub(s).as_secs_f64();
        }
        self.event(now, CallEventKind::SpeechEnded, "");
        if self.in_voicemail() {
            return;
        }
        self.turn.end = Some(at);
        if self.turn.overlap {
            // Wait a little for a late transcript that may still reach the interrupt threshold.
            self.turn.eot_at = Some(now + EOT_GRACE);
            self.pump(now);
            return;
        }
        if !self.turn.finals.is_empty() && self.turn.interim.is_empty() {
            self.maybe_end_turn(now);
        } else {
            let hold = if text::ends_with_number(&self.turn.interim) {
                NUMBER_HOLD
            } else {
                EOT_GRACE
            };
            // From now, not from `at`: the VAD reports the end `stop_secs` late, and a segmenting
            // STT only starts its final when told speech ended (now).
            self.turn.eot_at = Some(now + hold);
        }
        self.pump(now);
        self.check_idle(now);
    }

    fn dtmf(&mut self, now: Duration, digit: char) {
        self.event(now, CallEventKind::Dtmf, digit.to_string());
        if self.in_voicemail() {
            return;
        }
        if self.bot_busy() && self.hangup.is_none() && !self.transferring {
            self.barge_in(now);
        }
        let t = &mut self.turn;
        if !t.finals.is_empty() {
            t.finals.push(' ');
        }
        t.finals.push_str(&format!("[DTMF {digit}]"));
        t.start.get_or_insert(now);
        t.end = Some(now);
        self.reengage_at = None;
        if !self.caller_speaking {
            self.turn.eot_at = Some(now + DTMF_WAIT);
        }
    }

    /// A transcript event of the caller's STT stream.
    pub fn on_stt(&mut self, now: Duration, ev: SttEvent) {
        if self.ended || self.in_voicemail() {
            return;
        }
        let (text, is_final, eot) = match ev {
            SttEvent::Interim { text } => (text, false, false),
            SttEvent::Final { text, end_of_turn } => (text, true, end_of_turn),
        };
        let text = text.trim();
        if self.turn.overlap {
            if is_final {
                append(&mut self.turn.overlap_text, text);
                self.turn.interim.clear();
            } else {
                self.turn.interim.clear();
                self.turn.interim.push_str(text);
            }
            let heard = format!("{} {}", self.turn.overlap_text, self.turn.interim);
            let (words, all_back) = text::word_stats(&heard);
            let min = self.bot.behavior.min_words_to_interrupt.max(1) as usize;
            if words >= min && !all_back {
                if self.bot_busy() {
                    self.barge_in(now);
                } else {
                    // The bot finished meanwhile: an ordinary turn, no interruption.
                    self.adopt_overlap(now);
                }
                if !self.caller_speaking && is_final {
                    self.maybe_end_turn(now);
                }
            } else if !self.caller_speaking && is_final {
                // Speech over, not enough to interrupt: it was a backchannel or noise.
                self.drop_overlap();
            }
            return;
        }
        if is_final {
            append(&mut self.turn.finals, text);
            self.turn.interim.clear();
            if !self.caller_speaking {
                if let Some(end) = self.turn.end {
                    self.turn
                        .stt_ms
                        .get_or_insert(now.saturating_sub(end).as_millis() as u32);
                    self.maybe_end_turn(now);
                } else if eot {
                    self.maybe_end_turn(now);
                } else if !self.turn.finals.is_empty() {
                    self.turn.eot_at = Some(now + EOT_GRACE);
                }
            }
        } else {
            self.turn.interim.clear();
            self.turn.interim.push_str(text);
        }
    }

    fn adopt_overlap(&mut self, now: Duration) {
        let t = &mut self.turn;
        t.overlap = false;
        let text = std::mem::take(&mut t.overlap_text);
        append(&mut t.finals, &text);
        if t.start.is_none() {
            t.start = t.run_start.or(Some(now));
        }
    }

    fn drop_overlap(&mut self) {
        if self.turn.finals.is_empty() {
            self.turn.start = None;
            self.turn.end = None;
        }
        self.turn.overlap = false;
        self.turn.overlap_text.clear();
        self.turn.interim.clear();
        self.turn.eot_at = None;
    }

    /// Speech is over and a final is in: end the turn now, or hold when it ends in a number.
    fn maybe_end_turn(&mut self, now: Duration) {
        if self.caller_speaking {
            return;
        }
        let end = self.turn.end.unwrap_or(now);
        if text::ends_with_number(&self.turn.finals) && now < end + NUMBER_HOLD {
            self.turn.eot_at = Some(end + NUMBER_HOLD);
            return;
        }
        self.end_turn(now);
    }

    /// The caller's turn is over: take its text and answer.
    fn end_turn(&mut self, now: Duration) {
        self.turn.eot_at = None;
        if self.turn.overlap {
            self.drop_overlap();
            self.check_idle(now);
            return;
        }
        let mut text = std::mem::take(&mut self.turn.finals);
        append(&mut text, &std::mem::take(&mut self.turn.interim));
        let start = self.turn.start.take();
        let end = self.turn.end.take();
        let stt_ms = self.turn.stt_ms.take();
        if text.is_empty() {
            if self.opening_at.is_some() {
                self.say_opening(now);
            }
            self.check_idle(now);
            return;
        }
        self.caller_spoke = true;
        self.reengage_count = 0;
        self.reengage_at = None;
        let start_ms = self.ms(start.unwrap_or(now));
        let end_ms = self.ms(end.unwrap_or(now)).max(start_ms);
        self.rec.transcript.push(TranscriptEntry {
            role: TranscriptRole::Caller,
            text: text.clone(),
            start_ms,
            end_ms,
        });
        match self.messages.last_mut() {
            Some(m) if m.role == Role::User => append(&mut m.content, &text),
            _ => self.messages.push(ChatMessage::text(Role::User, text.clone())),
        }
        if self.opening_at.is_some() {
            // The callee's "Hello?": the answer to it is the opening.
            self.say_opening(now);
            return;
        }
        self.start_reply(now, text, end.unwrap_or(now), stt_ms);
    }

    /// The next LLM event of request `id`.
    pub fn on_llm(&mut self, now: Duration, id: LlmId, ev: LlmEvent) {
        if !self.ended {
            self.llm_event(now, id, ev);
        }
    }

    /// Audio of segment `seg` (any supported rate; resampled to 16 kHz here).
    pub fn on_tts(&mut self, now: Duration, seg: SegmentId, audio: TtsAudio) {
        if !self.ended {
            self.tts_audio(now, seg, audio);
        }
    }

    /// Segment `seg` has no more audio.
    pub fn on_tts_done(&mut self, now: Duration, seg: SegmentId) {
        if !self.ended {
            self.tts_done(now, seg);
        }
    }

    /// Playout progress: `queued` is `Downlink::queued_samples()` after this tick's frame.
    pub fn on_played(&mut self, now: Duration, queued: usize) {
        if self.ended {
            return;
        }
        self.queued = (queued as u64).min(self.pushed);
        if !self.segs.is_empty() || self.line.is_some() {
            self.check_idle(now);
        }
    }

    /// A provider operation failed.
    pub fn on_provider_error(&mut self, now: Duration, op: ProviderOp, err: ProviderError) {
        if self.ended {
            return;
        }
        match op {
            ProviderOp::Stt => self.service_error(now, ServiceKind::Stt, &err, false),
            ProviderOp::Tts(seg) => {
                self.service_error(now, ServiceKind::Tts, &err, false);
                self.tts_done(now, seg);
            }
            ProviderOp::Llm(id) => self.llm_error(now, id, err),
        }
    }

    /// A webhook tool call ended.
    pub fn on_tool_result(&mut self, now: Duration, id: ToolCallId, outcome: ToolOutcome) {
        if !self.ended {
            self.tool_result(now, id, outcome);
        }
    }

    /// Knowledge-base hits for `turn` (`record.at_ms`/`turn` are filled in here).
    pub fn on_knowledge(&mut self, now: Duration, turn: u32, hits: Vec<String>, mut record: KnowledgeSearch) {
        record.at_ms = self.ms(now);
        record.turn = turn;
        self.rec.knowledge_searches.push(record);
        if !self.ended {
            self.knowledge(now, turn, hits);
        }
    }

    /// The transfer asked for ended: `ok` (the call left us) or failed with `reason`.
    pub fn on_transfer_result(&mut self, now: Duration, ok: bool, reason: Option<String>) {
        if self.ended || !self.transferring {
            return;
        }
        self.transferring = false;
        if ok {
            self.rec.was_transferred = true;
            self.event(
                now,
                CallEventKind::TransferCompleted,
                self.rec.transfer_target.clone().unwrap_or_default(),
            );
            self.do_hangup(DisconnectedBy::TransferToAgent);
        } else {
            self.rec.was_transferred = false;
            let reason = reason.unwrap_or_else(|| "failed".to_owned());
            self.event(now, CallEventKind::TransferFailed, reason.clone());
            self.rec.transfer_failed_reason = Some(reason);
            self.say_line(now, TRANSFER_FAILED_LINE, true);
        }
    }

    /// The answering-machine detector's verdict (`beep`: the beep was heard now).
    pub fn on_amd(&mut self, now: Duration, verdict: AmdVerdict, beep: bool) {
        if self.ended {
            return;
        }
        let since_answer = now.saturating_sub(self.answered_at.unwrap_or(now)).as_millis() as u64;
        match &mut self.rec.amd {
            Some(a) => {
                if beep && a.beep_at_ms.is_none() {
                    a.beep_at_ms = Some(since_answer);
                }
            }
            None => {
                self.rec.amd = Some(AmdResult {
                    verdict,
                    at_ms: since_answer,
                    reason: if beep { "beep".to_owned() } else { String::new() },
                    beep_at_ms: beep.then_some(since_answer),
                })
            }
        }
        if verdict != AmdVerdict::Machine && self.voicemail == Voicemail::None {
            return;
        }
        match (self.bot.voicemail.action, self.voicemail) {
            (VoicemailAction::Ignore, _) => {}
            (VoicemailAction::HangUp, _) => {
                self.stop_all(now);
                self.do_hangup(DisconnectedBy::Voicemail);
            }
            (VoicemailAction::LeaveMessage, Voicemail::None) => {
                self.stop_all(now);
                self.turn = CallerTurn::default();
                self.reengage_at = None;
                self.voicemail = Voicemail::WaitBeep(now + BEEP_WAIT);
                if beep {
                    self.leave_message(now);
                }
            }
            (VoicemailAction::LeaveMessage, Voicemail::WaitBeep(_)) if beep => self.leave_message(now),
            (VoicemailAction::LeaveMessage, _) => {}
        }
    }

    /// A call-progress tone on outbound early media, before any answer (`tone`: `sit`, `busy`,
    /// `ringback`). A SIT (number unobtainable, congestion) or busy tone ends the attempt as
    /// `rejected`, with the tone as the detector's reason; ring-back is only noted (once).
    pub fn on_early_tone(&mut self, now: Duration, tone: &str, fatal: bool) {
        if self.ended || self.answered_at.is_some() {
            return;
        }
        let detail = format!("early media: {tone}");
        if !self.rec.events.iter().any(|e| e.detail == detail) {
            self.event(now, CallEventKind::Other, detail);
        }
        if fatal {
            self.rec.amd = Some(AmdResult {
                verdict: AmdVerdict::Unknown,
                at_ms: 0,
                reason: tone.to_owned(),
                beep_at_ms: None,
            });
            self.do_hangup(DisconnectedBy::Rejected);
        }
    }

    fn leave_message(&mut self, now: Duration) {
        self.voicemail = Voicemail::Leaving;
        let msg = self.bot.voicemail.message.clone();
        let msg = self.render(now, &msg);
        self.say_line(now, &msg, false);
        self.hangup = Some((DisconnectedBy::Voicemail, now + HANGUP_WAIT));
        self.check_idle(now);
    }

    /// The caller hung up: `customer`, or `RNR` when they never said anything.
    pub fn on_remote_hangup(&mut self, now: Duration) {
        if self.ended {
            return;
        }
        let by = if self.caller_spoke {
            DisconnectedBy::Customer
        } else {
            DisconnectedBy::Rnr
        };
        self.flush_line(now);
        self.finish_reply(now, false);
        self.rec.disconnected_by = Some(by);
        self.ended = true;
    }

    /// Timers (end of turn, re-engagement, max duration, tools, knowledge, beep, hang-up) due at `now`.
    pub fn on_timeout(&mut self, now: Duration) {
        if self.ended {
            return;
        }
        if self.max_at.is_some_and(|t| now >= t) {
            self.max_at = None;
            self.close(now, DisconnectedBy::Timeout);
            return;
        }
        if self.hangup.is_some_and(|h| now >= h.1) {
            let by = self.hangup.map_or(DisconnectedBy::Bot, |h| h.0);
            self.flush_line(now);
            self.do_hangup(by);
            return;
        }
        if let Voicemail::WaitBeep(d) = self.voicemail
            && now >= d
        {
            self.leave_message(now);
        }
        if self.turn.eot_at.is_some_and(|t| now >= t) {
            self.end_turn(now);
        }
        if self.opening_at.is_some_and(|t| now >= t) && !self.caller_speaking && self.turn.start.is_none() {
            self.say_opening(now);
        }
        if self.reengage_at.is_some_and(|t| now >= t) {
            self.reengage_at = None;
            self.reengage(now);
        }
        self.reply_timers(now);
    }

    fn reengage(&mut self, now: Duration) {
        let b = &self.bot.behavior;
        if self.reengage_count >= b.reengage_retries {
            let by = if self.caller_spoke {
                DisconnectedBy::Bot
            } else {
                DisconnectedBy::Rnr
            };
            self.close(now, by);
            return;
        }
        let msgs = &b.reengage_messages;
        let Some(msg) = msgs
            .get((self.reengage_count as usize).min(msgs.len().saturating_sub(1)))
            .cloned()
        else {
            return;
        };
        self.reengage_count += 1;
        let msg = self.render(now, &msg);
        self.say_line(now, &msg, true);
    }

    /// Stops everything, says the closing message and hangs up with `by` once it played.
    fn close(&mut self, now: Duration, by: DisconnectedBy) {
        self.stop_all(now);
        let closing = self.bot.behavior.closing_message.clone();
        let closing = self.render(now, &closing);
        self.hangup = Some((by, now + HANGUP_WAIT));
        self.reengage_at = None;
        self.turn = CallerTurn::default();
        if closing.trim().is_empty() {
            self.check_idle(now);
        } else {
            self.say_line(now, &closing, false);
        }
    }

    fn do_hangup(&mut self, by: DisconnectedBy) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.rec.disconnected_by = Some(by);
        self.actions.push_back(Action::Hangup { by });
    }

    /// The record of the conversation (call once, at the end of the call); the conversation is
    /// over afterwards (no more actions, a second call returns an empty record).
    pub fn finish(&mut self, now: Duration) -> ConversationRecord {
        self.flush_line(now);
        self.finish_reply(now, false);
        self.ended = true;
        self.actions.clear();
        std::mem::take(&mut self.rec)
    }
}

/// Appends `text` to `s` with one space between (nothing for empty text).
fn append(s: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(text);
}
