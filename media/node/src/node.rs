//! The node's control plane: the session table, port pool, limits, drain state and event bus.
//! [`Node`] is what the gRPC and HTTP layers call; it never touches packets itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use switchboard_proto::v1::{self as pb, LocalEndpoint, MediaEvent, SessionInfo, media_event};
use tokio::sync::{broadcast, oneshot};

use crate::config::NodeConfig;
use crate::pool::{PoolError, PortPair, PortPool};
use crate::relay::leg::{Leg, unix_ms};
use crate::relay::mailbox::Mailbox;
use crate::relay::session::{SessionFuture, SessionShared, SessionTask};
use crate::relay::{Control, DtmfRequest, LegOptions, LegUpdate, Workers};
use crate::stats::Totals;

/// A control-plane failure; each maps to one gRPC status code.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Draining: new sessions refused (UNAVAILABLE).
    #[error("node is draining; no new sessions")]
    Draining,
    /// Session limit reached (RESOURCE_EXHAUSTED).
    #[error("max sessions ({0}) reached")]
    MaxSessions(u32),
    /// No port pair could be bound (RESOURCE_EXHAUSTED).
    #[error(transparent)]
    NoPorts(#[from] PoolError),
    /// Unknown session id (NOT_FOUND).
    #[error("session {0:?} not found")]
    NotFound(String),
    /// A request field is invalid (INVALID_ARGUMENT).
    #[error("{field}: {reason}")]
    Invalid {
        /// Field path, e.g. `remote_address`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The session id hint is in use (ALREADY_EXISTS).
    #[error("session {0:?} already exists")]
    AlreadyExists(String),
    /// The session task is gone or a socket could not be registered (INTERNAL).
    #[error("internal: {0}")]
    Internal(String),
}

/// Capacity and state, as reported by Health.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeHealth {
    /// Sessions allocated.
    pub sessions: u32,
    /// Session limit.
    pub max_sessions: u32,
    /// Free port pairs.
    pub free_ports: u32,
    /// Total port pairs.
    pub total_ports: u32,
    /// max(sessions / max, used pairs / total pairs).
    pub load: f64,
    /// Drain requested.
    pub draining: bool,
    /// Draining and empty.
    pub drained: bool,
}

#[derive(Debug)]
struct Entry {
    shared: Arc<SessionShared>,
    ports: [u16; 2],
}

impl Drop for Entry {
    /// A session dropped from the table (node shut down) ends its task.
    fn drop(&mut self) {
        self.shared.mailbox.close();
    }
}

/// The media node: everything but the network listeners.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    pool: PortPool,
    sessions: Mutex<HashMap<String, Entry>>,
    draining: AtomicBool,
    events: broadcast::Sender<MediaEvent>,
    totals: Arc<Totals>,
    workers: Workers,
    next_id: AtomicU64,
    id_prefix: u64,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Node {
    /// Creates the node and starts its relay workers.
    pub fn new(cfg: NodeConfig) -> std::io::Result<Self> {
        let workers = Workers::start(cfg.workers)?;
        Ok(Node {
            pool: PortPool::new(cfg.rtp_ip, cfg.ports),
            sessions: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            events: broadcast::channel(4096).0,
            totals: Arc::new(Totals::default()),
            workers,
            next_id: AtomicU64::new(1),
            id_prefix: unique_prefix(),
            closing: tokio::sync::watch::channel(false).0,
            cfg,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// Node-wide counters.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// A receiver of every media event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MediaEvent> {
        self.events.subscribe()
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves ports for both legs and starts relaying; returns the id and both local endpoints.
    pub fn allocate(
        &self,
        call_id: &str,
        id_hint: &str,
        opts: [LegOptions; 2],
    ) -> Result<(String, [LocalEndpoint; 2]), NodeError> {
        if self.draining.load(Ordering::Acquire) {
            return Err(NodeError::Draining);
        }
        let mut table = self.table();
        if table.len() >= self.cfg.max_sessions as usize {
            return Err(NodeError::MaxSessions(self.cfg.max_sessions));
        }
        if !id_hint.is_empty() && table.contains_key(id_hint) {
            return Err(NodeError::AlreadyExists(id_hint.to_owned()));
        }
        let [a, b] = self.reserve(opts)?;
        let endpoints = [endpoint(&a, &self.cfg), endpoint(&b, &self.cfg)];
        let id = if id_hint.is_empty() {
            format!(
                "{:x}-{}",
                self.id_prefix,
                self.next_id.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            id_hint.to_owned()
        };
        // Listed with its ids from the start, before the relay publishes its first statistics.
        let shared = Arc::new(SessionShared {
            id: id.clone(),
            call_id: call_id.to_owned(),
            created_unix_ms: unix_ms(SystemTime::now()),
            snapshot: Mutex::new(None),
            events: self.events.clone(),
            totals: self.totals.clone(),
            mailbox: Mailbox::default(),
        });
        let ports = [a.rtp_port, b.rtp_port];
        if let Err(e) = self.spawn_session(shared.clone(), [a, b], opts) {
            tracing::error!(session = %id, error = %e, "cannot register sockets");
            for port in ports {
                self.pool.release(port);
            }
            return Err(NodeError::Internal(format!("registering sockets: {e}")));
        }
        table.insert(id.clone(), Entry { shared, ports });
        drop(table);
        self.totals.sessions_created.fetch_add(1, Ordering::Relaxed);
        tracing::info!(session = %id, call_id, a = endpoints[0].rtp_port, b = endpoints[1].rtp_port, "session allocated");
        Ok((id, endpoints))
    }

    /// Binds both legs' port pairs, or none.
    fn reserve(&self, opts: [LegOptions; 2]) -> Result<[PortPair; 2], NodeError> {
        let a = self.pool.allocate(opts[0].rtcp_mux)?;
        match self.pool.allocate(opts[1].rtcp_mux) {
            Ok(b) => Ok([a, b]),
            Err(e) => {
                let port = a.rtp_port;
                drop(a);
                self.pool.release(port);
                Err(e.into())
            }
        }
    }

    /// Starts the session task on a relay worker (its sockets are registered there).
    fn spawn_session(
        &self,
        shared: Arc<SessionShared>,
        pairs: [PortPair; 2],
        opts: [LegOptions; 2],
    ) -> std::io::Result<()> {
        let interval = self.cfg.stats_interval;
        self.workers.spawn_with(move || {
            let now = Instant::now();
            let [a, b] = pairs;
            let legs = [make_leg(a, opts[0], now)?, make_leg(b, opts[1], now)?];
            Ok(SessionFuture::new(SessionTask::new(shared, legs, interval)))
        })
    }

    fn shared(&self, id: &str) -> Result<Arc<SessionShared>, NodeError> {
        self.table()
            .get(id)
            .map(|e| e.shared.clone())
            .ok_or_else(|| NodeError::NotFound(id.to_owned()))
    }

    async fn ask<T>(
        &self,
        id: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> Control,
    ) -> Result<T, NodeError> {
        let shared = self.shared(id)?;
        let (tx, rx) = oneshot::channel();
        shared
            .mailbox
            .post(make(tx))
            .map_err(|_| NodeError::Internal("session task stopped".into()))?;
        rx.await
            .map_err(|_| NodeError::Internal("session task stopped".into()))
    }

    /// Applies a leg update (leg 0 = A, 1 = B).
    pub async fn update_leg(
        &self,
        id: &str,
        leg: usize,
        update: LegUpdate,
    ) -> Result<(), NodeError> {
        self.ask(id, |tx| Control::Update(leg, Box::new(update), tx))
            .await?
            .map_err(|(field, reason)| NodeError::Invalid { field, reason })
    }

    /// Schedules a DTMF digit toward leg `leg`'s remote.
    pub async fn send_dtmf(&self, id: &str, leg: usize, req: DtmfRequest) -> Result<(), NodeError> {
        self.ask(id, |tx| Control::SendDtmf(leg, req, tx))
            .await?
            .map_err(|reason| NodeError::Invalid {
                field: "leg",
                reason,
            })
    }

    /// Fresh statistics of one session.
    pub async fn get(&self, id: &str) -> Result<SessionInfo, NodeError> {
        self.ask(id, Control::Snapshot).await
    }

    /// Every session as of its last published snapshot.
    pub fn list(&self) -> Vec<SessionInfo> {
        let table = self.table();
        table.values().map(|e| e.shared.info()).collect()
    }

    /// Stops a session, frees its ports and emits `SessionReleased{reason}`.
    pub async fn release(&self, id: &str, reason: &str) -> Result<SessionInfo, NodeError> {
        let entry = self
            .table()
            .remove(id)
            .ok_or_else(|| NodeError::NotFound(id.to_owned()))?;
        let (tx, rx) = oneshot::channel();
        let info = match entry.shared.mailbox.post(Control::Release(tx)) {
            Ok(()) => rx.await.ok(),
            Err(_) => None,
        };
        // The task closed its sockets before replying (or it is gone): the ports are free.
        let info = info.unwrap_or_else(|| entry.shared.info());
        for port in entry.ports {
            self.pool.release(port);
        }
        entry
            .shared
            .emit(media_event::Kind::Released(pb::SessionReleased {
                reason: reason.to_owned(),
            }));
        tracing::info!(session = %id, reason, "session released");
        Ok(info)
    }

    /// Marks the node as shutting down: refuses new sessions and ends event streams.
    pub fn close(&self) {
        self.draining.store(true, Ordering::Release);
        self.closing.send_replace(true);
    }

    /// Resolves once [`Node::close`] has been called.
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Releases every session (shutdown).
    pub async fn release_all(&self, reason: &str) {
        let ids: Vec<String> = self.table().keys().cloned().collect();
        for id in ids {
            let _ = self.release(&id, reason).await;
        }
    }

    /// Capacity and state.
    pub fn health(&self) -> NodeHealth {
        let sessions = u32::try_from(self.table().len()).unwrap_or(u32::MAX);
        let total = u32::try_from(self.pool.total()).unwrap_or(u32::MAX);
        let free = u32::try_from(self.pool.free()).unwrap_or(u32::MAX);
        let draining = self.draining.load(Ordering::Acquire);
        let by_sessions = f64::from(sessions) / f64::from(self.cfg.max_sessions.max(1));
        let by_ports = f64::from(total.saturating_sub(free)) / f64::from(total.max(1));
        NodeHealth {
            sessions,
            max_sessions: self.cfg.max_sessions,
            free_ports: free,
            total_ports: total,
            load: by_sessions.max(by_ports).min(1.0),
            draining,
            drained: draining && sessions == 0,
        }
    }

    /// Sets or clears the drain state.
    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Release);
        tracing::info!(draining, "drain state changed");
    }
}

fn endpoint(p: &PortPair, cfg: &NodeConfig) -> LocalEndpoint {
    let rtcp = if p.rtcp.is_some() {
        p.rtp_port + 1
    } else {
        p.rtp_port
    };
    LocalEndpoint {
        address: cfg.rtp_ip.to_string(),
        rtp_port: p.rtp_port.into(),
        rtcp_port: rtcp.into(),
    }
}

fn make_leg(p: PortPair, opts: LegOptions, now: Instant) -> std::io::Result<Leg> {
    Leg::new(p.rtp, p.rtcp, opts, now)
}

/// A per-node session id prefix: start time mixed with a randomly keyed hash, so two nodes started in the
/// same millisecond (or the same process) do not hand out the same session ids.
fn unique_prefix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(unix_ms(SystemTime::now()));
    h.write_u32(std::process::id());
    h.finish()
}
