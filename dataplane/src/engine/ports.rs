//! Per-shard RTP port pool: even RTP ports, RTCP on the next odd port.

use std::collections::VecDeque;

/// Free even ports of one shard's range, handed out least-recently-used first so a port is not
/// reused while stray packets of the previous call may still arrive.
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
}

impl PortPool {
    /// Even ports in `[start, end)`.
    pub fn new(start: u16, end: u16) -> PortPool {
        let first = start + (start & 1);
        PortPool {
            free: (first..end.saturating_sub(1)).step_by(2).collect(),
        }
    }

    /// A free RTP port (RTCP = port + 1).
    pub fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// Gives a port back.
    pub fn give(&mut self, port: u16) {
        self.free.push_back(port);
    }

    /// The first of up to `attempts` free ports that `bind` succeeds on, with what it bound. A port
    /// `bind` fails on (another process holds it: the range overlaps the ephemeral ports, or a
    /// neighbour uses it) goes to the back of the pool, to be tried again after every other one,
    /// instead of refusing the call; the last error is returned when every attempt failed.
    pub fn bind_first<T>(
        &mut self,
        attempts: usize,
        mut bind: impl FnMut(u16) -> std::io::Result<T>,
    ) -> Result<(u16, T), Option<std::io::Error>> {
        let mut last = None;
        for _ in 0..attempts.min(self.free.len()) {
            let Some(port) = self.take() else { break };
            match bind(port) {
                Ok(bound) => return Ok((port, bound)),
                Err(e) => {
                    self.give(port);
                    last = Some(e);
                }
            }
        }
        Err(last)
    }

    /// Free ports left.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// No port left.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_held_by_another_process_is_skipped_not_refused() {
        // Hold the RTCP port of the first pair, as an unrelated socket on the host might.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let Ok(held) = std::net::UdpSocket::bind(("127.0.0.1", base + 1)) else {
            return; // the port was taken in between: nothing to test with it
        };
        let mut p = PortPool::new(base, base.saturating_add(8));
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let (port, _sockets) = p
            .bind_first(8, |port| super::super::rtp_io::MediaSockets::bind(ip, port))
            .expect("another pair is free");
        assert_ne!(port, base, "the pair whose RTCP port is held is skipped");
        // The skipped port went to the back of the pool, not lost.
        assert_eq!(p.len(), 3);
        assert!(p.free.contains(&base));
        drop(held);
    }

    #[test]
    fn bind_first_gives_up_after_its_attempts_and_keeps_every_port() {
        let mut p = PortPool::new(20000, 20010);
        let mut tried = Vec::new();
        let r: Result<(u16, ()), _> = p.bind_first(3, |port| {
            tried.push(port);
            Err(std::io::Error::from(std::io::ErrorKind::AddrInUse))
        });
        assert!(matches!(r, Err(Some(e)) if e.kind() == std::io::ErrorKind::AddrInUse));
        assert_eq!(tried, [20000, 20002, 20004]);
        assert_eq!(p.len(), 5);
        let empty: Result<(u16, ()), _> = PortPool::new(20000, 20001).bind_first(3, |_| Ok(()));
        assert!(matches!(empty, Err(None)));
    }

    #[test]
    fn hands_out_even_ports_lru() {
        let mut p = PortPool::new(20001, 20010);
        assert_eq!(p.take(), Some(20002));
        p.give(20002);
        assert_eq!(p.take(), Some(20004));
        assert_eq!(p.len(), 3);
    }
}
