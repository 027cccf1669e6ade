//! Parses the benchmark INVITE (the one in `benches/sip.rs`) N times, for instruction counts:
//!
//! ```text
//! cargo build --release -p cxb-sip --example parse_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out target/release/examples/parse_loop 20000
//! ```
//!
//! Run it with 0 and with N iterations and divide the difference in `Ir` by N to get the
//! instructions per parse (parse + drop, the same work as the criterion bench's loop).
//! A second argument picks another message: `ok` (200 with SDP), `ack` or `bye`.

use std::hint::black_box;

use bytes::Bytes;
use cxb_sip::message::Message;

const INVITE: &str = "INVITE sip:+14155550123@10.0.0.5:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ab1f0e3c1d;rport\r\n\
Max-Forwards: 69\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+12125550199@198.51.100.7:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE, PRACK\r\n\
Supported: replaces, timer, 100rel\r\n\
P-Asserted-Identity: \"ACME Corp\" <sip:+12125550199@carrier.example.net;user=phone>\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 264\r\n\
\r\n\
v=0\r\n\
o=- 1731234567 1731234567 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 16384 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ab1f0e3c1d;rport=5060;received=198.51.100.7\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-9f3a61d2\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+14155550123@10.0.0.5:5060>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n\
Supported: replaces, timer\r\n\
Server: cxb\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 147\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

const ACK: &str = "ACK sip:+14155550123@10.0.0.5:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---9d0c2e11;rport\r\n\
Max-Forwards: 70\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-9f3a61d2\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 ACK\r\n\
Content-Length: 0\r\n\
\r\n";

const BYE: &str = "BYE sip:+12125550199@198.51.100.7:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-cxb-5e1d0a77;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-9f3a61d2\r\n\
To: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 1 BYE\r\n\
User-Agent: cxb\r\n\
Content-Length: 0\r\n\
\r\n";

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let text = match std::env::args().nth(2).as_deref() {
        Some("ok") => OK,
        Some("ack") => ACK,
        Some("bye") => BYE,
        _ => INVITE,
    };
    let bytes = Bytes::copy_from_slice(text.as_bytes());
    for _ in 0..n {
        let m = Message::parse(black_box(bytes.clone())).expect("the benchmark message parses");
        black_box(&m);
    }
}
