//! [`NodeHandle`]: one media node's gRPC client (every unary call with a deadline) and the
//! pool's [`NodeState`] for it; [`InFlight`] accounts for an allocation under way.
//! [`NodeChannel`]: how the client reaches the node, over HTTP/2 or in-process.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use switchboard_proto::v1::{self as pb, media_service_client::MediaServiceClient};
use tonic::body::Body;
use tonic::codegen::{StdError, http};
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::config::{MediaNodeConfig, PoolConfig};
use crate::error::MediaError;
use crate::monitor::Shared;
use crate::state::{NodeSnapshot, NodeState};

/// Deadlines of one node's calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) allocate: Duration,
    pub(crate) call: Duration,
    pub(crate) health: Duration,
}

/// What a node's gRPC client sends its requests through: an HTTP/2 channel to a remote node, or
/// the embedded node's own service called in-process (the same encoded requests and status codes,
/// without the loopback HTTP/2 connection; see [`NodeChannel::in_process`]).
#[derive(Clone)]
pub(crate) struct NodeChannel(
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, StdError>,
);

impl NodeChannel {
    /// A gRPC service called in-process, e.g. `switchboard_media::service(node)`. Each call's
    /// handler runs as a task on `runtime` (the runtime a gRPC server would run it on), not inside
    /// the caller's task: callers include the signaling workers' single-threaded runtimes, which
    /// must never wait on the node's work.
    pub(crate) fn in_process<S>(service: S, runtime: tokio::runtime::Handle) -> Self
    where
        S: tower::Service<
                http::Request<Body>,
                Response = http::Response<Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let on_runtime = tower::service_fn(move |req: http::Request<Body>| {
            let call = service.clone().oneshot(req);
            let task = runtime.spawn(call);
            async move {
                match task.await {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(never)) => match never {},
                    Err(e) => Err(StdError::from(e)),
                }
            }
        });
        Self(BoxCloneSyncService::new(on_runtime))
    }

    fn remote(endpoint: &Endpoint) -> Self {
        Self(BoxCloneSyncService::new(
            endpoint.connect_lazy().map_err(StdError::from),
        ))
    }
}

impl std::fmt::Debug for NodeChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeChannel")
    }
}

impl tower::Service<http::Request<Body>> for NodeChannel {
    type Response = http::Response<Body>;
    type Error = StdError;
    type Future = <BoxCloneSyncService<http::Request<Body>, http::Response<Body>, StdError> as tower::Service<http::Request<Body>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        self.0.call(req)
    }
}

/// A node in the pool.
#[derive(Debug)]
pub(crate) struct NodeHandle {
    pub(crate) config: MediaNodeConfig,
    client: MediaServiceClient<NodeChannel>,
    deadlines: Deadlines,
    state: Mutex<NodeState>,
}

/// Sets the `grpc-timeout` header (the node stops working on it) and bounds the wait locally
/// (the answer may never come from a dead node).
async fn with_deadline<T>(
    timeout: Duration,
    call: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(timeout, call).await {
        // tonic's client enforces the grpc-timeout header itself and reports it as CANCELLED
        // ("Timeout expired"); nothing else cancels our calls, so it is the deadline.
        Ok(Err(s)) if s.code() == tonic::Code::Cancelled => {
            Err(Status::deadline_exceeded(format!(
                "no answer within {} ms ({})",
                timeout.as_millis(),
                s.message()
            )))
        }
        Ok(answer) => answer.map(Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

fn request<T>(message: T, timeout: Duration) -> Request<T> {
    let mut r = Request::new(message);
    r.set_timeout(timeout);
    r
}

impl NodeHandle {
    /// Validates the config and creates a lazily connecting client (no I/O yet).
    pub(crate) fn new(config: MediaNodeConfig, pool: &PoolConfig) -> Result<Self, MediaError> {
        config.validate()?;
        let endpoint = Endpoint::from_shared(config.grpc_uri.clone())
            .map_err(|e| MediaError::InvalidNode {
                name: config.name.clone(),
                field: "grpc_uri",
                reason: e.to_string(),
            })?
            .connect_timeout(pool.connect_timeout)
            .tcp_nodelay(true);
        let endpoint = if config.grpc_uri.starts_with("https://") {
            use tonic::transport::{Certificate, ClientTlsConfig, Identity};
            let invalid = |reason: String| MediaError::InvalidNode {
                name: config.name.clone(),
                field: "grpc_uri",
                reason,
            };
            let tls = pool.tls.as_ref().ok_or_else(|| {
                invalid(
                    "https:// needs the pool's TLS settings (CA, client certificate, key)".into(),
                )
            })?;
            endpoint
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
                        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem)),
                )
                .map_err(|e| invalid(format!("TLS: {e}")))?
        } else {
            endpoint
        };
        Ok(Self::with_channel(
            config,
            pool,
            NodeChannel::remote(&endpoint),
        ))
    }

    /// A node reached through `channel` (its `grpc_uri` is only shown).
    pub(crate) fn with_channel(
        config: MediaNodeConfig,
        pool: &PoolConfig,
        channel: NodeChannel,
    ) -> Self {
        Self {
            client: MediaServiceClient::new(channel),
            deadlines: Deadlines {
                allocate: pool.allocate_timeout,
                call: pool.call_timeout,
                health: pool.health_timeout,
            },
            state: Mutex::new(NodeState::new()),
            config,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> NodeSnapshot {
        self.state().snapshot(
            &self.config.name,
            &self.config.grpc_uri,
            self.config.effective_weight(),
        )
    }

    /// Wraps a failed call on one of this node's sessions, remembering it as the last error.
    pub(crate) fn error(&self, operation: &'static str, status: &Status) -> MediaError {
        let e = MediaError::Node {
            node: self.config.name.clone(),
            operation,
            code: status.code(),
            message: status.message().to_owned(),
        };
        self.state().last_error = Some(e.to_string());
        e
    }

    pub(crate) async fn allocate(
        &self,
        req: pb::AllocateSessionRequest,
    ) -> Result<pb::AllocateSessionResponse, Status> {
        let t = self.deadlines.allocate;
        let mut c = self.client.clone();
        with_deadline(t, c.allocate_session(request(req, t))).await
    }

    pub(crate) async fn update_leg(&self, req: pb::UpdateLegRequest) -> Result<(), Status> {
        let t = self.deadlines.call;
        let mut c = self.client.clone();
        with_deadline(t, c.update_leg(request(req, t)))
            .await
            .map(drop)
    }

    pub(crate) async fn release(&self, session_id: &str) -> Result<pb::SessionInfo, Status> {
        let t = self.deadlines.call;
        let mut c = self.client.clone();
        let req = pb::ReleaseSessionRequest {
            session_id: session_id.to_owned(),
        };
        let answer = with_deadline(t, c.release_session(request(req, t))).await?;
        Ok(answer.session.unwrap_or_default())
    }

    pub(crate) async fn send_dtmf(&self, req: pb::SendDtmfRequest) -> Result<(), Status> {
        let t = self.deadlines.call;
        let mut c = self.client.clone();
        with_deadline(t, c.send_dtmf(request(req, t)))
            .await
            .map(drop)
    }

    pub(crate) async fn get_session(&self, session_id: &str) -> Result<pb::SessionInfo, Status> {
        let t = self.deadlines.call;
        let mut c = self.client.clone();
        let req = pb::GetSessionRequest {
            session_id: session_id.to_owned(),
        };
        with_deadline(t, c.get_session(request(req, t))).await
    }

    pub(crate) async fn list_sessions(&self) -> Result<Vec<pb::SessionInfo>, Status> {
        let t = self.deadlines.call;
        let mut c = self.client.clone();
        let req = pb::ListSessionsRequest {};
        Ok(with_deadline(t, c.list_sessions(request(req, t)))
            .await?
            .sessions)
    }

    pub(crate) async fn set_draining(&self, draining: bool) -> Result<pb::DrainResponse, Status> {
        let t = self.deadlines.call;
        let mut c = self.client.clone();
        if draining {
            with_deadline(t, c.drain(request(pb::DrainRequest {}, t))).await
        } else {
            with_deadline(t, c.undrain(request(pb::UndrainRequest {}, t))).await
        }
    }

    pub(crate) async fn health(&self) -> Result<pb::HealthResponse, Status> {
        let t = self.deadlines.health;
        let mut c = self.client.clone();
        with_deadline(t, c.health(request(pb::HealthRequest {}, t))).await
    }

    /// After an AllocateSession deadline the node may still have created the session under
    /// our id: release it in the background so it does not linger (best effort, bounded by the
    /// call deadline; NOT_FOUND means it was never created).
    pub(crate) fn release_late(self: Arc<Self>, session_id: String) {
        tokio::spawn(async move {
            if let Err(s) = self.release(&session_id).await
                && s.code() != tonic::Code::NotFound
            {
                tracing::warn!(node = self.name(), session = %session_id, error = %s, "late release failed");
            }
        });
    }

    /// Opens the WatchEvents stream (the deadline bounds the subscription, not the stream).
    pub(crate) async fn watch_events(&self) -> Result<tonic::Streaming<pb::MediaEvent>, Status> {
        let mut c = self.client.clone();
        with_deadline(
            self.deadlines.call,
            c.watch_events(pb::WatchEventsRequest::default()),
        )
        .await
    }
}

/// Counts an AllocateSession in flight on a node and remembers the id it asks for, for as
/// long as it lives (also when the caller's future is dropped mid-call).
pub(crate) struct InFlight<'a> {
    node: &'a NodeHandle,
    shared: &'a Shared,
    session_id: &'a str,
}

impl<'a> InFlight<'a> {
    pub(crate) fn start(node: &'a NodeHandle, shared: &'a Shared, session_id: &'a str) -> Self {
        let mut state = node.state();
        state.pending = state.pending.saturating_add(1);
        drop(state);
        shared.allocating().insert(session_id.to_owned());
        Self {
            node,
            shared,
            session_id,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.allocating().remove(self.session_id);
        let mut state = self.node.state();
        state.pending = state.pending.saturating_sub(1);
    }
}
