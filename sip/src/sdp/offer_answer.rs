//! RFC 3264 offer/answer for one audio stream, sans-IO.
//!
//! [`AudioSession`] holds our capabilities and the state of one call's media negotiation:
//! - remote offer (INVITE or re-INVITE with SDP) → [`AudioSession::answer_offer`] → our answer;
//! - late offer (INVITE without SDP) → [`AudioSession::create_offer`] for the 200 OK, then
//!   [`AudioSession::accept_answer`] with the SDP from the ACK;
//! - hold/resume by us → [`AudioSession::set_local_hold`] then [`AudioSession::create_offer`].
//!
//! Randomness (the session id) comes in from the caller; nothing here reads a clock or a socket.

use std::net::{IpAddr, Ipv4Addr};

use super::address::RemoteAddr;
use super::codec::{Codec, Direction, Encoding, EventList, RtpMap};
use super::model::{AddrType, Attribute, Connection, MediaDescription, Origin, SessionDescription, Timing};

/// One codec we can send and receive, in preference order within [`LocalCapabilities::codecs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCodec {
    /// Encoding.
    pub encoding: Encoding,
    /// RTP clock rate as written in rtpmap (8000 for G.722).
    pub clock_rate: u32,
    /// Channels as written in rtpmap (2 for opus).
    pub channels: u16,
    /// Payload type used when we make the offer (answers reuse the offerer's numbers).
    pub payload_type: u8,
    /// Format parameters we advertise, e.g. `useinbandfec=1; minptime=10`.
    pub fmtp: Option<String>,
}

impl LocalCodec {
    /// G.711 µ-law, static payload type 0.
    pub fn pcmu() -> LocalCodec {
        LocalCodec {
            encoding: Encoding::Pcmu,
            clock_rate: 8000,
            channels: 1,
            payload_type: 0,
            fmtp: None,
        }
    }
    /// G.711 A-law, static payload type 8.
    pub fn pcma() -> LocalCodec {
        LocalCodec {
            encoding: Encoding::Pcma,
            clock_rate: 8000,
            channels: 1,
            payload_type: 8,
            fmtp: None,
        }
    }
    /// G.722, static payload type 9, RTP clock 8000.
    pub fn g722() -> LocalCodec {
        LocalCodec {
            encoding: Encoding::G722,
            clock_rate: 8000,
            channels: 1,
            payload_type: 9,
            fmtp: None,
        }
    }
    /// Opus `opus/48000/2`, payload type 111, in-band FEC on.
    pub fn opus() -> LocalCodec {
        LocalCodec {
            encoding: Encoding::Opus,
            clock_rate: 48000,
            channels: 2,
            payload_type: 111,
            fmtp: Some("minptime=10;useinbandfec=1".to_owned()),
        }
    }

    fn matches(&self, c: &Codec) -> bool {
        self.encoding.same_as(&c.encoding) && self.clock_rate == c.clock_rate && self.channels == c.channels
    }

    fn rtpmap(&self, payload_type: u8) -> RtpMap {
        RtpMap {
            payload_type,
            encoding: self.encoding.clone(),
            clock_rate: self.clock_rate,
            channels: (self.channels != 1 || self.encoding == Encoding::Opus).then_some(self.channels),
        }
    }
}

/// A telephone-event (RFC 4733) clock rate we support and the payload type we offer it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTelephoneEvent {
    /// Clock rate; it must equal the chosen codec's clock rate.
    pub clock_rate: u32,
    /// Payload type used in our offers.
    pub payload_type: u8,
}

/// What we can do, configured once per bot or trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCapabilities {
    /// Codecs in our order of preference.
    pub codecs: Vec<LocalCodec>,
    /// Supported telephone-event rates.
    pub telephone_events: Vec<LocalTelephoneEvent>,
    /// Events we understand (0-16: digits, `*`, `#`, A-D, flash).
    pub events: EventList,
    /// Our RTP address, written in `o=` and `c=`.
    pub address: IpAddr,
    /// Our RTP port.
    pub rtp_port: u16,
    /// We can multiplex RTCP on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// `a=ptime` we ask for, if any.
    pub ptime: Option<u32>,
    /// Pick the first codec in *our* order rather than the offerer's.
    pub prefer_local_order: bool,
    /// `o=` user name.
    pub username: String,
    /// `s=` session name.
    pub session_name: String,
}

impl LocalCapabilities {
    /// PCMU, PCMA, G.722, opus; telephone-event at 8000 (PT 101) and 48000 (PT 110); rtcp-mux;
    /// ptime 20; the offerer's codec order.
    pub fn new(address: IpAddr, rtp_port: u16) -> LocalCapabilities {
        LocalCapabilities {
            codecs: vec![
                LocalCodec::pcmu(),
                LocalCodec::pcma(),
                LocalCodec::g722(),
                LocalCodec::opus(),
            ],
            telephone_events: vec![
                LocalTelephoneEvent {
                    clock_rate: 8000,
                    payload_type: 101,
                },
                LocalTelephoneEvent {
                    clock_rate: 48000,
                    payload_type: 110,
                },
            ],
            events: EventList::range(0, 16),
            address,
            rtp_port,
            rtcp_mux: true,
            ptime: Some(20),
            prefer_local_order: false,
            username: "cxb".to_owned(),
            session_name: "cxb".to_owned(),
        }
    }
}

/// Who has put the call on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HoldState {
    /// Media flows both ways (as far as hold is concerned).
    #[default]
    Active,
    /// We put the remote on hold (we offered sendonly/inactive).
    Local,
    /// The remote put us on hold (sendonly, inactive or `c=0.0.0.0`).
    Remote,
    /// Both.
    Both,
}

impl HoldState {
    fn from_flags(local: bool, remote: bool) -> HoldState {
        match (local, remote) {
            (false, false) => HoldState::Active,
            (true, false) => HoldState::Local,
            (false, true) => HoldState::Remote,
            (true, true) => HoldState::Both,
        }
    }

    /// The remote has put us on hold.
    pub fn remote(self) -> bool {
        matches!(self, HoldState::Remote | HoldState::Both)
    }

    /// We have put the remote on hold.
    pub fn local(self) -> bool {
        matches!(self, HoldState::Local | HoldState::Both)
    }
}

/// The outcome of a negotiation: everything the media pipeline needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Index of the audio `m=` section in the descriptions.
    pub media_index: usize,
    /// Chosen codec.
    pub codec: Encoding,
    /// Payload type to put in the RTP we send (the number the remote's SDP gave the codec).
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels as written in rtpmap.
    pub channels: u16,
    /// The remote's fmtp for the codec, verbatim.
    pub remote_fmtp: Option<String>,
    /// Telephone-event payload type at the codec's clock rate, if both sides support it.
    pub telephone_event_pt: Option<u8>,
    /// Packetisation to send with, in ms: the remote's `a=ptime` if within 10..=120, else 20.
    pub ptime: u32,
    /// Where to send RTP (a hint when [`RemoteAddr::is_private_or_unusable`]).
    pub remote_rtp: RemoteAddr,
    /// Where to send RTCP: the RTP address with rtcp-mux, else `a=rtcp`, else RTP port + 1.
    pub remote_rtcp: RemoteAddr,
    /// RTCP is multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// Our direction: whether we send and/or receive.
    pub direction: Direction,
    /// Hold state.
    pub hold: HoldState,
}

/// A successful answer to a remote offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// Our answer, to send in the response (or the ACK/PRACK).
    pub sdp: SessionDescription,
    /// The negotiated stream.
    pub audio: NegotiatedAudio,
    /// A previous negotiation existed and the codec or payload type changed (re-INVITE).
    pub codec_changed: bool,
    /// A previous negotiation existed and the hold state changed.
    pub hold_changed: bool,
}

/// Why a negotiation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferAnswerError {
    /// The offer has no usable audio stream.
    #[error("offer has no active audio stream")]
    NoAudio,
    /// Audio is offered only over a transport we do not speak (e.g. `RTP/SAVP`).
    #[error("audio offered only over unsupported transport {proto}")]
    UnsupportedTransport {
        /// The offered protocol.
        proto: String,
    },
    /// No codec in common.
    #[error("no codec in common")]
    NoCommonCodec,
    /// The audio stream has no `c=` at either level.
    #[error("media section {media_index} has no connection address")]
    NoConnectionAddress {
        /// Index of the media section.
        media_index: usize,
    },
    /// A remote offer arrived while our own offer is outstanding (glare).
    #[error("offer received while our offer is pending")]
    OfferPending,
    /// An answer arrived but we have no outstanding offer.
    #[error("answer received without a pending offer")]
    NoOfferPending,
    /// The answer does not have one `m=` per offered `m=`.
    #[error("answer has {answered} media sections, offer had {offered}")]
    AnswerMismatch {
        /// Media sections offered.
        offered: usize,
        /// Media sections answered.
        answered: usize,
    },
    /// The answer rejected our audio stream (port 0).
    #[error("answer rejected the audio stream")]
    AnswerRejected,
}

impl OfferAnswerError {
    /// The SIP status to reply with when this error ends the handling of an offer: 488 Not
    /// Acceptable Here for unusable offers, 491 Request Pending for glare, 400 otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            OfferAnswerError::OfferPending => 491,
            OfferAnswerError::NoOfferPending | OfferAnswerError::AnswerMismatch { .. } => 400,
            _ => 488,
        }
    }
}

fn is_supported_proto(p: &str) -> bool {
    p.eq_ignore_ascii_case("RTP/AVP") || p.eq_ignore_ascii_case("RTP/AVPF")
}

/// The effective direction of a remote description's stream: `c=0.0.0.0` (RFC 2543 hold) means
/// "do not send to me".
fn remote_direction(sdp: &SessionDescription, idx: usize) -> Direction {
    let dir = sdp.media_direction(idx);
    if sdp.media_connection(idx).is_some_and(Connection::is_unspecified) {
        dir.intersect(Direction::SendOnly)
    } else {
        dir
    }
}

fn remote_addrs(sdp: &SessionDescription, idx: usize, mux: bool) -> Result<(RemoteAddr, RemoteAddr), OfferAnswerError> {
    let m = &sdp.media[idx];
    let conn = sdp
        .media_connection(idx)
        .ok_or(OfferAnswerError::NoConnectionAddress { media_index: idx })?;
    let ip = conn.ip().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let rtp = RemoteAddr { ip, port: m.port };
    let rtcp = if mux {
        rtp
    } else if let Some(a) = m.rtcp() {
        RemoteAddr {
            ip: a.connection.and_then(|c| c.ip()).unwrap_or(ip),
            port: a.port,
        }
    } else {
        RemoteAddr {
            ip,
            port: m.port.saturating_add(1),
        }
    };
    Ok((rtp, rtcp))
}

fn telephone_event_for(codecs: &[Codec], clock_rate: u32) -> Option<&Codec> {
    codecs
        .iter()
        .find(|c| c.encoding == Encoding::TelephoneEvent && c.clock_rate == clock_rate)
}

/// The remote's ptime when plausible (10..=120 ms), else 20.
fn sane_ptime(p: Option<u32>) -> u32 {
    p.filter(|p| (10..=120).contains(p)).unwrap_or(20)
}

fn is_voice(c: &Codec) -> bool {
    !matches!(c.encoding, Encoding::TelephoneEvent | Encoding::Cn)
}

/// One call's media negotiation state.
#[derive(Debug, Clone)]
pub struct AudioSession {
    caps: LocalCapabilities,
    session_id: u64,
    version: u64,
    last_local: Option<SessionDescription>,
    pending_offer: Option<SessionDescription>,
    local_hold: bool,
    current: Option<NegotiatedAudio>,
}

impl AudioSession {
    /// A new session; `session_id` should be random (from the caller), `initial_version` is the
    /// first `o=` version we send.
    pub fn new(caps: LocalCapabilities, session_id: u64, initial_version: u64) -> AudioSession {
        AudioSession {
            caps,
            session_id,
            version: initial_version,
            last_local: None,
            pending_offer: None,
            local_hold: false,
            current: None,
        }
    }

    /// Our capabilities.
    pub fn capabilities(&self) -> &LocalCapabilities {
        &self.caps
    }

    /// The current negotiated stream, if any.
    pub fn negotiated(&self) -> Option<&NegotiatedAudio> {
        self.current.as_ref()
    }

    /// The last description we sent (offer or answer).
    pub fn local_description(&self) -> Option<&SessionDescription> {
        self.last_local.as_ref()
    }

    /// Our outstanding offer, if any.
    pub fn pending_offer(&self) -> Option<&SessionDescription> {
        self.pending_offer.as_ref()
    }

    /// Drops our outstanding offer (the request failed, or the ACK carried no SDP).
    pub fn abandon_offer(&mut self) {
        self.pending_offer = None;
    }

    /// Whether our next offer or answer puts the remote on hold. Takes effect on the next
    /// [`create_offer`](Self::create_offer) / [`answer_offer`](Self::answer_offer).
    pub fn set_local_hold(&mut self, hold: bool) {
        self.local_hold = hold;
    }

    fn local_direction(&self) -> Direction {
        if self.local_hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        }
    }

    /// Wraps media sections into a description, incrementing the `o=` version only when the
    /// content differs from what we sent last (RFC 3264 §8).
    fn finish(&mut self, media: Vec<MediaDescription>) -> SessionDescription {
        let caps = &self.caps;
        let mut sdp = SessionDescription {
            origin: Origin {
                username: caps.username.clone(),
                session_id: self.session_id.to_string(),
                session_version: self.version,
                net_type: "IN".to_owned(),
                addr_type: if caps.address.is_ipv4() {
                    AddrType::Ip4
                } else {
                    AddrType::Ip6
                },
                address: caps.address.to_string(),
            },
            session_name: caps.session_name.clone(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: Some(Connection::from_ip(caps.address)),
            bandwidths: Vec::new(),
            times: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
            }],
            time_zones: None,
            key: None,
            unknown_lines: Vec::new(),
            attributes: Vec::new(),
            media,
        };
        if let Some(last) = &self.last_local
            && *last != sdp
        {
            self.version += 1;
            sdp.origin.session_version = self.version;
        }
        self.last_local = Some(sdp.clone());
        sdp
    }

    fn common_attributes(&self, m: &mut MediaDescription, mux: bool, dir: Direction) {
        if let Some(p) = self.caps.ptime {
            m.attributes.push(Attribute::value("ptime", p.to_string()));
        }
        if mux {
            m.attributes.push(Attribute::flag("rtcp-mux"));
        }
        m.attributes.push(dir.to_attribute());
    }

    /// Answers a remote offer. On error nothing changes: a failed re-INVITE keeps the old session
    /// (reply with [`OfferAnswerError::status_code`], normally 488).
    pub fn answer_offer(&mut self, offer: &SessionDescription) -> Result<Answered, OfferAnswerError> {
        if self.pending_offer.is_some() {
            return Err(OfferAnswerError::OfferPending);
        }
        let mut failure = OfferAnswerError::NoAudio;
        let mut chosen: Option<(usize, MediaDescription, NegotiatedAudio)> = None;
        for (idx, m) in offer.media.iter().enumerate() {
            if chosen.is_some() || !m.media.eq_ignore_ascii_case("audio") || m.is_rejected() {
                continue;
            }
            if !is_supported_proto(&m.proto) {
                if failure == OfferAnswerError::NoAudio {
                    failure = OfferAnswerError::UnsupportedTransport { proto: m.proto.clone() };
                }
                continue;
            }
            match self.answer_audio(offer, idx) {
                Ok((md, neg)) => chosen = Some((idx, md, neg)),
                Err(e) => failure = e,
            }
        }
        let (audio_idx, audio_md, audio) = chosen.ok_or(failure)?;
        let media = offer
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if i == audio_idx {
                    audio_md.clone()
                } else {
                    MediaDescription::new(&m.media, 0, &m.proto, m.formats.clone())
                }
            })
            .collect();
        let sdp = self.finish(media);
        let (codec_changed, hold_changed) = match &self.current {
            Some(p) => (
                p.codec != audio.codec || p.payload_type != audio.payload_type,
                p.hold != audio.hold,
            ),
            None => (false, false),
        };
        self.current = Some(audio.clone());
        Ok(Answered {
            sdp,
            audio,
            codec_changed,
            hold_changed,
        })
    }

    fn answer_audio(
        &self,
        offer: &SessionDescription,
        idx: usize,
    ) -> Result<(MediaDescription, NegotiatedAudio), OfferAnswerError> {
        let m = &offer.media[idx];
        let offered = m.codecs();
        let caps = &self.caps;
        let pick = if caps.prefer_local_order {
            caps.codecs
                .iter()
                .find_map(|l| offered.iter().find(|c| l.matches(c)).map(|c| (l, c)))
        } else {
            offered
                .iter()
                .filter(|c| is_voice(c))
                .find_map(|c| caps.codecs.iter().find(|l| l.matches(c)).map(|l| (l, c)))
        };
        let (local, codec) = pick.ok_or(OfferAnswerError::NoCommonCodec)?;
        let te = telephone_event_for(&offered, codec.clock_rate)
            .filter(|te| caps.telephone_events.iter().any(|l| l.clock_rate == te.clock_rate));
        let mux = caps.rtcp_mux && m.rtcp_mux();
        let (remote_rtp, remote_rtcp) = remote_addrs(offer, idx, mux)?;
        let offer_dir = remote_direction(offer, idx);
        let direction = offer_dir.reversed().intersect(self.local_direction());

        let mut formats = vec![codec.payload_type.to_string()];
        let mut md = MediaDescription::new(&m.media, caps.rtp_port, &m.proto, Vec::new());
        md.attributes.push(local.rtpmap(codec.payload_type).to_attribute());
        if let Some(f) = &local.fmtp {
            md.attributes
                .push(Attribute::value("fmtp", format!("{} {f}", codec.payload_type)));
        }
        if let Some(te) = te {
            formats.push(te.payload_type.to_string());
            let offered_events = m
                .fmtp(te.payload_type)
                .and_then(|f| f.telephone_events())
                .unwrap_or(EventList::range(0, 15));
            let events = offered_events
                .intersect(&caps.events)
                .unwrap_or(EventList::range(0, 15));
            md.attributes.push(
                RtpMap {
                    payload_type: te.payload_type,
                    encoding: Encoding::TelephoneEvent,
                    clock_rate: te.clock_rate,
                    channels: None,
                }
                .to_attribute(),
            );
            md.attributes
                .push(Attribute::value("fmtp", format!("{} {events}", te.payload_type)));
        }
        md.formats = formats;
        self.common_attributes(&mut md, mux, direction);

        let neg = NegotiatedAudio {
            media_index: idx,
            codec: codec.encoding.clone(),
            payload_type: codec.payload_type,
            clock_rate: codec.clock_rate,
            channels: codec.channels,
            remote_fmtp: m.fmtp(codec.payload_type).map(|f| f.params.to_owned()),
            telephone_event_pt: te.map(|t| t.payload_type),
            ptime: sane_ptime(m.ptime()),
            remote_rtp,
            remote_rtcp,
            rtcp_mux: mux,
            direction,
            hold: HoldState::from_flags(self.local_hold, !offer_dir.receives()),
        };
        Ok((md, neg))
    }

    /// Builds our offer: for a late-offer 200 OK, or a re-INVITE (hold, resume, refresh). Keeps
    /// the `m=` layout of the previous exchange (other streams stay rejected) and puts the
    /// current codec first so a re-offer does not switch codecs by accident.
    pub fn create_offer(&mut self) -> SessionDescription {
        let caps = &self.caps;
        let mut codecs: Vec<&LocalCodec> = caps.codecs.iter().collect();
        if let Some(cur) = &self.current
            && let Some(pos) = codecs
                .iter()
                .position(|l| l.encoding.same_as(&cur.codec) && l.clock_rate == cur.clock_rate)
        {
            let c = codecs.remove(pos);
            codecs.insert(0, c);
        }
        let mut md = MediaDescription::new("audio", caps.rtp_port, "RTP/AVP", Vec::new());
        for l in &codecs {
            md.formats.push(l.payload_type.to_string());
            md.attributes.push(l.rtpmap(l.payload_type).to_attribute());
            if let Some(f) = &l.fmtp {
                md.attributes
                    .push(Attribute::value("fmtp", format!("{} {f}", l.payload_type)));
            }
        }
        for te in &caps.telephone_events {
            if codecs.iter().any(|l| l.clock_rate == te.clock_rate) {
                md.formats.push(te.payload_type.to_string());
                md.attributes.push(
                    RtpMap {
                        payload_type: te.payload_type,
                        encoding: Encoding::TelephoneEvent,
                        clock_rate: te.clock_rate,
                        channels: None,
                    }
                    .to_attribute(),
                );
                md.attributes
                    .push(Attribute::value("fmtp", format!("{} {}", te.payload_type, caps.events)));
            }
        }
        self.common_attributes(&mut md, caps.rtcp_mux, self.local_direction());
        let audio_idx = self.current.as_ref().map_or(0, |c| c.media_index);
        let media = match &self.last_local {
            Some(last) if audio_idx < last.media.len() => last
                .media
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if i == audio_idx {
                        md.clone()
                    } else {
                        MediaDescription::new(&m.media, 0, &m.proto, m.formats.clone())
                    }
                })
                .collect(),
            _ => vec![md],
        };
        let sdp = self.finish(media);
        self.pending_offer = Some(sdp.clone());
        sdp
    }

    /// Processes the answer to our offer (from a 200 OK, or from the ACK for a late offer).
    pub fn accept_answer(&mut self, answer: &SessionDescription) -> Result<NegotiatedAudio, OfferAnswerError> {
        let offer = self.pending_offer.take().ok_or(OfferAnswerError::NoOfferPending)?;
        if offer.media.len() != answer.media.len() {
            return Err(OfferAnswerError::AnswerMismatch {
                offered: offer.media.len(),
                answered: answer.media.len(),
            });
        }
        let idx = offer
            .media
            .iter()
            .position(|m| m.port != 0)
            .ok_or(OfferAnswerError::NoAudio)?;
        let am = &answer.media[idx];
        if am.is_rejected() {
            return Err(OfferAnswerError::AnswerRejected);
        }
        let answered = am.codecs();
        let codec = answered
            .iter()
            .filter(|c| is_voice(c))
            .find(|c| self.caps.codecs.iter().any(|l| l.matches(c)))
            .ok_or(OfferAnswerError::NoCommonCodec)?;
        let te = telephone_event_for(&answered, codec.clock_rate)
            .filter(|te| self.caps.telephone_events.iter().any(|l| l.clock_rate == te.clock_rate));
        let mux = self.caps.rtcp_mux && am.rtcp_mux();
        let (remote_rtp, remote_rtcp) = remote_addrs(answer, idx, mux)?;
        let answer_dir = remote_direction(answer, idx);
        let direction = offer.media_direction(idx).intersect(answer_dir.reversed());
        let audio = NegotiatedAudio {
            media_index: idx,
            codec: codec.encoding.clone(),
            payload_type: codec.payload_type,
            clock_rate: codec.clock_rate,
            channels: codec.channels,
            remote_fmtp: am.fmtp(codec.payload_type).map(|f| f.params.to_owned()),
            telephone_event_pt: te.map(|t| t.payload_type),
            ptime: sane_ptime(am.ptime()),
            remote_rtp,
            remote_rtcp,
            rtcp_mux: mux,
            direction,
            hold: HoldState::from_flags(self.local_hold, !answer_dir.receives()),
        };
        self.current = Some(audio.clone());
        Ok(audio)
    }
}
