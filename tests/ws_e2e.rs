//! End-to-end: a real `cxb dataplane` process and a WebSocket client speaking the Twilio Media
//! Streams protocol at `/ws/{bot_id}` on its HTTP port. Each test starts its own dataplane on free
//! loopback ports, then reads the call records from the spool (no control process).

mod dp_harness;
mod sip_harness;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use dp_harness::Dp;

const SECRET: &str = "test-secret-0123456789";

const BOTS: &str = r#"{
  "bots": [
    {"id": "wsbot", "name": "WS", "record": true,
     "opening_message": "Hello, this is the cxb web socket test bot. How can I help you today?",
     "variables": {"campaign": "bot-default", "tier": "gold"}},
    {"id": "off", "name": "Off", "active": false}
  ]
}"#;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, bearer: Option<&str>) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    if let Some(b) = bearer {
        req.headers_mut()
            .insert("authorization", format!("Bearer {b}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

const SID: &str = "MZ00000000000000000000000000000001";

fn connected_msg() -> String {
    json!({"event": "connected", "protocol": "Call", "version": "1.0.0",
           "callerId": "+15551230000", "crmId": "crm-42"})
    .to_string()
}

fn start_msg() -> String {
    json!({"event": "start", "sequenceNumber": "1", "streamSid": SID,
           "start": {"streamSid": SID, "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
                     "customParameters": {"customerName": "Ada", "campaign": "spring"},
                     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
    .to_string()
}

/// 20 ms of a quiet 300 Hz tone as base64 µ-law, frame `i`.
fn caller_frame(i: usize) -> String {
    let codes: Vec<u8> = (0..160)
        .map(|n| {
            let t = (i * 160 + n) as f32 / 8000.0;
            let x = (2.0 * std::f32::consts::PI * 300.0 * t).sin() * 3000.0;
            cxb_dsp::g711::ulaw_encode(x as i16)
        })
        .collect();
    B64.encode(codes)
}

fn media_msg(seq: usize, i: usize) -> String {
    json!({"event": "media", "sequenceNumber": seq.to_string(), "streamSid": SID,
           "media": {"track": "inbound", "chunk": i.to_string(), "timestamp": (i * 20).to_string(),
                     "payload": caller_frame(i)}})
    .to_string()
}

/// Whether a `media` message we received carries audible audio.
fn audible(msg: &Value) -> bool {
    let payload = msg["media"]["payload"].as_str().expect("media.payload");
    let codes = B64.decode(payload).expect("base64 payload");
    assert_eq!(codes.len(), 160, "20 ms frames at 8 kHz");
    codes
        .iter()
        .any(|&c| cxb_dsp::g711::ulaw_decode(c).unsigned_abs() > 300)
}

fn events_of<'a>(rec: &'a Value, kind: &str) -> Vec<&'a str> {
    rec["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["kind"] == kind)
                .map(|e| e["detail"].as_str().unwrap_or(""))
                .collect()
        })
        .unwrap_or_default()
}

/// What the client saw of the bot.
#[derive(Default)]
struct Seen {
    media: usize,
    audible: usize,
    audible_before_mark: usize,
    mark_after_media: bool,
    mark: bool,
}

impl Seen {
    /// Notes one server message; returns a mark echo to send when it was the greeting mark.
    fn note(&mut self, text: &str) -> Option<String> {
        let v: Value = serde_json::from_str(text).expect("server sends JSON");
        assert_eq!(v["streamSid"], SID, "{text}");
        match v["event"].as_str() {
            Some("media") => {
                self.media += 1;
                if audible(&v) {
                    self.audible += 1;
                }
                None
            }
            Some("mark") => {
                assert_eq!(v["mark"]["name"], "greeting");
                self.mark = true;
                self.audible_before_mark = self.audible;
                self.mark_after_media = self.media > 0;
                Some(
                    json!({"event": "mark", "sequenceNumber": "9999", "streamSid": SID,
                            "mark": {"name": "greeting"}})
                    .to_string(),
                )
            }
            other => panic!("unexpected server message {other:?}: {text}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn twilio_stream_hears_the_greeting_and_records_the_call() {
    let dp = Dp::start("call", BOTS, &[]);
    tokio::time::timeout(Duration::from_secs(30), async {
        let url = dp.url(&format!("/ws/wsbot?token={SECRET}"));
        let mut ws = connect(&url, None).await.expect("upgrade");
        ws.send(Message::text(connected_msg())).await.unwrap();
        ws.send(Message::text(start_msg())).await.unwrap();

        let mut seen = Seen::default();
        let mut media_after_garbage = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut i = 0;
        let mut seq = 2;
        // 3 s of caller audio, a DTMF key and two malformed frames; then wait for the greeting mark.
        let deadline = Instant::now() + Duration::from_secs(20);
        while i < 150 || !seen.mark {
            assert!(
                Instant::now() < deadline,
                "greeting mark never came ({} media)",
                seen.media
            );
            tokio::select! {
                _ = tick.tick(), if i < 150 => {
                    ws.send(Message::text(media_msg(seq, i))).await.unwrap();
                    i += 1;
                    seq += 1;
                    if i == 50 {
                        let dtmf = json!({"event": "dtmf", "sequenceNumber": seq.to_string(), "streamSid": SID,
                                          "dtmf": {"track": "inbound_track", "digit": "5"}});
                        ws.send(Message::text(dtmf.to_string())).await.unwrap();
                        seq += 1;
                    }
                    if i == 60 {
                        ws.send(Message::text(r#"{"event":"media","streamSid":"#)).await.unwrap();
                        ws.send(Message::text("definitely not json")).await.unwrap();
                        ws.send(Message::text(r#"{"event":"dance"}"#)).await.unwrap();
                        media_after_garbage = seen.media;
                    }
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(echo) = seen.note(t.as_str()) {
                            ws.send(Message::text(echo)).await.unwrap();
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("stream ended early: {other:?}"),
                },
            }
        }
        assert!(seen.mark_after_media, "the mark follows the greeting's media");
        assert!(
            seen.audible_before_mark >= 50,
            "at least 1 s of audible greeting before the mark, got {} frames",
            seen.audible_before_mark
        );
        assert!(
            seen.media > media_after_garbage,
            "media kept flowing after malformed frames"
        );

        ws.send(Message::text(
            json!({"event": "stop", "sequenceNumber": seq.to_string(), "streamSid": SID,
                                       "stop": {"accountSid": "AC1", "callSid": "CA1"}})
            .to_string(),
        ))
        .await
        .unwrap();
        // The server closes the socket after `stop`.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("server closes")
            {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }

        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["direction"], "websocket", "{r}");
        assert_eq!(r["disconnected_by"], "customer", "{r}");
        assert_eq!(r["bot_id"], "wsbot");
        assert_eq!(r["caller_id"], "+15551230000");
        let vars = &r["variables"];
        assert_eq!(vars["crmId"], "crm-42", "{vars}");
        assert_eq!(vars["customerName"], "Ada", "{vars}");
        assert_eq!(vars["campaign"], "spring", "the call's own variables win: {vars}");
        assert_eq!(vars["tier"], "gold", "bot variables are kept: {vars}");
        assert_eq!(vars["callSid"], "CA1", "{vars}");
        let dtmf = events_of(r, "dtmf");
        assert!(dtmf.iter().any(|d| d.starts_with('5')), "{r}");
        assert!(!events_of(r, "bot_turn_started").is_empty(), "{r}");
        assert!(
            events_of(r, "bot_turn_ended").contains(&"opening message played"),
            "the echoed mark is recorded: {r}"
        );
        assert!(
            events_of(r, "other")
                .iter()
                .any(|d| d.starts_with("3 malformed messages dropped")),
            "{r}"
        );
        assert!(r["call_duration_seconds"].as_u64().unwrap() >= 3, "{r}");
        let key = r["recording_key"].as_str().expect("recording_key");
        let wav = dp.dir.join("recordings").join(format!("{key}.wav"));
        // Stereo 16 kHz: the caller (our tone) left, the bot (the greeting) right, as long as the call.
        let end = Instant::now() + Duration::from_secs(5);
        let (caller, bot) = loop {
            let read = hound::WavReader::open(&wav).ok().and_then(|r| {
                let spec = r.spec();
                assert_eq!((spec.channels, spec.sample_rate), (2, 16_000), "{spec:?}");
                let s: Vec<i16> = r.into_samples::<i16>().collect::<Result<_, _>>().ok()?;
                (s.len() >= 2 * 3 * 16_000).then_some(s)
            });
            if let Some(s) = read {
                let loud = |ch: usize| s.iter().skip(ch).step_by(2).filter(|x| x.unsigned_abs() > 500).count();
                break (loud(0), loud(1));
            }
            assert!(
                Instant::now() < end,
                "no finalized recording of >= 3 s at {}",
                wav.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            caller > 16_000,
            "caller channel carries the tone: {caller} loud samples"
        );
        assert!(bot > 16_000, "bot channel carries the greeting: {bot} loud samples");
    })
    .await
    .expect("test finishes within 30 s");
}

#[tokio::test(flavor = "current_thread")]
async fn refusals_before_the_upgrade() {
    let dp = Dp::start("refuse", BOTS, &[]);
    tokio::time::timeout(Duration::from_secs(30), async {
        assert_eq!(connect(&dp.url("/ws/wsbot"), None).await.err(), Some(401));
        assert_eq!(connect(&dp.url("/ws/wsbot?token=wrong"), None).await.err(), Some(401));
        assert_eq!(connect(&dp.url("/ws/wsbot"), Some("wrong")).await.err(), Some(401));
        assert_eq!(
            connect(&dp.url(&format!("/ws/nobody?token={SECRET}")), None)
                .await
                .err(),
            Some(404)
        );
        assert_eq!(connect(&dp.url("/ws/nobody"), Some(SECRET)).await.err(), Some(404));
        assert_eq!(
            connect(&dp.url(&format!("/ws/off?token={SECRET}")), None).await.err(),
            Some(403)
        );
        // The bearer header works as well as the query token.
        let mut ws = connect(&dp.url("/ws/wsbot"), Some(SECRET))
            .await
            .expect("upgrade with bearer");
        ws.close(None).await.unwrap();

        let recs = dp.wait_records(2, Duration::from_secs(10));
        assert_eq!(recs.len(), 2, "{recs:?}");
        let off = recs
            .iter()
            .find(|r| r["bot_id"] == "off")
            .expect("record of the refused call");
        assert_eq!(off["disconnected_by"], "rejected");
        assert_eq!(off["direction"], "websocket");
        let closed = recs
            .iter()
            .find(|r| r["bot_id"] == "wsbot")
            .expect("record of the closed call");
        assert_eq!(closed["disconnected_by"], "customer");
        assert_eq!(closed["call_duration_seconds"], 0, "never started");
    })
    .await
    .expect("test finishes within 30 s");
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_frames_do_not_end_the_call() {
    let dp = Dp::start("garbage", BOTS, &[]);
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut ws = connect(&dp.url(&format!("/ws/wsbot?token={SECRET}")), None)
            .await
            .expect("upgrade");
        ws.send(Message::text(connected_msg())).await.unwrap();
        ws.send(Message::text(start_msg())).await.unwrap();
        for bad in [
            "",
            "{",
            "[1,2,3]",
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"//8="}}"#,
            r#"{"event":"media","streamSid":"MZ00000000000000000000000000000001","media":{"payload":"***"}}"#,
            r#"{"event":"dtmf","dtmf":{"digit":"55"}}"#,
            r#"{"event":"start","start":{"streamSid":"again"}}"#,
        ] {
            ws.send(Message::text(bad)).await.unwrap();
        }
        ws.send(Message::binary(vec![0u8; 32])).await.unwrap();
        ws.send(Message::text(media_msg(2, 0))).await.unwrap();
        let dtmf = json!({"event": "dtmf", "streamSid": SID, "dtmf": {"track": "inbound_track", "digit": "#"}});
        ws.send(Message::text(dtmf.to_string())).await.unwrap();
        // The call is still up: bot audio keeps coming.
        let mut media = 0;
        while media < 10 {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("bot audio")
            {
                Some(Ok(Message::Text(t))) if t.as_str().contains(r#""event":"media""#) => media += 1,
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("stream ended: {other:?}"),
            }
        }
        ws.close(None).await.unwrap();
        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["disconnected_by"], "customer", "{r}");
        assert!(events_of(r, "dtmf").iter().any(|d| d.starts_with('#')), "{r}");
        assert!(events_of(r, "hangup").contains(&"websocket closed"), "{r}");
        assert!(
            events_of(r, "other")
                .iter()
                .any(|d| d.starts_with("8 malformed messages dropped")),
            "{r}"
        );
    })
    .await
    .expect("test finishes within 30 s");
}

#[tokio::test(flavor = "current_thread")]
async fn a_silent_peer_times_out() {
    let dp = Dp::start("idle", BOTS, &[]);
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut ws = connect(&dp.url(&format!("/ws/wsbot?token={SECRET}")), None)
            .await
            .expect("upgrade");
        ws.send(Message::text(connected_msg())).await.unwrap();
        ws.send(Message::text(start_msg())).await.unwrap();
        let t0 = Instant::now();
        // Read (and drop) the greeting until the server gives up on us and closes.
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
        assert!(
            t0.elapsed() >= Duration::from_secs(9),
            "closed after {:?}",
            t0.elapsed()
        );
        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0]["disconnected_by"], "timeout", "{}", recs[0]);
        assert!(!events_of(&recs[0], "media_timeout").is_empty(), "{}", recs[0]);
    })
    .await
    .expect("test finishes within 30 s");
}

#[tokio::test(flavor = "current_thread")]
async fn a_dataplane_stop_records_the_call_as_error() {
    let mut dp = Dp::start("stop", BOTS, &[]);
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut ws = connect(&dp.url(&format!("/ws/wsbot?token={SECRET}")), None)
            .await
            .expect("upgrade");
        ws.send(Message::text(connected_msg())).await.unwrap();
        ws.send(Message::text(start_msg())).await.unwrap();
        let mut media = 0;
        while media < 5 {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("bot audio")
            {
                Some(Ok(Message::Text(t))) if t.as_str().contains(r#""event":"media""#) => media += 1,
                Some(Ok(_)) => {}
                other => panic!("stream ended: {other:?}"),
            }
        }
        dp.stop();
        let recs = dp.records();
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["disconnected_by"], "error", "{r}");
        assert_eq!(r["direction"], "websocket", "{r}");
        assert_eq!(r["variables"]["customerName"], "Ada", "{r}");
        let errors = r["service_errors"].as_array().expect("service_errors");
        assert!(errors.iter().any(|e| e["fatal"] == true), "{r}");
    })
    .await
    .expect("test finishes within 30 s");
}
