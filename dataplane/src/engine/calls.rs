//! The state of one shard and what it does with SIP events: route inbound calls to bots, ring,
//! answer, negotiate media, run the calls' media every tick, end calls and hand their records on.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cxb_model::record::{CallEventKind as Ev, ServiceKind};
use cxb_model::{BotConfig, CallDirection, DisconnectedBy, Ring, Route, Timestamp};
use cxb_sip::dialog::{CallHandle, EndReason, UaConfig, UaEvent, UserAgent};
use cxb_sip::header::Transport;
use cxb_sip::message::Message;
use cxb_sip::sdp::{AudioSession, LocalCapabilities, NegotiatedAudio, SessionDescription};

use super::agent::{AgentInput, CallAgent, ShardEffect};
use super::call::{Call, unix_ms};
use super::ports::PortPool;
use super::recv_ring;
use super::route::TokenRng;
use super::rtp_io::{MediaRing, MediaSockets};
use super::send_ring::{self, SendRing};
use super::shard::ShardMsg;
use super::voice;
use super::{ShardError, Shared};
use crate::agent::conversation::ConversationCtx;
use crate::agent::factory::AgentFactory;
use crate::media::{MediaEvent, RtpMedia, RtpMediaConfig};

pub(super) mod bridge;

/// How long past `max_call_seconds` the shard waits for the agent's closing line before it hangs up itself.
const MAX_DURATION_GRACE: Duration = Duration::from_secs(25);

/// How long past a CRM pre-fetch's own timeout the shard waits for its task before it starts the
/// call without CRM data.
const PREFETCH_GRACE: Duration = Duration::from_millis(250);

/// RTP port pairs tried for one call before it is refused (a pair can be held by another
/// process when the range overlaps the ephemeral ports).
const BIND_ATTEMPTS: usize = 8;
/// Retry-After (seconds) on a 503 when the shard is full.
const RETRY_AFTER_SECS: &str = "5";

/// One shard's calls and user agent.
pub struct Shard {
    id: usize,
    shared: Arc<Shared>,
    start: Instant,
    me: Weak<RefCell<Shard>>,
    ua: UserAgent,
    /// The live calls. Each is boxed (a `Call` is ≈ 26 KB, most of it the inline media state):
    /// the table holds pointers, so growing it copies 8 B per call instead of every call's
    /// state on the shard thread, and leaves no freed old table of call states behind.
    calls: HashMap<CallHandle, Box<Call>>,
    ports: PortPool,
    sip_send: std::net::UdpSocket,
    ringback: Arc<[i16]>,
    rng: TokenRng,
    stopping: Option<Instant>,
    stopped: bool,
    ticks: u64,
    /// Late ticks not yet published (see [`cxb_model::fleet::layout::LATE_TICK_US`]).
    late_ticks: u64,
    load: LoadMeter,
    agents: AgentFactory,
    /// Calls whose CRM pre-fetch is running → when the shard stops waiting for it.
    prefetching: HashMap<CallHandle, Instant>,
    /// Every media datagram of a tick leaves through one io_uring submission.
    send_ring: SendRing,
    /// Every call's media receives (`None`: the kernel lacks it; each socket has a task).
    recv_ring: Option<MediaRing>,
}

/// CPU load of the shard thread: thread CPU time over wall time, sampled every second.
#[derive(Debug)]
struct LoadMeter {
    at: Instant,
    cpu: Option<cpu_time::ThreadTime>,
}

impl LoadMeter {
    fn new() -> LoadMeter {
        LoadMeter {
            at: Instant::now(),
            cpu: cpu_time::ThreadTime::try_now().ok(),
        }
    }

    /// Permille of one core used since the last sample, once a second.
    fn sample(&mut self, now: Instant) -> Option<u64> {
        let wall = now.saturating_duration_since(self.at);
        if wall < Duration::from_secs(1) {
            return None;
        }
        let cpu_now = cpu_time::ThreadTime::try_now().ok()?;
        let used = self
            .cpu
            .map(|c| cpu_now.as_duration().saturating_sub(c.as_duration()))?;
        self.at = now;
        self.cpu = Some(cpu_now);
        Some((used.as_micros() * 1000 / wall.as_micros().max(1)).min(1000) as u64)
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("calls", &self.calls.len())
            .finish()
    }
}

impl Shard {
    /// A shard with no calls yet.
    pub fn new(
        id: usize,
        shared: Arc<Shared>,
        start: Instant,
        sip_send: std::net::UdpSocket,
    ) -> Result<Shard, ShardError> {
        let public = shared.cfg.public_ip();
        let mut ua_cfg = UaConfig::new(SocketAddr::new(public, shared.cfg.sip_bind.port()));
        ua_cfg.contact_user = "cxb".into();
        ua_cfg.user_agent = format!("cxb/{}", env!("CARGO_PKG_VERSION"));
        let mut rng = TokenRng::new(id as u64 + 1);
        ua_cfg.seed = rng.next_u64();
        ua_cfg.epoch_secs = unix_ms() / 1000;
        let (lo, hi) = shared.cfg.shard_ports(id);
        Ok(Shard {
            id,
            start,
            me: Weak::new(),
            ua: UserAgent::new(ua_cfg),
            calls: HashMap::new(),
            ports: PortPool::new(lo, hi),
            sip_send,
            ringback: Arc::from(voice::ringback_cycle()),
            rng,
            stopping: None,
            stopped: false,
            ticks: 0,
            late_ticks: 0,
            load: LoadMeter::new(),
            agents: AgentFactory::new(shared.cfg.providers),
            prefetching: HashMap::new(),
            send_ring: SendRing::new(send_ring::SHARD_CAPACITY),
            recv_ring: if shared.cfg.recv_ring { open_recv_ring() } else { None },
            shared,
        })
    }

    /// Gives the shard a handle on itself (for the tasks it spawns).
    pub fn set_self(&mut self, me: Weak<RefCell<Shard>>) {
        self.me = me;
    }

    /// This shard's index.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shared.peers.len()
    }

    /// Shutdown has begun.
    pub fn stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// Shutdown is complete.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    fn media_now(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// Hands a message to the shard that owns it.
    pub fn forward(&self, owner: usize, msg: ShardMsg) {
        if let Some(p) = self.shared.peers.get(owner) {
            let _ = p.send(msg);
        }
    }

    // ----- SIP in/out ------------------------------------------------------------------

    /// A datagram that did not parse: the user agent answers 400 when it can.
    pub fn on_bad_datagram(&mut self, datagram: Bytes, source: SocketAddr, transport: Transport) {
        let now = Instant::now();
        self.ua.handle_datagram(now, datagram, source, transport);
        self.after_ua(now);
    }

    /// A SIP message for a call this shard owns.
    pub fn on_sip(&mut self, msg: Message, source: SocketAddr, transport: Transport) {
        let now = Instant::now();
        self.ua.handle_message(now, msg, source, transport);
        self.after_ua(now);
    }

    fn flush_sip(&mut self) {
        while let Some(t) = self.ua.poll_transmit() {
            match t.transport {
                Transport::Udp => {
                    let _ = self.sip_send.send_to(&t.payload, t.destination);
                }
                _ => {
                    if !self.shared.tcp.send(t.destination, t.payload)
                        && let Some(tx) = t.tx
                    {
                        self.ua.handle_transport_error(Instant::now(), tx);
                    }
                }
            }
        }
    }

    fn after_ua(&mut self, now: Instant) {
        self.flush_sip();
        while let Some(ev) = self.ua.poll_event() {
            self.on_ua_event(now, ev);
            self.flush_sip();
        }
    }

    fn on_ua_event(&mut self, now: Instant, ev: UaEvent) {
        match ev {
            UaEvent::IncomingCall {
                call,
                request,
                source,
                offer,
            } => self.on_incoming(now, call, &request, source, offer),
            UaEvent::Confirmed { call, answer } => self.on_confirmed(now, call, answer),
            UaEvent::OfferReceived { call, offer, .. } => self.on_offer(now, call, offer),
            UaEvent::Progress { call, status, body } => self.on_progress(now, call, status, body),
            UaEvent::Answered {
                call,
                body,
                needs_ack_answer,
            } => self.on_answered(now, call, body, needs_ack_answer),
            UaEvent::Dtmf {
                call,
                digit,
                duration_ms,
            } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.event(Ev::Dtmf, format!("{digit} {duration_ms}ms SIP INFO"));
                }
            }
            UaEvent::Ended { call, reason } => self.on_ended(call, reason),
            UaEvent::Transfer { call, progress } => self.on_transfer_progress(now, call, progress),
            _ => {}
        }
    }

    // ----- inbound ---------------------------------------------------------------------

    fn on_incoming(
        &mut self,
        now: Instant,
        call: CallHandle,
        request: &cxb_sip::message::Request,
        source: SocketAddr,
        offer: Option<Bytes>,
    ) {
        if self.stopping() {
            self.refuse(now, call, 503, &[("Retry-After", RETRY_AFTER_SECS)]);
            return;
        }
        let uri = request.uri();
        let user = uri.user().unwrap_or("").to_owned();
        let from = request.headers().from().ok();
        let from_number = from
            .as_ref()
            .and_then(|f| f.uri().user().map(str::to_owned))
            .unwrap_or_default();
        let caller_id = from
            .as_ref()
            .and_then(|f| f.display_name().map(|d| d.into_owned()))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| from_number.clone());
        let routing = self.shared.routing.load();
        let bot = match routing.resolve_at(&user, (unix_ms() / 1000) as i64) {
            Route::Unknown => {
                self.refuse(now, call, 404, &[]);
                return;
            }
            Route::Inactive(b) | Route::OutsideHours(b) => {
                let b = b.clone();
                self.refuse(now, call, 480, &[]);
                let mut c = self.new_call(now, b, CallDirection::Inbound, caller_id, from_number, user);
                c.sip_status = Some(480);
                c.event(Ev::Other, "480: bot inactive or outside active hours");
                self.submit(c.into_record(DisconnectedBy::OutsideHours));
                return;
            }
            Route::Bot(b) => b.clone(),
        };
        let active = self.calls.len() as u64 + crate::http::ws::active_calls_on_this_shard();
        if !super::admission::admit(active, u64::from(self.shared.cfg.calls_per_shard)) {
            self.shared.slot(self.id).inc_rejected();
            self.refuse(now, call, 503, &[("Retry-After", RETRY_AFTER_SECS)]);
            return;
        }
        let mut c = self.new_call(now, bot, CallDirection::Inbound, caller_id, from_number, user);
        c.event(Ev::Invite, "");
        c.peer = Some(source);
        for f in request.headers().iter() {
            if let (Ok(name), Some(value)) = (std::str::from_utf8(f.raw_name), f.value_str())
                && c.sip_headers.len() < 32
                && c.bot.allowed_sip_headers.iter().any(|a| a.eq_ignore_ascii_case(name))
            {
                c.sip_headers.insert(name.to_ascii_lowercase(), value.to_owned());
            }
            if f.raw_name.len() > 2
                && f.raw_name[..2].eq_ignore_ascii_case(b"x-")
                && let (Ok(name), Some(value)) = (std::str::from_utf8(f.raw_name), f.value_str())
                && c.variables.len() < 64
            {
                c.variables
                    .insert(name.to_ascii_lowercase(), serde_json::Value::String(value.to_owned()));
            }
        }
        let Some((port, (mut sockets, rtp_rx, rtcp_rx))) = self.bind_media() else {
            self.refuse(now, call, 503, &[("Retry-After", RETRY_AFTER_SECS)]);
            return;
        };
        let caps = LocalCapabilities::new(self.shared.cfg.public_ip(), port);
        c.sdp = AudioSession::new(caps, self.rng.next_u64() >> 1, 1);
        match offer {
            Some(body) => {
                let answer = SessionDescription::parse(&body)
                    .map_err(|_| 400u16)
                    .and_then(|o| c.sdp.answer_offer(&o).map_err(|e| e.status_code()));
                match answer {
                    Ok(a) => {
                        c.local_sdp = Some(Bytes::from(a.sdp.to_string()));
                        c.media = self.make_media(now, &a.audio, c.peer);
                    }
                    Err(status) => {
                        self.ports.give(port);
                        self.refuse(now, call, status, &[]);
                        return;
                    }
                }
            }
            None => {
                c.local_sdp = Some(Bytes::from(c.sdp.create_offer().to_string()));
                c.event(Ev::Other, "late offer: SDP offer sent in the 200");
            }
        }
        let me = self.me();
        sockets.start_receivers(self.recv_ring.as_mut(), &me, call, rtp_rx, rtcp_rx);
        c.sockets = Some(sockets);
        let early = c.bot.ring == Ring::EarlyMedia && c.media.is_some();
        let ring = if early {
            if let Some(m) = c.media.as_mut() {
                m.downlink_mut().push_shared(self.ringback.clone());
            }
            self.ua.respond(now, call, 183, c.local_sdp.clone())
        } else {
            self.ua.respond(now, call, 180, None)
        };
        if ring.is_err() {
            self.release(&mut c);
            return;
        }
        c.event(Ev::Ringing, if early { "183 early media" } else { "180" });
        let delay = match c.bot.answer_delay_ms {
            0 => self.shared.cfg.default_answer_delay,
            ms => Duration::from_millis(u64::from(ms)),
        };
        c.answer_at = Some(now + delay);
        self.shared.records.begin(c.provisional_record());
        self.calls.insert(call, Box::new(c));
        self.start_call(now, call);
        self.shared.slot(self.id).inc_setup();
        self.publish();
    }

    fn submit(&self, record: cxb_model::CallRecord) {
        if let Err(e) = self.shared.records.submit(record) {
            tracing::error!(shard = self.id, error = %e, "call record could not be queued");
        }
    }

    fn refuse(&mut self, now: Instant, call: CallHandle, status: u16, headers: &[(&str, &str)]) {
        let _ = self.ua.respond_with(now, call, status, None, headers);
    }

    fn new_call(
        &mut self,
        now: Instant,
        bot: BotConfig,
        direction: CallDirection,
        caller_id: String,
        from_number: String,
        to_number: String,
    ) -> Call {
        let session_id = format!("{:016x}{:04x}", self.rng.next_u64(), self.id);
        let caps = LocalCapabilities::new(self.shared.cfg.public_ip(), 0);
        Call {
            session_id,
            variables: bot.variables.clone(),
            bot,
            direction,
            caller_id,
            from_number,
            to_number,
            started_at: Timestamp::now(),
            answered_at: None,
            started: now,
            sdp: AudioSession::new(caps, 1, 1),
            media: None,
            sockets: None,
            local_sdp: None,
            answer_at: None,
            hangup_at: None,
            events: Vec::new(),
            service_errors: Vec::new(),
            recording: None,
            recording_key: None,
            sip_status: None,
            disconnected_by: None,
            crm: cxb_model::Variables::new(),
            sip_headers: std::collections::BTreeMap::new(),
            peer: None,
            agent: None,
            bridge: bridge::Bridge::default(),
        }
    }

    /// The call's RTP session. `peer`: where its signalling comes from (see
    /// [`RtpMediaConfig::trust_for_peer`]).
    fn make_media(&mut self, now: Instant, audio: &NegotiatedAudio, peer: Option<SocketAddr>) -> Option<RtpMedia> {
        let ssrc = self.rng.next_u64() as u32;
        let mut cfg = RtpMediaConfig::from_negotiated(audio, ssrc, self.media_now(now)).ok()?;
        cfg.trust_for_peer(peer);
        RtpMedia::new(cfg).ok()
    }

    fn me(&self) -> Rc<RefCell<Shard>> {
        self.me.upgrade().expect("shard state outlives its tasks")
    }

    /// Sends the 200 for a call whose ring time is over.
    fn answer(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.answer_at = None;
        let body = c.local_sdp.clone();
        if self.ua.respond(now, call, 200, body).is_err() {
            return;
        }
        let c = self.calls.get_mut(&call).expect("checked above");
        c.sip_status = Some(200);
        c.answered_at = Some(Timestamp::now());
        c.event(Ev::Answered, "200");
        if c.bot.max_call_seconds > 0 {
            // The agent says its closing line at the limit; this deadline is the safety net.
            let grace = if c.agent.is_some() {
                MAX_DURATION_GRACE
            } else {
                Duration::ZERO
            };
            c.hangup_at = Some(now + Duration::from_secs(u64::from(c.bot.max_call_seconds)) + grace);
        }
        if let Some(m) = c.media.as_mut() {
            m.downlink_mut().clear();
        }
        self.start_recording(call);
        self.greet(call);
    }

    fn on_confirmed(&mut self, now: Instant, call: CallHandle, answer: Option<Bytes>) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.event(Ev::Other, "ACK");
        if c.media.is_some() {
            return;
        }
        let negotiated = answer
            .as_deref()
            .and_then(|b| SessionDescription::parse(b).ok())
            .and_then(|sd| c.sdp.accept_answer(&sd).ok());
        let peer = c.peer;
        match negotiated {
            Some(audio) => {
                let m = self.make_media(now, &audio, peer);
                let c = self.calls.get_mut(&call).expect("checked above");
                c.media = m;
                self.greet(call);
            }
            None => {
                // Late offer answered without a usable SDP: nothing can flow, end the call.
                c.service_error(ServiceKind::Sip, "late offer", true, "ACK carried no usable SDP answer");
                c.disconnected_by = Some(DisconnectedBy::Error);
                let _ = self.ua.hangup(now, call);
            }
        }
    }

    fn on_offer(&mut self, now: Instant, call: CallHandle, offer: Option<Bytes>) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        let (status, body) = match offer {
            None => (200, Some(Bytes::from(c.sdp.create_offer().to_string()))),
            Some(b) => match SessionDescription::parse(&b) {
                Err(_) => (400, None),
                Ok(sd) => match c.sdp.answer_offer(&sd) {
                    Err(e) => (e.status_code(), None),
                    Ok(a) => {
                        if a.hold_changed {
                            c.event(Ev::Other, format!("hold: {:?}", a.audio.hold));
                        }
                        let hold = a.audio.hold != cxb_sip::sdp::HoldState::Active;
                        if let Some(m) = c.media.as_mut() {
                            m.set_hold(hold);
                            if a.codec_changed {
                                let ssrc = m.ssrc();
                                if let Ok(cfg) = RtpMediaConfig::from_negotiated(&a.audio, ssrc, self.start.elapsed()) {
                                    let _ = m.update(cfg);
                                }
                            }
                        }
                        (200, Some(Bytes::from(a.sdp.to_string())))
                    }
                },
            },
        };
        let _ = self.ua.answer_offer(now, call, status, body);
    }

    // ----- outbound --------------------------------------------------------------------

    fn on_progress(&mut self, now: Instant, call: CallHandle, status: u16, body: Option<Bytes>) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.event(Ev::Ringing, status.to_string());
        let peer = c.peer;
        if c.media.is_none()
            && let Some(audio) = body
                .as_deref()
                .and_then(|b| SessionDescription::parse(b).ok())
                .and_then(|sd| c.sdp.accept_answer(&sd).ok())
        {
            let m = self.make_media(now, &audio, peer);
            if let Some(c) = self.calls.get_mut(&call) {
                c.media = m;
                c.event(Ev::Other, "early media");
            }
        }
    }

    fn on_answered(&mut self, now: Instant, call: CallHandle, body: Option<Bytes>, needs_ack_answer: bool) {
        // An agent still waiting for its CRM pre-fetch starts (and greets) when it completes.
        let agent_coming = self.prefetching.contains_key(&call);
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.sip_status = Some(200);
        c.answered_at = Some(Timestamp::now());
        c.event(Ev::Answered, "200");
        let peer = c.peer;
        if c.bot.max_call_seconds > 0 {
            // The agent says its closing line at the limit; this deadline is the safety net.
            let grace = if c.agent.is_some() || agent_coming {
                MAX_DURATION_GRACE
            } else {
                Duration::ZERO
            };
            c.hangup_at = Some(now + Duration::from_secs(u64::from(c.bot.max_call_seconds)) + grace);
        }
        let sd = body.as_deref().and_then(|b| SessionDescription::parse(b).ok());
        let audio = if needs_ack_answer {
            match sd.as_ref().map(|o| c.sdp.answer_offer(o)) {
                Some(Ok(a)) => {
                    let _ = self.ua.ack(now, call, Some(Bytes::from(a.sdp.to_string())));
                    Some(a.audio)
                }
                _ => {
                    let _ = self.ua.ack(now, call, None);
                    None
                }
            }
        } else {
            sd.and_then(|sd| c.sdp.accept_answer(&sd).ok())
                .or_else(|| c.sdp.negotiated().cloned())
        };
        match audio {
            Some(a) => {
                let m = self.make_media(now, &a, peer);
                let mut leg = false;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.media = m;
                    leg = c.bridge.is_leg;
                }
                if leg {
                    self.on_leg_answered(now, call);
                    return;
                }
                self.start_recording(call);
                self.greet(call);
            }
            None => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.service_error(ServiceKind::Sip, "answer", true, "200 without a usable SDP answer");
                    c.disconnected_by = Some(DisconnectedBy::Error);
                }
                let _ = self.ua.hangup(now, call);
            }
        }
    }

    // ----- the end -----------------------------------------------------------------------

    fn on_ended(&mut self, call: CallHandle, reason: EndReason) {
        let Some(mut c) = self.calls.remove(&call) else { return };
        self.prefetching.remove(&call);
        let media_now = self.media_now(Instant::now());
        let conversation = c.agent.take().map(|mut a| {
            if a.is_answered() && reason.disconnected_by() == "customer" {
                a.on_remote_hangup(media_now);
            }
            a.finish(media_now)
        });
        let by = c
            .disconnected_by
            .or(conversation.as_ref().and_then(|r| r.disconnected_by))
            .unwrap_or_else(|| disconnected_by(reason));
        if let EndReason::Outbound(o) = reason {
            c.sip_status = Some(o.code());
        }
        c.event(Ev::Hangup, format!("{reason:?}"));
        self.release(&mut c);
        self.on_bridge_ended(Instant::now(), &c, format!("{reason:?}"));
        if c.bridge.is_leg {
            self.after_ua(Instant::now());
            self.publish();
            return;
        }
        let bridged = c.bridge.conversation.take();
        let mut record = c.into_record(by);
        bridge::finish_record(bridged, &mut record);
        if let Some(conv) = conversation {
            conv.apply_to(&mut record);
        }
        self.submit(record);
        self.publish();
    }

    fn release(&mut self, c: &mut Call) {
        if let Some(mut s) = c.sockets.take() {
            s.stop_receivers(self.recv_ring.as_mut());
            self.ports.give(s.port);
        }
        if let Some(r) = c.recording.take() {
            r.finish();
        }
    }

    // ----- bot audio -------------------------------------------------------------------

    fn start_recording(&mut self, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        if !c.bot.record || c.recording.is_some() {
            return;
        }
        let key = format!(
            "{}/{}",
            chrono_day(c.started_at.as_millisecond().max(0) as u64),
            c.session_id
        );
        match self.shared.recorder.open(&key, voice::BOT_RATE) {
            Ok(h) => {
                c.recording = Some(h);
                c.recording_key = Some(key);
                c.event(Ev::RecordingStarted, "");
            }
            Err(e) => c.service_error(ServiceKind::Recording, "open", false, e.to_string()),
        }
    }

    /// The call is answered and has media: its agent starts the conversation (opening message).
    fn greet(&mut self, call: CallHandle) {
        let now = Instant::now();
        let media_now = self.media_now(now);
        let Some(c) = self.calls.get_mut(&call) else { return };
        let (Some(a), Some(m)) = (c.agent.as_mut(), c.media.as_mut()) else {
            return;
        };
        a.attach(m);
        let mut effects = Vec::new();
        a.on_answered(media_now, Some(m), &mut effects);
        self.apply_effects(now, call, effects);
    }

    // ----- media -----------------------------------------------------------------------

    /// A datagram on a call's RTP or RTCP socket; false when the call is gone.
    pub fn on_media_datagram(&mut self, call: CallHandle, is_rtcp: bool, src: SocketAddr, data: &[u8]) -> bool {
        let now = self.media_now(Instant::now());
        self.media_datagram_at(now, call, is_rtcp, src, data)
    }

    /// A reactor watch on the receive ring (readable when datagrams wait), if the shard has one.
    pub fn watch_recv_ring(&self) -> Option<std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>> {
        self.recv_ring.as_ref().map(|r| r.watch())
    }

    /// Stops using the receive ring for new calls (its fd could not be watched).
    pub fn drop_recv_ring(&mut self) {
        self.recv_ring = None;
    }

    /// Hands every datagram waiting on the receive ring to its call; returns how many. The ring
    /// is taken out while it drains: a datagram only feeds its call's `RtpMedia` (never ends a
    /// call, which would hand its sockets back to the ring).
    pub fn drain_media(&mut self) -> usize {
        let Some(mut ring) = self.recv_ring.take() else {
            return 0;
        };
        let now = self.media_now(Instant::now());
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = ring.drain(|(call, is_rtcp), src, data, received| {
            // Stamped with when the kernel received it: a packet that waited out a busy tick is
            // not late on the network. (A receive time from the future, or more than a second
            // back — a wall-clock step — counts as now.)
            let waited = received
                .and_then(|r| wall.checked_sub(r))
                .filter(|w| *w <= MAX_RECEIVE_WAIT)
                .unwrap_or_default();
            self.media_datagram_at(now.saturating_sub(waited), call, is_rtcp, src, data)
        });
        self.recv_ring = Some(ring);
        n
    }

    fn media_datagram_at(
        &mut self,
        now: Duration,
        call: CallHandle,
        is_rtcp: bool,
        src: SocketAddr,
        data: &[u8],
    ) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if let Some(m) = c.media.as_mut() {
            if is_rtcp {
                m.on_rtcp(now, src, data);
            } else {
                m.on_rtp(now, src, data);
            }
        }
        true
    }

    /// The 20 ms tick. `due` is when the tick was scheduled: a tick that starts
    /// [`LATE_TICK_US`](cxb_model::fleet::layout::LATE_TICK_US) or more after it is counted late
    /// (its frames leave off the 20 ms grid).
    pub fn on_tick(&mut self, due: Instant, now: Instant) {
        self.ticks += 1;
        if now.saturating_duration_since(due) >= Duration::from_micros(cxb_model::fleet::layout::LATE_TICK_US) {
            self.late_ticks += 1;
        }
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
            self.after_ua(now);
        }
        let mut due_answer = Vec::new();
        let mut due_hangup = Vec::new();
        let mut effects: Vec<(CallHandle, ShardEffect)> = Vec::new();
        let media_now = self.media_now(now);
        let overdue: Vec<CallHandle> = self
            .prefetching
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(h, _)| *h)
            .collect();
        for h in overdue {
            self.on_prefetch_overdue(h);
        }
        // Every call's bot frame first, then every call's caller frame through the DSP: packets
        // leave at a steady offset from the tick (see `RtpMedia::tick_send`).
        // All of them leave in one io_uring submission (see `SendRing`).
        // Each pass starts loading the next call's state before it works on the current one
        // (`RtpMedia::prefetch_*`): per-call state is out of the caches by its next tick. The
        // caller pass, which touches most of it, starts two calls ahead: the whole inline media
        // state of call i + 2 by its address alone, then (at i + 1, now that its headers are in
        // the cache) the heap buffers they point to.
        let ring = &mut self.send_ring;
        let mut calls = self.calls.values_mut().peekable();
        while let Some(c) = calls.next() {
            if let Some(m) = calls.peek().and_then(|n| n.media.as_ref()) {
                m.prefetch_send();
            }
            send_media(ring, c, media_now);
        }
        self.send_ring.flush();
        // Every caller packet that has arrived goes into its jitter buffer before the caller
        // frames are pulled below (the flush's system call has just run the receive ring's
        // pending kernel work), whether or not the ring's own task ran first.
        self.drain_media();
        let mut calls = self.calls.iter_mut();
        let (mut cur, mut next) = (calls.next(), calls.next());
        while let Some((h, c)) = cur {
            let after = calls.next();
            if let Some((_, n)) = &after {
                cxb_dsp::simd::prefetch(&n.media);
            }
            if let Some(m) = next.as_ref().and_then(|(_, n)| n.media.as_ref()) {
                m.prefetch_receive();
            }
            (cur, next) = (next, after);
            // The answer waits for the CRM pre-fetch (at most its timeout, see `start_call`).
            if c.answer_at.is_some_and(|t| t <= now) && !self.prefetching.contains_key(h) {
                due_answer.push(*h);
            }
            if c.hangup_at.is_some_and(|t| t <= now) {
                c.hangup_at = None;
                due_hangup.push(*h);
            }
            let events = receive_media(c, media_now);
            if let (Some(a), Some(m)) = (c.agent.as_mut(), c.media.as_mut()) {
                a.attach(m);
                let mut out = Vec::new();
                a.tick(media_now, m, &events.events, &mut out);
                effects.extend(out.into_iter().map(|e| (*h, e)));
            }
        }
        self.bridge_media();
        for (h, e) in effects {
            self.apply_effects(now, h, vec![e]);
        }
        for h in due_answer {
            self.answer(now, h);
        }
        for h in due_hangup {
            if let Some(c) = self.calls.get_mut(&h) {
                c.event(Ev::Hangup, "max call duration reached");
                c.disconnected_by = Some(DisconnectedBy::Timeout);
            }
            let _ = self.ua.hangup(now, h);
        }
        self.after_ua(now);
        if self.ticks.is_multiple_of(5) {
            self.shared
                .slot(self.id)
                .add_ticks(5, std::mem::take(&mut self.late_ticks));
            self.publish();
        }
        if let Some(permille) = self.load.sample(now) {
            self.shared.slot(self.id).set_load(permille);
        }
        if let Some(deadline) = self.stopping
            && (self.calls.is_empty() || now >= deadline)
        {
            self.stopped = true;
        }
    }

    fn publish(&self) {
        let slot = self.shared.slot(self.id);
        slot.set_active(self.calls.len() as u64 + crate::http::ws::active_calls_on_this_shard());
        slot.heartbeat(unix_ms());
    }

    /// Hangs up every call; the shard stops when they are gone (or after 2 s).
    pub fn begin_shutdown(&mut self) {
        let now = Instant::now();
        self.stopping = Some(now + Duration::from_secs(2));
        let handles: Vec<CallHandle> = self.calls.keys().copied().collect();
        for h in handles {
            if let Some(c) = self.calls.get_mut(&h) {
                c.disconnected_by = Some(DisconnectedBy::Error);
                c.service_error(ServiceKind::Other, "shutdown", true, "dataplane stopping");
            }
            if self.ua.hangup(now, h).is_err() {
                let _ = self.ua.respond(now, h, 503, None);
            }
        }
        self.after_ua(now);
    }

    // ----- the voice agent --------------------------------------------------------------

    /// Starts a new call's agent, after the bot's CRM pre-fetch when it has one: the request goes
    /// out now (inbound: while ringing; outbound: while dialling), the inbound answer waits for
    /// it (`on_tick`), and the agent — whose system prompt and opening need `crm.*` — is created
    /// when it completes or after its timeout (+ [`PREFETCH_GRACE`]), whichever comes first.
    fn start_call(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        let Some(crm) = c.bot.crm_prefetch.clone().filter(|p| !p.url.trim().is_empty()) else {
            self.start_agent(now, call);
            return;
        };
        let tz = c
            .bot
            .active_hours
            .as_ref()
            .map(|h| h.time_zone.clone())
            .unwrap_or_else(|| "UTC".to_owned());
        let tpl = cxb_model::template::record_context(&c.provisional_record(), Timestamp::now(), &tz);
        c.event(Ev::Other, "crm prefetch started");
        let wait = Duration::from_millis(u64::from(crm.timeout_ms.max(1))) + PREFETCH_GRACE;
        self.prefetching.insert(call, now + wait);
        let pool = self.agents.pool().clone();
        let me = self.me.clone();
        tokio::task::spawn_local(async move {
            let out = crate::agent::webhook::prefetch_for_call(&pool, &crm, &tpl).await;
            if let Some(shard) = me.upgrade() {
                shard.borrow_mut().on_prefetch_done(call, out);
            }
        });
    }

    /// A call's CRM pre-fetch completed: its fields become `crm.*` (over the dial variables),
    /// success or failure is recorded (a failure as a non-fatal service error), and the agent
    /// starts; an outbound call answered meanwhile is greeted now.
    fn on_prefetch_done(&mut self, call: CallHandle, out: crate::agent::webhook::PrefetchOutcome) {
        if self.prefetching.remove(&call).is_none() {
            return; // given up on (overdue) or the call is gone
        }
        let Some(c) = self.calls.get_mut(&call) else { return };
        let ms = out.duration.as_millis();
        for u in &out.unknown {
            c.event(
                Ev::Other,
                format!("crm prefetch URL: unknown template variable {{{{{u}}}}}"),
            );
        }
        match out.result {
            Ok(fields) => {
                let n = crate::agent::webhook::merge_crm(&mut c.crm, fields);
                c.event(Ev::Other, format!("crm prefetch ok: {n} fields in {ms} ms"));
            }
            Err(e) => {
                c.event(Ev::Other, format!("crm prefetch failed after {ms} ms: {e}"));
                c.service_error(ServiceKind::Webhook, "crm_prefetch", false, e.to_string());
            }
        }
        self.after_prefetch(call);
    }

    /// The pre-fetch ran past its deadline: the call goes on without CRM data.
    fn on_prefetch_overdue(&mut self, call: CallHandle) {
        self.prefetching.remove(&call);
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.event(Ev::Other, "crm prefetch timed out");
        c.service_error(
            ServiceKind::Webhook,
            "crm_prefetch",
            false,
            "CRM did not answer in time",
        );
        self.after_prefetch(call);
    }

    fn after_prefetch(&mut self, call: CallHandle) {
        let Some(c) = self.calls.get(&call) else { return };
        // The agent's clock (record offsets) still starts at the call's start.
        let (started, answered) = (c.started, c.answered_at.is_some());
        self.start_agent(started, call);
        if answered {
            self.greet(call);
        }
    }

    /// Creates the call's agent and the task that feeds it provider results.
    fn start_agent(&mut self, now: Instant, call: CallHandle) {
        let started = self.media_now(now);
        let routing = self.shared.routing.load();
        let Some(c) = self.calls.get_mut(&call) else { return };
        let mut ctx = ConversationCtx::new(c.direction, started);
        let provisional = c.provisional_record();
        if let serde_json::Value::Object(m) = cxb_model::template::call_namespace(&provisional) {
            ctx.call = m.into_iter().collect();
        }
        ctx.crm = c.crm.clone();
        let tz = c
            .bot
            .active_hours
            .as_ref()
            .map(|h| h.time_zone.clone())
            .unwrap_or_else(|| "UTC".to_owned());
        let sys = cxb_model::template::TemplateContext::new().with_system(Timestamp::now(), &tz);
        if let Some(serde_json::Value::Object(m)) = sys.get("system") {
            ctx.system = m.clone().into_iter().collect();
        }
        let bot = Rc::new(c.bot.clone());
        self.agents
            .set_call_context(crate::agent::conversation::template_context(&bot, &ctx));
        let (agent, mut inbox) = CallAgent::new(bot, ctx, &self.agents, routing.providers());
        c.agent = Some(agent);
        let me = self.me.clone();
        tokio::task::spawn_local(async move {
            while let Some(input) = inbox.recv().await {
                let Some(shard) = me.upgrade() else { break };
                shard.borrow_mut().on_agent_input(call, input);
            }
        });
    }

    /// A provider result for a call's agent.
    fn on_agent_input(&mut self, call: CallHandle, input: AgentInput) {
        let now = Instant::now();
        let media_now = self.media_now(now);
        let Some(c) = self.calls.get_mut(&call) else { return };
        let Some(a) = c.agent.as_mut() else { return };
        let mut effects = Vec::new();
        a.on_input(media_now, input, c.media.as_mut(), &mut effects);
        self.apply_effects(now, call, effects);
    }

    /// Carries out what a call's agent asked of the SIP side.
    fn apply_effects(&mut self, now: Instant, call: CallHandle, effects: Vec<ShardEffect>) {
        if effects.is_empty() {
            return;
        }
        for e in effects {
            match e {
                ShardEffect::Hangup(DisconnectedBy::TransferToAgent) if self.is_bridged(call) => {
                    // The bot leaves; the caller stays with the bridged party.
                    self.take_over(call);
                }
                ShardEffect::Hangup(by) => {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.disconnected_by.get_or_insert(by);
                    }
                    let _ = self.ua.hangup(now, call);
                }
                ShardEffect::Transfer { destination, .. } => {
                    let Some(c) = self.calls.get_mut(&call) else { continue };
                    let uri = refer_target(&destination, c.peer);
                    c.event(Ev::TransferStarted, uri.clone());
                    c.bridge.destination = Some(uri.clone());
                    c.bridge.refer_accepted = false;
                    if let Err(e) = self.ua.refer(now, call, &uri, None) {
                        let reason = format!("REFER not sent: {e}");
                        self.transfer_result(now, call, false, Some(reason));
                    }
                }
            }
        }
        self.after_ua(now);
    }

    fn on_transfer_progress(&mut self, now: Instant, call: CallHandle, progress: cxb_sip::dialog::TransferProgress) {
        use cxb_sip::dialog::TransferProgress as P;
        match progress {
            P::Accepted => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.bridge.refer_accepted = true;
                }
            }
            P::Succeeded(_) => self.transfer_result(now, call, true, None),
            // Refused outright (not accepted first): the peer does not do REFER, so we bridge.
            P::Failed(code) if self.start_bridge(now, call, code) => {}
            P::Failed(code) => self.transfer_result(now, call, false, Some(format!("SIP {code}"))),
            _ => {}
        }
    }

    fn transfer_result(&mut self, now: Instant, call: CallHandle, ok: bool, reason: Option<String>) {
        let media_now = self.media_now(now);
        let Some(c) = self.calls.get_mut(&call) else { return };
        let Some(a) = c.agent.as_mut() else { return };
        let mut effects = Vec::new();
        a.on_transfer_result(media_now, ok, reason, c.media.as_mut(), &mut effects);
        self.apply_effects(now, call, effects);
    }

    // ----- helpers for outbound dialling --------------------------------------------------

    /// The bot named `id`, if configured.
    pub fn routing_bot(&self, id: &str) -> Option<BotConfig> {
        self.shared.routing.load().bot(id).cloned()
    }

    /// Room for one more call.
    pub fn has_capacity(&self) -> bool {
        self.calls.len() as u64 + crate::http::ws::active_calls_on_this_shard()
            < u64::from(self.shared.cfg.calls_per_shard)
            && !self.ports.is_empty()
    }

    /// Media sockets on a free RTP/RTCP port pair of the shard's range: ports another process
    /// holds are skipped (up to [`BIND_ATTEMPTS`]); `None` when no pair could be bound.
    pub fn bind_media(&mut self) -> Option<(u16, (MediaSockets, std::net::UdpSocket, std::net::UdpSocket))> {
        let ip = self.shared.cfg.sip_bind.ip();
        match self
            .ports
            .bind_first(BIND_ATTEMPTS, |port| MediaSockets::bind(ip, port))
        {
            Ok(bound) => Some(bound),
            Err(error) => {
                if let Some(error) = error {
                    tracing::warn!(shard = self.id, %error, "cannot bind an RTP port pair");
                }
                None
            }
        }
    }

    /// Returns an RTP port.
    pub fn give_port(&mut self, port: u16) {
        self.ports.give(port);
    }

    /// Address in SDP and Contact.
    pub fn public_ip(&self) -> std::net::IpAddr {
        self.shared.cfg.public_ip()
    }

    /// A random token.
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Sends an INVITE.
    pub fn ua_invite(
        &mut self,
        now: Instant,
        call: cxb_sip::dialog::OutboundCall,
    ) -> Result<CallHandle, cxb_sip::dialog::UaError> {
        let h = self.ua.invite(now, call)?;
        self.flush_sip();
        Ok(h)
    }

    /// A new outbound call record-in-progress.
    pub fn new_outbound_call(&mut self, now: Instant, bot: BotConfig, from: String, to: String) -> Call {
        self.new_call(now, bot, CallDirection::Outbound, from.clone(), from, to)
    }

    /// Takes ownership of a call placed with [`Shard::ua_invite`].
    pub fn adopt_call(
        &mut self,
        call: CallHandle,
        mut c: Call,
        mut sockets: MediaSockets,
        rtp_rx: std::net::UdpSocket,
        rtcp_rx: std::net::UdpSocket,
    ) {
        let me = self.me();
        sockets.start_receivers(self.recv_ring.as_mut(), &me, call, rtp_rx, rtcp_rx);
        c.sockets = Some(sockets);
        let leg = c.bridge.is_leg;
        if !leg {
            self.shared.records.begin(c.provisional_record());
        }
        self.calls.insert(call, Box::new(c));
        if !leg {
            self.start_call(Instant::now(), call);
        }
        self.shared.slot(self.id).inc_setup();
        self.publish();
    }

    /// Places an outbound call from this shard.
    pub fn dial(&mut self, req: cxb_model::DialRequest) -> Result<cxb_model::DialAccepted, super::DialError> {
        super::dial::place(self, req)
    }
}

/// The media events of one tick (at most 8; more wait for the next tick).
#[derive(Debug, Default)]
struct TickEvents {
    events: [Option<MediaEvent>; 8],
}

/// Longest a datagram is taken to have waited between its kernel receive time and the drain.
const MAX_RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// The shard's receive ring, or `None` (logged) when the kernel cannot provide one.
fn open_recv_ring() -> Option<MediaRing> {
    match MediaRing::new(recv_ring::SHARD_BUFFERS, recv_ring::BUFFER_BYTES) {
        Ok(r) => Some(r),
        Err(error) => {
            tracing::warn!(%error, "no io_uring receive ring; media sockets are received one task each");
            None
        }
    }
}

/// First half of a call's tick: its bot frame queued on the shard's ring (see `RtpMedia::tick_send`).
fn send_media(ring: &mut SendRing, c: &mut Call, now: Duration) {
    let (Some(m), Some(s)) = (c.media.as_mut(), c.sockets.as_ref()) else {
        return;
    };
    // Without rtcp-mux, RTCP leaves from the RTCP socket (RTP port + 1).
    let mux = m.config().rtcp_mux;
    m.tick_send(now, &mut |to, bytes| {
        let sock = if !mux && crate::rtp::is_rtcp(bytes) {
            &s.rtcp
        } else {
            &s.rtp
        };
        ring.queue(sock, to, bytes);
    });
}

/// Second half of a call's tick: pull caller audio through the uplink, record both sides;
/// returns the media events (speech, DTMF, playout) for the agent.
fn receive_media(c: &mut Call, now: Duration) -> TickEvents {
    let mut out = TickEvents::default();
    let Some(m) = c.media.as_mut() else {
        return out;
    };
    if c.sockets.is_none() {
        return out;
    }
    m.tick_receive(now);
    if let Some(r) = c.recording.as_mut() {
        let (caller, bot) = m.last_frames_16k();
        r.push_stereo(caller, bot);
    }
    for slot in out.events.iter_mut() {
        *slot = m.poll_event();
        if slot.is_none() {
            break;
        }
    }
    let agent = c.agent.is_some();
    for ev in out.events.iter().flatten() {
        // With an agent, the conversation records speech, DTMF and bot turns itself.
        let agent_records = matches!(
            ev,
            MediaEvent::SpeechStarted { .. }
                | MediaEvent::SpeechEnded { .. }
                | MediaEvent::Dtmf { .. }
                | MediaEvent::BotAudioDrained
        );
        if !(agent && agent_records) {
            c.event_media(ev);
        }
    }
    out
}

fn disconnected_by(reason: EndReason) -> DisconnectedBy {
    match reason.disconnected_by() {
        "customer" => DisconnectedBy::Customer,
        "bot" => DisconnectedBy::Bot,
        "timeout" => DisconnectedBy::Timeout,
        "no_answer" => DisconnectedBy::NoAnswer,
        "rejected" => DisconnectedBy::Rejected,
        _ => DisconnectedBy::Error,
    }
}

/// The Refer-To URI for a transfer destination: a SIP URI as given, a number at the peer that
/// sent us the call (the carrier routes it).
fn refer_target(destination: &str, peer: Option<SocketAddr>) -> String {
    let d = destination.trim();
    if d.starts_with("sip:") || d.starts_with("sips:") {
        return d.to_owned();
    }
    let number = d.strip_prefix("tel:").unwrap_or(d);
    match peer {
        Some(p) => format!("sip:{number}@{p}"),
        None => format!("sip:{number}@localhost"),
    }
}

/// `YYYY/MM/DD` of a Unix-ms time (UTC), for recording keys.
fn chrono_day(unix_ms: u64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm).
    let days = (unix_ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}/{m:02}/{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn recording_day_is_utc_civil_date() {
        assert_eq!(super::chrono_day(0), "1970/01/01");
        assert_eq!(super::chrono_day(1_795_132_800_000), "2026/11/20");
    }
}
