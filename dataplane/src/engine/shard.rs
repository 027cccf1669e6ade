//! One shard: a pinned thread running a tokio-uring runtime that owns its SIP user agent, its
//! calls, their RTP sockets and media pipelines. Tasks on the shard share its state through an
//! `Rc<RefCell<_>>`: they all run on this one thread, so no lock is ever taken.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cxb_sip::header::Transport;
use cxb_sip::message::Message;
use tokio::sync::{mpsc, oneshot};

use super::calls::Shard;
use super::route;
use super::sip_io::{self, TcpConnections};
use super::{ShardError, Shared};

/// Media and timer tick.
pub const TICK: Duration = Duration::from_millis(20);

/// Work handed to a shard by another thread.
#[derive(Debug)]
pub enum ShardMsg {
    /// A SIP message that arrived on another shard's socket for a call this shard owns.
    Sip {
        /// The message.
        msg: Message,
        /// Where it came from.
        source: SocketAddr,
        /// Over what.
        transport: Transport,
    },
    /// Place an outbound call.
    Dial {
        /// What to dial.
        req: cxb_model::DialRequest,
        /// The answer to the HTTP caller.
        reply: oneshot::Sender<Result<cxb_model::DialAccepted, super::DialError>>,
    },
    /// Hang up every call and stop.
    Shutdown,
}

/// Runs shard `id` on the current thread until shutdown.
pub fn run(
    id: usize,
    shared: Arc<Shared>,
    inbox: mpsc::UnboundedReceiver<ShardMsg>,
    ready: std::sync::mpsc::Sender<Result<(), ShardError>>,
) {
    if shared.cfg.pin_threads
        && let Some(core) = core_affinity::get_core_ids().and_then(|c| c.get(id % c.len().max(1)).copied())
    {
        core_affinity::set_for_current(core);
    }
    // The shard's io_uring: cooperative task running (Linux ≥ 5.19). By default the kernel
    // interrupts the shard thread with an IPI for every completion (every RTP packet) while it
    // runs in user space; cooperatively, completions run at the thread's next system call (each
    // tick sends RTP, so within the tick) or when it sleeps. `cxb load --spawn --calls 250`: the
    // kernel's share of the shard thread went from 45 % to 32 % (no reschedule IPIs), CPU per
    // call-second ≈ 12 % lower. A kernel that refuses the flags gets the default set-up.
    let mut uring = tokio_uring::uring_builder();
    uring.setup_coop_taskrun().setup_taskrun_flag();
    if uring.build(8).is_err() {
        uring = tokio_uring::uring_builder();
    }
    tokio_uring::builder().uring_builder(&uring).start(async move {
        let sockets = match open_sockets(&shared) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let start = Instant::now();
        let shard = match Shard::new(id, shared.clone(), start, sockets.udp_send) {
            Ok(s) => {
                let shard = Rc::new(RefCell::new(s));
                shard.borrow_mut().set_self(Rc::downgrade(&shard));
                shard
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        tokio_uring::spawn(udp_loop(shard.clone(), sockets.udp_recv));
        let watch = shard.borrow().watch_recv_ring();
        match watch {
            Some(Ok(fd)) => {
                tokio::task::spawn_local(media_recv_loop(shard.clone(), fd));
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "cannot watch the receive ring; media sockets are received one task each");
                shard.borrow_mut().drop_recv_ring();
            }
            None => {}
        }
        tokio::task::spawn_local(tcp_accept_loop(shard.clone(), sockets.tcp, shared.tcp.clone()));
        tokio::task::spawn_local(tick_loop(shard.clone()));
        tokio::task::spawn_local(super::agent::local_spawner());
        tokio::task::spawn_local(crate::http::serve(
            sockets.http,
            crate::http::Http {
                shared: shared.clone(),
                shard: id,
            },
        ));
        inbox_loop(shard, inbox).await;
    });
}

struct Sockets {
    udp_recv: tokio_uring::net::UdpSocket,
    udp_send: std::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    http: tokio::net::TcpListener,
}

fn open_sockets(shared: &Shared) -> Result<Sockets, ShardError> {
    let udp = sip_io::bind_udp_reuseport(shared.cfg.sip_bind)?;
    let udp_send = udp.try_clone().map_err(ShardError::Io)?;
    let tcp = sip_io::bind_tcp_reuseport(shared.cfg.sip_bind)?;
    Ok(Sockets {
        udp_recv: tokio_uring::net::UdpSocket::from_std(udp),
        udp_send,
        tcp: tokio::net::TcpListener::from_std(tcp).map_err(ShardError::Io)?,
        http: crate::http::bind(shared.cfg.http_bind).map_err(ShardError::Io)?,
    })
}

/// Receives SIP datagrams through io_uring and routes each to the shard owning its Call-ID.
async fn udp_loop(shard: Rc<RefCell<Shard>>, sock: tokio_uring::net::UdpSocket) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (res, b) = sock.recv_from(buf).await;
        buf = b;
        let Ok((n, source)) = res else { continue };
        if n == 0 || buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
            continue; // keep-alive
        }
        let datagram = Bytes::copy_from_slice(&buf[..n]);
        deliver_datagram(&shard, datagram, source, Transport::Udp);
        if shard.borrow().stopping() {
            break;
        }
    }
}

/// Drains the receive ring whenever its fd reports completions: every datagram that arrived on
/// any call's RTP or RTCP socket since the last wake-up, in one pass.
async fn media_recv_loop(shard: Rc<RefCell<Shard>>, fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>) {
    loop {
        let Ok(mut ready) = fd.readable().await else { break };
        // Clear first: a completion posted while draining wakes the loop again.
        ready.clear_ready();
        let mut s = shard.borrow_mut();
        s.drain_media();
        if s.stopped() {
            break;
        }
    }
}

/// Parses a datagram once; a message for another shard is forwarded, anything else (including
/// what does not parse, which gets a 400) is handled here.
fn deliver_datagram(shard: &Rc<RefCell<Shard>>, datagram: Bytes, source: SocketAddr, transport: Transport) {
    match Message::parse(datagram.clone()) {
        Ok(msg) => deliver_message(shard, msg, source, transport),
        Err(_) => shard.borrow_mut().on_bad_datagram(datagram, source, transport),
    }
}

fn deliver_message(shard: &Rc<RefCell<Shard>>, msg: Message, source: SocketAddr, transport: Transport) {
    let mut s = shard.borrow_mut();
    let owner = match msg.headers().call_id() {
        Ok(id) => route::owner(id.as_bytes(), s.shards()),
        Err(_) => s.id(),
    };
    if owner == s.id() {
        s.on_sip(msg, source, transport);
    } else {
        s.forward(owner, ShardMsg::Sip { msg, source, transport });
    }
}

async fn tcp_accept_loop(shard: Rc<RefCell<Shard>>, listener: tokio::net::TcpListener, conns: TcpConnections) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shard = shard.clone();
        let conns = conns.clone();
        tokio::task::spawn_local(async move {
            sip_io::serve_tcp(stream, peer, conns, |msg, source| {
                deliver_message(&shard, msg, source, Transport::Tcp)
            })
            .await;
        });
    }
}

/// The shard's clock: every 20 ms, media for every call, SIP timers, call deadlines, capacity.
async fn tick_loop(shard: Rc<RefCell<Shard>>) {
    let mut iv = tokio::time::interval(TICK);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let due = iv.tick().await.into_std();
        let mut s = shard.borrow_mut();
        s.on_tick(due, Instant::now());
        if s.stopped() {
            break;
        }
    }
}

async fn inbox_loop(shard: Rc<RefCell<Shard>>, mut inbox: mpsc::UnboundedReceiver<ShardMsg>) {
    while let Some(m) = inbox.recv().await {
        let mut s = shard.borrow_mut();
        match m {
            ShardMsg::Sip { msg, source, transport } => s.on_sip(msg, source, transport),
            ShardMsg::Dial { req, reply } => {
                let r = s.dial(req);
                let _ = reply.send(r);
            }
            ShardMsg::Shutdown => {
                s.begin_shutdown();
                break;
            }
        }
    }
    // Let the last BYEs go out and the tick loop finish (it stops the shard when the calls are
    // gone, or after 2 s).
    for _ in 0..150 {
        if shard.borrow().stopped() {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
}
