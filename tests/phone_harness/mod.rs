//! Shared by the tests that call the dataplane with `cxb call`: run the softphone with a hard
//! timeout, and hear what was recorded with pocketsphinx and a small grammar.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cxb call ARGS` with a hard timeout.
pub fn cxb_call(args: &[&str], timeout: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_cxb"))
        .arg("call")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cxb binary");
    wait_output(child, timeout)
}

/// Waits for `child` (killing it and failing after `timeout`).
pub fn wait_output(mut child: Child, timeout: Duration) -> Output {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "timed out after {timeout:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What pocketsphinx hears in a 16 kHz mono WAV with the JSGF `grammar`, lower case.
pub fn recognise(path: &Path, grammar: &str) -> String {
    let gram = path.with_extension("gram");
    std::fs::write(&gram, grammar).unwrap();
    let out = Command::new("pocketsphinx_continuous")
        .arg("-infile")
        .arg(path)
        .arg("-jsgf")
        .arg(&gram)
        .args(["-logfn", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("pocketsphinx_continuous is installed by scripts/bootstrap");
    String::from_utf8_lossy(&out.stdout).to_lowercase()
}
