//! [`ControlConfig`]: where control listens, stores and finds its dataplanes.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One dataplane's internal HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneEndpoint {
    /// Base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
}

/// Control process configuration.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// HTTP listen address (default `127.0.0.1:8080`).
    pub http_bind: SocketAddr,
    /// Directory for the SQLite file, `secret.key` and local recordings (default `./data`).
    pub data_dir: PathBuf,
    /// `sqlite://./data/cxb.db?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// Dataplanes to push routing to and dial out through (the fleet list in settings overrides
    /// it once saved).
    pub dataplanes: Vec<DataplaneEndpoint>,
    /// Shared secret for `/internal/*` (both directions, `Authorization: Bearer …`).
    pub internal_secret: String,
    /// Fleet shared-memory file to read capacity from, if on the same host.
    pub fleet_path: Option<PathBuf>,
    /// The URL users reach control at (snippets, widget embed, `Secure` cookies when https).
    pub public_url: String,
    /// The URL browsers reach the dataplanes at (`https://voice.example.com`, a proxy or load
    /// balancer in front of them); the widget's `ws_url` uses it (`https` → `wss`) instead of the
    /// first dataplane's internal URL. `None`: the first dataplane, else `public_url`.
    pub dataplane_public_url: Option<String>,
    /// Recordings store: a directory path or `s3://bucket/prefix`.
    pub recordings: String,
}

impl ControlConfig {
    /// Defaults for a local install under `data_dir`: SQLite `data_dir/cxb.db`, HTTP on
    /// 127.0.0.1:8080, one dataplane at 127.0.0.1:8081, recordings in `data_dir/recordings`.
    /// `DATABASE_URL` overrides the database.
    pub fn local(data_dir: impl Into<PathBuf>, internal_secret: impl Into<String>) -> ControlConfig {
        let data_dir = data_dir.into();
        let database_url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("cxb.db").display()));
        ControlConfig {
            http_bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            recordings: data_dir.join("recordings").display().to_string(),
            data_dir,
            database_url,
            dataplanes: vec![DataplaneEndpoint {
                url: "http://127.0.0.1:8081".into(),
            }],
            internal_secret: internal_secret.into(),
            fleet_path: None,
            public_url: "http://127.0.0.1:8080".into(),
            dataplane_public_url: None,
        }
    }

    /// Whether the public URL is https (session cookies get `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}
