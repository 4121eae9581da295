//! The location store of a node that shares registrations (DESIGN.md "Scale-out"): an in-memory
//! replica that answers every lookup locally, hands each local change to the Redis link
//! (`redis_link`) without waiting for it, and takes other nodes' changes from that link.
//!
//! What goes over the wire: a binding is stored in Redis as one key per binding holding a JSON
//! [`Entry`] (its AOR and every field of the binding) with a TTL of its remaining lifetime, and every
//! change is published as a JSON [`Announce`] carrying the node id (a node ignores its own). Expiry is
//! not announced: every node drops a lapsed binding itself, since each holds the same `expires_at`
//! (wall-clock Unix seconds: nodes' clocks must agree, as with NTP), and only the node that last
//! wrote a binding reports its expiry as an event, so the cluster reports each lapse once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use switchboard_registrar::{Aor, Binding, LocationStore, MemoryLocationStore};
use tokio::sync::mpsc;

/// A change made on this node, to be written to Redis and announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A binding added or refreshed (replaces the one with the same key).
    Upsert { aor: Aor, binding: Binding },
    /// The binding with this key removed.
    Remove { aor: Aor, key: String },
}

impl Change {
    pub(crate) fn aor(&self) -> &Aor {
        match self {
            Change::Upsert { aor, .. } | Change::Remove { aor, .. } => aor,
        }
    }

    /// The binding key within its AOR.
    pub(crate) fn key(&self) -> &str {
        match self {
            Change::Upsert { binding, .. } => binding.key(),
            Change::Remove { key, .. } => key,
        }
    }
}

/// A binding as stored in Redis (the value of its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) user: String,
    pub(crate) domain: String,
    pub(crate) uri: String,
    pub(crate) expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) q: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reg_id: Option<u32>,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) received: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
}

impl Entry {
    pub(crate) fn new(aor: &Aor, b: &Binding) -> Entry {
        Entry {
            user: aor.user.clone(),
            domain: aor.domain.clone(),
            uri: b.uri.clone(),
            expires_at: b.expires_at,
            q: b.q,
            instance: b.instance.clone(),
            reg_id: b.reg_id,
            call_id: b.call_id.clone(),
            cseq: b.cseq,
            received: b.received.clone(),
            user_agent: b.user_agent.clone(),
        }
    }

    pub(crate) fn into_parts(self) -> (Aor, Binding) {
        let aor = Aor::new(&self.user, &self.domain);
        let binding = Binding {
            uri: self.uri,
            expires_at: self.expires_at,
            q: self.q,
            instance: self.instance,
            reg_id: self.reg_id,
            call_id: self.call_id,
            cseq: self.cseq,
            received: self.received,
            user_agent: self.user_agent,
        };
        (aor, binding)
    }
}

/// One published change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Announce {
    /// A binding added or refreshed on `node`.
    Upsert { node: String, entry: Entry },
    /// A binding removed on `node` (by its client or an operator).
    Remove {
        node: String,
        user: String,
        domain: String,
        key: String,
    },
}

impl Announce {
    pub(crate) fn new(node: &str, change: &Change) -> Announce {
        let node = node.to_owned();
        match change {
            Change::Upsert { aor, binding } => Announce::Upsert {
                node,
                entry: Entry::new(aor, binding),
            },
            Change::Remove { aor, key } => Announce::Remove {
                node,
                user: aor.user.clone(),
                domain: aor.domain.clone(),
                key: key.clone(),
            },
        }
    }

    /// The node that made the change and the change itself.
    pub(crate) fn into_change(self) -> (String, Change) {
        match self {
            Announce::Upsert { node, entry } => {
                let (aor, binding) = entry.into_parts();
                (node, Change::Upsert { aor, binding })
            }
            Announce::Remove {
                node,
                user,
                domain,
                key,
            } => (
                node,
                Change::Remove {
                    aor: Aor::new(&user, &domain),
                    key,
                },
            ),
        }
    }
}

/// The registrar's store: the local replica, plus (when sharing) the queue of local changes.
pub(crate) struct SharedStore {
    local: Replica,
    changes: Option<mpsc::UnboundedSender<Change>>,
}

impl SharedStore {
    /// A store that stays in this process.
    pub(crate) fn local_only() -> SharedStore {
        SharedStore {
            local: Replica::default(),
            changes: None,
        }
    }

    /// A store whose changes go to `changes` (read by the Redis link), sharing `local` with it.
    pub(crate) fn shared(local: Replica, changes: mpsc::UnboundedSender<Change>) -> SharedStore {
        SharedStore {
            local,
            changes: Some(changes),
        }
    }

    fn send(&self, change: Change) {
        if let Some(tx) = &self.changes {
            // Fails only when the link task has stopped (shutdown): nothing left to tell.
            let _ = tx.send(change);
        }
    }
}

impl LocationStore for SharedStore {
    fn bindings(&self, aor: &Aor) -> Vec<Binding> {
        self.local.lock().store.bindings(aor)
    }

    fn upsert(&mut self, aor: &Aor, binding: Binding) {
        let mut state = self.local.lock();
        if self.changes.is_some() {
            state.own.insert((aor.clone(), binding.key().to_owned()));
        }
        state.store.upsert(aor, binding.clone());
        drop(state);
        self.send(Change::Upsert {
            aor: aor.clone(),
            binding,
        });
    }

    fn remove(&mut self, aor: &Aor, key: &str) -> Option<Binding> {
        let gone = {
            let mut state = self.local.lock();
            state.own.remove(&(aor.clone(), key.to_owned()));
            state.store.remove(aor, key)?
        };
        self.send(Change::Remove {
            aor: aor.clone(),
            key: key.to_owned(),
        });
        Some(gone)
    }

    fn aors(&self) -> Vec<Aor> {
        self.local.lock().store.aors()
    }

    fn count(&self) -> usize {
        self.local.lock().store.count()
    }

    fn expire(&mut self, now: u64) -> Vec<(Aor, Binding)> {
        // Not announced: every node holds the same expiry and drops the binding itself, and Redis
        // drops its key by TTL. Reported (returned) only by the node that last wrote it.
        let mut state = self.local.lock();
        let gone = state.store.expire(now);
        if self.changes.is_none() {
            return gone;
        }
        gone.into_iter()
            .filter(|(aor, b)| state.own.remove(&(aor.clone(), b.key().to_owned())))
            .collect()
    }

    fn next_expiry(&self) -> Option<u64> {
        self.local.lock().store.next_expiry()
    }
}

/// The in-memory bindings, shared by the registrar (through [`SharedStore`]) and the Redis link.
/// Locked only for in-memory work, never across a Redis round trip.
#[derive(Clone, Default)]
pub(crate) struct Replica(Arc<Mutex<ReplicaState>>);

/// What [`Replica`] guards.
#[derive(Default)]
pub(crate) struct ReplicaState {
    /// Every node's bindings.
    pub(crate) store: MemoryLocationStore,
    /// (AOR, key) of the bindings this node wrote last (when sharing): it reports their expiry.
    own: HashSet<(Aor, String)>,
}

impl Replica {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ReplicaState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies another node's change to the replica; whether it changed anything. An upsert older than
/// the local binding from the same REGISTER dialog (same Call-ID, lower CSeq: RFC 3261 §10.3 step 7),
/// or already lapsed at `now`, is ignored. A binding another node wrote is no longer this node's.
pub(crate) fn apply(state: &mut ReplicaState, change: Change, now: u64) -> bool {
    let id = (change.aor().clone(), change.key().to_owned());
    let changed = apply_to(&mut state.store, change, now);
    if changed {
        state.own.remove(&id);
    }
    changed
}

fn apply_to(store: &mut MemoryLocationStore, change: Change, now: u64) -> bool {
    match change {
        Change::Upsert { aor, binding } => {
            if binding.expires_at <= now {
                return store.remove(&aor, binding.key()).is_some();
            }
            let current = store.bindings(&aor);
            let same = current.iter().find(|b| b.key() == binding.key());
            match same {
                Some(b) if *b == binding => false,
                Some(b) if b.call_id == binding.call_id && b.cseq > binding.cseq => false,
                _ => {
                    store.upsert(&aor, binding);
                    true
                }
            }
        }
        Change::Remove { aor, key } => store.remove(&aor, &key).is_some(),
    }
}

/// Resynchronises the replica with Redis's bindings after (re)connecting.
///
/// `replace`: Redis holds the truth (this node's queued changes were written first), so the replica
/// becomes exactly `redis`, minus lapsed bindings. Otherwise (Redis lost its data, or this node lost
/// changes it could not queue) the two are merged: the later `expires_at` wins per binding, and the
/// returned changes (bindings Redis lacks or holds an older copy of) must be written back to Redis.
pub(crate) fn resync(
    store: &mut MemoryLocationStore,
    redis: Vec<(Aor, Binding)>,
    replace: bool,
    now: u64,
) -> Vec<Change> {
    let mut theirs: std::collections::HashMap<(Aor, String), Binding> = redis
        .into_iter()
        .filter(|(_, b)| b.expires_at > now)
        .map(|(aor, b)| ((aor, b.key().to_owned()), b))
        .collect();
    let mut write_back = Vec::new();
    for aor in store.aors() {
        for mine in store.bindings(&aor) {
            let id = (aor.clone(), mine.key().to_owned());
            match theirs.remove(&id) {
                // Redis's copy wins (replaced in place: the AOR's order is kept).
                Some(other) if replace || other.expires_at >= mine.expires_at => {
                    store.upsert(&aor, other)
                }
                Some(_) => write_back.push(Change::Upsert {
                    aor: aor.clone(),
                    binding: mine,
                }),
                None if replace => {
                    store.remove(&aor, &id.1);
                }
                None if mine.expires_at > now => write_back.push(Change::Upsert {
                    aor: aor.clone(),
                    binding: mine,
                }),
                None => {}
            }
        }
    }
    for ((aor, _), b) in theirs {
        store.upsert(&aor, b);
    }
    write_back
}

#[cfg(test)]
mod tests;
