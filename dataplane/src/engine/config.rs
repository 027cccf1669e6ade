//! Dataplane settings (`cxb dataplane` flags; `cxb up` fills them with embedded defaults).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

/// Everything a dataplane process needs to start.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// Number of shards (pinned threads). Defaults to the number of cores.
    pub shards: usize,
    /// Pin shard `i` to core `i` (off in tests that run many dataplanes on 2 cores).
    pub pin_threads: bool,
    /// Receive every call's media on the shard's io_uring receive ring (multishot receive);
    /// `false`: one task per socket.
    pub recv_ring: bool,
    /// SIP listen address, UDP and TCP (default `0.0.0.0:5060`).
    pub sip_bind: SocketAddr,
    /// Address written into Via, Contact and SDP. Defaults to the bind address, or when that is
    /// unspecified (`0.0.0.0`), the host's primary address.
    pub advertised_ip: Option<IpAddr>,
    /// RTP port range (inclusive start, exclusive end), split evenly between shards.
    pub rtp_ports: (u16, u16),
    /// Internal HTTP (dial API, WebSocket media streams, capacity) listen address.
    pub http_bind: SocketAddr,
    /// Calls one shard accepts before answering 503.
    pub calls_per_shard: u32,
    /// Data directory: recordings, record spool.
    pub data_dir: PathBuf,
    /// Where recordings go (default: local files under `<data_dir>/recordings`).
    pub recordings: crate::recording::Storage,
    /// Bots and DID mappings (JSON `DataplaneSnapshot`); `None` = the embedded demo bot.
    pub bots_file: Option<PathBuf>,
    /// Control base URL for call records (`None` = records stay in the spool).
    pub control_url: Option<String>,
    /// Shared secret for the internal HTTP API and record delivery.
    pub internal_secret: String,
    /// Shared-memory file the fleet capacity is written to.
    pub fleet_path: PathBuf,
    /// Answer delay after the first ring when the bot does not set one.
    pub default_answer_delay: Duration,
    /// espeak-ng binary (ringback and fallback synthesis).
    pub espeak: PathBuf,
    /// Every bot's STT/LLM/TTS use this provider instead of their own (`sim` for load runs).
    pub providers: Option<cxb_model::ProviderKind>,
}

impl DataplaneConfig {
    /// Embedded defaults rooted at `data_dir`.
    pub fn embedded(data_dir: PathBuf) -> DataplaneConfig {
        let shards = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        DataplaneConfig {
            shards,
            pin_threads: true,
            recv_ring: true,
            sip_bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060)),
            advertised_ip: None,
            rtp_ports: (20000, 40000),
            http_bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 8081)),
            calls_per_shard: 2000,
            fleet_path: PathBuf::from(format!("/dev/shm/cxb-fleet-{}", std::process::id())),
            recordings: crate::recording::Storage::Local {
                root: data_dir.join("recordings"),
            },
            data_dir,
            bots_file: None,
            control_url: None,
            internal_secret: String::new(),
            default_answer_delay: Duration::from_millis(300),
            espeak: PathBuf::from("espeak-ng"),
            providers: None,
        }
    }

    /// The address peers must reach us on.
    pub fn public_ip(&self) -> IpAddr {
        if let Some(ip) = self.advertised_ip {
            return ip;
        }
        if !self.sip_bind.ip().is_unspecified() {
            return self.sip_bind.ip();
        }
        primary_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// RTP port range `[start, end)` of shard `i`, each even-aligned.
    pub fn shard_ports(&self, i: usize) -> (u16, u16) {
        let (lo, hi) = self.rtp_ports;
        let span = (u32::from(hi.saturating_sub(lo)) / self.shards.max(1) as u32) & !1;
        let start = u32::from(lo & !1) + span * i as u32;
        (start as u16, (start + span).min(u32::from(u16::MAX)) as u16)
    }
}

/// The source address the kernel would use for a default route. `connect` on a UDP socket sends
/// nothing; it only selects a route.
fn primary_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_port_ranges_do_not_overlap() {
        let mut c = DataplaneConfig::embedded(PathBuf::from("/tmp"));
        c.shards = 3;
        c.rtp_ports = (20001, 30000);
        let r: Vec<_> = (0..3).map(|i| c.shard_ports(i)).collect();
        for w in r.windows(2) {
            assert!(w[0].1 <= w[1].0);
        }
        assert!(r.iter().all(|(a, b)| a % 2 == 0 && b > a));
    }
}
