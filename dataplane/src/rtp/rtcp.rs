//! RTCP (RFC 3550 §6): compound packet parsing (SR, RR, SDES CNAME, BYE; other types skipped)
//! and building of SR/RR + SDES CNAME reports and BYE. Zero-copy and allocation-free.

use std::time::Duration;

use super::RtpError;

/// RTCP packet type of a sender report.
pub const PT_SR: u8 = 200;
/// RTCP packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// RTCP packet type of source description.
pub const PT_SDES: u8 = 202;
/// RTCP packet type of goodbye.
pub const PT_BYE: u8 = 203;
/// SDES item type CNAME.
const SDES_CNAME: u8 = 1;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Longest CNAME we write (the SDES length byte).
const MAX_CNAME: usize = 255;

/// Converts a time since the Unix epoch into a 64-bit NTP timestamp (32.32 fixed point).
pub fn ntp_from_duration(since_unix: Duration) -> u64 {
    let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The sender-info section of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp of this report.
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_ts: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

impl SenderInfo {
    /// The middle 32 bits of the NTP timestamp (what receivers echo as LSR).
    pub fn ntp_middle(&self) -> u32 {
        (self.ntp >> 16) as u32
    }
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block is about.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (24-bit signed; duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (middle 32 bits of its NTP time), 0 if none.
    pub lsr: u32,
    /// Delay since that SR in 1/65536 s, 0 if none.
    pub dlsr: u32,
}

impl ReportBlock {
    const LEN: usize = 24;

    fn parse(b: &[u8]) -> ReportBlock {
        let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit cumulative loss.
        let cum = (u32::from_be_bytes([0, b[5], b[6], b[7]]) << 8) as i32 >> 8;
        ReportBlock {
            ssrc: w(0),
            fraction_lost: b[4],
            cumulative_lost: cum,
            highest_seq: w(8),
            jitter: w(12),
            lsr: w(16),
            dlsr: w(20),
        }
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.fraction_lost;
        let cum = self.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1) as u32;
        out[5..8].copy_from_slice(&cum.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        out[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
    }
}

/// Report blocks of an SR or RR, parsed lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    raw: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        if self.raw.len() < ReportBlock::LEN {
            return None;
        }
        let (b, rest) = self.raw.split_at(ReportBlock::LEN);
        self.raw = rest;
        Some(ReportBlock::parse(b))
    }
}

/// A sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender.
    pub ssrc: u32,
    /// Its sender info.
    pub info: SenderInfo,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// The reception report blocks.
    pub fn blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks { raw: self.blocks }
    }
}

/// A receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter.
    pub ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// The reception report blocks.
    pub fn blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks { raw: self.blocks }
    }
}

/// A BYE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    sources: &'a [u8],
    /// Reason for leaving, if given (raw bytes, normally UTF-8).
    pub reason: Option<&'a [u8]>,
}

impl Bye<'_> {
    /// The SSRCs leaving.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.sources
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// Sender report.
    Sr(SenderReport<'a>),
    /// Receiver report.
    Rr(ReceiverReport<'a>),
    /// Source description: the first CNAME found (if any) and its source.
    Sdes {
        /// SSRC of the chunk holding the CNAME (or of the first chunk).
        ssrc: u32,
        /// The CNAME bytes.
        cname: Option<&'a [u8]>,
    },
    /// Goodbye.
    Bye(Bye<'a>),
    /// Any other packet type (APP, RTPFB, PSFB, XR …), skipped.
    Other {
        /// Its packet type.
        pt: u8,
    },
}

/// Iterator over the packets of a compound RTCP datagram; stops after the first error.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Parses a compound RTCP datagram lazily. Never panics.
pub fn parse_compound(buf: &[u8]) -> CompoundIter<'_> {
    CompoundIter {
        rest: buf,
        failed: false,
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.parse_one();
        self.failed = r.is_err();
        Some(r)
    }
}

impl<'a> CompoundIter<'a> {
    fn parse_one(&mut self) -> Result<RtcpPacket<'a>, RtpError> {
        let buf = self.rest;
        if buf.len() < 4 {
            return Err(RtpError::TooShort {
                len: buf.len(),
                needed: 4,
            });
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let count = usize::from(buf[0] & 0x1f);
        let pt = buf[1];
        let len = 4 * (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1);
        if len > buf.len() {
            return Err(RtpError::BadLength {
                declared: len,
                available: buf.len(),
            });
        }
        self.rest = &buf[len..];
        let mut body = &buf[4..len];
        if buf[0] & 0x20 != 0 {
            let pad = usize::from(body.last().copied().unwrap_or(0));
            if pad == 0 || pad > body.len() {
                return Err(RtpError::BadPadding {
                    padding: pad as u8,
                    available: body.len(),
                });
            }
            body = &body[..body.len() - pad];
        }
        let short = |needed: usize| RtpError::TooShort { len, needed };
        let word = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match pt {
            PT_SR => {
                let need = 24 + count * ReportBlock::LEN;
                if body.len() < need {
                    return Err(short(need + 4));
                }
                let info = SenderInfo {
                    ntp: (u64::from(word(body, 4)) << 32) | u64::from(word(body, 8)),
                    rtp_ts: word(body, 12),
                    packet_count: word(body, 16),
                    octet_count: word(body, 20),
                };
                Ok(RtcpPacket::Sr(SenderReport {
                    ssrc: word(body, 0),
                    info,
                    blocks: &body[24..need],
                }))
            }
            PT_RR => {
                let need = 4 + count * ReportBlock::LEN;
                if body.len() < need {
                    return Err(short(need + 4));
                }
                Ok(RtcpPacket::Rr(ReceiverReport {
                    ssrc: word(body, 0),
                    blocks: &body[4..need],
                }))
            }
            PT_SDES => Ok(parse_sdes(body, count)),
            PT_BYE => {
                let need = 4 * count;
                if body.len() < need {
                    return Err(short(need + 4));
                }
                let reason = body
                    .get(need)
                    .and_then(|&n| body.get(need + 1..need + 1 + usize::from(n)));
                Ok(RtcpPacket::Bye(Bye {
                    sources: &body[..need],
                    reason,
                }))
            }
            _ => Ok(RtcpPacket::Other { pt }),
        }
    }
}

/// Finds the first CNAME among the SDES chunks (tolerant: a truncated chunk ends the search).
fn parse_sdes(body: &[u8], count: usize) -> RtcpPacket<'_> {
    let mut first_ssrc = None;
    let mut off = 0;
    for _ in 0..count {
        let Some(s) = body.get(off..off + 4) else { break };
        let ssrc = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
        first_ssrc.get_or_insert(ssrc);
        off += 4;
        // Items until a zero type, then padding to the next 32-bit boundary.
        loop {
            let Some(&ty) = body.get(off) else {
                return RtcpPacket::Sdes {
                    ssrc: first_ssrc.unwrap_or(0),
                    cname: None,
                };
            };
            if ty == 0 {
                off = (off + 4) & !3;
                break;
            }
            let Some(&n) = body.get(off + 1) else { break };
            let Some(text) = body.get(off + 2..off + 2 + usize::from(n)) else {
                break;
            };
            if ty == SDES_CNAME {
                return RtcpPacket::Sdes {
                    ssrc,
                    cname: Some(text),
                };
            }
            off += 2 + usize::from(n);
        }
    }
    RtcpPacket::Sdes {
        ssrc: first_ssrc.unwrap_or(0),
        cname: None,
    }
}

fn header(out: &mut [u8], count: usize, pt: u8, len: usize) {
    out[0] = 0x80 | (count as u8 & 0x1f);
    out[1] = pt;
    out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

/// Builds a compound report: an SR (when `sender` is given: we have sent since the last report)
/// or an RR, with up to 31 report `blocks`, followed by an SDES packet carrying `cname` (at most
/// 255 bytes; longer is cut). Returns the datagram length.
pub fn build_report(
    out: &mut [u8],
    ssrc: u32,
    sender: Option<&SenderInfo>,
    blocks: &[ReportBlock],
    cname: &[u8],
) -> Result<usize, RtpError> {
    let blocks = &blocks[..blocks.len().min(31)];
    let cname = &cname[..cname.len().min(MAX_CNAME)];
    let report_len = 8 + if sender.is_some() { 20 } else { 0 } + blocks.len() * ReportBlock::LEN;
    // SSRC + type + length + text + end marker, padded to 32 bits.
    let sdes_len = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let needed = report_len + sdes_len;
    if out.len() < needed {
        return Err(RtpError::OutputTooSmall {
            needed,
            available: out.len(),
        });
    }
    let pt = if sender.is_some() { PT_SR } else { PT_RR };
    header(out, blocks.len(), pt, report_len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let mut off = 8;
    if let Some(si) = sender {
        out[8..16].copy_from_slice(&si.ntp.to_be_bytes());
        out[16..20].copy_from_slice(&si.rtp_ts.to_be_bytes());
        out[20..24].copy_from_slice(&si.packet_count.to_be_bytes());
        out[24..28].copy_from_slice(&si.octet_count.to_be_bytes());
        off = 28;
    }
    for b in blocks {
        b.write(&mut out[off..off + ReportBlock::LEN]);
        off += ReportBlock::LEN;
    }
    let s = &mut out[off..off + sdes_len];
    header(s, 1, PT_SDES, sdes_len);
    s[4..8].copy_from_slice(&ssrc.to_be_bytes());
    s[8] = SDES_CNAME;
    s[9] = cname.len() as u8;
    s[10..10 + cname.len()].copy_from_slice(cname);
    s[10 + cname.len()..].fill(0);
    Ok(needed)
}

/// Builds a BYE packet for `ssrc` with an optional reason (at most 255 bytes). Put it after a
/// report (see [`build_report`]) to form a valid compound packet. Returns its length.
pub fn build_bye(out: &mut [u8], ssrc: u32, reason: Option<&[u8]>) -> Result<usize, RtpError> {
    let reason = reason.map(|r| &r[..r.len().min(255)]);
    let needed = (8 + reason.map_or(0, |r| 1 + r.len())).div_ceil(4) * 4;
    if out.len() < needed {
        return Err(RtpError::OutputTooSmall {
            needed,
            available: out.len(),
        });
    }
    header(out, 1, PT_BYE, needed);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..needed].fill(0);
    if let Some(r) = reason {
        out[8] = r.len() as u8;
        out[9..9 + r.len()].copy_from_slice(r);
    }
    Ok(needed)
}
