//! Representative session descriptions in the shape real carriers and softphones send them
//! (addresses and ids changed). Test fixtures only.

/// Asterisk 18 (chan_pjsip) offer: G.711 + G.722, telephone-event with flash.
pub const ASTERISK: &str = "v=0\r\n\
o=- 1630574364 1630574364 IN IP4 34.120.8.10\r\n\
s=Asterisk\r\n\
c=IN IP4 34.120.8.10\r\n\
t=0 0\r\n\
m=audio 10554 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// FreeSWITCH offer: G.722 first, static types without rtpmap, opus on PT 102, CN, RFC 3605 rtcp.
pub const FREESWITCH: &str = "v=0\r\n\
o=FreeSWITCH 1700000000 1700000001 IN IP4 44.201.7.20\r\n\
s=FreeSWITCH\r\n\
c=IN IP4 44.201.7.20\r\n\
t=0 0\r\n\
m=audio 24642 RTP/AVP 9 0 8 102 101 13\r\n\
a=rtpmap:102 opus/48000/2\r\n\
a=fmtp:102 useinbandfec=1; maxplaybackrate=16000; minptime=10\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=rtpmap:13 CN/8000\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp:24643 IN IP4 44.201.7.21\r\n";

/// Twilio Elastic SIP trunk offer: PCMU only.
pub const TWILIO: &str = "v=0\r\n\
o=root 1204310092 1204310092 IN IP4 54.172.60.1\r\n\
s=Twilio Media Gateway\r\n\
c=IN IP4 54.172.60.1\r\n\
t=0 0\r\n\
m=audio 12878 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:20\r\n\
a=sendrecv\r\n";

/// Telnyx offer: G.729 with fmtp, rtcp port without address.
pub const TELNYX: &str = "v=0\r\n\
o=- 3857183 3857183 IN IP4 192.76.120.10\r\n\
s=Telnyx SIP\r\n\
c=IN IP4 192.76.120.10\r\n\
t=0 0\r\n\
m=audio 16384 RTP/AVP 18 0 8 9 101\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp:16391\r\n";

/// baresip behind a home NAT: private address, opus first, rtcp-mux, bare LF line endings,
/// extra attributes we do not interpret.
pub const BARESIP: &str = "v=0\n\
o=- 1385064302543926 1 IN IP4 192.168.1.23\n\
s=-\n\
c=IN IP4 192.168.1.23\n\
t=0 0\n\
m=audio 10000 RTP/AVP 96 0 8 101\n\
b=AS:64\n\
a=rtpmap:96 opus/48000/2\n\
a=fmtp:96 stereo=1;sprop-stereo=1\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:8 PCMA/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-15\n\
a=rtcp-mux\n\
a=sendrecv\n\
a=label:1\n\
a=ssrc:12345 cname:baresip@home\n";

/// SIPp's default `uac` scenario body.
pub const SIPP_UAC: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n\
s=-\r\n\
c=IN IP4 127.0.1.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// A softphone on IPv6 offering opus with telephone-event at both rates.
pub const LINPHONE_IP6: &str = "v=0\r\n\
o=linphone 2024 1 IN IP6 2a01:4f8:c17:1::10\r\n\
s=Talk\r\n\
c=IN IP6 2a01:4f8:c17:1::10\r\n\
t=0 0\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 0 8 101 110\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:110 telephone-event/8000\r\n\
a=rtcp-fb:* trr-int 1000\r\n";

/// A WebRTC-style offer: SRTP audio plus video. We speak neither.
pub const WEBRTC_SRTP: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtpmap:96 VP8/90000\r\n";

/// Every line type of RFC 8866 plus lines and attributes nobody interprets.
pub const KITCHEN_SINK: &str = "v=0\r\n\
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n\
s=SDP Seminar\r\n\
i=A Seminar on the session description protocol\r\n\
u=http://www.example.com/seminars/sdp.pdf\r\n\
e=j.doe@example.com (Jane Doe)\r\n\
p=+1 617 555-6011\r\n\
c=IN IP4 224.2.17.12/127\r\n\
b=CT:128\r\n\
t=2873397496 2873404696\r\n\
r=604800 3600 0 90000\r\n\
z=2882844526 -1h 2898848070 0\r\n\
k=prompt\r\n\
y=0123456789\r\n\
a=recvonly\r\n\
a=tool:xyz 1.0\r\n\
m=audio 49170 RTP/AVP 0\r\n\
i=voice\r\n\
c=IN IP4 224.2.17.12/127\r\n\
b=AS:64\r\n\
k=clear:secret\r\n\
x=private-line\r\n\
a=x-custom:1\r\n\
m=video 51372/2 RTP/AVP 99\r\n\
a=rtpmap:99 h263-1998/90000\r\n\
m=application 32416 udp wb\r\n\
a=orient:portrait\r\n";
