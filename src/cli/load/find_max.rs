//! `--find-max`: the largest number of concurrent calls a dataplane on `--cores` cores holds
//! within the quality bounds (bot-audio jitter p99 ≤ 5 ms, no packet more than 20 ms late,
//! loss ≤ 0.1 %, every call set up). Each step spawns a fresh dataplane, ramps up at a rate that
//! grows with N, holds every call through a steady window of `--hold` seconds, and checks the
//! bounds; N doubles from `--start` until a step fails (or `--max`), then bisects, within the
//! `--budget`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{Args, RunResult, RunSpec, gen_cores, run_sip, spawn, spawn_dataplane};

/// Setup rate of a step of `n` calls: a ramp of about three seconds, 20–300 calls/s.
pub fn step_rate(n: u32) -> f64 {
    (f64::from(n) / 3.0).clamp(20.0, 300.0)
}

/// Next call count to try, or None when the search is done.
pub fn next(lo: u32, hi: Option<u32>, max: u32) -> Option<u32> {
    match hi {
        None if lo >= max => None,
        None => Some(lo.saturating_mul(2).clamp(1, max)),
        Some(hi) => {
            let tol = (lo / 20).max(5);
            if hi <= lo + tol { None } else { Some(lo + (hi - lo) / 2) }
        }
    }
}

/// Runs the search and prints one line per step and the result.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let budget = Duration::from_secs(args.budget);
    let began = Instant::now();
    let cores = spawn::available_cores();
    let dp_cores = args.cores as usize;
    let threads = args.threads.unwrap_or(cores.saturating_sub(dp_cores).max(1)).max(1);
    let steady = Duration::from_secs_f64(args.hold);
    let mut lo = 0u32;
    let mut hi: Option<u32> = None;
    let mut best: Option<RunResult> = None;
    let mut n = args.start.clamp(1, args.max.max(1));
    let mut steps = 0;
    loop {
        let rate = step_rate(n);
        let ramp = Duration::from_secs_f64(f64::from(n) / rate);
        let hold = ramp + Duration::from_millis(600) + steady;
        let estimate = ramp + hold + Duration::from_secs(4);
        if steps > 0 && began.elapsed() + estimate > budget {
            println!("find-max: time budget reached before N={n}");
            break;
        }
        steps += 1;
        let spawned = spawn_dataplane(args, n)?;
        let spec = RunSpec {
            calls: n,
            rate,
            hold,
            threads,
            gen_cores: gen_cores(dp_cores, cores, true),
            nice: args.nice,
            fleet: Some(spawned.fleet_path()),
        };
        let uri = format!("sip:load@{}", spawned.sip);
        let r = run_sip(&spec, spawned.sip, &uri, Some(spawned.pid()), None)?;
        drop(spawned);
        let verdict = r.summary.within_bounds();
        let s = &r.summary;
        println!(
            "find-max: N={n} rate={rate:.0}/s ok={:.2}% jitter_p99={:.3}ms max={:.3}ms loss={:.3}% late={:.3}% \
             cpu_us_per_call_s={} gen_cpu={} dp_late_ticks={} -> {}",
            s.ok_pct,
            s.jitter_p99_ms,
            s.jitter_max_ms,
            s.loss_pct,
            s.late_pct,
            s.cpu_us_per_call_s.map_or("na".into(), |c| format!("{c:.1}")),
            r.gen_cpu_pct.map_or("na".into(), |g| format!("{g:.0}%")),
            s.dp_late_ticks_pct.map_or("na".into(), |p| format!("{p:.2}%")),
            match &verdict {
                Ok(()) => "held".to_owned(),
                Err(why) => format!("broke: {why}"),
            }
        );
        match verdict {
            Ok(()) => {
                lo = n;
                best = Some(r);
            }
            Err(_) => hi = Some(n),
        }
        match next(lo, hi, args.max) {
            Some(m) if m != n && m > 0 => n = m,
            _ => break,
        }
    }
    let per_core = lo / args.cores.max(1);
    let mut line = format!(
        "load: find_max cores={} max_calls={lo} max_calls_per_core={per_core} first_failure={} steps={steps} secs={:.0}",
        args.cores,
        hi.map_or("none".into(), |h| h.to_string()),
        began.elapsed().as_secs_f64()
    );
    if let Some(b) = &best {
        let s = &b.summary;
        line.push_str(&format!(
            " cpu_us_per_call_s={} rss_kb_per_call={} jitter_p99_ms={:.3} jitter_max_ms={:.3} loss={:.3}",
            s.cpu_us_per_call_s.map_or("na".into(), |c| format!("{c:.1}")),
            s.rss_kb_per_call.map_or("na".into(), |c| format!("{c:.1}")),
            s.jitter_p99_ms,
            s.jitter_max_ms,
            s.loss_pct
        ));
        if let Some(g) = b.gen_cpu_pct {
            line.push_str(&format!(" gen_cpu_pct={g:.0}"));
        }
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_bisects_to_a_tolerance() {
        assert_eq!(next(250, None, 8000), Some(500));
        assert_eq!(next(4000, None, 5000), Some(5000));
        assert_eq!(next(5000, None, 5000), None);
        assert_eq!(next(1000, Some(2000), 8000), Some(1500));
        assert_eq!(next(1500, Some(1560), 8000), None);
        assert_eq!(next(0, Some(250), 8000), Some(125));
        assert_eq!(next(0, Some(4), 8000), None);
    }

    #[test]
    fn rate_grows_with_n_within_limits() {
        assert_eq!(step_rate(10), 20.0);
        assert_eq!(step_rate(300), 100.0);
        assert_eq!(step_rate(9000), 300.0);
    }
}
