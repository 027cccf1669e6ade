//! `cxb sip parse`: normalized output for valid messages, the answering status line otherwise.

use std::process::Command;

fn run(file: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cxb"))
        .args(["sip", "parse"])
        .arg(file)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn torture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sip/torture")
        .join(format!("{name}.sip"))
}

/// A temporary file named `<stem>…sip` holding `content`, removed when the returned path drops.
fn temp_file(name: &str, content: &[u8]) -> tempfile::TempPath {
    let stem = name.trim_end_matches("sip");
    let mut f = tempfile::Builder::new().prefix(stem).suffix(".sip").tempfile().unwrap();
    std::io::Write::write_all(&mut f, content).unwrap();
    f.into_temp_path()
}

#[test]
fn valid_message_prints_normalized_form() {
    let (ok, out) = run(&torture("wsinv"));
    assert!(ok, "{out}");
    let expected_head = "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n\
To: sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n\
From: \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8\r\n\
Max-Forwards: 0068\r\n\
Call-ID: wsinv.ndaksdj@192.0.2.1\r\n\
Content-Length: 150\r\n\
CSeq: 0009 INVITE\r\n\
Via: SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw\r\n\
Subject: \r\n\
NewFangledHeader: newfangled value continued newfangled value\r\n\
UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n\
Content-Type: application/sdp\r\n\
Route: <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n\
Via: SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239\r\n\
Contact: \"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33\r\n\
\r\n";
    assert_eq!(&out[..expected_head.len()], expected_head);
    assert_eq!(out.len(), expected_head.len() + 150);
    // The normalized output is itself accepted and stable.
    let p = temp_file("normalized.sip", out.as_bytes());
    assert_eq!(run(&p), (true, out));
}

#[test]
fn lf_only_file_is_accepted() {
    let msg = "OPTIONS sip:a@example.com SIP/2.0\nv: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\n\
f: <sip:b@example.com>;tag=1\nt: <sip:a@example.com>\ni: lf@h\nCSeq: 1 OPTIONS\nl: 5\n\nab\nc\n";
    let (ok, out) = run(&temp_file("lf.sip", msg.as_bytes()));
    assert!(ok, "{out}");
    assert!(out.starts_with("OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"));
    assert!(out.ends_with("Content-Length: 5\r\n\r\nab\r\nc"), "{out:?}");
}

#[test]
fn invalid_messages_print_the_answer() {
    for (name, line) in [
        ("insuf", "400 Bad Request - Missing Call-ID header\n"),
        ("badinv01", "400 Bad Request - Malformed Via header\n"),
        ("badvers", "505 Version Not Supported\n"),
        ("unkscm", "416 Unsupported URI Scheme\n"),
        (
            "mismatch01",
            "400 Bad Request - CSeq method does not match request method\n",
        ),
        ("mcl01", "400 Bad Request - Multiple Content-Length headers\n"),
    ] {
        assert_eq!(run(&torture(name)), (false, line.to_owned()), "{name}");
    }
    let (ok, out) = run(&temp_file("empty.sip", b""));
    assert!(!ok);
    assert_eq!(out, "400 Bad Request - Empty message\n");
    let missing = Command::new(env!("CARGO_BIN_EXE_cxb"))
        .args(["sip", "parse", "/nonexistent/x.sip"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}
