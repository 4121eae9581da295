//! The §10.3 steps: domain, authentication, contact processing, Call-ID/CSeq ordering, caps.

use super::*;
use crate::auth::{AuthDecision, AuthRequest};
use crate::location::Binding;

/// RFC 3261 §10.3 step 7: 423 only for requested intervals below one hour.
const ONE_HOUR: u32 = 3600;

impl<S: LocationStore> Registrar<S> {
    /// A registrar. `secret` keys the nonces (from the caller's random source); `nonce_lifetime` in seconds.
    pub fn new(
        config: RegistrarConfig,
        users: Vec<User>,
        secret: [u8; 32],
        nonce_lifetime: u64,
        store: S,
    ) -> Self {
        let auth = Authenticator::new(&config, users, secret, nonce_lifetime);
        Registrar {
            config,
            auth,
            store,
        }
    }

    /// The location store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The authenticator, to check requests other than REGISTER (INVITE from users) with the same users
    /// and nonces.
    pub fn authenticator_mut(&mut self) -> &mut Authenticator {
        &mut self.auth
    }

    /// Bindings in the location service.
    pub fn binding_count(&self) -> usize {
        self.store.count()
    }

    /// Current bindings of an AOR at `now`.
    pub fn bindings(&self, aor: &Aor, now: u64) -> Vec<BindingView> {
        self.store
            .bindings(aor)
            .iter()
            .filter(|b| b.expires_at > now)
            .map(|b| view(b, now))
            .collect()
    }

    /// When the next binding lapses (seconds), if the store knows: call [`Registrar::expire`] then.
    pub fn next_expiry(&self) -> Option<u64> {
        self.store.next_expiry()
    }

    /// Drops lapsed bindings and stale nonce counters; call about once a second (or at
    /// [`Registrar::next_expiry`]).
    pub fn expire(&mut self, now: u64) -> Vec<RegistrationEvent> {
        self.auth.expire(now);
        self.store
            .expire(now)
            .into_iter()
            .map(|(aor, b)| RegistrationEvent::Expired {
                aor,
                contact: b.uri,
            })
            .collect()
    }

    /// Removes every binding of `aor` on an operator's request (REST, dashboard), with `Removed` events.
    pub fn unregister(&mut self, aor: &Aor) -> Vec<RegistrationEvent> {
        self.store
            .remove_all(aor)
            .into_iter()
            .map(|b| RegistrationEvent::Removed {
                aor: aor.clone(),
                contact: b.uri,
            })
            .collect()
    }

    /// Removes the one binding of `aor` whose contact URI is `contact` (operator action), with its
    /// `Removed` event; `None` when there is no such binding.
    pub fn unregister_contact(&mut self, aor: &Aor, contact: &str) -> Option<RegistrationEvent> {
        let key = self
            .store
            .bindings(aor)
            .into_iter()
            .find(|b| b.uri == contact)?
            .key()
            .to_owned();
        let b = self.store.remove(aor, &key)?;
        Some(RegistrationEvent::Removed {
            aor: aor.clone(),
            contact: b.uri,
        })
    }

    /// Processes one REGISTER at `now` (seconds). See [`RegisterResponse`] for the answers.
    pub fn handle(
        &mut self,
        req: &RegisterRequest,
        now: u64,
    ) -> (RegisterResponse, Vec<RegistrationEvent>) {
        let mut events = Vec::new();
        // Step 1: is this registrar responsible for the domain? (Before authentication: domains are
        // public, and a foreign domain gets no challenge to grind on.)
        if !self.config.domains.is_empty()
            && !self
                .config
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&req.aor.domain))
        {
            return (
                RegisterResponse::plain(403, "Domain Not Served Here"),
                events,
            );
        }
        // Steps 3-4: authenticate, then the authenticated user must own the AOR.
        let decision = self.auth.verify(
            &AuthRequest {
                method: "REGISTER",
                request_uri: &req.request_uri,
                source: req.source,
                domain: &req.aor.domain,
                user: &req.aor.user,
                credentials: req.credentials.as_ref(),
            },
            now,
        );
        match decision {
            AuthDecision::Authenticated { username } if username != req.aor.user => {
                return (
                    RegisterResponse::plain(403, "Username Does Not Match AOR"),
                    events,
                );
            }
            AuthDecision::Authenticated { .. } => {}
            AuthDecision::Challenge {
                www_authenticate,
                failed,
                ..
            } => {
                if failed {
                    events.push(RegistrationEvent::AuthFailed {
                        username: req
                            .credentials
                            .as_ref()
                            .map(|c| c.username.clone())
                            .unwrap_or_default(),
                        source: req.source,
                    });
                }
                let resp = RegisterResponse {
                    www_authenticate,
                    ..RegisterResponse::plain(401, "Unauthorized")
                };
                return (resp, events);
            }
        }
        let resp = match &req.contacts {
            ContactsSpec::None => None,
            ContactsSpec::Wildcard => self.remove_all(req, now, &mut events),
            ContactsSpec::List(list) => self.apply_contacts(req, list, now, &mut events),
        };
        // Step 8: 200 with every current binding.
        let resp = resp.unwrap_or_else(|| RegisterResponse {
            contacts: self.bindings(&req.aor, now),
            ..RegisterResponse::plain(200, "OK")
        });
        (resp, events)
    }

    /// Step 6: `Contact: *`. Returns an error response, or `None` when done.
    fn remove_all(
        &mut self,
        req: &RegisterRequest,
        now: u64,
        events: &mut Vec<RegistrationEvent>,
    ) -> Option<RegisterResponse> {
        if req.expires != Some(0) {
            return Some(RegisterResponse::plain(
                400,
                "Wildcard Contact Requires Expires: 0",
            ));
        }
        let live = self.live_bindings(&req.aor, now);
        if live.iter().any(|b| out_of_order(b, req)) {
            return Some(out_of_order_response());
        }
        for b in live {
            if let Some(b) = self.store.remove(&req.aor, b.key()) {
                events.push(RegistrationEvent::Removed {
                    aor: req.aor.clone(),
                    contact: b.uri,
                });
            }
        }
        None
    }

    fn live_bindings(&self, aor: &Aor, now: u64) -> Vec<Binding> {
        let mut all = self.store.bindings(aor);
        all.retain(|b| b.expires_at > now);
        all
    }

    /// Step 7: each contact in turn, on a tentative copy; committed only if every one succeeds.
    fn apply_contacts(
        &mut self,
        req: &RegisterRequest,
        list: &[ContactInput],
        now: u64,
        events: &mut Vec<RegistrationEvent>,
    ) -> Option<RegisterResponse> {
        let cfg = &self.config;
        if list.iter().any(|c| c.uri.trim() == "*") {
            return Some(RegisterResponse::plain(
                400,
                "Wildcard Contact Must Be the Only Contact",
            ));
        }
        if list.iter().any(|c| c.q.is_some_and(|q| q > 1000)) {
            return Some(RegisterResponse::plain(400, "Contact q Above 1"));
        }
        if list.len() > cfg.max_contacts_per_aor {
            return Some(RegisterResponse::plain(403, "Too Many Contacts"));
        }
        let live = self.live_bindings(&req.aor, now);
        let mut next = live.clone();
        // Keys this request set, with the granted interval (0 = removed); the last mention wins.
        let mut touched: Vec<(String, u32)> = Vec::new();
        for c in list {
            let asked = c.expires.or(req.expires).unwrap_or(cfg.default_expires);
            if asked > 0 && asked < ONE_HOUR && asked < cfg.min_expires {
                return Some(RegisterResponse {
                    min_expires: Some(cfg.min_expires),
                    ..RegisterResponse::plain(423, "Interval Too Brief")
                });
            }
            let key = c.instance.as_deref().unwrap_or(&c.uri);
            if live.iter().any(|b| b.key() == key && out_of_order(b, req)) {
                return Some(out_of_order_response());
            }
            let granted = asked.min(cfg.max_expires);
            next.retain(|b| b.key() != key);
            if granted > 0 {
                next.push(Binding {
                    uri: c.uri.clone(),
                    expires_at: now.saturating_add(u64::from(granted)),
                    q: c.q,
                    instance: c.instance.clone(),
                    reg_id: c.reg_id,
                    call_id: req.call_id.clone(),
                    cseq: req.cseq,
                    received: req.received.clone(),
                    user_agent: req.user_agent.clone(),
                });
            }
            touched.retain(|(k, _)| k != key);
            touched.push((key.to_owned(), granted));
        }
        if next.len() > live.len() {
            if next.len() > cfg.max_contacts_per_aor {
                return Some(RegisterResponse::plain(
                    403,
                    "Too Many Contacts for this AOR",
                ));
            }
            if self.store.count() + (next.len() - live.len()) > cfg.max_bindings {
                return Some(RegisterResponse::plain(
                    503,
                    "Registration Capacity Reached",
                ));
            }
        }
        for (key, granted) in touched {
            let old = live.iter().find(|b| b.key() == key);
            let new = next.iter().find(|b| b.key() == key);
            let aor = req.aor.clone();
            match (old, new) {
                (Some(_), None) => {
                    if let Some(b) = self.store.remove(&req.aor, &key) {
                        events.push(RegistrationEvent::Removed {
                            aor,
                            contact: b.uri,
                        });
                    }
                }
                (old, Some(b)) => {
                    self.store.upsert(&req.aor, b.clone());
                    let contact = b.uri.clone();
                    let expires = granted;
                    events.push(if old.is_some() {
                        RegistrationEvent::Refreshed {
                            aor,
                            contact,
                            expires,
                        }
                    } else {
                        RegistrationEvent::Added {
                            aor,
                            contact,
                            expires,
                        }
                    });
                }
                (None, None) => {}
            }
        }
        None
    }
}

/// §10.3 step 7: a binding last set by this Call-ID may only be changed by a higher CSeq.
fn out_of_order(b: &Binding, req: &RegisterRequest) -> bool {
    b.call_id == req.call_id && req.cseq <= b.cseq
}

/// §10.3 step 7: "the update MUST be aborted and the request fails"; a failed binding update is answered
/// with 500 ("the request MUST fail with a 500 (Server Error) response").
fn out_of_order_response() -> RegisterResponse {
    RegisterResponse::plain(500, "Out-of-Order REGISTER for this Binding")
}

fn view(b: &Binding, now: u64) -> BindingView {
    BindingView {
        uri: b.uri.clone(),
        expires: b.expires_at.saturating_sub(now),
        q: b.q,
        instance: b.instance.clone(),
        reg_id: b.reg_id,
        received: b.received.clone(),
    }
}
