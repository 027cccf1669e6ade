//! Transfer by bridging: when the peer refuses our REFER (a final 4xx–6xx to the REFER itself,
//! not a failed NOTIFY from the transfer target), the shard dials the transfer destination
//! itself and, once that leg answers, relays audio between the caller and it. The bot leaves
//! the call (its conversation ends as a transfer, `transfer_method=sip_bridge`); the caller's
//! recording keeps running and holds both sides of the bridged conversation. Either side
//! hanging up ends the other.
//!
//! The leg is an ordinary outbound call of the shard with no agent and no call record of its
//! own: the original call's record tells the story. Relaying copies each side's 16 kHz uplink
//! frame into the other side's playout queue every tick (one small allocation per frame per
//! bridged call; ordinary calls are untouched).

use std::net::SocketAddr;
use std::time::Instant;

use cxb_model::record::CallEventKind as Ev;
use cxb_model::{DisconnectedBy, TransferMethod};
use cxb_sip::dialog::CallHandle;
use cxb_sip::uri::{Host, Uri};

use super::Shard;
use crate::agent::conversation::ConversationRecord;
use crate::engine::call::Call;

/// A call's part in a bridged transfer.
#[derive(Debug, Default)]
pub struct Bridge {
    /// Our REFER got a 2xx: a later failure is the target's, not a refusal.
    pub refer_accepted: bool,
    /// The Refer-To URI of the transfer in progress.
    pub destination: Option<String>,
    /// Original call: the leg dialled for it. Leg: the original call.
    pub other: Option<CallHandle>,
    /// This call is a leg dialled for another call (no agent, no record).
    pub is_leg: bool,
    /// The leg answered: audio flows between the two.
    pub linked: bool,
    /// Original call: its conversation, finished when the bridge took over.
    pub conversation: Option<ConversationRecord>,
}

/// Where a Refer-To URI is dialled: its user part and its host as an address (a number URI
/// names the peer that sent us the call). `None` for a host that is not an IP address.
fn leg_target(uri: &str) -> Option<(String, SocketAddr)> {
    let u = Uri::parse(uri).ok()?;
    let ip = match u.host()? {
        Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
        Host::Name(_) => return None,
    };
    let user = u.user().unwrap_or("").to_owned();
    Some((user, SocketAddr::new(ip, u.port().unwrap_or(5060))))
}

impl Shard {
    /// The peer refused our REFER with `code`: dial the destination ourselves. False when no
    /// leg could be placed (the caller then hears the failed-transfer line).
    pub(super) fn start_bridge(&mut self, now: Instant, call: CallHandle, code: u16) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.bridge.refer_accepted || c.bridge.other.is_some() || c.bridge.is_leg {
            return false;
        }
        let Some((user, target)) = c.bridge.destination.as_deref().and_then(leg_target) else {
            return false;
        };
        c.event(
            Ev::Other,
            format!("REFER refused (SIP {code}): bridging to {user}@{target}"),
        );
        let bot = c.bot.clone();
        let from = if c.from_number.is_empty() {
            "cxb".to_owned()
        } else {
            c.from_number.clone()
        };
        let placed = crate::engine::dial::invite(self, bot, &user, target, from, None, |leg| {
            leg.bridge.is_leg = true;
            leg.bridge.other = Some(call);
        });
        match placed {
            Ok((leg, _)) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.bridge.other = Some(leg);
                }
                self.after_ua(now);
                true
            }
            Err(e) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.event(Ev::Other, format!("bridge leg not placed: {e}"));
                }
                false
            }
        }
    }

    /// A bridge leg answered: link the two calls and let the bot go (its conversation ends as a
    /// completed transfer).
    pub(super) fn on_leg_answered(&mut self, now: Instant, leg: CallHandle) {
        let Some(orig) = self.calls.get(&leg).and_then(|l| l.bridge.other) else {
            return;
        };
        if !self.calls.contains_key(&orig) {
            let _ = self.ua.hangup(now, leg);
            return;
        }
        for h in [leg, orig] {
            if let Some(c) = self.calls.get_mut(&h) {
                c.bridge.linked = true;
            }
        }
        if let Some(c) = self.calls.get_mut(&orig) {
            c.event(Ev::Other, "bridged");
            if let Some(m) = c.media.as_mut() {
                m.downlink_mut().clear();
            }
        }
        // The conversation's success path asks for a hang-up (`transfer_to_agent`), which
        // `take_over` turns into the bot leaving instead.
        self.transfer_result(now, orig, true, None);
        self.take_over(orig);
    }

    /// The bot leaves a bridged call: its conversation is finished and kept for the record.
    pub(super) fn take_over(&mut self, call: CallHandle) {
        let media_now = self.media_now(Instant::now());
        let Some(c) = self.calls.get_mut(&call) else { return };
        if let Some(a) = c.agent.take() {
            c.bridge.conversation = Some(a.finish(media_now));
        }
        c.disconnected_by.get_or_insert(DisconnectedBy::TransferToAgent);
    }

    /// Whether a hang-up the agent asked for is really the bot leaving a bridged call.
    pub(super) fn is_bridged(&self, call: CallHandle) -> bool {
        self.calls
            .get(&call)
            .is_some_and(|c| c.bridge.linked && !c.bridge.is_leg)
    }

    /// One side of a bridge (or a leg still ringing) ended: end or inform the other.
    pub(super) fn on_bridge_ended(&mut self, now: Instant, ended: &Call, reason: String) {
        let Some(other) = ended.bridge.other else { return };
        if ended.bridge.linked {
            let _ = self.ua.hangup(now, other);
            return;
        }
        if ended.bridge.is_leg {
            if let Some(c) = self.calls.get_mut(&other) {
                c.bridge.other = None;
            }
            self.transfer_result(now, other, false, Some(format!("bridge leg: {reason}")));
        } else {
            // The caller left while the leg was ringing.
            let _ = self.ua.hangup(now, other);
        }
    }

    /// Relays one tick of audio each way between linked calls.
    pub(super) fn bridge_media(&mut self) {
        let pairs: Vec<(CallHandle, CallHandle)> = self
            .calls
            .iter()
            .filter(|(h, c)| c.bridge.linked && c.bridge.other.is_some_and(|o| o > **h))
            .map(|(h, c)| (*h, c.bridge.other.unwrap_or(*h)))
            .collect();
        let mut frame = [0i16; crate::media::FRAME_16K];
        for (a, b) in pairs {
            for (from, to) in [(a, b), (b, a)] {
                let Some(m) = self.calls.get(&from).and_then(|c| c.media.as_ref()) else {
                    continue;
                };
                let src = m.uplink().last_frame_16k();
                let n = src.len().min(frame.len());
                frame[..n].copy_from_slice(&src[..n]);
                if let Some(m) = self.calls.get_mut(&to).and_then(|c| c.media.as_mut()) {
                    m.downlink_mut().push_bot_audio(&frame[..n]);
                }
            }
        }
    }
}

/// The record of a call whose bot left through a bridge: its conversation, and the method.
pub(super) fn finish_record(conversation: Option<ConversationRecord>, record: &mut cxb_model::CallRecord) {
    if let Some(conv) = conversation {
        conv.apply_to(record);
        record.transfer_method = Some(TransferMethod::SipBridge);
        record.disconnected_by = DisconnectedBy::TransferToAgent;
    }
}

#[cfg(test)]
mod tests {
    use super::leg_target;

    #[test]
    fn leg_targets_need_an_ip_host() {
        assert_eq!(
            leg_target("sip:agent@127.0.0.1:5070"),
            Some(("agent".to_owned(), "127.0.0.1:5070".parse().unwrap()))
        );
        assert_eq!(
            leg_target("sip:+15550199@10.0.0.2"),
            Some(("+15550199".to_owned(), "10.0.0.2:5060".parse().unwrap()))
        );
        assert_eq!(leg_target("sip:agent@pbx.example.com"), None);
        assert_eq!(leg_target("not a uri"), None);
    }
}
