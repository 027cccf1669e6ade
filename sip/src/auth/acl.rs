//! Source-address access control: allow/deny lists of CIDR blocks (IPv4 and IPv6) for inbound
//! SIP, the "IP ACL" half of trunk authentication.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A CIDR block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The address part is not an IP address.
    #[error("not an IP address")]
    BadAddress,
    /// The prefix length is not a number within the address size.
    #[error("bad prefix length")]
    BadPrefix,
}

fn to_u128(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    /// A block from an address and prefix length; host bits are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let (bits, width) = to_u128(addr);
        if prefix > width {
            return Err(CidrError::BadPrefix);
        }
        let masked = bits & mask(prefix, width);
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::V4((masked as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(masked.into()),
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the block (IPv4-mapped IPv6 sources match IPv4 blocks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalise(ip);
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (a, width) = to_u128(self.addr);
        let (b, _) = to_u128(ip);
        (a ^ b) & mask(self.prefix, width) == 0
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - u32::from(prefix))) >> (128 - u32::from(width))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| CidrError::BadAddress)?;
        let addr = normalise(addr);
        let width = to_u128(addr).1;
        let prefix = match p {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| CidrError::BadPrefix)?
            }
            Some(_) => return Err(CidrError::BadPrefix),
            None => width,
        };
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Allow and deny lists. Deny wins; an empty allow list allows everyone not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAcl {
    /// Blocks allowed in.
    pub allow: Vec<Cidr>,
    /// Blocks refused, even if allowed.
    pub deny: Vec<Cidr>,
}

impl IpAcl {
    /// Whether a request from `source` may proceed.
    pub fn permits(&self, source: IpAddr) -> bool {
        !self.deny.iter().any(|c| c.contains(source))
            && (self.allow.is_empty() || self.allow.iter().any(|c| c.contains(source)))
    }
}
