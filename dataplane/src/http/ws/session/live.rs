//! The running part of a [`Session`]: stream events, the 20 ms tick and the call's
//! [`CallAgent`] (the same conversation as SIP calls), with websocket reverse transfer.
//!
//! ```text
//! WsEvent::Started ─► CallAgent::attach + on_answered (opening message)
//! every 20 ms: Downlink ─► WsCall (media) · WsCall ─► Uplink · CallAgent::tick(media events)
//! provider results ─► CallAgent::on_input ─► PlayAudio / StopPlayout (downlink clear + `clear`)
//! ShardEffect::Transfer ─► `transfer` ─► `transfer_result` | stream end (ok) | 10 s (failed)
//! ```

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use cxb_model::record::{CallEventKind, ServiceKind};
use cxb_model::{CallDirection, DisconnectedBy, ProviderKind, Timestamp};
use tokio::sync::mpsc;

use super::{CALLER_RING_16K, SILENCE_16K, Session};
use crate::agent::conversation::{ConversationCtx, ConversationRecord};
use crate::agent::factory::AgentFactory;
use crate::engine::agent::{AgentInput, AgentMedia, CallAgent, ShardEffect};
use crate::engine::voice;
use crate::http::ws::{GREETING_MARK, LINE_RATE};
use crate::media::{Downlink, MediaEvent, Uplink};
use crate::ws::{WsCall, WsConfig, WsEvent, WsState};

/// How long the peer has to answer a `transfer` before it counts as failed.
pub(crate) const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past `max_call_seconds` the call waits for the agent's closing line.
const MAX_DURATION_GRACE: Duration = Duration::from_secs(25);
/// Media events handed to the agent per tick (more are dropped).
const TICK_EVENTS: usize = 16;

thread_local! {
    /// The providers of this shard thread's WebSocket calls (one HTTP pool per thread).
    static FACTORY: OnceCell<Rc<AgentFactory>> = const { OnceCell::new() };
}

fn factory(kind: Option<ProviderKind>) -> Rc<AgentFactory> {
    FACTORY.with(|f| f.get_or_init(|| Rc::new(AgentFactory::new(kind))).clone())
}

/// A stream's media pipeline: the protocol state machine and the uplink and downlink the agent
/// drives (as it drives an RTP session on SIP calls).
#[derive(Debug)]
pub(super) struct WsMedia {
    pub(super) call: WsCall,
    pub(super) uplink: Uplink,
    pub(super) downlink: Downlink,
}

impl AgentMedia for WsMedia {
    fn uplink(&self) -> &Uplink {
        &self.uplink
    }

    fn uplink_mut(&mut self) -> &mut Uplink {
        &mut self.uplink
    }

    fn downlink(&self) -> &Downlink {
        &self.downlink
    }

    fn downlink_mut(&mut self) -> &mut Downlink {
        &mut self.downlink
    }

    fn can_send(&self) -> bool {
        self.call.state() == WsState::Started
    }

    /// Barge-in: our queue and, with a `clear`, the audio the peer buffered.
    fn stop_playout(&mut self) {
        self.downlink.clear();
        if self.call.state() == WsState::Started {
            let _ = self.call.clear();
        }
    }
}

/// The agent of a running call (not `Send`: it lives on the shard's `LocalSet`).
#[derive(Debug, Default)]
pub(super) struct AgentSide {
    agent: Option<CallAgent>,
    inbox: Option<mpsc::UnboundedReceiver<AgentInput>>,
    effects: Vec<ShardEffect>,
    events: [Option<MediaEvent>; TICK_EVENTS],
    n_events: usize,
    /// A `transfer` is out; it fails at this media time.
    transfer_deadline: Option<Duration>,
}

impl AgentSide {
    /// The next provider result (pending forever without an agent).
    pub(super) async fn next_input(&mut self) -> Option<AgentInput> {
        match self.inbox.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    fn push_event(&mut self, ev: MediaEvent) {
        if self.n_events < TICK_EVENTS {
            self.events[self.n_events] = Some(ev);
            self.n_events += 1;
        }
    }
}

impl Session {
    pub(super) fn drain_events(&mut self, side: &mut AgentSide) {
        while let Some(ev) = self.media.call.poll_event() {
            match ev {
                WsEvent::Started {
                    stream_sid,
                    call_sid,
                    caller_id,
                    variables,
                    ..
                } => self.on_started(side, stream_sid, call_sid, caller_id, variables),
                WsEvent::CallerAudio { .. } => {}
                // The conversation records the key.
                WsEvent::Dtmf { digit } => side.push_event(MediaEvent::Dtmf { digit, duration_ms: 0 }),
                WsEvent::MarkPlayed { name } => self.event(CallEventKind::Other, format!("mark {name:?} played")),
                WsEvent::MarkCleared { name } => self.event(CallEventKind::Other, format!("mark {name:?} cleared")),
                WsEvent::TransferResult { ok, reason } => {
                    side.transfer_deadline = None;
                    self.transfer_result(side, ok, reason);
                }
                WsEvent::Stopped => {
                    if !self.closed {
                        self.event(CallEventKind::Hangup, "stop");
                    }
                    if side.transfer_deadline.take().is_some() {
                        // The peer ended the stream after our `transfer`: it took the caller.
                        self.media.call.abandon_transfer();
                        self.transfer_result(side, true, None);
                    }
                    self.peer_hangup = true;
                    self.end(DisconnectedBy::Customer);
                }
                WsEvent::IdleTimeout => {
                    self.event(CallEventKind::MediaTimeout, "no message from the peer");
                    self.end(DisconnectedBy::Timeout);
                }
            }
        }
    }

    fn on_started(
        &mut self,
        side: &mut AgentSide,
        stream_sid: String,
        call_sid: Option<String>,
        caller_id: Option<String>,
        variables: std::collections::BTreeMap<String, String>,
    ) {
        self.answered_at = Some(Timestamp::now());
        self.event(CallEventKind::Answered, format!("stream {stream_sid}"));
        let widget = crate::http::widget::is_widget_call(&self.variables);
        for (k, v) in variables {
            if widget && crate::http::widget::RESERVED_VARIABLES.contains(&k.as_str()) {
                continue;
            }
            self.variables.insert(k, serde_json::Value::String(v));
        }
        if let Some(sid) = call_sid {
            self.variables
                .entry("callSid".to_owned())
                .or_insert(serde_json::Value::String(sid));
        }
        self.variables
            .entry("streamSid".to_owned())
            .or_insert(serde_json::Value::String(stream_sid));
        self.caller_id = caller_id;
        if self.bot.max_call_seconds > 0 {
            let max = Duration::from_secs(u64::from(self.bot.max_call_seconds));
            self.hangup_at = Some(Instant::now() + max + MAX_DURATION_GRACE);
        }
        self.start_recording();
        self.shared.records.begin(self.provisional_record());
        self.start_agent(side);
    }

    fn start_recording(&mut self) {
        if !self.bot.record || self.recording.is_some() {
            return;
        }
        let day = self.started_at.strftime("%Y/%m/%d");
        let key = format!("{day}/{}", self.session_id);
        match self.shared.recorder.open(&key, voice::BOT_RATE) {
            Ok(h) => {
                self.recording = Some(h);
                self.recording_key = Some(key);
                self.event(CallEventKind::RecordingStarted, "");
            }
            Err(e) => self.service_error(ServiceKind::Recording, "open", false, e.to_string()),
        }
    }

    /// The stream started: the agent answers (opening message). Caller audio is timed from now.
    fn start_agent(&mut self, side: &mut AgentSide) {
        if side.agent.is_some() {
            return;
        }
        let now = self.started.elapsed();
        match Uplink::new(LINE_RATE, cxb_dsp::vad::VadConfig::default(), CALLER_RING_16K, now) {
            Ok(u) => self.media.uplink = u,
            Err(e) => self.service_error(ServiceKind::Media, "start", false, e.to_string()),
        }
        let mut ctx = ConversationCtx::new(CallDirection::Websocket, Duration::ZERO);
        if let serde_json::Value::Object(m) = cxb_model::template::call_namespace(&self.provisional_record()) {
            ctx.call = m.into_iter().collect();
        }
        let tz = self
            .bot
            .active_hours
            .as_ref()
            .map(|h| h.time_zone.clone())
            .unwrap_or_else(|| "UTC".to_owned());
        let sys = cxb_model::template::TemplateContext::new().with_system(Timestamp::now(), &tz);
        if let Some(serde_json::Value::Object(m)) = sys.get("system") {
            ctx.system = m.clone().into_iter().collect();
        }
        let routing = self.shared.routing.load();
        let factory = factory(self.shared.cfg.providers);
        let (mut agent, inbox) = CallAgent::new(Rc::new(self.bot.clone()), ctx, &factory, routing.providers());
        agent.attach(&mut self.media);
        agent.on_answered(now, Some(&mut self.media), &mut side.effects);
        side.agent = Some(agent);
        side.inbox = Some(inbox);
        self.apply_effects(side);
    }

    /// A provider result for the agent (`None`: its inbox closed).
    pub(super) fn on_agent_input(&mut self, side: &mut AgentSide, input: Option<AgentInput>) {
        let Some(input) = input else {
            side.inbox = None;
            return;
        };
        let now = self.started.elapsed();
        if let Some(a) = side.agent.as_mut() {
            a.on_input(now, input, Some(&mut self.media), &mut side.effects);
        }
        self.apply_effects(side);
    }

    /// The pending transfer ended (`ok`: the peer took the caller).
    fn transfer_result(&mut self, side: &mut AgentSide, ok: bool, reason: Option<String>) {
        let now = self.started.elapsed();
        if let Some(a) = side.agent.as_mut() {
            a.on_transfer_result(now, ok, reason, Some(&mut self.media), &mut side.effects);
        }
        self.apply_effects(side);
    }

    /// Carries out what the agent asked: hang up, or a websocket reverse transfer.
    fn apply_effects(&mut self, side: &mut AgentSide) {
        while !side.effects.is_empty() {
            for e in std::mem::take(&mut side.effects) {
                match e {
                    ShardEffect::Hangup(by) => self.end(by),
                    ShardEffect::Transfer {
                        destination,
                        target,
                        reason,
                    } => match self.media.call.send_transfer(&target, &destination, &reason) {
                        Ok(()) => side.transfer_deadline = Some(self.started.elapsed() + TRANSFER_TIMEOUT),
                        Err(e) => {
                            let now = self.started.elapsed();
                            let why = Some(format!("transfer not sent: {e}"));
                            if let Some(a) = side.agent.as_mut() {
                                a.on_transfer_result(now, false, why, Some(&mut self.media), &mut side.effects);
                            }
                        }
                    },
                }
            }
        }
    }

    /// Every 20 ms: timers, one bot frame out, caller audio in, the recorder, then the agent.
    pub(super) fn on_tick(&mut self, side: &mut AgentSide) {
        let now = self.started.elapsed();
        let idle = WsConfig::default().idle_timeout;
        if self.media.call.poll_timeout().is_some_and(|t| now >= t) {
            self.media.call.handle_timeout(now);
        } else if self.media.call.state() == WsState::AwaitingConnected && idle.is_some_and(|t| now >= t) {
            self.event(CallEventKind::MediaTimeout, "no message from the peer");
            self.end(DisconnectedBy::Timeout);
        }
        if self.hangup_at.is_some_and(|t| Instant::now() >= t) {
            self.hangup_at = None;
            self.event(CallEventKind::Hangup, "max call duration reached");
            self.end(DisconnectedBy::Timeout);
        }
        if side.transfer_deadline.is_some_and(|t| now >= t) {
            side.transfer_deadline = None;
            self.media.call.abandon_transfer();
            let why = format!("no transfer_result within {} s", TRANSFER_TIMEOUT.as_secs());
            self.transfer_result(side, false, Some(why));
        }
        if self.media.call.state() != WsState::Started {
            return;
        }
        let playing = self.media.downlink.queued_samples() > 0;
        self.media.downlink.next_frame(&mut self.bot_frame);
        if playing && let Err(e) = self.media.call.push_bot_frame(&self.bot_frame) {
            self.on_protocol_error(e);
        }
        self.media.uplink.push_far(
            self.media.downlink.last_frame_16k(),
            self.media.downlink.last_frame_line(),
        );
        let heard = self.pull_caller();
        if let Some(rec) = self.recording.as_mut() {
            let caller = if heard {
                self.media.uplink.last_frame_16k()
            } else {
                &SILENCE_16K
            };
            rec.push_stereo(caller, self.media.downlink.last_frame_16k());
        }
        while let Some(ev) = self.media.downlink.poll_event() {
            if ev == MediaEvent::BotAudioDrained {
                self.mark_end_of_audio();
            }
            side.push_event(ev);
        }
        while let Some(ev) = self.media.uplink.poll_event() {
            side.push_event(ev);
        }
        if let Some(a) = side.agent.as_mut() {
            a.attach(&mut self.media);
            a.tick(now, &mut self.media, &side.events[..side.n_events], &mut side.effects);
        }
        side.events = [None; TICK_EVENTS];
        side.n_events = 0;
        self.apply_effects(side);
    }

    /// The bot audio queued so far has been sent: a `mark` the peer echoes once it has played it
    /// (the first, after the opening message, is named [`GREETING_MARK`]).
    fn mark_end_of_audio(&mut self) {
        let name = match self.marks_sent {
            0 => GREETING_MARK.to_owned(),
            n => format!("bot-{n}"),
        };
        self.marks_sent += 1;
        if let Err(e) = self.media.call.send_mark(&name) {
            self.on_protocol_error(e);
        }
    }

    /// Ends the agent (a peer hang-up first: `customer`, or `RNR` when the caller never spoke)
    /// and hands back the conversation's part of the record.
    pub(super) fn finish_agent(&mut self, side: &mut AgentSide) -> Option<ConversationRecord> {
        let mut agent = side.agent.take()?;
        let now = self.started.elapsed();
        if side.n_events > 0 {
            // Events of the last moments (a key pressed just before `stop`).
            agent.tick(now, &mut self.media, &side.events[..side.n_events], &mut side.effects);
            side.n_events = 0;
        }
        if self.peer_hangup && agent.is_answered() {
            agent.on_remote_hangup(now);
        }
        Some(agent.finish(now))
    }
}
