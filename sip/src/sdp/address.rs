//! Remote media addresses and whether they can be trusted (carrier NAT realism).
//!
//! Softphones behind NAT and some SBCs advertise private or otherwise unroutable addresses in SDP.
//! Such an address is only a hint: the dataplane should latch onto the source address of the first
//! RTP packets it receives (symmetric RTP, RFC 4961) instead of sending to it blindly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A remote transport address taken from SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteAddr {
    /// The IP from `c=` (or `a=rtcp`); `0.0.0.0` when the SDP named a host instead of an IP.
    pub ip: IpAddr,
    /// The port from `m=` (or `a=rtcp`).
    pub port: u16,
}

impl RemoteAddr {
    /// As a socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// True when the address cannot be used as-is from the public internet: RFC 1918, CGNAT
    /// (100.64/10), loopback, link-local, unspecified (hold), multicast, broadcast, documentation,
    /// IPv6 ULA/link-local, or port 0. Latch to the observed RTP source instead.
    pub fn is_private_or_unusable(&self) -> bool {
        self.port == 0 || ip_is_private_or_unusable(self.ip)
    }
}

/// See [`RemoteAddr::is_private_or_unusable`].
pub fn ip_is_private_or_unusable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_unusable(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_unusable(v4),
            None => v6_unusable(v6),
        },
    }
}

fn v4_unusable(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || o[0] >= 240
}

fn v6_unusable(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
}
