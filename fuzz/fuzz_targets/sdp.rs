#![no_main]
//! SDP: arbitrary bytes into the parser must never panic; whatever is accepted must print to
//! text that parses back to the same value and prints identically (round-trip stable); accepted
//! descriptions are also fed through the typed views and offer/answer.
use std::net::{IpAddr, Ipv4Addr};

use cxb_sip::sdp::{AudioSession, LocalCapabilities, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let printed = sdp.to_bytes();
    let again = SessionDescription::parse(&printed).expect("printed SDP parses");
    assert_eq!(again, sdp, "parse(print(x)) == x");
    assert_eq!(again.to_bytes(), printed, "print is stable");

    for (i, m) in sdp.media.iter().enumerate() {
        for c in m.codecs() {
            if let Some(f) = m.fmtp(c.payload_type) {
                let _ = (f.opus(), f.telephone_events().map(|e| e.to_string()));
            }
        }
        let _ = (
            m.ptime(),
            m.maxptime(),
            m.rtcp(),
            m.rtcp_mux(),
            sdp.media_direction(i),
            sdp.media_connection(i),
        );
    }

    let caps = LocalCapabilities::new(IpAddr::V4(Ipv4Addr::new(35, 1, 2, 3)), 40000);
    let mut session = AudioSession::new(caps, 1, 1);
    if let Ok(answer) = session.answer_offer(&sdp) {
        let text = answer.sdp.to_bytes();
        assert_eq!(SessionDescription::parse(&text).expect("our answer parses"), answer.sdp);
        assert_eq!(answer.sdp.media.len(), sdp.media.len());
        let _ = answer.audio.remote_rtp.is_private_or_unusable();
    }
    // The same bytes as the answer to our own (late) offer.
    let mut late = AudioSession::new(LocalCapabilities::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000), 2, 1);
    let _ = late.create_offer();
    let _ = late.accept_answer(&sdp);
});
