//! The counters of the Redis link of shared registrations (`redis_link`), and their `/metrics`
//! samples.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of the link, read by `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct LinkStats {
    pub(super) up: AtomicBool,
    pub(super) replicated: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) pending: AtomicU64,
    pub(super) applied: AtomicU64,
    pub(super) resyncs: AtomicU64,
}

/// A snapshot of [`LinkStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SharedRegistrationStatus {
    /// Whether the link to Redis is up (subscribed and resynchronised).
    pub(crate) redis_up: bool,
    /// Local changes written to Redis and announced.
    pub(crate) replicated: u64,
    /// Local changes whose write failed (retried after reconnecting) or that were dropped.
    pub(crate) failed: u64,
    /// Local changes waiting for Redis (queued while it is away).
    pub(crate) pending: u64,
    /// Other nodes' changes applied to the local replica.
    pub(crate) applied: u64,
    /// Resynchronisations with Redis (one per connect).
    pub(crate) resyncs: u64,
}

impl SharedRegistrationStatus {
    /// `/metrics` samples: (name, type, help, value).
    pub(crate) fn metrics(&self) -> Vec<(&'static str, &'static str, &'static str, f64)> {
        vec![
            (
                "switchboard_registrations_redis_up",
                "gauge",
                "1 while the link to the Redis shared by signaling nodes for registrations is up, else 0.",
                if self.redis_up { 1.0 } else { 0.0 },
            ),
            (
                "switchboard_registrations_replicated_total",
                "counter",
                "Local binding changes written to the shared Redis and announced to the other nodes.",
                self.replicated as f64,
            ),
            (
                "switchboard_registrations_replication_failed_total",
                "counter",
                "Local binding changes whose write to the shared Redis failed (retried after reconnecting) \
                 or that were dropped while Redis was away.",
                self.failed as f64,
            ),
            (
                "switchboard_registrations_replication_pending",
                "gauge",
                "Local binding changes waiting for the shared Redis (queued while it is away).",
                self.pending as f64,
            ),
            (
                "switchboard_registrations_applied_total",
                "counter",
                "Binding changes made by other signaling nodes applied to this node's location service.",
                self.applied as f64,
            ),
            (
                "switchboard_registrations_resyncs_total",
                "counter",
                "Resynchronisations of the location service with the shared Redis (one per connect).",
                self.resyncs as f64,
            ),
        ]
    }
}

impl LinkStats {
    pub(crate) fn snapshot(&self) -> SharedRegistrationStatus {
        SharedRegistrationStatus {
            redis_up: self.up.load(Ordering::Relaxed),
            replicated: self.replicated.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
        }
    }
}
