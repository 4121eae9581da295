//! [`EmbeddedNode`]: one `switchboard-media` node run in-process (the single-host default
//! deployment and tests). It serves gRPC on loopback like a remote node; the pool in the same
//! process calls its gRPC service directly ([`EmbeddedNode::add_to`]): each call is one task on the
//! node's runtime, without the HTTP/2 connection, its socket writes and its extra tasks, and with
//! the same requests, deadlines and status codes.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_media::grpc::MediaApi;
use switchboard_media::{NodeConfig, ServeError};
use switchboard_proto::v1::media_service_server::MediaServiceServer;
use switchboard_proto::v1::{self as pb, media_service_client::MediaServiceClient};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::MediaNodeConfig;
use crate::error::MediaError;
use crate::node::NodeChannel;
use crate::pool::MediaPool;

/// Failure to start or stop an [`EmbeddedNode`].
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The gRPC listener on 127.0.0.1:0 could not be bound.
    #[error("binding the embedded node's gRPC listener: {0}")]
    Bind(#[source] std::io::Error),
    /// The node failed to start or stopped with an error.
    #[error("embedded media node: {0}")]
    Serve(#[from] ServeError),
    /// The node did not answer Health within the start deadline.
    #[error("embedded media node did not answer Health within {0:?}")]
    NotReady(Duration),
    /// The node task panicked or was cancelled.
    #[error("embedded media node task ended abnormally: {0}")]
    Task(String),
}

/// How long [`EmbeddedNode::start`] waits for the node's first Health answer.
const START_DEADLINE: Duration = Duration::from_secs(5);

/// A media node serving gRPC on `127.0.0.1:<ephemeral>` inside this process. Dropping it
/// signals shutdown (sessions are released); [`EmbeddedNode::stop`] also waits for it.
#[derive(Debug)]
pub struct EmbeddedNode {
    addr: SocketAddr,
    service: MediaServiceServer<MediaApi>,
    /// The runtime the node was started on, where its in-process calls run.
    runtime: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl EmbeddedNode {
    /// Starts a node with `config` (its `rtp_ip`, `ports`, limits and timeouts apply; its
    /// `grpc_listen` is ignored: gRPC binds 127.0.0.1:0) and waits until it answers Health.
    pub async fn start(config: NodeConfig) -> Result<Self, EmbeddedError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(EmbeddedError::Bind)?;
        let addr = listener.local_addr().map_err(EmbeddedError::Bind)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let http = switchboard_media::bind_http(&config).await?;
        let started = switchboard_media::start(config)?;
        let service = switchboard_media::service(started.clone());
        let task = tokio::spawn(switchboard_media::serve_node(
            started, listener, http, shutdown,
        ));
        let mut node = Self {
            addr,
            service,
            runtime: tokio::runtime::Handle::current(),
            stop: Some(stop),
            task,
        };
        let uri = node.grpc_uri();
        let ready = async {
            loop {
                if let Ok(mut c) = MediaServiceClient::connect(uri.clone()).await
                    && c.health(pb::HealthRequest {}).await.is_ok()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            ended = &mut node.task => {
                node.stop = None;
                return Err(match ended {
                    Ok(Ok(())) => EmbeddedError::Task("stopped before serving".into()),
                    Ok(Err(e)) => EmbeddedError::Serve(e),
                    Err(e) => EmbeddedError::Task(e.to_string()),
                });
            }
            ready = tokio::time::timeout(START_DEADLINE, ready) => {
                if ready.is_err() {
                    return Err(EmbeddedError::NotReady(START_DEADLINE));
                }
            }
        }
        Ok(node)
    }

    /// The gRPC address (127.0.0.1 and the ephemeral port).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for [`MediaNodeConfig::grpc_uri`].
    pub fn grpc_uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A pool entry for this node under `name`.
    pub fn node_config(&self, name: impl Into<String>) -> MediaNodeConfig {
        MediaNodeConfig::new(name, self.grpc_uri())
    }

    /// Adds this node to `pool` under `name`, called in-process (see the module docs).
    pub fn add_to(&self, pool: &MediaPool, name: impl Into<String>) -> Result<(), MediaError> {
        pool.add_node_via(
            self.node_config(name),
            NodeChannel::in_process(self.service.clone(), self.runtime.clone()),
        )
    }

    /// Shuts the node down (every session released) and waits up to `deadline` for it.
    pub async fn stop(mut self, deadline: Duration) -> Result<(), EmbeddedError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(deadline, &mut self.task).await {
            Ok(Ok(result)) => result.map_err(EmbeddedError::from),
            Ok(Err(e)) => Err(EmbeddedError::Task(e.to_string())),
            Err(_) => {
                self.task.abort();
                Err(EmbeddedError::Task(format!(
                    "did not stop within {deadline:?}"
                )))
            }
        }
    }
}

impl Drop for EmbeddedNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
