//! Batched media sends: every datagram a shard sends in one tick leaves through one io_uring
//! submission instead of one `sendto` syscall each.
//!
//! # Why
//! Each call owns its own RTP (and RTCP) socket, so `sendmmsg` cannot batch across calls. At 400
//! calls a shard made 20,000 `sendto` calls a second and spent ≈ 4 % of its time in syscall entry
//! and exit around `udp_sendmsg`. Here [`SendRing::queue`] copies the datagram into a preallocated
//! slot and pushes one `IORING_OP_SENDMSG` entry naming that call's socket; [`SendRing::flush`]
//! hands all of them to the kernel with a single `io_uring_enter`. The ring is the shard's own,
//! separate from the tokio-uring runtime's.
//!
//! # Why reusing the slots is safe
//! * Without `SQPOLL` the kernel reads submission entries only inside `io_uring_enter`, that is
//!   inside [`SendRing::flush`]: until then a slot is ours alone.
//! * Every entry carries `MSG_DONTWAIT`, which makes io_uring complete it with `-EAGAIN` when the
//!   socket buffer is full instead of arming a poll and finishing later — a dropped datagram, as
//!   `send_to` on a non-blocking socket drops it. So in practice every send completes during the
//!   submit and the wait returns at once.
//! * Even so, `flush` does not trust that: it waits until it has reaped one completion per entry
//!   it queued before it rewrites any slot. If the ring breaks half way (an unexpected
//!   `io_uring_enter` error), the arena is leaked rather than freed, because the kernel might
//!   still read it, and the ring falls back to plain `send_to`.
//!
//! The arena (bytes, destination `sockaddr_storage`, `iovec`, `msghdr` per slot) is allocated once
//! in [`SendRing::new`]; nothing is allocated, locked or logged per packet. Datagrams larger than a
//! slot, and every datagram when io_uring is unavailable (old kernel, seccomp), go out directly
//! with a non-blocking `send_to`.
//!
//! Contract for the caller: a socket passed to [`SendRing::queue`] stays open until the next
//! [`SendRing::flush`] (the shard flushes right after its send loop, before any call can end).

// The crate denies `unsafe`; this module is the one place the send path needs it (raw io_uring
// entries pointing into the slot arena, C socket addresses). Each block carries its SAFETY note.
#![allow(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use io_uring::{IoUring, opcode, types};

/// Largest datagram copied into a slot; larger ones are sent directly with `send_to`.
pub const SLOT_BYTES: usize = 1536;

/// Slots of a shard's ring: more than one tick's datagrams at full load (one RTP packet per call,
/// plus RTCP now and then); a tick that sends more flushes early.
pub const SHARD_CAPACITY: usize = 1024;

/// Largest ring io_uring accepts (`IORING_MAX_ENTRIES`).
const MAX_ENTRIES: usize = 32_768;

/// `io_uring_enter` failures (interrupts, transient EAGAIN/EBUSY) tolerated in one flush.
const MAX_ENTER_ERRORS: u32 = 64;

/// Whether the fallback has been logged already (once per process).
static WARNED: AtomicBool = AtomicBool::new(false);

/// One queued datagram and what the kernel needs to send it (all pointers point into the slot).
struct Slot {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: libc::sockaddr_storage,
    buf: [u8; SLOT_BYTES],
}

impl Slot {
    fn zeroed() -> Slot {
        // SAFETY: `msghdr`, `iovec` and `sockaddr_storage` are plain C structs for which all-zero
        // bytes are valid (null pointers, zero lengths, AF_UNSPEC); the byte array likewise.
        unsafe { std::mem::zeroed() }
    }
}

/// A shard's batch of outgoing datagrams: [`queue`](SendRing::queue) them during the tick, then
/// [`flush`](SendRing::flush) once. See the module docs.
pub struct SendRing {
    ring: Option<IoUring>,
    slots: Box<[Slot]>,
    /// Entries pushed to the submission queue and not yet flushed.
    queued: usize,
    /// Tests: punt every send to io_uring's worker threads, so completions arrive after the submit.
    #[cfg(test)]
    force_async: bool,
    sent: u64,
    failed: u64,
    batches: u64,
}

impl std::fmt::Debug for SendRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRing")
            .field("uring", &self.ring.is_some())
            .field("capacity", &self.slots.len())
            .field("queued", &self.queued)
            .field("sent", &self.sent)
            .field("failed", &self.failed)
            .field("batches", &self.batches)
            .finish()
    }
}

impl SendRing {
    /// A ring of `capacity` slots (at least 1, at most 32,768), or the `send_to` fallback when
    /// io_uring cannot be set up (logged once at `warn`).
    pub fn new(capacity: usize) -> SendRing {
        let capacity = capacity.clamp(1, MAX_ENTRIES);
        match IoUring::new(capacity as u32) {
            Ok(ring) => SendRing {
                ring: Some(ring),
                slots: (0..capacity).map(|_| Slot::zeroed()).collect(),
                ..SendRing::fallback()
            },
            Err(error) => {
                warn_fallback(&error);
                SendRing::fallback()
            }
        }
    }

    /// The fallback: every datagram goes out at once with a non-blocking `send_to`.
    pub fn fallback() -> SendRing {
        SendRing {
            ring: None,
            slots: Box::default(),
            queued: 0,
            #[cfg(test)]
            force_async: false,
            sent: 0,
            failed: 0,
            batches: 0,
        }
    }

    /// Whether sends go through io_uring (false: the `send_to` fallback).
    pub fn is_uring(&self) -> bool {
        self.ring.is_some()
    }

    /// Queues `bytes` for `to` from `sock` (sent at the next [`flush`](SendRing::flush); at once
    /// when larger than [`SLOT_BYTES`] or on the fallback). `sock` must stay open until that flush.
    pub fn queue(&mut self, sock: &UdpSocket, to: SocketAddr, bytes: &[u8]) {
        if bytes.len() > SLOT_BYTES || self.ring.is_none() {
            self.send_direct(sock, to, bytes);
            return;
        }
        if self.queued == self.slots.len() {
            self.flush();
        }
        let idx = self.queued;
        // A flush that broke the ring left the fallback.
        let Some(ring) = self.ring.as_mut() else {
            self.send_direct(sock, to, bytes);
            return;
        };
        let slot = &mut self.slots[idx];
        slot.buf[..bytes.len()].copy_from_slice(bytes);
        slot.msg.msg_namelen = write_addr(&mut slot.addr, to);
        slot.msg.msg_name = (&raw mut slot.addr).cast();
        slot.iov.iov_base = slot.buf.as_mut_ptr().cast();
        slot.iov.iov_len = bytes.len();
        slot.msg.msg_iov = &raw mut slot.iov;
        slot.msg.msg_iovlen = 1;
        let sqe = opcode::SendMsg::new(types::Fd(sock.as_raw_fd()), &raw const slot.msg)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(idx as u64);
        #[cfg(test)]
        let sqe = if self.force_async {
            sqe.flags(io_uring::squeue::Flags::ASYNC)
        } else {
            sqe
        };
        // SAFETY: the entry points at `self.slots[idx]` (msghdr → iovec → buf, and the address),
        // a heap arena that is neither moved, freed nor rewritten until `flush` has reaped this
        // entry's completion (or leaked the arena, see `abandon`). The fd is borrowed from `sock`,
        // which the caller keeps open until that flush; a closed fd would only fail the send.
        let pushed = unsafe { ring.submission().push(&sqe) };
        match pushed {
            Ok(()) => self.queued += 1,
            // Cannot happen (the ring has at least `slots.len()` entries), but never lose the packet.
            Err(_) => self.send_direct(sock, to, bytes),
        }
    }

    /// Submits every queued datagram in one `io_uring_enter`, waits for all their completions,
    /// counts them and frees the slots. Never blocks on a socket (the sends carry `MSG_DONTWAIT`).
    pub fn flush(&mut self) {
        let n = self.queued;
        if n == 0 {
            return;
        }
        let Some(ring) = self.ring.as_mut() else {
            self.queued = 0;
            return;
        };
        let mut reaped = 0;
        let mut errors = 0;
        while reaped < n {
            if let Err(e) = ring.submit_and_wait(n - reaped) {
                errors += 1;
                let transient = matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY));
                if !transient || errors > MAX_ENTER_ERRORS {
                    self.abandon(n - reaped, &e);
                    return;
                }
            }
            for cqe in ring.completion() {
                reaped += 1;
                if cqe.result() >= 0 {
                    self.sent += 1;
                } else {
                    self.failed += 1;
                }
            }
        }
        self.queued = 0;
        self.batches += 1;
    }

    /// Datagrams handed to the kernel successfully (ring and direct sends).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Datagrams the kernel refused (full socket buffer, bad destination, …): dropped.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Flushes that submitted at least one datagram.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Datagrams queued and not yet flushed.
    pub fn pending(&self) -> usize {
        self.queued
    }

    fn send_direct(&mut self, sock: &UdpSocket, to: SocketAddr, bytes: &[u8]) {
        if super::rtp_io::send(sock, to, bytes) {
            self.sent += 1;
        } else {
            self.failed += 1;
        }
    }

    /// The ring failed for good: count what is outstanding as dropped, keep the arena alive
    /// forever (the kernel may still read entries it took), and fall back to `send_to`.
    #[cold]
    fn abandon(&mut self, outstanding: usize, error: &std::io::Error) {
        self.failed += outstanding as u64;
        self.queued = 0;
        self.ring = None;
        std::mem::forget(std::mem::take(&mut self.slots));
        warn_fallback(error);
    }
}

fn warn_fallback(error: &std::io::Error) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(%error, "io_uring unavailable for media sends; falling back to send_to");
    }
}

/// Writes `to` as a `sockaddr_in`/`sockaddr_in6` into `storage`; returns its length.
fn write_addr(storage: &mut libc::sockaddr_storage, to: SocketAddr) -> libc::socklen_t {
    match to {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than `sockaddr_in` and at least as aligned
            // (that is its purpose); the pointer comes from a live `&mut`.
            unsafe { (&raw mut *storage).cast::<libc::sockaddr_in>().write(sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for `sockaddr_in6`.
            unsafe { (&raw mut *storage).cast::<libc::sockaddr_in6>().write(sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests;
