//! One SIP load-generator thread: a current-thread tokio runtime driving one sans-IO
//! [`UserAgent`] for its share of the calls, one SIP socket and one RTP socket (the far end's
//! RTP is told apart by its source port). Every 5 ms a quarter of the established calls send
//! their next 20 ms G.711 packet, so each call sends every 20 ms and the sends are spread.
//!
//! The RTP socket is read every millisecond, not on readiness, and each packet is timed by the
//! kernel's receive stamp (`SO_TIMESTAMPNS`). The socket is never registered with epoll, so the
//! dataplane's sends over loopback do not pay for waking this thread per packet (a cost no
//! remote peer puts on it: over loopback the sender's core delivers the datagram, wake-up
//! included).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cxb_sip::dialog::{CallHandle, EndReason, OutboundCall, UaConfig, UaEvent, UserAgent};
use cxb_sip::header::Transport;
use cxb_sip::sdp::{AudioSession, Encoding, LocalCapabilities, SessionDescription};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use tokio::net::UdpSocket;

use super::clip::{Clip, FRAME};
use super::rtpengine::{self, NgClient};
use super::stats::{GenStats, RxTrack};

/// Send sub-slots per 20 ms.
const PHASES: usize = 4;
/// Socket buffers (the kernel caps them at net.core.{r,w}mem_max).
const SOCK_BUF: usize = 4 << 20;
/// How often the RTP socket is drained.
const RTP_POLL: Duration = Duration::from_millis(1);

/// What one generator thread does.
#[derive(Debug, Clone)]
pub struct GenPlan {
    /// Where INVITEs go.
    pub target: SocketAddr,
    /// Request-URI.
    pub uri: String,
    /// To header (`<sip:…>`).
    pub to: String,
    /// Our address (SIP and RTP).
    pub local_ip: IpAddr,
    /// This thread's index and the thread count: it places calls `k` with `k % threads == index`.
    pub index: usize,
    /// Threads.
    pub threads: usize,
    /// Calls in the whole run.
    pub calls: usize,
    /// Setup rate of the whole run, calls/s.
    pub cps: f64,
    /// How long each call is held after the answer.
    pub hold: Duration,
    /// Common start.
    pub start: Instant,
    /// Give up on whatever is left at this time.
    pub deadline: Instant,
    /// The steady window (every call up, none hanging up), as offsets from `start`; jitter
    /// quantiles and late packets in the bounds come from it.
    pub steady: (Duration, Duration),
    /// rtpengine's ng address: relay every call's RTP through it.
    pub relay: Option<SocketAddr>,
}

/// One call of this thread.
#[derive(Debug)]
struct Slot {
    handle: Option<CallHandle>,
    sdp: AudioSession,
    invited: Instant,
    answered: Option<Instant>,
    remote: Option<SocketAddr>,
    hangup_at: Option<Instant>,
    bye_sent: bool,
    ended: bool,
    rx: RxTrack,
    seq: u16,
    ts: u32,
    ssrc: u32,
    frame: usize,
    /// Call-ID and tags given to rtpengine (relayed runs).
    ng_call: Option<String>,
}

#[derive(Debug)]
struct Gen {
    plan: GenPlan,
    clip: Arc<Clip>,
    ua: UserAgent,
    sip: Rc<UdpSocket>,
    rtp: Rc<std::net::UdpSocket>,
    slots: Vec<Slot>,
    by_handle: std::collections::HashMap<CallHandle, usize>,
    /// Remote RTP source port → slot + 1 (0: none).
    by_port: Vec<u32>,
    placed: usize,
    live: usize,
    stats: GenStats,
    packet: [u8; 12 + FRAME],
    /// rtpengine's ng socket (connected), when relaying.
    ng: Option<Rc<UdpSocket>>,
    /// Prepared calls of this thread, in placing order: SDP session, offer (rewritten by
    /// rtpengine when relaying), rtpengine Call-ID.
    prepared: std::collections::VecDeque<(AudioSession, Bytes, Option<String>)>,
}

/// Runs one generator thread to the end and returns what it measured.
pub fn run(plan: GenPlan, clip: Arc<Clip>) -> std::io::Result<GenStats> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let sip = Rc::new(bind(plan.local_ip)?);
        let rtp = Rc::new(bind_rtp(plan.local_ip)?);
        let sip_port = sip.local_addr()?.port();
        let rtp_port = rtp.local_addr()?.port();
        let prepared = prepare(&plan, rtp_port)?;
        let ng = match plan.relay {
            Some(a) => {
                let s = bind(plan.local_ip)?;
                s.connect(a).await?;
                Some(Rc::new(s))
            }
            None => None,
        };
        let mut cfg = UaConfig::new(SocketAddr::new(plan.local_ip, sip_port));
        cfg.contact_user = "load".into();
        cfg.user_agent = format!("cxb-load/{}", env!("CARGO_PKG_VERSION"));
        cfg.seed = 0x9e37_79b9_7f4a_7c15 ^ (plan.index as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let g = Rc::new(RefCell::new(Gen {
            ua: UserAgent::new(cfg),
            sip: sip.clone(),
            rtp: rtp.clone(),
            slots: Vec::new(),
            by_handle: std::collections::HashMap::new(),
            by_port: vec![0; 65_536],
            placed: 0,
            live: 0,
            stats: GenStats::default(),
            packet: [0; 12 + FRAME],
            ng: ng.clone(),
            prepared,
            clip,
            plan,
        }));
        let sip_task = tokio::task::spawn_local(sip_rx(g.clone(), sip));
        let rtp_task = tokio::task::spawn_local(rtp_rx(g.clone(), rtp));
        let ng_task = ng.map(|s| tokio::task::spawn_local(ng_rx(g.clone(), s)));
        ticker(g.clone()).await;
        sip_task.abort();
        rtp_task.abort();
        if let Some(t) = ng_task {
            t.abort();
        }
        let stats = g.borrow_mut().finish();
        Ok(stats)
    })
}

fn bind(ip: IpAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::from_std(bind_std(ip)?)
}

fn bind_std(ip: IpAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind((ip, 0))?;
    let s2 = socket2::SockRef::from(&s);
    let _ = s2.set_recv_buffer_size(SOCK_BUF);
    let _ = s2.set_send_buffer_size(SOCK_BUF);
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The RTP socket: non-blocking, kernel receive stamps on, not registered with the reactor.
fn bind_rtp(ip: IpAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = bind_std(ip)?;
    setsockopt(&s, sockopt::ReceiveTimestampns, &true).map_err(std::io::Error::from)?;
    Ok(s)
}

async fn sip_rx(g: Rc<RefCell<Gen>>, sock: Rc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let mut g = g.borrow_mut();
        let now = Instant::now();
        g.ua.handle_datagram(now, Bytes::copy_from_slice(&buf[..n]), src, Transport::Udp);
        g.pump(now);
    }
}

/// Drains the RTP socket every [`RTP_POLL`]; each packet counts as arrived at its kernel receive
/// time.
async fn rtp_rx(g: Rc<RefCell<Gen>>, sock: Rc<std::net::UdpSocket>) {
    let mut iv = tokio::time::interval(RTP_POLL);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut buf = [0u8; 2048];
    loop {
        iv.tick().await;
        let mut g = g.borrow_mut();
        let (now, wall) = (Instant::now(), SystemTime::now());
        while let Some((n, src, stamp)) = recv_stamped(&sock, &mut buf) {
            g.on_rtp(arrival(now, wall, stamp), src, &buf[..n]);
        }
    }
}

/// One datagram without blocking: its length, source and kernel receive time (since the Unix
/// epoch); `None` when none is queued (or on an error, which the next poll retries).
fn recv_stamped(sock: &std::net::UdpSocket, buf: &mut [u8]) -> Option<(usize, SocketAddr, Option<Duration>)> {
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT).ok()?;
    let stamp = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(t) => Some(Duration::from(t)),
            _ => None,
        })
    });
    let src = msg.address.as_ref().and_then(|a| {
        a.as_sockaddr_in()
            .map(|v4| SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
            .or_else(|| {
                a.as_sockaddr_in6()
                    .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
            })
    })?;
    Some((msg.bytes, src, stamp))
}

/// The `Instant` of a kernel receive stamp, given a clock reading `now`/`wall` taken after it: a
/// stamp from the future (a wall-clock step) or none counts as `now`.
fn arrival(now: Instant, wall: SystemTime, stamp: Option<Duration>) -> Instant {
    let waited = stamp
        .and_then(|t| wall.duration_since(UNIX_EPOCH).ok()?.checked_sub(t))
        .unwrap_or(Duration::ZERO);
    now.checked_sub(waited).unwrap_or(now)
}

/// The SDP sessions and offers of this thread's calls, made before the run (with rtpengine: its
/// `offer` done here, blocking, so the run itself never waits on it).
fn prepare(
    plan: &GenPlan,
    rtp_port: u16,
) -> std::io::Result<std::collections::VecDeque<(AudioSession, Bytes, Option<String>)>> {
    let client = match plan.relay {
        Some(a) => Some(NgClient::new(a)?),
        None => None,
    };
    let mut out = std::collections::VecDeque::new();
    let mut k = plan.index;
    while k < plan.calls {
        let mut caps = LocalCapabilities::new(plan.local_ip, rtp_port);
        caps.codecs.retain(|c| c.encoding.same_as(&Encoding::Pcmu));
        caps.session_name = "cxb load".into();
        let mut sdp = AudioSession::new(caps, k as u64 + 1, 1);
        let mut offer = Bytes::from(sdp.create_offer().to_string());
        let mut call_id = None;
        if let Some(c) = &client {
            let id = format!("load-{k}-{}", std::process::id());
            match c.offer(&id, "gen", &String::from_utf8_lossy(&offer)) {
                Ok(o) => offer = Bytes::from(o),
                Err(e) => return Err(std::io::Error::other(format!("rtpengine offer: {e:#}"))),
            }
            call_id = Some(id);
        }
        out.push_back((sdp, offer, call_id));
        k += plan.threads;
    }
    Ok(out)
}

/// rtpengine's replies to our `answer`s: the SDP to send to (its port facing us).
async fn ng_rx(g: Rc<RefCell<Gen>>, sock: Rc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok(n) = sock.recv(&mut buf).await else { continue };
        let Some((cookie, Some(sdp))) = rtpengine::parse_reply(&buf[..n]) else {
            continue;
        };
        let Some(i) = cookie.strip_prefix('a').and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        g.borrow_mut().on_relayed_answer(i, sdp.as_bytes());
    }
}

async fn ticker(g: Rc<RefCell<Gen>>) {
    let step = Duration::from_millis(20) / PHASES as u32;
    let start = g.borrow().plan.start;
    let mut iv = tokio::time::interval_at(start.into(), step);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut phase = 0usize;
    loop {
        iv.tick().await;
        let mut g = g.borrow_mut();
        let now = Instant::now();
        if g.tick(now, phase) {
            break;
        }
        phase = (phase + 1) % PHASES;
    }
}

impl Gen {
    /// Places due calls, hangs up held ones, sends this phase's RTP; true when the thread is done.
    fn tick(&mut self, now: Instant, phase: usize) -> bool {
        let p = &self.plan;
        let due = ((now.saturating_duration_since(p.start).as_secs_f64() * p.cps) as usize + 1).min(p.calls);
        let (threads, index) = (p.threads, p.index);
        while self.placed * threads + index < due {
            self.place(now);
        }
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
        }
        let past_deadline = now >= self.plan.deadline;
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            if s.ended || s.bye_sent {
                continue;
            }
            if s.hangup_at.is_some_and(|t| t <= now) || (past_deadline && s.answered.is_some()) {
                s.bye_sent = true;
                s.hangup_at = None;
                if let Some(r) = s.remote {
                    self.by_port[usize::from(r.port())] = 0;
                }
                if let Some(h) = s.handle {
                    let _ = self.ua.hangup(now, h);
                }
                if let (Some(ng), Some(id)) = (&self.ng, &s.ng_call) {
                    let _ = ng.try_send(&rtpengine::delete_request(&format!("d{i}"), id, "gen"));
                }
            } else if i % PHASES == phase
                && let Some(to) = s.remote
            {
                send_frame(&mut self.packet, s, &self.clip, &self.rtp, to, &mut self.stats);
            }
        }
        self.pump(now);
        let all_placed = self.placed * self.plan.threads + self.plan.index >= self.plan.calls;
        (all_placed && self.live == 0) || now >= self.plan.deadline + Duration::from_secs(3)
    }

    fn place(&mut self, now: Instant) {
        let k = self.placed * self.plan.threads + self.plan.index;
        self.placed += 1;
        self.stats.attempted += 1;
        let Some((sdp, offer, ng_call)) = self.prepared.pop_front() else {
            self.stats.failed += 1;
            return;
        };
        let ip = match self.plan.local_ip {
            IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        };
        let call = OutboundCall {
            request_uri: self.plan.uri.clone(),
            from: format!("<sip:load{k}@{ip}>"),
            to: self.plan.to.clone(),
            destination: self.plan.target,
            offer: Some(offer),
            extra_headers: Vec::new(),
            credentials: None,
            call_id: ng_call.clone(),
        };
        let handle = self.ua.invite(now, call).ok();
        let idx = self.slots.len();
        if let Some(h) = handle {
            self.by_handle.insert(h, idx);
            self.live += 1;
        } else {
            self.stats.failed += 1;
        }
        self.slots.push(Slot {
            handle,
            sdp,
            invited: now,
            answered: None,
            remote: None,
            hangup_at: None,
            bye_sent: false,
            ended: handle.is_none(),
            rx: RxTrack::default(),
            seq: (k as u16).wrapping_mul(7919),
            ts: (k as u32).wrapping_mul(104_729),
            ssrc: 0x4c4f_4144 ^ (k as u32).wrapping_mul(2_654_435_761),
            frame: k * 37,
            ng_call,
        });
    }

    /// Sends what the user agent queued and handles its events.
    fn pump(&mut self, now: Instant) {
        loop {
            while let Some(t) = self.ua.poll_transmit() {
                if self.sip.try_send_to(&t.payload, t.destination).is_err()
                    && let Some(tx) = t.tx
                {
                    self.ua.handle_transport_error(now, tx);
                }
            }
            let Some(ev) = self.ua.poll_event() else { break };
            self.on_event(now, ev);
        }
    }

    fn on_event(&mut self, now: Instant, ev: UaEvent) {
        match ev {
            UaEvent::Answered { call, body, .. } => {
                let Some(&i) = self.by_handle.get(&call) else { return };
                let s = &mut self.slots[i];
                if s.answered.is_some() {
                    return;
                }
                s.answered = Some(now);
                self.stats.answered += 1;
                self.stats
                    .setup_us
                    .push(now.duration_since(s.invited).as_micros() as u32);
                s.hangup_at = Some(now + self.plan.hold);
                if let (Some(ng), Some(id), Some(b)) = (&self.ng, &s.ng_call, &body) {
                    // Relayed: where to send comes back in rtpengine's reply (ng_rx).
                    let req = rtpengine::answer_request(&format!("a{i}"), id, "gen", "dp", &String::from_utf8_lossy(b));
                    let _ = ng.try_send(&req);
                    return;
                }
                let remote = body
                    .as_deref()
                    .and_then(|b| SessionDescription::parse(b).ok())
                    .and_then(|sd| s.sdp.accept_answer(&sd).ok())
                    .map(|a| a.remote_rtp.socket_addr());
                s.remote = remote;
                match remote {
                    Some(r) => self.by_port[usize::from(r.port())] = i as u32 + 1,
                    None => {
                        s.bye_sent = true;
                        self.stats.failed += 1;
                        let _ = self.ua.hangup(now, call);
                    }
                }
            }
            UaEvent::OfferReceived { call, offer, .. } => {
                let Some(&i) = self.by_handle.get(&call) else { return };
                let s = &mut self.slots[i];
                let answer = offer
                    .as_deref()
                    .and_then(|b| SessionDescription::parse(b).ok())
                    .and_then(|sd| s.sdp.answer_offer(&sd).ok())
                    .map(|a| Bytes::from(a.sdp.to_string()));
                let status = if answer.is_some() { 200 } else { 488 };
                let _ = self.ua.answer_offer(now, call, status, answer);
            }
            UaEvent::Ended { call, reason } => {
                let Some(i) = self.by_handle.remove(&call) else { return };
                let s = &mut self.slots[i];
                s.ended = true;
                self.live = self.live.saturating_sub(1);
                if let Some(r) = s.remote {
                    self.by_port[usize::from(r.port())] = 0;
                }
                if s.answered.is_none() {
                    match reason {
                        EndReason::Outbound(o) if o.code() == 503 => self.stats.refused_503 += 1,
                        _ => self.stats.failed += 1,
                    }
                } else if !s.bye_sent {
                    self.stats.dropped += 1;
                }
            }
            _ => {}
        }
    }

    /// rtpengine's SDP for slot `i`'s answer: its RTP now goes to rtpengine.
    fn on_relayed_answer(&mut self, i: usize, sdp: &[u8]) {
        let Some(s) = self.slots.get_mut(i) else { return };
        if s.ended || s.bye_sent || s.remote.is_some() {
            return;
        }
        let remote = SessionDescription::parse(sdp)
            .ok()
            .and_then(|sd| s.sdp.accept_answer(&sd).ok())
            .map(|a| a.remote_rtp.socket_addr());
        if let Some(r) = remote {
            s.remote = Some(r);
            self.by_port[usize::from(r.port())] = i as u32 + 1;
        }
    }

    fn on_rtp(&mut self, now: Instant, src: SocketAddr, data: &[u8]) {
        if data.len() < 12 || (200..=204).contains(&data[1]) {
            return; // short, or RTCP (rtcp-mux)
        }
        let i = self.by_port[usize::from(src.port())];
        if i == 0 {
            return;
        }
        let s = &mut self.slots[i as usize - 1];
        let at = now.saturating_duration_since(self.plan.start);
        if !s.rx.started
            && let Some(a) = s.answered
        {
            self.stats.first_audio_us.push(now.duration_since(a).as_micros() as u32);
        }
        let seq = u16::from_be_bytes([data[2], data[3]]);
        if let Some((dev, late)) = s.rx.on_packet(seq, at) {
            let steady = at >= self.plan.steady.0 && at < self.plan.steady.1;
            self.stats.record_jitter(dev, late, steady);
        }
    }

    fn finish(&mut self) -> GenStats {
        for s in &self.slots {
            if s.handle.is_some() && !s.ended && s.answered.is_none() {
                self.stats.failed += 1; // never answered nor refused before the deadline
            }
            if s.answered.is_some() {
                self.stats.expected += s.rx.expected();
                self.stats.received += s.rx.received;
                if !s.rx.started {
                    self.stats.silent_calls += 1;
                }
            }
        }
        std::mem::take(&mut self.stats)
    }
}

/// Writes and sends a call's next RTP packet (PCMU, 20 ms).
fn send_frame(
    buf: &mut [u8; 12 + FRAME],
    s: &mut Slot,
    clip: &Clip,
    sock: &std::net::UdpSocket,
    to: SocketAddr,
    st: &mut GenStats,
) {
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&s.seq.to_be_bytes());
    buf[4..8].copy_from_slice(&s.ts.to_be_bytes());
    buf[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
    buf[12..].copy_from_slice(clip.frame(s.frame));
    s.seq = s.seq.wrapping_add(1);
    s.ts = s.ts.wrapping_add(FRAME as u32);
    s.frame += 1;
    match sock.send_to(buf, to) {
        Ok(_) => st.sent += 1,
        Err(_) => st.send_drops += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_arrivals_carry_their_kernel_receive_time_and_source() {
        let unix_now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let rx = bind_rtp(IpAddr::from([127, 0, 0, 1])).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        assert!(
            recv_stamped(&rx, &mut buf).is_none(),
            "nothing queued: no wait, no datagram"
        );
        let before = unix_now();
        tx.send_to(b"rtp!", rx.local_addr().unwrap()).unwrap();
        // Read well after it arrived (loopback delivery can be deferred to ksoftirqd on a busy
        // machine, so poll rather than assume it is there after the sleep).
        std::thread::sleep(Duration::from_millis(30));
        let deadline = Instant::now() + Duration::from_secs(5);
        let (n, src, stamp) = loop {
            if let Some(got) = recv_stamped(&rx, &mut buf) {
                break got;
            }
            assert!(Instant::now() < deadline, "the datagram never arrived");
            std::thread::sleep(Duration::from_millis(1));
        };
        let after = unix_now();
        assert_eq!(&buf[..n], b"rtp!");
        assert_eq!(src, tx.local_addr().unwrap());
        let stamp = stamp.expect("SO_TIMESTAMPNS stamp");
        assert!(
            stamp >= before && stamp <= after,
            "{stamp:?} not in {before:?}..{after:?}"
        );
        // Timed at its arrival, not at the read: as far back from `now` as the stamp is from `wall`.
        let (now, wall) = (Instant::now(), SystemTime::now());
        let waited = now - arrival(now, wall, Some(stamp));
        assert_eq!(waited, wall.duration_since(UNIX_EPOCH).unwrap() - stamp);
    }

    #[test]
    fn a_missing_or_future_stamp_counts_as_the_read_time() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        assert_eq!(arrival(now, wall, None), now);
        let future = wall.duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5);
        assert_eq!(arrival(now, wall, Some(future)), now);
        let past = wall.duration_since(UNIX_EPOCH).unwrap() - Duration::from_millis(3);
        assert_eq!(now - arrival(now, wall, Some(past)), Duration::from_millis(3));
    }
}
