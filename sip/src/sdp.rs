//! SDP (RFC 8866, formerly RFC 4566) and RFC 3264 offer/answer for audio calls.
//!
//! - [`SessionDescription::parse`] / `to_string()` / [`SessionDescription::to_bytes`]: lossless
//!   parse and CRLF print (unknown lines and attributes kept in order), bounded by [`Limits`].
//! - Typed views on [`MediaDescription`]: [`MediaDescription::codecs`], `rtpmap`, `fmtp`,
//!   `ptime`, `rtcp_mux`, `rtcp`, direction; [`SessionDescription::media_connection`] and
//!   [`SessionDescription::media_direction`] apply session-level defaults.
//! - [`AudioSession`]: answer offers, make offers (late offer, hold, resume), accept answers;
//!   the result is a [`NegotiatedAudio`]. Failures are [`OfferAnswerError`]s mapping to 488.
//! - [`RemoteAddr::is_private_or_unusable`]: when to latch to the observed RTP source instead.
//!
//! ```
//! use cxb_sip::sdp::{AudioSession, Direction, Encoding, LocalCapabilities, SessionDescription};
//!
//! let offer = b"v=0\r\no=- 1 1 IN IP4 54.172.60.1\r\ns=-\r\nc=IN IP4 54.172.60.1\r\nt=0 0\r\n\
//!               m=audio 12878 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n";
//! let offer = SessionDescription::parse(offer).unwrap();
//! let caps = LocalCapabilities::new("35.180.1.2".parse().unwrap(), 40000);
//! let mut session = AudioSession::new(caps, /* random session id */ 4242, 1);
//! let answered = session.answer_offer(&offer).unwrap(); // Err(e) => reply e.status_code() (488)
//! assert_eq!(answered.audio.codec, Encoding::Pcma); // the offerer's order
//! assert_eq!(answered.audio.telephone_event_pt, Some(101));
//! assert!(answered.audio.hold.remote()); // sendonly offer = we are on hold…
//! assert_eq!(answered.sdp.media_direction(0), Direction::RecvOnly); // …so we answer recvonly
//! let body: Vec<u8> = answered.sdp.to_bytes(); // CRLF, ready for the 200 OK
//! # assert!(body.starts_with(b"v=0\r\n"));
//! ```

mod address;
mod codec;
mod model;
mod offer_answer;
#[cfg(test)]
mod offer_answer_tests;
mod parse;
#[cfg(test)]
mod parse_tests;
mod print;
#[cfg(test)]
mod samples;

pub use address::{RemoteAddr, ip_is_private_or_unusable};
pub use codec::{Codec, Direction, Encoding, EventList, Fmtp, OpusParams, RtcpAttribute, RtpMap, static_payload_type};
pub use model::{
    AddrType, Attribute, Bandwidth, Connection, MediaDescription, Origin, SessionDescription, Timing, UnknownLine,
};
pub use offer_answer::{
    Answered, AudioSession, HoldState, LocalCapabilities, LocalCodec, LocalTelephoneEvent, NegotiatedAudio,
    OfferAnswerError,
};
pub use parse::{Limits, SdpError};
