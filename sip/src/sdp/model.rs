//! The session description data model (RFC 8866 §5): one struct per line kind, owned strings.
//!
//! Every line the parser understands has a typed home here; lines it does not understand are
//! kept verbatim in [`SessionDescription::unknown_lines`] / [`MediaDescription::unknown_lines`], and
//! all `a=` lines are kept in their original order, so printing a parsed description loses nothing
//! a peer could care about.

/// A whole session description: the session-level lines followed by the media sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: originator and session identifier.
    pub origin: Origin,
    /// `s=`: session name (`-` or a single space when the sender had nothing to say).
    pub session_name: String,
    /// `i=`: session information.
    pub information: Option<String>,
    /// `u=`: URI of a description.
    pub uri: Option<String>,
    /// `e=` lines, in order.
    pub emails: Vec<String>,
    /// `p=` lines, in order.
    pub phones: Vec<String>,
    /// Session-level `c=`; media sections without their own `c=` use this one.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with the `r=` lines that follow it. Never empty after parsing.
    pub times: Vec<Timing>,
    /// `z=`: time-zone adjustments, kept verbatim.
    pub time_zones: Option<String>,
    /// `k=`: encryption key (obsolete, kept verbatim).
    pub key: Option<String>,
    /// Session-level lines of a type this parser does not know, in order (printed before `a=`).
    pub unknown_lines: Vec<UnknownLine>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name on the originating host (`-` when none).
    pub username: String,
    /// Session identifier: a numeric string, kept as text because some senders exceed 64 bits.
    pub session_id: String,
    /// Session version; an offerer increments it whenever the description changes (RFC 3264 §8).
    pub session_version: u64,
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type.
    pub addr_type: AddrType,
    /// Address (or host name) of the originating machine.
    pub address: String,
}

/// The address type of `o=` and `c=` lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
    /// Anything else, kept verbatim.
    Other(String),
}

impl AddrType {
    /// The token as written in SDP.
    pub fn as_str(&self) -> &str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
            AddrType::Other(s) => s,
        }
    }

    pub(crate) fn from_token(t: &str) -> AddrType {
        if t.eq_ignore_ascii_case("IP4") {
            AddrType::Ip4
        } else if t.eq_ignore_ascii_case("IP6") {
            AddrType::Ip6
        } else {
            AddrType::Other(t.to_owned())
        }
    }
}

/// `c=<nettype> <addrtype> <connection-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type.
    pub addr_type: AddrType,
    /// The address without any multicast `/ttl/count` suffix: an IP literal or a host name.
    pub address: String,
    /// The multicast suffix after the first `/`, verbatim (`127/3`), if any.
    pub multicast_suffix: Option<String>,
}

impl Connection {
    /// The address as an IP, if it is an IP literal of the declared type.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self.addr_type {
            AddrType::Ip4 => self.address.parse::<std::net::Ipv4Addr>().ok().map(Into::into),
            AddrType::Ip6 => self.address.parse::<std::net::Ipv6Addr>().ok().map(Into::into),
            AddrType::Other(_) => None,
        }
    }

    /// `IN IP4 0.0.0.0` (or `::`): the RFC 2543 way of putting a call on hold.
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }

    /// A unicast `IN` connection for an IP address.
    pub fn from_ip(ip: std::net::IpAddr) -> Connection {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: if ip.is_ipv4() { AddrType::Ip4 } else { AddrType::Ip6 },
            address: ip.to_string(),
            multicast_suffix: None,
        }
    }
}

/// `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// `AS`, `CT`, `TIAS`, `RS`, `RR`, …
    pub kind: String,
    /// The value (kbit/s for AS and CT, bit/s for TIAS).
    pub value: u64,
}

/// `t=<start> <stop>` with the `r=` lines that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// NTP start time; 0 for unbounded.
    pub start: u64,
    /// NTP stop time; 0 for unbounded.
    pub stop: u64,
    /// `r=` lines, verbatim.
    pub repeats: Vec<String>,
}

/// `a=<name>` or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name (`rtpmap`, `sendonly`, …), case as received.
    pub name: String,
    /// The value after the first `:`, `None` for property attributes.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute such as `a=rtcp-mux`.
    pub fn flag(name: &str) -> Attribute {
        Attribute {
            name: name.to_owned(),
            value: None,
        }
    }

    /// A value attribute such as `a=ptime:20`.
    pub fn value(name: &str, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.to_owned(),
            value: Some(value.into()),
        }
    }
}

/// A line whose type letter this parser does not interpret, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLine {
    /// The type letter (the byte before `=`).
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `application`, `image`, …
    pub media: String,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix, if present.
    pub num_ports: Option<u16>,
    /// Transport protocol: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, …
    pub proto: String,
    /// Format list: RTP payload type numbers for RTP profiles.
    pub formats: Vec<String>,
    /// `i=`: media title.
    pub information: Option<String>,
    /// Media-level `c=` lines (usually zero or one).
    pub connections: Vec<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=`: encryption key (obsolete, kept verbatim).
    pub key: Option<String>,
    /// Lines of unknown type in this section, in order (printed before `a=`).
    pub unknown_lines: Vec<UnknownLine>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// A media section with no optional lines.
    pub fn new(media: &str, port: u16, proto: &str, formats: Vec<String>) -> MediaDescription {
        MediaDescription {
            media: media.to_owned(),
            port,
            num_ports: None,
            proto: proto.to_owned(),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            unknown_lines: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// Port 0: the stream was rejected (in an answer) or is disabled (in an offer).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The first attribute with this name (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attr(&self.attributes, name)
    }

    /// Whether an attribute with this name is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }
}

impl SessionDescription {
    /// The first session-level attribute with this name (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attr(&self.attributes, name)
    }

    /// The connection that applies to media section `index`: its own first `c=`, else the
    /// session-level one.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connections.first())
            .or(self.connection.as_ref())
    }
}

pub(crate) fn find_attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}
