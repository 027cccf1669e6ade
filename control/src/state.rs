//! [`AppState`]: what every handler shares (database pool, config, secrets sealer, HTTP client,
//! metrics), and [`Backend`].

use std::sync::{Arc, Mutex};

use crate::config::ControlConfig;
use crate::{auth, crypto, metrics};

/// Which database the pool talks to (for the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Secrets created on the first start, shown once by the CLI (never logged).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FirstStart {
    /// The generated admin password (`None` when `CXB_ADMIN_PASSWORD` gave it).
    pub admin_password: Option<String>,
    /// The admin API key, when one was created (generated, or from `CXB_ADMIN_API_KEY`).
    pub admin_api_key: Option<String>,
}

impl std::fmt::Debug for FirstStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstStart")
            .field("admin_password", &self.admin_password.as_ref().map(|_| "<redacted>"))
            .field("admin_api_key", &self.admin_api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Shared state of the control process (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState {
    /// Database pool (SQLite or PostgreSQL through `sqlx::Any`).
    pub db: sqlx::AnyPool,
    /// Which backend `db` is.
    pub backend: Backend,
    /// Configuration.
    pub cfg: Arc<ControlConfig>,
    /// Encrypts secrets at rest (provider keys, trunk passwords).
    pub crypto: Arc<crypto::Sealer>,
    /// Outbound HTTP client (dataplanes, LLMs, CRMs).
    pub http: reqwest::Client,
    /// Prometheus counters.
    pub metrics: Arc<metrics::Metrics>,
    /// Login failure counters.
    pub throttle: Arc<auth::Throttle>,
    /// First-start secrets, until taken by [`AppState::take_first_start`].
    pub first_start: Arc<Mutex<Option<FirstStart>>>,
    /// The order of routing pushes (see [`crate::routing_push::push_all`]).
    pub routing_push: Arc<crate::routing_push::PushTurns>,
}

impl AppState {
    /// The first-start secrets, once (later calls get `None`).
    pub fn take_first_start(&self) -> Option<FirstStart> {
        self.first_start.lock().ok().and_then(|mut g| g.take())
    }
}
