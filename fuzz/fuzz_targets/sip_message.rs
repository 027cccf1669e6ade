#![no_main]
//! SIP messages: arbitrary bytes into the datagram parser never panic; an accepted message
//! prints to bytes that parse back to the same message and print identically
//! (parse(print(parse(x))) == parse(x)); typed views and validation never panic; the normalized
//! form parses too. The same bytes go through the stream framer in random-size chunks and must
//! yield the same messages as when pushed in one piece.
use cxb_sip::framing::{StreamEvent, StreamFramer};
use cxb_sip::message::{Limits, Message, error_response};
use libfuzzer_sys::fuzz_target;

fn exercise(m: &Message) {
    let h = m.headers();
    for v in h.vias().flatten() {
        let _ = (v.branch(), v.received(), v.rport(), v.host(), v.ttl());
    }
    if let Ok(f) = h.from() {
        let _ = (f.tag(), f.display_name(), f.uri().user_unescaped(), f.uri().host());
    }
    let _ = (
        h.to().map(|t| t.tag()),
        h.call_id(),
        h.cseq(),
        h.max_forwards(),
        h.content_type(),
    );
    for c in h.contacts().flatten() {
        let _ = c.addr().map(|a| (a.expires(), a.q(), a.uri().headers().count()));
    }
    let _ = (
        h.routes().count(),
        h.record_routes().count(),
        h.replaces(),
        h.rack(),
        h.session_expires(),
    );
    let _ = (
        h.event(),
        h.subscription_state(),
        h.refer_to(),
        h.p_asserted_identities().count(),
    );
    let _ = m.validate(&Limits::default());
}

fn frames(data: &[u8], chunks: &[usize]) -> Vec<Message> {
    let mut f = StreamFramer::new(Limits {
        max_message_bytes: 4096,
        ..Limits::default()
    });
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    loop {
        let n = if chunks.is_empty() {
            rest.len()
        } else {
            chunks[i % chunks.len()].min(rest.len())
        };
        i += 1;
        f.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match f.poll() {
                Ok(Some(StreamEvent::Message(m))) => out.push(m),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) if e.is_fatal() => return out,
                Err(_) => {}
            }
        }
        if rest.is_empty() {
            return out;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match Message::parse(data.to_vec()) {
        Ok(m) => {
            let printed = m.to_bytes();
            assert_eq!(printed.len(), m.encoded_len());
            let again = Message::parse(printed.clone()).expect("printed message parses");
            assert_eq!(again, m, "parse(print(x)) == x");
            assert_eq!(again.to_bytes(), printed, "print is stable");
            exercise(&m);
            let norm = Message::parse(m.to_normalized_bytes()).expect("normalized message parses");
            assert_eq!(norm.body(), m.body());
        }
        Err(e) => {
            let _ = (e.status_code(), e.reason_phrase());
            if let Some(r) = error_response(data, &e, "fuzz") {
                let _ = r.to_bytes();
            }
        }
    }
    // Chunk sizes from the first bytes, 1..=64 each.
    let chunks: Vec<usize> = data.iter().take(4).map(|&b| usize::from(b % 64) + 1).collect();
    let whole = frames(data, &[]);
    let chunked = frames(data, &chunks);
    assert_eq!(whole, chunked, "chunking changes the framed messages");
});
