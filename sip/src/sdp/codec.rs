//! Typed views over audio attributes: `rtpmap`, `fmtp` (telephone-event, opus), static payload
//! types, `ptime`/`maxptime`, `rtcp-mux`, `rtcp` (RFC 3605) and direction attributes.
//!
//! Views are computed from the attribute list on demand; the list itself stays the single source of
//! truth, so unknown and repeated attributes survive a round trip untouched.

use std::fmt;

use super::model::{Attribute, Connection, MediaDescription, SessionDescription, find_attr};
use super::parse::parse_connection;

/// An RTP encoding name, ASCII case-insensitive on input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (16 kHz audio, RTP clock 8000 per RFC 3551).
    G722,
    /// Opus (RTP clock 48000, always `/2` in rtpmap per RFC 7587).
    Opus,
    /// RFC 4733 DTMF events.
    TelephoneEvent,
    /// RFC 3389 comfort noise.
    Cn,
    /// Any other encoding, name as received.
    Other(String),
}

impl Encoding {
    /// Recognises an encoding name.
    pub fn from_name(name: &str) -> Encoding {
        const KNOWN: [(&str, Encoding); 6] = [
            ("PCMU", Encoding::Pcmu),
            ("PCMA", Encoding::Pcma),
            ("G722", Encoding::G722),
            ("opus", Encoding::Opus),
            ("telephone-event", Encoding::TelephoneEvent),
            ("CN", Encoding::Cn),
        ];
        KNOWN
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, e)| e)
            .unwrap_or_else(|| Encoding::Other(name.to_owned()))
    }

    /// The canonical spelling used when we print an rtpmap.
    pub fn name(&self) -> &str {
        match self {
            Encoding::Pcmu => "PCMU",
            Encoding::Pcma => "PCMA",
            Encoding::G722 => "G722",
            Encoding::Opus => "opus",
            Encoding::TelephoneEvent => "telephone-event",
            Encoding::Cn => "CN",
            Encoding::Other(s) => s,
        }
    }

    /// Whether two encodings are the same codec (names compared case-insensitively).
    pub fn same_as(&self, other: &Encoding) -> bool {
        match (self, other) {
            (Encoding::Other(a), Encoding::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

/// The codec behind a static RTP/AVP payload type (RFC 3551 table 4), when it is one we know:
/// `(encoding, clock rate, channels)`.
pub fn static_payload_type(pt: u8) -> Option<(Encoding, u32, u16)> {
    match pt {
        0 => Some((Encoding::Pcmu, 8000, 1)),
        8 => Some((Encoding::Pcma, 8000, 1)),
        9 => Some((Encoding::G722, 8000, 1)),
        13 => Some((Encoding::Cn, 8000, 1)),
        18 => Some((Encoding::Other("G729".to_owned()), 8000, 1)),
        _ => None,
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type number.
    pub payload_type: u8,
    /// Encoding name.
    pub encoding: Encoding,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count when given.
    pub channels: Option<u16>,
}

impl RtpMap {
    /// Parses the value of an rtpmap attribute; `None` when malformed.
    pub fn parse(value: &str) -> Option<RtpMap> {
        let (pt, rest) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
        let payload_type = pt.parse::<u8>().ok().filter(|pt| *pt < 128)?;
        let mut parts = rest.trim().split('/');
        let encoding = Encoding::from_name(parts.next()?.trim());
        let clock_rate = parts.next()?.trim().parse::<u32>().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.trim().parse::<u16>().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(RtpMap {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }

    /// The attribute `a=rtpmap:…` for this mapping.
    pub fn to_attribute(&self) -> Attribute {
        let mut v = format!("{} {}/{}", self.payload_type, self.encoding.name(), self.clock_rate);
        if let Some(c) = self.channels {
            v.push_str(&format!("/{c}"));
        }
        Attribute::value("rtpmap", v)
    }
}

/// A format of an `m=` line resolved to a codec through rtpmap or the static table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Payload type number.
    pub payload_type: u8,
    /// Encoding.
    pub encoding: Encoding,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channels (1 when not given, except opus which is always 2 in SDP).
    pub channels: u16,
}

/// `a=fmtp:<pt> <params>`: the parameter string and helpers to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmtp<'a> {
    /// Payload type the parameters apply to.
    pub payload_type: u8,
    /// The parameter string, verbatim.
    pub params: &'a str,
}

impl<'a> Fmtp<'a> {
    /// Parses the value of an fmtp attribute.
    pub fn parse(value: &'a str) -> Option<Fmtp<'a>> {
        let value = value.trim_start();
        let (pt, params) = value
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((value, ""));
        Some(Fmtp {
            payload_type: pt.parse().ok()?,
            params: params.trim(),
        })
    }

    /// `key=value` pairs separated by `;` (a bare `key` has no value).
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p, None),
            })
    }

    /// The value of a `key=value` parameter (key ASCII case-insensitive).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v)
    }

    /// Reads opus parameters (RFC 7587 §6.1).
    pub fn opus(&self) -> OpusParams {
        let flag = |k| self.get(k).map(|v| v == "1");
        let num = |k| self.get(k).and_then(|v| v.parse::<u32>().ok());
        OpusParams {
            useinbandfec: flag("useinbandfec"),
            usedtx: flag("usedtx"),
            stereo: flag("stereo"),
            minptime: num("minptime"),
            maxplaybackrate: num("maxplaybackrate"),
            maxaveragebitrate: num("maxaveragebitrate"),
        }
    }

    /// Reads a telephone-event list (RFC 4733 §2.4.1): `0-15`, `0-16`, `0-15,32`, …
    pub fn telephone_events(&self) -> Option<EventList> {
        EventList::parse(self.params)
    }
}

/// Opus format parameters that matter for a telephony leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpusParams {
    /// `useinbandfec`.
    pub useinbandfec: Option<bool>,
    /// `usedtx`.
    pub usedtx: Option<bool>,
    /// `stereo`.
    pub stereo: Option<bool>,
    /// `minptime` in ms.
    pub minptime: Option<u32>,
    /// `maxplaybackrate` in Hz.
    pub maxplaybackrate: Option<u32>,
    /// `maxaveragebitrate` in bit/s.
    pub maxaveragebitrate: Option<u32>,
}

/// A set of RFC 4733 event codes as sorted, non-overlapping inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventList {
    ranges: Vec<(u8, u8)>,
}

impl EventList {
    /// Events 0-15 (the default when no fmtp is given) or 0-16 (with flash).
    pub fn range(first: u8, last: u8) -> EventList {
        EventList {
            ranges: vec![(first.min(last), first.max(last))],
        }
    }

    /// Parses `0-15,16,32-40`; `None` when malformed or empty.
    pub fn parse(s: &str) -> Option<EventList> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b) = (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?);
            if a > b || ranges.len() >= 64 {
                return None;
            }
            ranges.push((a, b));
        }
        Some(EventList::normalised(ranges))
    }

    fn normalised(mut ranges: Vec<(u8, u8)>) -> EventList {
        ranges.sort_unstable();
        let mut out: Vec<(u8, u8)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match out.last_mut() {
                Some(last) if u16::from(a) <= u16::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        EventList { ranges: out }
    }

    /// Whether the event code is in the set.
    pub fn contains(&self, event: u8) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&event))
    }

    /// The events in both sets; `None` when empty.
    pub fn intersect(&self, other: &EventList) -> Option<EventList> {
        let mut out = Vec::new();
        for &(a, b) in &self.ranges {
            for &(c, d) in &other.ranges {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        (!out.is_empty()).then(|| EventList::normalised(out))
    }
}

impl fmt::Display for EventList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?
            } else {
                write!(f, "{a}-{b}")?
            }
        }
        Ok(())
    }
}

/// Media direction (RFC 3264 §5.1, RFC 8866 §6.7), from the point of view of the SDP's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// From an attribute name, if it is a direction attribute.
    pub fn from_attribute_name(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Built from send and receive flags.
    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The author sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// The author receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: sendonly ↔ recvonly.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// Only what both allow.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(self.sends() && other.sends(), self.receives() && other.receives())
    }

    /// The attribute for this direction.
    pub fn to_attribute(self) -> Attribute {
        Attribute::flag(self.as_str())
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpAttribute {
    /// RTCP port.
    pub port: u16,
    /// Optional RTCP address.
    pub connection: Option<Connection>,
}

impl RtcpAttribute {
    /// Parses the attribute value; `None` when malformed.
    pub fn parse(value: &str) -> Option<RtcpAttribute> {
        let value = value.trim();
        let (port, rest) = value
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((value, ""));
        let port = port.parse::<u16>().ok()?;
        let rest = rest.trim();
        let connection = if rest.is_empty() {
            None
        } else {
            Some(parse_connection(0, rest).ok()?)
        };
        Some(RtcpAttribute { port, connection })
    }
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().rev().find_map(|a| {
        if a.value.is_none() {
            Direction::from_attribute_name(&a.name)
        } else {
            None
        }
    })
}

fn attr_u32(attrs: &[Attribute], name: &str) -> Option<u32> {
    find_attr(attrs, name)?
        .value
        .as_deref()?
        .trim()
        .parse::<f64>()
        .ok()
        .map(|v| v as u32)
        .filter(|v| *v > 0)
}

impl MediaDescription {
    /// All parseable `a=rtpmap` lines.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap> + '_ {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("rtpmap"))
            .filter_map(|a| RtpMap::parse(a.value.as_deref()?))
    }

    /// The rtpmap for a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// The fmtp for a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<Fmtp<'_>> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("fmtp"))
            .filter_map(|a| Fmtp::parse(a.value.as_deref()?))
            .find(|f| f.payload_type == pt)
    }

    /// The formats of the `m=` line, in order, resolved to codecs (rtpmap first, then the static
    /// table). Formats that are neither numeric nor resolvable are skipped.
    pub fn codecs(&self) -> Vec<Codec> {
        let maps: Vec<RtpMap> = self.rtpmaps().collect();
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter_map(|pt| {
                if let Some(m) = maps.iter().find(|m| m.payload_type == pt) {
                    let channels = m.channels.unwrap_or(if m.encoding == Encoding::Opus { 2 } else { 1 });
                    return Some(Codec {
                        payload_type: pt,
                        encoding: m.encoding.clone(),
                        clock_rate: m.clock_rate,
                        channels,
                    });
                }
                let (encoding, clock_rate, channels) = static_payload_type(pt)?;
                Some(Codec {
                    payload_type: pt,
                    encoding,
                    clock_rate,
                    channels,
                })
            })
            .collect()
    }

    /// `a=ptime` in milliseconds (fractional values truncated).
    pub fn ptime(&self) -> Option<u32> {
        attr_u32(&self.attributes, "ptime")
    }

    /// `a=maxptime` in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        attr_u32(&self.attributes, "maxptime")
    }

    /// `a=rtcp-mux` present (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    /// `a=rtcp` (RFC 3605), if present and well-formed.
    pub fn rtcp(&self) -> Option<RtcpAttribute> {
        RtcpAttribute::parse(self.attribute("rtcp")?.value.as_deref()?)
    }

    /// The media-level direction attribute, if any (the last one wins).
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// Replaces any direction attribute with `dir` (placed where the first one was, else last).
    pub fn set_direction(&mut self, dir: Direction) {
        let pos = self
            .attributes
            .iter()
            .position(|a| a.value.is_none() && Direction::from_attribute_name(&a.name).is_some());
        self.attributes
            .retain(|a| !(a.value.is_none() && Direction::from_attribute_name(&a.name).is_some()));
        let pos = pos.unwrap_or(self.attributes.len()).min(self.attributes.len());
        self.attributes.insert(pos, dir.to_attribute());
    }
}

impl SessionDescription {
    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The effective direction of media section `index`: its own attribute, else the session
    /// default, else sendrecv.
    pub fn media_direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction)
            .or_else(|| self.direction())
            .unwrap_or_default()
    }
}
