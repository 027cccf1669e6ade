//! `runtime-cmp`: how much CPU does one pinned runtime thread spend per echoed UDP datagram?
//!
//! One pinned thread runs the runtime under test (tokio-uring, glommio or tokio on epoll) with N UDP
//! sockets, each echoing every datagram back to its sender (`recv_from` → `send_to`). A separate pinned
//! load-generator thread sends 172-byte RTP-sized datagrams round-robin to those sockets at a bounded
//! rate and drains the echoes. After a warm-up the runtime thread samples its own CPU time
//! (`getrusage(RUSAGE_THREAD)`) and echo count over the measurement window; the figure of merit is
//! runtime-thread CPU nanoseconds per echoed packet.
//!
//! ```text
//! runtime-cmp --runtime tokio-uring|glommio|tokio-epoll [--sockets 200] [--seconds 5] [--rate 20000]
//! ```
//! Loopback only, bounded in time (warm-up + window ≤ 10 s).

use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// RTP header (12) + 160 bytes of 20 ms G.711.
const PACKET_LEN: usize = 172;
const WARMUP: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Runtime {
    TokioUring,
    Glommio,
    TokioEpoll,
}

#[derive(Debug)]
struct Args {
    runtime: Runtime,
    sockets: usize,
    seconds: f64,
    rate: u64,
    runtime_core: usize,
    load_core: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        runtime: Runtime::TokioUring,
        sockets: 200,
        seconds: 5.0,
        rate: 20_000,
        runtime_core: 1,
        load_core: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = format!("bad value for {flag}: {val}");
        match flag.as_str() {
            "--runtime" => {
                a.runtime = match val.as_str() {
                    "tokio-uring" => Runtime::TokioUring,
                    "glommio" => Runtime::Glommio,
                    "tokio-epoll" => Runtime::TokioEpoll,
                    _ => return Err(format!("unknown runtime {val}")),
                }
            }
            "--sockets" => a.sockets = val.parse().map_err(|_| bad.clone())?,
            "--seconds" => a.seconds = val.parse().map_err(|_| bad.clone())?,
            "--rate" => a.rate = val.parse().map_err(|_| bad.clone())?,
            "--runtime-core" => a.runtime_core = val.parse().map_err(|_| bad.clone())?,
            "--load-core" => a.load_core = val.parse().map_err(|_| bad.clone())?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !(0.1..=9.0).contains(&a.seconds) {
        return Err("--seconds must be within 0.1..=9 (runs are bounded to 10 s)".into());
    }
    if a.sockets == 0 || a.rate == 0 {
        return Err("--sockets and --rate must be > 0".into());
    }
    Ok(a)
}

/// CPU time (user + system) and context switches of the calling thread.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    cpu_ns: u64,
    vol_cs: i64,
    invol_cs: i64,
}

fn thread_usage() -> Usage {
    // SAFETY: `rusage` is plain old data, so the all-zero bit pattern is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`; RUSAGE_THREAD only reads the calling thread's counters.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD) failed");
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    Usage {
        cpu_ns: tv(ru.ru_utime) + tv(ru.ru_stime),
        vol_cs: ru.ru_nvcsw,
        invol_cs: ru.ru_nivcsw,
    }
}

/// What the runtime thread measured over the window.
#[derive(Debug)]
struct Measured {
    wall: Duration,
    echoed: u64,
    usage: Usage,
}

/// Samples (echo count, usage, time) at the start and end of the window, on the runtime thread.
struct Window {
    t0: Instant,
    echoed0: u64,
    u0: Usage,
}

impl Window {
    fn open(echoed: u64) -> Self {
        Self {
            t0: Instant::now(),
            echoed0: echoed,
            u0: thread_usage(),
        }
    }
    fn close(self, echoed: u64) -> Measured {
        let u1 = thread_usage();
        Measured {
            wall: self.t0.elapsed(),
            echoed: echoed - self.echoed0,
            usage: Usage {
                cpu_ns: u1.cpu_ns - self.u0.cpu_ns,
                vol_cs: u1.vol_cs - self.u0.vol_cs,
                invol_cs: u1.invol_cs - self.u0.invol_cs,
            },
        }
    }
}

fn bind_sockets(n: usize) -> Vec<UdpSocket> {
    (0..n)
        .map(|_| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
            s.set_recv_buffer_size(256 * 1024).ok();
            s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
                .expect("bind loopback");
            s.set_nonblocking(true).expect("nonblocking");
            s.into()
        })
        .collect()
}

fn pin(core: usize) {
    let ok = core_affinity::set_for_current(core_affinity::CoreId { id: core });
    if !ok {
        eprintln!("warning: could not pin to core {core}");
    }
}

fn run_tokio_uring(socks: Vec<UdpSocket>, window: Duration) -> Measured {
    tokio_uring::builder().entries(1024).start(async move {
        let echoed = Rc::new(Cell::new(0u64));
        for s in socks {
            let s = tokio_uring::net::UdpSocket::from_std(s);
            let echoed = echoed.clone();
            tokio_uring::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    let (res, b) = s.recv_from(buf).await;
                    let Ok((n, from)) = res else { return };
                    let (res, slice) = s.send_to(tokio_uring::buf::BoundedBuf::slice(b, ..n), from).await;
                    buf = slice.into_inner();
                    if res.is_ok() {
                        echoed.set(echoed.get() + 1);
                    }
                }
            });
        }
        tokio::time::sleep(WARMUP).await;
        let w = Window::open(echoed.get());
        tokio::time::sleep(window).await;
        w.close(echoed.get())
    })
}

fn run_tokio_epoll(socks: Vec<UdpSocket>, window: Duration) -> Measured {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let echoed = Rc::new(Cell::new(0u64));
        for s in socks {
            let s = tokio::net::UdpSocket::from_std(s).expect("register socket");
            let echoed = echoed.clone();
            tokio::task::spawn_local(async move {
                let mut buf = [0u8; 2048];
                loop {
                    let Ok((n, from)) = s.recv_from(&mut buf).await else {
                        return;
                    };
                    if s.send_to(&buf[..n], from).await.is_ok() {
                        echoed.set(echoed.get() + 1);
                    }
                }
            });
        }
        tokio::time::sleep(WARMUP).await;
        let w = Window::open(echoed.get());
        tokio::time::sleep(window).await;
        w.close(echoed.get())
    })
}

fn run_glommio(socks: Vec<UdpSocket>, window: Duration) -> Measured {
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .make()
        .expect("glommio executor");
    ex.run(async move {
        let echoed = Rc::new(Cell::new(0u64));
        for s in socks {
            // glommio 0.9 uses socket2 0.4, so hand the descriptor over raw.
            let fd = std::os::fd::IntoRawFd::into_raw_fd(s);
            // SAFETY: `fd` is an open UDP socket whose ownership we just released with `into_raw_fd`;
            // glommio's UdpSocket takes sole ownership and closes it on drop.
            let s = unsafe { <glommio::net::UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let echoed = echoed.clone();
            glommio::spawn_local(async move {
                let mut buf = [0u8; 2048];
                loop {
                    let Ok((n, from)) = s.recv_from(&mut buf).await else {
                        return;
                    };
                    if s.send_to(&buf[..n], from).await.is_ok() {
                        echoed.set(echoed.get() + 1);
                    }
                }
            })
            .detach();
        }
        glommio::timer::sleep(WARMUP).await;
        let w = Window::open(echoed.get());
        glommio::timer::sleep(window).await;
        w.close(echoed.get())
    })
}

/// Counts of the load generator.
#[derive(Debug, Default)]
struct LoadStats {
    sent: u64,
    send_errors: u64,
    received: u64,
}

/// Sends `rate` packets/s round-robin to `targets` in 1 ms ticks and drains echoes, until `stop`.
fn load_generator(targets: Vec<SocketAddr>, rate: u64, stop: Arc<AtomicBool>, recv_total: Arc<AtomicU64>) -> LoadStats {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    s.set_recv_buffer_size(8 * 1024 * 1024).ok();
    s.set_send_buffer_size(8 * 1024 * 1024).ok();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
    s.set_nonblocking(true).expect("nonblocking");
    let s: UdpSocket = s.into();
    let mut pkt = [0u8; PACKET_LEN];
    pkt[0] = 0x80;
    let mut rbuf = [0u8; 2048];
    let mut st = LoadStats::default();
    let start = Instant::now();
    let mut next = 0usize;
    let tick = Duration::from_millis(1);
    let mut ticks = 0u64;
    while !stop.load(Ordering::Relaxed) {
        ticks += 1;
        // Packets due by the end of this tick (integer pacing, no drift).
        let due = rate * ticks / 1000;
        while st.sent + st.send_errors < due {
            pkt[2..4].copy_from_slice(&(st.sent as u16).to_be_bytes());
            match s.send_to(&pkt, targets[next]) {
                Ok(_) => st.sent += 1,
                Err(_) => st.send_errors += 1,
            }
            next = (next + 1) % targets.len();
        }
        while s.recv_from(&mut rbuf).is_ok() {
            st.received += 1;
        }
        recv_total.store(st.received, Ordering::Relaxed);
        let deadline = start + tick * ticks as u32;
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
    }
    // Last echoes in flight.
    std::thread::sleep(Duration::from_millis(20));
    while s.recv_from(&mut rbuf).is_ok() {
        st.received += 1;
    }
    st
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("runtime-cmp: {e}");
            eprintln!(
                "usage: runtime-cmp --runtime tokio-uring|glommio|tokio-epoll [--sockets N] [--seconds S] [--rate PPS] [--runtime-core C] [--load-core C]"
            );
            std::process::exit(2);
        }
    };
    let socks = bind_sockets(args.sockets);
    let targets: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().expect("local addr")).collect();
    let window = Duration::from_secs_f64(args.seconds);
    let (runtime, rcore, lcore) = (args.runtime, args.runtime_core, args.load_core);

    let rt_thread = std::thread::Builder::new()
        .name("runtime".into())
        .spawn(move || {
            pin(rcore);
            match runtime {
                Runtime::TokioUring => run_tokio_uring(socks, window),
                Runtime::Glommio => run_glommio(socks, window),
                Runtime::TokioEpoll => run_tokio_epoll(socks, window),
            }
        })
        .expect("spawn runtime thread");
    // Let the runtime register its sockets before load starts.
    std::thread::sleep(Duration::from_millis(100));
    let stop = Arc::new(AtomicBool::new(false));
    let recv_total = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, recv_total, rate) = (stop.clone(), recv_total.clone(), args.rate);
        std::thread::Builder::new()
            .name("load".into())
            .spawn(move || {
                pin(lcore);
                load_generator(targets, rate, stop, recv_total)
            })
            .expect("spawn load thread")
    };
    let m = match rt_thread.join() {
        Ok(m) => m,
        Err(_) => {
            stop.store(true, Ordering::Relaxed);
            let _ = load.join();
            eprintln!("runtime-cmp: runtime thread panicked ({runtime:?})");
            std::process::exit(1);
        }
    };
    stop.store(true, Ordering::Relaxed);
    let ls = load.join().expect("load thread");
    let secs = m.wall.as_secs_f64();
    let pps = m.echoed as f64 / secs;
    let ns_per_pkt = if m.echoed > 0 {
        m.usage.cpu_ns as f64 / m.echoed as f64
    } else {
        f64::NAN
    };
    let cpu_pct = m.usage.cpu_ns as f64 / 1e9 / secs * 100.0;
    println!(
        "runtime={:?} sockets={} rate={}pps window={:.2}s echoed={} ({:.0} pkt/s) runtime_cpu={:.1}% \
         ns_cpu_per_pkt={:.0} vol_cs={} invol_cs={} | load sent={} send_err={} echoes_received={} lost={}",
        runtime,
        args.sockets,
        args.rate,
        secs,
        m.echoed,
        pps,
        cpu_pct,
        ns_per_pkt,
        m.usage.vol_cs,
        m.usage.invol_cs,
        ls.sent,
        ls.send_errors,
        ls.received,
        ls.sent.saturating_sub(ls.received),
    );
}
