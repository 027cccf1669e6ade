//! `cxb call SIP-URI --play IN.wav --record OUT.wav --seconds N`: a small softphone. Places one
//! call (INVITE with a PCMU/PCMA/G.722/opus offer), plays a WAV file as the microphone, records
//! what the far end sends (16 kHz mono WAV), hangs up after `--seconds` and prints a summary.
//! `--impair` degrades the RTP we send (loss, reordering, duplication, jitter) so tests can
//! inject network trouble on loopback.
//!
//! One thread: a tokio current-thread runtime drives the sans-IO [`UserAgent`] and
//! [`RtpMedia`] (a tick every 20 ms).

mod audio;
mod impair;
mod phone;
mod talk;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use cxb_sip::dialog::{EndReason, OutboundCall, UaConfig, UserAgent};
use cxb_sip::framing::{StreamEvent, StreamFramer};
use cxb_sip::header::Transport;
use cxb_sip::sdp::{AudioSession, Encoding, LocalCapabilities};
use cxb_sip::uri::{Host, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use impair::{ImpairSpec, Impairer};
use phone::{Outcome, Phone};

/// Arguments of `cxb call`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who to call: `sip:user@host[:port]` (IPv4/IPv6 literal or localhost; no DNS).
    pub target: String,
    /// WAV file played as the microphone once answered (any rate/channels; silence if absent).
    #[arg(long)]
    pub play: Option<PathBuf>,
    /// A line the caller says (espeak-ng), repeatable: each is said when the far end has finished
    /// talking; after the last one and the far end's answer, we hang up (`--seconds` still caps it).
    #[arg(long = "say", value_name = "TEXT", conflicts_with = "play")]
    pub say: Vec<String>,
    /// Barge in: say the first `--say` line this many ms after the far end starts talking,
    /// over it, and report how long the far end took to fall silent (as heard here).
    #[arg(long, value_name = "MS", requires = "say")]
    pub barge_in_after: Option<u64>,
    /// Where to write what the far end sends (16 kHz mono 16-bit WAV).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Hang up this many seconds after the answer.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Give up (CANCEL) when not answered within this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub ring_seconds: f64,
    /// Impair the RTP we send: `loss=5,reorder=5,dup=2,jitter=30` (percent, percent, percent, max ms).
    #[arg(long)]
    pub impair: Option<ImpairSpec>,
    /// Seed of the impairment's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Our user name (From and Contact).
    #[arg(long, default_value = "cxb")]
    pub from: String,
    /// Digest user name for 401/407 challenges.
    #[arg(long)]
    pub user: Option<String>,
    /// Digest password.
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    /// Codec offered first (the others follow): pcmu, pcma, g722 or opus.
    #[arg(long, value_enum, default_value = "g722")]
    pub codec: CodecArg,
    /// Signal over TCP instead of UDP.
    #[arg(long)]
    pub tcp: bool,
    /// Local address for SIP and RTP (default: loopback for a loopback target, else the route's).
    #[arg(long)]
    pub local_ip: Option<IpAddr>,
}

/// Codec names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (wideband, 16 kHz).
    G722,
    /// Opus.
    Opus,
}

impl CodecArg {
    fn encoding(self) -> Encoding {
        match self {
            CodecArg::Pcmu => Encoding::Pcmu,
            CodecArg::Pcma => Encoding::Pcma,
            CodecArg::G722 => Encoding::G722,
            CodecArg::Opus => Encoding::Opus,
        }
    }
}

/// A `sip:` target resolved to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URI as given (the Request-URI).
    pub uri: String,
    /// `user@host:port` or `host:port` for the To header.
    pub aor: String,
    /// Where to send.
    pub addr: SocketAddr,
}

/// Parses `sip:user@host[:port]` with an IP literal or `localhost` host.
pub fn parse_target(s: &str) -> anyhow::Result<Target> {
    let with_scheme = if s.starts_with("sip:") {
        s.to_owned()
    } else {
        format!("sip:{s}")
    };
    let uri = Uri::parse(&with_scheme).with_context(|| format!("{s}: not a SIP URI"))?;
    let ip = match uri.host() {
        Some(Host::Ipv4(a)) => IpAddr::V4(a),
        Some(Host::Ipv6(a)) => IpAddr::V6(a),
        Some(Host::Name(n)) if n.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => bail!("{s}: the host must be an IP address or localhost (no DNS lookups)"),
    };
    let port = uri.port().unwrap_or(5060);
    let hostport = format!("{}:{port}", uri.host_str());
    let aor = match uri.user() {
        Some(u) => format!("{u}@{hostport}"),
        None => hostport,
    };
    Ok(Target {
        uri: with_scheme.clone(),
        aor,
        addr: SocketAddr::new(ip, port),
    })
}

/// The address we advertise: given, loopback for a loopback target, else the one the kernel
/// routes to the target from.
fn local_ip_for(target: SocketAddr, given: Option<IpAddr>) -> anyhow::Result<IpAddr> {
    if let Some(ip) = given {
        return Ok(ip);
    }
    match target.ip() {
        IpAddr::V4(a) if a.is_loopback() => return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(a) if a.is_loopback() => return Ok(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        _ => {}
    }
    let any: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = std::net::UdpSocket::bind(any)?;
    probe.connect(target).context("no route to the target")?;
    Ok(probe.local_addr()?.ip())
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(a) => format!("[{a}]"),
        a => a.to_string(),
    }
}

/// The SIP side: a UDP socket, or one TCP connection with its framer.
#[derive(Debug)]
enum SipLink {
    Udp(UdpSocket),
    Tcp {
        stream: TcpStream,
        framer: StreamFramer,
        peer: SocketAddr,
    },
}

impl SipLink {
    async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match self {
            SipLink::Udp(s) => s.recv_from(buf).await,
            SipLink::Tcp { stream, peer, .. } => Ok((stream.read(buf).await?, *peer)),
        }
    }

    async fn send(&mut self, payload: &[u8], to: SocketAddr) -> std::io::Result<()> {
        match self {
            SipLink::Udp(s) => s.send_to(payload, to).await.map(drop),
            SipLink::Tcp { stream, .. } => stream.write_all(payload).await,
        }
    }
}

/// What woke the loop.
enum Wake {
    Sip(std::io::Result<(usize, SocketAddr)>),
    Rtp(std::io::Result<(usize, SocketAddr)>),
    Timer,
    Interrupt,
}

/// Places the call described by `args`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(call(args))
}

async fn call(args: Args) -> anyhow::Result<ExitCode> {
    let target = parse_target(&args.target)?;
    let mic = match &args.play {
        Some(p) => audio::read_as_16k_mono(p)?,
        None => Vec::new(),
    };
    let mut talk = talk::Talk::new(&args.say)?;
    if let Some(ms) = args.barge_in_after {
        talk = talk.barge_in_after(Duration::from_millis(ms));
    }
    let ip = local_ip_for(target.addr, args.local_ip)?;
    let bind_ip = if args.local_ip.is_some() || ip.is_loopback() {
        ip
    } else if ip.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let rtp = UdpSocket::bind((bind_ip, 0))
        .await
        .context("cannot bind the RTP socket")?;
    let rtp_port = rtp.local_addr()?.port();
    let (mut link, sip_port) = if args.tcp {
        let stream = TcpStream::connect(target.addr)
            .await
            .with_context(|| format!("cannot connect to {} over TCP", target.addr))?;
        let port = stream.local_addr()?.port();
        let framer = StreamFramer::default();
        (
            SipLink::Tcp {
                stream,
                framer,
                peer: target.addr,
            },
            port,
        )
    } else {
        let s = UdpSocket::bind((bind_ip, 0))
            .await
            .context("cannot bind the SIP socket")?;
        let port = s.local_addr()?.port();
        (SipLink::Udp(s), port)
    };
    let transport = if args.tcp { Transport::Tcp } else { Transport::Udp };
    let start = Instant::now();
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut cfg = UaConfig::new(SocketAddr::new(ip, sip_port));
    cfg.transport = transport;
    cfg.contact_user = args.from.clone();
    cfg.user_agent = format!("cxb-call/{}", env!("CARGO_PKG_VERSION"));
    cfg.seed = splitmix(&mut seed);
    let mut ua = UserAgent::new(cfg);
    let mut caps = LocalCapabilities::new(ip, rtp_port);
    caps.session_name = "cxb call".into();
    let first = args.codec.encoding();
    caps.codecs.sort_by_key(|c| !c.encoding.same_as(&first));
    let mut sdp = AudioSession::new(caps, splitmix(&mut seed) >> 1, 1);
    let offer = Bytes::from(sdp.create_offer().to_string());
    let handle = ua
        .invite(
            start,
            OutboundCall {
                request_uri: target.uri.clone(),
                from: format!("<sip:{}@{}>", args.from, host_of(ip)),
                to: format!("<sip:{}>", target.aor),
                destination: target.addr,
                offer: Some(offer),
                extra_headers: Vec::new(),
                credentials: args
                    .user
                    .clone()
                    .map(|u| (u, args.password.clone().unwrap_or_default())),
                call_id: None,
            },
        )
        .context("cannot send INVITE")?;
    let mut phone = Phone {
        media: None,
        ring: None,
        recording: Vec::new(),
        mic,
        mic_pos: 0,
        talk,
        impairer: args
            .impair
            .filter(|s| !s.is_none())
            .map(|s| Impairer::new(s, args.seed)),
        ssrc: splitmix(&mut seed) as u32,
        start,
        wallclock: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    };
    let mut out = Outcome::default();
    let hangup_after = Duration::from_secs_f64(args.seconds.max(0.0));
    let ring_deadline = start + Duration::from_secs_f64(args.ring_seconds.max(0.0));
    let mut hung_up = false;
    // Unanswered and nothing heard back: no CANCEL can go out (RFC 3261 §9.1); stop waiting.
    let mut give_up_at: Option<Instant> = None;
    let mut next_tick = start;
    let mut sip_buf = vec![0u8; 65_536];
    let mut rtp_buf = vec![0u8; 2048];
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut interrupted = false;
    loop {
        flush_sip(&mut ua, &mut link).await;
        while let Some(ev) = ua.poll_event() {
            phone.on_event(Instant::now(), ev, handle, &mut sdp, &mut ua, &mut out);
        }
        flush_sip(&mut ua, &mut link).await;
        let now = Instant::now();
        if let Some((at, reason)) = out.ended {
            let linger = if reason == EndReason::LocalBye { 300 } else { 50 };
            if now >= at + Duration::from_millis(linger) {
                break;
            }
        } else if give_up_at.is_some_and(|t| now >= t) {
            out.failure.get_or_insert_with(|| "no response".into());
            break;
        } else if !hung_up {
            let due = match out.answered {
                Some(a) => now >= a + hangup_after || phone.talk.finished(),
                None => now >= ring_deadline,
            };
            if due || interrupted {
                hung_up = true;
                if out.answered.is_none() && !interrupted {
                    out.failure = Some(format!("no answer within {} s", args.ring_seconds));
                }
                let _ = ua.hangup(now, handle);
                if out.answered.is_none() {
                    give_up_at = Some(now + Duration::from_secs(2));
                }
                continue;
            }
        }
        let mut wake = next_tick;
        if let Some(t) = give_up_at {
            wake = wake.min(t);
        }
        if let Some(t) = ua.poll_timeout() {
            wake = wake.min(t);
        }
        if let Some(d) = phone.impairer.as_ref().and_then(Impairer::next_due) {
            wake = wake.min(start + d);
        }
        let w = tokio::select! {
            r = link.recv(&mut sip_buf) => Wake::Sip(r),
            r = rtp.recv_from(&mut rtp_buf) => Wake::Rtp(r),
            _ = tokio::time::sleep_until(wake.max(now).into()) => Wake::Timer,
            _ = &mut interrupt, if !interrupted => Wake::Interrupt,
        };
        let now = Instant::now();
        match w {
            Wake::Sip(Ok((0, _))) if args.tcp => {
                if out.ended.is_none() {
                    out.failure
                        .get_or_insert_with(|| "the SIP connection was closed".into());
                }
                break;
            }
            Wake::Sip(Ok((n, src))) => on_sip(&mut ua, &mut link, now, &sip_buf[..n], src),
            Wake::Sip(Err(_)) => {}
            Wake::Rtp(Ok((n, src))) => {
                if let Some(m) = phone.media.as_mut() {
                    m.on_rtp(now - start, src, &rtp_buf[..n]);
                }
            }
            Wake::Rtp(Err(_)) | Wake::Timer => {}
            Wake::Interrupt => interrupted = true,
        }
        if ua.poll_timeout().is_some_and(|t| t <= now) {
            ua.handle_timeout(now);
        }
        if now >= next_tick {
            phone.tick(now, out.answered.is_some(), &rtp);
            next_tick += Duration::from_millis(20);
            if next_tick + Duration::from_millis(200) < now {
                next_tick = now;
            }
        }
        phone.release_impaired(now, &rtp);
    }
    phone.finish(&args, &out)
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn on_sip(ua: &mut UserAgent, link: &mut SipLink, now: Instant, data: &[u8], src: SocketAddr) {
    match link {
        SipLink::Udp(_) => ua.handle_datagram(now, Bytes::copy_from_slice(data), src, Transport::Udp),
        SipLink::Tcp { framer, .. } => {
            framer.push(data);
            // Malformed or fatal framing: drop what is buffered; the transaction layer retries.
            while let Ok(Some(ev)) = framer.poll() {
                if let StreamEvent::Message(msg) = ev {
                    ua.handle_message(now, msg, src, Transport::Tcp);
                }
            }
        }
    }
}

async fn flush_sip(ua: &mut UserAgent, link: &mut SipLink) {
    while let Some(t) = ua.poll_transmit() {
        if link.send(&t.payload, t.destination).await.is_err()
            && let Some(tx) = t.tx
        {
            ua.handle_transport_error(Instant::now(), tx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::phone::is_rtcp;
    use super::*;

    #[test]
    fn targets_take_ip_literals_and_localhost_only() {
        let t = parse_target("sip:demo@127.0.0.1:5080").unwrap();
        assert_eq!(t.addr, "127.0.0.1:5080".parse().unwrap());
        assert_eq!(t.aor, "demo@127.0.0.1:5080");
        let t = parse_target("sip:demo@[::1]:5070").unwrap();
        assert_eq!(t.addr, "[::1]:5070".parse().unwrap());
        assert_eq!(t.aor, "demo@[::1]:5070");
        let t = parse_target("demo@localhost").unwrap();
        assert_eq!(t.addr, "127.0.0.1:5060".parse().unwrap());
        assert_eq!(t.uri, "sip:demo@localhost");
        assert!(parse_target("sip:demo@example.com").is_err());
        assert!(parse_target("sip:demo@").is_err());
    }

    #[test]
    fn local_ip_follows_the_target() {
        let lo4: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        assert_eq!(local_ip_for(lo4, None).unwrap(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let lo6: SocketAddr = "[::1]:5060".parse().unwrap();
        assert_eq!(local_ip_for(lo6, None).unwrap(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        let given = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(local_ip_for(lo4, Some(given)).unwrap(), given);
    }

    #[test]
    fn rtcp_is_told_from_rtp() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0, 0, 1]));
        assert!(!is_rtcp(&[0x80]));
    }
}
