//! The rtpengine anchor: `rtpengine` (Debian `rtpengine-daemon`) in userspace mode on loopback,
//! driven over its ng control protocol (a cookie, a space and a bencoded dictionary over UDP):
//! `offer` / `answer` rewrite each call's SDP so both directions of its RTP go through it, and
//! `delete` ends the call.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// RTP ports rtpengine may use (above the kernel's ephemeral range, below 65536).
const PORTS: (u16, u16) = (61_000, 65_000);

/// A running rtpengine.
#[derive(Debug)]
pub struct Rtpengine {
    child: Child,
    ng: SocketAddr,
}

impl Rtpengine {
    /// Starts `/usr/bin/rtpengine` (or `rtpengine` on PATH) and waits until it answers `ping`.
    pub fn start() -> anyhow::Result<Rtpengine> {
        let bin = if std::path::Path::new("/usr/bin/rtpengine").is_file() {
            "/usr/bin/rtpengine".to_owned()
        } else if super::spawn::which("rtpengine") {
            "rtpengine".to_owned()
        } else {
            bail!("rtpengine is not installed (Debian package rtpengine-daemon; scripts/bootstrap installs it)");
        };
        let port = super::spawn::free_port()?;
        let ng = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(&bin)
            .args([
                "--config-file=none",
                "--table=-1",
                "--interface=127.0.0.1",
                &format!("--listen-ng=127.0.0.1:{port}"),
                &format!("--port-min={}", PORTS.0),
                &format!("--port-max={}", PORTS.1),
                "--foreground",
                "--log-stderr",
                "--log-level=3",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {bin}"))?;
        let mut r = Rtpengine { child, ng };
        let client = NgClient::new(ng)?;
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = r.child.try_wait() {
                bail!("rtpengine exited while starting ({st})");
            }
            if client.ping().is_ok() {
                return Ok(r);
            }
            if Instant::now() > end {
                let _ = r.child.kill();
                bail!("rtpengine did not answer ng ping on {ng} within 10 s");
            }
        }
    }

    /// Its ng control address.
    pub fn ng_addr(&self) -> SocketAddr {
        self.ng
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Rtpengine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bencode value (what ng replies hold).
#[derive(Debug, Clone, PartialEq)]
pub enum Bencode {
    /// Byte string.
    Bytes(Vec<u8>),
    /// Integer.
    Int(i64),
    /// List.
    List(Vec<Bencode>),
    /// Dictionary (arrival order; rtpengine does not sort keys).
    Dict(Vec<(Vec<u8>, Bencode)>),
}

impl Bencode {
    /// The value of `key` in a dictionary.
    pub fn get(&self, key: &str) -> Option<&Bencode> {
        match self {
            Bencode::Dict(kv) => kv.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A byte string as text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Bencode::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// Parses one value from the front of `s`; returns it and the rest.
    pub fn parse(s: &[u8]) -> Option<(Bencode, &[u8])> {
        match *s.first()? {
            b'i' => {
                let end = s.iter().position(|&c| c == b'e')?;
                let v = std::str::from_utf8(&s[1..end]).ok()?.parse().ok()?;
                Some((Bencode::Int(v), &s[end + 1..]))
            }
            b'l' => {
                let mut rest = &s[1..];
                let mut items = Vec::new();
                while *rest.first()? != b'e' {
                    let (v, r) = Bencode::parse(rest)?;
                    items.push(v);
                    rest = r;
                }
                Some((Bencode::List(items), &rest[1..]))
            }
            b'd' => {
                let mut rest = &s[1..];
                let mut items = Vec::new();
                while *rest.first()? != b'e' {
                    let (Bencode::Bytes(k), r) = Bencode::parse(rest)? else {
                        return None;
                    };
                    let (v, r) = Bencode::parse(r)?;
                    items.push((k, v));
                    rest = r;
                }
                Some((Bencode::Dict(items), &rest[1..]))
            }
            b'0'..=b'9' => {
                let colon = s.iter().position(|&c| c == b':')?;
                let n: usize = std::str::from_utf8(&s[..colon]).ok()?.parse().ok()?;
                let body = s.get(colon + 1..colon + 1 + n)?;
                Some((Bencode::Bytes(body.to_vec()), &s[colon + 1 + n..]))
            }
            _ => None,
        }
    }
}

/// Encodes a dictionary of string values (and string lists) the way ng requests are written.
pub fn encode_dict(pairs: &[(&str, NgVal<'_>)]) -> Vec<u8> {
    let mut out = b"d".to_vec();
    let put = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(s.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(s);
    };
    for (k, v) in pairs {
        put(&mut out, k.as_bytes());
        match v {
            NgVal::Str(s) => put(&mut out, s.as_bytes()),
            NgVal::List(items) => {
                out.push(b'l');
                for i in *items {
                    put(&mut out, i.as_bytes());
                }
                out.push(b'e');
            }
        }
    }
    out.push(b'e');
    out
}

/// A request value.
#[derive(Debug, Clone, Copy)]
pub enum NgVal<'a> {
    /// A string.
    Str(&'a str),
    /// A list of strings.
    List(&'a [&'a str]),
}

/// A blocking ng client (one per generator thread).
#[derive(Debug)]
pub struct NgClient {
    sock: UdpSocket,
    server: SocketAddr,
    cookie: u64,
    buf: Vec<u8>,
}

impl NgClient {
    /// A client of the server at `server`.
    pub fn new(server: SocketAddr) -> std::io::Result<NgClient> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))?;
        Ok(NgClient {
            sock,
            server,
            cookie: u64::from(std::process::id()) << 32,
            buf: vec![0; 65_536],
        })
    }

    fn request(&self, pairs: &[(&str, NgVal<'_>)]) -> anyhow::Result<Bencode> {
        let cookie = format!(
            "{:x}",
            self.cookie ^ Instant::now().elapsed().as_nanos() as u64 ^ rand_bits()
        );
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend_from_slice(&encode_dict(pairs));
        let mut buf = vec![0u8; self.buf.len()];
        for _ in 0..3 {
            self.sock.send_to(&msg, self.server)?;
            let end = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < end {
                let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                    break;
                };
                let r = &buf[..n];
                let Some(sp) = r.iter().position(|&c| c == b' ') else {
                    continue;
                };
                if &r[..sp] != cookie.as_bytes() {
                    continue; // a late reply to an earlier try
                }
                let (v, _) = Bencode::parse(&r[sp + 1..]).context("rtpengine sent a reply that is not bencode")?;
                match v.get("result").and_then(Bencode::as_str) {
                    Some("ok") | Some("pong") => return Ok(v),
                    other => bail!(
                        "rtpengine: {} ({})",
                        other.unwrap_or("?"),
                        v.get("error-reason").and_then(Bencode::as_str).unwrap_or("")
                    ),
                }
            }
        }
        bail!("rtpengine did not answer on {}", self.server)
    }

    /// `ping`.
    pub fn ping(&self) -> anyhow::Result<()> {
        self.request(&[("command", NgVal::Str("ping"))]).map(drop)
    }

    /// `offer`: returns the SDP to send on.
    pub fn offer(&self, call_id: &str, from_tag: &str, sdp: &str) -> anyhow::Result<String> {
        let v = self.request(&[
            ("command", NgVal::Str("offer")),
            ("call-id", NgVal::Str(call_id)),
            ("from-tag", NgVal::Str(from_tag)),
            ("sdp", NgVal::Str(sdp)),
            ("flags", NgVal::List(&["trust-address"])),
            ("replace", NgVal::List(&["origin", "session-connection"])),
        ])?;
        sdp_of(&v)
    }
}

/// An `answer` request with `cookie`, to send without waiting (the reply is matched by cookie).
pub fn answer_request(cookie: &str, call_id: &str, from_tag: &str, to_tag: &str, sdp: &str) -> Vec<u8> {
    let mut msg = format!("{cookie} ").into_bytes();
    msg.extend_from_slice(&encode_dict(&[
        ("command", NgVal::Str("answer")),
        ("call-id", NgVal::Str(call_id)),
        ("from-tag", NgVal::Str(from_tag)),
        ("to-tag", NgVal::Str(to_tag)),
        ("sdp", NgVal::Str(sdp)),
        ("flags", NgVal::List(&["trust-address"])),
        ("replace", NgVal::List(&["origin", "session-connection"])),
    ]));
    msg
}

/// A `delete` request with `cookie` (fire and forget).
pub fn delete_request(cookie: &str, call_id: &str, from_tag: &str) -> Vec<u8> {
    let mut msg = format!("{cookie} ").into_bytes();
    msg.extend_from_slice(&encode_dict(&[
        ("command", NgVal::Str("delete")),
        ("call-id", NgVal::Str(call_id)),
        ("from-tag", NgVal::Str(from_tag)),
    ]));
    msg
}

/// Splits a reply into its cookie and, for `result: ok`, its SDP (None otherwise).
pub fn parse_reply(r: &[u8]) -> Option<(&str, Option<String>)> {
    let sp = r.iter().position(|&c| c == b' ')?;
    let cookie = std::str::from_utf8(&r[..sp]).ok()?;
    let (v, _) = Bencode::parse(&r[sp + 1..])?;
    let ok = v.get("result").and_then(Bencode::as_str) == Some("ok");
    Some((cookie, if ok { sdp_of(&v).ok() } else { None }))
}

fn sdp_of(v: &Bencode) -> anyhow::Result<String> {
    v.get("sdp")
        .and_then(Bencode::as_str)
        .map(str::to_owned)
        .context("rtpengine reply without sdp")
}

fn rand_bits() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencode_round_trip_of_an_ng_request_and_reply() {
        let req = encode_dict(&[
            ("command", NgVal::Str("offer")),
            ("flags", NgVal::List(&["trust-address"])),
        ]);
        assert_eq!(req, b"d7:command5:offer5:flagsl13:trust-addressee".to_vec());
        let reply = b"d6:result2:ok3:sdp5:v=0\r\n4:tagsli1ei-2eee";
        let (v, rest) = Bencode::parse(reply).unwrap();
        assert!(rest.is_empty());
        assert_eq!(v.get("result").and_then(Bencode::as_str), Some("ok"));
        assert_eq!(v.get("sdp").and_then(Bencode::as_str), Some("v=0\r\n"));
        assert_eq!(
            v.get("tags"),
            Some(&Bencode::List(vec![Bencode::Int(1), Bencode::Int(-2)]))
        );
        assert!(Bencode::parse(b"d3:abc").is_none());
        let (cookie, sdp) = parse_reply(b"a7 d6:result2:ok3:sdp3:v=0e").unwrap();
        assert_eq!((cookie, sdp.as_deref()), ("a7", Some("v=0")));
        let (_, sdp) = parse_reply(b"x d6:result5:error12:error-reason3:bade").unwrap();
        assert!(sdp.is_none());
        assert!(delete_request("d1", "c", "t").starts_with(b"d1 d7:command6:delete"));
        assert!(Bencode::parse(b"99:short").is_none());
    }
}
