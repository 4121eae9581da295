//! Maps REGISTER messages to the sans-IO registrar (`switchboard-registrar`) and its answers back to SIP.
//! With `[registrar] shared_redis_url`, the location store is a replica shared with other signaling
//! nodes through Redis (`replica`, `redis_link`).

mod link_stats;
mod redis_link;
mod replica;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use switchboard_b2bua::RouteTarget;
use switchboard_registrar::{
    Algorithm, Aor, AuthDecision, AuthRequest, Binding, ContactInput, ContactsSpec,
    DigestCredentials, LocationStore, RegisterRequest, RegistrarConfig, Secret, User,
};
use switchboard_sip::{Contacts, HeaderName, Message, StartLine};

use super::events_glue::Events;
use super::handler::{Origin, random_tag, unix_now};
use crate::config::{Config, UserSecret};
pub(crate) use link_stats::SharedRegistrationStatus;
use replica::SharedStore;

/// The registrar the workers share (behind a mutex: REGISTERs of one AOR may come on several Call-IDs).
pub(crate) struct Registrar {
    inner: switchboard_registrar::Registrar<SharedStore>,
    realm: String,
    /// Configured usernames: a call to one of them that is not registered gets 480, to anyone else 404.
    usernames: std::collections::HashSet<String>,
    domains: Vec<String>,
    events: Events,
    /// The Redis link's counters, when registrations are shared.
    shared: Option<Arc<link_stats::LinkStats>>,
}

impl Registrar {
    /// The registrar of `config`. With `[registrar] shared_redis_url`, starts the Redis link on the
    /// current tokio runtime.
    pub(crate) fn new(config: &Config, events: Events) -> Registrar {
        let r = &config.registrar;
        let users = config
            .users
            .iter()
            .map(|u| User {
                username: u.username.clone(),
                domain: u.domain.clone(),
                secret: match &u.secret {
                    UserSecret::Password(p) => Secret::Password(p.clone()),
                    UserSecret::Ha1 { md5, sha256 } => Secret::Ha1 {
                        md5: md5.clone(),
                        sha256: sha256.clone(),
                    },
                },
            })
            .collect();
        let rc = RegistrarConfig {
            realm: r.realm.clone(),
            domains: r.domains.clone(),
            min_expires: r.min_expires,
            max_expires: r.max_expires,
            default_expires: r.default_expires,
            max_contacts_per_aor: r.max_contacts_per_aor,
            max_bindings: r.max_bindings,
            // Validated in config: only known names get here.
            algorithms: r
                .algorithms
                .iter()
                .filter_map(|a| Algorithm::parse(a))
                .collect(),
            ..RegistrarConfig::default()
        };
        let shared_config = &config.shared_registrations;
        let (store, shared) = match &shared_config.redis_url {
            Some(url) => {
                let (store, stats) = redis_link::start(url);
                (store, Some(stats))
            }
            None => (SharedStore::local_only(), None),
        };
        let key = match &shared_config.nonce_secret {
            Some(s) => s.0,
            None => secret(),
        };
        let inner =
            switchboard_registrar::Registrar::new(rc, users, key, r.nonce_lifetime_secs, store);
        Registrar {
            inner,
            realm: r.realm.clone(),
            usernames: config.users.iter().map(|u| u.username.clone()).collect(),
            domains: r.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            events,
            shared,
        }
    }

    /// The Redis link's state and counters, when registrations are shared.
    pub(crate) fn shared_status(&self) -> Option<SharedRegistrationStatus> {
        self.shared.as_ref().map(|s| s.snapshot())
    }

    /// Every AOR with its live bindings, sorted by AOR (for the REST API and dashboard).
    pub(crate) fn registrations(&self, wall: SystemTime) -> Vec<(Aor, Vec<Binding>)> {
        let now = unix_now(wall);
        let store = self.inner.store();
        let mut out: Vec<(Aor, Vec<Binding>)> = store
            .aors()
            .into_iter()
            .map(|aor| {
                let live = store
                    .bindings(&aor)
                    .into_iter()
                    .filter(|b| b.expires_at > now)
                    .collect();
                (aor, live)
            })
            .filter(|(_, b): &(Aor, Vec<Binding>)| !b.is_empty())
            .collect();
        out.sort_by_key(|(aor, _)| aor.to_string());
        out
    }

    /// Removes every binding of `aor` (operator action); returns how many there were.
    pub(crate) fn unregister(&mut self, aor: &Aor) -> usize {
        let events = self.inner.unregister(aor);
        for e in &events {
            self.events.registration(e, None);
        }
        events.len()
    }

    /// Removes the binding of `aor` with contact URI `contact`; whether there was one.
    pub(crate) fn unregister_contact(&mut self, aor: &Aor, contact: &str) -> bool {
        match self.inner.unregister_contact(aor, contact) {
            Some(e) => {
                self.events.registration(&e, None);
                true
            }
            None => false,
        }
    }

    pub(crate) fn binding_count(&self) -> usize {
        self.inner.binding_count()
    }

    /// Drops lapsed bindings; called once a second.
    pub(crate) fn expire(&mut self, wall: SystemTime) {
        for e in self.inner.expire(unix_now(wall)) {
            self.events.registration(&e, None);
        }
    }

    /// Answers one REGISTER.
    pub(crate) fn handle(
        &mut self,
        req: &Message<'_>,
        origin: Origin,
        _now: Instant,
        wall: SystemTime,
    ) -> Message<'static> {
        let input = match self.request(req, origin) {
            Ok(i) => i,
            Err(reason) => return req.response(400, reason).into_owned(),
        };
        let now = unix_now(wall);
        let (answer, events) = self.inner.handle(&input, now);
        for e in &events {
            self.events.registration(e, input.user_agent.as_deref());
        }
        let mut resp = req
            .response_with_tag(answer.status, answer.reason, &random_tag())
            .into_owned();
        for c in &answer.contacts {
            let mut v = format!("<{}>;expires={}", c.uri, c.expires);
            if let Some(q) = c.q {
                v.push_str(&format!(";q={}.{:03}", q / 1000, q % 1000));
            }
            if let Some(i) = &c.instance {
                v.push_str(&format!(";+sip.instance=\"{}\"", i.replace('"', "")));
            }
            if let Some(r) = c.reg_id {
                v.push_str(&format!(";reg-id={r}"));
            }
            resp.push_header(HeaderName::Contact, v);
        }
        for w in answer.www_authenticate {
            resp.push_header(HeaderName::WwwAuthenticate, w);
        }
        if let Some(m) = answer.min_expires {
            resp.push_header(HeaderName::MinExpires, m.to_string());
        }
        if answer.status == 200 {
            resp.push_header(HeaderName::Date, switchboard_sip::http_date(now));
        }
        resp
    }

    fn request(&self, req: &Message<'_>, origin: Origin) -> Result<RegisterRequest, String> {
        let to = req.to().map_err(|e| e.to_string())?;
        let user = to
            .uri
            .user_decoded()
            .ok_or("To: address-of-record has no user part")?;
        let domain = to
            .uri
            .host
            .as_ref()
            .map(|h| h.to_string())
            .ok_or("To: address-of-record has no host")?;
        let request_uri = match req.start_line() {
            StartLine::Request { uri, .. } => uri.to_string(),
            StartLine::Response { .. } => return Err("not a request".into()),
        };
        let contacts = match req.contacts().map_err(|e| e.to_string())? {
            Contacts::None => ContactsSpec::None,
            Contacts::Wildcard => ContactsSpec::Wildcard,
            Contacts::List(list) => {
                let mut out = Vec::with_capacity(list.len());
                for c in list {
                    let expires = c
                        .expires()
                        .transpose()
                        .map_err(|r| format!("Contact: expires {r}"))?;
                    let q = c.q().transpose().map_err(|r| format!("Contact: q {r}"))?;
                    out.push(ContactInput {
                        uri: c.uri.to_string(),
                        expires,
                        q,
                        instance: c.instance().map(|i| i.into_owned()),
                        reg_id: c.reg_id(),
                    });
                }
                ContactsSpec::List(out)
            }
        };
        let credentials = self.credentials(&req.authorization().map_err(|e| e.to_string())?);
        Ok(RegisterRequest {
            aor: Aor::new(&user, &domain),
            request_uri,
            source: origin.source.ip(),
            received: format!(
                "{};transport={}",
                origin.source,
                origin.transport.as_via().to_ascii_lowercase()
            ),
            call_id: req.call_id().map_err(|e| e.to_string())?.to_owned(),
            cseq: req.cseq().map_err(|e| e.to_string())?.seq,
            contacts,
            expires: req.expires().map_err(|e| e.to_string())?,
            credentials,
            user_agent: req.user_agent().map(str::to_owned),
        })
    }

    /// Digest credentials for our realm among `Authorization` / `Proxy-Authorization` values.
    fn credentials(&self, auths: &[switchboard_sip::Auth<'_>]) -> Option<DigestCredentials> {
        auths
            .iter()
            .filter(|a| a.is_digest())
            .find(|a| a.realm().as_deref() == Some(self.realm.as_str()))
            .map(|a| {
                let s = |v: Option<std::borrow::Cow<'_, str>>| v.map(|c| c.into_owned());
                DigestCredentials {
                    username: s(a.username()).unwrap_or_default(),
                    realm: s(a.realm()).unwrap_or_default(),
                    nonce: s(a.nonce()).unwrap_or_default(),
                    uri: s(a.uri()).unwrap_or_default(),
                    response: s(a.response()).unwrap_or_default(),
                    algorithm: s(a.algorithm()),
                    cnonce: s(a.cnonce()),
                    qop: s(a.qop()),
                    nc: s(a.nc()),
                    opaque: s(a.opaque()),
                }
            })
    }

    /// RFC 3261 §22.3: a new INVITE from a user must carry digest credentials (407 with
    /// `Proxy-Authenticate` otherwise; 403 when the authenticated name is not the From user).
    /// Returns the authenticated username.
    pub(crate) fn authenticate_invite(
        &mut self,
        req: &Message<'_>,
        origin: Origin,
        wall: SystemTime,
    ) -> Result<String, Box<Message<'static>>> {
        let reject = |status: u16, reason: &str| {
            Err(Box::new(
                req.response_with_tag(status, reason, &random_tag())
                    .into_owned(),
            ))
        };
        let Ok(from) = req.from() else {
            return reject(400, "Bad From");
        };
        let from_user = from
            .uri
            .user_decoded()
            .map(|u| u.into_owned())
            .unwrap_or_default();
        let from_domain = from
            .uri
            .host
            .as_ref()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let request_uri = match req.start_line() {
            StartLine::Request { uri, .. } => uri.to_string(),
            StartLine::Response { .. } => return reject(400, "Not a request"),
        };
        let auths = match req.proxy_authorization() {
            Ok(a) => a,
            Err(e) => return Err(Box::new(req.response(400, e.to_string()).into_owned())),
        };
        let credentials = self.credentials(&auths);
        let decision = self.inner.authenticator_mut().verify(
            &AuthRequest {
                method: "INVITE",
                request_uri: &request_uri,
                source: origin.source.ip(),
                domain: &from_domain,
                user: &from_user,
                credentials: credentials.as_ref(),
            },
            unix_now(wall),
        );
        match decision {
            AuthDecision::Authenticated { username } if username == from_user => Ok(username),
            AuthDecision::Authenticated { username } => {
                tracing::warn!(username, from_user, source = %origin.source, "INVITE From is not the authenticated user");
                reject(403, "Forbidden")
            }
            AuthDecision::Challenge {
                www_authenticate,
                failed,
                ..
            } => {
                if failed {
                    tracing::warn!(username = from_user, source = %origin.source, "INVITE authentication failed");
                    self.events
                        .auth_failure(&from_user, &origin.source.to_string());
                }
                let mut resp = req
                    .response_with_tag(407, "Proxy Authentication Required", &random_tag())
                    .into_owned();
                for w in www_authenticate {
                    resp.push_header(HeaderName::ProxyAuthenticate, w);
                }
                Err(Box::new(resp))
            }
        }
    }

    /// RFC 3261 §16.5 in miniature: where a call to `user@domain` goes, one route per registered
    /// contact (highest q, then most recently registered, first). 404 for an unknown user or a foreign domain,
    /// 480 for a known user without a usable binding.
    /// The first configured registrar domain, if any (where users are registered).
    pub(crate) fn home_domain(&self) -> Option<String> {
        self.domains.first().cloned()
    }

    pub(crate) fn user_routes(
        &self,
        user: &str,
        domain: &str,
        wall: SystemTime,
    ) -> Result<Vec<RouteTarget>, (u16, &'static str)> {
        let ours = self.domains.is_empty() || self.domains.contains(&domain.to_ascii_lowercase());
        if !ours || !self.usernames.contains(user) {
            return Err((404, "Not Found"));
        }
        let routes: Vec<RouteTarget> = self
            .bindings_by_q(user, domain, wall)
            .iter()
            .filter_map(|b| match reach(b) {
                Some((next_hop, transport)) => Some(RouteTarget {
                    request_uri: b.uri.clone(),
                    next_hop,
                    auth: None,
                    transport,
                }),
                None => {
                    tracing::warn!(
                        contact = b.uri,
                        "registered contact has no IP address to send to"
                    );
                    None
                }
            })
            .collect();
        if routes.is_empty() {
            return Err((480, "Temporarily Unavailable"));
        }
        Ok(routes)
    }

    /// How many of [`Registrar::user_routes`] share the highest q (RFC 3261 §16.6: those are
    /// tried together first, the others after, in q order).
    pub(crate) fn top_q_group(&self, user: &str, domain: &str, wall: SystemTime) -> usize {
        let bindings: Vec<_> = self
            .bindings_by_q(user, domain, wall)
            .into_iter()
            .filter(|b| reach(b).is_some())
            .collect();
        let top = bindings.first().map(|b| b.q.unwrap_or(1000));
        bindings
            .iter()
            .take_while(|b| Some(b.q.unwrap_or(1000)) == top)
            .count()
    }

    /// A user's live bindings, highest q first (no q counts as 1.0), most recent first among equals.
    fn bindings_by_q(
        &self,
        user: &str,
        domain: &str,
        wall: SystemTime,
    ) -> Vec<switchboard_registrar::BindingView> {
        let mut bindings = self.inner.bindings(&Aor::new(user, domain), unix_now(wall));
        bindings.reverse();
        bindings.sort_by_key(|b| std::cmp::Reverse(b.q.unwrap_or(1000)));
        bindings
    }
}

/// Where calls to a binding go. To its Contact's own address, unless the client is behind NAT:
/// its Contact names a private or link-local address other than the one its REGISTER came from,
/// or a host name, or it registered an RFC 5626 flow (`+sip.instance` and `reg-id`). Then to the
/// address and over the transport the REGISTER came from, where its NAT binding (or its
/// connection) is, as production registrars do with the `received` address. The Request-URI
/// stays the Contact either way.
fn reach(
    b: &switchboard_registrar::BindingView,
) -> Option<(std::net::SocketAddr, switchboard_b2bua::LegTransport)> {
    let received = || {
        let (addr, transport) = b.received.split_once(";transport=")?;
        Some((
            addr.parse().ok()?,
            switchboard_b2bua::LegTransport::from_via(transport),
        ))
    };
    let flow = b.instance.is_some() && b.reg_id.is_some();
    match next_hop(&b.uri) {
        Some(_) if flow => received(),
        Some(contact) => match received() {
            Some((source, transport))
                if unroutable(contact.ip()) && source.ip() != contact.ip() =>
            {
                Some((source, transport))
            }
            _ => Some((contact, transport_of(&b.uri))),
        },
        None if switchboard_sip::Uri::parse(&b.uri).is_ok() => received(),
        None => None,
    }
}

/// A private (RFC 1918, RFC 6598 shared, RFC 4193 unique local) or link-local address: one a
/// client behind NAT puts in its Contact, which cannot be reached from outside.
fn unroutable(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
        }
    }
}

/// The transport a contact URI asks for: TLS for a `sips:` URI (RFC 3261 §26.2.2; its
/// `;transport=tcp` means TLS over TCP), else its `;transport=`, else UDP (RFC 3263 §4.1 for a
/// numeric host without one).
fn transport_of(contact: &str) -> switchboard_b2bua::LegTransport {
    let Ok(uri) = switchboard_sip::Uri::parse(contact) else {
        return switchboard_b2bua::LegTransport::default();
    };
    if uri.scheme == switchboard_sip::Scheme::Sips {
        return switchboard_b2bua::LegTransport::Tls;
    }
    uri.param("transport")
        .map(switchboard_b2bua::LegTransport::from_via)
        .unwrap_or_default()
}

/// The address a contact URI names: its IP literal host and port (5060 by default, 5061 over TLS). Contacts with a
/// domain name are not resolved yet.
fn next_hop(contact: &str) -> Option<std::net::SocketAddr> {
    let uri = switchboard_sip::Uri::parse(contact).ok()?;
    let ip: std::net::IpAddr = match uri.host? {
        switchboard_sip::Host::Ipv4(a) => a.into(),
        switchboard_sip::Host::Ipv6(a) => a.into(),
        switchboard_sip::Host::Domain(d) => d.parse().ok()?,
    };
    // RFC 3263 §4.2: 5061 for TLS, else 5060.
    let tls = transport_of(contact) == switchboard_b2bua::LegTransport::Tls;
    let port = uri.port.unwrap_or(if tls { 5061 } else { 5060 });
    Some(std::net::SocketAddr::new(ip, port))
}

/// 32 bytes from the operating system's random source for the nonce key.
fn secret() -> [u8; 32] {
    use std::io::Read;
    let mut key = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .is_ok();
    if !ok {
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&super::handler::rand_u64().to_le_bytes());
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::{next_hop, reach, transport_of};
    use switchboard_b2bua::LegTransport;

    #[test]
    fn rfc3263_s4_1_a_contact_names_its_transport_else_udp() {
        assert_eq!(
            transport_of("sip:1002@127.0.0.1:5062;transport=tcp"),
            LegTransport::Tcp
        );
        assert_eq!(
            transport_of("sip:1002@127.0.0.1:5062;transport=UDP"),
            LegTransport::Udp
        );
        assert_eq!(transport_of("sip:1002@127.0.0.1"), LegTransport::Udp);
        assert_eq!(transport_of("sips:1002@127.0.0.1:5061"), LegTransport::Tls);
        assert_eq!(
            transport_of("sips:1002@127.0.0.1:5061;transport=tcp"),
            LegTransport::Tls
        );
    }

    fn binding(uri: &str, received: &str, flow: bool) -> switchboard_registrar::BindingView {
        switchboard_registrar::BindingView {
            uri: uri.into(),
            expires: 300,
            q: None,
            instance: flow.then(|| "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>".into()),
            reg_id: flow.then_some(1),
            received: received.into(),
        }
    }

    #[test]
    fn a_client_behind_nat_is_reached_where_its_register_came_from() {
        let nat = "203.0.113.9:40312;transport=udp";
        let at = |s: &str| Some((s.parse().expect("addr"), LegTransport::Udp));
        // A private Contact other than the source: behind NAT.
        for contact in [
            "sip:1002@192.168.1.20:5060",
            "sip:1002@10.1.2.3",
            "sip:1002@172.20.0.5:5062",
            "sip:1002@100.72.0.1",
            "sip:1002@169.254.10.10",
            "sip:1002@[fd00::20]:5060",
            "sip:1002@phone.local",
        ] {
            assert_eq!(
                reach(&binding(contact, nat, false)),
                at("203.0.113.9:40312"),
                "{contact}"
            );
        }
        // A routable Contact, or a private one that is the source itself: the Contact.
        assert_eq!(
            reach(&binding("sip:1002@198.51.100.7:5070", nat, false)),
            at("198.51.100.7:5070")
        );
        assert_eq!(
            reach(&binding(
                "sip:1002@192.168.1.20:5062",
                "192.168.1.20:5060;transport=udp",
                false
            )),
            at("192.168.1.20:5062")
        );
        assert_eq!(
            reach(&binding(
                "sip:1002@127.0.0.1:5062",
                "127.0.0.1:41000;transport=udp",
                false
            )),
            at("127.0.0.1:5062")
        );
        // An RFC 5626 flow: over the connection it registered on.
        assert_eq!(
            reach(&binding(
                "sip:1002@198.51.100.7:5070;transport=tcp",
                "198.51.100.7:51234;transport=tcp",
                true
            )),
            Some((
                "198.51.100.7:51234".parse().expect("addr"),
                LegTransport::Tcp
            ))
        );
    }

    #[test]
    fn contact_next_hop_is_its_ip_literal_and_port() {
        assert_eq!(
            next_hop("sip:1002@127.0.0.1:5062;transport=udp"),
            Some("127.0.0.1:5062".parse().expect("addr"))
        );
        assert_eq!(
            next_hop("sip:1002@[::1]"),
            Some("[::1]:5060".parse().expect("addr"))
        );
        assert_eq!(
            next_hop("sips:1002@192.0.2.7"),
            Some("192.0.2.7:5061".parse().expect("addr"))
        );
        assert_eq!(next_hop("sip:1002@phone.example"), None);
        assert_eq!(next_hop("not a uri"), None);
    }
}
