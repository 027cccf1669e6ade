use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::{SLOT_BYTES, SendRing};

fn bind(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).expect("bind loopback");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s
}

fn payload(i: usize, len: usize) -> Vec<u8> {
    let mut p = format!("datagram {i} ").into_bytes();
    p.resize(len, (i % 251) as u8);
    p
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = s.recv_from(&mut buf).expect("datagram arrives");
    buf.truncate(n);
    (buf, from)
}

/// 200 sender/receiver pairs, one distinct datagram each, one flush.
fn pairs_deliver(ring: &mut SendRing) {
    let senders: Vec<UdpSocket> = (0..200).map(|_| bind("127.0.0.1")).collect();
    let receivers: Vec<UdpSocket> = (0..200).map(|_| bind("127.0.0.1")).collect();
    for (i, (s, r)) in senders.iter().zip(&receivers).enumerate() {
        ring.queue(s, r.local_addr().unwrap(), &payload(i, 172));
    }
    ring.flush();
    for (i, (s, r)) in senders.iter().zip(&receivers).enumerate() {
        let (bytes, from) = recv(r);
        assert_eq!(bytes, payload(i, 172), "pair {i}");
        assert_eq!(from, s.local_addr().unwrap(), "pair {i}");
    }
    assert_eq!(ring.sent(), 200);
    assert_eq!(ring.failed(), 0);
    assert_eq!(ring.pending(), 0);
}

#[test]
fn send_ring_one_flush_delivers_200_sockets() {
    let mut ring = SendRing::new(1024);
    assert!(ring.is_uring(), "io_uring available on the test machine");
    pairs_deliver(&mut ring);
    assert_eq!(ring.batches(), 1);
}

/// Completions that arrive after the submit (sends punted to io_uring's workers): `flush` waits
/// for every one before the slots are reused, so no datagram is corrupted or lost.
#[test]
fn send_ring_waits_for_late_completions_before_reusing_slots() {
    let mut ring = SendRing::new(1024);
    ring.force_async = true;
    pairs_deliver(&mut ring);
    assert_eq!(ring.batches(), 1);

    let mut ring = SendRing::new(8);
    ring.force_async = true;
    let sender = bind("127.0.0.1");
    let receiver = bind("127.0.0.1");
    for i in 0..64 {
        ring.queue(&sender, receiver.local_addr().unwrap(), &payload(i, 200));
    }
    ring.flush();
    assert_eq!((ring.sent(), ring.batches()), (64, 8));
    for i in 0..64 {
        assert_eq!(recv(&receiver).0, payload(i, 200), "datagram {i}");
    }
}

#[test]
fn send_ring_fallback_delivers_the_same() {
    let mut ring = SendRing::fallback();
    assert!(!ring.is_uring());
    pairs_deliver(&mut ring);
    assert_eq!(ring.batches(), 0);
}

#[test]
fn send_ring_flushes_early_when_the_arena_is_full() {
    let mut ring = SendRing::new(16);
    let sender = bind("127.0.0.1");
    let receivers: Vec<UdpSocket> = (0..4).map(|_| bind("127.0.0.1")).collect();
    for i in 0..100 {
        let r = &receivers[i % 4];
        ring.queue(&sender, r.local_addr().unwrap(), &payload(i, 160));
    }
    ring.flush();
    assert_eq!(ring.sent(), 100);
    assert_eq!(ring.batches(), 7, "6 full arenas + the rest");
    for i in 0..100 {
        let (bytes, from) = recv(&receivers[i % 4]);
        assert_eq!(bytes, payload(i, 160), "datagram {i} in order per receiver");
        assert_eq!(from, sender.local_addr().unwrap());
    }
}

#[test]
fn send_ring_sends_oversized_datagrams_directly() {
    let mut ring = SendRing::new(8);
    let sender = bind("127.0.0.1");
    let receiver = bind("127.0.0.1");
    let to = receiver.local_addr().unwrap();
    let big = payload(1, SLOT_BYTES + 2_000);
    let exact = payload(2, SLOT_BYTES);
    ring.queue(&sender, to, &big);
    assert_eq!(ring.pending(), 0, "sent at once, not queued");
    ring.queue(&sender, to, &exact);
    assert_eq!(ring.pending(), 1);
    ring.flush();
    assert_eq!(recv(&receiver).0, big);
    assert_eq!(recv(&receiver).0, exact);
    assert_eq!((ring.sent(), ring.failed(), ring.batches()), (2, 0, 1));
}

#[test]
fn send_ring_counts_refused_and_unheard_sends_without_blocking() {
    let mut ring = SendRing::new(64);
    let sender = bind("127.0.0.1");
    // A receiver with the smallest buffer that never reads: the excess is dropped on its side.
    let tiny = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    tiny.set_recv_buffer_size(1).unwrap();
    tiny.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    let tiny: UdpSocket = tiny.into();
    // Nobody listens here (bound, then closed).
    let gone = bind("127.0.0.1").local_addr().unwrap();
    for i in 0..300 {
        ring.queue(&sender, tiny.local_addr().unwrap(), &payload(i, 1_400));
        ring.queue(&sender, gone, &payload(i, 100));
    }
    // Refused by the kernel at once: port 0, and an IPv6 destination from an IPv4 socket.
    ring.queue(&sender, "127.0.0.1:0".parse().unwrap(), b"port zero");
    ring.queue(&sender, "[::1]:9".parse().unwrap(), b"wrong family");
    ring.flush();
    assert_eq!(ring.sent() + ring.failed(), 602, "every datagram counted once");
    assert!(ring.failed() >= 2, "the refused ones count as failed: {ring:?}");
    assert_eq!(ring.pending(), 0);
    // Still usable afterwards.
    let receiver = bind("127.0.0.1");
    ring.queue(&sender, receiver.local_addr().unwrap(), b"after");
    ring.flush();
    assert_eq!(recv(&receiver).0, b"after");
}

#[test]
fn send_ring_fallback_counts_refused_sends() {
    let mut ring = SendRing::fallback();
    let sender = bind("127.0.0.1");
    ring.queue(&sender, "127.0.0.1:0".parse().unwrap(), b"port zero");
    ring.flush();
    assert_eq!((ring.sent(), ring.failed()), (0, 1));
}

#[test]
fn send_ring_sends_ipv6() {
    let Ok(sender) = UdpSocket::bind("[::1]:0") else {
        return; // no IPv6 loopback here
    };
    let receiver = bind("::1");
    let mut ring = SendRing::new(4);
    ring.queue(&sender, receiver.local_addr().unwrap(), b"v6");
    ring.flush();
    let (bytes, from) = recv(&receiver);
    assert_eq!(bytes, b"v6");
    assert_eq!(from, sender.local_addr().unwrap());
    assert_eq!(ring.sent(), 1);
}
