//! Batched media receives: every call's RTP and RTCP socket has one multishot
//! `IORING_OP_RECVMSG` armed on the shard's receive ring, and one wake-up of the ring's fd hands
//! the shard every datagram that arrived since the last one.
//!
//! # Why
//! Before, each socket had a tokio-uring task doing one `recv_from` operation per datagram: per
//! packet an SQE to prepare and submit, a `msghdr` copied in by the kernel, a completion routed
//! to a task, a task wake-up and poll. At 400 calls (20,000 RTP datagrams a second in) that was
//! ≈ 7 % of the shard in `io_recvmsg` and ≈ 5 % in the task machinery. A multishot receive is prepared once per socket and
//! posts one completion per datagram into a buffer the kernel picks from a ring of provided
//! buffers (kernel ≥ 6.0); [`RecvRing::drain`] reaps all of them in one pass and gives each
//! buffer back.
//!
//! # Lifetime rules (why the raw buffers are sound)
//! * The buffer area and the buffer ring are allocated once in [`RecvRing::new`]. The kernel
//!   writes a datagram only into a buffer that is in the ring; a buffer leaves the ring when its
//!   completion is posted and is ours until [`RecvRing::drain`] puts it back (after the datagram
//!   was handed on).
//! * A socket is never closed while its receive is armed: [`RecvRing::remove`] cancels the
//!   operation and the socket is dropped when its last completion arrives (usually at once; a
//!   call that binds the port before that skips it, as for any port another socket holds).
//! * On drop every armed receive is cancelled and its final completion awaited (bounded); if the
//!   kernel does not confirm them all, the buffers are leaked rather than freed.
//!
//! Each socket has `SO_TIMESTAMPNS` set, so every datagram carries the kernel's receive time in
//! the receive's control data: the shard stamps a packet with when it arrived, not with when the
//! drain ran (a packet that arrives during a busy tick would otherwise look late to the jitter
//! buffer, and raise its delay for nothing).
//!
//! A multishot receive ends when the ring runs out of buffers (`ENOBUFS`) or the completion queue
//! overflows; the socket is re-armed at the end of the drain, once every buffer is back, and its
//! datagrams wait in the socket's receive buffer meanwhile. Nothing is allocated, locked or
//! logged per datagram.

// The crate denies `unsafe`; this module needs it for the kernel-shared buffer memory and the
// buffer ring. Each block carries its SAFETY note.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Buffers of a shard's ring: more than the datagrams that arrive while one busy tick runs at
/// full load (a drain gives every buffer back).
pub const SHARD_BUFFERS: u16 = 1024;

/// Bytes per buffer: the kernel's header, the source address, the receive time and the datagram. A datagram that
/// does not fit is dropped (counted as truncated): RTP over UDP stays under the 1,500 B MTU.
pub const BUFFER_BYTES: usize = 2048;

/// Buffer group id of the ring (one group per ring).
const GROUP: u16 = 0;

/// Bytes of `struct io_uring_recvmsg_out`, the header the kernel writes before the address.
const RECVMSG_OUT: usize = 16;

/// Control data room per datagram: one `SCM_TIMESTAMPNS` message (a `cmsghdr` and a `timespec`).
const CONTROL_BYTES: usize = std::mem::size_of::<libc::cmsghdr>() + std::mem::size_of::<libc::timespec>();

/// `IORING_ENTER_GETEVENTS`.
const ENTER_GETEVENTS: u32 = 1;

/// `user_data` of cancel requests (their completions are ignored).
const CANCEL: u64 = u64::MAX;

/// Submission entries (arming and cancelling only; receives are multishot).
const SQ_ENTRIES: u32 = 256;

/// Completions copied out of the queue at a time.
const BATCH: usize = 64;

/// Consecutive failed receives (errors other than running out of buffers) after which a socket is
/// no longer re-armed.
const MAX_FAILURES: u8 = 3;

/// How long dropping the ring waits for the kernel to confirm every receive was cancelled.
const DROP_WAIT: Duration = Duration::from_millis(500);

/// Names one socket added to the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvToken {
    idx: u32,
    epoch: u32,
}

impl RecvToken {
    fn user_data(self) -> u64 {
        (u64::from(self.epoch) << 32) | u64::from(self.idx)
    }

    fn from_user_data(ud: u64) -> RecvToken {
        RecvToken {
            idx: ud as u32,
            epoch: (ud >> 32) as u32,
        }
    }
}

/// Counters since the ring was created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecvStats {
    /// Datagrams handed on.
    pub datagrams: u64,
    /// Drains that handed on at least one datagram.
    pub batches: u64,
    /// Datagrams dropped because they did not fit a buffer.
    pub truncated: u64,
    /// Multishot receives re-armed after they ended.
    pub rearms: u64,
    /// Sockets no longer received after repeated errors.
    pub given_up: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// A multishot receive is in flight.
    Armed,
    /// The receive ended; the socket is re-armed at the end of the drain.
    Idle,
    /// Removed; the socket closes when the receive's last completion arrives.
    Cancelling,
}

struct Slot<T> {
    sock: Option<UdpSocket>,
    tag: Option<T>,
    epoch: u32,
    state: State,
    failures: u8,
}

/// A shard's multishot receives over provided buffers; `T` tags each socket's datagrams. See the
/// module docs.
pub struct RecvRing<T> {
    ring: IoUring,
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    buf_bytes: usize,
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    mask: u16,
    /// Next free position of the buffer ring (published to the kernel by `publish`).
    tail: u16,
    /// What each receive asks for: room for an IPv6 source address, no control data.
    msghdr: Box<libc::msghdr>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    rearm: Vec<RecvToken>,
    dead: Vec<RecvToken>,
    stats: RecvStats,
}

impl<T> std::fmt::Debug for RecvRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvRing")
            .field("buffers", &(usize::from(self.mask) + 1))
            .field("buf_bytes", &self.buf_bytes)
            .field("sockets", &self.sockets())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<T> RecvRing<T> {
    /// Sockets added and not yet fully removed.
    pub fn sockets(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

impl<T: Copy> RecvRing<T> {
    /// A ring of `buffers` buffers (a power of two, at most 32,768) of `buf_bytes` bytes each.
    /// Fails when the kernel lacks io_uring, provided buffer rings (5.19) or multishot receive
    /// (6.0 — that one shows only when a socket is added).
    pub fn new(buffers: u16, buf_bytes: usize) -> std::io::Result<RecvRing<T>> {
        let invalid = |what| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        if !buffers.is_power_of_two() || buffers > 32_768 {
            return Err(invalid("buffer count must be a power of two ≤ 32768"));
        }
        let min = RECVMSG_OUT + std::mem::size_of::<libc::sockaddr_in6>() + CONTROL_BYTES + 16;
        if buf_bytes < min || buf_bytes > u32::MAX as usize {
            return Err(invalid("buffer size out of range"));
        }
        let cq = (u32::from(buffers) * 2).max(SQ_ENTRIES * 2);
        let mut builder = IoUring::builder();
        builder.setup_coop_taskrun().setup_taskrun_flag().setup_cqsize(cq);
        let uring = match builder.build(SQ_ENTRIES) {
            Ok(r) => r,
            Err(_) => IoUring::builder().setup_cqsize(cq).build(SQ_ENTRIES)?,
        };
        let n = usize::from(buffers);
        let entries_layout =
            Layout::from_size_align(n * std::mem::size_of::<BufRingEntry>(), 4096).map_err(|_| invalid("layout"))?;
        let bufs_layout = Layout::from_size_align(n * buf_bytes, 64).map_err(|_| invalid("layout"))?;
        // SAFETY: both layouts have a non-zero size (buffers ≥ 1, buf_bytes ≥ min).
        let (entries, bufs) = unsafe {
            (
                std::alloc::alloc_zeroed(entries_layout),
                std::alloc::alloc_zeroed(bufs_layout),
            )
        };
        let (Some(entries), Some(bufs)) = (NonNull::new(entries.cast::<BufRingEntry>()), NonNull::new(bufs)) else {
            std::alloc::handle_alloc_error(entries_layout);
        };
        // SAFETY: `entries` is a page-aligned, zeroed array of `buffers` ring entries that lives
        // until the ring is unregistered or dropped (see Drop, which frees it only after the
        // kernel has confirmed no receive is left, or leaks it).
        let registered = unsafe {
            uring
                .submitter()
                .register_buf_ring(entries.as_ptr() as u64, buffers, GROUP)
        };
        let mut msghdr: Box<libc::msghdr> = Box::new(
            // SAFETY: all-zero bytes are a valid `msghdr` (null pointers, zero lengths).
            unsafe { std::mem::zeroed() },
        );
        msghdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msghdr.msg_controllen = CONTROL_BYTES;
        let mut ring = RecvRing {
            ring: uring,
            bufs,
            bufs_layout,
            buf_bytes,
            entries,
            entries_layout,
            mask: buffers - 1,
            tail: 0,
            msghdr,
            slots: Vec::new(),
            free: Vec::new(),
            rearm: Vec::new(),
            dead: Vec::new(),
            stats: RecvStats::default(),
        };
        // Without a registered ring no receive can reach the buffers: Drop frees them.
        registered?;
        for bid in 0..buffers {
            ring.give_back(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// A reactor registration on a duplicate of the ring's fd, readable when completions wait
    /// (call inside a tokio runtime).
    pub fn watch(&self) -> std::io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: the ring's fd is open for as long as `self.ring` lives, which covers this call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.ring.as_raw_fd()) }.try_clone_to_owned()?;
        // SAFETY: the registration owns `fd`, so it stays open until the registration is dropped.
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
    }

    /// Counters.
    pub fn stats(&self) -> RecvStats {
        self.stats
    }

    /// Starts receiving on `sock` (non-blocking UDP); its datagrams are handed on with `tag` and
    /// their kernel receive time. The ring owns the socket from now on.
    pub fn add(&mut self, sock: UdpSocket, tag: T) -> std::io::Result<RecvToken> {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket fd and a pointer to a live `c_int` of the given length. On
        // failure datagrams simply come without a receive time.
        let _ = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    sock: None,
                    tag: None,
                    epoch: 0,
                    state: State::Free,
                    failures: 0,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[idx as usize];
        s.epoch = s.epoch.wrapping_add(1);
        s.sock = Some(sock);
        s.tag = Some(tag);
        s.failures = 0;
        s.state = State::Idle;
        let token = RecvToken { idx, epoch: s.epoch };
        if let Err(e) = self.arm(token).and_then(|()| self.submit()) {
            self.release(idx);
            return Err(e);
        }
        Ok(token)
    }

    /// Stops receiving on the socket; it closes once the kernel confirms (see the module docs).
    /// A stale or unknown token is ignored.
    pub fn remove(&mut self, token: RecvToken) {
        let Some(s) = self.slot_mut(token) else { return };
        match s.state {
            State::Armed => {
                s.state = State::Cancelling;
                let cancel = opcode::AsyncCancel::new(token.user_data()).build().user_data(CANCEL);
                if self.push(&cancel).and_then(|()| self.submit()).is_err() {
                    // The ring is broken: the receive can never complete, keep the socket open
                    // (and its buffers: Drop leaks them) rather than risk the kernel writing on.
                    tracing::warn!("receive ring: cannot cancel a receive");
                }
            }
            State::Idle => self.release(token.idx),
            State::Free | State::Cancelling => {}
        }
    }

    /// Hands every datagram that has arrived to `deliver(tag, source, bytes, received)`, where
    /// `received` is the kernel's receive time (`CLOCK_REALTIME`, since the Unix epoch) when the
    /// datagram carried one; a socket for which `deliver` returns `false` is removed. Returns the
    /// datagrams handed on.
    pub fn drain(&mut self, mut deliver: impl FnMut(T, SocketAddr, &[u8], Option<Duration>) -> bool) -> usize {
        let (taskrun, overflow) = {
            let sq = self.ring.submission();
            (sq.taskrun(), sq.cq_overflow())
        };
        if taskrun || overflow {
            // Run the receives' pending task work and flush overflowed completions.
            // SAFETY: no argument is passed.
            let _ = unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 0, ENTER_GETEVENTS, None)
            };
        }
        let mut handed = 0;
        let mut batch = [(0u64, 0i32, 0u32); BATCH];
        loop {
            let mut n = 0;
            for cqe in self.ring.completion().take(BATCH) {
                batch[n] = (cqe.user_data(), cqe.result(), cqe.flags());
                n += 1;
            }
            if n == 0 {
                break;
            }
            for &(ud, res, flags) in &batch[..n] {
                if ud == CANCEL {
                    continue;
                }
                let token = RecvToken::from_user_data(ud);
                if let Some(bid) = cqueue::buffer_select(flags) {
                    let live = self
                        .slots
                        .get_mut(token.idx as usize)
                        .filter(|s| s.epoch == token.epoch);
                    if res >= 0
                        && let Some(s) = live
                        && s.state == State::Armed
                        && let Some(tag) = s.tag
                    {
                        s.failures = 0;
                        // SAFETY: the kernel posted this completion for buffer `bid`, which it
                        // took from the ring; it is ours (the kernel does not touch it) until
                        // `give_back` below, and lies inside the buffer area.
                        let buf = unsafe {
                            std::slice::from_raw_parts(
                                self.bufs.as_ptr().add(usize::from(bid & self.mask) * self.buf_bytes),
                                self.buf_bytes,
                            )
                        };
                        match parse(buf, &self.msghdr) {
                            Some((src, bytes, received)) => {
                                handed += 1;
                                if !deliver(tag, src, bytes, received) {
                                    self.dead.push(token);
                                }
                            }
                            None => self.stats.truncated += 1,
                        }
                    }
                    self.give_back(bid);
                }
                if !cqueue::more(flags) {
                    self.ended(token, res);
                }
            }
            self.publish();
        }
        while let Some(t) = self.dead.pop() {
            self.remove(t);
        }
        let mut armed = false;
        while let Some(t) = self.rearm.pop() {
            if self.slot_mut(t).is_some_and(|s| s.state == State::Idle) {
                self.stats.rearms += 1;
                armed |= self.arm(t).is_ok();
            }
        }
        if armed {
            let _ = self.submit();
        }
        if handed > 0 {
            self.stats.datagrams += handed as u64;
            self.stats.batches += 1;
        }
        handed
    }

    /// A receive's last completion: re-arm it (after the drain) or, when removed, close it.
    fn ended(&mut self, token: RecvToken, res: i32) {
        let Some(s) = self.slot_mut(token) else { return };
        match s.state {
            State::Armed => {
                s.state = State::Idle;
                if res < 0 && res != -libc::ENOBUFS {
                    s.failures += 1;
                }
                if s.failures >= MAX_FAILURES {
                    self.stats.given_up += 1;
                    tracing::warn!(error = %std::io::Error::from_raw_os_error(-res), "receive ring: a media socket keeps failing; no longer received");
                } else {
                    self.rearm.push(token);
                }
            }
            State::Cancelling => self.release(token.idx),
            State::Free | State::Idle => {}
        }
    }

    fn slot_mut(&mut self, token: RecvToken) -> Option<&mut Slot<T>> {
        self.slots
            .get_mut(token.idx as usize)
            .filter(|s| s.epoch == token.epoch && s.state != State::Free)
    }

    /// Closes the socket and frees its slot.
    fn release(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        s.sock = None;
        s.tag = None;
        s.state = State::Free;
        self.free.push(idx);
    }

    /// Queues the multishot receive of `token`'s socket (submitted by the caller).
    fn arm(&mut self, token: RecvToken) -> std::io::Result<()> {
        let Some(s) = self.slots.get_mut(token.idx as usize) else {
            return Ok(());
        };
        let Some(fd) = s.sock.as_ref().map(|s| s.as_raw_fd()) else {
            return Ok(());
        };
        let sqe = opcode::RecvMsgMulti::new(Fd(fd), &*self.msghdr, GROUP)
            .build()
            .user_data(token.user_data());
        self.push(&sqe)?;
        if let Some(s) = self.slots.get_mut(token.idx as usize) {
            s.state = State::Armed;
        }
        Ok(())
    }

    fn push(&mut self, sqe: &io_uring::squeue::Entry) -> std::io::Result<()> {
        for _ in 0..2 {
            // SAFETY: the entry points at `self.msghdr` (boxed, lives as long as the ring) and at
            // a socket fd the slot keeps open until the receive's last completion; a cancel
            // entry points at nothing.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.submit()?;
        }
        Err(std::io::Error::other("receive ring submission queue full"))
    }

    fn submit(&mut self) -> std::io::Result<()> {
        let mut last = None;
        for _ in 0..8 {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("io_uring_enter")))
    }

    /// Puts buffer `bid` back at the ring's tail (visible to the kernel after `publish`).
    fn give_back(&mut self, bid: u16) {
        let bid = bid & self.mask;
        // SAFETY: the entry index is masked into the ring; the kernel only reads entries between
        // its head and the published tail, and this one is past the tail until `publish`. The
        // setters leave the entry's `resv` field (the ring's tail, in entry 0) alone.
        unsafe {
            let e = &mut *self.entries.as_ptr().add(usize::from(self.tail & self.mask));
            e.set_addr(self.bufs.as_ptr().add(usize::from(bid) * self.buf_bytes) as u64);
            e.set_len(self.buf_bytes as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is a u16 inside the registered, live ring memory, which the kernel
        // reads with acquire semantics; it is only ever written here, on this thread.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl<T> Drop for RecvRing<T> {
    fn drop(&mut self) {
        let mut waiting = 0usize;
        let mut broken = false;
        for (idx, s) in self.slots.iter_mut().enumerate() {
            if matches!(s.state, State::Armed | State::Cancelling) {
                waiting += 1;
                if s.state == State::Armed {
                    s.state = State::Cancelling;
                    let ud = RecvToken {
                        idx: idx as u32,
                        epoch: s.epoch,
                    }
                    .user_data();
                    let cancel = opcode::AsyncCancel::new(ud).build().user_data(CANCEL);
                    // SAFETY: a cancel entry points at no memory.
                    while unsafe { self.ring.submission().push(&cancel) }.is_err() {
                        if self.ring.submit().is_err() {
                            broken = true;
                            break;
                        }
                    }
                }
            }
        }
        let deadline = Instant::now() + DROP_WAIT;
        while waiting > 0 && !broken && Instant::now() < deadline {
            let ts = Timespec::new().nsec(10_000_000);
            let args = SubmitArgs::new().timespec(&ts);
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {}
                Err(_) => broken = true,
            }
            for cqe in self.ring.completion() {
                if cqe.user_data() != CANCEL && !cqueue::more(cqe.flags()) {
                    let t = RecvToken::from_user_data(cqe.user_data());
                    if let Some(s) = self.slots.get_mut(t.idx as usize)
                        && s.epoch == t.epoch
                        && s.state == State::Cancelling
                    {
                        s.state = State::Free;
                        s.sock = None;
                        waiting -= 1;
                    }
                }
            }
        }
        if waiting == 0 {
            let _ = self.ring.submitter().unregister_buf_ring(GROUP);
            // SAFETY: no receive is left and the buffer ring is unregistered (or the ring is
            // about to close with nothing in flight), so the kernel cannot touch the memory.
            unsafe {
                std::alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout);
                std::alloc::dealloc(self.bufs.as_ptr(), self.bufs_layout);
            }
        } else {
            tracing::warn!(
                waiting,
                "receive ring: receives not confirmed cancelled; leaking its buffers"
            );
        }
    }
}

/// The source address, payload and receive time of a multishot receive's buffer; `None` when the
/// datagram was truncated or the address is not IPv4/IPv6.
fn parse<'a>(buf: &'a [u8], msghdr: &libc::msghdr) -> Option<(SocketAddr, &'a [u8], Option<Duration>)> {
    let out = io_uring::types::RecvMsgOut::parse(buf, msghdr).ok()?;
    if out.is_payload_truncated() || out.is_name_data_truncated() {
        return None;
    }
    let src = sockaddr(out.name_data())?;
    let received = timestamp(out.control_data());
    // The payload's place in `buf` (`payload_data` borrows `out`, not `buf`).
    let payload = out.payload_data();
    let start = payload.as_ptr() as usize - buf.as_ptr() as usize;
    buf.get(start..start + payload.len()).map(|p| (src, p, received))
}

/// The `SCM_TIMESTAMPNS` time in a datagram's control data, as time since the Unix epoch.
fn timestamp(control: &[u8]) -> Option<Duration> {
    let head = std::mem::size_of::<libc::cmsghdr>();
    let data = control.get(head..head + std::mem::size_of::<libc::timespec>())?;
    // SAFETY: `control` holds at least a `cmsghdr` (checked by the slice above); it is read
    // unaligned, as bytes the kernel wrote in the C layout.
    let cmsg = unsafe { control.as_ptr().cast::<libc::cmsghdr>().read_unaligned() };
    if cmsg.cmsg_level != libc::SOL_SOCKET || cmsg.cmsg_type != libc::SCM_TIMESTAMPNS {
        return None;
    }
    // SAFETY: `data` is exactly one `timespec` long; read unaligned.
    let ts = unsafe { data.as_ptr().cast::<libc::timespec>().read_unaligned() };
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok().filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(secs, nanos))
}

/// A `sockaddr_in` / `sockaddr_in6` in its C byte layout.
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes([*b.first()?, *b.get(1)?]));
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
