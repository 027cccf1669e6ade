//! SIPp against the cxb user agent on 127.0.0.1 (real clock, real sockets). Every SIPp run is
//! bounded (`-m N -timeout 20s -timeout_error`) and killed on drop; success = SIPp exit code 0.

mod sip_harness;

use std::time::Duration;

use bytes::Bytes;
use cxb_sip::dialog::{EndReason, OutboundCall, TransferProgress, UaEvent};
use sip_harness::{Agent, Behaviour, SDP_ANSWER, Sipp, free_port, scenario};

const LIMIT: Duration = Duration::from_secs(30);

fn run_uac(name: &str, agent: &Agent, args: &[&str]) {
    let target = agent.addr.to_string();
    let port = free_port().to_string();
    let mut all = vec![target.as_str(), "-i", "127.0.0.1", "-p", port.as_str()];
    all.extend_from_slice(args);
    let (status, errors) = Sipp::spawn(name, &all).wait(LIMIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "sipp {name}: {status:?}\n{errors}\n--- cxb log ---\n{}",
        agent.dump()
    );
}

#[test]
fn sipp_builtin_uac_against_our_uas() {
    let agent = Agent::start(Behaviour::default(), |_| {});
    run_uac("uac", &agent, &["-sn", "uac", "-m", "20", "-r", "10"]);
    let ended = agent.events_for(Duration::from_millis(300));
    let n = ended
        .iter()
        .filter(|e| {
            matches!(
                e,
                UaEvent::Ended {
                    reason: EndReason::RemoteBye,
                    ..
                }
            )
        })
        .count();
    assert_eq!(n, 20);
}

#[test]
fn sipp_cancel_before_answer() {
    let agent = Agent::start(
        Behaviour {
            answer: false,
            ..Behaviour::default()
        },
        |_| {},
    );
    run_uac("cancel", &agent, &["-sf", &scenario("uac_cancel.xml"), "-m", "3"]);
    let ev = agent.events_for(Duration::from_millis(300));
    let n = ev
        .iter()
        .filter(|e| {
            matches!(
                e,
                UaEvent::Ended {
                    reason: EndReason::RemoteCancel,
                    ..
                }
            )
        })
        .count();
    assert_eq!(n, 3);
}

#[test]
fn sipp_late_offer_invite_without_sdp() {
    let agent = Agent::start(Behaviour::default(), |_| {});
    run_uac("late", &agent, &["-sf", &scenario("uac_late_offer.xml"), "-m", "2"]);
    let ev = agent.events_for(Duration::from_millis(300));
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, UaEvent::IncomingCall { offer: None, .. }))
            .count(),
        2
    );
    // The SDP answer arrived in the ACK.
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, UaEvent::Confirmed { answer: Some(_), .. }))
            .count(),
        2
    );
}

#[test]
fn sipp_options_out_of_dialog() {
    let agent = Agent::start(Behaviour::default(), |_| {});
    run_uac("options", &agent, &["-sf", &scenario("uac_options.xml"), "-m", "3"]);
}

#[test]
fn sipp_malformed_invite_gets_400() {
    let agent = Agent::start(Behaviour::default(), |_| {});
    run_uac("malformed", &agent, &["-sf", &scenario("uac_malformed.xml"), "-m", "2"]);
    assert!(
        agent.dump().contains("SIP/2.0 400 Bad Request - Malformed header line"),
        "{}",
        agent.dump()
    );
}

#[test]
fn sipp_reinvite_hold_and_resume() {
    let agent = Agent::start(Behaviour::default(), |_| {});
    run_uac("hold", &agent, &["-sf", &scenario("uac_hold.xml"), "-m", "1"]);
    let ev = agent.events_for(Duration::from_millis(300));
    assert_eq!(
        ev.iter().filter(|e| matches!(e, UaEvent::OfferReceived { .. })).count(),
        2
    );
}

#[test]
fn sipp_refer_with_notify_progress() {
    let behaviour = Behaviour {
        refer_to: Some("sip:agent@127.0.0.1:5099".into()),
        ..Behaviour::default()
    };
    let agent = Agent::start(behaviour, |_| {});
    run_uac("refer", &agent, &["-sf", &scenario("uac_refer.xml"), "-m", "1"]);
    let progress: Vec<TransferProgress> = agent
        .events_for(Duration::from_millis(300))
        .into_iter()
        .filter_map(|e| match e {
            UaEvent::Transfer { progress, .. } => Some(progress),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress,
        [
            TransferProgress::Accepted,
            TransferProgress::Trying(100),
            TransferProgress::Succeeded(200)
        ]
    );
}

/// Our UAC against a SIPp UAS scenario; places one call, hangs up once answered.
fn call_sipp_uas(name: &str, sipp_args: &[&str], credentials: Option<(&str, &str)>) {
    let port = free_port();
    let port_s = port.to_string();
    let mut args = vec!["-i", "127.0.0.1", "-p", port_s.as_str(), "-m", "1"];
    args.extend_from_slice(sipp_args);
    let sipp = Sipp::spawn(name, &args);
    std::thread::sleep(Duration::from_millis(300)); // let SIPp bind
    let agent = Agent::start(Behaviour::default(), |_| {});
    let dest: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let from = format!("\"cxb\" <sip:bot@{}>", agent.addr);
    let creds = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
    agent.exec(move |ua, now| {
        let call = OutboundCall {
            request_uri: format!("sip:service@{dest}"),
            from,
            to: format!("<sip:service@{dest}>"),
            destination: dest,
            offer: Some(Bytes::from_static(SDP_ANSWER.as_bytes())),
            extra_headers: Vec::new(),
            credentials: creds,
            call_id: None,
        };
        ua.invite(now, call).unwrap();
    });
    let answered = agent.wait_for(Duration::from_secs(10), |e| {
        matches!(e, UaEvent::Answered { .. } | UaEvent::Ended { .. })
    });
    let Some(UaEvent::Answered { call, body, .. }) = answered else {
        panic!("not answered: {answered:?}\n{}", agent.dump());
    };
    assert!(body.is_some_and(|b| b.starts_with(b"v=0")));
    std::thread::sleep(Duration::from_millis(200));
    agent.exec(move |ua, now| ua.hangup(now, call).unwrap());
    let (status, errors) = sipp.wait(LIMIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "sipp {name}: {status:?}\n{errors}\n{}",
        agent.dump()
    );
}

#[test]
fn sipp_builtin_uas_answers_our_uac() {
    call_sipp_uas("uas", &["-sn", "uas"], None);
}

#[test]
fn sipp_401_digest_challenge_on_outbound() {
    call_sipp_uas("auth", &["-sf", &scenario("uas_auth.xml")], Some(("alice", "secret")));
}

#[test]
fn sipp_407_proxy_challenge_on_outbound() {
    call_sipp_uas(
        "proxyauth",
        &["-sf", &scenario("uas_proxy_auth.xml")],
        Some(("alice", "secret")),
    );
}

#[test]
fn sipp_reliable_183_gets_prack() {
    call_sipp_uas("prack", &["-sf", &scenario("uas_prack.xml")], None);
}

#[test]
fn sipp_builtin_uac_over_tcp() {
    let agent = Agent::start_on(cxb_sip::header::Transport::Tcp, Behaviour::default(), |_| {});
    run_uac("uac-tcp", &agent, &["-sn", "uac", "-t", "t1", "-m", "10", "-r", "10"]);
    let ended = agent.events_for(Duration::from_millis(300));
    let n = ended
        .iter()
        .filter(|e| {
            matches!(
                e,
                UaEvent::Ended {
                    reason: EndReason::RemoteBye,
                    ..
                }
            )
        })
        .count();
    assert_eq!(n, 10);
    assert!(agent.dump().contains("SIP/2.0/TCP"));
}

#[test]
fn sipp_uac_answers_our_401_inbound_trunk_auth() {
    use cxb_sip::auth::{Algorithm, DigestServer, StoredCredential};
    use cxb_sip::dialog::InboundAuth;
    let agent = Agent::start(Behaviour::default(), |cfg| {
        let mut server = DigestServer::new("cxb.test", b"interop-secret", 300);
        server.algorithms = vec![Algorithm::Md5]; // SIPp implements MD5 digest only
        let mut users = std::collections::HashMap::new();
        users.insert(
            "alice".to_owned(),
            StoredCredential::from_password("alice", "cxb.test", "secret"),
        );
        cfg.inbound_auth = Some(InboundAuth { server, users });
    });
    // Several calls within one second: each challenge carries its own nonce, so every client's
    // nc=1 is accepted (a repeated nonce would be refused as a replay).
    // SIPp's digest uri defaults to host:port; RFC 3261 wants the Request-URI (we check it).
    let auth_uri = format!("service@{}", agent.addr);
    let args = [
        "-sf",
        &scenario("uac_inbound_auth.xml"),
        "-m",
        "3",
        "-au",
        "alice",
        "-ap",
        "secret",
        "-auth_uri",
        &auth_uri,
    ];
    run_uac("inauth", &agent, &args);
    let ev = agent.events_for(Duration::from_millis(300));
    assert_eq!(
        ev.iter().filter(|e| matches!(e, UaEvent::IncomingCall { .. })).count(),
        3
    );
    assert!(agent.dump().contains("SIP/2.0 401 Unauthorized"));
}
