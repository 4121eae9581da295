//! The location service (RFC 3261 §10.3): bindings of contact addresses to addresses-of-record, behind a
//! trait so a shared store (Redis) can replace the in-memory default. Times are seconds on the caller's
//! clock (the driver passes wall-clock Unix seconds so a shared store can compare them across nodes).

use std::collections::HashMap;

/// An address-of-record: user and domain, compared case-insensitively on the domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor {
    /// User part.
    pub user: String,
    /// Domain, lower-cased.
    pub domain: String,
}

impl Aor {
    /// Builds an AOR, normalising the domain's case.
    pub fn new(user: &str, domain: &str) -> Aor {
        Aor {
            user: user.to_owned(),
            domain: domain.to_ascii_lowercase(),
        }
    }
}

impl std::fmt::Display for Aor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sip:{}@{}", self.user, self.domain)
    }
}

/// One contact bound to an AOR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI as registered.
    pub uri: String,
    /// When the binding lapses (seconds).
    pub expires_at: u64,
    /// `q` in thousandths (RFC 3261 §20.10), if given.
    pub q: Option<u16>,
    /// `+sip.instance` (RFC 5626), if given.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626), if given.
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER that last updated it (§10.3 step 7).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Where that REGISTER came from (`ip:port` and transport), for reaching a client behind NAT.
    pub received: String,
    /// The client's User-Agent, if it sent one.
    pub user_agent: Option<String>,
}

impl Binding {
    /// The key that identifies a binding within its AOR: the instance ID when present, else the URI.
    pub fn key(&self) -> &str {
        self.instance.as_deref().unwrap_or(&self.uri)
    }
}

/// Storage of bindings.
///
/// Synchronous on purpose: the in-memory store never blocks, and a networked store is expected to be
/// driven from the registrar's owner with its own cache. Implementations keep bindings in insertion order.
pub trait LocationStore: Send {
    /// Bindings of an AOR (expired ones may be included; callers filter by time).
    fn bindings(&self, aor: &Aor) -> Vec<Binding>;
    /// Inserts or replaces the binding with the same [`Binding::key`].
    fn upsert(&mut self, aor: &Aor, binding: Binding);
    /// Removes one binding by key.
    fn remove(&mut self, aor: &Aor, key: &str) -> Option<Binding>;
    /// Every AOR with at least one binding.
    fn aors(&self) -> Vec<Aor>;
    /// Total bindings.
    fn count(&self) -> usize;
    /// Removes and returns every binding whose `expires_at <= now`. The driver calls it on a periodic tick.
    fn expire(&mut self, now: u64) -> Vec<(Aor, Binding)>;
}

/// The embedded default: bindings in memory.
#[derive(Debug, Default)]
pub struct MemoryLocationStore {
    map: HashMap<Aor, Vec<Binding>>,
    count: usize,
}

impl MemoryLocationStore {
    /// An empty store.
    pub fn new() -> MemoryLocationStore {
        MemoryLocationStore::default()
    }
}

impl LocationStore for MemoryLocationStore {
    fn bindings(&self, aor: &Aor) -> Vec<Binding> {
        self.map.get(aor).cloned().unwrap_or_default()
    }

    fn upsert(&mut self, aor: &Aor, binding: Binding) {
        let list = self.map.entry(aor.clone()).or_default();
        match list.iter_mut().find(|b| b.key() == binding.key()) {
            Some(b) => *b = binding,
            None => {
                list.push(binding);
                self.count += 1;
            }
        }
    }

    fn remove(&mut self, aor: &Aor, key: &str) -> Option<Binding> {
        let list = self.map.get_mut(aor)?;
        let pos = list.iter().position(|b| b.key() == key)?;
        let b = list.remove(pos);
        self.count -= 1;
        if list.is_empty() {
            self.map.remove(aor);
        }
        Some(b)
    }

    fn aors(&self) -> Vec<Aor> {
        let mut v: Vec<Aor> = self.map.keys().cloned().collect();
        v.sort();
        v
    }

    fn count(&self) -> usize {
        self.count
    }

    fn expire(&mut self, now: u64) -> Vec<(Aor, Binding)> {
        let mut gone = Vec::new();
        self.map.retain(|aor, list| {
            list.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    gone.push((aor.clone(), b.clone()));
                }
                live
            });
            !list.is_empty()
        });
        self.count -= gone.len();
        gone
    }
}
