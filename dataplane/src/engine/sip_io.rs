//! SIP sockets of a shard: one UDP socket and one TCP listener per shard on the same address
//! (`SO_REUSEPORT`), TCP connections framed by Content-Length, and sending.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Largest SIP message we accept over TCP before dropping the connection.
pub const MAX_TCP_MESSAGE: usize = 64 * 1024;
/// A TCP connection idle this long is closed.
pub const TCP_IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// Socket set-up failure.
#[derive(Debug, thiserror::Error)]
pub enum SipIoError {
    /// Binding the SIP address failed.
    #[error("cannot bind {transport} {addr}: {error}")]
    Bind {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
}

/// A non-blocking socket bound to `addr` with `SO_REUSEPORT` (every shard binds the same address);
/// stream sockets are listening.
pub fn bind_reuseport(addr: SocketAddr, ty: Type) -> std::io::Result<Socket> {
    let protocol = if ty == Type::DGRAM {
        Protocol::UDP
    } else {
        Protocol::TCP
    };
    let s = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if ty == Type::DGRAM {
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
    }
    s.bind(&addr.into())?;
    if ty == Type::STREAM {
        s.listen(1024)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The SIP UDP socket of a shard.
pub fn bind_udp_reuseport(addr: SocketAddr) -> Result<std::net::UdpSocket, SipIoError> {
    bind_reuseport(addr, Type::DGRAM)
        .map(Into::into)
        .map_err(|error| SipIoError::Bind {
            transport: "udp",
            addr,
            error,
        })
}

/// The SIP TCP listener of a shard.
pub fn bind_tcp_reuseport(addr: SocketAddr) -> Result<std::net::TcpListener, SipIoError> {
    bind_reuseport(addr, Type::STREAM)
        .map(Into::into)
        .map_err(|error| SipIoError::Bind {
            transport: "tcp",
            addr,
            error,
        })
}

/// Open TCP connections by peer address, shared by the shards (signalling only, never media):
/// the shard owning a call writes its responses through the connection another shard accepted.
#[derive(Debug, Clone, Default)]
pub struct TcpConnections {
    inner: Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>>>,
}

impl TcpConnections {
    /// Queues `payload` on the connection to `peer`; false when there is none.
    pub fn send(&self, peer: SocketAddr, payload: Bytes) -> bool {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&peer).is_some_and(|tx| tx.send(payload).is_ok())
    }

    fn insert(&self, peer: SocketAddr, tx: mpsc::UnboundedSender<Bytes>) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).insert(peer, tx);
    }

    fn remove(&self, peer: SocketAddr) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer);
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// No open connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Serves one accepted TCP connection: frames messages and hands each to `deliver`, writes what
/// is queued for the peer. Ends on EOF, error, idle timeout or a framing error (after which the
/// stream cannot be resynchronised).
pub async fn serve_tcp(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    conns: TcpConnections,
    mut deliver: impl FnMut(cxb_sip::message::Message, SocketAddr),
) {
    use cxb_sip::framing::{StreamEvent, StreamFramer};
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    conns.insert(peer, tx);
    let (mut rd, mut wr) = stream.into_split();
    let mut framer = StreamFramer::new(cxb_sip::message::Limits {
        max_message_bytes: MAX_TCP_MESSAGE,
        ..Default::default()
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            r = tokio::time::timeout(TCP_IDLE, rd.read(&mut buf)) => {
                let n = match r {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => n,
                };
                framer.push(&buf[..n]);
                loop {
                    match framer.poll() {
                        Ok(Some(StreamEvent::Message(m))) => deliver(m, peer),
                        Ok(Some(StreamEvent::Ping)) => {
                            if wr.write_all(b"\r\n").await.is_err() {
                                break;
                            }
                        }
                        Ok(Some(StreamEvent::Pong)) => {}
                        Ok(None) => break,
                        // The stream cannot be resynchronised after a framing error: close it.
                        Err(e) if e.is_fatal() => {
                            conns.remove(peer);
                            return;
                        }
                        Err(_) => {}
                    }
                }
            }
            Some(out) = rx.recv() => {
                if wr.write_all(&out).await.is_err() {
                    break;
                }
            }
        }
    }
    conns.remove(peer);
}
