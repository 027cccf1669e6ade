//! `cxb dsp jitter`: the simulation runs and its summary line is sane.

use std::collections::HashMap;
use std::process::Command;

/// Runs `cxb dsp jitter <args>` and parses the final `jitter: key=value …` line.
fn summary(args: &[&str]) -> HashMap<String, f64> {
    let out = Command::new(env!("CARGO_BIN_EXE_cxb"))
        .args(["dsp", "jitter"])
        .args(args)
        .output()
        .expect("run cxb");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cxb dsp jitter {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("output");
    let rest = last
        .strip_prefix("jitter: ")
        .unwrap_or_else(|| panic!("no summary line: {stdout}"));
    rest.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.parse().unwrap_or_else(|_| panic!("number in {kv}")))
        })
        .collect()
}

#[test]
fn no_impairment_means_no_concealment_and_no_late_loss() {
    let s = summary(&["--seconds", "60", "--seed", "3"]);
    assert_eq!(s["concealed_pct"], 0.0, "{s:?}");
    assert_eq!(s["late_loss_pct"], 0.0, "{s:?}");
    assert_eq!(s["lost_pct"], 0.0, "{s:?}");
    // Start-up runs at the initial 60 ms target for a moment, then the delay settles at 25 ms.
    assert!(
        s["delay_p50_ms"] >= 20.0 && s["delay_p50_ms"] <= 30.0 && s["delay_p95_ms"] <= 40.0,
        "{s:?}"
    );
}

#[test]
fn five_percent_bursty_loss_is_concealed_about_one_for_one() {
    let s = summary(&["--loss", "0.05", "--burst", "3", "--seconds", "60", "--seed", "1"]);
    assert!((3.5..=6.5).contains(&s["lost_pct"]), "{s:?}");
    assert!((s["concealed_pct"] - s["lost_pct"]).abs() < 0.5, "{s:?}");
    assert_eq!(s["late_loss_pct"], 0.0, "{s:?}");
}

#[test]
fn jitter_is_absorbed_with_low_late_loss() {
    let s = summary(&[
        "--loss",
        "0.05",
        "--burst",
        "3",
        "--jitter-ms",
        "40",
        "--seconds",
        "60",
        "--seed",
        "1",
    ]);
    assert!(s["late_loss_pct"] < 6.0, "{s:?}");
    assert!(s["delay_p50_ms"] > 40.0 && s["delay_p95_ms"] <= 200.0, "{s:?}");
    assert!(s["concealed_pct"] < s["lost_pct"] + s["late_loss_pct"] + 1.0, "{s:?}");
    // A higher quantile buys lower late loss with more delay.
    let q99 = summary(&[
        "--jitter-ms",
        "40",
        "--seconds",
        "60",
        "--seed",
        "1",
        "--quantile",
        "0.99",
    ]);
    let q95 = summary(&["--jitter-ms", "40", "--seconds", "60", "--seed", "1"]);
    assert!(q99["late_loss_pct"] < q95["late_loss_pct"], "{q99:?} vs {q95:?}");
    assert!(q99["delay_p50_ms"] > q95["delay_p50_ms"], "{q99:?} vs {q95:?}");
}

#[test]
fn drift_reorder_and_duplicates_are_handled() {
    let s = summary(&["--drift-ppm", "1000", "--seconds", "120"]);
    assert_eq!(s["concealed_pct"], 0.0, "{s:?}");
    assert!(s["accelerate_ms"] + s["silence_dropped_ms"] >= 100.0, "{s:?}");
    let s = summary(&["--drift-ppm", "-1000", "--seconds", "120"]);
    assert!(s["expand_ms"] + s["silence_inserted_ms"] >= 100.0, "{s:?}");
    let s = summary(&["--reorder", "0.05", "--duplicate", "0.05", "--seconds", "60"]);
    assert!(s["duplicates"] > 100.0 && s["reordered"] > 50.0, "{s:?}");
    // Rare reordering by up to 3 packets is partly waited for (reorder optimiser), partly concealed.
    assert!(s["late_loss_pct"] < 5.0, "{s:?}");
}

#[test]
fn bad_arguments_are_rejected() {
    let out = Command::new(env!("CARGO_BIN_EXE_cxb"))
        .args(["dsp", "jitter", "--loss", "1.5"])
        .output()
        .expect("run cxb");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--loss"));
}
