use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{RecvRing, SHARD_BUFFERS};

fn bound(ip: IpAddr) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

fn ring<T: Copy>(buffers: u16, bytes: usize) -> RecvRing<T> {
    RecvRing::new(buffers, bytes).expect("io_uring with provided buffer rings (Linux ≥ 5.19)")
}

type Got<T> = Vec<(T, SocketAddr, Vec<u8>)>;

/// A ring with one loopback socket on it, the socket's address, and a socket to send from.
fn one_socket(buffers: u16, bytes: usize) -> (RecvRing<()>, SocketAddr, UdpSocket) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut r = ring::<()>(buffers, bytes);
    let rx = bound(lo);
    let to = rx.local_addr().unwrap();
    r.add(rx, ()).unwrap();
    (r, to, bound(lo))
}

/// Drains until `want` datagrams arrived (or 5 s passed).
fn drain_until<T: Copy>(ring: &mut RecvRing<T>, want: usize, got: &mut Got<T>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        ring.drain(|t, src, b, _| {
            got.push((t, src, b.to_vec()));
            true
        });
        if got.len() < want {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Drains (handing nothing on) until every removed socket is closed.
fn drain_until_closed<T: Copy>(ring: &mut RecvRing<T>, left: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while ring.sockets() > left && Instant::now() < deadline {
        ring.drain(|_, _, _, _| true);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(ring.sockets(), left);
}

#[test]
fn datagrams_from_many_sockets_arrive_once_each_with_tag_and_source() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut r = ring::<u32>(SHARD_BUFFERS, super::BUFFER_BYTES);
    let socks: Vec<UdpSocket> = (0..50).map(|_| bound(lo)).collect();
    let addrs: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    for (i, s) in socks.into_iter().enumerate() {
        r.add(s, i as u32).unwrap();
    }
    assert_eq!(r.sockets(), 50);
    let tx = bound(lo);
    for round in 0..3u8 {
        for (i, a) in addrs.iter().enumerate() {
            tx.send_to(&[round, i as u8, 0xAB], a).unwrap();
        }
    }
    let mut got = Vec::new();
    drain_until(&mut r, 150, &mut got);
    assert_eq!(got.len(), 150);
    for (tag, src, bytes) in &got {
        assert_eq!(*src, tx.local_addr().unwrap());
        assert_eq!(bytes.len(), 3);
        assert_eq!(u32::from(bytes[1]), *tag, "datagram handed on with its socket's tag");
    }
    for i in 0..50u32 {
        let rounds: Vec<u8> = got.iter().filter(|g| g.0 == i).map(|g| g.2[0]).collect();
        assert_eq!(rounds, vec![0, 1, 2], "socket {i}: each datagram once, in order");
    }
    assert_eq!(r.stats().datagrams, 150);
    assert!(r.stats().batches >= 1);
}

#[test]
fn ipv6_sources_are_parsed() {
    let Ok(rx) = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) else {
        return; // no IPv6 loopback on this machine
    };
    rx.set_nonblocking(true).unwrap();
    let to = rx.local_addr().unwrap();
    let mut r = ring::<()>(8, 512);
    r.add(rx, ()).unwrap();
    let tx = bound(IpAddr::V6(Ipv6Addr::LOCALHOST));
    tx.send_to(b"v6", to).unwrap();
    let mut got = Vec::new();
    drain_until(&mut r, 1, &mut got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, tx.local_addr().unwrap());
    assert_eq!(got[0].2, b"v6");
}

#[test]
fn a_removed_socket_gets_nothing_more_and_its_port_is_free_again() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut r = ring::<u8>(16, 512);
    let (a, b) = (bound(lo), bound(lo));
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let ta = r.add(a, 1).unwrap();
    r.add(b, 2).unwrap();
    r.remove(ta);
    r.remove(ta); // twice: ignored
    drain_until_closed(&mut r, 1);
    // The port can be bound again: the ring closed its socket.
    let again = UdpSocket::bind(aa).expect("port released after remove");
    drop(again);
    let tx = bound(lo);
    tx.send_to(b"to b", ba).unwrap();
    let mut got = Vec::new();
    drain_until(&mut r, 1, &mut got);
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![2]);
    // A token of a freed slot that has been reused does not remove the new socket.
    let c = bound(lo);
    let ca = c.local_addr().unwrap();
    r.add(c, 3).unwrap();
    r.remove(ta);
    tx.send_to(b"to c", ca).unwrap();
    let mut got = Vec::new();
    drain_until(&mut r, 1, &mut got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 3);
}

#[test]
fn running_out_of_buffers_rearms_and_loses_nothing() {
    let (mut r, to, tx) = one_socket(4, 256);
    for i in 0..40u8 {
        tx.send_to(&[i; 20], to).unwrap();
    }
    let mut got = Vec::new();
    drain_until(&mut r, 40, &mut got);
    let firsts: Vec<u8> = got.iter().map(|g| g.2[0]).collect();
    assert_eq!(
        firsts,
        (0..40).collect::<Vec<_>>(),
        "all 40, in order, through 4 buffers"
    );
    assert!(
        r.stats().rearms > 0,
        "the receive ran out of buffers and was re-armed: {:?}",
        r.stats()
    );
}

#[test]
fn refusing_a_datagram_removes_its_socket() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut r = ring::<u8>(16, 512);
    let rx = bound(lo);
    let to = rx.local_addr().unwrap();
    r.add(rx, 7).unwrap();
    let tx = bound(lo);
    tx.send_to(b"x", to).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = 0;
    while seen == 0 && Instant::now() < deadline {
        seen += r.drain(|_, _, _, _| false);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(seen, 1);
    drain_until_closed(&mut r, 0);
    tx.send_to(b"y", to).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(r.drain(|_, _, _, _| true), 0);
}

#[test]
fn a_datagram_larger_than_a_buffer_is_dropped_and_counted() {
    let (mut r, to, tx) = one_socket(8, 256);
    tx.send_to(&[1; 1000], to).unwrap();
    tx.send_to(&[2; 100], to).unwrap();
    let mut got = Vec::new();
    drain_until(&mut r, 1, &mut got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, vec![2; 100]);
    assert_eq!(r.stats().truncated, 1);
}

#[test]
fn dropping_the_ring_closes_its_sockets() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut r = ring::<()>(8, 512);
    let socks: Vec<UdpSocket> = (0..4).map(|_| bound(lo)).collect();
    let addrs: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    for s in socks {
        r.add(s, ()).unwrap();
    }
    drop(r);
    for a in addrs {
        UdpSocket::bind(a).expect("port released when the ring is dropped");
    }
}

#[test]
fn each_datagram_carries_its_kernel_receive_time_not_the_drain_time() {
    let (mut r, to, tx) = one_socket(8, 512);
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let sent = epoch();
    tx.send_to(b"early", to).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut stamps = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stamps.is_empty() && Instant::now() < deadline {
        r.drain(|_, _, _, at| {
            stamps.push(at);
            true
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    let drained = epoch();
    let at = stamps[0].expect("SO_TIMESTAMPNS receive time");
    assert!(
        at + Duration::from_millis(5) >= sent,
        "received {at:?} before sent {sent:?}"
    );
    assert!(
        drained - at >= Duration::from_millis(95),
        "the receive time is when the datagram arrived, ≥ 100 ms before the drain: {:?}",
        drained - at
    );
}

#[test]
fn bad_sizes_are_refused() {
    assert!(RecvRing::<()>::new(3, 2048).is_err());
    assert!(RecvRing::<()>::new(8, 8).is_err());
}
