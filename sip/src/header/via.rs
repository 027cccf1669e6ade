//! The Via header (RFC 3261 §20.42, RFC 3581 rport).

use std::fmt;

use super::params::{Params, parse_params};
use super::scan::{Cursor, is_token_char};
use crate::error::HeaderFault;
use crate::uri::Host;

/// Transport named in a Via sent-protocol or a `transport=` URI parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS over TCP
    Tls,
    /// SCTP
    Sctp,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket (RFC 7118)
    Wss,
    /// Anything else (see the raw transport string).
    Other,
}

impl Transport {
    /// Decodes a transport name case-insensitively.
    pub fn from_name(s: &str) -> Transport {
        match s.len() {
            2 if s.eq_ignore_ascii_case("ws") => Transport::Ws,
            3 if s.eq_ignore_ascii_case("udp") => Transport::Udp,
            3 if s.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            3 if s.eq_ignore_ascii_case("tls") => Transport::Tls,
            3 if s.eq_ignore_ascii_case("wss") => Transport::Wss,
            4 if s.eq_ignore_ascii_case("sctp") => Transport::Sctp,
            _ => Transport::Other,
        }
    }

    /// Upper-case name as used in Via (`UDP`, `TCP`, …); `""` for [`Transport::Other`].
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other => "",
        }
    }

    /// Whether the transport is reliable (stream framed, no retransmissions of requests).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp | Transport::Other)
    }
}

/// The `rport` Via parameter (RFC 3581).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RPort {
    /// `;rport` without a value: the client asks for it to be filled in.
    Requested,
    /// `;rport=5060` as filled in by the server.
    Value(u16),
}

/// One Via value: `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name (normally `SIP`).
    pub protocol_name: &'a str,
    /// Protocol version (normally `2.0`).
    pub protocol_version: &'a str,
    /// Transport as written (e.g. `UDP`).
    pub transport_str: &'a str,
    /// Decoded transport.
    pub transport: Transport,
    /// sent-by host as written (IPv6 in brackets).
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// Via parameters (branch, received, rport, maddr, ttl, others).
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parses one Via value (a single element of a possibly comma-separated header).
    pub fn parse(s: &'a str) -> Result<Via<'a>, HeaderFault> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let protocol_name = c.token();
        if protocol_name.is_empty() || !c.eat_sep(b'/') {
            return Err(HeaderFault::SentProtocol);
        }
        let protocol_version = c.token();
        if protocol_version.is_empty() || !c.eat_sep(b'/') {
            return Err(HeaderFault::SentProtocol);
        }
        let transport_str = c.token();
        if transport_str.is_empty() {
            return Err(HeaderFault::SentProtocol);
        }
        let before = c.pos;
        c.skip_ws();
        if c.pos == before {
            return Err(HeaderFault::HostPort);
        }
        let host_start = c.pos;
        let host = if c.peek() == Some(b'[') {
            c.take_while(|b| b != b']');
            if !c.eat(b']') {
                return Err(HeaderFault::HostPort);
            }
            &s[host_start..c.pos]
        } else {
            c.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        if Host::parse(host).is_none() {
            return Err(HeaderFault::HostPort);
        }
        let mut port = None;
        if c.eat_sep(b':') {
            let digits = c.take_while(|b| b.is_ascii_digit());
            let p: u32 = if digits.is_empty() || digits.len() > 5 {
                return Err(HeaderFault::HostPort);
            } else {
                digits.parse().map_err(|_| HeaderFault::HostPort)?
            };
            port = Some(u16::try_from(p).map_err(|_| HeaderFault::HostPort)?);
        }
        let params = parse_params(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(if c.peek().is_some_and(is_token_char) {
                HeaderFault::HostPort
            } else {
                HeaderFault::Trailing
            });
        }
        for (name, value) in params.iter() {
            let bad = match name.to_ascii_lowercase().as_str() {
                "rport" => value.is_some_and(|v| v.parse::<u16>().is_err()),
                "ttl" => value.is_none_or(|v| v.parse::<u8>().is_err()),
                "branch" | "received" | "maddr" => value.is_none(),
                _ => false,
            };
            if bad {
                return Err(HeaderFault::Param);
            }
        }
        Ok(Via {
            protocol_name,
            protocol_version,
            transport_str,
            transport: Transport::from_name(transport_str),
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// Whether the branch starts with the RFC 3261 magic cookie `z9hG4bK`.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }

    /// The `rport` parameter (RFC 3581).
    pub fn rport(&self) -> Option<RPort> {
        match self.params.get("rport")? {
            None => Some(RPort::Requested),
            Some(v) => v.parse().ok().map(RPort::Value),
        }
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.get("ttl").flatten().and_then(|v| v.parse().ok())
    }

    /// The decoded sent-by host.
    pub fn host(&self) -> Option<Host<'a>> {
        Host::parse(self.host)
    }
}

/// Formats a Via value for a request we send: `SIP/2.0/{transport} {host}[:{port}];branch={branch}[;rport]`.
#[derive(Debug, Clone, Copy)]
pub struct ViaSpec<'a> {
    /// Transport.
    pub transport: Transport,
    /// sent-by host (IPv6 in brackets).
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// Branch (should start with `z9hG4bK`).
    pub branch: &'a str,
    /// Whether to add `;rport` (RFC 3581).
    pub rport: bool,
}

impl fmt::Display for ViaSpec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport.as_str(), self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, ";branch={}", self.branch)?;
        if self.rport {
            f.write_str(";rport")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;rport;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.port, None);
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert_eq!(v.rport(), Some(RPort::Requested));
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9]:5061 ; branch = z9hG4bK1 ;received=10.0.0.1;rport=1234").unwrap();
        assert_eq!(v.host, "[2001:db8::9]");
        assert_eq!(v.port, Some(5061));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.received(), Some("10.0.0.1"));
        assert_eq!(v.rport(), Some(RPort::Value(1234)));
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0 host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:99999",
            "",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
        let spec = ViaSpec {
            transport: Transport::Udp,
            host: "10.0.0.1",
            port: Some(5060),
            branch: "z9hG4bKx",
            rport: true,
        };
        assert_eq!(spec.to_string(), "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport");
        assert!(Via::parse(&spec.to_string()).is_ok());
    }
}
