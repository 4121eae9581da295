//! Digest authentication of requests from configured users (RFC 3261 §22, RFC 7616, RFC 8760), shared by
//! REGISTER (through [`crate::Registrar`]) and, later, INVITE and other requests from users.
//!
//! Policy:
//! - `qop=auth` is required; a response without `qop` (RFC 2069) is accepted only when
//!   [`RegistrarConfig::allow_rfc2069`] is set, and then each nonce serves once.
//! - Nonces are stateless ([`NonceIssuer`]); a nonce-count not above the highest seen for that nonce is a
//!   replay. The table of counts is bounded ([`MAX_TRACKED_NONCES`]) and forgets a nonce once it is stale.
//! - No user enumeration: an unknown user, a wrong password, a bad nonce and a replay all get the same
//!   401 with a fresh challenge, and an unknown user's HA1 is computed like a real one (same hash count).
//!   `stale=true` is only said to a client that proved knowledge of the password.
//! - Challenge shape: a user whose secret is an HA1 for one hash only is offered only the algorithms of
//!   that hash. So that this does not reveal which names exist, an unknown name is offered the algorithm
//!   set of a real user chosen by a keyed hash of the name: the sets seen for unknown names follow the same
//!   distribution as those of real users, and are stable per name.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;

use crate::digest::{
    Algorithm, DigestCredentials, NonceCheck, NonceIssuer, constant_time_eq, expected_response,
    format_challenge, ha1,
};
use crate::registrar::{RegistrarConfig, Secret, User};

/// Most nonces whose counts are tracked at once; when full, new nonces are refused (fail closed) until
/// older ones age out.
pub const MAX_TRACKED_NONCES: usize = 200_000;

/// What a request offers for authentication.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// Request method (`REGISTER`, `INVITE`...), part of HA2.
    pub method: &'a str,
    /// The Request-URI as written; the digest `uri` must equal it.
    pub request_uri: &'a str,
    /// Source address; nonces are bound to it.
    pub source: IpAddr,
    /// Domain of the identity claimed (To for REGISTER, From otherwise), for users bound to a domain.
    pub domain: &'a str,
    /// User part of that identity; shapes the challenge when no credentials are sent.
    pub user: &'a str,
    /// Digest credentials for our realm, if sent.
    pub credentials: Option<&'a DigestCredentials>,
}

/// The answer to [`Authenticator::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// The credentials are right: the request comes from this user.
    Authenticated {
        /// The authenticated username.
        username: String,
    },
    /// Answer 401 (or 407 for a proxy) with these `WWW-Authenticate` values.
    Challenge {
        /// One value per algorithm, preferred first.
        www_authenticate: Vec<String>,
        /// The nonce was stale and the credentials otherwise right (`stale=true` was sent).
        stale: bool,
        /// Credentials were presented and failed (unknown user, wrong password, replay, bad nonce or
        /// parameters): count it toward lockouts. False without credentials, for another realm or stale.
        failed: bool,
    },
}

/// Highest nonce-count seen per nonce (RFC 7616 §3.4.5 replay protection).
#[derive(Debug, Default)]
struct NonceCounts {
    seen: HashMap<String, (u32, u64)>,
}

impl NonceCounts {
    /// Records `nc` if above any seen for `nonce`; false means replay or a full table.
    fn accept(&mut self, nonce: &str, nc: u32, forget_at: u64, now: u64) -> bool {
        if let Some((last, _)) = self.seen.get_mut(nonce) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        if self.seen.len() >= MAX_TRACKED_NONCES {
            self.expire(now);
            if self.seen.len() >= MAX_TRACKED_NONCES {
                return false;
            }
        }
        self.seen.insert(nonce.to_owned(), (nc, forget_at));
        true
    }

    fn expire(&mut self, now: u64) {
        self.seen.retain(|_, (_, at)| *at > now);
    }
}

/// Verifies digest credentials against configured users and issues challenges. Sans-IO: time comes in
/// as `now` (seconds), the nonce key from the caller.
pub struct Authenticator {
    realm: String,
    algorithms: Vec<Algorithm>,
    allow_rfc2069: bool,
    users: HashMap<String, Vec<User>>,
    /// The algorithm set offered to each configured user, in configuration order.
    profiles: Vec<Vec<Algorithm>>,
    nonces: NonceIssuer,
    counts: NonceCounts,
    opaque: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("realm", &self.realm)
            .field("users", &self.profiles.len())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `config.realm` with `config.algorithms`; `secret` keys nonces and opaque.
    pub fn new(
        config: &RegistrarConfig,
        users: Vec<User>,
        secret: [u8; 32],
        nonce_lifetime: u64,
    ) -> Authenticator {
        let profiles = users
            .iter()
            .map(|u| offered(&config.algorithms, &u.secret))
            .collect();
        let mut by_name: HashMap<String, Vec<User>> = HashMap::new();
        for u in users {
            by_name.entry(u.username.clone()).or_default().push(u);
        }
        let nonces = NonceIssuer::new(secret, nonce_lifetime);
        let opaque = nonces.opaque(&config.realm);
        Authenticator {
            realm: config.realm.clone(),
            algorithms: config.algorithms.clone(),
            allow_rfc2069: config.allow_rfc2069,
            users: by_name,
            profiles,
            nonces,
            counts: NonceCounts::default(),
            opaque,
        }
    }

    /// The realm challenged for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Fresh `WWW-Authenticate` values for `user`@`domain` at `source`, preferred algorithm first.
    pub fn challenge(
        &self,
        user: &str,
        domain: &str,
        source: IpAddr,
        now: u64,
        stale: bool,
    ) -> Vec<String> {
        let nonce = self.nonces.issue(now, source, &self.realm);
        self.algorithms_for(user, domain)
            .into_iter()
            .map(|a| format_challenge(&self.realm, &nonce, &self.opaque, a, stale))
            .collect()
    }

    /// Forgets nonce-counts of nonces that are stale by `now`; call about once a second.
    pub fn expire(&mut self, now: u64) {
        self.counts.expire(now);
    }

    fn find_user(&self, username: &str, domain: &str) -> Option<&User> {
        self.users.get(username)?.iter().find(|u| {
            u.domain
                .as_deref()
                .is_none_or(|d| d.eq_ignore_ascii_case(domain))
        })
    }

    fn algorithms_for(&self, user: &str, domain: &str) -> Vec<Algorithm> {
        // The keyed draw is made for every name, known or not, so both take the same time.
        let draw = self.nonces.keyed_u64(b"profile", user.as_bytes());
        if let Some(u) = self.find_user(user, domain) {
            return offered(&self.algorithms, &u.secret);
        }
        let n = self.profiles.len() as u64;
        if n == 0 {
            return self.algorithms.clone();
        }
        usize::try_from(draw % n)
            .ok()
            .and_then(|i| self.profiles.get(i))
            .cloned()
            .unwrap_or_else(|| self.algorithms.clone())
    }

    /// Checks a request's credentials at `now` (seconds).
    pub fn verify(&mut self, req: &AuthRequest<'_>, now: u64) -> AuthDecision {
        let Some(c) = req.credentials else {
            return self.decide_challenge(req, req.user, now, false, false);
        };
        if c.realm != self.realm {
            // Credentials for another realm are not for us (RFC 3261 §22.4): challenge for ours.
            return self.decide_challenge(req, req.user, now, false, false);
        }
        match self.check(req, c, now) {
            Check::Ok => AuthDecision::Authenticated {
                username: c.username.clone(),
            },
            Check::Stale => self.decide_challenge(req, &c.username, now, true, false),
            Check::Fail => self.decide_challenge(req, &c.username, now, false, true),
        }
    }

    fn decide_challenge(
        &self,
        req: &AuthRequest<'_>,
        user: &str,
        now: u64,
        stale: bool,
        failed: bool,
    ) -> AuthDecision {
        AuthDecision::Challenge {
            www_authenticate: self.challenge(user, req.domain, req.source, now, stale),
            stale,
            failed,
        }
    }

    fn check(&mut self, req: &AuthRequest<'_>, c: &DigestCredentials, now: u64) -> Check {
        let alg = match c.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) if self.algorithms.contains(&a) => a,
                _ => return Check::Fail,
            },
        };
        // nc for replay tracking: a legacy (RFC 2069) response counts as nc=1, so its nonce serves once.
        let nc = match (c.qop.as_deref(), c.nc.as_deref(), c.cnonce.as_deref()) {
            (Some(q), Some(nc), Some(cn))
                if q.eq_ignore_ascii_case("auth")
                    && nc.len() == 8
                    && nc.bytes().all(|b| b.is_ascii_hexdigit())
                    && !cn.is_empty() =>
            {
                match u32::from_str_radix(nc, 16) {
                    Ok(n) if n > 0 => n,
                    _ => return Check::Fail,
                }
            }
            (None, None, None) if self.allow_rfc2069 && !alg.is_sess() => 1,
            _ => return Check::Fail,
        };
        let nonce = self.nonces.check(&c.nonce, now, req.source, &self.realm);
        if nonce == NonceCheck::Invalid
            || c.uri != req.request_uri
            || c.opaque.as_deref().is_some_and(|o| o != self.opaque)
        {
            return Check::Fail;
        }
        // Every path hashes the same number of times: an unknown user, or a user without an HA1 for this
        // hash, is checked against an HA1 of a secret nobody knows.
        let user = self.find_user(&c.username, req.domain);
        let dummy = || ha1(alg, &c.username, &self.realm, &self.opaque);
        let (ha1, real) = match user.map(|u| &u.secret) {
            Some(Secret::Password(p)) => (ha1(alg, &c.username, &self.realm, p), true),
            Some(Secret::Ha1 { md5, sha256 }) => {
                let spare = dummy();
                let stored = match alg.base() {
                    Algorithm::Sha256 => sha256,
                    _ => md5,
                };
                match stored {
                    Some(h) => {
                        black_box(spare);
                        (h.to_ascii_lowercase(), true)
                    }
                    None => (spare, false),
                }
            }
            None => (dummy(), false),
        };
        let expected = expected_response(alg, &ha1, req.method, c);
        let matches = constant_time_eq(
            expected.as_bytes(),
            c.response.to_ascii_lowercase().as_bytes(),
        );
        if !(matches && real) {
            return Check::Fail;
        }
        let NonceCheck::Valid { issued } = nonce else {
            return Check::Stale;
        };
        let forget_at = issued
            .saturating_add(self.nonces.lifetime())
            .saturating_add(1);
        if !self.counts.accept(&c.nonce, nc, forget_at, now) {
            return Check::Fail;
        }
        Check::Ok
    }
}

enum Check {
    Ok,
    Stale,
    Fail,
}

/// The configured algorithms a secret can answer: all for a password, those of the hashes with an HA1
/// otherwise; all when that leaves none (such a user cannot authenticate anyway).
fn offered(algorithms: &[Algorithm], secret: &Secret) -> Vec<Algorithm> {
    let set: Vec<Algorithm> = match secret {
        Secret::Password(_) => algorithms.to_vec(),
        Secret::Ha1 { md5, sha256 } => algorithms
            .iter()
            .copied()
            .filter(|a| match a.base() {
                Algorithm::Sha256 => sha256.is_some(),
                _ => md5.is_some(),
            })
            .collect(),
    };
    if set.is_empty() {
        algorithms.to_vec()
    } else {
        set
    }
}
