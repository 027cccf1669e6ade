//! [`SharedPcm`]: a cheap, reference-counted slice of mono PCM samples.
//!
//! Cached bot audio (a TTS phrase every call plays) lives in one `Arc<[i16]>`; each call's
//! playout queue holds slices of it, so a phrase costs its samples once per process, not once
//! per call. Cloning or slicing is a reference-count increment; nothing is copied.

use std::fmt;
use std::ops::{Bound, Deref, RangeBounds};
use std::sync::Arc;

/// A reference-counted slice `buf[start..end]` of mono PCM samples: a cached phrase lives in one
/// `Arc<[i16]>` and every call queues slices of it; cloning or slicing copies no samples.
///
/// Dereferences to `[i16]`; equality compares the samples, not the buffers
/// ([`shares_buffer`](Self::shares_buffer) tells whether two slices point into one buffer).
/// Buffers longer than `u32::MAX` samples (about 74 h at 16 kHz) are cut to that length.
#[derive(Clone)]
pub struct SharedPcm {
    buf: Arc<[i16]>,
    start: u32,
    end: u32,
}

impl SharedPcm {
    /// The whole of `buf`, not copied.
    pub fn new(buf: Arc<[i16]>) -> SharedPcm {
        let end = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        SharedPcm { buf, start: 0, end }
    }

    /// Samples in the slice.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the slice holds no samples.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The samples as a plain slice (same as dereferencing).
    pub fn as_slice(&self) -> &[i16] {
        &self.buf[self.start as usize..self.end as usize]
    }

    /// A sub-slice sharing the same buffer, `range` relative to this slice (no copy).
    ///
    /// # Panics
    /// When `range` is not within `0..=len()` or starts after it ends, as slice indexing does.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> SharedPcm {
        let len = self.len();
        let from = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => len,
        };
        assert!(
            from <= to && to <= len,
            "SharedPcm::slice: {from}..{to} out of range for length {len}"
        );
        SharedPcm {
            buf: Arc::clone(&self.buf),
            // Both fit: they are at most `len`, which fits in u32.
            start: self.start + from as u32,
            end: self.start + to as u32,
        }
    }

    /// Drops the first `n` samples (at most all of them) in place; no copy.
    pub fn advance(&mut self, n: usize) {
        self.start += n.min(self.len()) as u32;
    }

    /// Keeps the first `n` samples (all of them when `n >= len()`) in place; no copy.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.end = self.start + n as u32;
        }
    }

    /// The whole buffer this slice points into.
    pub fn buffer(&self) -> &Arc<[i16]> {
        &self.buf
    }

    /// Whether `self` and `other` point into the same buffer (not copies of each other).
    pub fn shares_buffer(&self, other: &SharedPcm) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
}

impl Default for SharedPcm {
    fn default() -> SharedPcm {
        SharedPcm::new(Arc::from([]))
    }
}

impl Deref for SharedPcm {
    type Target = [i16];

    fn deref(&self) -> &[i16] {
        self.as_slice()
    }
}

impl AsRef<[i16]> for SharedPcm {
    fn as_ref(&self) -> &[i16] {
        self.as_slice()
    }
}

impl From<Arc<[i16]>> for SharedPcm {
    /// The whole buffer, not copied.
    fn from(buf: Arc<[i16]>) -> SharedPcm {
        SharedPcm::new(buf)
    }
}

impl From<Vec<i16>> for SharedPcm {
    /// Moves the samples into a shared buffer (one copy, into the reference-counted allocation).
    fn from(pcm: Vec<i16>) -> SharedPcm {
        SharedPcm::new(pcm.into())
    }
}

impl From<&[i16]> for SharedPcm {
    /// Copies borrowed samples into a new shared buffer.
    fn from(pcm: &[i16]) -> SharedPcm {
        SharedPcm::new(pcm.into())
    }
}

impl PartialEq for SharedPcm {
    fn eq(&self, other: &SharedPcm) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SharedPcm {}

impl PartialEq<[i16]> for SharedPcm {
    fn eq(&self, other: &[i16]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<i16>> for SharedPcm {
    fn eq(&self, other: &Vec<i16>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for SharedPcm {
    /// Like the sample slice it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}
