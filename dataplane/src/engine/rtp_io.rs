//! A call's RTP and RTCP sockets: bound on the shard from its port range, received through
//! io_uring by one task each, sent from the shard's tick through its
//! [`SendRing`](super::send_ring::SendRing) (one io_uring submission for every call's datagrams;
//! [`send`] is its direct path).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use cxb_sip::dialog::CallHandle;
use tokio::sync::watch;

use super::calls::Shard;

/// Largest datagram we read on a media socket.
const MAX_DATAGRAM: usize = 2048;

/// The sending halves of a call's media sockets, and the switch that stops its receive tasks.
#[derive(Debug)]
pub struct MediaSockets {
    /// RTP port (RTCP is `port + 1`).
    pub port: u16,
    /// RTP socket (non-blocking).
    pub rtp: std::net::UdpSocket,
    /// RTCP socket (non-blocking).
    pub rtcp: std::net::UdpSocket,
    stop: watch::Sender<bool>,
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
        let (stop, _) = watch::channel(false);
        Ok((MediaSockets { port, rtp, rtcp, stop }, rtp_rx, rtcp_rx))
    }

    /// Starts the two receive tasks on the current shard.
    pub fn spawn_receivers(
        &self,
        shard: &Rc<RefCell<Shard>>,
        call: CallHandle,
        rtp_rx: std::net::UdpSocket,
        rtcp_rx: std::net::UdpSocket,
    ) {
        for (sock, is_rtcp) in [(rtp_rx, false), (rtcp_rx, true)] {
            let shard = shard.clone();
            let mut stop = self.stop.subscribe();
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
    }

    /// Stops the receive tasks (the sockets close when the tasks and this value are dropped).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// Sends one datagram without blocking; a full socket buffer drops it, as the network would.
pub fn send(sock: &std::net::UdpSocket, to: SocketAddr, bytes: &[u8]) -> bool {
    sock.send_to(bytes, to).is_ok()
}
