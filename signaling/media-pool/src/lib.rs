//! Signaling's pool of media nodes (DESIGN.md "Media control", "Media-node pool").
//!
//! The pool holds a tonic client per media node, places both legs of each call on one node
//! chosen by free capacity, routes every later call for a session to the node that holds it,
//! health-checks every node in the background and forwards every node's media events (tagged
//! with the node name) on one broadcast channel. [`EmbeddedNode`] runs a `switchboard-media`
//! node in-process on loopback so a single-host deployment uses the very same gRPC path.
//!
//! # Module map
//! - [`config`]: [`MediaNodeConfig`] (name, gRPC URI, weight) and [`PoolConfig`] (deadlines,
//!   health timings, defaults documented per field).
//! - [`pool`]: [`MediaPool`] — `allocate` / `update_leg` / `send_dtmf` / `release`, drain,
//!   run-time `add_node` / `remove_node`, `snapshot`, `subscribe`.
//! - [`reconcile`]: [`MediaPool::reconcile`] — orphan sessions released, lost ones reported.
//! - [`state`]: [`NodeStatus`], [`NodeSnapshot`] and the sans-IO selection order.
//! - [`metrics`]: [`metrics::render_prometheus`] of a snapshot (`switchboard_media_node_*`).
//! - [`monitor`]: the per-node Health poll and WatchEvents subscription; [`PoolEvent`].
//! - [`error`]: [`MediaError`] with [`FailureSide`] and [`RetryHint`].
//! - [`embedded`]: [`EmbeddedNode`], a media node run in-process.
//! - `node`: one node's client; every unary call carries a deadline (`grpc-timeout` header and
//!   a local timeout).
//!
//! # Usage contract
//! 1. Inside a tokio runtime, [`MediaPool::new`] with the configured nodes. Nodes are
//!    [`NodeStatus::Unknown`] until their first Health answer (immediately after start), and
//!    only [`NodeStatus::Up`] nodes get new sessions; [`MediaPool::wait_until`] waits for a
//!    condition on the snapshot without polling.
//! 2. [`MediaPool::allocate`] per call, keep [`Allocation::session_id`]; use it in
//!    `update_leg`, `send_dtmf` and `release`, which go to the node holding the session.
//! 3. Consume [`MediaPool::subscribe`]: [`PoolEvent::Media`] (DTMF, RTP timeout, released)
//!    and [`PoolEvent::NodeStatus`] (a node going down means its calls — see
//!    [`MediaPool::sessions_on`] — must be moved or hung up by the caller).
//! 4. A node failing `down_after_failures` consecutive Health calls is `Down` (with defaults,
//!    within 2.5 s); a draining node keeps its sessions and gets no new ones; both come back
//!    when Health says so. A session refused with `RESOURCE_EXHAUSTED` / `UNAVAILABLE` / a
//!    deadline is retried on the next node; after an allocation deadline the pool releases the
//!    session id it asked for on that node so nothing is left behind.
//! 5. Run [`MediaPool::reconcile`] per node now and then (and when a node comes back up):
//!    sessions with this pool's id prefix that no call owns are released, sessions the node
//!    lost are reported so their calls can be ended.
//! 6. Errors say the failing side and whether another node may help
//!    ([`MediaError::side`], [`MediaError::retry`], [`MediaError::sip_status`]).
//!
//! # Example
//! ```no_run
//! use switchboard_media_pool::{AllocateOptions, EmbeddedNode, EmbeddedNodeConfig};
//! use switchboard_media_pool::{MediaPool, PoolConfig, PoolEvent, PortRange};
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let node = EmbeddedNode::start(EmbeddedNodeConfig {
//!     ports: PortRange::new(30000, 30999)?,
//!     ..EmbeddedNodeConfig::default()
//! })
//! .await?;
//! let pool = MediaPool::new(PoolConfig {
//!     nodes: vec![node.node_config("local")],
//!     ..PoolConfig::default()
//! })?;
//! let mut events = pool.subscribe();
//! let allocation = pool.allocate("call-uuid", AllocateOptions::default()).await?;
//! // ... put allocation.leg_a / leg_b in the SDP, then update_leg with each remote ...
//! if let Ok(PoolEvent::Media { node, event }) = events.recv().await {
//!     println!("{node}: {event:?}");
//! }
//! pool.release(&allocation.session_id).await?;
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod embedded;
pub mod error;
pub mod metrics;
pub mod monitor;
mod node;
pub mod pool;
pub mod reconcile;
pub mod state;

pub use config::{ClientTls, MediaNodeConfig, PoolConfig};
pub use embedded::{EmbeddedError, EmbeddedNode};
pub use error::{FailureSide, MediaError, NodeRefusal, RetryHint};
pub use monitor::PoolEvent;
pub use pool::{AllocateOptions, Allocation, MediaPool};
pub use reconcile::Reconciliation;
pub use state::{NodeSnapshot, NodeStatus};
pub use switchboard_media::{NodeConfig as EmbeddedNodeConfig, PortRange};
pub use switchboard_proto::v1 as proto;
