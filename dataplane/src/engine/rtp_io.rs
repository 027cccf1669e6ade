//! A call's RTP and RTCP sockets: bound on the shard from its port range, received through the
//! shard's [`RecvRing`] (one multishot receive per socket; one tokio-uring task per socket where
//! the kernel lacks it), sent from the shard's tick through its
//! [`SendRing`](super::send_ring::SendRing) (one io_uring submission for every call's datagrams;
//! [`send`] is its direct path).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use cxb_sip::dialog::CallHandle;
use tokio::sync::watch;

use super::calls::Shard;
use super::recv_ring::{RecvRing, RecvToken};

/// The shard's receive ring: datagrams tagged with their call and whether they came on RTCP.
pub type MediaRing = RecvRing<(CallHandle, bool)>;

/// Open files a call holds: its RTP and RTCP sockets, and the duplicate of each that receives.
pub const FDS_PER_CALL: u64 = 4;

/// Largest datagram we read on a media socket.
const MAX_DATAGRAM: usize = 2048;

/// The sending halves of a call's media sockets, and how their datagrams are received.
#[derive(Debug)]
pub struct MediaSockets {
    /// RTP port (RTCP is `port + 1`).
    pub port: u16,
    /// RTP socket (non-blocking).
    pub rtp: std::net::UdpSocket,
    /// RTCP socket (non-blocking).
    pub rtcp: std::net::UdpSocket,
    receivers: Receivers,
}

/// Where a call's receiving halves went.
#[derive(Debug)]
enum Receivers {
    /// Not started, or stopped.
    None,
    /// On the shard's receive ring (RTP, RTCP).
    Ring([RecvToken; 2]),
    /// One task per socket; the switch stops them.
    Tasks(watch::Sender<bool>),
}

impl MediaSockets {
    /// Binds `ip:port` and `ip:port+1`.
    pub fn bind(ip: IpAddr, port: u16) -> std::io::Result<(MediaSockets, std::net::UdpSocket, std::net::UdpSocket)> {
        let rtp = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
        let rtcp = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1))?;
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        let rtp_rx = rtp.try_clone()?;
        let rtcp_rx = rtcp.try_clone()?;
        let receivers = Receivers::None;
        Ok((
            MediaSockets {
                port,
                rtp,
                rtcp,
                receivers,
            },
            rtp_rx,
            rtcp_rx,
        ))
    }

    /// Starts receiving `call`'s datagrams: on the shard's receive ring, or (no ring, or the
    /// kernel refuses multishot receive) with one task per socket.
    pub fn start_receivers(
        &mut self,
        ring: Option<&mut MediaRing>,
        shard: &Rc<RefCell<Shard>>,
        call: CallHandle,
        rtp_rx: std::net::UdpSocket,
        rtcp_rx: std::net::UdpSocket,
    ) {
        if let Some(ring) = ring {
            match ring.add(rtp_rx, (call, false)) {
                Ok(rtp) => match ring.add(rtcp_rx, (call, true)) {
                    Ok(rtcp) => {
                        self.receivers = Receivers::Ring([rtp, rtcp]);
                        return;
                    }
                    Err(error) => {
                        // The RTCP socket is gone with the error; RTP stays on the ring.
                        tracing::warn!(%error, "receive ring refused an RTCP socket");
                        self.receivers = Receivers::Ring([rtp, rtp]);
                        return;
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "receive ring refused a media socket; receiving with tasks");
                    // `add` consumed the socket: receive on fresh handles of the call's sockets.
                    match (self.rtp.try_clone(), self.rtcp.try_clone()) {
                        (Ok(rtp), Ok(rtcp)) => self.spawn_tasks(shard, call, rtp, rtcp),
                        _ => tracing::warn!("cannot duplicate a media socket; the call receives no audio"),
                    }
                    drop(rtcp_rx);
                    return;
                }
            }
        }
        self.spawn_tasks(shard, call, rtp_rx, rtcp_rx);
    }

    /// Stops receiving (the ring closes its sockets once the kernel confirms; tasks stop at
    /// their next wake-up).
    pub fn stop_receivers(&mut self, ring: Option<&mut MediaRing>) {
        match std::mem::replace(&mut self.receivers, Receivers::None) {
            Receivers::None => {}
            Receivers::Ring(tokens) => {
                if let Some(ring) = ring {
                    for t in tokens {
                        ring.remove(t);
                    }
                }
            }
            Receivers::Tasks(stop) => {
                let _ = stop.send(true);
            }
        }
    }

    /// One receive task per socket (the path without a receive ring).
    fn spawn_tasks(
        &mut self,
        shard: &Rc<RefCell<Shard>>,
        call: CallHandle,
        rtp_rx: std::net::UdpSocket,
        rtcp_rx: std::net::UdpSocket,
    ) {
        let (stop_tx, _) = watch::channel(false);
        for (sock, is_rtcp) in [(rtp_rx, false), (rtcp_rx, true)] {
            let shard = shard.clone();
            let mut stop = stop_tx.subscribe();
            let sock = tokio_uring::net::UdpSocket::from_std(sock);
            tokio_uring::spawn(async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    tokio::select! {
                        (res, b) = sock.recv_from(buf) => {
                            buf = b;
                            if let Ok((n, src)) = res
                                && !shard.borrow_mut().on_media_datagram(call, is_rtcp, src, &buf[..n])
                            {
                                break;
                            }
                        }
                        _ = stop.changed() => break,
                    }
                }
            });
        }
        self.receivers = Receivers::Tasks(stop_tx);
    }
}

/// Sends one datagram without blocking; a full socket buffer drops it, as the network would.
pub fn send(sock: &std::net::UdpSocket, to: SocketAddr, bytes: &[u8]) -> bool {
    sock.send_to(bytes, to).is_ok()
}
