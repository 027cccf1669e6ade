//! A scripted HTTP server on 127.0.0.1:0 for tests: it records every request and answers from a
//! queue of canned responses (then a default one). Used for fake LLM providers and fake CRMs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One canned answer.
#[derive(Debug, Clone)]
pub(crate) struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Never answer (the client times out or is dropped).
    pub hang: bool,
}

impl Canned {
    pub fn json(status: u16, body: serde_json::Value) -> Canned {
        Canned {
            status,
            headers: vec![],
            body: body.to_string(),
            hang: false,
        }
    }
    pub fn text(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![],
            body: body.to_owned(),
            hang: false,
        }
    }
    pub fn hang() -> Canned {
        Canned {
            status: 200,
            headers: vec![],
            body: String::new(),
            hang: true,
        }
    }
}

/// One recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<Canned>,
    default: Canned,
    seen: Vec<Seen>,
}

/// The running server.
#[derive(Debug, Clone)]
pub(crate) struct FakeServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeServer {
    /// Starts a server answering `queue` in order, then `default` forever.
    pub async fn start(queue: Vec<Canned>, default: Canned) -> FakeServer {
        let inner = Arc::new(Mutex::new(Inner {
            queue: queue.into(),
            default,
            seen: Vec::new(),
        }));
        let app = axum::Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeServer { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().expect("lock").seen.clone()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let canned = {
        let mut g = inner.lock().expect("lock");
        g.seen.push(Seen {
            method,
            uri,
            headers,
            body,
        });
        let d = g.default.clone();
        g.queue.pop_front().unwrap_or(d)
    };
    if canned.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let mut resp = (
        StatusCode::from_u16(canned.status).unwrap_or(StatusCode::OK),
        canned.body,
    )
        .into_response();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    for (k, v) in canned.headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
