//! Tests of the provider clients against the fake servers (real sockets, HTTP/2).

mod audio;
mod llm;
mod parsers;

use std::future::Future;
use std::time::Duration;

use cxb_model::StageConfig;

use super::pool::Timeouts;
use crate::agent::api::{EventRx, ProviderError};

/// Runs `f` on a current-thread runtime inside a `LocalSet`, as on a shard.
pub(crate) fn run<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// Every event of an operation, until the channel closes (bounded by 10 s).
pub(crate) async fn collect<T>(mut rx: EventRx<T>) -> Vec<Result<T, ProviderError>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(ev);
    }
    out
}

/// Short deadlines so failure tests are fast.
pub(crate) fn fast() -> Timeouts {
    Timeouts {
        first_byte: Duration::from_millis(300),
        stall: Duration::from_millis(300),
        total: Duration::from_secs(5),
    }
}

pub(crate) fn stage() -> StageConfig {
    StageConfig {
        model: "test-model".into(),
        ..StageConfig::default()
    }
}

/// A loopback URL nobody listens on.
pub(crate) fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}
