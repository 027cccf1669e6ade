//! The thread-per-core engine: [`Dataplane::start`] opens the fleet segment, starts one shard per
//! core (each binding the SIP address with `SO_REUSEPORT` and owning the calls whose Call-ID
//! hashes to it) and the internal HTTP server; [`Dataplane::shutdown`] hangs up and stops.

pub mod admission;
pub mod agent;
mod call;
mod calls;
pub mod config;
mod dial;
mod ports;
pub mod recv_ring;
pub mod route;
mod rtp_io;
pub mod send_ring;
mod shard;
pub mod sip_io;
pub mod voice;

use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use cxb_model::{FleetReader, FleetSnapshot, FleetWriter, RoutingTable, ShardSlot};
use tokio::sync::mpsc;

pub use call::unix_ms;
pub use config::DataplaneConfig;
pub use dial::DialError;
pub use rtp_io::FDS_PER_CALL;
pub use shard::ShardMsg;

use crate::recording::RecorderService;
use crate::records::RecordSink;

/// Why the dataplane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A SIP socket could not be bound.
    #[error(transparent)]
    SipIo(#[from] sip_io::SipIoError),
    /// Another socket operation failed.
    #[error("socket: {0}")]
    Io(std::io::Error),
    /// The fleet segment could not be created.
    #[error("fleet shared memory: {0}")]
    Fleet(#[from] cxb_model::FleetError),
    /// The call-record spool could not be opened.
    #[error("call records: {0}")]
    Records(#[from] crate::records::RecordsError),
    /// The recordings directory could not be used.
    #[error("recordings: {0}")]
    Recording(#[from] crate::recording::RecordingError),
    /// A shard thread died while starting.
    #[error("shard {0} failed to start")]
    Thread(usize),
}

/// What every shard shares (read-mostly; nothing here is on the media path).
#[derive(Debug)]
pub struct Shared {
    /// Settings.
    pub cfg: DataplaneConfig,
    /// Inboxes of all shards, by index.
    pub peers: Vec<mpsc::UnboundedSender<ShardMsg>>,
    /// Bots and DIDs (replaced whole when control pushes a new snapshot).
    pub routing: RoutingHandle,
    /// Call-record spool and delivery.
    pub records: RecordSink,
    /// Recording writer.
    pub recorder: RecorderService,
    /// Open SIP TCP connections.
    pub tcp: sip_io::TcpConnections,
    slots: Vec<ShardSlot>,
    fleet: FleetWriter,
    fleet_reader: FleetReader,
}

impl Shared {
    /// Capacity slot of shard `i`.
    pub fn slot(&self, i: usize) -> &ShardSlot {
        &self.slots[i]
    }

    /// The fleet segment.
    pub fn fleet(&self) -> &FleetWriter {
        &self.fleet
    }

    /// Capacity as control sees it (read back from the shared-memory segment).
    pub fn fleet_snapshot(&self, stale_after_ms: u64) -> FleetSnapshot {
        self.fleet_reader.snapshot(unix_ms(), stale_after_ms)
    }
}

/// The current routing table; swapped whole on reload.
#[derive(Debug)]
pub struct RoutingHandle(RwLock<Arc<RoutingTable>>);

impl RoutingHandle {
    /// A handle on `t`.
    pub fn new(t: RoutingTable) -> RoutingHandle {
        RoutingHandle(RwLock::new(Arc::new(t)))
    }

    /// The table in force.
    pub fn load(&self) -> Arc<RoutingTable> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the table.
    pub fn store(&self, t: RoutingTable) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(t);
    }
}

/// Fails when another process already holds the SIP or HTTP address. The shards bind with
/// `SO_REUSEPORT`, which would otherwise silently share the port with a second dataplane.
fn probe_free(cfg: &DataplaneConfig) -> Result<(), ShardError> {
    let busy = |transport, addr, error| sip_io::SipIoError::Bind { transport, addr, error };
    std::net::UdpSocket::bind(cfg.sip_bind).map_err(|e| busy("udp", cfg.sip_bind, e))?;
    std::net::TcpListener::bind(cfg.sip_bind).map_err(|e| busy("tcp", cfg.sip_bind, e))?;
    std::net::TcpListener::bind(cfg.http_bind).map_err(|e| busy("tcp", cfg.http_bind, e))?;
    Ok(())
}

/// A running dataplane.
#[derive(Debug)]
pub struct Dataplane {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Dataplane {
    /// Starts the shards; returns once every shard has bound its sockets.
    pub fn start(mut cfg: DataplaneConfig, routing: RoutingTable) -> Result<Dataplane, ShardError> {
        // Resolve the advertised address once (the lookup costs syscalls; calls read it often).
        cfg.advertised_ip = Some(cfg.public_ip());
        let n = cfg.shards.max(1);
        probe_free(&cfg)?;
        let fleet = FleetWriter::create(&cfg.fleet_path, n)?;
        let slots = (0..n).map(|i| fleet.shard(i)).collect::<Vec<_>>();
        for s in &slots {
            s.set_capacity(u64::from(cfg.calls_per_shard));
        }
        let fleet_reader = FleetReader::open(&cfg.fleet_path)?;
        let records = RecordSink::start(crate::records::RecordSinkConfig::new(
            cfg.data_dir.join("spool").join("records"),
            cfg.control_url.clone(),
            cfg.internal_secret.clone(),
        ))?;
        let recorder = RecorderService::with_storage(cfg.recordings.clone())?;
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::unbounded_channel()).unzip();
        let handle = RoutingHandle::new(routing);
        let shared = Arc::new(Shared {
            cfg,
            peers: txs,
            routing: handle,
            records,
            recorder,
            tcp: sip_io::TcpConnections::default(),
            slots,
            fleet,
            fleet_reader,
        });
        let mut threads = Vec::with_capacity(n);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for (i, rx) in rxs.into_iter().enumerate() {
            let shared = shared.clone();
            let ready = ready_tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("cxb-shard-{i}"))
                .spawn(move || shard::run(i, shared, rx, ready))
                .map_err(ShardError::Io)?;
            threads.push(t);
        }
        drop(ready_tx);
        let dp = Dataplane { shared, threads };
        for i in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    dp.shutdown();
                    return Err(e);
                }
                Err(_) => {
                    dp.shutdown();
                    return Err(ShardError::Thread(i));
                }
            }
        }
        Ok(dp)
    }

    /// What the shards share (routing, records, fleet).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Asks every shard to hang up its calls and stop.
    pub fn shutdown(&self) {
        for p in &self.shared.peers {
            let _ = p.send(ShardMsg::Shutdown);
        }
    }

    /// Waits for the shards to stop, then flushes call records to the spool / control.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
        let _ = self.shared.records.flush(std::time::Duration::from_secs(5));
        self.shared.fleet.mark_stopped(unix_ms());
    }
}
