//! `cxb-control`: the REST API, dashboard, storage, auth, post-call analysis and CRM push.
//!
//! [`build`] opens the database (SQLite or PostgreSQL), runs migrations, creates the first admin
//! and returns the router with its [`AppState`]; [`serve`] builds and serves until shutdown.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod calls;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod dataplane_client;
pub mod db;
pub mod error;
pub mod fleet;
pub mod llm;
pub mod metrics;
pub mod openapi;
pub mod postcall;
pub mod recordings;
pub mod routing_push;
pub mod seed;
pub mod state;

use std::future::Future;
use std::sync::{Arc, Mutex};

pub use api::settings;
pub use config::{ControlConfig, DataplaneEndpoint};
pub use error::{ApiError, ApiJson, ApiResult};
pub use state::{AppState, Backend, FirstStart};

/// Why control could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The secrets key could not be loaded or created.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    /// Creating the first admin failed.
    #[error("first start: {0}")]
    Bootstrap(#[source] ApiError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// Binding or serving the listener failed.
    #[error("HTTP server on {addr}: {source}")]
    Serve {
        /// Listen address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Opens storage, runs migrations, creates the first admin (see [`auth::bootstrap`]) and builds
/// the router. First-start secrets are kept for one [`AppState::take_first_start`].
pub async fn build(cfg: ControlConfig) -> Result<(axum::Router, AppState), ControlError> {
    let (db, backend) = db::connect(&cfg.database_url).await?;
    let crypto = crypto::Sealer::load_or_create(&cfg.data_dir)?;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()?;
    let state = AppState {
        db,
        backend,
        cfg: Arc::new(cfg),
        crypto: Arc::new(crypto),
        http,
        metrics: Arc::default(),
        throttle: Arc::default(),
        first_start: Arc::new(Mutex::new(None)),
        routing_push: Arc::default(),
    };
    let first = auth::bootstrap::first_start(&state)
        .await
        .map_err(ControlError::Bootstrap)?;
    if let Ok(mut g) = state.first_start.lock() {
        *g = first;
    }
    Ok((api::router(state.clone()), state))
}

/// Serves a built router on `state.cfg.http_bind` until `shutdown` completes.
pub async fn serve_router(
    router: axum::Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let addr = state.cfg.http_bind;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ControlError::Serve { addr, source })?;
    serve_listener(listener, router, state, shutdown).await
}

/// Serves a built router on an already bound listener until `shutdown` completes (tests bind
/// `127.0.0.1:0`). Pushes routing to the dataplanes once at start.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let addr = listener.local_addr().map_err(|source| ControlError::Serve {
        addr: state.cfg.http_bind,
        source,
    })?;
    routing_push::spawn_push_all(&state);
    tracing::info!(%addr, "control listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ControlError::Serve { addr, source })
}

/// [`build`] then [`serve_router`]. First-start secrets are not printed here: a CLI that wants
/// to show them calls [`build`], [`AppState::take_first_start`], then [`serve_router`].
pub async fn serve(
    cfg: ControlConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let (router, state) = build(cfg).await?;
    serve_router(router, state, shutdown).await
}
