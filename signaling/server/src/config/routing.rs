//! `[[trunks]]` and `[dialplan]`: validated here so `--check-config` reports them with the rest.
//!
//! The dialplan file is its own TOML document (see `switchboard-dialplan`), named by
//! `dialplan.file` relative to the config file. It is checked against the configured trunks and
//! users; at run time the same check guards every reload (`crate::reload`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use switchboard_b2bua::{LegTransport, RouteAuth};
use switchboard_dialplan::{Dialplan, IpRange, PlanContext, PlanError};

use super::ConfigIssue;

/// `[dialplan]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialplanSection {
    /// The dialplan file, relative to the config file. Without one every call is offered to the
    /// called user's registered contacts.
    pub file: Option<String>,
}

/// `[[trunks]]`: a SIP peer (carrier, PBX) calls are sent to and accepted from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSection {
    /// Unique name, used by the dialplan (`trunk:NAME`, `trunks = ["NAME"]`).
    pub name: String,
    /// Where outbound calls go, `IP:port` or `host:port` (resolved at start, IPv4 preferred).
    pub address: String,
    /// `udp` (default), `tcp` or `tls`: how calls, OPTIONS and REGISTERs reach the trunk.
    #[serde(default)]
    pub transport: Option<String>,
    /// Host part of the Request-URI of outbound calls (default: `address` as written).
    pub domain: Option<String>,
    /// Sources (`IP` or `IP/len`) whose INVITEs are accepted as coming from this trunk, without
    /// digest authentication.
    #[serde(default)]
    pub inbound_ips: Vec<String>,
    /// A `[[users]]` account: INVITEs digest-authenticated as it come from this trunk (a PBX
    /// that authenticates instead of sending from a fixed address).
    pub inbound_user: Option<String>,
    /// Caller ID (From user) presented on calls sent to this trunk, unless the dialplan set one.
    pub caller_id: Option<String>,
    /// Seconds between OPTIONS keepalive probes (1-3600); without it the trunk is not probed and
    /// always counts as up.
    pub keepalive_interval_s: Option<u64>,
    /// Probes in a row without an answer (timeout, 408 or 5xx) that mark the trunk down (1-100,
    /// default 2). One answered probe marks it up again.
    pub keepalive_failures: Option<u32>,
    /// Digest user name for the trunk's 401/407 challenges to our INVITEs (with `password`).
    pub username: Option<String>,
    /// Digest password (with `username`).
    pub password: Option<String>,
    /// The only realm the credentials answer (default: the host of `domain`).
    pub auth_realm: Option<String>,
    /// Keep a registration `sip:USERNAME@DOMAIN` at the trunk (needs `username`/`password`).
    #[serde(default)]
    pub register: bool,
    /// Registration time asked for, in seconds (60-86400, default 600); refreshed halfway.
    pub register_expires_s: Option<u32>,
}

/// OPTIONS keepalive settings of a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between probes; a probe still unanswered when the next is due counts as failed.
    pub interval: Duration,
    /// Failed probes in a row that mark the trunk down.
    pub failures: u32,
}

/// A validated trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkConfig {
    /// Name.
    pub name: String,
    /// Next hop for outbound calls.
    pub address: SocketAddr,
    /// Request-URI host.
    pub domain: String,
    /// The host `address` was written with: the name a TLS trunk's certificate must carry.
    pub tls_name: String,
    /// Trusted source ranges.
    pub inbound: Vec<IpRange>,
    /// The account whose authenticated INVITEs are this trunk's.
    pub inbound_user: Option<String>,
    /// Caller ID override.
    pub caller_id: Option<String>,
    /// OPTIONS keepalive, when probed.
    pub keepalive: Option<Keepalive>,
    /// Credentials for the trunk's digest challenges.
    pub auth: Option<RouteAuth>,
    /// How requests reach the trunk.
    pub transport: LegTransport,
    /// Registration time asked for, when we register to the trunk.
    pub register_expires: Option<u32>,
}

impl TrunkConfig {
    /// Whether an INVITE from `ip` comes from this trunk.
    pub fn accepts(&self, ip: IpAddr) -> bool {
        self.inbound.iter().any(|range| range.contains(ip))
    }
}

/// Validates `[[trunks]]`, recording problems in `issues`.
pub(super) fn trunks(
    sections: &[TrunkSection],
    users: &[String],
    issues: &mut Vec<ConfigIssue>,
) -> Vec<TrunkConfig> {
    let mut out: Vec<TrunkConfig> = Vec::new();
    for (i, t) in sections.iter().enumerate() {
        let before = issues.len();
        let mut issue = |field: &str, message: String| {
            issues.push(ConfigIssue {
                key: format!("trunks[{i}].{field}"),
                message,
            })
        };
        if t.name.is_empty() || t.name.chars().any(|c| c.is_whitespace() || c == ':') {
            issue("name", "must be non-empty without spaces or ':'".into());
        } else if sections[..i].iter().any(|o| o.name == t.name) {
            issue("name", format!("duplicate trunk `{}`", t.name));
        }
        let address = resolve(&t.address).filter(|a| !a.ip().is_unspecified() && a.port() != 0);
        if address.is_none() {
            issue(
                "address",
                format!(
                    "`{}` is not an address like 192.0.2.10:5060 or a host:port that resolves",
                    t.address
                ),
            );
        }
        let transport = match t.transport.as_deref() {
            None => LegTransport::Udp,
            Some(tr) if tr.eq_ignore_ascii_case("udp") => LegTransport::Udp,
            Some(tr) if tr.eq_ignore_ascii_case("tcp") => LegTransport::Tcp,
            Some(tr) if tr.eq_ignore_ascii_case("tls") => LegTransport::Tls,
            Some(tr) => {
                issue(
                    "transport",
                    format!("`{tr}`: must be \"udp\", \"tcp\" or \"tls\""),
                );
                LegTransport::Udp
            }
        };
        let mut inbound = Vec::new();
        for (j, ip) in t.inbound_ips.iter().enumerate() {
            match IpRange::parse(ip) {
                Some(n) => inbound.push(n),
                None => issue(
                    &format!("inbound_ips[{j}]"),
                    format!("`{ip}` is not an address or range like 192.0.2.0/24"),
                ),
            }
        }
        if let Some(u) = &t.inbound_user {
            if !users.contains(u) {
                issue(
                    "inbound_user",
                    format!("`{u}` is not a configured [[users]] account"),
                );
            } else if sections[..i]
                .iter()
                .any(|o| o.inbound_user.as_ref() == Some(u))
            {
                issue(
                    "inbound_user",
                    format!("`{u}` already belongs to another trunk"),
                );
            }
        }
        if let Some(c) = &t.caller_id {
            if c.is_empty()
                || c.chars()
                    .any(|c| c.is_whitespace() || "@:;<>\"".contains(c))
            {
                issue("caller_id", format!("`{c}` is not a SIP user part"));
            }
        }
        if let Some(secs) = t.keepalive_interval_s {
            if !(1..=3600).contains(&secs) {
                issue(
                    "keepalive_interval_s",
                    format!("{secs}: must be between 1 and 3600 seconds"),
                );
            }
        }
        let failures = t.keepalive_failures.unwrap_or(2);
        if !(1..=100).contains(&failures) {
            issue(
                "keepalive_failures",
                format!("{failures}: must be between 1 and 100"),
            );
        } else if t.keepalive_failures.is_some() && t.keepalive_interval_s.is_none() {
            issue(
                "keepalive_failures",
                "needs keepalive_interval_s (the trunk is not probed without it)".into(),
            );
        }
        match (&t.username, &t.password) {
            (Some(u), Some(_)) if u.is_empty() || u.contains('"') => {
                issue("username", "must be non-empty without '\"'".into())
            }
            (Some(_), None) => issue("password", "needed with username".into()),
            (None, Some(_)) => issue("username", "needed with password".into()),
            (None, None) if t.auth_realm.is_some() => {
                issue("auth_realm", "needs username and password".into())
            }
            _ => {}
        }
        let register_expires = t.register_expires_s.unwrap_or(600);
        if !(60..=86400).contains(&register_expires) {
            issue(
                "register_expires_s",
                format!("{register_expires}: must be between 60 and 86400 seconds"),
            );
        }
        if t.register && t.username.is_none() {
            issue("register", "needs username and password".into());
        } else if !t.register && t.register_expires_s.is_some() {
            issue("register_expires_s", "needs register = true".into());
        }
        if issues.len() == before {
            if let Some(address) = address {
                let domain = t.domain.clone().unwrap_or_else(|| t.address.clone());
                let auth =
                    t.username
                        .clone()
                        .zip(t.password.clone())
                        .map(|(username, password)| RouteAuth {
                            username,
                            password,
                            realm: t.auth_realm.clone().unwrap_or_else(|| host_of(&domain)),
                        });
                out.push(TrunkConfig {
                    name: t.name.clone(),
                    address,
                    tls_name: host_of(&t.address),
                    domain,
                    inbound,
                    inbound_user: t.inbound_user.clone(),
                    caller_id: t.caller_id.clone(),
                    keepalive: t.keepalive_interval_s.map(|secs| Keepalive {
                        interval: Duration::from_secs(secs),
                        failures,
                    }),
                    auth,
                    transport,
                    register_expires: t.register.then_some(register_expires),
                });
            }
        }
    }
    out
}

/// `IP:port`, or `host:port` resolved now (A/AAAA records, an IPv4 address preferred); SRV and
/// NAPTR (RFC 3263) are not looked up, and the name is not resolved again while running.
fn resolve(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    use std::net::ToSocketAddrs;
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if host.is_empty() || host.contains(['[', ']', ':']) {
        return None;
    }
    let found: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| found.first())
        .copied()
}

/// `host` of `host[:port]` (brackets of an IPv6 reference kept).
fn host_of(domain: &str) -> String {
    match domain.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            if host.contains(':') && !host.ends_with(']') {
                domain.to_owned()
            } else {
                host.to_owned()
            }
        }
        _ => domain.to_owned(),
    }
}

/// Where the dialplan file is, relative to the config file's folder.
pub(super) fn dialplan_path(section: &DialplanSection, base: Option<&Path>) -> Option<PathBuf> {
    let file = section.file.as_ref()?;
    let path = PathBuf::from(file);
    Some(match base {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    })
}

/// Reads and validates a dialplan file; every problem becomes an issue under `dialplan.file`.
pub fn load_dialplan(path: &Path, ctx: &PlanContext) -> Result<Dialplan, Vec<ConfigIssue>> {
    let key = format!("dialplan.file ({})", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigIssue {
            key: key.clone(),
            message: format!("cannot read: {e}"),
        }]
    })?;
    check_dialplan(&text, ctx).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| ConfigIssue {
                key: if e.path.is_empty() {
                    key.clone()
                } else {
                    format!("{key} {}", e.path)
                },
                message: e.message,
            })
            .collect()
    })
}

/// Validates a dialplan text for this server (the dialplan crate's checks; every action is
/// carried out by the call engine).
pub fn check_dialplan(text: &str, ctx: &PlanContext) -> Result<Dialplan, Vec<PlanError>> {
    Dialplan::parse(text, ctx).map_err(|e| e.0)
}

/// The plan to start with: the file's, or [`Dialplan::registered_users_only`].
pub(super) fn initial_plan(
    path: Option<&Path>,
    ctx: &PlanContext,
    issues: &mut Vec<ConfigIssue>,
) -> Arc<Dialplan> {
    match path {
        None => Arc::new(Dialplan::registered_users_only()),
        Some(p) => match load_dialplan(p, ctx) {
            Ok(plan) => Arc::new(plan),
            Err(mut e) => {
                issues.append(&mut e);
                Arc::new(Dialplan::registered_users_only())
            }
        },
    }
}
