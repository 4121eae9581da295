//! The location service (RFC 3261 §10.3): bindings of contact addresses to addresses-of-record, behind a
//! trait so a shared store (Redis) can replace the in-memory default. Times are seconds on the caller's
//! clock (the driver passes wall-clock Unix seconds so a shared store can compare them across nodes).

use std::collections::{BTreeSet, HashMap};

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
    /// URIs compare as strings: the driver hands them in one normal form (RFC 3261 §19.1.4 comparison —
    /// case-insensitive scheme and host, parameter order — is the SIP layer's job).
    pub fn key(&self) -> &str {
        self.instance.as_deref().unwrap_or(&self.uri)
    }
}

/// Storage of bindings.
///
/// Synchronous on purpose: the in-memory store never blocks, and the registrar is sans-IO. A shared store
/// (Redis) implements it over a local cache kept current by its driver, or the trait gains an async twin
/// then; times are wall-clock Unix seconds so nodes agree on expiry. Implementations keep each AOR's
/// bindings in insertion order and identify a binding within its AOR by [`Binding::key`].
pub trait LocationStore: Send {
    /// Bindings of an AOR (expired ones may be included; callers filter by time).
    fn bindings(&self, aor: &Aor) -> Vec<Binding>;
    /// Inserts or replaces the binding with the same [`Binding::key`].
    fn upsert(&mut self, aor: &Aor, binding: Binding);
    /// Removes one binding by key.
    fn remove(&mut self, aor: &Aor, key: &str) -> Option<Binding>;
    /// Removes every binding of an AOR and returns them.
    fn remove_all(&mut self, aor: &Aor) -> Vec<Binding> {
        let all = self.bindings(aor);
        all.into_iter()
            .filter_map(|b| self.remove(aor, b.key()))
            .collect()
    }
    /// Every AOR with at least one binding.
    fn aors(&self) -> Vec<Aor>;
    /// Total bindings.
    fn count(&self) -> usize;
    /// Removes and returns every binding whose `expires_at <= now`. The driver calls it on a periodic tick.
    fn expire(&mut self, now: u64) -> Vec<(Aor, Binding)>;
    /// The earliest `expires_at` of any binding, if the store knows it cheaply (a driver may sleep until
    /// then). `None` means "no bindings" or "unknown": poll on a tick.
    fn next_expiry(&self) -> Option<u64> {
        None
    }
}

/// The embedded default: bindings in memory, with an expiry index so [`LocationStore::expire`] costs
/// only the bindings that lapse. Wrap it in a `Mutex` to share it between workers.
#[derive(Debug, Default)]
pub struct MemoryLocationStore {
    map: HashMap<Aor, Vec<Binding>>,
    /// (expires_at, AOR, key) of every binding.
    by_expiry: BTreeSet<(u64, Aor, String)>,
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
        let index_entry = (binding.expires_at, aor.clone(), binding.key().to_owned());
        match list.iter_mut().find(|b| b.key() == binding.key()) {
            Some(b) => {
                self.by_expiry
                    .remove(&(b.expires_at, aor.clone(), b.key().to_owned()));
                *b = binding;
            }
            None => list.push(binding),
        }
        self.by_expiry.insert(index_entry);
    }

    fn remove(&mut self, aor: &Aor, key: &str) -> Option<Binding> {
        let list = self.map.get_mut(aor)?;
        let pos = list.iter().position(|b| b.key() == key)?;
        let b = list.remove(pos);
        if list.is_empty() {
            self.map.remove(aor);
        }
        self.by_expiry
            .remove(&(b.expires_at, aor.clone(), key.to_owned()));
        Some(b)
    }

    fn aors(&self) -> Vec<Aor> {
        let mut v: Vec<Aor> = self.map.keys().cloned().collect();
        v.sort();
        v
    }

    fn count(&self) -> usize {
        self.by_expiry.len()
    }

    fn expire(&mut self, now: u64) -> Vec<(Aor, Binding)> {
        let mut gone = Vec::new();
        while let Some(first) = self.by_expiry.first() {
            if first.0 > now {
                break;
            }
            let Some((_, aor, key)) = self.by_expiry.pop_first() else {
                break;
            };
            if let Some(list) = self.map.get_mut(&aor) {
                if let Some(pos) = list.iter().position(|b| b.key() == key) {
                    gone.push((aor.clone(), list.remove(pos)));
                }
                if list.is_empty() {
                    self.map.remove(&aor);
                }
            }
        }
        gone
    }

    fn next_expiry(&self) -> Option<u64> {
        self.by_expiry.first().map(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(uri: &str, expires_at: u64, instance: Option<&str>) -> Binding {
        Binding {
            uri: uri.into(),
            expires_at,
            q: None,
            instance: instance.map(str::to_owned),
            reg_id: None,
            call_id: "c".into(),
            cseq: 1,
            received: "192.0.2.1:5060;transport=udp".into(),
            user_agent: None,
        }
    }

    #[test]
    fn upsert_replaces_by_key_and_reindexes_expiry() {
        let mut s = MemoryLocationStore::new();
        let a = Aor::new("alice", "Example.COM");
        s.upsert(&a, binding("sip:a@1", 100, None));
        s.upsert(&a, binding("sip:a@2", 50, Some("<urn:uuid:x>")));
        // Same instance, new URI: replaces, not adds (RFC 5626 instance identity).
        s.upsert(&a, binding("sip:a@3", 200, Some("<urn:uuid:x>")));
        assert_eq!(s.count(), 2);
        assert_eq!(s.next_expiry(), Some(100));
        assert!(s.expire(99).is_empty());
        let gone = s.expire(150);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.uri, "sip:a@1");
        assert_eq!(
            s.bindings(&Aor::new("alice", "example.com"))[0].uri,
            "sip:a@3"
        );
        assert_eq!(s.aors(), vec![a.clone()]);
        assert_eq!(s.remove_all(&a).len(), 1);
        assert_eq!((s.count(), s.next_expiry()), (0, None));
        assert!(s.aors().is_empty());
    }

    #[test]
    fn remove_by_key_updates_count_and_index() {
        let mut s = MemoryLocationStore::new();
        let a = Aor::new("bob", "example.com");
        s.upsert(&a, binding("sip:b@1", 100, None));
        assert!(s.remove(&a, "sip:b@2").is_none());
        assert_eq!(
            s.remove(&a, "sip:b@1").map(|b| b.uri),
            Some("sip:b@1".into())
        );
        assert_eq!(s.count(), 0);
        assert!(s.expire(1000).is_empty());
    }
}
