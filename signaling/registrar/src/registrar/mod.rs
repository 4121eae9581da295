//! REGISTER processing (RFC 3261 §10.3) with digest authentication: a sans-IO [`Registrar`] that takes an
//! already-parsed [`RegisterRequest`] and `now` (seconds) and returns a [`RegisterResponse`] and events.

use std::net::IpAddr;

use crate::auth::Authenticator;
use crate::digest::{Algorithm, DigestCredentials};
use crate::location::{Aor, LocationStore};

/// Registrar settings, with the defaults documented on each field.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Digest realm. Default `switchboard`.
    pub realm: String,
    /// Domains served; empty accepts any. Default empty.
    pub domains: Vec<String>,
    /// Shortest accepted non-zero expiry (423 below). Default 60.
    pub min_expires: u32,
    /// Longest granted expiry; longer requests are shortened. Default 7200.
    pub max_expires: u32,
    /// Expiry when the request gives none. Default 3600.
    pub default_expires: u32,
    /// Cap on contacts per AOR. Default 10.
    pub max_contacts_per_aor: usize,
    /// Cap on all bindings. Default 100 000.
    pub max_bindings: usize,
    /// Algorithms offered, in challenge order. Default SHA-256 then MD5 (RFC 8760 §2.4: preferred first).
    /// `MD5-sess` / `SHA-256-sess` are accepted only when listed here.
    pub algorithms: Vec<Algorithm>,
    /// Accept responses without `qop` (RFC 2069 legacy clients); each nonce then serves once. Default
    /// false: such a response is refused like a wrong password.
    pub allow_rfc2069: bool,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "switchboard".into(),
            domains: Vec::new(),
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            max_contacts_per_aor: 10,
            max_bindings: 100_000,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            allow_rfc2069: false,
        }
    }
}

/// How a user proves who they are.
#[derive(Debug, Clone)]
pub enum Secret {
    /// A plain password.
    Password(String),
    /// Pre-hashed HA1 values (lower-case hex) per algorithm.
    Ha1 {
        /// H(user:realm:password) with MD5.
        md5: Option<String>,
        /// The same with SHA-256.
        sha256: Option<String>,
    },
}

/// A configured account.
#[derive(Debug, Clone)]
pub struct User {
    /// Digest username and AOR user part.
    pub username: String,
    /// Domain the account belongs to; `None` matches any served domain.
    pub domain: Option<String>,
    /// Password or HA1.
    pub secret: Secret,
}

/// The Contact header of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactsSpec {
    /// No Contact: a query for the current bindings.
    None,
    /// `Contact: *`.
    Wildcard,
    /// Contacts to add, refresh or remove.
    List(Vec<ContactInput>),
}

/// One Contact of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactInput {
    /// The contact URI (without the angle brackets).
    pub uri: String,
    /// `expires` parameter.
    pub expires: Option<u32>,
    /// `q` in thousandths.
    pub q: Option<u16>,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
}

/// What the registrar needs from a REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// AOR from the To header.
    pub aor: Aor,
    /// The Request-URI as written (checked against the digest `uri`).
    pub request_uri: String,
    /// Source address of the request (nonces are bound to it).
    pub source: IpAddr,
    /// `ip:port;transport` for the binding's `received` field.
    pub received: String,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Contact header.
    pub contacts: ContactsSpec,
    /// Expires header.
    pub expires: Option<u32>,
    /// Digest credentials for our realm, if sent.
    pub credentials: Option<DigestCredentials>,
    /// User-Agent header.
    pub user_agent: Option<String>,
}

/// A current binding as listed in a 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingView {
    /// Contact URI.
    pub uri: String,
    /// Seconds left.
    pub expires: u64,
    /// `q` in thousandths.
    pub q: Option<u16>,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
    /// Where the REGISTER came from (`ip:port;transport=udp`): how to reach a client behind NAT.
    pub received: String,
}

/// A change in the location service, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// A new binding.
    Added {
        /// AOR.
        aor: Aor,
        /// Contact URI.
        contact: String,
        /// Granted expiry (seconds).
        expires: u32,
    },
    /// An existing binding renewed.
    Refreshed {
        /// AOR.
        aor: Aor,
        /// Contact URI.
        contact: String,
        /// Granted expiry (seconds).
        expires: u32,
    },
    /// Removed by the client (expires=0 or `*`) or by an operator.
    Removed {
        /// AOR.
        aor: Aor,
        /// Contact URI.
        contact: String,
    },
    /// Lapsed without refresh.
    Expired {
        /// AOR.
        aor: Aor,
        /// Contact URI.
        contact: String,
    },
    /// Authentication failed (wrong password, unknown user, replay, bad nonce).
    AuthFailed {
        /// The username claimed.
        username: String,
        /// Source address.
        source: IpAddr,
    },
}

/// The registrar's answer. Statuses:
/// - 200: done (or a fetch); `contacts` lists every current binding (§10.3 step 8).
/// - 401: no, wrong, replayed or stale credentials, or an unknown user (the same answer for all; `stale`
///   only after a right password); `www_authenticate` holds the fresh challenges.
/// - 403: domain not served, authenticated user does not own the AOR, or too many contacts.
/// - 400: `Contact: *` without `Expires: 0` or beside other contacts, `q` above 1.
/// - 423: an interval below `min_expires` (and below one hour); `min_expires` is set.
/// - 500: out-of-order REGISTER (same Call-ID, CSeq not above the binding's; §10.3 step 7).
/// - 503: `max_bindings` reached.
///
/// A non-200 answer changes no binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Current bindings (200 only).
    pub contacts: Vec<BindingView>,
    /// `WWW-Authenticate` values (401 only).
    pub www_authenticate: Vec<String>,
    /// `Min-Expires` (423 only).
    pub min_expires: Option<u32>,
}

impl RegisterResponse {
    fn plain(status: u16, reason: &'static str) -> RegisterResponse {
        RegisterResponse {
            status,
            reason,
            contacts: Vec::new(),
            www_authenticate: Vec::new(),
            min_expires: None,
        }
    }
}

/// The registrar: authentication and the location store.
pub struct Registrar<S: LocationStore> {
    config: RegistrarConfig,
    auth: Authenticator,
    store: S,
}

impl<S: LocationStore + std::fmt::Debug> std::fmt::Debug for Registrar<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("config", &self.config)
            .field("auth", &self.auth)
            .field("store", &self.store)
            .finish()
    }
}

mod process;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod more_tests;
