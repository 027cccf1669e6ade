//! The per-shard HTTP client pool and the plumbing every networked adapter shares: sending a
//! request under a first-byte deadline, reading a streamed body under a stall deadline, turning
//! HTTP and transport failures into [`ProviderError`]s, and running an operation as a local task
//! that stops when its event receiver is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Client, RequestBuilder, Response, Url};
use tokio::time::Instant;

use crate::agent::api::{EventTx, ProviderError, ProviderErrorKind};

/// Most bytes of an error response body kept for the error message.
const ERROR_BODY_MAX: usize = 2048;
/// Most characters of a provider's error text put into a [`ProviderError`] message.
const ERROR_TEXT_MAX: usize = 300;

/// Settings of an [`HttpPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// TCP + TLS connect deadline.
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this long.
    pub idle_timeout: Duration,
    /// HTTP/2 PING interval that keeps a provider connection warm (and detects dead ones).
    pub keep_alive: Duration,
    /// Speak HTTP/2 with prior knowledge (h2c) to `http://` provider bases. Needed for real
    /// HTTP/2 to loopback servers; turn off for local HTTP/1.1-only servers (Ollama, llama.cpp).
    pub h2c: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(90),
            keep_alive: Duration::from_secs(20),
            h2c: true,
        }
    }
}

/// Deadlines of one provider operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// Longest gap between two body chunks.
    pub stall: Duration,
    /// The whole operation.
    pub total: Duration,
}

impl Timeouts {
    /// Language model defaults: 10 s to first byte, 10 s stall, 120 s total.
    pub const LLM: Timeouts = Timeouts {
        first_byte: Duration::from_secs(10),
        stall: Duration::from_secs(10),
        total: Duration::from_secs(120),
    };
    /// Speech synthesis defaults: 5 s to first byte, 5 s stall, 60 s total.
    pub const TTS: Timeouts = Timeouts {
        first_byte: Duration::from_secs(5),
        stall: Duration::from_secs(5),
        total: Duration::from_secs(60),
    };
    /// Transcription defaults: 10 s to first byte, 10 s stall, 30 s total.
    pub const STT: Timeouts = Timeouts {
        first_byte: Duration::from_secs(10),
        stall: Duration::from_secs(10),
        total: Duration::from_secs(30),
    };

    /// The same deadline for all three (tests).
    pub fn all(d: Duration) -> Timeouts {
        Timeouts {
            first_byte: d,
            stall: d,
            total: d * 4,
        }
    }
}

/// Which kind of client a URL needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Flavor {
    /// A provider: HTTP/2 (h2c prior knowledge on `http://` when configured, ALPN on https).
    Provider,
    /// A customer webhook: HTTP/1.1 on `http://`, ALPN on https.
    Webhook,
}

/// One shard's HTTP clients: one [`reqwest::Client`] (one pooled connection, many HTTP/2
/// streams) per provider host. Cheap to clone (`Rc`); not `Send` — it lives on its shard.
#[derive(Debug, Clone)]
pub struct HttpPool {
    inner: Rc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    config: PoolConfig,
    clients: RefCell<HashMap<(Flavor, String), Client>>,
    /// Plain-http provider hosts: `true` spoke h2c, `false` turned out HTTP/1.1 only.
    h2c_hosts: RefCell<HashMap<String, bool>>,
}

impl Default for HttpPool {
    fn default() -> Self {
        HttpPool::new(PoolConfig::default())
    }
}

impl HttpPool {
    /// A new, empty pool.
    pub fn new(config: PoolConfig) -> HttpPool {
        HttpPool {
            inner: Rc::new(PoolInner {
                config,
                clients: RefCell::new(HashMap::new()),
                h2c_hosts: RefCell::new(HashMap::new()),
            }),
        }
    }

    /// The pool's settings.
    pub fn config(&self) -> PoolConfig {
        self.inner.config
    }

    /// The client for a provider URL (shared by every call of this shard to that host).
    pub fn client(&self, url: &str) -> Result<Client, ProviderError> {
        self.get(Flavor::Provider, url)
    }

    /// The client for a customer webhook URL (HTTP/1.1 or ALPN-negotiated HTTP/2).
    pub fn webhook_client(&self, url: &str) -> Result<Client, ProviderError> {
        self.get(Flavor::Webhook, url)
    }

    /// How many distinct clients (hosts × kinds) the pool holds.
    pub fn len(&self) -> usize {
        self.inner.clients.borrow().len()
    }

    /// Whether the pool holds no client yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a provider request built by `build` (see [`send`]). A plain-http host that has not
    /// spoken h2c yet and fails the request before answering is taken for an HTTP/1.1-only
    /// server (Ollama, llama.cpp, vLLM): the request is sent once more over HTTP/1.1, and that
    /// host stays on HTTP/1.1.
    pub async fn send(
        &self,
        url: &str,
        build: impl Fn(&Client) -> RequestBuilder,
        t: &Timeouts,
        secret: Option<&str>,
    ) -> Result<Response, ProviderError> {
        let client = self.client(url)?;
        let res = send(build(&client), t, secret).await;
        let Some(key) = self.h2c_key(url) else {
            return res;
        };
        let known = self.inner.h2c_hosts.borrow().get(&key).copied();
        match (&res, known) {
            (Ok(_), None) => {
                self.inner.h2c_hosts.borrow_mut().insert(key, true);
            }
            (Err(e), None)
                if e.stage == "connect"
                    && matches!(e.kind, ProviderErrorKind::Disconnected | ProviderErrorKind::Protocol) =>
            {
                self.inner.h2c_hosts.borrow_mut().insert(key, false);
                let client = self.client(url)?;
                return send(build(&client), t, secret).await;
            }
            _ => {}
        }
        res
    }

    /// The host key of a URL that would be spoken to with h2c prior knowledge.
    fn h2c_key(&self, url: &str) -> Option<String> {
        if !self.inner.config.h2c {
            return None;
        }
        let (scheme, key) = host_key(url).ok()?;
        (scheme == "http").then_some(key)
    }

    fn get(&self, flavor: Flavor, url: &str) -> Result<Client, ProviderError> {
        let (scheme, key) = host_key(url)?;
        let scheme = scheme.as_str();
        // A provider host known to be HTTP/1.1 only gets the HTTP/1.1 client.
        let flavor = if flavor == Flavor::Provider && self.inner.h2c_hosts.borrow().get(&key) == Some(&false) {
            Flavor::Webhook
        } else {
            flavor
        };
        if let Some(c) = self.inner.clients.borrow().get(&(flavor, key.clone())) {
            return Ok(c.clone());
        }
        let cfg = &self.inner.config;
        let mut b = Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(cfg.idle_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("cxb/", env!("CARGO_PKG_VERSION")));
        match (flavor, scheme) {
            (Flavor::Provider, "http") if cfg.h2c => {
                b = b
                    .http2_prior_knowledge()
                    .http2_keep_alive_interval(cfg.keep_alive)
                    .http2_keep_alive_while_idle(true);
            }
            (Flavor::Provider, "https") => {
                b = b
                    .http2_keep_alive_interval(cfg.keep_alive)
                    .http2_keep_alive_while_idle(true);
            }
            (Flavor::Webhook, "http") => b = b.http1_only(),
            _ => {}
        }
        let client = b.build().map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::NotConfigured,
                "client",
                format!("HTTP client: {}", e.without_url()),
            )
        })?;
        self.inner.clients.borrow_mut().insert((flavor, key), client.clone());
        Ok(client)
    }
}

/// `(scheme, "scheme://host:port")` of an http(s) URL.
fn host_key(url: &str) -> Result<(String, String), ProviderError> {
    let parsed = Url::parse(url).map_err(|_| bad_url())?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(bad_url());
    }
    let host = parsed.host_str().ok_or_else(bad_url)?;
    let key = format!("{scheme}://{host}:{}", parsed.port_or_known_default().unwrap_or(0));
    Ok((scheme.to_owned(), key))
}

fn bad_url() -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::NotConfigured,
        "client",
        "base URL is not an http(s) URL",
    )
}

/// The base URL a stage uses: its own when set, else its provider endpoint's.
pub fn base_url<'a>(endpoint: &'a cxb_model::ProviderEndpoint, stage: &'a cxb_model::StageConfig) -> &'a str {
    if stage.base_url.is_empty() {
        &endpoint.base_url
    } else {
        &stage.base_url
    }
}

/// The endpoint's API key, unless it is empty.
pub fn api_key(endpoint: &cxb_model::ProviderEndpoint) -> Option<String> {
    endpoint.api_key.clone().filter(|k| !k.is_empty())
}

/// `value`, or `default` when it is empty (a stage's model or voice).
pub fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_owned()
}

/// Joins a base URL and a path (`https://api.openai.com/v1` + `/chat/completions`).
pub fn join_url(base: &str, path: &str) -> String {
    let mut s = String::with_capacity(base.len() + path.len());
    s.push_str(base.trim_end_matches('/'));
    if !path.starts_with('/') {
        s.push('/');
    }
    s.push_str(path);
    s
}

/// Percent-encodes a query-string component.
pub fn encode_query(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Maps a transport error of reqwest (never carrying the URL, which may hold a token).
pub fn map_reqwest(e: reqwest::Error, stage: &'static str) -> ProviderError {
    let kind = if e.is_timeout() {
        ProviderErrorKind::Timeout
    } else if e.is_connect() {
        ProviderErrorKind::Connect
    } else {
        // Body read failures (reqwest calls them "decode" errors) are broken streams too; our
        // own parsers report bad payloads as Protocol.
        ProviderErrorKind::Disconnected
    };
    ProviderError::new(kind, stage, error_chain(&e.without_url()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A provider error for a non-success status (429 → [`ProviderErrorKind::RateLimited`] with
/// Retry-After). `body` is the start of the error body; `secret` (the API key) is scrubbed from it.
pub fn status_error(status: u16, retry_after: Option<&str>, body: &[u8], secret: Option<&str>) -> ProviderError {
    let kind = if status == 429 {
        ProviderErrorKind::RateLimited
    } else {
        ProviderErrorKind::Status
    };
    let mut text: String = String::from_utf8_lossy(body).chars().take(ERROR_TEXT_MAX).collect();
    if let Some(k) = secret.filter(|k| !k.is_empty()) {
        text = text.replace(k, "<redacted>");
    }
    let mut e = ProviderError::new(kind, "status", format!("HTTP {status}: {}", text.trim()));
    e.status = Some(status);
    if status == 429 {
        e.retry_after_ms = retry_after.and_then(parse_retry_after);
    }
    e
}

/// Retry-After in seconds (fractions allowed) → milliseconds. HTTP dates are not honoured.
fn parse_retry_after(v: &str) -> Option<u32> {
    let secs: f64 = v.trim().parse().ok()?;
    if !(0.0..=86_400.0).contains(&secs) {
        return None;
    }
    Some((secs * 1000.0) as u32)
}

/// Sends `req` and waits for the response headers under `t.first_byte`; a non-2xx status becomes
/// an error (its body read briefly for the message, `secret` scrubbed).
pub async fn send(req: RequestBuilder, t: &Timeouts, secret: Option<&str>) -> Result<Response, ProviderError> {
    let resp = match tokio::time::timeout(t.first_byte, req.send()).await {
        Err(_) => {
            return Err(ProviderError::new(
                ProviderErrorKind::Timeout,
                "first_byte",
                "no response in time",
            ));
        }
        Ok(Err(e)) => return Err(map_reqwest(e, "connect")),
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            // OpenAI also sends retry-after-ms.
            let ms = resp
                .headers()
                .get("retry-after-ms")?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()?;
            Some((ms / 1000.0).to_string())
        });
    let mut body = BodyReader::new(resp, t);
    let mut buf = Vec::new();
    // Best effort: an error body that does not come quickly is not waited for.
    let deadline = Instant::now() + t.stall.min(Duration::from_secs(1));
    while buf.len() < ERROR_BODY_MAX {
        match tokio::time::timeout_at(deadline, body.resp.chunk()).await {
            Ok(Ok(Some(c))) => buf.extend_from_slice(&c[..c.len().min(ERROR_BODY_MAX - buf.len())]),
            _ => break,
        }
    }
    Err(status_error(status, retry_after.as_deref(), &buf, secret))
}

/// Reads a streamed response body chunk by chunk under a stall deadline.
#[derive(Debug)]
pub struct BodyReader {
    resp: Response,
    stall: Duration,
}

impl BodyReader {
    /// Wraps a response.
    pub fn new(resp: Response, t: &Timeouts) -> BodyReader {
        BodyReader { resp, stall: t.stall }
    }

    /// The next chunk; `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ProviderError> {
        match tokio::time::timeout(self.stall, self.resp.chunk()).await {
            Err(_) => Err(ProviderError::new(
                ProviderErrorKind::Timeout,
                "stream",
                "stream stalled",
            )),
            Ok(Err(e)) => Err(map_reqwest(e, "stream")),
            Ok(Ok(c)) => Ok(c),
        }
    }
}

/// Runs one provider operation as a local task: its error (if any) is sent on `tx`, the whole of
/// it is bounded by `total`, and it is dropped as soon as the receiver goes away.
pub fn spawn_op<T, F>(tx: EventTx<T>, total: Duration, op: impl FnOnce(EventTx<T>) -> F + 'static)
where
    T: 'static,
    F: Future<Output = Result<(), ProviderError>> + 'static,
{
    tokio::task::spawn_local(async move {
        let fut = op(tx.clone());
        let res = tokio::select! {
            r = tokio::time::timeout(total, fut) => r,
            _ = tx.closed() => return,
        };
        let err = match res {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => ProviderError::new(ProviderErrorKind::Timeout, "total", "operation took too long"),
        };
        let _ = tx.send(Err(err));
    });
}
