//! [`Session`]: one WebSocket call after the upgrade, driven by its own task on the shard thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use cxb_model::record::{CallEvent, CallEventKind, CallRecord, ServiceError, ServiceKind};
use cxb_model::{BotConfig, CallDirection, DisconnectedBy, Timestamp, Variables};

use super::{ActiveGuard, GREETING_MARK, LINE_RATE, new_session_id};
use crate::engine::{Shared, voice};
use crate::media::{Downlink, FRAME_16K, FRAME_MS, MediaError, MediaEvent, Uplink};
use crate::recording::RecordingHandle;
use crate::ws::{WsCall, WsConfig, WsError, WsEvent, WsState};

/// Samples of one 20 ms frame at [`LINE_RATE`].
const FRAME_8K: usize = (LINE_RATE * FRAME_MS / 1000) as usize;
/// The pacing tick.
const TICK: Duration = Duration::from_millis(FRAME_MS as u64);
/// Caller audio held back before the tick catches up (100 ms): beyond it, extra frames are fed
/// to the uplink at once.
const MAX_CALLER_BACKLOG: usize = 5 * FRAME_8K;
/// Caller audio at 16 kHz kept for speech recognition (4 s).
const CALLER_RING_16K: usize = 4 * 16_000;
/// Downlink mark id of the opening message.
const GREETING_ID: u64 = 1;
/// Events kept per call.
const MAX_EVENTS: usize = 512;
/// A send that does not complete in this time ends the call (the peer stopped reading).
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Opening messages kept per shard thread.
const GREETING_CACHE: usize = 64;
/// Silence for the recorder when no caller frame arrived in a tick.
const SILENCE_16K: [i16; FRAME_16K] = [0; FRAME_16K];

/// Synthesised opening messages by (voice, text).
type GreetingCache = HashMap<(String, String), Arc<Vec<i16>>>;

thread_local! {
    /// Synthesised opening messages by (voice, text), per shard thread.
    static GREETINGS: RefCell<GreetingCache> = RefCell::new(HashMap::new());
}

/// The opening message being synthesised (awaited inside the call's select loop).
type Synthesis = Pin<Box<dyn Future<Output = Result<Arc<Vec<i16>>, voice::VoiceError>> + Send>>;

/// One WebSocket call: protocol state, media pipeline and the pieces of its record.
#[derive(Debug)]
pub(super) struct Session {
    shared: Arc<Shared>,
    shard: usize,
    bot: BotConfig,
    session_id: String,
    started_at: Timestamp,
    started: Instant,
    answered_at: Option<Timestamp>,
    caller_id: Option<String>,
    variables: Variables,
    events: Vec<CallEvent>,
    service_errors: Vec<ServiceError>,
    recording: Option<RecordingHandle>,
    recording_key: Option<String>,
    call: WsCall,
    uplink: Uplink,
    downlink: Downlink,
    bot_frame: [i16; FRAME_8K],
    caller_frame: [i16; FRAME_8K],
    hangup_at: Option<Instant>,
    /// Synthesis of the opening message is due.
    want_greeting: bool,
    /// How the call ends, once known.
    end: Option<DisconnectedBy>,
    /// The socket is gone (no close frame to send).
    closed: bool,
    first_error: Option<String>,
    /// Binary frames received (the protocol is text only; they are dropped).
    binary_frames: u64,
    running: bool,
    finished: bool,
    _active: ActiveGuard,
}

impl Session {
    /// A call for `bot` on `shard`, before the upgrade completes (counted as active from here).
    pub(super) fn new(shared: Arc<Shared>, shard: usize, bot: BotConfig) -> Result<Session, MediaError> {
        let started = Instant::now();
        let vad = cxb_dsp::vad::VadConfig::default();
        Ok(Session {
            uplink: Uplink::new(LINE_RATE, vad, CALLER_RING_16K, Duration::ZERO)?,
            downlink: Downlink::new(LINE_RATE)?,
            call: WsCall::new(WsConfig::default()),
            session_id: new_session_id(shard),
            started_at: Timestamp::now(),
            started,
            answered_at: None,
            caller_id: None,
            variables: bot.variables.clone(),
            events: Vec::new(),
            service_errors: Vec::new(),
            recording: None,
            recording_key: None,
            bot_frame: [0; FRAME_8K],
            caller_frame: [0; FRAME_8K],
            hangup_at: None,
            want_greeting: false,
            end: None,
            closed: false,
            first_error: None,
            binary_frames: 0,
            running: false,
            finished: false,
            _active: ActiveGuard::new(),
            shared,
            shard,
            bot,
        })
    }

    /// Runs the call until it ends, then closes the socket and submits the record.
    pub(super) async fn run(mut self, mut socket: WebSocket) {
        self.running = true;
        self.shared.records.begin(self.provisional_record());
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut greeting: Option<Synthesis> = None;
        let by = loop {
            tokio::select! {
                msg = socket.recv() => self.on_message(msg),
                pcm = async { greeting.as_mut().expect("guarded by the branch condition").await },
                    if greeting.is_some() =>
                {
                    greeting = None;
                    self.on_greeting(pcm);
                }
                _ = tick.tick() => self.on_tick(),
            }
            self.drain_events();
            if std::mem::take(&mut self.want_greeting) {
                greeting = self.greeting();
            }
            if !self.closed && self.call.outgoing_len() > 0 && !self.flush(&mut socket).await {
                self.closed = true;
                self.call.on_closed();
                self.drain_events();
            }
            if let Some(by) = self.end {
                break by;
            }
        };
        if !self.closed {
            let bye = Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "".into(),
            }));
            let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(bye)).await;
        }
        self.finish(by);
    }

    fn at_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn event(&mut self, kind: CallEventKind, detail: impl Into<String>) {
        if self.events.len() < MAX_EVENTS {
            let at_ms = self.at_ms();
            self.events.push(CallEvent {
                at_ms,
                kind,
                detail: detail.into(),
            });
        }
    }

    fn service_error(&mut self, service: ServiceKind, stage: &str, fatal: bool, message: String) {
        if self.service_errors.len() < MAX_EVENTS {
            let at_ms = self.at_ms();
            self.service_errors.push(ServiceError {
                service,
                stage: stage.to_owned(),
                at_ms,
                fatal,
                message,
            });
        }
    }

    fn end(&mut self, by: DisconnectedBy) {
        self.end.get_or_insert(by);
    }

    fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) {
        match msg {
            Some(Ok(Message::Text(text))) => {
                let now = self.started.elapsed();
                if let Err(e) = self.call.on_text(now, text.as_str()) {
                    self.on_protocol_error(e);
                }
            }
            Some(Ok(Message::Binary(_))) => {
                self.binary_frames += 1;
                if self.first_error.is_none() {
                    self.first_error = Some("binary frame".to_owned());
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                self.closed = true;
                self.event(CallEventKind::Hangup, "websocket closed");
                self.call.on_closed();
            }
        }
    }

    /// A frame the protocol rejected: dropped (the first is kept for the record), except an
    /// unsupported media format, which ends the call.
    fn on_protocol_error(&mut self, e: WsError) {
        if let WsError::UnsupportedMediaFormat { .. } = e {
            self.service_error(ServiceKind::Media, "start", true, e.to_string());
            self.end(DisconnectedBy::Error);
            return;
        }
        if self.first_error.is_none() {
            tracing::debug!(session = %self.session_id, error = %e, "malformed media-stream message dropped");
            self.first_error = Some(e.to_string());
        }
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.call.poll_event() {
            match ev {
                WsEvent::Started {
                    stream_sid,
                    call_sid,
                    caller_id,
                    variables,
                    ..
                } => self.on_started(stream_sid, call_sid, caller_id, variables),
                WsEvent::CallerAudio { .. } => {}
                WsEvent::Dtmf { digit } => self.event(CallEventKind::Dtmf, format!("{digit} websocket")),
                WsEvent::MarkPlayed { name } if name == GREETING_MARK => {
                    self.event(CallEventKind::BotTurnEnded, "opening message played")
                }
                WsEvent::MarkPlayed { name } => self.event(CallEventKind::Other, format!("mark {name:?} played")),
                WsEvent::MarkCleared { name } => self.event(CallEventKind::Other, format!("mark {name:?} cleared")),
                WsEvent::Stopped => {
                    if !self.closed {
                        self.event(CallEventKind::Hangup, "stop");
                    }
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
        stream_sid: String,
        call_sid: Option<String>,
        caller_id: Option<String>,
        variables: std::collections::BTreeMap<String, String>,
    ) {
        self.answered_at = Some(Timestamp::now());
        self.event(CallEventKind::Answered, format!("stream {stream_sid}"));
        for (k, v) in variables {
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
            self.hangup_at = Some(Instant::now() + Duration::from_secs(u64::from(self.bot.max_call_seconds)));
        }
        self.start_recording();
        self.want_greeting = !self.bot.opening_message.is_empty();
        self.shared.records.begin(self.provisional_record());
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

    /// The opening message: from this thread's cache, else a synthesis to await.
    fn greeting(&mut self) -> Option<Synthesis> {
        let voice_name = if self.bot.voice.is_empty() {
            "en-us".to_owned()
        } else {
            self.bot.voice.clone()
        };
        let key = (voice_name, self.bot.opening_message.clone());
        if let Some(pcm) = GREETINGS.with(|g| g.borrow().get(&key).cloned()) {
            self.on_greeting(Ok(pcm));
            return None;
        }
        let espeak = self.shared.cfg.espeak.clone();
        Some(Box::pin(async move {
            let pcm = Arc::new(voice::synthesize(&espeak, &key.0, &key.1).await?);
            GREETINGS.with(|g| {
                let mut g = g.borrow_mut();
                if g.len() >= GREETING_CACHE {
                    g.clear();
                }
                g.insert(key, pcm.clone());
            });
            Ok(pcm)
        }))
    }

    fn on_greeting(&mut self, pcm: Result<Arc<Vec<i16>>, voice::VoiceError>) {
        match pcm {
            Ok(pcm) if self.call.state() == WsState::Started => {
                self.downlink.push_bot_audio(&pcm);
                self.downlink.mark(GREETING_ID);
                self.event(CallEventKind::BotTurnStarted, "opening message");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(bot = %self.bot.id, error = %e, "opening message synthesis failed");
                self.service_error(ServiceKind::Tts, "opening message", false, e.to_string());
            }
        }
    }

    /// Every 20 ms: timers, one bot frame out, caller audio in, the recorder, media events.
    fn on_tick(&mut self) {
        let now = self.started.elapsed();
        let idle = WsConfig::default().idle_timeout;
        if self.call.poll_timeout().is_some_and(|t| now >= t) {
            self.call.handle_timeout(now);
        } else if self.call.state() == WsState::AwaitingConnected && idle.is_some_and(|t| now >= t) {
            self.event(CallEventKind::MediaTimeout, "no message from the peer");
            self.end(DisconnectedBy::Timeout);
        }
        if self.hangup_at.is_some_and(|t| Instant::now() >= t) {
            self.hangup_at = None;
            self.event(CallEventKind::Hangup, "max call duration reached");
            self.end(DisconnectedBy::Timeout);
        }
        if self.call.state() != WsState::Started {
            return;
        }
        let playing = self.downlink.queued_samples() > 0;
        self.downlink.next_frame(&mut self.bot_frame);
        if playing && let Err(e) = self.call.push_bot_frame(&self.bot_frame) {
            self.on_protocol_error(e);
        }
        self.uplink.push_far(self.downlink.last_frame_16k());
        let heard = self.pull_caller();
        if let Some(rec) = self.recording.as_mut() {
            let caller = if heard {
                self.uplink.last_frame_16k()
            } else {
                &SILENCE_16K
            };
            rec.push_stereo(caller, self.downlink.last_frame_16k());
        }
        while let Some(ev) = self.downlink.poll_event() {
            if let MediaEvent::MarkPlayed { id: GREETING_ID } = ev
                && let Err(e) = self.call.send_mark(GREETING_MARK)
            {
                self.on_protocol_error(e);
            }
        }
        while let Some(ev) = self.uplink.poll_event() {
            match ev {
                MediaEvent::SpeechStarted { .. } => self.event(CallEventKind::SpeechStarted, ""),
                MediaEvent::SpeechEnded { .. } => self.event(CallEventKind::SpeechEnded, ""),
                _ => {}
            }
        }
    }

    /// Feeds one 20 ms caller frame to the uplink (more when the backlog grew past 100 ms);
    /// whether there was one.
    fn pull_caller(&mut self) -> bool {
        let mut heard = false;
        while self.call.caller_audio_len() >= FRAME_8K {
            let n = self.call.read_caller_audio(&mut self.caller_frame);
            self.uplink.push_line_frame(&self.caller_frame[..n]);
            heard = true;
            if self.call.caller_audio_len() <= MAX_CALLER_BACKLOG {
                break;
            }
        }
        heard
    }

    /// Sends every queued message; false when the socket failed or the peer stopped reading.
    async fn flush(&mut self, socket: &mut WebSocket) -> bool {
        while let Some(text) = self.call.poll_outgoing() {
            match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return false,
                Err(_) => {
                    self.service_error(ServiceKind::Media, "send", true, "peer stopped reading".to_owned());
                    self.end(DisconnectedBy::Error);
                    return false;
                }
            }
        }
        true
    }

    /// What control learns if the process dies mid-call.
    fn provisional_record(&self) -> CallRecord {
        let mut r = self.record_head();
        r.variables = self.variables.clone();
        crate::records::mark_interrupted(&mut r, self.at_ms());
        r
    }

    fn record_head(&self) -> CallRecord {
        let mut r = CallRecord::new(
            self.session_id.clone(),
            self.bot.id.clone(),
            CallDirection::Websocket,
            self.started_at,
        );
        r.caller_id = self.caller_id.clone();
        r.answered_at = self.answered_at;
        r.recording_key = self.recording_key.clone();
        r
    }

    /// Submits the call record (once).
    fn finish(&mut self, by: DisconnectedBy) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Some(r) = self.recording.take() {
            r.finish();
        }
        let dropped = self.call.stats().errors + self.binary_frames;
        if dropped > 0 {
            let first = self.first_error.take().unwrap_or_default();
            self.event(
                CallEventKind::Other,
                format!("{dropped} malformed messages dropped (first: {first})"),
            );
        }
        let mut r = self.record_head();
        r.events = std::mem::take(&mut self.events);
        r.service_errors = std::mem::take(&mut self.service_errors);
        r.variables = std::mem::take(&mut self.variables);
        r.finish(Timestamp::now(), by);
        if let Err(e) = self.shared.records.submit(r) {
            tracing::error!(shard = self.shard, error = %e, "call record could not be queued");
        }
    }
}

impl Drop for Session {
    /// A call whose task is dropped mid-way (the shard is stopping) still gets its record.
    fn drop(&mut self) {
        if self.running && !self.finished {
            self.service_error(
                ServiceKind::Other,
                "dataplane",
                true,
                "the dataplane stopped during the call".to_owned(),
            );
            self.finish(DisconnectedBy::Error);
        }
    }
}
