//! Typical messages of one call, in the shape carriers send them (addresses and ids changed):
//! the inputs of the parse benchmarks (`benches/sip.rs`), `examples/parse_loop.rs` and unit tests.

/// A carrier's INVITE with an SDP offer (957 bytes): the benchmark message.
pub const INVITE: &str = "INVITE sip:+14155550123@10.0.0.5:5060;user=phone SIP/2.0\r\n\
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

/// Our 200 OK with the SDP answer.
pub const OK_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ab1f0e3c1d;rport=5060;received=198.51.100.7\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-8f3a2c1d\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:bot@10.0.0.5:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
Supported: replaces, timer\r\n\
Server: cxb/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 182\r\n\
\r\n\
v=0\r\n\
o=cxb 42 42 IN IP4 10.0.0.5\r\n\
s=cxb\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n";

/// The caller's ACK.
pub const ACK: &str = "ACK sip:bot@10.0.0.5:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---a8c2e0d94b7f;rport\r\n\
Max-Forwards: 70\r\n\
From: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
To: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-8f3a2c1d\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 102 ACK\r\n\
Content-Length: 0\r\n\
\r\n";

/// Our BYE.
pub const BYE: &str = "BYE sip:+12125550199@198.51.100.7:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-cxb-1d0f6a37b2;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:+14155550123@10.0.0.5;user=phone>;tag=cxb-8f3a2c1d\r\n\
To: \"ACME Corp\" <sip:+12125550199@198.51.100.7;user=phone>;tag=as5f1e2a7b\r\n\
Call-ID: 3c26700d5d8b4f1c9e0a2b7d41e9f0a1@198.51.100.7\r\n\
CSeq: 1 BYE\r\n\
Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n\
Content-Length: 0\r\n\
\r\n";
