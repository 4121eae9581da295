//! [`MediaPool`]: the nodes, capacity-weighted allocation with retry on the next node, and
//! routing of every later call to the node that holds the session.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use switchboard_proto::v1 as pb;
use tokio::sync::broadcast;

use crate::config::{MediaNodeConfig, PoolConfig};
use crate::error::{MediaError, NodeRefusal, retry_elsewhere};
use crate::monitor::{self, PoolEvent, Shared, TaskGuard};
use crate::node::{InFlight, NodeChannel, NodeHandle};
use crate::state::{Candidate, NodeSnapshot, rank};

/// Options of both legs of a new session (absent fields take the node's defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocateOptions {
    /// Leg A (caller side).
    pub leg_a: pb::LegOptions,
    /// Leg B (callee side).
    pub leg_b: pb::LegOptions,
}

/// A session placed on a node: both legs' local endpoints for the SDP answers/offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// The node holding both legs.
    pub node: String,
    /// Session id for every later call.
    pub session_id: String,
    /// Where leg A's remote sends media.
    pub leg_a: pb::LocalEndpoint,
    /// Where leg B's remote sends media.
    pub leg_b: pb::LocalEndpoint,
    /// Nodes tried first that refused, in order (empty when the best node took it).
    pub refused: Vec<NodeRefusal>,
}

#[derive(Debug)]
struct Entry {
    handle: Arc<NodeHandle>,
    _tasks: [TaskGuard; 2],
}

#[derive(Debug)]
struct Inner {
    config: PoolConfig,
    shared: Arc<Shared>,
    nodes: RwLock<BTreeMap<String, Entry>>,
    next_session: AtomicU64,
}

/// Signaling's pool of media nodes. Cheap to clone; background tasks stop when the last clone
/// is dropped. Must be created inside a tokio runtime.
#[derive(Debug, Clone)]
pub struct MediaPool {
    inner: Arc<Inner>,
}

impl MediaPool {
    /// Validates `config` ([`PoolConfig::validate`]), creates the pool and starts health checks
    /// and event subscriptions for `config.nodes`.
    /// Nodes are `Unknown` until their first Health answer (see [`MediaPool::wait_until`]).
    pub fn new(config: PoolConfig) -> Result<Self, MediaError> {
        config.validate()?;
        let shared = Arc::new(Shared::new(
            config.event_capacity,
            config.health_interval,
            config.down_after_failures,
            config.event_retry,
        ));
        let nodes = config.nodes.clone();
        let pool = Self {
            inner: Arc::new(Inner {
                config,
                shared,
                nodes: RwLock::new(BTreeMap::new()),
                next_session: AtomicU64::new(1),
            }),
        };
        for node in nodes {
            pool.add_node(node)?;
        }
        Ok(pool)
    }

    /// Adds a node at run time; it takes sessions once its first Health answer arrives.
    pub fn add_node(&self, config: MediaNodeConfig) -> Result<(), MediaError> {
        self.add_handle(NodeHandle::new(config, &self.inner.config)?)
    }

    /// Adds a node reached through `channel` instead of a connection to its `grpc_uri`: the
    /// embedded node's service called in-process ([`EmbeddedNode::add_to`](crate::EmbeddedNode::add_to)).
    pub(crate) fn add_node_via(
        &self,
        config: MediaNodeConfig,
        channel: NodeChannel,
    ) -> Result<(), MediaError> {
        config.validate()?;
        self.add_handle(NodeHandle::with_channel(
            config,
            &self.inner.config,
            channel,
        ))
    }

    fn add_handle(&self, handle: NodeHandle) -> Result<(), MediaError> {
        let handle = Arc::new(handle);
        let mut nodes = self.write_nodes();
        if nodes.contains_key(handle.name()) {
            return Err(MediaError::DuplicateNode(handle.name().to_owned()));
        }
        let tasks = monitor::spawn(&handle, &self.inner.shared);
        tracing::info!(node = handle.name(), uri = %handle.config.grpc_uri, "media node added");
        nodes.insert(
            handle.name().to_owned(),
            Entry {
                handle,
                _tasks: tasks,
            },
        );
        drop(nodes);
        self.inner.shared.bump();
        Ok(())
    }

    /// Removes a node at run time (its tasks stop, its client closes). Returns the ids of the
    /// sessions the pool had placed on it, which the pool forgets: the caller moves or ends
    /// those calls.
    pub fn remove_node(&self, name: &str) -> Result<Vec<String>, MediaError> {
        self.write_nodes()
            .remove(name)
            .ok_or_else(|| MediaError::UnknownNode(name.to_owned()))?;
        let mut sessions = self.inner.shared.sessions();
        let orphaned: Vec<String> = sessions
            .iter()
            .filter(|(_, node)| node.as_str() == name)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &orphaned {
            sessions.remove(id);
        }
        drop(sessions);
        self.inner.shared.bump();
        tracing::info!(node = name, sessions = orphaned.len(), "media node removed");
        Ok(orphaned)
    }

    /// Places both legs of `call_id` on one node: the `Up` node with the most (weighted) free
    /// capacity first; on `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, a deadline or a transport error,
    /// the next one. Other refusals (e.g. `INVALID_ARGUMENT`) end the attempt.
    pub async fn allocate(
        &self,
        call_id: &str,
        options: AllocateOptions,
    ) -> Result<Allocation, MediaError> {
        let mut candidates: Vec<Candidate> = self
            .read_nodes()
            .values()
            .filter_map(|e| {
                let h = &e.handle;
                Candidate::of(h.name(), h.config.effective_weight(), &h.state())
            })
            .collect();
        rank(&mut candidates);
        let hint = format!(
            "{}-{}",
            self.inner.config.session_prefix,
            self.inner.next_session.fetch_add(1, Ordering::Relaxed)
        );
        let mut refused = Vec::new();
        for candidate in candidates {
            let Ok(node) = self.node(&candidate.name) else {
                continue; // removed meanwhile
            };
            let req = pb::AllocateSessionRequest {
                call_id: call_id.to_owned(),
                session_id_hint: hint.clone(),
                leg_a: Some(options.leg_a),
                leg_b: Some(options.leg_b),
            };
            // Lives until the session is in the routing table (or the attempt failed).
            let _in_flight = InFlight::start(&node, &self.inner.shared, &hint);
            match node.allocate(req).await {
                Ok(answer) => {
                    node.state().on_allocated();
                    self.inner
                        .shared
                        .sessions()
                        .insert(answer.session_id.clone(), node.name().to_owned());
                    self.inner.shared.bump();
                    return Ok(Allocation {
                        node: node.name().to_owned(),
                        session_id: answer.session_id,
                        leg_a: answer.leg_a.unwrap_or_default(),
                        leg_b: answer.leg_b.unwrap_or_default(),
                        refused,
                    });
                }
                Err(status) if retry_elsewhere(status.code()) => {
                    let error = node.error("AllocateSession", &status);
                    tracing::info!(call_id, %error, "media node refused; trying the next");
                    if status.code() == tonic::Code::DeadlineExceeded {
                        node.clone().release_late(hint.clone());
                    }
                    refused.push(NodeRefusal {
                        node: node.name().to_owned(),
                        code: status.code(),
                        message: status.message().to_owned(),
                    });
                }
                Err(status) => return Err(node.error("AllocateSession", &status)),
            }
        }
        Err(MediaError::NoCapacity { attempts: refused })
    }

    /// Sets or changes one leg (`req.session_id` routes it to its node).
    pub async fn update_leg(&self, req: pb::UpdateLegRequest) -> Result<(), MediaError> {
        let node = self.session_node(&req.session_id)?;
        node.update_leg(req)
            .await
            .map_err(|s| node.error("UpdateLeg", &s))
    }

    /// Sends one RFC 4733 digit toward a leg's remote (`req.session_id` routes it).
    pub async fn send_dtmf(&self, req: pb::SendDtmfRequest) -> Result<(), MediaError> {
        let node = self.session_node(&req.session_id)?;
        node.send_dtmf(req)
            .await
            .map_err(|s| node.error("SendDtmf", &s))
    }

    /// Fresh statistics of one session.
    pub async fn get_session(&self, session_id: &str) -> Result<pb::SessionInfo, MediaError> {
        let node = self.session_node(session_id)?;
        node.get_session(session_id)
            .await
            .map_err(|s| node.error("GetSession", &s))
    }

    /// Releases a session on its node and returns its final statistics. The pool forgets the
    /// session when the node released it or did not know it (`NOT_FOUND` is still returned as
    /// an error); after a deadline or transport error it keeps it so the release can be retried.
    /// A session the node ended itself (its `SessionReleased` event was forwarded) is already
    /// forgotten: [`MediaError::UnknownSession`].
    pub async fn release(&self, session_id: &str) -> Result<pb::SessionInfo, MediaError> {
        let node = self.session_node(session_id)?;
        // Unroutable while its release is in flight: a late DTMF digit or leg update for the
        // ending call gets `UnknownSession` here instead of reaching the node and being taken
        // for the node's fault (its `NOT_FOUND` would become the node's last error).
        self.inner.shared.sessions().remove(session_id);
        let answer = node.release(session_id).await;
        let forget = match &answer {
            Ok(_) => true,
            Err(s) => s.code() == tonic::Code::NotFound,
        };
        if forget {
            node.state().on_released();
            self.inner.shared.bump();
        } else {
            self.inner
                .shared
                .sessions()
                .insert(session_id.to_owned(), node.config.name.clone());
        }
        answer.map_err(|s| node.error("ReleaseSession", &s))
    }

    /// Every session on `node` as the node reports it (for reconciliation).
    pub async fn list_sessions(&self, node: &str) -> Result<Vec<pb::SessionInfo>, MediaError> {
        let node = self.node(node)?;
        node.list_sessions()
            .await
            .map_err(|s| node.error("ListSessions", &s))
    }

    /// Drains `node`: it keeps its sessions and gets no new ones (until [`MediaPool::undrain`]).
    pub async fn drain(&self, node: &str) -> Result<(), MediaError> {
        self.set_draining(node, true).await
    }

    /// Lets a drained `node` take new sessions again.
    pub async fn undrain(&self, node: &str) -> Result<(), MediaError> {
        self.set_draining(node, false).await
    }

    async fn set_draining(&self, name: &str, draining: bool) -> Result<(), MediaError> {
        let node = self.node(name)?;
        let op = if draining { "Drain" } else { "Undrain" };
        node.set_draining(draining)
            .await
            .map_err(|s| node.error(op, &s))?;
        let change = node.state().on_drain(draining);
        if let Some(status) = change {
            self.inner.shared.status_changed(&node, status);
        }
        self.inner.shared.bump();
        Ok(())
    }

    /// The node holding `session_id`, if the pool placed it.
    pub fn node_of(&self, session_id: &str) -> Option<String> {
        self.inner.shared.sessions().get(session_id).cloned()
    }

    /// Ids of the sessions the pool placed on `node` (e.g. to move them when it goes down).
    pub fn sessions_on(&self, node: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .inner
            .shared
            .sessions()
            .iter()
            .filter(|(_, n)| n.as_str() == node)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Per-node state for /health and metrics, ordered by name.
    pub fn snapshot(&self) -> Vec<NodeSnapshot> {
        self.read_nodes()
            .values()
            .map(|e| e.handle.snapshot())
            .collect()
    }

    /// Media events and node state changes of every node, from now on. A receiver that falls
    /// more than [`PoolConfig::event_capacity`] events behind gets `Lagged` and misses them.
    pub fn subscribe(&self) -> broadcast::Receiver<PoolEvent> {
        self.inner.shared.events.subscribe()
    }

    /// Waits until `done(snapshot)` holds (re-checked on every state change, not by polling);
    /// false if `timeout` passed first.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[NodeSnapshot]) -> bool,
    ) -> bool {
        let mut changed = self.inner.shared.changed.subscribe();
        let wait = async {
            loop {
                changed.borrow_and_update();
                if done(&self.snapshot()) {
                    return;
                }
                if changed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    pub(crate) fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    fn read_nodes(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.inner
            .nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_nodes(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.inner
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn node(&self, name: &str) -> Result<Arc<NodeHandle>, MediaError> {
        self.read_nodes()
            .get(name)
            .map(|e| e.handle.clone())
            .ok_or_else(|| MediaError::UnknownNode(name.to_owned()))
    }

    fn session_node(&self, session_id: &str) -> Result<Arc<NodeHandle>, MediaError> {
        let name = self
            .node_of(session_id)
            .ok_or_else(|| MediaError::UnknownSession(session_id.to_owned()))?;
        self.node(&name)
    }
}
