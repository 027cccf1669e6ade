//! [`SampleRing`]: a fixed-capacity ring of 8 kHz PCM samples, filled straight from µ-law codes.

use cxb_dsp::g711;

/// A ring of `i16` samples with a capacity fixed at construction. Writing more than fits drops the
/// oldest samples (the reader is late; fresh audio matters more). No allocation after `new`.
#[derive(Debug, Clone)]
pub struct SampleRing {
    buf: Box<[i16]>,
    /// Index of the oldest sample.
    head: usize,
    /// Samples stored.
    len: usize,
}

impl SampleRing {
    /// An empty ring holding up to `capacity` samples (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Maximum samples held.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Samples stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no sample is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every stored sample.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Decodes µ-law `codes` to the end of the ring; returns how many older samples were dropped to
    /// make room (when `codes` alone exceeds the capacity, only its newest part is kept).
    pub fn push_ulaw(&mut self, codes: &[u8]) -> usize {
        let cap = self.buf.len();
        let mut dropped = 0;
        let codes = if codes.len() > cap {
            dropped += codes.len() - cap;
            &codes[codes.len() - cap..]
        } else {
            codes
        };
        let overflow = (self.len + codes.len()).saturating_sub(cap);
        if overflow > 0 {
            self.head = (self.head + overflow) % cap;
            self.len -= overflow;
            dropped += overflow;
        }
        let tail = (self.head + self.len) % cap;
        let first = codes.len().min(cap - tail);
        g711::decode_ulaw(&codes[..first], &mut self.buf[tail..tail + first]);
        g711::decode_ulaw(&codes[first..], &mut self.buf[..codes.len() - first]);
        self.len += codes.len();
        dropped
    }

    /// Moves up to `out.len()` of the oldest samples into `out`; returns how many.
    pub fn read(&mut self, out: &mut [i16]) -> usize {
        let cap = self.buf.len();
        let n = out.len().min(self.len);
        let first = n.min(cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        self.head = (self.head + n) % cap;
        self.len -= n;
        n
    }
}
