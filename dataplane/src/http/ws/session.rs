//! [`Session`]: one WebSocket call after the upgrade. It is handed to the shard thread's
//! `LocalSet` ([`spawn_on_shard`]) and runs there as one task with the call's
//! [`CallAgent`](crate::engine::agent::CallAgent)
//! (the same conversation as SIP calls: opening message, turns, barge-in with `clear`, tools,
//! websocket reverse transfer).

mod live;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use cxb_model::record::{CallEvent, CallEventKind, CallRecord, ServiceError, ServiceKind};
use cxb_model::{BotConfig, CallDirection, DisconnectedBy, Timestamp, Variables};

use super::{ActiveGuard, LINE_RATE, new_session_id};
use crate::agent::conversation::ConversationRecord;
use crate::engine::Shared;
use crate::engine::agent::{has_local_spawner, spawn_on_shard};
use crate::media::{Downlink, FRAME_16K, FRAME_MS, MediaError, Uplink};
use crate::recording::RecordingHandle;
use crate::ws::{EventKind, WsCall, WsConfig, WsError};
use live::{AgentSide, WsMedia};

/// Samples of one 20 ms frame at [`LINE_RATE`].
const FRAME_8K: usize = (LINE_RATE * FRAME_MS / 1000) as usize;
/// The pacing tick.
const TICK: Duration = Duration::from_millis(FRAME_MS as u64);
/// Caller audio held back before the tick catches up (100 ms): beyond it, extra frames are fed
/// to the uplink at once.
const MAX_CALLER_BACKLOG: usize = 5 * FRAME_8K;
/// Caller audio at 16 kHz kept for speech recognition (4 s).
const CALLER_RING_16K: usize = 4 * 16_000;
/// Events kept per call.
const MAX_EVENTS: usize = 512;
/// A send that does not complete in this time ends the call (the peer stopped reading).
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Silence for the recorder when no caller frame arrived in a tick.
const SILENCE_16K: [i16; FRAME_16K] = [0; FRAME_16K];

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
    media: WsMedia,
    bot_frame: [i16; FRAME_8K],
    caller_frame: [i16; FRAME_8K],
    hangup_at: Option<Instant>,
    /// How the call ends, once known.
    end: Option<DisconnectedBy>,
    /// The peer ended the stream (`stop` or a closed socket).
    peer_hangup: bool,
    /// Marks sent at the end of bot audio (the first is [`super::GREETING_MARK`]).
    marks_sent: u64,
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
            media: WsMedia {
                uplink: Uplink::new(LINE_RATE, vad, CALLER_RING_16K, Duration::ZERO)?,
                downlink: Downlink::new(LINE_RATE)?,
                call: WsCall::new(WsConfig::default()),
            },
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
            end: None,
            peer_hangup: false,
            marks_sent: 0,
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

    /// Runs the call until it ends, then closes the socket and submits the record. The call
    /// itself runs on the shard's `LocalSet` (its agent's provider tasks are local tasks); this
    /// future (axum's upgrade task) waits for it.
    pub(super) async fn run(mut self, socket: WebSocket) {
        if !has_local_spawner() {
            self.running = true;
            let msg = "no shard runtime on this thread for the voice agent".to_owned();
            self.service_error(ServiceKind::Other, "dataplane", true, msg);
            self.finish(DisconnectedBy::Error, None);
            return;
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let handed = {
            let job = Box::pin(async move {
                self.run_local(socket).await;
                let _ = done_tx.send(());
            });
            spawn_on_shard(job).is_ok()
        };
        if handed {
            // Err: the shard stopped and dropped the call (its record is written on drop).
            let _ = done_rx.await;
        }
    }

    /// The call's loop, on the shard's `LocalSet`.
    async fn run_local(mut self, mut socket: WebSocket) {
        self.running = true;
        self.shared.records.begin(self.provisional_record());
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut side = AgentSide::default();
        let by = loop {
            tokio::select! {
                msg = socket.recv() => self.on_message(msg),
                input = side.next_input() => self.on_agent_input(&mut side, input),
                _ = tick.tick() => self.on_tick(&mut side),
            }
            self.drain_events(&mut side);
            if !self.closed && self.media.call.outgoing_len() > 0 && !self.flush(&mut socket).await {
                self.closed = true;
                self.media.call.on_closed();
                self.drain_events(&mut side);
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
        let conversation = self.finish_agent(&mut side);
        // The peer hung up: the conversation knows whether the caller ever spoke (`RNR`).
        let by = match conversation.as_ref().and_then(|c| c.disconnected_by) {
            Some(conv_by) if self.peer_hangup && by == DisconnectedBy::Customer => conv_by,
            _ => by,
        };
        self.finish(by, conversation);
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
                if let Err(e) = self.media.call.on_text(now, text.as_str()) {
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
                self.media.call.on_closed();
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
        if matches!(
            e,
            WsError::UnexpectedTransferResult
                | WsError::Malformed {
                    event: EventKind::TransferResult,
                    ..
                }
        ) {
            self.event(CallEventKind::Other, format!("transfer_result ignored: {e}"));
        }
        if self.first_error.is_none() {
            tracing::debug!(session = %self.session_id, error = %e, "malformed media-stream message dropped");
            self.first_error = Some(e.to_string());
        }
    }

    /// Feeds one 20 ms caller frame to the uplink (more when the backlog grew past 100 ms);
    /// whether there was one.
    fn pull_caller(&mut self) -> bool {
        let mut heard = false;
        while self.media.call.caller_audio_len() >= FRAME_8K {
            let n = self.media.call.read_caller_audio(&mut self.caller_frame);
            self.media.uplink.push_line_frame(&self.caller_frame[..n]);
            heard = true;
            if self.media.call.caller_audio_len() <= MAX_CALLER_BACKLOG {
                break;
            }
        }
        heard
    }

    /// Sends every queued message; false when the socket failed or the peer stopped reading.
    async fn flush(&mut self, socket: &mut WebSocket) -> bool {
        while let Some(text) = self.media.call.poll_outgoing() {
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

    /// Submits the call record (once), with the conversation's part.
    fn finish(&mut self, by: DisconnectedBy, conversation: Option<ConversationRecord>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Some(r) = self.recording.take() {
            r.finish();
        }
        let dropped = self.media.call.stats().errors + self.binary_frames;
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
        if let Some(c) = conversation {
            c.apply_to(&mut r);
        }
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
            self.finish(DisconnectedBy::Error, None);
        }
    }
}
