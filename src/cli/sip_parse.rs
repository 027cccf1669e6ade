//! `cxb sip parse FILE`: parse one SIP message (as a UDP datagram) and print it normalized, or
//! print the status line a server would answer it with.
//!
//! Normalized output: start line, every header field on one line with its canonical name
//! (compact forms expanded, folding undone, values trimmed), CRLF line ends, empty line, body
//! unchanged. Exit 0.
//!
//! On error: one line such as `400 Bad Request - Missing Call-ID header` on stdout, exit 1
//! (for a malformed response the same line is printed, though a server would just drop it).
//!
//! Line endings: a file without any CR (written with an editor using LF) has every LF turned
//! into CRLF first, body included, since SIP bodies such as SDP use CRLF and Content-Length counts
//! them. Files that contain CRLF are parsed as they are; the parser itself also accepts bare LF
//! line ends in the header section (RFC 3261 §7.5 robustness). A file that ends right after the
//! last header line gets the terminating empty line added.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cxb_sip::message::{Limits, Message};

/// Arguments of `cxb sip parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File holding one SIP message (`-` reads standard input).
    pub file: PathBuf,
}

/// Brings an editor-written file into wire form (see the module documentation).
pub fn wire_form(mut data: Vec<u8>) -> Vec<u8> {
    if !data.contains(&b'\r') && data.contains(&b'\n') {
        let mut out = Vec::with_capacity(data.len() + data.len() / 16);
        for &b in &data {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        data = out;
    }
    let has_end = memchr_find(&data, b"\r\n\r\n") || memchr_find(&data, b"\n\n");
    if !has_end && !data.is_empty() {
        if !data.ends_with(b"\n") {
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b"\r\n");
    }
    data
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs `cxb sip parse`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = if args.file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).context("reading standard input")?;
        v
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    let mut out = std::io::stdout().lock();
    match Message::parse_strict(wire_form(data), &Limits::default()) {
        Ok(m) => {
            out.write_all(&m.to_normalized_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(out, "{}", e.status_line())?;
            Ok(ExitCode::FAILURE)
        }
    }
}
