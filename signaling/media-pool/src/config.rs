//! Pool configuration: the media nodes to use ([`MediaNodeConfig`]) and the pool's deadlines and
//! health-check timings ([`PoolConfig`]). Plain structs with documented defaults; the signaling
//! binary fills them from its own config file.

use std::time::Duration;

use serde::Deserialize;

use crate::error::MediaError;

/// Highest accepted [`MediaNodeConfig::weight`].
pub const MAX_WEIGHT: u32 = 1000;

/// One media node the pool may use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaNodeConfig {
    /// Unique name, used in events, snapshots and logs (e.g. `media-1`).
    pub name: String,
    /// gRPC endpoint, e.g. `http://10.0.0.5:50051`.
    pub grpc_uri: String,
    /// Relative preference (1..=1000, default 1): a node's free capacity is multiplied by it.
    #[serde(default)]
    pub weight: Option<u32>,
}

impl MediaNodeConfig {
    /// A node with the default weight.
    pub fn new(name: impl Into<String>, grpc_uri: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            grpc_uri: grpc_uri.into(),
            weight: None,
        }
    }

    /// The same node with `weight`.
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }

    /// The effective weight (default 1).
    pub fn effective_weight(&self) -> u32 {
        self.weight.unwrap_or(1)
    }

    /// Checks the name is non-empty, the URI is an `http`/`https` URI and the weight in range.
    pub fn validate(&self) -> Result<(), MediaError> {
        let invalid = |field: &'static str, reason: String| MediaError::InvalidNode {
            name: self.name.clone(),
            field,
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        let uri: tonic::codegen::http::Uri = self
            .grpc_uri
            .parse()
            .map_err(|e| invalid("grpc_uri", format!("{:?}: {e}", self.grpc_uri)))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => {}
            _ => {
                return Err(invalid(
                    "grpc_uri",
                    format!("{:?}: expected http://HOST:PORT", self.grpc_uri),
                ));
            }
        }
        match self.weight {
            Some(w) if !(1..=MAX_WEIGHT).contains(&w) => {
                Err(invalid("weight", format!("{w} not in 1..={MAX_WEIGHT}")))
            }
            _ => Ok(()),
        }
    }
}

/// Deadlines and health-check timings of a [`crate::MediaPool`].
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Nodes present at start (more can be added with [`crate::MediaPool::add_node`]).
    pub nodes: Vec<MediaNodeConfig>,
    /// Deadline of one `AllocateSession` attempt (default 2 s).
    pub allocate_timeout: Duration,
    /// Deadline of every other unary call (default 1 s).
    pub call_timeout: Duration,
    /// TCP connect timeout toward a node (default 500 ms).
    pub connect_timeout: Duration,
    /// Period of the Health poll of each node (default 1 s).
    pub health_interval: Duration,
    /// Deadline of one Health call (default 500 ms).
    pub health_timeout: Duration,
    /// Consecutive failed Health calls after which a node is marked down (default 2). With the
    /// defaults a dead node is down at most `2 × health_interval + health_timeout` = 2.5 s after
    /// its last good answer.
    pub down_after_failures: u32,
    /// Pause before re-subscribing to a node's event stream after it ended (default 500 ms).
    pub event_retry: Duration,
    /// Capacity of the [`crate::PoolEvent`] broadcast channel (default 1024).
    pub event_capacity: usize,
    /// Prefix of the session ids the pool asks nodes to use (default: derived from the process
    /// id and start time, so that two signaling processes do not collide).
    pub session_prefix: String,
    /// Mutual TLS towards nodes with an `https://` URI (default none: such a node is refused).
    pub tls: Option<ClientTls>,
}

/// What the pool presents and trusts on `https://` nodes (DESIGN.md "Security defaults": mTLS
/// between signaling and media). PEM text.
#[derive(Clone)]
pub struct ClientTls {
    /// CA certificate(s) a node's certificate must chain to; the node is verified for the host
    /// of its `grpc_uri` (an IP address or a DNS name).
    pub ca_pem: Vec<u8>,
    /// Our client certificate chain, which nodes verify against their client CA.
    pub cert_pem: Vec<u8>,
    /// Its private key.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            nodes: Vec::new(),
            allocate_timeout: Duration::from_secs(2),
            call_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_millis(500),
            health_interval: Duration::from_secs(1),
            health_timeout: Duration::from_millis(500),
            down_after_failures: 2,
            event_retry: Duration::from_millis(500),
            event_capacity: 1024,
            session_prefix: format!("sb{:x}{:x}", std::process::id(), nanos & 0xff_ffff_ffff),
            tls: None,
        }
    }
}

impl PoolConfig {
    /// Checks every duration is usable, the event capacity non-zero, the session prefix
    /// non-empty and every node valid; reports all problems at once.
    pub fn validate(&self) -> Result<(), MediaError> {
        let mut problems = Vec::new();
        let durations = [
            ("allocate_timeout", self.allocate_timeout),
            ("call_timeout", self.call_timeout),
            ("connect_timeout", self.connect_timeout),
            ("health_interval", self.health_interval),
            ("health_timeout", self.health_timeout),
            ("event_retry", self.event_retry),
        ];
        for (field, d) in durations {
            if d < Duration::from_millis(1) {
                problems.push(format!("{field}: must be at least 1 ms"));
            }
        }
        if self.event_capacity == 0 {
            problems.push("event_capacity: must be at least 1".into());
        }
        if self.session_prefix.is_empty() {
            problems.push("session_prefix: must not be empty".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Err(e) = node.validate() {
                problems.push(format!("nodes[{i}]: {e}"));
            }
            if !names.insert(node.name.as_str()) {
                problems.push(format!("nodes[{i}].name: {:?} is used twice", node.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(MediaError::InvalidPool { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_config_checks_name_uri_and_weight() {
        assert!(
            MediaNodeConfig::new("m1", "http://127.0.0.1:50051")
                .validate()
                .is_ok()
        );
        let e = MediaNodeConfig::new("", "http://127.0.0.1:1").validate();
        assert!(matches!(
            e,
            Err(MediaError::InvalidNode { field: "name", .. })
        ));
        let e = MediaNodeConfig::new("m1", "127.0.0.1:1").validate();
        assert!(matches!(
            e,
            Err(MediaError::InvalidNode {
                field: "grpc_uri",
                ..
            })
        ));
        let e = MediaNodeConfig::new("m1", "http://[::1").validate();
        assert!(matches!(
            e,
            Err(MediaError::InvalidNode {
                field: "grpc_uri",
                ..
            })
        ));
        let e = MediaNodeConfig::new("m1", "http://h:1")
            .with_weight(0)
            .validate();
        assert!(matches!(
            e,
            Err(MediaError::InvalidNode {
                field: "weight",
                ..
            })
        ));
        assert_eq!(
            MediaNodeConfig::new("m1", "http://h:1").effective_weight(),
            1
        );
    }

    #[test]
    fn pool_config_reports_every_problem_at_once() {
        let config = PoolConfig {
            health_interval: Duration::ZERO,
            event_capacity: 0,
            nodes: vec![
                MediaNodeConfig::new("m1", "http://h:1"),
                MediaNodeConfig::new("m1", "nope"),
            ],
            ..PoolConfig::default()
        };
        let Err(MediaError::InvalidPool { problems }) = config.validate() else {
            panic!("invalid config accepted");
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("health_interval:"));
        assert!(problems[1].starts_with("event_capacity:"));
        assert!(problems[2].starts_with("nodes[1]: media node \"m1\": grpc_uri"));
        assert!(problems[3].starts_with("nodes[1].name:"));
        assert!(PoolConfig::default().validate().is_ok());
    }

    #[test]
    fn node_config_deserializes_and_refuses_unknown_keys() {
        #[derive(Deserialize)]
        struct File {
            node: Vec<MediaNodeConfig>,
        }
        let parsed: Result<File, _> =
            from_json(r#"{"node":[{"name":"m1","grpc_uri":"http://h:1","weight":3}]}"#);
        let file = parsed.expect("valid");
        assert_eq!(file.node[0].weight, Some(3));
        let bad: Result<File, _> =
            from_json(r#"{"node":[{"name":"m1","grpc_uri":"x","wieght":3}]}"#);
        assert!(bad.is_err());
    }

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }
}
