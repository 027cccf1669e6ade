//! A std-socket driver for a [`UserAgent`] on 127.0.0.1 with a real clock, plus a SIPp runner.
//! Shared by the SIP interop tests (the sans-IO core stays socket-free; this is the thinnest
//! possible I/O loop around it).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cxb_sip::dialog::{CallHandle, UaConfig, UaEvent, UserAgent};
use cxb_sip::framing::{StreamEvent, StreamFramer};
use cxb_sip::header::Transport;
use cxb_sip::message::Limits;

/// The fixed SDP answer the harness answers calls with.
pub const SDP_ANSWER: &str = "v=0\r\no=cxb 1 1 IN IP4 127.0.0.1\r\ns=cxb\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// Scripted behaviour of the harness UA when it is called.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Send 180 before answering.
    pub ring: bool,
    /// Answer with 200 (false: ring until cancelled).
    pub answer: bool,
    /// After the ACK of an inbound call, send REFER to this URI.
    pub refer_to: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            ring: true,
            answer: true,
            refer_to: None,
        }
    }
}

type Cmd = Box<dyn FnOnce(&mut UserAgent, Instant) + Send>;

/// A running UA on a loopback UDP socket. Stops (and joins its thread) on drop.
pub struct Agent {
    /// Our address.
    pub addr: SocketAddr,
    events: mpsc::Receiver<UaEvent>,
    cmds: mpsc::Sender<Cmd>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Everything received and sent, for diagnostics.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Mirror the direction of an offer (hold → recvonly) in our fixed answer.
fn answer_for(offer: Option<&[u8]>) -> Bytes {
    let offer = offer
        .map(|o| String::from_utf8_lossy(o).into_owned())
        .unwrap_or_default();
    let dir = if offer.contains("a=sendonly") {
        "a=recvonly"
    } else if offer.contains("a=inactive") {
        "a=inactive"
    } else if offer.contains("a=recvonly") {
        "a=sendonly"
    } else {
        "a=sendrecv"
    };
    Bytes::from(SDP_ANSWER.replace("a=sendrecv", dir))
}

impl Agent {
    /// Starts a UA on 127.0.0.1 (free port, UDP) with `behaviour`; `tune` adjusts the config.
    pub fn start(behaviour: Behaviour, tune: impl FnOnce(&mut UaConfig)) -> Agent {
        Agent::start_on(Transport::Udp, behaviour, tune)
    }

    /// Starts a UA on 127.0.0.1 over UDP or TCP (a `TcpListener`; connections are kept per peer
    /// address, framed with `StreamFramer`, and opened on demand for outbound requests).
    pub fn start_on(transport: Transport, behaviour: Behaviour, tune: impl FnOnce(&mut UaConfig)) -> Agent {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let listener = match transport {
            Transport::Tcp => {
                let l = TcpListener::bind(socket.local_addr().unwrap()).expect("bind tcp on the same port");
                l.set_nonblocking(true).unwrap();
                Some(l)
            }
            _ => None,
        };
        let addr = socket.local_addr().unwrap();
        let mut cfg = UaConfig::new(addr);
        cfg.transport = transport;
        cfg.seed = u64::from(addr.port()) * 0x9e37_79b9 + u64::from(std::process::id());
        tune(&mut cfg);
        let (ev_tx, events) = mpsc::channel();
        let (cmds, cmd_rx) = mpsc::channel::<Cmd>();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let mut ua = UserAgent::new(cfg);
            let mut conns: HashMap<SocketAddr, (TcpStream, StreamFramer)> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let now = Instant::now();
                let wait = ua
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(now))
                    .unwrap_or(Duration::from_millis(20))
                    .clamp(
                        Duration::from_millis(1),
                        Duration::from_millis(if listener.is_some() { 2 } else { 20 }),
                    );
                socket.set_read_timeout(Some(wait)).unwrap();
                if let Ok((n, src)) = socket.recv_from(&mut buf) {
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    log2.lock()
                        .unwrap()
                        .push(format!("<< {src}\n{}", String::from_utf8_lossy(&data)));
                    ua.handle_datagram(Instant::now(), data, src, Transport::Udp);
                }
                if let Some(l) = &listener {
                    while let Ok((stream, peer)) = l.accept() {
                        stream.set_nonblocking(true).unwrap();
                        conns.insert(peer, (stream, StreamFramer::new(Limits::default())));
                    }
                    let mut closed = Vec::new();
                    for (peer, (stream, framer)) in conns.iter_mut() {
                        match stream.read(&mut buf) {
                            Ok(0) => closed.push(*peer),
                            Ok(n) => framer.push(&buf[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(_) => closed.push(*peer),
                        }
                        loop {
                            match framer.poll() {
                                Ok(Some(StreamEvent::Message(m))) => {
                                    log2.lock()
                                        .unwrap()
                                        .push(format!("<< tcp {peer}\n{}", String::from_utf8_lossy(&m.to_bytes())));
                                    ua.handle_message(Instant::now(), m, *peer, Transport::Tcp);
                                }
                                Ok(Some(StreamEvent::Ping)) => {
                                    let _ = stream.write_all(b"\r\n");
                                }
                                Ok(Some(_)) => {}
                                Ok(None) => break,
                                Err(e) if e.is_fatal() => {
                                    closed.push(*peer);
                                    break;
                                }
                                Err(_) => {}
                            }
                        }
                    }
                    for p in closed {
                        conns.remove(&p);
                    }
                }
                let now = Instant::now();
                if ua.poll_timeout().is_some_and(|t| t <= now) {
                    ua.handle_timeout(now);
                }
                while let Ok(cmd) = cmd_rx.try_recv() {
                    cmd(&mut ua, Instant::now());
                }
                loop {
                    while let Some(e) = ua.poll_event() {
                        react(&mut ua, &behaviour, &e);
                        let _ = ev_tx.send(e);
                    }
                    let mut sent = false;
                    while let Some(t) = ua.poll_transmit() {
                        log2.lock().unwrap().push(format!(
                            ">> {}\n{}",
                            t.destination,
                            String::from_utf8_lossy(&t.payload)
                        ));
                        sent = true;
                        if t.transport == Transport::Tcp {
                            if !conns.contains_key(&t.destination)
                                && let Ok(s) = TcpStream::connect_timeout(&t.destination, Duration::from_secs(2))
                            {
                                s.set_nonblocking(true).unwrap();
                                conns.insert(t.destination, (s, StreamFramer::new(Limits::default())));
                            }
                            let ok = conns
                                .get_mut(&t.destination)
                                .is_some_and(|(s, _)| write_all_nb(s, &t.payload));
                            if !ok && let Some(tx) = t.tx {
                                ua.handle_transport_error(Instant::now(), tx);
                            }
                        } else {
                            let _ = socket.send_to(&t.payload, t.destination);
                        }
                    }
                    if !sent {
                        break;
                    }
                }
            }
        });
        Agent {
            addr,
            events,
            cmds,
            stop,
            thread: Some(thread),
            log,
        }
    }

    /// Runs `f` on the UA thread.
    pub fn exec(&self, f: impl FnOnce(&mut UserAgent, Instant) + Send + 'static) {
        self.cmds.send(Box::new(f)).expect("agent running");
    }

    /// Waits for an event matching `pred` (others are skipped) until `timeout`.
    pub fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&UaEvent) -> bool) -> Option<UaEvent> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if pred(&e) => return Some(e),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Collects all events for `d`.
    pub fn events_for(&self, d: Duration) -> Vec<UaEvent> {
        let end = Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(e) = self.events.recv_timeout(end.saturating_duration_since(Instant::now())) {
            out.push(e);
        }
        out
    }

    /// The message log as one string.
    pub fn dump(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

fn react(ua: &mut UserAgent, b: &Behaviour, e: &UaEvent) {
    let now = Instant::now();
    match e {
        UaEvent::IncomingCall { call, offer, .. } => {
            if b.ring {
                let _ = ua.respond(now, *call, 180, None);
            }
            if b.answer {
                let _ = ua.respond(now, *call, 200, Some(answer_for(offer.as_deref())));
            }
        }
        UaEvent::OfferReceived { call, offer, .. } => {
            let _ = ua.answer_offer(now, *call, 200, Some(answer_for(offer.as_deref())));
        }
        UaEvent::Answered {
            call,
            needs_ack_answer: true,
            ..
        } => {
            let _ = ua.ack(now, *call, Some(Bytes::from_static(SDP_ANSWER.as_bytes())));
        }
        UaEvent::Confirmed { call, .. } => {
            if let Some(to) = &b.refer_to {
                let _ = ua.refer(now, *call, to, None);
            }
        }
        _ => {}
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes all of `data` to a non-blocking stream (spinning briefly on WouldBlock).
fn write_all_nb(s: &mut TcpStream, mut data: &[u8]) -> bool {
    let end = Instant::now() + Duration::from_secs(1);
    while !data.is_empty() {
        match s.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => std::thread::yield_now(),
            Err(_) => return false,
        }
    }
    true
}

/// A free loopback UDP port (bound then released).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Path of a scenario file in `tests/sipp/`.
pub fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A SIPp child process, killed on drop.
pub struct Sipp {
    child: Option<Child>,
    dir: PathBuf,
}

impl Sipp {
    /// Spawns `sipp` with `args` (plus `-nostdin`, `-timeout 20s`, `-trace_err`) in a scratch dir.
    pub fn spawn(name: &str, args: &[&str]) -> Sipp {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sipp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("sipp")
            .args(args)
            .args(["-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp installed (Debian sip-tester)");
        Sipp {
            child: Some(child),
            dir,
        }
    }

    /// Waits up to `timeout` for SIPp to exit; kills it otherwise. Returns the exit status and
    /// the contents of its error trace files.
    pub fn wait(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let end = Instant::now() + timeout;
        let mut child = self.child.take().unwrap();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut errors = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut errors);
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for f in rd.flatten() {
                if f.file_name().to_string_lossy().contains("errors") {
                    errors.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
                }
            }
        }
        (status, errors)
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Handle of the first inbound call among `events`.
pub fn first_call(events: &[UaEvent]) -> Option<CallHandle> {
    events.iter().find_map(|e| match e {
        UaEvent::IncomingCall { call, .. } => Some(*call),
        _ => None,
    })
}
