//! `cxb dsp amd` end to end on the labelled set `scripts/make-amd-set` builds (espeak-ng and sox,
//! installed by `scripts/bootstrap`): overall accuracy, and every beep of a greeting judged a
//! machine found within 100 ms of its onset.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cxb");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make-amd-set");

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("cxb-amd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_set(dir: &Path) {
    let out = Command::new(SCRIPT)
        .arg(dir)
        .output()
        .expect("run scripts/make-amd-set");
    assert!(
        out.status.success(),
        "make-amd-set failed (are espeak-ng and sox installed? see scripts/bootstrap):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_amd(path: &Path) -> String {
    let out = Command::new(BIN)
        .args(["dsp", "amd"])
        .arg(path)
        .output()
        .expect("run cxb dsp amd");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cxb dsp amd failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `key=value` from a whitespace-separated line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn labelled_set_accuracy_and_beeps() {
    let dir = TempDir::new("set");
    make_set(&dir.0);
    let stdout = run_amd(&dir.0);
    eprintln!("{stdout}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("amd: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let num = |key: &str| -> f64 {
        field(summary, key)
            .and_then(|v| v.split('/').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {summary}"))
    };
    assert!(num("files") >= 40.0, "{summary}");
    assert!(num("accuracy") >= 90.0, "{summary}");
    assert!(num("mean_verdict_ms") > 0.0, "{summary}");
    let (mut beeps, mut judged_machine) = (0, 0);
    for line in stdout.lines().filter(|l| l.contains("label_beep_ms=")) {
        beeps += 1;
        if field(line, "verdict") == Some("machine") {
            judged_machine += 1;
            // "found" means reported within 100 ms of the labelled onset.
            assert_eq!(field(line, "beep"), Some("found"), "{line}");
            assert!(field(line, "silence_after_beep_ms").is_some(), "{line}");
        }
    }
    assert!(beeps >= 10, "{stdout}");
    // A beep is only waited for after a machine verdict; at most one beep file is misjudged.
    assert!(judged_machine + 1 >= beeps, "{stdout}");
    assert!(!stdout.contains("beep=SPURIOUS"), "{stdout}");
}

#[test]
fn set_is_deterministic_and_single_files_run_without_labels() {
    let a = TempDir::new("a");
    let b = TempDir::new("b");
    make_set(&a.0);
    make_set(&b.0);
    for name in ["labels.csv", "h01.wav", "m01.wav", "m28.wav"] {
        let x = std::fs::read(a.0.join(name)).expect("read a");
        let y = std::fs::read(b.0.join(name)).expect("read b");
        assert!(x == y, "{name} differs between two builds");
    }
    let out = run_amd(&a.0.join("h01.wav"));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("h01.wav verdict=human "), "{out}");
    assert!(!out.contains("amd:"), "{out}");
}
