//! Fleet capacity for admission and `GET /health/fleet`.
//!
//! Each configured dataplane is one server. Its numbers come from the shared-memory segment it
//! writes on this host (`/dev/shm/cxb-fleet-*`, or `ControlConfig::fleet_path`), read at request
//! time with atomic loads; a dataplane on another host (or one whose segment is not visible here)
//! is asked over HTTP (`GET /internal/v1/fleet`). The HTTP answer also tells which local segment
//! belongs to which dataplane (same pid and start time); it is cached for [`REFRESH`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cxb_model::{FleetReader, FleetSnapshot};
use serde::Serialize;

use crate::dataplane_client;
use crate::state::AppState;

/// A shard whose heartbeat is older than this is unhealthy (the dataplane uses the same).
pub const STALE_AFTER_MS: u64 = 2_000;
/// How long HTTP answers and the list of local segments are reused.
pub const REFRESH: Duration = Duration::from_secs(1);

/// One dataplane as control sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerHealth {
    /// Internal API base URL.
    pub url: String,
    /// Display name (the URL's host:port).
    pub name: String,
    /// At least one shard with a fresh heartbeat.
    pub healthy: bool,
    /// Shards in its segment.
    pub shards: u32,
    /// Shards with a fresh heartbeat.
    pub healthy_shards: u32,
    /// Capacity of the healthy shards.
    pub capacity: u64,
    /// Calls in progress.
    pub active_calls: u64,
    /// Calls it can still take.
    pub free: u64,
    /// Mean busy fraction of the healthy shards (0 to 1).
    pub cpu_load: Option<f64>,
    /// `shm` (shared memory on this host), `http`, or `none` (unreachable).
    pub source: &'static str,
    /// Why it is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `GET /health/fleet` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetHealth {
    /// Some healthy server has free capacity.
    pub fleet_available: bool,
    /// Capacity of the healthy shards of all servers.
    pub total_capacity: u64,
    /// Calls in progress on all servers.
    pub active_calls: u64,
    /// Calls the fleet can still take.
    pub free: u64,
    /// Per dataplane.
    pub servers: Vec<ServerHealth>,
}

impl FleetHealth {
    /// The healthy server with the most free capacity, if any has room.
    pub fn pick(&self) -> Option<&ServerHealth> {
        self.servers
            .iter()
            .filter(|s| s.healthy && s.free > 0)
            .max_by_key(|s| s.free)
    }

    fn from_servers(servers: Vec<ServerHealth>) -> FleetHealth {
        let total_capacity = servers.iter().map(|s| s.capacity).sum();
        let active_calls = servers.iter().map(|s| s.active_calls).sum();
        let free = servers.iter().filter(|s| s.healthy).map(|s| s.free).sum();
        FleetHealth {
            fleet_available: servers.iter().any(|s| s.healthy && s.free > 0),
            total_capacity,
            active_calls,
            free,
            servers,
        }
    }
}

/// The segment files to read: `fleet_path` if given, else every `cxb-fleet-*` in `/dev/shm`
/// (or the temp dir where there is no `/dev/shm`), half-written `.tmp` files excluded.
pub fn segment_paths(fleet_path: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = fleet_path {
        return vec![p.to_owned()];
    }
    let dir = cxb_model::fleet::default_path("x")
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(std::env::temp_dir);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("cxb-fleet-") && !n.contains(".tmp")
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// One server's numbers from a snapshot.
pub fn server_from_snapshot(url: &str, snap: &FleetSnapshot, source: &'static str) -> ServerHealth {
    let t = &snap.totals;
    let loads: Vec<u64> = snap
        .shards
        .iter()
        .filter(|s| s.healthy)
        .map(|s| s.cpu_load_permille)
        .collect();
    let cpu_load = (!loads.is_empty()).then(|| loads.iter().sum::<u64>() as f64 / loads.len() as f64 / 1000.0);
    ServerHealth {
        url: url.to_owned(),
        name: display_name(url),
        healthy: t.healthy_shards > 0,
        shards: t.shards,
        healthy_shards: t.healthy_shards,
        capacity: t.capacity,
        active_calls: t.active_calls,
        free: t.free,
        cpu_load,
        source,
        error: None,
    }
}

fn display_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

fn unreachable(url: &str, error: String) -> ServerHealth {
    ServerHealth {
        url: url.to_owned(),
        name: display_name(url),
        healthy: false,
        shards: 0,
        healthy_shards: 0,
        capacity: 0,
        active_calls: 0,
        free: 0,
        cpu_load: None,
        source: "none",
        error: Some(error),
    }
}

#[derive(Debug, Default)]
struct Cache {
    readers: Vec<FleetReader>,
    scanned_at: Option<Instant>,
    scanned_path: Option<PathBuf>,
    remote: HashMap<String, (Instant, Result<FleetSnapshot, String>)>,
}

/// Cached segment readers and HTTP answers (one per router; cheap to share behind an `Arc`).
#[derive(Debug, Default)]
pub struct Fleet {
    cache: Mutex<Cache>,
}

fn now_unix_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

impl Fleet {
    /// A fleet view with empty caches.
    pub fn new() -> Fleet {
        Fleet::default()
    }

    /// Snapshots of the local segments now (segments rescanned every [`REFRESH`]).
    fn local(&self, fleet_path: Option<&Path>) -> Vec<FleetSnapshot> {
        let Ok(mut c) = self.cache.lock() else {
            return Vec::new();
        };
        let stale = c.scanned_at.is_none_or(|t| t.elapsed() >= REFRESH) || c.scanned_path.as_deref() != fleet_path;
        if stale {
            c.readers = segment_paths(fleet_path)
                .iter()
                .filter_map(|p| FleetReader::open(p).ok())
                .collect();
            c.scanned_at = Some(Instant::now());
            c.scanned_path = fleet_path.map(Path::to_owned);
        }
        let now = now_unix_ms();
        c.readers.iter().map(|r| r.snapshot(now, STALE_AFTER_MS)).collect()
    }

    /// HTTP snapshots of `urls`, fetched concurrently unless cached less than [`REFRESH`] ago.
    async fn remote(&self, state: &AppState, urls: &[String]) -> HashMap<String, Result<FleetSnapshot, String>> {
        let mut out = HashMap::new();
        let mut todo = Vec::new();
        if let Ok(c) = self.cache.lock() {
            for u in urls {
                match c.remote.get(u) {
                    Some((at, r)) if at.elapsed() < REFRESH => {
                        out.insert(u.clone(), r.clone());
                    }
                    _ => todo.push(u.clone()),
                }
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for u in todo {
            let (http, secret) = (state.http.clone(), state.cfg.internal_secret.clone());
            set.spawn(async move {
                let r = dataplane_client::fleet(&http, &u, &secret)
                    .await
                    .map_err(|e| e.to_string());
                (u, r)
            });
        }
        while let Some(Ok((u, r))) = set.join_next().await {
            if let Ok(mut c) = self.cache.lock() {
                c.remote.insert(u.clone(), (Instant::now(), r.clone()));
            }
            out.insert(u, r);
        }
        out
    }

    /// Every configured dataplane's health; local ones from shared memory.
    pub async fn health(&self, state: &AppState) -> FleetHealth {
        let urls = crate::routing_push::dataplane_urls(state).await.unwrap_or_default();
        let remote = self.remote(state, &urls).await;
        let local = self.local(state.cfg.fleet_path.as_deref());
        let servers = urls
            .iter()
            .map(|u| match remote.get(u) {
                Some(Ok(snap)) => {
                    match local
                        .iter()
                        .find(|l| l.pid == snap.pid && l.node_start_unix_ms == snap.node_start_unix_ms)
                    {
                        Some(l) => server_from_snapshot(u, l, "shm"),
                        None => server_from_snapshot(u, snap, "http"),
                    }
                }
                Some(Err(e)) => unreachable(u, e.clone()),
                None => unreachable(u, "no answer".into()),
            })
            .collect();
        FleetHealth::from_servers(servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxb_model::FleetWriter;

    #[test]
    fn shared_memory_numbers_and_pick() {
        let path = std::env::temp_dir().join(format!("cxb-fleet-test-ctl-{}", std::process::id()));
        let w = FleetWriter::create(&path, 2).unwrap();
        let now = now_unix_ms();
        for (i, active) in [(0, 3), (1, 1)] {
            let s = w.shard(i);
            s.set_capacity(10);
            s.set_active(active);
            s.set_load(500);
            s.heartbeat(now);
        }
        let fleet = Fleet::new();
        let snaps = fleet.local(Some(&path));
        assert_eq!(snaps.len(), 1);
        let a = server_from_snapshot("http://127.0.0.1:8081", &snaps[0], "shm");
        assert_eq!((a.capacity, a.active_calls, a.free, a.healthy), (20, 4, 16, true));
        assert_eq!(a.cpu_load, Some(0.5));
        assert_eq!(a.name, "127.0.0.1:8081");
        w.mark_stopped(now);
        let stopped = server_from_snapshot("http://b", &fleet.local(Some(&path))[0], "shm");
        assert!(!stopped.healthy);
        assert_eq!(stopped.free, 0);
        let h = FleetHealth::from_servers(vec![stopped, a.clone(), unreachable("http://c", "down".into())]);
        assert!(h.fleet_available);
        assert_eq!(h.pick().map(|s| s.url.as_str()), Some("http://127.0.0.1:8081"));
        assert_eq!((h.total_capacity, h.free), (20, 16));
        let none = FleetHealth::from_servers(vec![unreachable("http://c", "down".into())]);
        assert!(!none.fleet_available);
        assert!(none.pick().is_none());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn segment_paths_skip_temporaries() {
        let given = PathBuf::from("/nonexistent/seg");
        assert_eq!(segment_paths(Some(&given)), vec![given]);
        for p in segment_paths(None) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("cxb-fleet-") && !name.contains(".tmp"), "{name}");
        }
    }
}
