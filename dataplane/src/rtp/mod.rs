//! RTP (RFC 3550) packet views and writers, RTCP compound parse/build, and the receiver
//! statistics of RFC 3550 appendix A. Sans-IO: bytes and times in, bytes and numbers out.
//!
//! - [`packet`]: [`RtpPacket`] zero-copy view, [`write_rtp`], the rtcp-mux demultiplexer [`is_rtcp`].
//! - [`rtcp`]: [`parse_compound`] (SR, RR, SDES CNAME, BYE; unknown packets skipped),
//!   [`build_report`] (SR or RR + SDES CNAME) and [`build_bye`].
//! - [`stats`]: [`ReceiverStats`] (extended sequence, loss, fraction lost, interarrival jitter,
//!   LSR/DLSR) and [`RemoteView`] (what the remote reports about our stream, RTT).

pub mod packet;
pub mod rtcp;
pub mod stats;
#[cfg(test)]
mod tests;

pub use packet::{RTP_HEADER_LEN, RtpHeader, RtpPacket, is_rtcp, write_rtp, write_rtp_header};
pub use rtcp::{
    Bye, CompoundIter, ReceiverReport, ReportBlock, RtcpPacket, SenderInfo, SenderReport, build_bye, build_report,
    ntp_from_duration, parse_compound,
};
pub use stats::{ReceiverStats, RemoteView};

/// Errors of RTP and RTCP parsing and building.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer bytes than the fixed header (or a declared part of it) needs.
    #[error("packet too short: {len} bytes, {needed} needed")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes the header declares.
        needed: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP version {version}")]
    BadVersion {
        /// Version found.
        version: u8,
    },
    /// The padding count is zero or larger than the payload.
    #[error("invalid padding length {padding} with {available} bytes after the header")]
    BadPadding {
        /// The padding count byte.
        padding: u8,
        /// Bytes after the header.
        available: usize,
    },
    /// An RTCP packet's length field runs past the datagram.
    #[error("RTCP length field of {declared} bytes exceeds the {available} remaining")]
    BadLength {
        /// Bytes the length field declares.
        declared: usize,
        /// Bytes remaining in the datagram.
        available: usize,
    },
    /// The output buffer cannot hold what is being written.
    #[error("output buffer of {available} bytes, {needed} needed")]
    OutputTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}
