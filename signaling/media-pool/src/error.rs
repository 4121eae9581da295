//! [`MediaError`]: every failure of a pool operation, with the side that failed
//! ([`FailureSide`]) and whether another node may succeed ([`RetryHint`]).

use std::fmt;

/// Which side of a call a media failure belongs to (STYLE.md "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureSide {
    /// A media node refused, failed or could not be reached.
    Media,
    /// Signaling itself: a bad request, an unknown session or node, a bad configuration.
    Internal,
}

/// Whether retrying may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Another media node may succeed (for a session already placed: re-allocate elsewhere).
    OtherNode,
    /// Every node was tried; capacity may come back later.
    Later,
    /// The same request fails anywhere.
    Never,
}

/// One node that did not take a session during [`crate::MediaPool::allocate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRefusal {
    /// Node name.
    pub node: String,
    /// gRPC status code (`DeadlineExceeded` when the pool's deadline expired).
    pub code: tonic::Code,
    /// Status message.
    pub message: String,
}

impl fmt::Display for NodeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}: {}", self.node, self.code, self.message)
    }
}

/// A failure of a pool operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MediaError {
    /// No node took the session: none is up, or every candidate refused (listed in order).
    #[error("no media node took the session ({})", Refusals(.attempts))]
    NoCapacity {
        /// Each node tried, in order, and why it refused (empty: no node was up).
        attempts: Vec<NodeRefusal>,
    },
    /// A node answered an operation on one of its sessions with an error.
    #[error("media node {node}: {operation}: {code:?}: {message}")]
    Node {
        /// Node name.
        node: String,
        /// The gRPC method, e.g. `UpdateLeg`.
        operation: &'static str,
        /// gRPC status code.
        code: tonic::Code,
        /// Status message (for INVALID_ARGUMENT it names the field).
        message: String,
    },
    /// The session id was never allocated through this pool, or is released.
    #[error("session {0:?} is not known to the media pool")]
    UnknownSession(String),
    /// No node with this name is in the pool.
    #[error("media node {0:?} is not in the pool")]
    UnknownNode(String),
    /// A node with this name is already in the pool.
    #[error("media node {0:?} is already in the pool")]
    DuplicateNode(String),
    /// The pool configuration is invalid; every problem is listed as `field: reason`.
    #[error("invalid media pool config: {}", .problems.join("; "))]
    InvalidPool {
        /// Each invalid field and why.
        problems: Vec<String>,
    },
    /// A node configuration is invalid.
    #[error("media node {name:?}: {field}: {reason}")]
    InvalidNode {
        /// Node name as configured.
        name: String,
        /// The invalid field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

struct Refusals<'a>(&'a [NodeRefusal]);

impl fmt::Display for Refusals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "no node is up");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Status codes after which another node may take the same request.
pub(crate) fn retry_elsewhere(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::ResourceExhausted
            | tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unknown
            | tonic::Code::Internal
            | tonic::Code::Cancelled
    )
}

impl MediaError {
    /// The side that failed.
    pub fn side(&self) -> FailureSide {
        match self {
            MediaError::NoCapacity { .. } => FailureSide::Media,
            MediaError::Node { code, .. } if retry_elsewhere(*code) => FailureSide::Media,
            _ => FailureSide::Internal,
        }
    }

    /// Whether a retry may help, and where.
    pub fn retry(&self) -> RetryHint {
        match self {
            MediaError::NoCapacity { .. } => RetryHint::Later,
            MediaError::Node { code, .. } if retry_elsewhere(*code) => RetryHint::OtherNode,
            _ => RetryHint::Never,
        }
    }

    /// The SIP status a call failing on this error should get: 503 when media capacity or a
    /// node is the cause (RFC 3261 §21.5.4), 500 otherwise.
    pub fn sip_status(&self) -> u16 {
        match self.side() {
            FailureSide::Media => 503,
            FailureSide::Internal => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_error(code: tonic::Code) -> MediaError {
        MediaError::Node {
            node: "m1".into(),
            operation: "UpdateLeg",
            code,
            message: "x".into(),
        }
    }

    #[test]
    fn refusals_and_unreachable_nodes_are_media_side_and_retryable_elsewhere() {
        for code in [
            tonic::Code::ResourceExhausted,
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
        ] {
            let e = node_error(code);
            assert_eq!(e.side(), FailureSide::Media);
            assert_eq!(e.retry(), RetryHint::OtherNode);
            assert_eq!(e.sip_status(), 503);
        }
    }

    #[test]
    fn bad_requests_are_internal_and_never_retried() {
        for e in [
            node_error(tonic::Code::InvalidArgument),
            node_error(tonic::Code::NotFound),
            MediaError::UnknownSession("s".into()),
            MediaError::UnknownNode("m".into()),
        ] {
            assert_eq!(e.side(), FailureSide::Internal, "{e}");
            assert_eq!(e.retry(), RetryHint::Never, "{e}");
            assert_eq!(e.sip_status(), 500);
        }
    }

    #[test]
    fn no_capacity_lists_every_refusal() {
        let e = MediaError::NoCapacity {
            attempts: vec![
                NodeRefusal {
                    node: "m1".into(),
                    code: tonic::Code::ResourceExhausted,
                    message: "max sessions (1) reached".into(),
                },
                NodeRefusal {
                    node: "m2".into(),
                    code: tonic::Code::Unavailable,
                    message: "draining".into(),
                },
            ],
        };
        let text = e.to_string();
        assert!(text.contains("m1: ResourceExhausted"), "{text}");
        assert!(text.contains("m2: Unavailable"), "{text}");
        assert_eq!(e.retry(), RetryHint::Later);
        let none = MediaError::NoCapacity { attempts: vec![] };
        assert!(none.to_string().contains("no node is up"));
    }
}
