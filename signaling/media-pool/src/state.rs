//! What the pool knows about each node (`NodeState`, updated from Health answers and from the
//! pool's own allocations) and the selection order of `rank`. No I/O here.

use std::cmp::Ordering;

use switchboard_proto::v1 as pb;

/// A node's state as seen by the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Added, no Health answer yet: gets no sessions.
    Unknown,
    /// Healthy and accepting sessions.
    Up,
    /// Healthy but draining: keeps its sessions, gets no new ones.
    Draining,
    /// Failing health checks or unreachable: gets no new sessions.
    Down,
}

impl NodeStatus {
    /// Lower-case name for /health and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Unknown => "unknown",
            NodeStatus::Up => "up",
            NodeStatus::Draining => "draining",
            NodeStatus::Down => "down",
        }
    }
}

/// One node in [`crate::MediaPool::snapshot`] (for /health and metrics).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeSnapshot {
    /// Node name.
    pub name: String,
    /// gRPC URI.
    pub grpc_uri: String,
    /// Configured weight.
    pub weight: u32,
    /// Current state.
    pub status: NodeStatus,
    /// Sessions on the node (last Health, plus the pool's own changes since).
    pub sessions: u32,
    /// The node's session limit (0 before the first Health answer).
    pub max_sessions: u32,
    /// Free RTP/RTCP port pairs.
    pub free_ports: u32,
    /// Total port pairs.
    pub total_ports: u32,
    /// Load 0.0..=1.0 as reported by the node.
    pub load: f64,
    /// Sessions a new allocation could still take (what selection weighs).
    pub free_sessions: u32,
    /// Consecutive failed health checks.
    pub failures: u32,
    /// The last error seen (Health or any call), if any.
    pub last_error: Option<String>,
    /// Whether the pool's event stream from this node is subscribed.
    pub events_connected: bool,
}

/// Mutable per-node knowledge.
#[derive(Debug, Clone)]
pub(crate) struct NodeState {
    pub(crate) status: NodeStatus,
    pub(crate) health: Option<pb::HealthResponse>,
    pub(crate) failures: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) events_connected: bool,
    /// AllocateSession calls in flight (counted as used so concurrent calls spread out).
    pub(crate) pending: u32,
}

impl NodeState {
    pub(crate) fn new() -> Self {
        Self {
            status: NodeStatus::Unknown,
            health: None,
            failures: 0,
            last_error: None,
            events_connected: false,
            pending: 0,
        }
    }

    /// A Health answer arrived; returns the new status if it changed.
    pub(crate) fn on_health(&mut self, h: pb::HealthResponse) -> Option<NodeStatus> {
        self.failures = 0;
        let status = if h.draining {
            NodeStatus::Draining
        } else {
            NodeStatus::Up
        };
        self.health = Some(h);
        self.set(status)
    }

    /// A Health call failed; after `down_after` consecutive failures the node is down.
    pub(crate) fn on_health_error(&mut self, error: String, down_after: u32) -> Option<NodeStatus> {
        self.failures = self.failures.saturating_add(1);
        self.last_error = Some(error);
        if self.failures >= down_after.max(1) {
            // A node that stops answering is treated as lost with its sessions (signaling moves
            // or ends their calls), so it no longer counts them.
            if let Some(h) = self.health.as_mut() {
                h.sessions = 0;
            }
            self.set(NodeStatus::Down)
        } else {
            None
        }
    }

    /// The node was told to drain (or undrain) and acknowledged it.
    pub(crate) fn on_drain(&mut self, draining: bool) -> Option<NodeStatus> {
        if let Some(h) = self.health.as_mut() {
            h.draining = draining;
        }
        match (self.status, draining) {
            (NodeStatus::Up, true) => self.set(NodeStatus::Draining),
            (NodeStatus::Draining, false) => self.set(NodeStatus::Up),
            _ => None,
        }
    }

    fn set(&mut self, status: NodeStatus) -> Option<NodeStatus> {
        (self.status != status).then(|| {
            self.status = status;
            status
        })
    }

    /// Sessions one more allocation could take, by session limit and by port pairs (two per
    /// session), less the allocations in flight.
    pub(crate) fn free_sessions(&self) -> u32 {
        self.health.as_ref().map_or(0, |h| {
            h.max_sessions
                .saturating_sub(h.sessions)
                .min(h.free_ports / 2)
                .saturating_sub(self.pending)
        })
    }

    /// Accounts for a session the pool just placed (until the next Health answer).
    pub(crate) fn on_allocated(&mut self) {
        if let Some(h) = self.health.as_mut() {
            h.sessions = h.sessions.saturating_add(1);
            h.free_ports = h.free_ports.saturating_sub(2);
        }
    }

    /// Accounts for a session the pool just released (until the next Health answer).
    pub(crate) fn on_released(&mut self) {
        if let Some(h) = self.health.as_mut() {
            h.sessions = h.sessions.saturating_sub(1);
            h.free_ports = h.free_ports.saturating_add(2).min(h.total_ports);
        }
    }

    pub(crate) fn snapshot(&self, name: &str, grpc_uri: &str, weight: u32) -> NodeSnapshot {
        let h = self.health.unwrap_or_default();
        NodeSnapshot {
            name: name.to_owned(),
            grpc_uri: grpc_uri.to_owned(),
            weight,
            status: self.status,
            sessions: h.sessions,
            max_sessions: h.max_sessions,
            free_ports: h.free_ports,
            total_ports: h.total_ports,
            load: h.load,
            free_sessions: self.free_sessions(),
            failures: self.failures,
            last_error: self.last_error.clone(),
            events_connected: self.events_connected,
        }
    }
}

/// A node eligible for a new session and what selection weighs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) name: String,
    pub(crate) free_sessions: u32,
    pub(crate) weight: u32,
    pub(crate) load: f64,
}

impl Candidate {
    /// Only `Up` nodes are candidates.
    pub(crate) fn of(name: &str, weight: u32, state: &NodeState) -> Option<Self> {
        (state.status == NodeStatus::Up).then(|| Candidate {
            name: name.to_owned(),
            free_sessions: state.free_sessions(),
            weight,
            load: state.health.as_ref().map_or(1.0, |h| h.load),
        })
    }
}

/// Orders candidates best first: most weighted free sessions, then lowest load, then name (so
/// the order is deterministic). Nodes reported full stay at the end: their Health may be stale.
pub(crate) fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by(|x, y| {
        let score = |c: &Candidate| u64::from(c.free_sessions) * u64::from(c.weight);
        score(y)
            .cmp(&score(x))
            .then_with(|| x.load.partial_cmp(&y.load).unwrap_or(Ordering::Equal))
            .then_with(|| x.name.cmp(&y.name))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(sessions: u32, max: u32, free_ports: u32) -> pb::HealthResponse {
        pb::HealthResponse {
            sessions,
            max_sessions: max,
            free_ports,
            total_ports: 100,
            load: f64::from(sessions) / f64::from(max.max(1)),
            ..Default::default()
        }
    }

    fn up(name: &str, weight: u32, h: pb::HealthResponse) -> Candidate {
        let mut s = NodeState::new();
        s.on_health(h);
        Candidate::of(name, weight, &s).expect("up")
    }

    #[test]
    fn free_capacity_is_the_smaller_of_session_limit_and_port_pairs() {
        let mut s = NodeState::new();
        assert_eq!(s.free_sessions(), 0, "unknown node has no capacity");
        s.on_health(health(2, 10, 6));
        assert_eq!(s.free_sessions(), 3, "6 free pairs = 3 sessions");
        s.on_health(health(9, 10, 60));
        assert_eq!(s.free_sessions(), 1);
        s.on_allocated();
        assert_eq!(s.free_sessions(), 0);
        s.on_released();
        assert_eq!(s.free_sessions(), 1);
        s.pending = 1;
        assert_eq!(
            s.free_sessions(),
            0,
            "an allocation in flight takes the last room"
        );
    }

    #[test]
    fn rank_prefers_weighted_free_capacity_then_load_then_name() {
        let mut c = vec![
            up("a", 1, health(8, 10, 100)),
            up("b", 1, health(0, 10, 100)),
            up("c", 5, health(8, 10, 100)),
            up("d", 1, health(10, 10, 100)),
        ];
        rank(&mut c);
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a", "d"]);
    }

    #[test]
    fn down_after_consecutive_failures_and_back_when_healthy() {
        let mut s = NodeState::new();
        assert_eq!(s.on_health(health(3, 10, 10)), Some(NodeStatus::Up));
        assert_eq!(s.on_health_error("refused".into(), 2), None);
        assert_eq!(s.status, NodeStatus::Up);
        assert_eq!(s.health.as_ref().map(|h| h.sessions), Some(3));
        assert_eq!(
            s.on_health_error("refused".into(), 2),
            Some(NodeStatus::Down)
        );
        assert!(Candidate::of("n", 1, &s).is_none());
        assert_eq!(
            s.health.as_ref().map(|h| h.sessions),
            Some(0),
            "a lost node's sessions are gone"
        );
        assert_eq!(s.on_health(health(0, 10, 10)), Some(NodeStatus::Up));
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn draining_node_is_not_a_candidate() {
        let mut s = NodeState::new();
        let mut h = health(1, 10, 10);
        h.draining = true;
        assert_eq!(s.on_health(h), Some(NodeStatus::Draining));
        assert!(Candidate::of("n", 1, &s).is_none());
        assert_eq!(s.on_drain(false), Some(NodeStatus::Up));
        assert_eq!(s.on_drain(true), Some(NodeStatus::Draining));
    }
}
