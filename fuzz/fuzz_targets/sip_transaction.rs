#![no_main]
//! Drives one `TransactionLayer` with an arbitrary sequence of operations: datagrams built by a
//! small generator (methods, branches with and without the magic cookie, Call-IDs, tags, rport,
//! statuses), raw bytes, the layer's own output fed back (possibly corrupted), time advances,
//! `send_request` / `send_response` / transport errors.
//!
//! Checked: no panic; after every operation `poll_timeout()` is strictly later than `now` (nothing
//! due is left unfired and deadlines never go backwards past now); after 15 minutes of virtual time
//! with no input every transaction has ended (memory is bounded).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cxb_sip::header::{HeaderName, Transport};
use cxb_sip::message::{Method, Request, Response};
use cxb_sip::transaction::{Config, Target, TransactionLayer, TxEvent, TxId};
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 6] = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"];
const BRANCHES: [&str; 5] = ["z9hG4bKa", "z9hG4bKb", "z9hG4bKc", "old1", ""];
const STATUSES: [u16; 9] = [100, 180, 183, 200, 202, 401, 486, 487, 603];
const TRANSPORTS: [Transport; 2] = [Transport::Udp, Transport::Tcp];

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.byte() as usize % items.len()]
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

fn source(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i % 3], 5060 + u16::from(i % 2)))
}

fn generated(inp: &mut Input<'_>) -> Vec<u8> {
    let sel = inp.byte();
    let method = inp.pick(&METHODS);
    let branch = inp.pick(&BRANCHES);
    let call = inp.byte() % 3;
    let cseq = 1 + inp.byte() % 3;
    let flags = inp.byte();
    let branch_param = if branch.is_empty() {
        String::new()
    } else {
        format!(";branch={branch}")
    };
    let rport = if flags & 1 != 0 { ";rport" } else { "" };
    let to_tag = if flags & 2 != 0 { ";tag=t1" } else { "" };
    let via = format!("SIP/2.0/UDP 10.0.0.{}:5060{branch_param}{rport}", 1 + flags % 3);
    let common = format!(
        "Via: {via}\r\nFrom: <sip:a@x>;tag=f{call}\r\nTo: <sip:b@y>{to_tag}\r\nCall-ID: c{call}\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n"
    );
    let text = if sel & 1 == 0 {
        format!("{method} sip:b@y SIP/2.0\r\n{common}CSeq: {cseq} {method}\r\n\r\n")
    } else {
        let status = inp.pick(&STATUSES);
        format!("SIP/2.0 {status} X\r\n{common}CSeq: {cseq} {method}\r\n\r\n")
    };
    text.into_bytes()
}

fn request(inp: &mut Input<'_>, transport: Transport) -> Request {
    let method = inp.pick(&METHODS);
    let m: Method = method.parse().unwrap();
    let mut r = Request::new(m, "sip:b@10.0.0.9").unwrap();
    let h = r.headers_mut();
    let branch = inp.pick(&BRANCHES);
    let via = if branch.is_empty() {
        format!("SIP/2.0/{} 10.0.0.9:5060;rport", transport.as_str())
    } else {
        format!("SIP/2.0/{} 10.0.0.9:5060;branch={branch}", transport.as_str())
    };
    h.push(HeaderName::Via, via);
    h.push(HeaderName::From, "<sip:a@x>;tag=f9");
    h.push(HeaderName::To, "<sip:b@y>");
    h.push(HeaderName::CallId, "out-1");
    h.push(HeaderName::CSeq, format!("{} {method}", 1 + inp.byte() % 3));
    r.set_body(None, "");
    r
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input { data };
    let config = Config {
        max_transactions: 16,
        ..Config::default()
    };
    let mut layer = TransactionLayer::new(config);
    let start = Instant::now();
    let mut now = start;
    let mut server: Vec<(TxId, Request)> = Vec::new();
    let mut ids: Vec<TxId> = Vec::new();
    let mut last_out: Option<Vec<u8>> = None;
    let mut ops = 0;
    while !inp.data.is_empty() && ops < 256 {
        ops += 1;
        match inp.byte() % 8 {
            0 => {
                let n = inp.byte() as usize * 2;
                let raw = inp.bytes(n).to_vec();
                let (s, t) = (inp.byte(), inp.pick(&TRANSPORTS));
                layer.handle_datagram(now, raw, source(s), t);
            }
            1 | 2 => {
                let msg = generated(&mut inp);
                let (s, t) = (inp.byte(), inp.pick(&TRANSPORTS));
                layer.handle_datagram(now, msg, source(s), t);
            }
            3 => {
                let step = Duration::from_millis(u64::from(inp.byte()) * 137);
                now += step;
                layer.handle_timeout(now);
            }
            4 => {
                if !server.is_empty() {
                    let i = inp.byte() as usize % server.len();
                    let status = inp.pick(&STATUSES);
                    let mut resp = Response::from_request(&server[i].1, status, "X");
                    resp.set_to_tag("t1");
                    let _ = layer.send_response(now, server[i].0, resp);
                }
            }
            5 => {
                let t = inp.pick(&TRANSPORTS);
                let req = request(&mut inp, t);
                let target = Target {
                    addr: source(inp.byte()),
                    transport: t,
                };
                if let Ok(id) = layer.send_request(now, req, target) {
                    ids.push(id);
                }
            }
            6 => {
                if !ids.is_empty() {
                    let i = inp.byte() as usize % ids.len();
                    layer.handle_transport_error(now, ids[i]);
                }
            }
            _ => {
                if let Some(out) = &last_out {
                    let mut v = out.clone();
                    let (pos, val) = (inp.byte() as usize, inp.byte());
                    if val != 0 && !v.is_empty() {
                        let p = pos * 7 % v.len();
                        v[p] = val;
                    }
                    let (s, t) = (inp.byte(), inp.pick(&TRANSPORTS));
                    layer.handle_datagram(now, v, source(s), t);
                }
            }
        }
        while let Some(t) = layer.poll_transmit() {
            last_out = Some(t.payload.to_vec());
        }
        while let Some(e) = layer.poll_event() {
            match e {
                TxEvent::NewRequest { tx, request, .. } | TxEvent::Cancel { tx, request, .. } => {
                    ids.push(tx);
                    if server.len() < 32 {
                        server.push((tx, request));
                    }
                }
                TxEvent::Terminated { tx, .. } => {
                    server.retain(|(id, _)| *id != tx);
                    ids.retain(|id| *id != tx);
                }
                _ => {}
            }
        }
        ids.truncate(64);
        if let Some(t) = layer.poll_timeout() {
            assert!(t > now, "a deadline at or before now was left unfired");
        }
        assert!(layer.len() <= 16);
    }
    // Memory is bounded: with no further input every transaction ends.
    let end = now + Duration::from_secs(900);
    while let Some(t) = layer.poll_timeout() {
        assert!(t > now, "deadlines go forward");
        assert!(t <= end, "transaction outlives its timers");
        now = t;
        layer.handle_timeout(now);
        while layer.poll_transmit().is_some() {}
        while layer.poll_event().is_some() {}
    }
    assert!(layer.is_empty(), "{} transactions left with no timer", layer.len());
});
