//! The RTCP side of [`RtpMedia`]: reports in and out, BYE, and the quality snapshot.

use std::net::SocketAddr;
use std::time::Duration;

use super::{MediaEvent, RtpMedia, RtpQuality};
use crate::rtp::{RtcpPacket, SenderInfo, build_bye, build_report, ntp_from_duration, parse_compound};

impl RtpMedia {
    /// A datagram on the separate RTCP socket.
    pub fn on_rtcp(&mut self, now: Duration, src: SocketAddr, datagram: &[u8]) {
        self.rtcp_src = Some(src);
        self.handle_rtcp(now, src, datagram);
    }

    pub(crate) fn handle_rtcp(&mut self, now: Duration, _src: SocketAddr, datagram: &[u8]) {
        self.counters.rtcp_in += 1;
        let ntp_now = self.ntp(now);
        let ours = self.cfg.ssrc;
        let clock = self.cfg.codec.clock_rate();
        let mut bye = false;
        for p in parse_compound(datagram) {
            match p {
                Err(_) => {
                    self.counters.rtcp_invalid += 1;
                    break;
                }
                Ok(RtcpPacket::Sr(sr)) => {
                    if self.stats.ssrc() == Some(sr.ssrc) {
                        self.stats.on_sender_report(now, &sr.info);
                    }
                    for b in sr.blocks().filter(|b| b.ssrc == ours) {
                        self.remote.on_block(&b, ntp_now, clock);
                    }
                }
                Ok(RtcpPacket::Rr(rr)) => {
                    for b in rr.blocks().filter(|b| b.ssrc == ours) {
                        self.remote.on_block(&b, ntp_now, clock);
                    }
                }
                Ok(RtcpPacket::Bye(b)) => {
                    let theirs = self.stats.ssrc();
                    bye |= theirs.is_none() || b.ssrcs().any(|s| Some(s) == theirs);
                }
                Ok(RtcpPacket::Sdes { .. } | RtcpPacket::Other { .. }) => {}
            }
        }
        if bye {
            self.events.push(MediaEvent::RemoteBye);
        }
    }

    fn ntp(&self, now: Duration) -> u64 {
        ntp_from_duration(self.cfg.wallclock_at_zero + now)
    }

    /// Where RTCP goes: the RTP target with rtcp-mux; else the source of received RTCP, the
    /// trusted SDP RTCP address, or the latched RTP host with the SDP RTCP port (RTP port + 1).
    pub fn rtcp_target(&self) -> Option<SocketAddr> {
        if self.cfg.rtcp_mux {
            return self.rtp_target();
        }
        self.rtcp_src
            .or_else(|| self.cfg.remote_rtcp.filter(|_| self.cfg.remote_trusted))
            .or_else(|| {
                let rtp = self.latched()?;
                let port = self.cfg.remote_rtcp.map_or(rtp.port().wrapping_add(1), |a| a.port());
                Some(SocketAddr::new(rtp.ip(), port))
            })
    }

    /// Builds SR (or RR) + SDES, optionally followed by BYE, and sends it to the RTCP target.
    pub(crate) fn send_report(&mut self, now: Duration, bye: Option<&[u8]>, tx: &mut impl FnMut(SocketAddr, &[u8])) {
        let Some(to) = self.rtcp_target() else { return };
        let sent = self.counters.packets_out > self.packets_at_report;
        self.packets_at_report = self.counters.packets_out;
        let info = SenderInfo {
            ntp: self.ntp(now),
            rtp_ts: self.ts,
            packet_count: self.counters.packets_out as u32,
            octet_count: self.counters.octets_out as u32,
        };
        let block = self.stats.report_block(now);
        let blocks = block.as_slice();
        let Ok(n) = build_report(
            &mut self.rtcp_buf,
            self.cfg.ssrc,
            sent.then_some(&info),
            blocks,
            &self.cname,
        ) else {
            return;
        };
        let mut len = n;
        if let Some(reason) = bye
            && let Ok(m) = build_bye(&mut self.rtcp_buf[n..], self.cfg.ssrc, Some(reason))
        {
            len += m;
        }
        tx(to, &self.rtcp_buf[..len]);
    }

    /// Sends a final report with an RTCP BYE (call it when the call ends).
    pub fn bye(&mut self, now: Duration, tx: &mut impl FnMut(SocketAddr, &[u8])) {
        self.send_report(now, Some(b"call ended"), tx);
    }

    /// Quality snapshot: counters, loss, jitter, what the remote reports, RTT, latch.
    pub fn quality(&self) -> RtpQuality {
        let jm = self.playout.metrics();
        let got_reports = self.remote.reports > 0;
        RtpQuality {
            packets_in: self.counters.packets_in,
            bytes_in: self.counters.bytes_in,
            packets_out: self.counters.packets_out,
            bytes_out: self.counters.bytes_out,
            invalid_in: self.counters.invalid_in,
            foreign_in: self.counters.foreign_in,
            rtcp_in: self.counters.rtcp_in,
            lost: self.lost_before + self.stats.cumulative_lost().max(0) as u64,
            jitter_ms: self.stats.jitter_ms(),
            max_jitter_ms: self.max_jitter_ms,
            remote_fraction_lost: got_reports.then_some(self.remote.fraction_lost),
            remote_cumulative_lost: got_reports.then_some(i64::from(self.remote.cumulative_lost)),
            remote_jitter_ms: got_reports.then_some(self.remote.jitter_ms),
            rtt_ms: self.remote.rtt_ms,
            latched: self.latched(),
            concealed_ms: jm.concealed_ms,
            playout_delay_ms: jm.current_delay_ms,
            caller_ring_overflow: self.uplink().overflow_samples(),
            events_dropped: self.events.dropped(),
        }
    }
}
