//! Node configuration: the validated [`NodeConfig`] the library runs with, and the raw
//! [`RawConfig`] layer read from TOML and command-line flags (flags override the file).
//!
//! Validation reports every problem at once, each with its key path (`ports`, `max_sessions`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

/// What the relay does with RFC 4733 telephone-event packets received on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DtmfMode {
    /// Detect and forward unchanged.
    #[default]
    PassThrough,
    /// Detect and do not forward.
    Strip,
}

/// An even-aligned port range: RTP on even ports `low..high`, RTCP on the next odd port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First RTP port (even).
    pub low: u16,
    /// Last port of the range (inclusive); the last pair is the highest even port whose
    /// RTCP port (`+1`) is `<= high`.
    pub high: u16,
}

impl PortRange {
    /// Parses `LOW-HIGH` and checks `low` is even, non-zero and `high > low`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (low, high) = text
            .split_once('-')
            .ok_or_else(|| format!("expected LOW-HIGH, got {text:?}"))?;
        let low: u16 = low
            .trim()
            .parse()
            .map_err(|e| format!("low port {low:?}: {e}"))?;
        let high: u16 = high
            .trim()
            .parse()
            .map_err(|e| format!("high port {high:?}: {e}"))?;
        Self::new(low, high)
    }

    /// Checks `low` is even and non-zero and that the range holds at least one RTP/RTCP pair.
    pub fn new(low: u16, high: u16) -> Result<Self, String> {
        if low == 0 || low % 2 != 0 {
            return Err(format!("low port {low} must be even and non-zero"));
        }
        if high <= low {
            return Err(format!(
                "high port {high} must be greater than low port {low}"
            ));
        }
        Ok(Self { low, high })
    }

    /// Number of RTP/RTCP pairs in the range.
    pub fn pairs(&self) -> usize {
        (usize::from(self.high) - usize::from(self.low)).div_ceil(2)
    }
}

/// The validated configuration of a media node. Defaults are documented per field.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// gRPC listen address (default `127.0.0.1:50051`); ignored by [`crate::serve`].
    pub grpc_listen: SocketAddr,
    /// HTTP listen address for `/metrics` and `/health` (default none: not served).
    pub http_listen: Option<SocketAddr>,
    /// Local address RTP sockets bind to and that is advertised to signaling (default 127.0.0.1).
    pub rtp_ip: IpAddr,
    /// RTP/RTCP port range (default 30000-39999).
    pub ports: PortRange,
    /// Maximum concurrent sessions (default 10000).
    pub max_sessions: u32,
    /// Relay worker threads (default: available cores).
    pub workers: usize,
    /// Default RTP timeout of a leg (default 60 s).
    pub rtp_timeout: Duration,
    /// How often each session publishes its statistics and checks timeouts (default 1 s).
    pub stats_interval: Duration,
    /// Default DTMF handling of a leg (default pass-through).
    pub dtmf_mode: DtmfMode,
    /// gRPC over mutual TLS (default none: plain HTTP/2, for loopback and private networks).
    pub tls: Option<GrpcTls>,
}

/// The gRPC listener's mutual TLS (DESIGN.md "Security defaults": mTLS between signaling and
/// media): the node's certificate, and the CA whose certificates a client must present. PEM
/// text, read from the files when the config is validated.
#[derive(Clone)]
pub struct GrpcTls {
    /// The node's certificate chain (leaf first).
    pub cert_pem: Vec<u8>,
    /// The node's private key.
    pub key_pem: Vec<u8>,
    /// CA certificates a client's certificate must chain to; a client without one is refused
    /// during the handshake.
    pub client_ca_pem: Vec<u8>,
}

impl fmt::Debug for GrpcTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("GrpcTls").finish_non_exhaustive()
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            grpc_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 50051)),
            http_listen: None,
            rtp_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: PortRange {
                low: 30000,
                high: 39999,
            },
            max_sessions: 10_000,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rtp_timeout: Duration::from_secs(60),
            stats_interval: Duration::from_secs(1),
            dtmf_mode: DtmfMode::PassThrough,
            tls: None,
        }
    }
}

/// One invalid key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// Key path, e.g. `ports`.
    pub key: String,
    /// What is wrong with the value.
    pub reason: String,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// All invalid keys (never empty).
    pub errors: Vec<KeyError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for e in &self.errors {
            write!(f, "\n  {}: {}", e.key, e.reason)?;
        }
        Ok(())
    }
}

/// Raw configuration as written in TOML (every key optional, unknown keys refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// gRPC listen address `IP:PORT`.
    pub grpc_listen: Option<String>,
    /// HTTP listen address `IP:PORT`.
    pub http_listen: Option<String>,
    /// RTP bind address.
    pub rtp_ip: Option<String>,
    /// Port range `LOW-HIGH`.
    pub ports: Option<String>,
    /// Maximum concurrent sessions.
    pub max_sessions: Option<u32>,
    /// Relay worker threads.
    pub workers: Option<usize>,
    /// Default RTP timeout in milliseconds.
    pub rtp_timeout_ms: Option<u64>,
    /// Statistics / timeout check interval in milliseconds.
    pub stats_interval_ms: Option<u64>,
    /// `pass-through` or `strip`.
    pub dtmf_mode: Option<DtmfMode>,
    /// PEM file: the gRPC listener's certificate chain (with `tls_key` and `tls_client_ca`).
    pub tls_cert: Option<String>,
    /// PEM file: its private key.
    pub tls_key: Option<String>,
    /// PEM file: the CA(s) signaling's client certificate must chain to.
    pub tls_client_ca: Option<String>,
}

impl RawConfig {
    /// Parses TOML text; a syntax error or unknown key is reported with its key path.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let key = e.message().split('`').nth(1).unwrap_or("<file>").to_owned();
            ConfigError {
                errors: vec![KeyError {
                    key,
                    reason: e.to_string(),
                }],
            }
        })
    }

    /// Values set in `over` replace those in `self` (flags over file).
    pub fn overridden_by(self, over: RawConfig) -> RawConfig {
        RawConfig {
            grpc_listen: over.grpc_listen.or(self.grpc_listen),
            http_listen: over.http_listen.or(self.http_listen),
            rtp_ip: over.rtp_ip.or(self.rtp_ip),
            ports: over.ports.or(self.ports),
            max_sessions: over.max_sessions.or(self.max_sessions),
            workers: over.workers.or(self.workers),
            rtp_timeout_ms: over.rtp_timeout_ms.or(self.rtp_timeout_ms),
            stats_interval_ms: over.stats_interval_ms.or(self.stats_interval_ms),
            dtmf_mode: over.dtmf_mode.or(self.dtmf_mode),
            tls_cert: over.tls_cert.or(self.tls_cert),
            tls_key: over.tls_key.or(self.tls_key),
            tls_client_ca: over.tls_client_ca.or(self.tls_client_ca),
        }
    }

    /// Validates every key and builds a [`NodeConfig`] (unset keys take the defaults).
    pub fn validate(self) -> Result<NodeConfig, ConfigError> {
        let mut errors = Vec::new();
        let mut cfg = NodeConfig::default();
        let mut err = |key: &str, reason: String| {
            errors.push(KeyError {
                key: key.to_owned(),
                reason,
            });
        };
        if let Some(v) = self.grpc_listen {
            v.parse().map_or_else(
                |e| err("grpc_listen", format!("{v:?}: {e}")),
                |a| cfg.grpc_listen = a,
            );
        }
        if let Some(v) = self.http_listen {
            v.parse().map_or_else(
                |e| err("http_listen", format!("{v:?}: {e}")),
                |a| cfg.http_listen = Some(a),
            );
        }
        if let Some(v) = self.rtp_ip {
            v.parse()
                .map_or_else(|e| err("rtp_ip", format!("{v:?}: {e}")), |a| cfg.rtp_ip = a);
        }
        if let Some(v) = self.ports {
            PortRange::parse(&v).map_or_else(|e| err("ports", e), |r| cfg.ports = r);
        }
        match self.max_sessions {
            Some(0) => err("max_sessions", "must be at least 1".into()),
            Some(n) => cfg.max_sessions = n,
            None => {}
        }
        match self.workers {
            Some(0) => err("workers", "must be at least 1".into()),
            Some(n) => cfg.workers = n,
            None => {}
        }
        match self.rtp_timeout_ms {
            Some(0) => err("rtp_timeout_ms", "must be at least 1".into()),
            Some(ms) => cfg.rtp_timeout = Duration::from_millis(ms),
            None => {}
        }
        match self.stats_interval_ms {
            Some(ms) if !(10..=60_000).contains(&ms) => {
                err("stats_interval_ms", format!("{ms} not in 10..=60000"));
            }
            Some(ms) => cfg.stats_interval = Duration::from_millis(ms),
            None => {}
        }
        if let Some(m) = self.dtmf_mode {
            cfg.dtmf_mode = m;
        }
        let tls = [
            ("tls_cert", self.tls_cert, "-----BEGIN CERTIFICATE-----"),
            ("tls_key", self.tls_key, "PRIVATE KEY-----"),
            (
                "tls_client_ca",
                self.tls_client_ca,
                "-----BEGIN CERTIFICATE-----",
            ),
        ];
        if tls.iter().any(|(_, path, _)| path.is_some()) {
            let pems: Vec<Option<Vec<u8>>> = tls
                .into_iter()
                .map(|(key, path, marker)| match path {
                    None => {
                        let reason = "required with the other tls_* keys (the gRPC listener \
                                      uses mutual TLS: tls_cert, tls_key and tls_client_ca)";
                        err(key, reason.into());
                        None
                    }
                    Some(path) => read_pem(&path, marker).map_err(|e| err(key, e)).ok(),
                })
                .collect();
            if let [Some(cert_pem), Some(key_pem), Some(client_ca_pem)] = &pems[..] {
                cfg.tls = Some(GrpcTls {
                    cert_pem: cert_pem.clone(),
                    key_pem: key_pem.clone(),
                    client_ca_pem: client_ca_pem.clone(),
                });
            }
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { errors })
        }
    }
}

/// Reads a PEM file that must contain `marker` (a certificate or a private key).
fn read_pem(path: &str, marker: &str) -> Result<Vec<u8>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if String::from_utf8_lossy(&text).contains(marker) {
        Ok(text)
    } else {
        Err(format!("{path}: not PEM (no {marker:?} block)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_requires_even_low_and_high_above_low() {
        assert!(PortRange::parse("30001-30010").is_err());
        assert!(PortRange::parse("30000-30000").is_err());
        assert!(PortRange::parse("0-10").is_err());
        assert!(PortRange::parse("abc").is_err());
        let r = PortRange::parse("30000-30003").expect("valid");
        assert_eq!(r.pairs(), 2);
        assert_eq!(PortRange::parse("30000-30002").expect("valid").pairs(), 1);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = RawConfig::from_toml("portz = \"1-2\"").expect_err("unknown key");
        assert_eq!(e.errors[0].key, "portz");
    }

    #[test]
    fn every_bad_key_is_reported_at_once() {
        let raw = RawConfig::from_toml(
            "ports = \"31-40\"\nmax_sessions = 0\nrtp_ip = \"nope\"\ndtmf_mode = \"strip\"",
        )
        .expect("syntax ok");
        let e = raw.validate().expect_err("invalid");
        let keys: Vec<_> = e.errors.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["rtp_ip", "ports", "max_sessions"]);
    }

    #[test]
    fn flags_override_file() {
        let file = RawConfig::from_toml("ports = \"30000-30099\"\nmax_sessions = 5").expect("ok");
        let flags = RawConfig {
            max_sessions: Some(7),
            ..RawConfig::default()
        };
        let cfg = file.overridden_by(flags).validate().expect("valid");
        assert_eq!(cfg.max_sessions, 7);
        assert_eq!(
            cfg.ports,
            PortRange {
                low: 30000,
                high: 30099
            }
        );
    }

    #[test]
    fn tls_keys_come_together_and_must_be_pem() {
        let dir = std::env::temp_dir().join(format!("sb-media-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cert = dir.join("cert.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("cert");
        let not_pem = dir.join("key.der");
        std::fs::write(&not_pem, [0x30u8, 0x82, 0x01]).expect("key");
        let path = |p: &std::path::Path| Some(p.display().to_string());

        let only_cert = RawConfig {
            tls_cert: path(&cert),
            ..RawConfig::default()
        };
        let e = only_cert.validate().expect_err("half a TLS config");
        let keys: Vec<_> = e.errors.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["tls_key", "tls_client_ca"], "{e}");

        let bad_key = RawConfig {
            tls_cert: path(&cert),
            tls_key: path(&not_pem),
            tls_client_ca: path(&dir.join("missing.pem")),
            ..RawConfig::default()
        };
        let e = bad_key.validate().expect_err("bad files");
        assert_eq!(e.errors.len(), 2, "{e}");
        assert_eq!(e.errors[0].key, "tls_key");
        assert!(e.errors[0].reason.contains("not PEM"), "{e}");
        assert_eq!(e.errors[1].key, "tls_client_ca");

        let key = dir.join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect("key");
        let good = RawConfig {
            tls_cert: path(&cert),
            tls_key: path(&key),
            tls_client_ca: path(&cert),
            ..RawConfig::default()
        };
        let cfg = good.validate().expect("complete TLS config");
        assert!(cfg.tls.is_some());
        assert!(
            !format!("{cfg:?}").contains("PRIVATE"),
            "the key is never printed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
