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
    fn hands_out_even_ports_lru() {
        let mut p = PortPool::new(20001, 20010);
        assert_eq!(p.take(), Some(20002));
        p.give(20002);
        assert_eq!(p.take(), Some(20004));
        assert_eq!(p.len(), 3);
    }
}
