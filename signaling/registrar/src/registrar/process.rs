//! The §10.3 steps: domain, authentication, contact processing, Call-ID/CSeq ordering, caps.

use super::*;

/// Why authentication did not succeed.
enum AuthOutcome {
    Ok(String),
    /// Send a fresh challenge; `stale` when only the nonce's age was wrong; `failed` when credentials were
    /// presented and are wrong (an auth-failure event).
    Challenge {
        stale: bool,
        failed: bool,
    },
}

impl<S: LocationStore> Registrar<S> {
    /// A registrar. `secret` keys the nonces (from the caller's random source); `nonce_lifetime` in seconds.
    pub fn new(
        config: RegistrarConfig,
        users: Vec<User>,
        secret: [u8; 32],
        nonce_lifetime: u64,
        store: S,
    ) -> Self {
        let mut by_name: HashMap<String, Vec<User>> = HashMap::new();
        for u in users {
            by_name.entry(u.username.clone()).or_default().push(u);
        }
        let nonces = NonceIssuer::new(secret, nonce_lifetime);
        let opaque = nonces.opaque(&config.realm);
        Registrar {
            config,
            users: by_name,
            nonces,
            counts: NonceCounts::default(),
            store,
            opaque,
        }
    }

    /// The location store.
    pub fn store(&self) -> &S {
        &self.store
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

    /// Drops lapsed bindings and nonce counters; call about once a second.
    pub fn expire(&mut self, now: u64) -> Vec<RegistrationEvent> {
        self.counts.expire(now);
        self.store
            .expire(now)
            .into_iter()
            .map(|(aor, b)| RegistrationEvent::Expired {
                aor,
                contact: b.uri,
            })
            .collect()
    }

    /// Processes one REGISTER at `now` (seconds).
    pub fn handle(
        &mut self,
        req: &RegisterRequest,
        now: u64,
    ) -> (RegisterResponse, Vec<RegistrationEvent>) {
        let mut events = Vec::new();
        // Step 1: is this registrar responsible for the domain?
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
        match self.authenticate(req, now) {
            AuthOutcome::Ok(user) if user != req.aor.user => {
                return (
                    RegisterResponse::plain(403, "Username Does Not Match AOR"),
                    events,
                );
            }
            AuthOutcome::Ok(_) => {}
            AuthOutcome::Challenge { stale, failed } => {
                if failed {
                    let username = req
                        .credentials
                        .as_ref()
                        .map(|c| c.username.clone())
                        .unwrap_or_default();
                    events.push(RegistrationEvent::AuthFailed {
                        username,
                        source: req.source,
                    });
                }
                return (self.challenge(req.source, now, stale), events);
            }
        }
        let resp = self.update_bindings(req, now, &mut events);
        (resp, events)
    }

    fn challenge(&self, source: IpAddr, now: u64, stale: bool) -> RegisterResponse {
        let nonce = self.nonces.issue(now, source, &self.config.realm);
        let www_authenticate = self
            .config
            .algorithms
            .iter()
            .map(|&a| format_challenge(&self.config.realm, &nonce, &self.opaque, a, stale))
            .collect();
        RegisterResponse {
            www_authenticate,
            ..RegisterResponse::plain(401, "Unauthorized")
        }
    }

    fn authenticate(&mut self, req: &RegisterRequest, now: u64) -> AuthOutcome {
        let fail = AuthOutcome::Challenge {
            stale: false,
            failed: true,
        };
        let Some(c) = req.credentials.as_ref() else {
            return AuthOutcome::Challenge {
                stale: false,
                failed: false,
            };
        };
        if c.realm != self.config.realm {
            // Credentials for another realm are not for us (RFC 3261 §22.4): challenge for ours.
            return AuthOutcome::Challenge {
                stale: false,
                failed: false,
            };
        }
        let alg = match c.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) if self.config.algorithms.contains(&a) => a,
                _ => return fail,
            },
        };
        let nonce = self
            .nonces
            .check(&c.nonce, now, req.source, &self.config.realm);
        if nonce == NonceCheck::Invalid {
            return fail;
        }
        let nc = match (c.qop.as_deref(), c.nc.as_deref(), c.cnonce.as_deref()) {
            (Some(q), Some(nc), Some(cn))
                if q.eq_ignore_ascii_case("auth") && nc.len() == 8 && !cn.is_empty() =>
            {
                match u32::from_str_radix(nc, 16) {
                    Ok(n) if n > 0 => n,
                    _ => return fail,
                }
            }
            _ => return fail,
        };
        if c.uri != req.request_uri {
            return fail;
        }
        // Unknown users go through the same hashing as known ones, against a secret nobody knows, so the
        // answer and its timing class do not reveal whether the account exists.
        let user = self.users.get(&c.username).and_then(|list| {
            list.iter().find(|u| {
                u.domain
                    .as_deref()
                    .is_none_or(|d| d.eq_ignore_ascii_case(&req.aor.domain))
            })
        });
        let ha1 = match user.map(|u| &u.secret) {
            Some(Secret::Password(p)) => ha1(alg, &c.username, &self.config.realm, p),
            Some(Secret::Ha1 { md5, sha256 }) => match alg {
                Algorithm::Md5 => md5.clone(),
                Algorithm::Sha256 => sha256.clone(),
            }
            .unwrap_or_else(|| ha1(alg, &c.username, &self.config.realm, &self.opaque)),
            None => ha1(alg, &c.username, &self.config.realm, &self.opaque),
        };
        let expected = expected_response(alg, &ha1, "REGISTER", c);
        let matches = constant_time_eq(
            expected.as_bytes(),
            c.response.to_ascii_lowercase().as_bytes(),
        );
        if !matches || user.is_none() {
            return fail;
        }
        let NonceCheck::Valid { issued } = nonce else {
            return AuthOutcome::Challenge {
                stale: true,
                failed: false,
            };
        };
        if !self
            .counts
            .accept(&c.nonce, nc, issued + self.nonces.lifetime() + 1, now)
        {
            return fail;
        }
        AuthOutcome::Ok(c.username.clone())
    }

    fn update_bindings(
        &mut self,
        req: &RegisterRequest,
        now: u64,
        events: &mut Vec<RegistrationEvent>,
    ) -> RegisterResponse {
        let cfg = &self.config;
        let existing = self.store.bindings(&req.aor);
        match &req.contacts {
            ContactsSpec::None => {}
            ContactsSpec::Wildcard => {
                // Step 6: `*` only with Expires: 0 and no other contact.
                if req.expires != Some(0) {
                    return RegisterResponse::plain(400, "Wildcard Contact Requires Expires: 0");
                }
                for b in &existing {
                    if b.call_id == req.call_id && req.cseq <= b.cseq {
                        return RegisterResponse::plain(400, "Out-of-order CSeq for this binding");
                    }
                }
                for b in existing {
                    if self.store.remove(&req.aor, b.key()).is_some() {
                        events.push(RegistrationEvent::Removed {
                            aor: req.aor.clone(),
                            contact: b.uri,
                        });
                    }
                }
            }
            ContactsSpec::List(list) => {
                // Validate everything first so a refused request changes nothing.
                let mut planned = Vec::with_capacity(list.len());
                for c in list {
                    let asked = c.expires.or(req.expires).unwrap_or(cfg.default_expires);
                    if asked != 0 && asked < cfg.min_expires {
                        return RegisterResponse {
                            min_expires: Some(cfg.min_expires),
                            ..RegisterResponse::plain(423, "Interval Too Brief")
                        };
                    }
                    let key = c.instance.as_deref().unwrap_or(&c.uri);
                    let old = existing.iter().find(|b| b.key() == key);
                    // Step 7: same Call-ID needs a higher CSeq.
                    if let Some(b) = old {
                        if b.call_id == req.call_id && req.cseq <= b.cseq {
                            return RegisterResponse::plain(
                                400,
                                "Out-of-order CSeq for this binding",
                            );
                        }
                    }
                    planned.push((c, asked.min(cfg.max_expires), old.is_some()));
                }
                let adds = planned.iter().filter(|(_, e, old)| *e > 0 && !old).count();
                let removes = planned.iter().filter(|(_, e, old)| *e == 0 && *old).count();
                if existing.len() + adds - removes > cfg.max_contacts_per_aor {
                    return RegisterResponse::plain(403, "Too Many Contacts for this AOR");
                }
                if adds > 0 && self.store.count() + adds > cfg.max_bindings {
                    return RegisterResponse::plain(503, "Registration Capacity Reached");
                }
                for (c, expires, old) in planned {
                    let key = c.instance.clone().unwrap_or_else(|| c.uri.clone());
                    if expires == 0 {
                        if self.store.remove(&req.aor, &key).is_some() {
                            events.push(RegistrationEvent::Removed {
                                aor: req.aor.clone(),
                                contact: c.uri.clone(),
                            });
                        }
                        continue;
                    }
                    self.store.upsert(
                        &req.aor,
                        Binding {
                            uri: c.uri.clone(),
                            expires_at: now + u64::from(expires),
                            q: c.q,
                            instance: c.instance.clone(),
                            reg_id: c.reg_id,
                            call_id: req.call_id.clone(),
                            cseq: req.cseq,
                            received: req.received.clone(),
                            user_agent: req.user_agent.clone(),
                        },
                    );
                    let (aor, contact) = (req.aor.clone(), c.uri.clone());
                    events.push(if old {
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
            }
        }
        // Step 8: 200 with every current binding.
        RegisterResponse {
            contacts: self.bindings(&req.aor, now),
            ..RegisterResponse::plain(200, "OK")
        }
    }
}

fn view(b: &Binding, now: u64) -> BindingView {
    BindingView {
        uri: b.uri.clone(),
        expires: b.expires_at.saturating_sub(now),
        q: b.q,
        instance: b.instance.clone(),
        reg_id: b.reg_id,
    }
}
