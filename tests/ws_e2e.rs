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
                let name = v["mark"]["name"].as_str().expect("mark.name");
                if !self.mark {
                    assert_eq!(name, "greeting", "the first mark follows the opening message");
                    self.mark = true;
                    self.audible_before_mark = self.audible;
                    self.mark_after_media = self.media > 0;
                }
                Some(
                    json!({"event": "mark", "sequenceNumber": "9999", "streamSid": SID,
                            "mark": {"name": name}})
                    .to_string(),
                )
            }
            // The agent answered the caller's tone and the caller talked over it.
            Some("clear") => None,
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
        // 3 s of caller audio, a DTMF key once the greeting has played (a key barges in on the
        // bot) and three malformed frames; then wait for the greeting mark.
        let mut dtmf_sent = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        while i < 150 || !seen.mark || !dtmf_sent {
            assert!(
                Instant::now() < deadline,
                "greeting mark never came ({} media)",
                seen.media
            );
            tokio::select! {
                _ = tick.tick(), if i < 150 || (seen.mark && !dtmf_sent) => {
                    ws.send(Message::text(media_msg(seq, i))).await.unwrap();
                    i += 1;
                    seq += 1;
                    if seen.mark && !dtmf_sent {
                        dtmf_sent = true;
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
        // A tone is no speech: the caller never spoke (the agent's rule, as on SIP calls).
        assert_eq!(r["disconnected_by"], "RNR", "{r}");
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
        assert!(!events_of(r, "bot_turn_ended").is_empty(), "{r}");
        assert!(
            events_of(r, "other").contains(&"mark \"greeting\" played"),
            "the echoed mark is recorded: {r}"
        );
        let opening = &r["transcript"][0];
        assert_eq!(opening["role"], "bot", "the agent said the opening: {r}");
        assert!(
            opening["text"]
                .as_str()
                .unwrap_or("")
                .starts_with("Hello, this is the cxb web socket test bot"),
            "{r}"
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

// ----- the voice agent on WebSocket calls (`--providers sim`) -----------------------------

const AGENT_BOTS: &str = r#"{
  "bots": [
    {"id": "agentbot", "name": "Agent", "opening_message": "Hello, you are talking to the agent bot.",
     "behavior": {"min_words_to_interrupt": 1},
     "transfer_targets": [{"name": "sales", "destination": "+15550001111", "description": "pricing"}]}
  ]
}"#;

/// 8 kHz speech for `text`: espeak-ng at 16 kHz (as `cxb load` speaks), pairs averaged.
fn speech_8k(text: &str) -> Vec<i16> {
    let out = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "165", "--stdout", "--", text])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .expect("espeak-ng runs");
    assert!(out.status.success(), "espeak-ng failed");
    let pcm16k = cxb_dataplane::engine::voice::decode_wav_16k(&out.stdout).expect("espeak-ng WAV");
    pcm16k
        .chunks(2)
        .map(|p| ((i32::from(p[0]) + i32::from(*p.get(1).unwrap_or(&p[0]))) / 2) as i16)
        .collect()
}

/// A Twilio-style peer: streams caller audio in real time (silence when it has nothing to say),
/// echoes every mark and logs what the server sends.
struct Peer {
    ws: Ws,
    seq: usize,
    chunk: usize,
    script: std::collections::VecDeque<i16>,
    tick: tokio::time::Interval,
    /// Audible bot media frames so far.
    audible: usize,
    /// Names of the marks received, in order.
    marks: Vec<String>,
    /// `clear` messages received.
    clears: usize,
    /// `transfer` messages received.
    transfers: Vec<Value>,
    closed: bool,
    /// The dataplane's spool (records, for failure messages).
    spool: std::path::PathBuf,
}

impl Peer {
    async fn start(dp: &Dp, bot: &str) -> Peer {
        let mut ws = connect(&dp.url(&format!("/ws/{bot}?token={SECRET}")), None)
            .await
            .expect("upgrade");
        ws.send(Message::text(connected_msg())).await.unwrap();
        ws.send(Message::text(start_msg())).await.unwrap();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Peer {
            ws,
            seq: 2,
            chunk: 0,
            script: Default::default(),
            tick,
            audible: 0,
            marks: Vec::new(),
            clears: 0,
            transfers: Vec::new(),
            closed: false,
            spool: dp.dir.join("spool").join("records"),
        }
    }

    /// The call records written so far (for failure messages).
    fn records(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.spool) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|f| std::fs::read_to_string(f.path()).ok())
            .collect()
    }

    /// Queues an utterance (then 400 ms of silence).
    fn say(&mut self, text: &str) {
        self.script.extend(speech_8k(text));
        self.script.extend(std::iter::repeat_n(0i16, 3200));
    }

    async fn send(&mut self, v: Value) {
        if let Err(e) = self.ws.send(Message::text(v.to_string())).await {
            std::thread::sleep(Duration::from_millis(500));
            panic!("send failed: {e}; records {:?}", self.records());
        }
        self.seq += 1;
    }

    async fn send_frame(&mut self) {
        let codes: Vec<u8> = (0..160)
            .map(|_| cxb_dsp::g711::ulaw_encode(self.script.pop_front().unwrap_or(0)))
            .collect();
        let msg = json!({"event": "media", "sequenceNumber": self.seq.to_string(), "streamSid": SID,
                         "media": {"track": "inbound", "chunk": self.chunk.to_string(),
                                   "timestamp": (self.chunk * 20).to_string(), "payload": B64.encode(codes)}});
        self.chunk += 1;
        self.send(msg).await;
    }

    async fn on_server(&mut self, text: &str) {
        let v: Value = serde_json::from_str(text).expect("server sends JSON");
        assert_eq!(v["streamSid"], SID, "{text}");
        match v["event"].as_str() {
            Some("media") => {
                if audible(&v) {
                    self.audible += 1;
                }
            }
            Some("mark") => {
                let name = v["mark"]["name"].as_str().expect("mark.name").to_owned();
                let echo = json!({"event": "mark", "sequenceNumber": self.seq.to_string(), "streamSid": SID,
                                  "mark": {"name": name}});
                self.marks.push(name);
                self.send(echo).await;
            }
            Some("clear") => self.clears += 1,
            Some("transfer") => self.transfers.push(v),
            other => panic!("unexpected server message {other:?}: {text}"),
        }
    }

    /// Streams until `done` holds (or the server closes the socket, when `done` must hold then).
    async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&Peer) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(
                !self.closed && Instant::now() < deadline,
                "{what}: not reached (closed {}, audible {}, marks {:?}, clears {}, transfers {}); records {:?}",
                self.closed,
                self.audible,
                self.marks,
                self.clears,
                self.transfers.len(),
                if self.closed {
                    std::thread::sleep(Duration::from_secs(1));
                    self.records()
                } else {
                    Vec::new()
                }
            );
            tokio::select! {
                _ = self.tick.tick() => self.send_frame().await,
                msg = self.ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.on_server(t.as_str()).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => self.closed = true,
                },
            }
        }
    }

    /// Lets the bot finish what it is saying: a new mark after at least `frames` more audible frames.
    async fn hear_bot(&mut self, what: &str, frames: usize) {
        let (audible, marks) = (self.audible, self.marks.len());
        self.until(what, Duration::from_secs(30), |p| {
            p.audible >= audible + frames && p.marks.len() > marks && p.script.is_empty()
        })
        .await;
    }

    /// The next `transfer` message, while streaming.
    async fn transfer(&mut self) -> Value {
        let n = self.transfers.len();
        self.until("transfer", Duration::from_secs(30), |p| p.transfers.len() > n)
            .await;
        self.transfers[n].clone()
    }
}

fn transcript_lines(r: &Value, role: &str) -> Vec<String> {
    r["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter(|l| l["role"] == role)
        .map(|l| l["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn ws_call_converses_and_reverse_transfer_ok() {
    use cxb_dataplane::agent::sim::{SIM_REPLY, SIM_TRANSCRIPT, SIM_TRANSFER_LINE, SIM_TRANSFER_TRANSCRIPT};
    let dp = Dp::start("wsagent-ok", AGENT_BOTS, &["--providers", "sim"]);
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut p = Peer::start(&dp, "agentbot").await;
        p.until("greeting mark", Duration::from_secs(20), |p| {
            p.marks.first().is_some_and(|m| m == "greeting")
        })
        .await;
        assert!(p.audible >= 25, "the opening is audible: {} frames", p.audible);

        p.say("Hello there");
        p.hear_bot("the bot's answer", 50).await;

        // A long utterance is the sim's "can I talk to an agent please".
        p.say("Yes I would really like to talk to somebody about my account and my last bill");
        let t = p.transfer().await;
        assert_eq!(
            t["transfer"],
            json!({"target": "sales", "destination": "+15550001111", "reason": "the caller asked for an agent"}),
            "{t}"
        );
        p.send(json!({"event": "transfer_result", "streamSid": SID, "status": "ok"}))
            .await;
        p.until("the server closes", Duration::from_secs(10), |p| p.closed)
            .await;

        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["direction"], "websocket", "{r}");
        assert_eq!(r["disconnected_by"], "transfer_to_agent", "{r}");
        assert_eq!(r["was_transferred"], true, "{r}");
        assert_eq!(r["transfer_method"], "websocket_reverse_transfer", "{r}");
        assert_eq!(r["transfer_target"], "sales", "{r}");
        assert_eq!(r["transfer_destination"], "+15550001111", "{r}");
        assert_eq!(r["transfer_reason"], "the caller asked for an agent", "{r}");
        assert!(r["transfer_at"].is_string(), "{r}");
        assert!(r["transfer_failed_reason"].is_null(), "{r}");
        let caller = transcript_lines(r, "caller");
        assert_eq!(caller, [SIM_TRANSCRIPT, SIM_TRANSFER_TRANSCRIPT], "{r}");
        let bot = transcript_lines(r, "bot");
        assert!(bot[0].starts_with("Hello, you are talking to the agent bot"), "{r}");
        assert!(
            bot.iter().any(|l| l.contains(SIM_REPLY[1].trim())),
            "the bot answered: {r}"
        );
        assert!(bot.iter().any(|l| l.contains(SIM_TRANSFER_LINE)), "{r}");
        assert!(
            !r["turn_latencies"].as_array().expect("turn_latencies").is_empty(),
            "{r}"
        );
        assert_eq!(events_of(r, "transfer_started"), ["sales"], "{r}");
        assert_eq!(events_of(r, "transfer_completed").len(), 1, "{r}");
    })
    .await
    .expect("test finishes within 60 s");
}

#[tokio::test(flavor = "current_thread")]
async fn ws_reverse_transfer_failed_keeps_the_caller_and_barge_in_clears() {
    use cxb_dataplane::agent::conversation::TRANSFER_FAILED_LINE;
    use cxb_dataplane::agent::sim::SIM_REPLY;
    let dp = Dp::start("wsagent-failed", AGENT_BOTS, &["--providers", "sim"]);
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut p = Peer::start(&dp, "agentbot").await;
        p.until("greeting mark", Duration::from_secs(20), |p| !p.marks.is_empty())
            .await;
        p.say("Yes I would really like to talk to somebody about my account and my last bill");
        p.transfer().await;
        // Malformed and well-formed answers: the first is ignored, the second fails the transfer.
        p.send(json!({"event": "transfer_result", "streamSid": SID, "status": "perhaps"}))
            .await;
        p.send(
            json!({"event": "transfer_result", "streamSid": SID, "status": "failed", "reason": "no agents available"}),
        )
        .await;
        p.hear_bot("the failed-transfer line", 25).await;

        // The call goes on: the caller speaks, the bot answers; the caller talks over the answer.
        p.say("Hello there");
        let audible = p.audible;
        // Any caller speech interrupts this bot (min_words_to_interrupt 1), so the barge-in does
        // not wait for a transcript and lands while the answer still plays, however busy the machine.
        p.until("the bot's answer starts", Duration::from_secs(20), |p| {
            p.audible >= audible + 40 && p.script.is_empty()
        })
        .await;
        p.say("Hello there");
        p.until("clear", Duration::from_secs(20), |p| p.clears > 0).await;

        p.send(json!({"event": "stop", "streamSid": SID})).await;
        p.until("the server closes", Duration::from_secs(10), |p| p.closed)
            .await;
        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["disconnected_by"], "customer", "{r}");
        assert_eq!(r["was_transferred"], false, "{r}");
        assert_eq!(r["transfer_failed_reason"], "no agents available", "{r}");
        assert_eq!(r["transfer_method"], "websocket_reverse_transfer", "{r}");
        let bot = transcript_lines(r, "bot");
        assert!(bot.iter().any(|l| l.contains(TRANSFER_FAILED_LINE)), "{r}");
        // The answer was cut where the caller barged in.
        assert!(
            bot.iter()
                .any(|l| l.len() >= 10 && SIM_REPLY[0].starts_with(l.as_str())),
            "the bot answered after the failed transfer: {r}"
        );
        assert_eq!(events_of(r, "transfer_failed"), ["no agents available"], "{r}");
        assert!(!events_of(r, "barge_in").is_empty(), "{r}");
        assert!(
            events_of(r, "other")
                .iter()
                .any(|d| d.starts_with("transfer_result ignored")),
            "{r}"
        );
    })
    .await
    .expect("test finishes within 60 s");
}

#[tokio::test(flavor = "current_thread")]
async fn ws_transfer_without_answer_fails_and_a_close_after_transfer_succeeds() {
    let dp = Dp::start("wsagent-close", AGENT_BOTS, &["--providers", "sim"]);
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut p = Peer::start(&dp, "agentbot").await;
        p.until("greeting mark", Duration::from_secs(20), |p| !p.marks.is_empty())
            .await;
        // No answer to the first transfer: it fails after 10 s and the bot says so.
        p.say("Yes I would really like to talk to somebody about my account and my last bill");
        p.transfer().await;
        let asked = Instant::now();
        p.hear_bot("the failed-transfer line", 25).await;
        assert!(
            asked.elapsed() >= Duration::from_secs(9),
            "failed after {:?}",
            asked.elapsed()
        );
        // The second time the peer takes the caller by closing the stream.
        p.say("Yes I would really like to talk to somebody about my account and my last bill");
        p.transfer().await;
        p.ws.close(None).await.unwrap();

        let recs = dp.wait_records(1, Duration::from_secs(10));
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert_eq!(r["disconnected_by"], "transfer_to_agent", "{r}");
        assert_eq!(r["was_transferred"], true, "{r}");
        assert_eq!(r["transfer_method"], "websocket_reverse_transfer", "{r}");
        assert_eq!(r["transfer_failed_reason"], "no transfer_result within 10 s", "{r}");
        assert_eq!(events_of(r, "transfer_started").len(), 2, "{r}");
        assert_eq!(
            events_of(r, "transfer_failed"),
            ["no transfer_result within 10 s"],
            "{r}"
        );
        assert_eq!(events_of(r, "transfer_completed").len(), 1, "{r}");
    })
    .await
    .expect("test finishes within 60 s");
}
