//! [`WsCall`]: one media stream's sans-IO state machine.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cxb_dsp::g711;

use super::events::{WsEvent, WsState, WsStats};
use super::messages::{
    Connected, Inbound, MULAW_ENCODING, MarkBody, Outbound, Start, TransferBody, TransferStatus, value_text,
};
use super::ring::SampleRing;
use super::{EventKind, MAX_TEXT_LEN, WsError, truncated};

/// Standard base64 that decodes with or without padding (peers differ) and encodes with padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Longest mark name we send.
const MAX_MARK_NAME: usize = 256;
/// Longest `transfer.reason` we send, and `transfer_result.reason` we keep (characters).
const MAX_TRANSFER_REASON: usize = 256;

/// Limits and timers of a [`WsCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// Longest text frame accepted from the peer, in bytes.
    pub max_text_len: usize,
    /// Caller-audio ring capacity in samples at 8 kHz (8000 = 1 s).
    pub caller_ring_samples: usize,
    /// Longest bot frame [`WsCall::push_bot_frame`] takes, in samples.
    pub max_bot_frame_samples: usize,
    /// Outgoing messages held before [`WsError::OutgoingFull`].
    pub max_outgoing: usize,
    /// Events held before [`WsError::EventQueueFull`].
    pub max_events: usize,
    /// Emit [`WsEvent::IdleTimeout`] when the peer sends nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_text_len: MAX_TEXT_LEN,
            caller_ring_samples: 8000,
            max_bot_frame_samples: 8000,
            max_outgoing: 512,
            max_events: 256,
            idle_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// What an outgoing queue entry is (so `clear` knows which marks it drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutKind {
    Media,
    Mark,
    Clear,
    Transfer,
}

/// One Twilio-format media stream. See the [module docs](super) for the flow.
#[derive(Debug)]
pub struct WsCall {
    cfg: WsConfig,
    state: WsState,
    /// `streamSid` once started, and the same as a JSON string literal (quotes included).
    stream_sid: Option<String>,
    stream_sid_json: String,
    /// Extra fields of `connected`, kept until `start`.
    connected_vars: BTreeMap<String, String>,
    caller_id: Option<String>,
    events: VecDeque<WsEvent>,
    ring: SampleRing,
    /// Base64-decoded payload scratch.
    payload: Vec<u8>,
    /// µ-law scratch for bot frames.
    ulaw: Vec<u8>,
    outgoing: VecDeque<(OutKind, String)>,
    /// Names of marks queued but not yet polled out, in order.
    queued_marks: VecDeque<String>,
    /// Names of marks sent and not yet echoed, in order.
    sent_marks: VecDeque<String>,
    last_seq: Option<u64>,
    last_rx: Option<Duration>,
    idle_fired: bool,
    /// A `transfer` was queued and its `transfer_result` has not come.
    transfer_pending: bool,
    stats: WsStats,
}

impl WsCall {
    /// A stream waiting for the peer's first message; every buffer is allocated here.
    pub fn new(cfg: WsConfig) -> Self {
        let payload = vec![0; base64::decoded_len_estimate(cfg.max_text_len)];
        Self {
            state: WsState::AwaitingConnected,
            stream_sid: None,
            stream_sid_json: String::new(),
            connected_vars: BTreeMap::new(),
            caller_id: None,
            events: VecDeque::with_capacity(cfg.max_events),
            ring: SampleRing::new(cfg.caller_ring_samples),
            payload,
            ulaw: vec![0; cfg.max_bot_frame_samples],
            outgoing: VecDeque::with_capacity(cfg.max_outgoing),
            queued_marks: VecDeque::new(),
            sent_marks: VecDeque::new(),
            last_seq: None,
            last_rx: None,
            idle_fired: false,
            transfer_pending: false,
            stats: WsStats::default(),
            cfg,
        }
    }

    /// The stream's state.
    pub fn state(&self) -> WsState {
        self.state
    }

    /// `streamSid`, once `start` has arrived.
    pub fn stream_sid(&self) -> Option<&str> {
        self.stream_sid.as_deref()
    }

    /// The stream's counters.
    pub fn stats(&self) -> &WsStats {
        &self.stats
    }

    /// Marks sent to the peer and not yet echoed.
    pub fn pending_marks(&self) -> usize {
        self.sent_marks.len() + self.queued_marks.len()
    }

    /// Whether a `transfer` was sent and its `transfer_result` has not come.
    pub fn transfer_pending(&self) -> bool {
        self.transfer_pending
    }

    /// Handles one text frame received at `now`. On error the frame is dropped and the stream goes
    /// on (the caller may log the error or, for [`WsError::UnsupportedMediaFormat`], end the call).
    pub fn on_text(&mut self, now: Duration, text: &str) -> Result<(), WsError> {
        self.stats.frames_in += 1;
        let res = self.handle_text(now, text);
        if res.is_err() {
            self.stats.errors += 1;
        }
        res
    }

    fn handle_text(&mut self, now: Duration, text: &str) -> Result<(), WsError> {
        if text.len() > self.cfg.max_text_len {
            return Err(WsError::FrameTooLarge {
                len: text.len(),
                max: self.cfg.max_text_len,
            });
        }
        let msg = Inbound::parse(text)?;
        self.last_rx = Some(now);
        self.idle_fired = false;
        if self.state == WsState::Stopped {
            return Err(WsError::OutOfOrder {
                event: msg.kind(),
                state: self.state,
            });
        }
        match msg {
            Inbound::Connected(c) => self.on_connected(c),
            Inbound::Start(s) => self.on_start(s),
            Inbound::Media(m) => {
                self.require_started(EventKind::Media, m.stream_sid.as_deref())?;
                self.track_sequence(m.sequence_number);
                let track = m.media.track.as_deref().unwrap_or("inbound");
                if track != "inbound" && track != "inbound_track" {
                    self.stats.outbound_track_frames += 1;
                    return Ok(());
                }
                self.on_caller_payload(&m.media.payload, m.media.timestamp)
            }
            Inbound::Dtmf(d) => {
                self.require_started(EventKind::Dtmf, d.stream_sid.as_deref())?;
                self.track_sequence(d.sequence_number);
                let digit = parse_digit(&d.dtmf.digit)?;
                self.push_event(WsEvent::Dtmf { digit })
            }
            Inbound::Mark(m) => {
                self.require_started(EventKind::Mark, m.stream_sid.as_deref())?;
                self.track_sequence(m.sequence_number);
                let name = m.mark.name;
                let Some(pos) = self.sent_marks.iter().position(|n| *n == name) else {
                    return Err(WsError::UnknownMark {
                        name: truncated(&name, 64),
                    });
                };
                let name = self.sent_marks.remove(pos).unwrap_or_default();
                self.push_event(WsEvent::MarkPlayed { name })
            }
            Inbound::TransferResult(r) => {
                self.require_started(EventKind::TransferResult, r.stream_sid.as_deref())?;
                self.track_sequence(r.sequence_number);
                if !self.transfer_pending {
                    return Err(WsError::UnexpectedTransferResult);
                }
                self.transfer_pending = false;
                // Like `Stopped`, the answer must not be lost to a full queue.
                self.events.push_back(WsEvent::TransferResult {
                    ok: r.status == TransferStatus::Ok,
                    reason: r.reason.map(|s| truncated(&s, MAX_TRANSFER_REASON)),
                });
                Ok(())
            }
            Inbound::Stop(s) => {
                if let (Some(ours), Some(theirs)) = (self.stream_sid.as_deref(), s.stream_sid.as_deref())
                    && ours != theirs
                {
                    return Err(WsError::StreamSidMismatch { event: EventKind::Stop });
                }
                self.stop();
                Ok(())
            }
        }
    }

    fn on_connected(&mut self, c: Connected<'_>) -> Result<(), WsError> {
        if self.state != WsState::AwaitingConnected {
            return Err(WsError::OutOfOrder {
                event: EventKind::Connected,
                state: self.state,
            });
        }
        for (k, v) in c.custom_fields() {
            self.connected_vars.insert(k.to_owned(), v);
        }
        if let Some(id) = c.caller_id.as_deref().filter(|s| !s.is_empty()) {
            self.caller_id = Some(id.to_owned());
            self.connected_vars.insert("callerId".to_owned(), id.to_owned());
        }
        if let Some(id) = c.stream_id.as_deref() {
            self.connected_vars.insert("streamId".to_owned(), id.to_owned());
        }
        self.state = WsState::Connected;
        Ok(())
    }

    fn on_start(&mut self, s: Start<'_>) -> Result<(), WsError> {
        if self.state == WsState::Started {
            return Err(WsError::OutOfOrder {
                event: EventKind::Start,
                state: self.state,
            });
        }
        let fmt = s.start.media_format.unwrap_or_default();
        if fmt.encoding != MULAW_ENCODING || fmt.sample_rate != 8000 || fmt.channels != 1 {
            return Err(WsError::UnsupportedMediaFormat {
                encoding: truncated(&fmt.encoding, 32),
                sample_rate: fmt.sample_rate,
                channels: fmt.channels,
            });
        }
        let sid = s
            .start
            .stream_sid
            .as_deref()
            .or(s.stream_sid.as_deref())
            .filter(|sid| !sid.is_empty());
        let Some(sid) = sid else {
            return Err(WsError::MissingField {
                event: EventKind::Start,
                field: "streamSid",
            });
        };
        if s.stream_sid.as_deref().is_some_and(|top| top != sid) {
            return Err(WsError::StreamSidMismatch {
                event: EventKind::Start,
            });
        }
        // Escaping a string for JSON cannot fail.
        self.stream_sid_json = serde_json::to_string(sid).unwrap_or_default();
        self.stream_sid = Some(sid.to_owned());
        self.track_sequence(s.sequence_number);

        let mut variables = std::mem::take(&mut self.connected_vars);
        for (k, v) in &s.start.custom_parameters {
            if let Some(text) = value_text(v) {
                variables.insert(k.clone(), text);
            }
        }
        let caller_id = self.caller_id.clone().or_else(|| {
            ["callerId", "caller_id", "From", "from"]
                .iter()
                .find_map(|k| variables.get(*k).filter(|v| !v.is_empty()).cloned())
        });
        self.state = WsState::Started;
        self.push_event(WsEvent::Started {
            stream_sid: sid.to_owned(),
            call_sid: s.start.call_sid.map(|c| c.into_owned()),
            account_sid: s.start.account_sid.map(|a| a.into_owned()),
            caller_id,
            variables,
        })
    }

    fn on_caller_payload(&mut self, payload: &str, timestamp_ms: Option<u64>) -> Result<(), WsError> {
        let n = B64.decode_slice(payload, &mut self.payload).map_err(|e| match e {
            base64::DecodeSliceError::DecodeError(source) => WsError::BadBase64 { source },
            // The scratch holds the largest payload a frame within `max_text_len` can carry.
            base64::DecodeSliceError::OutputSliceTooSmall => WsError::FrameTooLarge {
                len: payload.len(),
                max: self.cfg.max_text_len,
            },
        })?;
        if n == 0 {
            return Ok(());
        }
        let dropped = self.ring.push_ulaw(&self.payload[..n]);
        self.stats.media_frames += 1;
        self.stats.caller_samples += n as u64;
        self.stats.caller_overrun_samples += dropped as u64;
        if let Some(WsEvent::CallerAudio { samples, .. }) = self.events.back_mut() {
            *samples += n;
            return Ok(());
        }
        self.push_event(WsEvent::CallerAudio {
            samples: n,
            timestamp_ms,
        })
    }

    fn require_started(&self, event: EventKind, sid: Option<&str>) -> Result<(), WsError> {
        if self.state != WsState::Started {
            return Err(WsError::OutOfOrder {
                event,
                state: self.state,
            });
        }
        match (self.stream_sid.as_deref(), sid) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(WsError::StreamSidMismatch { event }),
            _ => Ok(()),
        }
    }

    fn track_sequence(&mut self, seq: Option<u64>) {
        let Some(seq) = seq else { return };
        if let Some(last) = self.last_seq
            && seq != last.wrapping_add(1)
        {
            self.stats.sequence_gaps += 1;
        }
        self.last_seq = Some(seq);
    }

    fn push_event(&mut self, ev: WsEvent) -> Result<(), WsError> {
        if self.events.len() >= self.cfg.max_events {
            return Err(WsError::EventQueueFull {
                capacity: self.cfg.max_events,
            });
        }
        self.events.push_back(ev);
        Ok(())
    }

    fn stop(&mut self) {
        self.state = WsState::Stopped;
        // `Stopped` must not be lost to a full queue: it ends the call.
        self.events.push_back(WsEvent::Stopped);
    }

    /// The WebSocket closed: the stream ends (emits [`WsEvent::Stopped`] unless `stop` came first).
    pub fn on_closed(&mut self) {
        if self.state != WsState::Stopped {
            self.stop();
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        self.events.pop_front()
    }

    /// Caller samples (8 kHz) waiting to be read.
    pub fn caller_audio_len(&self) -> usize {
        self.ring.len()
    }

    /// Moves up to `out.len()` caller samples (8 kHz, oldest first) into `out`; returns how many.
    pub fn read_caller_audio(&mut self, out: &mut [i16]) -> usize {
        self.ring.read(out)
    }

    /// Queues one frame of bot audio (8 kHz PCM, normally 20 ms = 160 samples, paced by the
    /// caller) as a `media` message with base64 µ-law.
    pub fn push_bot_frame(&mut self, pcm8k: &[i16]) -> Result<(), WsError> {
        self.require_streaming()?;
        if pcm8k.is_empty() {
            return Ok(());
        }
        if pcm8k.len() > self.cfg.max_bot_frame_samples {
            return Err(WsError::BotFrameTooLong {
                samples: pcm8k.len(),
                max: self.cfg.max_bot_frame_samples,
            });
        }
        self.require_room()?;
        let n = g711::encode_ulaw(pcm8k, &mut self.ulaw);
        const HEAD: &str = r#"{"event":"media","streamSid":"#;
        const MID: &str = r#","media":{"payload":""#;
        const TAIL: &str = r#""}}"#;
        let b64_len = n.div_ceil(3) * 4;
        let mut text =
            String::with_capacity(HEAD.len() + self.stream_sid_json.len() + MID.len() + b64_len + TAIL.len());
        text.push_str(HEAD);
        text.push_str(&self.stream_sid_json);
        text.push_str(MID);
        B64.encode_string(&self.ulaw[..n], &mut text);
        text.push_str(TAIL);
        self.outgoing.push_back((OutKind::Media, text));
        self.stats.bot_frames += 1;
        Ok(())
    }

    /// Queues a `mark` after the audio queued so far; the peer echoes it ([`WsEvent::MarkPlayed`])
    /// once that audio has played. `name` must be 1..=256 bytes.
    pub fn send_mark(&mut self, name: &str) -> Result<(), WsError> {
        self.require_streaming()?;
        if name.is_empty() || name.len() > MAX_MARK_NAME {
            return Err(WsError::BadMarkName { len: name.len() });
        }
        self.require_room()?;
        let text = self.outbound_json(&Outbound::Mark {
            stream_sid: self.stream_sid.as_deref().unwrap_or_default().into(),
            mark: MarkBody { name: name.into() },
        });
        self.outgoing.push_back((OutKind::Mark, text));
        self.queued_marks.push_back(name.to_owned());
        Ok(())
    }

    /// Barge-in: drops every message not yet polled out (marks among them are reported as
    /// [`WsEvent::MarkCleared`]; a queued `transfer` is kept) and queues a `clear`, so the peer
    /// drops the audio it buffered too (it then echoes the marks it held, as
    /// [`WsEvent::MarkPlayed`]).
    pub fn clear(&mut self) -> Result<(), WsError> {
        self.require_streaming()?;
        let before = self.outgoing.len();
        self.outgoing.retain(|(kind, _)| *kind == OutKind::Transfer);
        self.stats.cleared_messages += (before - self.outgoing.len()) as u64;
        while let Some(name) = self.queued_marks.pop_front() {
            // Reporting a dropped mark must not fail on a full queue: the owner may wait for it.
            self.events.push_back(WsEvent::MarkCleared { name });
        }
        let text = self.outbound_json(&Outbound::Clear {
            stream_sid: self.stream_sid.as_deref().unwrap_or_default().into(),
        });
        self.outgoing.push_back((OutKind::Clear, text));
        Ok(())
    }

    /// Websocket reverse transfer: queues `{"event":"transfer","streamSid":…,"transfer":{"target":…,
    /// "destination":…,"reason":…}}` (the reason cut to 256 characters). The peer moves the
    /// caller and answers `transfer_result` ([`WsEvent::TransferResult`]); the owner runs the
    /// timeout and treats the stream ending meanwhile as success.
    pub fn send_transfer(&mut self, target: &str, destination: &str, reason: &str) -> Result<(), WsError> {
        self.require_streaming()?;
        self.require_room()?;
        let reason = truncated(reason, MAX_TRANSFER_REASON);
        let text = self.outbound_json(&Outbound::Transfer {
            stream_sid: self.stream_sid.as_deref().unwrap_or_default().into(),
            transfer: TransferBody {
                target: target.into(),
                destination: destination.into(),
                reason: reason.into(),
            },
        });
        self.outgoing.push_back((OutKind::Transfer, text));
        self.transfer_pending = true;
        Ok(())
    }

    /// Gives up on the pending transfer (the owner's timeout): a late `transfer_result` is then
    /// rejected with [`WsError::UnexpectedTransferResult`].
    pub fn abandon_transfer(&mut self) {
        self.transfer_pending = false;
    }

    /// The next text message to send to the peer, in order.
    pub fn poll_outgoing(&mut self) -> Option<String> {
        let (kind, text) = self.outgoing.pop_front()?;
        if kind == OutKind::Mark
            && let Some(name) = self.queued_marks.pop_front()
        {
            self.sent_marks.push_back(name);
        }
        Some(text)
    }

    /// Messages waiting in [`WsCall::poll_outgoing`].
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// When [`WsCall::handle_timeout`] should next be called (`None`: no timer running).
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.state == WsState::Stopped || self.idle_fired {
            return None;
        }
        Some(self.last_rx? + self.cfg.idle_timeout?)
    }

    /// Fires the idle timer if it is due at `now` ([`WsEvent::IdleTimeout`], once per silence).
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.poll_timeout().is_some_and(|at| now >= at) {
            self.idle_fired = true;
            self.events.push_back(WsEvent::IdleTimeout);
        }
    }

    fn require_streaming(&self) -> Result<(), WsError> {
        if self.state == WsState::Started {
            Ok(())
        } else {
            Err(WsError::NotStreaming { state: self.state })
        }
    }

    fn require_room(&self) -> Result<(), WsError> {
        if self.outgoing.len() >= self.cfg.max_outgoing {
            return Err(WsError::OutgoingFull {
                capacity: self.cfg.max_outgoing,
            });
        }
        Ok(())
    }

    fn outbound_json(&self, msg: &Outbound<'_>) -> String {
        // Serializing these plain structs to a String cannot fail.
        serde_json::to_string(msg).unwrap_or_default()
    }
}

/// A `dtmf.digit` as a key: one of `0-9 * # A-D` (lower case accepted).
fn parse_digit(digit: &str) -> Result<char, WsError> {
    let mut chars = digit.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ ('0'..='9' | '*' | '#')), None) => Ok(c),
        (Some(c @ ('A'..='D' | 'a'..='d')), None) => Ok(c.to_ascii_uppercase()),
        _ => Err(WsError::BadDigit {
            digit: truncated(digit, 8),
        }),
    }
}
