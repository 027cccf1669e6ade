//! `cxb load`: a thread-per-core load generator against a dataplane over loopback. It places N
//! concurrent SIP calls (INVITE with a PCMU offer, 200/ACK, hold, BYE) at a given setup rate,
//! sends G.711 speech RTP every 20 ms and measures the bot's audio (loss, late packets,
//! inter-arrival jitter, first-audio latency), setup success and latency, and the dataplane
//! process's CPU per call-second and memory per call. `--ws URL` drives WebSocket media streams
//! instead; `--find-max` searches the largest call count one core holds within the quality
//! bounds; `--with-rtpengine` relays the same calls' RTP through rtpengine and reports its CPU
//! next to ours.

mod clip;
mod find_max;
mod procfs;
mod rtpengine;
mod sip_gen;
mod spawn;
mod stats;
mod ws_gen;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use clip::Clip;
use spawn::{SpawnSpec, Spawned};
use stats::{GenStats, Summary};

/// `on` / `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Arguments of `cxb load`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The dataplane's SIP address (not with `--spawn`).
    #[arg(long, required_unless_present_any = ["spawn", "find_max", "ws"])]
    pub target: Option<SocketAddr>,
    /// Concurrent calls.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub calls: u32,
    /// Setup rate, calls per second.
    #[arg(long, default_value_t = 50.0, value_parser = positive)]
    pub rate: f64,
    /// Seconds each call is held after the answer.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub hold: f64,
    /// Request-URI (default `sip:load@TARGET` with `--spawn`, else `sip:demo@TARGET`).
    #[arg(long)]
    pub uri: Option<String>,
    /// Generator threads (default: one per core not given to the dataplane, at least one).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Dataplane process to measure (CPU, RSS) when not spawned.
    #[arg(long, conflicts_with = "spawn")]
    pub pid: Option<u32>,
    /// Start `cxb dataplane` on free loopback ports (shards pinned to the first `--cores` cores).
    #[arg(long)]
    pub spawn: bool,
    /// Dataplane shards / cores when spawning.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub cores: u32,
    /// `--calls-per-shard` of the spawned dataplane (default: room for every call).
    #[arg(long)]
    pub calls_per_shard: Option<u32>,
    /// RTP port range of the spawned dataplane.
    #[arg(long, default_value = "10000-30000", value_parser = parse_range)]
    pub rtp_ports: (u16, u16),
    /// The spawned dataplane's bot records its calls.
    #[arg(long, value_enum, default_value = "off")]
    pub record: OnOff,
    /// WebSocket media streams (Twilio media-streams JSON) to this URL instead of SIP calls, e.g.
    /// `ws://127.0.0.1:8081/ws/load` (with `--spawn`: a path, default `/ws/load`).
    #[arg(long)]
    pub ws: Option<String>,
    /// Search the largest call count within the quality bounds (spawns the dataplane).
    #[arg(long)]
    pub find_max: bool,
    /// First call count of the search.
    #[arg(long, default_value_t = 250)]
    pub start: u32,
    /// Largest call count tried.
    #[arg(long, default_value_t = 8000)]
    pub max: u32,
    /// Time budget of the whole search, seconds.
    #[arg(long, default_value_t = 600)]
    pub budget: u64,
    /// Nice value of the spawned dataplane and of the generator threads (0: leave as is). On a
    /// shared machine this keeps other work from disturbing the measurement.
    #[arg(long, default_value_t = -10, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: i32,
    /// Relay the calls' RTP through rtpengine (userspace, loopback) and report its CPU too.
    #[arg(long)]
    pub with_rtpengine: bool,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s}: expected a positive number")),
    }
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("expected START-END")?;
    let a: u16 = a.parse().map_err(|_| "bad start port")?;
    let b: u16 = b.parse().map_err(|_| "bad end port")?;
    if b <= a.saturating_add(4) {
        return Err("range too small".into());
    }
    Ok((a, b))
}

/// One run's parameters (a `--find-max` step is one run).
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Calls.
    pub calls: u32,
    /// Setup rate.
    pub rate: f64,
    /// Hold per call.
    pub hold: Duration,
    /// Generator threads.
    pub threads: usize,
    /// Cores the generator threads are pinned to (round robin; empty: not pinned).
    pub gen_cores: Vec<usize>,
    /// Nice value of the generator threads (0: unchanged).
    pub nice: i32,
    /// The dataplane's fleet segment, to read its media-tick counters (spawned dataplanes).
    pub fleet: Option<std::path::PathBuf>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The figures.
    pub summary: Summary,
    /// The generator's own CPU use over the steady window, percent of one core per thread.
    pub gen_cpu_pct: Option<f64>,
    /// rtpengine's CPU per call-second, when relayed.
    pub rtpengine_cpu_us_per_call_s: Option<f64>,
    /// Merged generator counters.
    pub stats: GenStats,
    /// Where the caller audio came from.
    pub clip_source: &'static str,
}

/// Runs `cxb load`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.find_max {
        return find_max::run(&args);
    }
    let cores = spawn::available_cores();
    let dp_cores = if args.spawn { args.cores as usize } else { 0 };
    let threads = args.threads.unwrap_or(cores.saturating_sub(dp_cores).max(1)).max(1);
    let spec = RunSpec {
        calls: args.calls,
        rate: args.rate,
        hold: Duration::from_secs_f64(args.hold),
        threads,
        gen_cores: gen_cores(dp_cores, cores, args.spawn),
        nice: if args.spawn { args.nice } else { 0 },
        fleet: None,
    };
    let spawned = if args.spawn {
        Some(spawn_dataplane(&args, args.calls)?)
    } else {
        None
    };
    let spec = RunSpec {
        fleet: spawned.as_ref().map(Spawned::fleet_path),
        ..spec
    };
    let pid = spawned.as_ref().map(Spawned::pid).or(args.pid);
    let r = if let Some(url) = &args.ws {
        let url = ws_url(url, spawned.as_ref())?;
        ws_gen::run_ws(&spec, &url, pid)?
    } else {
        let target = match (&spawned, args.target) {
            (Some(s), _) => s.sip,
            (None, Some(t)) => t,
            (None, None) => bail!("give --target ADDR or --spawn"),
        };
        let uri = args.uri.clone().unwrap_or_else(|| {
            let user = if spawned.is_some() { "load" } else { "demo" };
            format!("sip:{user}@{target}")
        });
        let relay = if args.with_rtpengine {
            Some(rtpengine::Rtpengine::start().context("--with-rtpengine")?)
        } else {
            None
        };
        run_sip(&spec, target, &uri, pid, relay.as_ref())?
    };
    print_result(&spec, &r, spawned.as_ref());
    drop(spawned);
    Ok(ExitCode::SUCCESS)
}

fn ws_url(url: &str, spawned: Option<&Spawned>) -> anyhow::Result<String> {
    let token = spawn::SECRET;
    match spawned {
        Some(s) if url.starts_with('/') => Ok(format!("ws://{}{url}?token={token}", s.http)),
        Some(s) if url.is_empty() || url == "-" => Ok(format!("ws://{}/ws/load?token={token}", s.http)),
        _ if url.starts_with("ws://") => Ok(url.to_owned()),
        _ => bail!("--ws: expected ws://HOST:PORT/PATH?token=SECRET (or a /path with --spawn)"),
    }
}

/// Cores for generator threads: those after the dataplane's when spawning on a machine with
/// more cores than shards.
fn gen_cores(dp_cores: usize, cores: usize, spawned: bool) -> Vec<usize> {
    if spawned && cores > dp_cores {
        (dp_cores..cores).collect()
    } else {
        Vec::new()
    }
}

/// Starts the dataplane for `calls` calls as `args` describe.
pub fn spawn_dataplane(args: &Args, calls: u32) -> anyhow::Result<Spawned> {
    let shards = args.cores as usize;
    let per_shard = args
        .calls_per_shard
        .unwrap_or_else(|| calls.div_ceil(shards as u32) + calls / 10 + 50);
    let providers_sim = spawn::dataplane_has_providers();
    Spawned::start(&SpawnSpec {
        shards,
        calls_per_shard: per_shard,
        rtp_ports: args.rtp_ports,
        record: args.record == OnOff::On,
        providers_sim,
        nice: args.nice,
    })
}

/// CPU time of `pid` and when it was read.
fn sample(pid: Option<u32>) -> Option<(Instant, Duration)> {
    let pid = pid?;
    procfs::cpu_time(pid).map(|c| (Instant::now(), c))
}

/// The steady window of a run starting at `start`: every call set up, none hung up yet.
pub fn steady_window(start: Instant, calls: u32, rate: f64, hold: Duration) -> Option<(Instant, Instant)> {
    let ramp = Duration::from_secs_f64(f64::from(calls) / rate);
    let from = start + ramp + Duration::from_millis(500);
    let to = start + hold.saturating_sub(Duration::from_millis(100));
    (to > from + Duration::from_millis(300)).then_some((from, to))
}

/// The steady window as offsets from `start` (empty when there is none).
pub fn steady_offsets(start: Instant, spec: &RunSpec) -> (Duration, Duration) {
    steady_window(start, spec.calls, spec.rate, spec.hold)
        .map_or((Duration::ZERO, Duration::ZERO), |(a, b)| (a - start, b - start))
}

/// Places the calls of `spec` against `target` and measures.
pub fn run_sip(
    spec: &RunSpec,
    target: SocketAddr,
    uri: &str,
    pid: Option<u32>,
    relay: Option<&rtpengine::Rtpengine>,
) -> anyhow::Result<RunResult> {
    let clip = Arc::new(Clip::speech());
    let local_ip = if target.ip().is_loopback() {
        target.ip()
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    if !local_ip.is_loopback() {
        bail!("--target must be a loopback address (load runs stay on this machine)");
    }
    let to = match uri.strip_prefix("sip:") {
        Some(rest) => format!("<sip:{rest}>"),
        None => bail!("--uri must be a sip: URI"),
    };
    let rss0 = pid.and_then(procfs::rss_kb);
    // Threads prepare their calls' SDP first (with rtpengine: one blocking `offer` each).
    let prep = if relay.is_some() {
        u64::from(spec.calls)
    } else {
        u64::from(spec.calls) / 20
    };
    let start = Instant::now() + Duration::from_millis(300 + prep);
    let ramp = Duration::from_secs_f64(f64::from(spec.calls) / spec.rate);
    let deadline = start + ramp + spec.hold + Duration::from_secs(5);
    let mut handles = Vec::new();
    for t in 0..spec.threads {
        let plan = sip_gen::GenPlan {
            target,
            uri: uri.to_owned(),
            to: to.clone(),
            local_ip,
            index: t,
            threads: spec.threads,
            calls: spec.calls as usize,
            cps: spec.rate,
            hold: spec.hold,
            start,
            deadline,
            steady: steady_offsets(start, spec),
            relay: relay.map(|r| r.ng_addr()),
        };
        let clip = clip.clone();
        let core = (!spec.gen_cores.is_empty()).then(|| spec.gen_cores[t % spec.gen_cores.len()]);
        let nice = spec.nice;
        let h = std::thread::Builder::new()
            .name(format!("cxb-load-{t}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                spawn::renice_this_thread(nice);
                sip_gen::run(plan, clip)
            })
            .context("cannot start a generator thread")?;
        handles.push(h);
    }
    let window = measure_window(start, spec, pid, relay.map(rtpengine::Rtpengine::pid));
    let mut stats = GenStats::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| anyhow::anyhow!("a generator thread panicked"))?
            .context("generator thread")?;
        stats.merge(&s);
    }
    let mut r = finish(stats, window, rss0, spec);
    r.clip_source = clip.source;
    Ok(r)
}

/// CPU figures over the steady window.
#[derive(Debug, Default, Clone, Copy)]
pub struct Window {
    secs: f64,
    dp_cpu: Option<Duration>,
    gen_cpu: Option<Duration>,
    anchor_cpu: Option<Duration>,
    rss_kb: Option<u64>,
    /// The dataplane's media ticks in the window, and how many of them were late.
    ticks: Option<(u64, u64)>,
}

/// Media ticks run and late so far, summed over the dataplane's shards (from its fleet segment).
fn ticks(fleet: Option<&std::path::Path>) -> Option<(u64, u64)> {
    let r = cxb_model::fleet::FleetReader::open(fleet?).ok()?;
    let snap = r.snapshot(0, u64::MAX);
    Some(
        snap.shards
            .iter()
            .fold((0, 0), |(t, l), s| (t + s.ticks_total, l + s.ticks_late_total)),
    )
}

/// Sleeps through the ramp, then measures CPU of the dataplane, the generator and an anchor
/// over the steady window.
pub fn measure_window(start: Instant, spec: &RunSpec, pid: Option<u32>, anchor: Option<u32>) -> Option<Window> {
    let (from, to) = steady_window(start, spec.calls, spec.rate, spec.hold)?;
    std::thread::sleep(from.saturating_duration_since(Instant::now()));
    let me = Some(std::process::id());
    let (d0, g0, a0) = (sample(pid), sample(me), sample(anchor));
    let t0 = ticks(spec.fleet.as_deref());
    std::thread::sleep(to.saturating_duration_since(Instant::now()));
    let (d1, g1, a1) = (sample(pid), sample(me), sample(anchor));
    let t1 = ticks(spec.fleet.as_deref());
    let secs = match (g0, g1) {
        (Some((t0, _)), Some((t1, _))) => t1.duration_since(t0).as_secs_f64(),
        _ => to.duration_since(from).as_secs_f64(),
    };
    let diff = |a: Option<(Instant, Duration)>, b: Option<(Instant, Duration)>| match (a, b) {
        (Some((_, x)), Some((_, y))) => Some(y.saturating_sub(x)),
        _ => None,
    };
    Some(Window {
        secs,
        dp_cpu: diff(d0, d1),
        gen_cpu: diff(g0, g1),
        anchor_cpu: diff(a0, a1),
        rss_kb: pid.and_then(procfs::rss_kb),
        ticks: t0
            .zip(t1)
            .map(|((a, b), (c, d))| (c.saturating_sub(a), d.saturating_sub(b))),
    })
}

/// Turns merged counters and the window into the result.
pub fn finish(mut stats: GenStats, window: Option<Window>, rss0: Option<u64>, spec: &RunSpec) -> RunResult {
    let mut summary = Summary::from_stats(&mut stats);
    let up = stats.answered.saturating_sub(stats.dropped).max(1) as f64;
    let per_call_s = |cpu: Option<Duration>, w: &Window| cpu.map(|c| c.as_secs_f64() * 1e6 / (up * w.secs.max(1e-3)));
    let mut gen_cpu_pct = None;
    let mut anchor = None;
    if let Some(w) = window {
        summary.cpu_us_per_call_s = per_call_s(w.dp_cpu, &w);
        anchor = per_call_s(w.anchor_cpu, &w);
        gen_cpu_pct = w
            .gen_cpu
            .map(|c| c.as_secs_f64() * 100.0 / (w.secs.max(1e-3) * spec.threads as f64));
        if let (Some(a), Some(b)) = (rss0, w.rss_kb) {
            summary.rss_kb_per_call = Some(b.saturating_sub(a) as f64 / up);
        }
        if let Some((t, late)) = w.ticks.filter(|(t, _)| *t > 0) {
            summary.dp_late_ticks_pct = Some(late as f64 * 100.0 / t as f64);
        }
    }
    RunResult {
        summary,
        gen_cpu_pct,
        rtpengine_cpu_us_per_call_s: anchor,
        stats,
        clip_source: "",
    }
}

fn print_result(spec: &RunSpec, r: &RunResult, spawned: Option<&Spawned>) {
    let s = &r.summary;
    let st = &r.stats;
    if let Some(sp) = spawned {
        println!(
            "dataplane: spawned pid {} ({} shard(s){}{}), SIP {}",
            sp.pid(),
            sp.shards,
            if sp.confined { ", confined with taskset" } else { "" },
            if sp.providers_sim {
                ", --providers sim"
            } else {
                ", no --providers flag in this build"
            },
            sp.sip
        );
    }
    println!(
        "calls: {} attempted, {} answered, {} refused (503), {} failed, {} dropped by the far end; \
         {} generator thread(s)",
        st.attempted, st.answered, st.refused_503, st.failed, st.dropped, spec.threads
    );
    println!(
        "setup: ok {:.2} %, latency p50 {:.2} ms p99 {:.2} ms; first bot audio after ACK p50 {:.1} ms p99 {:.1} ms",
        s.ok_pct, s.setup_p50_ms, s.setup_p99_ms, s.first_audio_p50_ms, s.first_audio_p99_ms
    );
    println!(
        "bot audio: {} packets received of {} expected (loss {:.3} %), {} late > 20 ms ({:.3} %), \
         steady-window jitter p50 {:.3} ms p99 {:.3} ms max {:.3} ms; {} answered call(s) without bot audio",
        st.received,
        st.expected,
        s.loss_pct,
        st.late,
        s.late_pct,
        s.jitter_p50_ms,
        s.jitter_p99_ms,
        s.jitter_max_ms,
        st.silent_calls
    );
    println!(
        "bot audio over the whole run (ramp-up and teardown too): jitter p99 {:.3} ms max {:.3} ms, late {:.3} %",
        s.all_jitter_p99_ms, s.all_jitter_max_ms, s.all_late_pct
    );
    if let Some(p) = s.dp_late_ticks_pct {
        println!(
            "dataplane clock: {p:.3} % of its media ticks in the steady window started ≥ 2 ms late (frames off the 20 ms grid)"
        );
    }
    println!(
        "our audio ({}, G.711 µ-law, 1.5 s pauses, looped): {} packets sent, {} refused by our socket",
        r.clip_source, st.sent, st.send_drops
    );
    match (s.cpu_us_per_call_s, r.gen_cpu_pct) {
        (Some(c), g) => println!(
            "cpu: dataplane {c:.1} µs per call-second; generator {} of its cores",
            g.map_or("n/a".to_owned(), |g| format!("{g:.0} %"))
        ),
        (None, _) => println!(
            "cpu: not measured (no --pid/--spawn, or hold too short for a steady window: hold must exceed calls/rate + 0.9 s)"
        ),
    }
    if let Some(a) = r.rtpengine_cpu_us_per_call_s {
        println!("rtpengine: {a:.1} µs per call-second (relaying both directions)");
    }
    let mut line = s.line();
    if let Some(a) = r.rtpengine_cpu_us_per_call_s {
        line.push_str(&format!(" rtpengine_cpu_us_per_call_s={a:.1}"));
    }
    if let Some(g) = r.gen_cpu_pct {
        line.push_str(&format!(" gen_cpu_pct={g:.0}"));
    }
    println!("{line}");
}
