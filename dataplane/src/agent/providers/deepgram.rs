//! Deepgram streaming speech to text over a WebSocket (`/v1/listen`): binary linear16 audio up,
//! `Results` messages (interim and final, `speech_final` at end of turn) down.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

use super::pool::{self, HttpPool};
use crate::agent::api::{
    EventRx, EventTx, ProviderError, ProviderErrorKind, Stt, SttEvent, SttParams, SttStream, event_channel,
};
use cxb_model::{ProviderEndpoint, StageConfig};

/// Model used when neither the stream nor the stage names one.
pub const DEFAULT_MODEL: &str = "nova-2";
/// Endpointing (ms of silence Deepgram waits before `speech_final`).
pub const ENDPOINTING_MS: u32 = 300;
/// Audio is sent in frames of at least this many bytes (20 ms at 16 kHz).
const FRAME_BYTES: usize = 640;
/// A KeepAlive is sent after this long without audio (Deepgram closes idle streams after 10 s).
const KEEPALIVE: Duration = Duration::from_secs(4);
/// Most keywords put in the URL.
const MAX_KEYWORDS: usize = 50;

/// Deepgram streaming STT.
#[derive(Debug, Clone)]
pub struct DeepgramStt {
    base: String,
    api_key: Option<String>,
    model: String,
    language: String,
    connect_timeout: Duration,
}

impl DeepgramStt {
    /// A client for `endpoint`; the stage's model and language are the defaults.
    pub fn new(pool: HttpPool, endpoint: &ProviderEndpoint, stage: &StageConfig) -> DeepgramStt {
        let base = pool::base_url(endpoint, stage);
        let base = base.trim_end_matches('/');
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_owned()
        };
        DeepgramStt {
            base: ws,
            api_key: pool::api_key(endpoint),
            model: stage.model.clone(),
            language: stage.language.clone(),
            connect_timeout: pool.config().connect_timeout,
        }
    }

    /// The listen URL for a stream.
    pub fn listen_url(&self, p: &SttParams) -> String {
        let model = [p.model.as_str(), self.model.as_str(), DEFAULT_MODEL]
            .into_iter()
            .find(|m| !m.is_empty());
        let model = model.unwrap_or(DEFAULT_MODEL);
        let rate = if p.sample_rate == 0 { 16_000 } else { p.sample_rate };
        let mut url = format!(
            "{}/v1/listen?encoding=linear16&sample_rate={rate}&channels=1&interim_results=true\
             &endpointing={ENDPOINTING_MS}&model={}",
            self.base,
            pool::encode_query(model)
        );
        let lang = if p.language.is_empty() {
            &self.language
        } else {
            &p.language
        };
        if !lang.is_empty() {
            url.push_str("&language=");
            url.push_str(&pool::encode_query(lang));
        }
        // nova-3 takes key terms; older models take boosted keywords.
        let param = if model.starts_with("nova-3") {
            "keyterm"
        } else {
            "keywords"
        };
        for k in p.keywords.iter().filter(|k| !k.trim().is_empty()).take(MAX_KEYWORDS) {
            url.push_str(&format!("&{param}={}", pool::encode_query(k.trim())));
        }
        url
    }
}

enum Cmd {
    Audio(Bytes),
    Close,
}

/// The audio side of a Deepgram stream.
#[derive(Debug)]
struct DeepgramStream {
    cmd: mpsc::UnboundedSender<Cmd>,
    buf: BytesMut,
    closed: bool,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Audio(b) => write!(f, "Audio({} bytes)", b.len()),
            Cmd::Close => f.write_str("Close"),
        }
    }
}

impl SttStream for DeepgramStream {
    fn push(&mut self, pcm: &[i16]) {
        if self.closed {
            return;
        }
        for s in pcm {
            self.buf.extend_from_slice(&s.to_le_bytes());
        }
        if self.buf.len() >= FRAME_BYTES {
            let _ = self.cmd.send(Cmd::Audio(self.buf.split().freeze()));
        }
    }

    fn speech_started(&mut self) {}

    fn speech_ended(&mut self) {}

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        if !self.buf.is_empty() {
            let _ = self.cmd.send(Cmd::Audio(self.buf.split().freeze()));
        }
        let _ = self.cmd.send(Cmd::Close);
    }
}

impl Stt for DeepgramStt {
    fn open(&self, params: &SttParams) -> (Box<dyn SttStream>, EventRx<SttEvent>) {
        let (tx, rx) = event_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let url = self.listen_url(params);
        let this = self.clone();
        tokio::task::spawn_local(async move {
            let res = tokio::select! {
                r = this.run(url, cmd_rx, &tx) => r,
                _ = tx.closed() => return,
            };
            if let Err(e) = res {
                let _ = tx.send(Err(e));
            }
        });
        let stream = DeepgramStream {
            cmd: cmd_tx,
            buf: BytesMut::with_capacity(FRAME_BYTES * 4),
            closed: false,
        };
        (Box::new(stream), rx)
    }
}

impl DeepgramStt {
    async fn run(
        &self,
        url: String,
        mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
        tx: &EventTx<SttEvent>,
    ) -> Result<(), ProviderError> {
        let mut req = url.into_client_request().map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::NotConfigured,
                "connect",
                "Deepgram base URL is not a ws(s) URL",
            )
        })?;
        if let Some(k) = &self.api_key {
            let v = HeaderValue::from_str(&format!("Token {k}")).map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::NotConfigured,
                    "connect",
                    "API key is not a valid header value",
                )
            })?;
            req.headers_mut().insert("authorization", v);
        }
        let connect = tokio_tungstenite::connect_async_with_config(req, None, true);
        let (ws, _) = match tokio::time::timeout(self.connect_timeout, connect).await {
            Err(_) => {
                return Err(ProviderError::new(
                    ProviderErrorKind::Timeout,
                    "connect",
                    "WebSocket connect timeout",
                ));
            }
            Ok(Err(e)) => return Err(handshake_error(e, self.api_key.as_deref())),
            Ok(Ok(x)) => x,
        };
        let (mut sink, mut stream) = ws.split();
        let mut closing = false;
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.reset();
        let mut decoder = DeepgramDecoder::new();
        loop {
            tokio::select! {
                cmd = cmd_rx.recv(), if !closing => {
                    let msg = match cmd {
                        Some(Cmd::Audio(b)) => {
                            keepalive.reset();
                            Message::Binary(b)
                        }
                        Some(Cmd::Close) | None => {
                            closing = true;
                            Message::text(r#"{"type":"CloseStream"}"#)
                        }
                    };
                    if sink.send(msg).await.is_err() {
                        return Err(ProviderError::new(ProviderErrorKind::Disconnected, "stream", "WebSocket closed"));
                    }
                }
                _ = keepalive.tick(), if !closing => {
                    let _ = sink.send(Message::text(r#"{"type":"KeepAlive"}"#)).await;
                }
                msg = stream.next() => {
                    match msg {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(ev) = decoder.on_text(t.as_str())?
                                && tx.send(Ok(ev)).is_err()
                            {
                                return Ok(());
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            if closing {
                                return Ok(());
                            }
                            let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                            let kind = if code == 1008 { ProviderErrorKind::Protocol } else { ProviderErrorKind::Disconnected };
                            return Err(ProviderError::new(kind, "stream", format!("closed by Deepgram ({code}) {reason}")));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => {
                            if closing {
                                return Ok(());
                            }
                            return Err(ProviderError::new(ProviderErrorKind::Disconnected, "stream", "WebSocket dropped"));
                        }
                    }
                }
            }
        }
    }
}

fn handshake_error(e: tungstenite::Error, secret: Option<&str>) -> ProviderError {
    match e {
        tungstenite::Error::Http(resp) => {
            let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok());
            let body = resp.body().as_deref().unwrap_or(&[]);
            let mut e = pool::status_error(resp.status().as_u16(), retry, body, secret);
            e.stage = "connect";
            e
        }
        tungstenite::Error::Io(io) => ProviderError::new(ProviderErrorKind::Connect, "connect", io.to_string()),
        tungstenite::Error::Tls(t) => ProviderError::new(ProviderErrorKind::Connect, "connect", t.to_string()),
        other => ProviderError::new(ProviderErrorKind::Protocol, "connect", other.to_string()),
    }
}

/// Sans-IO decoder of Deepgram's JSON messages. Never panics on any input.
#[derive(Debug, Default)]
pub struct DeepgramDecoder {}

impl DeepgramDecoder {
    /// A new decoder.
    pub fn new() -> DeepgramDecoder {
        DeepgramDecoder {}
    }

    /// One text message: a transcript event for `Results`, nothing for metadata and other types.
    /// An empty final transcript is still reported when it ends the turn.
    pub fn on_text(&mut self, text: &str) -> Result<Option<SttEvent>, ProviderError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ProviderError::new(ProviderErrorKind::Protocol, "stream", format!("bad message JSON: {e}")))?;
        if v.get("type").and_then(Value::as_str) != Some("Results") {
            return Ok(None);
        }
        let transcript = v
            .pointer("/channel/alternatives/0/transcript")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        let is_final = v.get("is_final").and_then(Value::as_bool).unwrap_or(false);
        let speech_final = v.get("speech_final").and_then(Value::as_bool).unwrap_or(false);
        Ok(if is_final || speech_final {
            if transcript.is_empty() && !speech_final {
                None
            } else {
                Some(SttEvent::Final {
                    text: transcript,
                    end_of_turn: speech_final,
                })
            }
        } else if transcript.is_empty() {
            None
        } else {
            Some(SttEvent::Interim { text: transcript })
        })
    }
}
