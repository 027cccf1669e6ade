//! The RTP fixed header (RFC 3550 §5.1): a zero-copy view for received packets and a writer.

use super::RtpError;

/// Length of the fixed RTP header without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;

/// A received RTP packet, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type (7 bits).
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Number of CSRC entries (skipped).
    pub csrc_count: u8,
    /// Whether a header extension was present (skipped).
    pub has_extension: bool,
    /// Payload with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram: version 2, CSRC list and header extension skipped, padding removed.
    /// Never panics; anything malformed is an [`RtpError`].
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TooShort {
                len: buf.len(),
                needed: RTP_HEADER_LEN,
            });
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = buf[0] & 0x0f;
        let mut off = RTP_HEADER_LEN + 4 * usize::from(csrc_count);
        if buf.len() < off {
            return Err(RtpError::TooShort {
                len: buf.len(),
                needed: off,
            });
        }
        if has_extension {
            if buf.len() < off + 4 {
                return Err(RtpError::TooShort {
                    len: buf.len(),
                    needed: off + 4,
                });
            }
            let words = usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]]));
            off += 4 + 4 * words;
            if buf.len() < off {
                return Err(RtpError::TooShort {
                    len: buf.len(),
                    needed: off,
                });
            }
        }
        let mut end = buf.len();
        if padding {
            let pad = buf[end - 1];
            let available = end - off;
            if pad == 0 || usize::from(pad) > available {
                return Err(RtpError::BadPadding {
                    padding: pad,
                    available,
                });
            }
            end -= usize::from(pad);
        }
        Ok(RtpPacket {
            pt: buf[1] & 0x7f,
            marker: buf[1] & 0x80 != 0,
            seq: u16::from_be_bytes([buf[2], buf[3]]),
            ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            csrc_count,
            has_extension,
            payload: &buf[off..end],
        })
    }
}

/// The fields of an RTP header we send (no CSRC, no extension, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Payload type (7 bits; higher bits are masked).
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Writes a 12-byte header and the payload into `out`; returns the packet length, or 0 when
/// `out` is too small (nothing is written then).
pub fn write_rtp(out: &mut [u8], hdr: &RtpHeader, payload: &[u8]) -> usize {
    let len = RTP_HEADER_LEN + payload.len();
    if out.len() < len {
        return 0;
    }
    write_rtp_header(out, hdr);
    out[RTP_HEADER_LEN..len].copy_from_slice(payload);
    len
}

/// Writes the 12-byte header into `out[..12]` (a payload already written after it, e.g. encoded
/// in place, is left as it is); returns `false`, writing nothing, when `out` is shorter.
pub fn write_rtp_header(out: &mut [u8], hdr: &RtpHeader) -> bool {
    let Some(h) = out.get_mut(..RTP_HEADER_LEN) else {
        return false;
    };
    h[0] = 0x80;
    h[1] = (hdr.pt & 0x7f) | if hdr.marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&hdr.seq.to_be_bytes());
    h[4..8].copy_from_slice(&hdr.ts.to_be_bytes());
    h[8..12].copy_from_slice(&hdr.ssrc.to_be_bytes());
    true
}

/// RFC 5761 §4 demultiplexing on a shared port: a version-2 datagram of at least 8 bytes whose
/// second byte, with the marker bit masked, is 64..=95 (RTCP packet types 192..=223) is RTCP.
/// (RTP payload types 64..=95 must therefore not be used with rtcp-mux.)
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (64..=95).contains(&(buf[1] & 0x7f))
}
