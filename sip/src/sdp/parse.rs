//! Parsing session descriptions from bytes: line splitting, limits and per-line grammar.
//!
//! Lenient where real peers are sloppy (bare LF, trailing blanks, blank lines, runs of spaces,
//! `a=` before `c=`), strict where a wrong guess would send media to the wrong place (bad ports,
//! bad addresses, missing mandatory lines).

use super::model::{
    AddrType, Attribute, Bandwidth, Connection, MediaDescription, Origin, SessionDescription, Timing, UnknownLine,
};

/// Size limits applied while parsing, so hostile input costs bounded work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of non-empty lines.
    pub max_lines: usize,
    /// Maximum length of one line in bytes, without the line ending.
    pub max_line_len: usize,
    /// Maximum number of `m=` sections.
    pub max_media: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 512,
            max_line_len: 4096,
            max_media: 16,
        }
    }
}

/// Why a session description was refused. `line` fields are 1-based counts of non-empty lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// More lines than [`Limits::max_lines`].
    #[error("SDP has more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// A line longer than [`Limits::max_line_len`].
    #[error("SDP line {line} is {len} bytes, limit {max}")]
    LineTooLong {
        /// Line number.
        line: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More `m=` sections than [`Limits::max_media`].
    #[error("SDP has more than {max} media sections")]
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// A line that is not `<letter>=<value>`.
    #[error("SDP line {line} is not of the form <type>=<value>")]
    MalformedLine {
        /// Line number.
        line: usize,
    },
    /// A line that is not valid UTF-8.
    #[error("SDP line {line} is not valid UTF-8")]
    NotUtf8 {
        /// Line number.
        line: usize,
    },
    /// A mandatory line (`v`, `o`, `s` or `t`) is absent.
    #[error("SDP has no {kind}= line")]
    Missing {
        /// The missing line type.
        kind: char,
    },
    /// A line that may appear once appears again.
    #[error("SDP line {line}: duplicate {kind}= line")]
    Duplicate {
        /// Line number.
        line: usize,
        /// The line type.
        kind: char,
    },
    /// `v=` other than `0`.
    #[error("SDP line {line}: unsupported version")]
    BadVersion {
        /// Line number.
        line: usize,
    },
    /// `o=` without six fields or with a non-numeric version.
    #[error("SDP line {line}: malformed o= line")]
    BadOrigin {
        /// Line number.
        line: usize,
    },
    /// `c=` without three fields.
    #[error("SDP line {line}: malformed c= line")]
    BadConnection {
        /// Line number.
        line: usize,
    },
    /// `c=` whose address is neither an IP literal of the declared type nor a host name.
    #[error("SDP line {line}: bad connection address")]
    BadConnectionAddress {
        /// Line number.
        line: usize,
    },
    /// `b=` that is not `<type>:<number>`.
    #[error("SDP line {line}: malformed b= line")]
    BadBandwidth {
        /// Line number.
        line: usize,
    },
    /// `t=` that is not two numbers, or `r=` before any `t=`.
    #[error("SDP line {line}: malformed t= or r= line")]
    BadTiming {
        /// Line number.
        line: usize,
    },
    /// `m=` with fewer than three fields.
    #[error("SDP line {line}: malformed m= line")]
    BadMediaLine {
        /// Line number.
        line: usize,
    },
    /// `m=` whose port (or port count) is not a number in 0..=65535.
    #[error("SDP line {line}: bad port in m= line")]
    BadPort {
        /// Line number.
        line: usize,
    },
}

impl SessionDescription {
    /// Parses with the default [`Limits`].
    pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
        Self::parse_with_limits(input, &Limits::default())
    }

    /// Parses a session description; CRLF or bare LF line endings.
    pub fn parse_with_limits(input: &[u8], limits: &Limits) -> Result<SessionDescription, SdpError> {
        let mut b = Builder::default();
        let mut line_no = 0usize;
        for raw in input.split(|&c| c == b'\n') {
            let raw = trim_end(raw);
            if raw.is_empty() {
                continue;
            }
            line_no += 1;
            if line_no > limits.max_lines {
                return Err(SdpError::TooManyLines { max: limits.max_lines });
            }
            if raw.len() > limits.max_line_len {
                return Err(SdpError::LineTooLong {
                    line: line_no,
                    len: raw.len(),
                    max: limits.max_line_len,
                });
            }
            if raw.len() < 2 || raw[1] != b'=' || !raw[0].is_ascii_alphabetic() {
                return Err(SdpError::MalformedLine { line: line_no });
            }
            let value = std::str::from_utf8(&raw[2..]).map_err(|_| SdpError::NotUtf8 { line: line_no })?;
            b.line(line_no, raw[0] as char, value, limits)?;
        }
        b.finish()
    }
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if matches!(last, b'\r' | b' ' | b'\t') {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[derive(Default)]
struct Builder {
    version: bool,
    origin: Option<Origin>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    times: Vec<Timing>,
    time_zones: Option<String>,
    key: Option<String>,
    unknown_lines: Vec<UnknownLine>,
    attributes: Vec<Attribute>,
    media: Vec<MediaDescription>,
}

fn set_once(slot: &mut Option<String>, value: &str, line: usize, kind: char) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(SdpError::Duplicate { line, kind });
    }
    *slot = Some(value.to_owned());
    Ok(())
}

impl Builder {
    fn line(&mut self, line: usize, kind: char, value: &str, limits: &Limits) -> Result<(), SdpError> {
        if kind == 'm' {
            if self.media.len() >= limits.max_media {
                return Err(SdpError::TooManyMedia { max: limits.max_media });
            }
            self.media.push(parse_media(line, value)?);
            return Ok(());
        }
        if let Some(m) = self.media.last_mut() {
            return media_line(m, line, kind, value);
        }
        match kind {
            'v' => {
                if self.version {
                    return Err(SdpError::Duplicate { line, kind });
                }
                if value.trim() != "0" {
                    return Err(SdpError::BadVersion { line });
                }
                self.version = true;
            }
            'o' => {
                if self.origin.is_some() {
                    return Err(SdpError::Duplicate { line, kind });
                }
                self.origin = Some(parse_origin(line, value)?);
            }
            's' => set_once(&mut self.session_name, value, line, kind)?,
            'i' => set_once(&mut self.information, value, line, kind)?,
            'u' => set_once(&mut self.uri, value, line, kind)?,
            'e' => self.emails.push(value.to_owned()),
            'p' => self.phones.push(value.to_owned()),
            'c' => {
                if self.connection.is_some() {
                    return Err(SdpError::Duplicate { line, kind });
                }
                self.connection = Some(parse_connection(line, value)?);
            }
            'b' => self.bandwidths.push(parse_bandwidth(line, value)?),
            't' => self.times.push(parse_timing(line, value)?),
            'r' => match self.times.last_mut() {
                Some(t) => t.repeats.push(value.to_owned()),
                None => return Err(SdpError::BadTiming { line }),
            },
            'z' => set_once(&mut self.time_zones, value, line, kind)?,
            'k' => set_once(&mut self.key, value, line, kind)?,
            'a' => self.attributes.push(parse_attribute(value)),
            _ => self.unknown_lines.push(UnknownLine {
                kind,
                value: value.to_owned(),
            }),
        }
        Ok(())
    }

    fn finish(self) -> Result<SessionDescription, SdpError> {
        if !self.version {
            return Err(SdpError::Missing { kind: 'v' });
        }
        let origin = self.origin.ok_or(SdpError::Missing { kind: 'o' })?;
        let session_name = self.session_name.ok_or(SdpError::Missing { kind: 's' })?;
        if self.times.is_empty() {
            return Err(SdpError::Missing { kind: 't' });
        }
        Ok(SessionDescription {
            origin,
            session_name,
            information: self.information,
            uri: self.uri,
            emails: self.emails,
            phones: self.phones,
            connection: self.connection,
            bandwidths: self.bandwidths,
            times: self.times,
            time_zones: self.time_zones,
            key: self.key,
            unknown_lines: self.unknown_lines,
            attributes: self.attributes,
            media: self.media,
        })
    }
}

fn media_line(m: &mut MediaDescription, line: usize, kind: char, value: &str) -> Result<(), SdpError> {
    match kind {
        'i' => set_once(&mut m.information, value, line, kind)?,
        'c' => m.connections.push(parse_connection(line, value)?),
        'b' => m.bandwidths.push(parse_bandwidth(line, value)?),
        'k' => set_once(&mut m.key, value, line, kind)?,
        'a' => m.attributes.push(parse_attribute(value)),
        _ => m.unknown_lines.push(UnknownLine {
            kind,
            value: value.to_owned(),
        }),
    }
    Ok(())
}

fn parse_origin(line: usize, value: &str) -> Result<Origin, SdpError> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, version, net_type, addr_type, address] = f[..] else {
        return Err(SdpError::BadOrigin { line });
    };
    let session_version = version.parse::<u64>().map_err(|_| SdpError::BadOrigin { line })?;
    Ok(Origin {
        username: username.to_owned(),
        session_id: session_id.to_owned(),
        session_version,
        net_type: net_type.to_owned(),
        addr_type: AddrType::from_token(addr_type),
        address: address.to_owned(),
    })
}

/// Parses the value of a `c=` line (also used for the address part of `a=rtcp`).
pub(crate) fn parse_connection(line: usize, value: &str) -> Result<Connection, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let (Some(net_type), Some(addr_type), Some(addr), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(SdpError::BadConnection { line });
    };
    let (address, multicast_suffix) = match addr.split_once('/') {
        Some((a, s)) => (a, Some(s.to_owned())),
        None => (addr, None),
    };
    let addr_type = AddrType::from_token(addr_type);
    let ok = match addr_type {
        AddrType::Ip4 => address.parse::<std::net::Ipv4Addr>().is_ok() || is_host_name(address),
        AddrType::Ip6 => address.parse::<std::net::Ipv6Addr>().is_ok() || is_host_name(address),
        AddrType::Other(_) => !address.is_empty(),
    };
    if !ok {
        return Err(SdpError::BadConnectionAddress { line });
    }
    Ok(Connection {
        net_type: net_type.to_owned(),
        addr_type,
        address: address.to_owned(),
        multicast_suffix,
    })
}

/// A DNS name: dot-separated labels of letters, digits and `-`, the last starting with a letter.
fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        && s.rsplit('.')
            .next()
            .is_some_and(|l| l.as_bytes()[0].is_ascii_alphabetic())
}

fn parse_bandwidth(line: usize, value: &str) -> Result<Bandwidth, SdpError> {
    let (kind, v) = value.split_once(':').ok_or(SdpError::BadBandwidth { line })?;
    let kind = kind.trim();
    if kind.is_empty() || kind.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(SdpError::BadBandwidth { line });
    }
    let value = v.trim().parse::<u64>().map_err(|_| SdpError::BadBandwidth { line })?;
    Ok(Bandwidth {
        kind: kind.to_owned(),
        value,
    })
}

fn parse_timing(line: usize, value: &str) -> Result<Timing, SdpError> {
    let mut it = value.split_ascii_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(start)), Some(Ok(stop)), None) => Ok(Timing {
            start,
            stop,
            repeats: Vec::new(),
        }),
        _ => Err(SdpError::BadTiming { line }),
    }
}

fn parse_media(line: usize, value: &str) -> Result<MediaDescription, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
        return Err(SdpError::BadMediaLine { line });
    };
    let (port, num_ports) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse::<u16>().map_err(|_| SdpError::BadPort { line })?)),
        None => (port, None),
    };
    let port = port.parse::<u16>().map_err(|_| SdpError::BadPort { line })?;
    let mut m = MediaDescription::new(media, port, proto, it.map(str::to_owned).collect());
    m.num_ports = num_ports;
    Ok(m)
}

fn parse_attribute(value: &str) -> Attribute {
    match value.split_once(':') {
        Some((name, v)) => Attribute {
            name: name.to_owned(),
            value: Some(v.to_owned()),
        },
        None => Attribute {
            name: value.to_owned(),
            value: None,
        },
    }
}
