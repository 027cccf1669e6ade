//! Fake provider servers for tests: real HTTP servers on `127.0.0.1:0` (HTTP/1.1 and h2c, so the
//! clients really speak HTTP/2) that speak each provider's documented wire format — OpenAI chat
//! completions / speech / transcriptions, Anthropic Messages, ElevenLabs streaming, Deepgram's
//! WebSocket — plus a generic webhook (tools, CRM pre-fetch).
//!
//! Each server runs on its own thread and runtime, so any test (sync, current-thread, uring) can
//! drive it. It follows a script of [`Reply`]s, one per request (per connection for Deepgram),
//! repeating the last; it records every request and counts accepted TCP connections.
//!
//! ```ignore
//! let fake = FakeServer::openai(vec![Reply::text(["Hello", " there."]), Reply::Status(500)]);
//! let llm = OpenAiLlm::new(pool, &fake.endpoint(ProviderKind::Openai), &stage);
//! ```

mod deepgram;
mod http;

pub use http::synth;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::serve::ListenerExt;
use bytes::Bytes;
use cxb_model::{ProviderEndpoint, ProviderKind};
use serde_json::Value;

/// The API key the fakes expect (any value is accepted; tests assert it was sent).
pub const FAKE_KEY: &str = "sk-fake-test-key-123";

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// LLM: streamed text chunks. TTS: audio derived from the text. STT: the transcript
    /// (Deepgram: one utterance per chunk). Webhook: the text as the body.
    Text(Vec<String>),
    /// LLM: a tool call (arguments as JSON text, streamed in two pieces).
    ToolCall {
        /// Function name.
        name: String,
        /// Arguments, JSON text.
        args: String,
    },
    /// TTS: exactly this audio.
    Audio(Vec<i16>),
    /// Webhook: this JSON body with 200.
    Json(Value),
    /// An error status with a JSON error body (Deepgram: the handshake is refused).
    Status(u16),
    /// 429 with `Retry-After`.
    RateLimit {
        /// Seconds in the Retry-After header.
        retry_after_secs: u32,
    },
    /// Wait this long before the response headers, then answer with `then`.
    Slow {
        /// Delay, ms.
        delay_ms: u64,
        /// The answer after the delay.
        then: Box<Reply>,
    },
    /// Send the start of a successful answer, then nothing, forever.
    Stall,
    /// Send the start of a successful answer, then break the stream.
    Disconnect,
    /// Send a payload that is not valid JSON.
    Malformed,
}

impl Reply {
    /// Text chunks.
    pub fn text<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Reply {
        Reply::Text(chunks.into_iter().map(Into::into).collect())
    }

    /// A tool call.
    pub fn tool(name: &str, args: &str) -> Reply {
        Reply::ToolCall {
            name: name.to_owned(),
            args: args.to_owned(),
        }
    }

    /// `then`, after a delay before the first byte.
    pub fn slow(delay_ms: u64, then: Reply) -> Reply {
        Reply::Slow {
            delay_ms,
            then: Box::new(then),
        }
    }
}

/// Token counts the LLM fakes report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeUsage {
    /// Prompt tokens not from the cache.
    pub prompt: u32,
    /// Completion tokens.
    pub completion: u32,
    /// Prompt tokens read from the cache.
    pub cache_read: u32,
    /// Prompt tokens written to the cache (Anthropic).
    pub cache_creation: u32,
}

impl Default for FakeUsage {
    fn default() -> Self {
        FakeUsage {
            prompt: 12,
            completion: 5,
            cache_read: 0,
            cache_creation: 0,
        }
    }
}

/// A fake's script: replies consumed one per request (the last repeats) and LLM usage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    /// Replies in order.
    pub replies: Vec<Reply>,
    /// Usage reported by LLM replies.
    pub usage: FakeUsage,
}

impl Script {
    /// A script of replies with default usage.
    pub fn new(replies: Vec<Reply>) -> Script {
        Script {
            replies,
            usage: FakeUsage::default(),
        }
    }

    /// Sets the usage.
    pub fn with_usage(mut self, usage: FakeUsage) -> Script {
        self.usage = usage;
        self
    }
}

impl From<Vec<Reply>> for Script {
    fn from(replies: Vec<Reply>) -> Script {
        Script::new(replies)
    }
}

impl From<Reply> for Script {
    fn from(reply: Reply) -> Script {
        Script::new(vec![reply])
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Method (`POST`).
    pub method: String,
    /// Path (`/v1/chat/completions`).
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// HTTP version (`HTTP/2.0`, `HTTP/1.1`).
    pub version: String,
    /// Headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Default)]
struct State {
    script: Script,
    next: usize,
    requests: Vec<RecordedRequest>,
    ws_text: Vec<String>,
    ws_audio_bytes: usize,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    connections: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next scripted reply (the last one repeats; an empty script answers `Text(["ok"])`).
    fn next_reply(&self) -> (Reply, FakeUsage) {
        let mut s = self.lock();
        let usage = s.script.usage;
        if s.script.replies.is_empty() {
            return (Reply::text(["ok"]), usage);
        }
        let i = s.next.min(s.script.replies.len() - 1);
        s.next += 1;
        (s.script.replies[i].clone(), usage)
    }
}

/// A running fake server; stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    /// Base URL to configure the client with (`http://127.0.0.1:PORT`, plus `/v1` for OpenAI).
    pub base_url: String,
    /// `http://127.0.0.1:PORT`.
    pub root_url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeServer {
    /// An OpenAI-compatible server (chat completions, audio speech, audio transcriptions);
    /// `base_url` ends in `/v1`.
    pub fn openai(script: impl Into<Script>) -> FakeServer {
        FakeServer::start(script.into(), "/v1")
    }

    /// An Anthropic Messages server.
    pub fn anthropic(script: impl Into<Script>) -> FakeServer {
        FakeServer::start(script.into(), "")
    }

    /// A Deepgram streaming server.
    pub fn deepgram(script: impl Into<Script>) -> FakeServer {
        FakeServer::start(script.into(), "")
    }

    /// An ElevenLabs streaming server.
    pub fn elevenlabs(script: impl Into<Script>) -> FakeServer {
        FakeServer::start(script.into(), "")
    }

    /// A webhook server answering any other path (tools, CRM pre-fetch).
    pub fn webhook(script: impl Into<Script>) -> FakeServer {
        FakeServer::start(script.into(), "")
    }

    /// The server answers every provider's paths; `suffix` only shapes `base_url`.
    fn start(script: Script, suffix: &str) -> FakeServer {
        let shared = Arc::new(Shared::default());
        shared.lock().script = script;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("fake: bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).expect("fake: nonblocking");
        let addr = std_listener.local_addr().expect("fake: local addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        std::thread::Builder::new()
            .name(format!("fake-provider-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake: runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(std_listener).expect("fake: listener");
                    let counter = sh.clone();
                    let listener = listener.tap_io(move |_io| {
                        counter.connections.fetch_add(1, Ordering::SeqCst);
                    });
                    let app = Router::new()
                        .route("/v1/listen", axum::routing::get(deepgram::listen))
                        .fallback(http::handle)
                        .with_state(sh);
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                rt.shutdown_background();
            })
            .expect("fake: thread");
        let root_url = format!("http://{addr}");
        FakeServer {
            base_url: format!("{root_url}{suffix}"),
            root_url,
            shared,
            stop: Some(stop_tx),
        }
    }

    /// A provider endpoint pointing at this server, with [`FAKE_KEY`].
    pub fn endpoint(&self, kind: ProviderKind) -> ProviderEndpoint {
        ProviderEndpoint {
            kind,
            base_url: self.base_url.clone(),
            api_key: Some(FAKE_KEY.to_owned()),
        }
    }

    /// A URL on this server (`/tools/lookup` → `http://127.0.0.1:PORT/tools/lookup`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root_url)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Text messages received on Deepgram WebSockets (`KeepAlive`, `CloseStream`, …).
    pub fn ws_messages(&self) -> Vec<String> {
        self.shared.lock().ws_text.clone()
    }

    /// Audio bytes received on Deepgram WebSockets.
    pub fn ws_audio_bytes(&self) -> usize {
        self.shared.lock().ws_audio_bytes
    }

    /// Replaces the script (and restarts it).
    pub fn set_script(&self, script: impl Into<Script>) {
        let mut s = self.shared.lock();
        s.script = script.into();
        s.next = 0;
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
