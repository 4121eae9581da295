//! Configuration: TOML file → serde structs (`deny_unknown_fields`) → a validated [`Config`].
//!
//! Structural problems (unknown keys, wrong types) are reported by the TOML decoder with their line and key.
//! Semantic problems are all collected at once, each with its key path (`users[2].ha1`), so an operator fixes
//! a file in one pass. Command-line flags override the file (see [`Overrides`]).

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use switchboard_dialplan::{Dialplan, PlanContext};

mod events;
mod routing;
mod security;
mod shared_reg;
mod tls;

pub use events::{
    CommandsSection, EventsConfig, EventsSection, NatsSection, RedisSection, WebhookSection,
};
pub use security::SecuritySection;
pub use shared_reg::{NonceSecret, SharedRegistrations};

pub use routing::{
    DialplanSection, Keepalive, TrunkConfig, TrunkSection, check_dialplan, load_dialplan,
};

/// The whole file as written by the operator.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[sip]`: listeners, limits, timers.
    #[serde(default)]
    pub sip: SipSection,
    /// `[http]`: the health / API listener.
    #[serde(default)]
    pub http: HttpSection,
    /// `[registrar]`: realm, domains, expiry bounds.
    #[serde(default)]
    pub registrar: RegistrarSection,
    /// `[[users]]`: digest credentials.
    #[serde(default)]
    pub users: Vec<UserSection>,
    /// `[media]`: the embedded media node.
    #[serde(default)]
    pub media: MediaSection,
    /// `[[trunks]]`: SIP peers for outbound and inbound calls.
    #[serde(default)]
    pub trunks: Vec<TrunkSection>,
    /// `[dialplan]`: the routing rules file.
    #[serde(default)]
    pub dialplan: DialplanSection,
    /// `[events]`: the event journal and its sinks.
    #[serde(default)]
    pub events: EventsSection,
    /// `[commands]`: operator commands over NATS.
    #[serde(default)]
    pub commands: CommandsSection,
    /// `[security]`: banning sources that keep failing authentication.
    #[serde(default)]
    pub security: SecuritySection,
    /// The config file's folder (relative paths in the file are resolved against it).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// `[media]`: the media node the signaling binary runs in-process (DESIGN.md "Embedded default").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// Address the RTP sockets bind to and that is written into SDP (default `127.0.0.1`).
    pub rtp_ip: String,
    /// RTP/RTCP port range `"LOW-HIGH"`, LOW even (default `"30000-39999"`); two ports per leg.
    pub ports: String,
    /// A call whose media is silent on a leg this long is hung up (default 60 s).
    pub rtp_timeout_secs: u64,
    /// `[[media.nodes]]`: remote media nodes (`name`, `grpc_uri`, optional `weight`). When any is
    /// given, no media node runs in-process.
    pub nodes: Vec<switchboard_media_pool::MediaNodeConfig>,
    /// PEM file: the CA(s) that signed the media nodes' certificates (for `https://` nodes: gRPC
    /// over mutual TLS, with `tls_cert` and `tls_key`).
    pub tls_ca: Option<String>,
    /// PEM file: our client certificate, which `https://` nodes verify.
    pub tls_cert: Option<String>,
    /// PEM file: its private key.
    pub tls_key: Option<String>,
}

impl Default for MediaSection {
    fn default() -> Self {
        MediaSection {
            rtp_ip: "127.0.0.1".to_owned(),
            ports: "30000-39999".to_owned(),
            rtp_timeout_secs: 60,
            nodes: Vec::new(),
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Validated `[media]`.
#[derive(Debug, Clone, Copy)]
pub struct MediaConfig {
    /// RTP address.
    pub rtp_ip: std::net::IpAddr,
    /// RTP port range.
    pub ports: switchboard_media_pool::PortRange,
    /// Silence on a leg after which the call is hung up.
    pub rtp_timeout: Duration,
}

/// `[sip]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSection {
    /// Addresses to listen on; each gets a UDP socket and a TCP listener. IPv6 as `[::1]:5060`.
    pub listen: Vec<String>,
    /// Largest datagram / stream message accepted, bytes.
    pub max_message_size: usize,
    /// Close an idle TCP connection after this many seconds.
    pub tcp_idle_timeout_secs: u64,
    /// Close a TCP connection holding an incomplete message for this many seconds.
    pub tcp_partial_message_timeout_secs: u64,
    /// Number of signaling workers (messages are sharded by Call-ID); 0 = one per core.
    pub workers: usize,
    /// Cap on concurrent server transactions; above it new requests get 503. Over UDP a non-INVITE
    /// transaction lives 64·T1 = 32 s after its answer (Timer J), so the default 500 000 sustains about
    /// 15 000 requests/s.
    pub max_server_transactions: usize,
    /// Cap on concurrent B2BUA calls (being set up or answered); an initial INVITE beyond it gets
    /// `503` with `Retry-After`, calls already up are unaffected. Default 100 000.
    pub max_calls: usize,
    /// Overload: when messages wait this long between their arrival (the kernel's receive timestamp
    /// on UDP) and their worker (a moving average, the newest message weighted 1/16), the worker is
    /// overloaded and answers new calls (INVITE without To tag) at once with a stateless `503` +
    /// `Retry-After`, while everything else (responses, ACK, CANCEL, BYE, in-dialog requests) is still
    /// handled. 0 turns load shedding off. Default 200.
    pub overload_queue_delay_ms: u64,
    /// Overload ends when the average wait stayed below half of `overload_queue_delay_ms` for this
    /// long (or no message came for this long). Default 2000.
    pub overload_recovery_ms: u64,
    /// `Retry-After` (seconds) of the 503 to a new call refused for overload or `max_calls`. Default 5.
    pub overload_retry_after_secs: u32,
    /// RFC 3261 timer base values.
    pub timers: TimersSection,
    /// Addresses to listen on for SIP over TLS (e.g. `0.0.0.0:5061`); needs `tls_cert` and `tls_key`.
    pub tls_listen: Vec<String>,
    /// PEM certificate chain presented on `tls_listen` (relative to this file).
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
    /// PEM CA certificates trusted for TLS trunks besides the system's.
    pub tls_ca: Option<String>,
    /// Mutual TLS on `tls_listen`: a peer must present a certificate chaining to `tls_ca`, else its
    /// handshake fails (default false). Our `tls_cert` is always presented when we connect.
    pub tls_verify_clients: bool,
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            listen: vec!["127.0.0.1:5060".to_owned()],
            max_message_size: 16 * 1024,
            tcp_idle_timeout_secs: 300,
            tcp_partial_message_timeout_secs: 10,
            workers: 0,
            max_server_transactions: 500_000,
            max_calls: 100_000,
            overload_queue_delay_ms: 200,
            overload_recovery_ms: 2000,
            overload_retry_after_secs: 5,
            timers: TimersSection::default(),
            tls_listen: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            tls_verify_clients: false,
        }
    }
}

/// Validated overload settings (see [`SipSection::max_calls`] and the `overload_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadConfig {
    /// Concurrent calls allowed.
    pub max_calls: usize,
    /// Queue delay that starts load shedding; zero = never shed.
    pub queue_delay: Duration,
    /// Calm time (no message delayed by half of `queue_delay`) that ends it.
    pub recovery: Duration,
    /// `Retry-After` of the 503s, seconds.
    pub retry_after_secs: u32,
}

impl Default for OverloadConfig {
    fn default() -> Self {
        SipSection::default().overload_config()
    }
}

impl SipSection {
    fn overload_config(&self) -> OverloadConfig {
        OverloadConfig {
            max_calls: self.max_calls,
            queue_delay: Duration::from_millis(self.overload_queue_delay_ms),
            recovery: Duration::from_millis(self.overload_recovery_ms),
            retry_after_secs: self.overload_retry_after_secs,
        }
    }

    fn validate_overload(&self, issue: &mut impl FnMut(String, String)) {
        if self.max_calls == 0 {
            issue("sip.max_calls".into(), "must be at least 1".into());
        }
        if self.overload_queue_delay_ms > 60_000 {
            issue(
                "sip.overload_queue_delay_ms".into(),
                "must be at most 60000 (0 turns load shedding off)".into(),
            );
        }
        if self.overload_recovery_ms == 0 || self.overload_recovery_ms > 600_000 {
            issue(
                "sip.overload_recovery_ms".into(),
                "must be between 1 and 600000".into(),
            );
        }
        if self.overload_retry_after_secs == 0 || self.overload_retry_after_secs > 3600 {
            issue(
                "sip.overload_retry_after_secs".into(),
                "must be between 1 and 3600".into(),
            );
        }
    }
}

/// `[sip.timers]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersSection {
    /// RTT estimate (RFC 3261 T1), milliseconds.
    pub t1_ms: u64,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (T2), milliseconds.
    pub t2_ms: u64,
    /// Maximum duration a message remains in the network (T4), milliseconds.
    pub t4_ms: u64,
}

impl Default for TimersSection {
    fn default() -> Self {
        TimersSection {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
        }
    }
}

/// `[http]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Address of the HTTP listener (health, REST API). Loopback unless the operator says otherwise.
    pub listen: String,
    /// Bearer token of the REST API. Unset (the default): read from `api_token_file`, or generated
    /// there at first start. There is no default token.
    pub api_token: Option<String>,
    /// Where the generated token is kept (mode 0600), relative to the config file (default `api-token`).
    pub api_token_file: String,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: "127.0.0.1:8080".to_owned(),
            api_token: None,
            api_token_file: "api-token".to_owned(),
        }
    }
}

/// `[registrar]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarSection {
    /// Digest realm offered in challenges.
    pub realm: String,
    /// Domains this registrar is responsible for; empty = accept any host in the To URI.
    pub domains: Vec<String>,
    /// Shortest registration accepted (423 Interval Too Brief below it).
    pub min_expires: u32,
    /// Longest registration granted; longer requests are shortened.
    pub max_expires: u32,
    /// Registration length when the request names none.
    pub default_expires: u32,
    /// How long a nonce stays valid, seconds; older ones are answered with `stale=true`.
    pub nonce_lifetime_secs: u64,
    /// Cap on contacts per address-of-record.
    pub max_contacts_per_aor: usize,
    /// Cap on bindings in the location service.
    pub max_bindings: usize,
    /// Digest algorithms offered, one challenge each, in order of preference (`MD5`, `SHA-256`; RFC 8760).
    /// Default `["MD5"]`: many deployed phones (baresip 1.0, for one) give up on the whole response when any
    /// challenge names an algorithm they lack, so SHA-256 is opt-in.
    pub algorithms: Vec<String>,
    /// Redis shared by signaling nodes for registrations (`redis://host:port/db`); unset = bindings
    /// live in this process only. Needs `nonce_secret_file`.
    pub shared_redis_url: Option<String>,
    /// A file of at least 32 bytes keying digest nonces, the same on every node sharing
    /// registrations (relative to this file); unset = a random key per process.
    pub nonce_secret_file: Option<String>,
}

impl Default for RegistrarSection {
    fn default() -> Self {
        RegistrarSection {
            realm: "switchboard".to_owned(),
            domains: Vec::new(),
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            nonce_lifetime_secs: 300,
            max_contacts_per_aor: 10,
            max_bindings: 100_000,
            algorithms: vec!["MD5".to_owned()],
            shared_redis_url: None,
            nonce_secret_file: None,
        }
    }
}

/// `[[users]]`: one digest account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// Digest username, also the user part of the AOR.
    pub username: String,
    /// Plain password.
    pub password: Option<String>,
    /// Pre-hashed MD5 HA1 = MD5(username:realm:password), 32 hex digits.
    pub ha1: Option<String>,
    /// Pre-hashed SHA-256 HA1, 64 hex digits.
    pub ha1_sha256: Option<String>,
    /// Domain of the AOR; defaults to any registrar domain.
    pub domain: Option<String>,
}

/// One problem in a configuration, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Key path, e.g. `sip.listen[1]` or `users[0].password`.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in a configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<ConfigIssue>);

/// Credentials of a configured user.
#[derive(Debug, Clone)]
pub enum UserSecret {
    /// Plain password.
    Password(String),
    /// Pre-hashed HA1 values (lower-case hex).
    Ha1 {
        /// MD5 HA1.
        md5: Option<String>,
        /// SHA-256 HA1.
        sha256: Option<String>,
    },
}

/// A validated user.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// Digest username.
    pub username: String,
    /// AOR domain, if restricted.
    pub domain: Option<String>,
    /// Password or HA1.
    pub secret: UserSecret,
}

/// SIP timer bases.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// T1.
    pub t1: Duration,
    /// T2.
    pub t2: Duration,
    /// T4.
    pub t4: Duration,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// SIP listen addresses (UDP + TCP each).
    pub sip_listen: Vec<SocketAddr>,
    /// SIP over TLS listen addresses.
    pub sip_tls_listen: Vec<SocketAddr>,
    /// TLS contexts, when anything uses TLS.
    pub tls: Option<crate::transport::TlsContext>,
    /// Largest accepted message.
    pub max_message_size: usize,
    /// TCP idle timeout.
    pub tcp_idle_timeout: Duration,
    /// TCP partial message timeout.
    pub tcp_partial_message_timeout: Duration,
    /// Worker count (already resolved from 0 = per core).
    pub workers: usize,
    /// Server transaction cap.
    pub max_server_transactions: usize,
    /// Concurrent call cap and load shedding (`sip.max_calls`, `sip.overload_*`).
    pub overload: OverloadConfig,
    /// Timer bases.
    pub timers: Timers,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// REST API token, when configured.
    pub api_token: Option<String>,
    /// Where a generated API token is kept.
    pub api_token_file: PathBuf,
    /// Registrar settings.
    pub registrar: RegistrarSection,
    /// Registrations shared with other nodes through Redis, and the shared nonce key.
    pub shared_registrations: SharedRegistrations,
    /// Users.
    pub users: Vec<UserConfig>,
    /// The embedded media node.
    pub media: MediaConfig,
    /// Remote media nodes; empty = run the embedded one.
    pub media_nodes: Vec<switchboard_media_pool::MediaNodeConfig>,
    /// Mutual TLS towards `https://` media nodes.
    pub media_tls: Option<switchboard_media_pool::ClientTls>,
    /// Trunks.
    pub trunks: Vec<TrunkConfig>,
    /// The dialplan file, watched for changes; `None` = [`Dialplan::registered_users_only`].
    pub dialplan_path: Option<PathBuf>,
    /// The validated plan at start.
    pub dialplan: Arc<Dialplan>,
    /// The event journal and sinks.
    pub events: EventsConfig,
    /// NATS commands.
    pub commands: CommandsSection,
    /// Bans.
    pub security: SecuritySection,
}

impl Config {
    /// The names a dialplan may refer to (checked on every reload).
    pub fn plan_context(&self) -> PlanContext {
        PlanContext {
            trunks: self.trunks.iter().map(|t| t.name.clone()).collect(),
            users: self.users.iter().map(|u| u.username.clone()).collect(),
        }
    }
}

/// Command-line values that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--sip-listen` (repeatable); replaces `sip.listen` when non-empty.
    pub sip_listen: Vec<String>,
    /// `--http-listen`.
    pub http_listen: Option<String>,
}

impl FileConfig {
    /// Decodes a TOML document. The error names the line and key of the first structural problem.
    pub fn from_toml(text: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| {
            ConfigError(vec![ConfigIssue {
                key: "(file)".to_owned(),
                message: e.to_string().trim().to_owned(),
            }])
        })
    }

    /// Reads and decodes a file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(vec![ConfigIssue {
                key: "(file)".to_owned(),
                message: format!("cannot read {}: {e}", path.display()),
            }])
        })?;
        let mut file = Self::from_toml(&text)?;
        file.base_dir = path.parent().map(Path::to_path_buf);
        Ok(file)
    }

    /// Applies overrides and validates everything, reporting every problem.
    pub fn validate(mut self, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut issues = Vec::new();
        let mut issue = |key: String, message: String| issues.push(ConfigIssue { key, message });
        let listen_key = if overrides.sip_listen.is_empty() {
            "sip.listen"
        } else {
            "--sip-listen"
        };
        if !overrides.sip_listen.is_empty() {
            self.sip.listen = overrides.sip_listen.clone();
        }
        let mut sip_listen = Vec::new();
        for (i, a) in self.sip.listen.iter().enumerate() {
            match a.parse::<SocketAddr>() {
                Ok(addr) => sip_listen.push(addr),
                Err(_) => issue(
                    format!("{listen_key}[{i}]"),
                    format!("`{a}` is not an address like 127.0.0.1:5060 or [::1]:5060"),
                ),
            }
        }
        if self.sip.listen.is_empty() {
            issue(
                listen_key.to_owned(),
                "at least one SIP listen address is required".to_owned(),
            );
        }
        if self.sip.max_message_size < 1024 || self.sip.max_message_size > 65_535 {
            issue(
                "sip.max_message_size".into(),
                "must be between 1024 and 65535 bytes".into(),
            );
        }
        if self.sip.tcp_idle_timeout_secs == 0 {
            issue(
                "sip.tcp_idle_timeout_secs".into(),
                "must be at least 1".into(),
            );
        }
        if self.sip.tcp_partial_message_timeout_secs == 0 {
            issue(
                "sip.tcp_partial_message_timeout_secs".into(),
                "must be at least 1".into(),
            );
        }
        if self.sip.max_server_transactions == 0 {
            issue(
                "sip.max_server_transactions".into(),
                "must be at least 1".into(),
            );
        }
        self.sip.validate_overload(&mut issue);
        let t = &self.sip.timers;
        if t.t1_ms == 0 {
            issue("sip.timers.t1_ms".into(), "must be at least 1".into());
        }
        if t.t2_ms < t.t1_ms {
            issue(
                "sip.timers.t2_ms".into(),
                format!("must not be below t1_ms ({})", t.t1_ms),
            );
        }
        if t.t4_ms == 0 {
            issue("sip.timers.t4_ms".into(), "must be at least 1".into());
        }
        let http_text = overrides
            .http_listen
            .clone()
            .unwrap_or_else(|| self.http.listen.clone());
        let http_key = if overrides.http_listen.is_some() {
            "--http-listen"
        } else {
            "http.listen"
        };
        let http_listen = match http_text.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                issue(
                    http_key.into(),
                    format!("`{http_text}` is not an address like 127.0.0.1:8080"),
                );
                None
            }
        };
        if let Some(t) = &self.http.api_token {
            if t.len() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                issue(
                    "http.api_token".into(),
                    "must be at least 16 characters without spaces".into(),
                );
            }
        }
        if self.http.api_token_file.trim().is_empty() {
            issue("http.api_token_file".into(), "must not be empty".into());
        }
        let r = &self.registrar;
        if r.realm.trim().is_empty() {
            issue("registrar.realm".into(), "must not be empty".into());
        }
        if r.min_expires == 0 {
            issue("registrar.min_expires".into(), "must be at least 1".into());
        }
        if r.max_expires < r.min_expires {
            issue(
                "registrar.max_expires".into(),
                format!("must not be below min_expires ({})", r.min_expires),
            );
        }
        if r.default_expires < r.min_expires || r.default_expires > r.max_expires {
            issue(
                "registrar.default_expires".into(),
                "must lie between min_expires and max_expires".into(),
            );
        }
        if r.nonce_lifetime_secs == 0 {
            issue(
                "registrar.nonce_lifetime_secs".into(),
                "must be at least 1".into(),
            );
        }
        if r.max_contacts_per_aor == 0 {
            issue(
                "registrar.max_contacts_per_aor".into(),
                "must be at least 1".into(),
            );
        }
        if r.max_bindings == 0 {
            issue("registrar.max_bindings".into(), "must be at least 1".into());
        }
        if r.algorithms.is_empty() {
            issue(
                "registrar.algorithms".into(),
                "at least one of \"MD5\", \"SHA-256\" is required".into(),
            );
        }
        for (i, a) in r.algorithms.iter().enumerate() {
            if a != "MD5" && a != "SHA-256" {
                issue(
                    format!("registrar.algorithms[{i}]"),
                    format!("`{a}` is not \"MD5\" or \"SHA-256\""),
                );
            } else if r.algorithms[..i].contains(a) {
                issue(
                    format!("registrar.algorithms[{i}]"),
                    format!("`{a}` is listed twice"),
                );
            }
        }
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = |field: &str| format!("users[{i}].{field}");
            if u.username.is_empty()
                || u.username
                    .chars()
                    .any(|c| c.is_whitespace() || c == '@' || c == ':')
            {
                issue(
                    key("username"),
                    "must be non-empty without spaces, '@' or ':'".into(),
                );
            }
            if !seen.insert((u.username.clone(), u.domain.clone())) {
                issue(key("username"), format!("duplicate user `{}`", u.username));
            }
            let secret = match (&u.password, &u.ha1, &u.ha1_sha256) {
                (Some(p), None, None) if !p.is_empty() => Some(UserSecret::Password(p.clone())),
                (Some(_), None, None) => {
                    issue(key("password"), "must not be empty".into());
                    None
                }
                (None, md5, sha) if md5.is_some() || sha.is_some() => {
                    let mut ok = true;
                    if let Some(h) = md5 {
                        if h.len() != 32 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                            issue(
                                key("ha1"),
                                "must be 32 hex digits (MD5 of username:realm:password)".into(),
                            );
                            ok = false;
                        }
                    }
                    if let Some(h) = sha {
                        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                            issue(
                                key("ha1_sha256"),
                                "must be 64 hex digits (SHA-256 of username:realm:password)".into(),
                            );
                            ok = false;
                        }
                    }
                    ok.then(|| UserSecret::Ha1 {
                        md5: md5.as_ref().map(|h| h.to_ascii_lowercase()),
                        sha256: sha.as_ref().map(|h| h.to_ascii_lowercase()),
                    })
                }
                (None, _, _) => {
                    issue(
                        key("password"),
                        "one of password, ha1 or ha1_sha256 is required".into(),
                    );
                    None
                }
                (Some(_), _, _) => {
                    issue(
                        key("password"),
                        "give either password or ha1/ha1_sha256, not both".into(),
                    );
                    None
                }
            };
            if let Some(secret) = secret {
                users.push(UserConfig {
                    username: u.username.clone(),
                    domain: u.domain.clone(),
                    secret,
                });
            }
        }
        let rtp_ip = match self.media.rtp_ip.parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip),
            _ => {
                issue(
                    "media.rtp_ip".into(),
                    format!(
                        "`{}` is not a specific IP address like 127.0.0.1 (it is written into SDP)",
                        self.media.rtp_ip
                    ),
                );
                None
            }
        };
        let ports = match parse_port_range(&self.media.ports) {
            Ok(r) => Some(r),
            Err(e) => {
                issue("media.ports".into(), e);
                None
            }
        };
        for (i, n) in self.media.nodes.iter().enumerate() {
            if n.name.is_empty() || n.name.chars().any(|c| c.is_whitespace()) {
                issue(
                    format!("media.nodes[{i}].name"),
                    "must be non-empty without spaces".into(),
                );
            } else if self.media.nodes[..i].iter().any(|m| m.name == n.name) {
                issue(
                    format!("media.nodes[{i}].name"),
                    format!("duplicate node `{}`", n.name),
                );
            }
            if !n.grpc_uri.starts_with("http://") && !n.grpc_uri.starts_with("https://") {
                issue(
                    format!("media.nodes[{i}].grpc_uri"),
                    format!("`{}` is not a URI like http://10.0.0.5:50051", n.grpc_uri),
                );
            }
            if n.weight.is_some_and(|w| w == 0 || w > 1000) {
                issue(
                    format!("media.nodes[{i}].weight"),
                    "must be between 1 and 1000".into(),
                );
            }
        }
        if self.media.rtp_timeout_secs == 0 || self.media.rtp_timeout_secs > 3600 {
            issue(
                "media.rtp_timeout_secs".into(),
                "must be between 1 and 3600".into(),
            );
        }
        let events = self.events.validate(self.base_dir.as_deref(), &mut issues);
        self.commands.validate(&mut issues);
        self.security.validate(&mut issues);
        let shared_registrations =
            shared_reg::validate(&self.registrar, self.base_dir.as_deref(), &mut issues);
        let usernames: Vec<String> = self.users.iter().map(|u| u.username.clone()).collect();
        let trunks = routing::trunks(&self.trunks, &usernames, &mut issues);
        let trunks_use_tls = trunks
            .iter()
            .any(|t| t.transport == switchboard_b2bua::LegTransport::Tls);
        let (sip_tls_listen, tls) = tls::validate(
            &self.sip,
            self.base_dir.as_deref(),
            trunks_use_tls,
            &mut issues,
        );
        let media_tls = tls::validate_media(&self.media, self.base_dir.as_deref(), &mut issues);
        let dialplan_path = routing::dialplan_path(&self.dialplan, self.base_dir.as_deref());
        let dialplan = if issues.is_empty() {
            let ctx = PlanContext {
                trunks: trunks.iter().map(|t| t.name.clone()).collect(),
                users: users.iter().map(|u| u.username.clone()).collect(),
            };
            routing::initial_plan(dialplan_path.as_deref(), &ctx, &mut issues)
        } else {
            Arc::new(Dialplan::registered_users_only())
        };
        if !issues.is_empty() {
            return Err(ConfigError(issues));
        }
        let workers = if self.sip.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.sip.workers
        };
        Ok(Config {
            sip_listen,
            sip_tls_listen,
            tls,
            max_message_size: self.sip.max_message_size,
            tcp_idle_timeout: Duration::from_secs(self.sip.tcp_idle_timeout_secs),
            tcp_partial_message_timeout: Duration::from_secs(
                self.sip.tcp_partial_message_timeout_secs,
            ),
            workers,
            max_server_transactions: self.sip.max_server_transactions,
            overload: self.sip.overload_config(),
            timers: Timers {
                t1: Duration::from_millis(t.t1_ms),
                t2: Duration::from_millis(t.t2_ms),
                t4: Duration::from_millis(t.t4_ms),
            },
            http_listen: http_listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            api_token: self.http.api_token.clone(),
            api_token_file: match &self.base_dir {
                Some(dir) => dir.join(&self.http.api_token_file),
                None => PathBuf::from(&self.http.api_token_file),
            },
            registrar: self.registrar,
            shared_registrations,
            users,
            media: MediaConfig {
                rtp_ip: rtp_ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
                ports: ports.unwrap_or(switchboard_media_pool::PortRange {
                    low: 30000,
                    high: 39999,
                }),
                rtp_timeout: Duration::from_secs(self.media.rtp_timeout_secs),
            },
            media_nodes: self.media.nodes.clone(),
            media_tls,
            trunks,
            dialplan_path,
            dialplan,
            events,
            commands: self.commands.clone(),
            security: self.security.clone(),
        })
    }
}

/// `"LOW-HIGH"` with LOW even and non-zero, HIGH above LOW, room for at least one call (4 ports).
fn parse_port_range(text: &str) -> Result<switchboard_media_pool::PortRange, String> {
    let bad = || format!("`{text}` is not a port range like \"30000-39999\"");
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if u32::from(high) < u32::from(low) + 3 {
        return Err(format!(
            "`{text}` holds fewer than 4 ports (one call needs two per leg)"
        ));
    }
    switchboard_media_pool::PortRange::new(low, high)
}

#[cfg(test)]
mod tests;
