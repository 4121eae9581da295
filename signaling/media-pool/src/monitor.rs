//! The two background tasks of every node: the Health poll (up / down / draining) and the
//! WatchEvents subscription that forwards media events as [`PoolEvent`]s, re-subscribing
//! whenever the stream ends. Both are aborted when the node leaves the pool.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use switchboard_proto::v1::{self as pb, media_event};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::node::NodeHandle;
use crate::state::NodeStatus;

/// What the pool publishes on [`crate::MediaPool::subscribe`].
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// A media event from a node (DTMF digit, RTP timeout, session released).
    Media {
        /// The node that raised it.
        node: String,
        /// The event as the node sent it (session id, call id, time, kind).
        event: pb::MediaEvent,
    },
    /// A node changed state (e.g. went down: its calls need moving or hanging up).
    NodeStatus {
        /// Node name.
        node: String,
        /// The new state.
        status: NodeStatus,
        /// The last error when the node went down.
        reason: Option<String>,
    },
}

/// State shared by the pool and the node tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) events: broadcast::Sender<PoolEvent>,
    /// Bumped on every node state change (for [`crate::MediaPool::wait_until`]).
    pub(crate) changed: watch::Sender<u64>,
    /// Session id → node name.
    sessions: Mutex<HashMap<String, String>>,
    /// Session ids asked for by AllocateSession calls in flight.
    allocating: Mutex<HashSet<String>>,
    pub(crate) health_interval: Duration,
    pub(crate) down_after: u32,
    pub(crate) event_retry: Duration,
}

impl Shared {
    pub(crate) fn new(
        capacity: usize,
        health_interval: Duration,
        down_after: u32,
        event_retry: Duration,
    ) -> Self {
        Self {
            events: broadcast::channel(capacity.max(1)).0,
            changed: watch::channel(0).0,
            sessions: Mutex::new(HashMap::new()),
            allocating: Mutex::new(HashSet::new()),
            health_interval,
            down_after,
            event_retry,
        }
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn allocating(&self) -> MutexGuard<'_, HashSet<String>> {
        self.allocating
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn publish(&self, event: PoolEvent) {
        // No subscriber is fine: events are informational for whoever listens.
        let _ = self.events.send(event);
    }

    /// Publishes a status change of `node`.
    pub(crate) fn status_changed(&self, node: &NodeHandle, status: NodeStatus) {
        let reason = match status {
            NodeStatus::Down => node.state().last_error.clone(),
            _ => None,
        };
        tracing::info!(
            node = node.name(),
            status = status.as_str(),
            ?reason,
            "media node state"
        );
        self.publish(PoolEvent::NodeStatus {
            node: node.name().to_owned(),
            status,
            reason,
        });
    }
}

/// Aborts the task when dropped.
#[derive(Debug)]
pub(crate) struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the Health poll and the event subscription of `node`.
pub(crate) fn spawn(node: &Arc<NodeHandle>, shared: &Arc<Shared>) -> [TaskGuard; 2] {
    [
        TaskGuard(tokio::spawn(health_loop(node.clone(), shared.clone()))),
        TaskGuard(tokio::spawn(event_loop(node.clone(), shared.clone()))),
    ]
}

/// Polls Health every `health_interval` (first poll at once).
async fn health_loop(node: Arc<NodeHandle>, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.health_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let answer = node.health().await;
        let change = {
            let mut state = node.state();
            match answer {
                Ok(h) => state.on_health(h),
                Err(status) => state.on_health_error(
                    format!("Health: {:?}: {}", status.code(), status.message()),
                    shared.down_after,
                ),
            }
        };
        if let Some(status) = change {
            shared.status_changed(&node, status);
        }
        shared.bump();
    }
}

/// Subscribes to WatchEvents and forwards every event; re-subscribes after `event_retry`
/// whenever the subscription fails or the stream ends.
async fn event_loop(node: Arc<NodeHandle>, shared: Arc<Shared>) {
    loop {
        match node.watch_events().await {
            Ok(mut stream) => {
                node.state().events_connected = true;
                shared.bump();
                loop {
                    match stream.message().await {
                        Ok(Some(event)) => forward(&node, &shared, event),
                        Ok(None) => break,
                        Err(status) => {
                            node.state().last_error = Some(format!(
                                "WatchEvents: {:?}: {}",
                                status.code(),
                                status.message()
                            ));
                            break;
                        }
                    }
                }
                node.state().events_connected = false;
                shared.bump();
            }
            Err(status) => {
                tracing::debug!(node = node.name(), error = %status, "WatchEvents subscription failed");
            }
        }
        tokio::time::sleep(shared.event_retry).await;
    }
}

fn forward(node: &NodeHandle, shared: &Shared, event: pb::MediaEvent) {
    if let Some(media_event::Kind::Released(_)) = event.kind {
        let mut sessions = shared.sessions();
        if sessions.get(&event.session_id).map(String::as_str) == Some(node.name()) {
            sessions.remove(&event.session_id);
            drop(sessions);
            shared.bump();
        }
    }
    shared.publish(PoolEvent::Media {
        node: node.name().to_owned(),
        event,
    });
}
