//! One call as its shard holds it: who, which bot, SDP state, media, deadlines, and the pieces of
//! its call record.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cxb_model::record::{CallEvent, CallEventKind, CallRecord, ServiceError, ServiceKind};
use cxb_model::{BotConfig, CallDirection, DisconnectedBy, Timestamp, Variables};
use cxb_sip::sdp::AudioSession;

use super::rtp_io::MediaSockets;
use crate::media::{MediaEvent, RtpMedia};
use crate::recording::RecordingHandle;

/// At most this many events are kept per call (a DTMF storm must not grow memory unbounded).
pub const MAX_EVENTS: usize = 512;

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A live call.
#[derive(Debug)]
pub struct Call {
    /// Our id for the call (also the recording file name).
    pub session_id: String,
    /// The bot handling it.
    pub bot: BotConfig,
    /// Inbound or outbound.
    pub direction: CallDirection,
    /// Caller's display name or number (From).
    pub caller_id: String,
    /// From user.
    pub from_number: String,
    /// To / request user.
    pub to_number: String,
    /// When the INVITE arrived or was sent.
    pub started_at: Timestamp,
    /// When we answered / were answered.
    pub answered_at: Option<Timestamp>,
    /// The same instant on the shard clock.
    pub started: Instant,
    /// Offer/answer state.
    pub sdp: AudioSession,
    /// Media pipeline, once negotiated.
    pub media: Option<RtpMedia>,
    /// RTP/RTCP sockets.
    pub sockets: Option<MediaSockets>,
    /// Our SDP for the 200 (answer, or offer on a late-offer INVITE).
    pub local_sdp: Option<bytes::Bytes>,
    /// When to send the 200.
    pub answer_at: Option<Instant>,
    /// When to hang up (max call duration).
    pub hangup_at: Option<Instant>,
    /// Call events so far.
    pub events: Vec<CallEvent>,
    /// Service failures so far.
    pub service_errors: Vec<ServiceError>,
    /// Recording in progress.
    pub recording: Option<RecordingHandle>,
    /// Key of the recording.
    pub recording_key: Option<String>,
    /// Final SIP status of the INVITE.
    pub sip_status: Option<u16>,
    /// Set when the call's outcome is known before SIP reports the end.
    pub disconnected_by: Option<DisconnectedBy>,
    /// Variables (bot, `X-` SIP headers, WebSocket custom fields): `call.custom.*`.
    pub variables: Variables,
    /// The `crm.*` namespace: dial-out variables (and the CRM pre-fetch response).
    pub crm: Variables,
    /// The INVITE's headers the bot allows (`call.sip_headers.*`).
    pub sip_headers: std::collections::BTreeMap<String, String>,
    /// Where the INVITE came from (transfer targets given as numbers go there).
    pub peer: Option<std::net::SocketAddr>,
    /// The voice agent, once the call is set up.
    pub agent: Option<super::agent::CallAgent>,
    /// Its part in a transfer by bridging (see `calls::bridge`).
    pub bridge: super::calls::bridge::Bridge,
}

impl Call {
    fn at_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Appends an event (bounded).
    pub fn event(&mut self, kind: CallEventKind, detail: impl Into<String>) {
        if self.events.len() < MAX_EVENTS {
            let at_ms = self.at_ms();
            self.events.push(CallEvent {
                at_ms,
                kind,
                detail: detail.into(),
            });
        }
    }

    /// Records a service failure (bounded).
    pub fn service_error(&mut self, service: ServiceKind, stage: &str, fatal: bool, message: impl Into<String>) {
        if self.service_errors.len() < MAX_EVENTS {
            let at_ms = self.at_ms();
            self.service_errors.push(ServiceError {
                service,
                stage: stage.to_owned(),
                at_ms,
                fatal,
                message: message.into(),
            });
        }
    }

    /// Records what the media pipeline reports (speech, DTMF, latching) as call events.
    pub fn event_media(&mut self, ev: &MediaEvent) {
        match *ev {
            MediaEvent::SpeechStarted { .. } => self.event(CallEventKind::SpeechStarted, ""),
            MediaEvent::SpeechEnded { .. } => self.event(CallEventKind::SpeechEnded, ""),
            MediaEvent::Dtmf { digit, duration_ms } => {
                self.event(CallEventKind::Dtmf, format!("{digit} {duration_ms}ms RFC 4733"))
            }
            MediaEvent::BotAudioDrained => self.event(CallEventKind::BotTurnEnded, ""),
            MediaEvent::RemoteLatched { addr } => self.event(CallEventKind::Other, format!("RTP latched to {addr}")),
            MediaEvent::RemoteBye => self.event(CallEventKind::Other, "RTCP BYE"),
            MediaEvent::BotAudioStarted | MediaEvent::MarkPlayed { .. } => {}
        }
    }

    /// What control should learn if this process dies before the call ends: the call so far,
    /// ended by `error` with a fatal service error.
    pub fn provisional_record(&self) -> CallRecord {
        let mut r = CallRecord::new(
            self.session_id.clone(),
            self.bot.id.clone(),
            self.direction,
            self.started_at,
        );
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        r.caller_id = nonempty(&self.caller_id);
        r.from_number = nonempty(&self.from_number);
        r.to_number = nonempty(&self.to_number);
        r.answered_at = self.answered_at;
        r.variables = self.variables.clone();
        r.crm = self.crm.clone();
        r.sip_headers = self.sip_headers.clone();
        crate::records::mark_interrupted(&mut r, self.at_ms());
        r
    }

    /// The call record for a call that ended with `by`.
    pub fn into_record(mut self, by: DisconnectedBy) -> CallRecord {
        let mut r = CallRecord::new(
            self.session_id.clone(),
            self.bot.id.clone(),
            self.direction,
            self.started_at,
        );
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        r.caller_id = nonempty(std::mem::take(&mut self.caller_id));
        r.from_number = nonempty(std::mem::take(&mut self.from_number));
        r.to_number = nonempty(std::mem::take(&mut self.to_number));
        r.answered_at = self.answered_at;
        r.sip_status = self.sip_status;
        r.events = std::mem::take(&mut self.events);
        r.service_errors = std::mem::take(&mut self.service_errors);
        r.recording_key = self.recording_key.take();
        r.variables = std::mem::take(&mut self.variables);
        r.crm = std::mem::take(&mut self.crm);
        r.sip_headers = std::mem::take(&mut self.sip_headers);
        if let Some(m) = &self.media {
            r.quality = m.quality().into();
        }
        r.finish(Timestamp::now(), by);
        r
    }
}
