//! Test vocabulary: real media nodes in-process on loopback (gRPC port 0, private RTP port
//! ranges), a pool with fast health checks, and bounded waits on pool state and events.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use switchboard_media_pool::proto as pb;
use switchboard_media_pool::{
    EmbeddedNode, EmbeddedNodeConfig, MediaNodeConfig, MediaPool, NodeStatus, PoolConfig,
    PoolEvent, PortRange,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};

/// Upper bound of every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

/// A range of `pairs` RTP/RTCP pairs that was free when probed (distinct per call).
pub fn free_range(pairs: u16) -> PortRange {
    let span = pairs * 2;
    let seed = (std::process::id() % 89) as u16 * 220 + 7;
    for _ in 0..400 {
        let slot = NEXT_RANGE.fetch_add(1, Ordering::Relaxed);
        // Below the kernel's ephemeral range (32768-60999 here): no outgoing connection can take
        // a probed port before the node binds it.
        let base = 21000 + seed.wrapping_add(slot.wrapping_mul(span + 2)) % 11000;
        let base = base - base % 2;
        if (0..span).all(|i| StdUdp::bind((Ipv4Addr::LOCALHOST, base + i)).is_ok()) {
            return PortRange::new(base, base + span - 1).expect("valid range");
        }
    }
    panic!("no free port range on loopback");
}

/// A node config: loopback, `max_sessions`, enough port pairs, fast ticks.
pub fn node_config(max_sessions: u32) -> EmbeddedNodeConfig {
    EmbeddedNodeConfig {
        ports: free_range(u16::try_from(max_sessions * 2 + 2).expect("small")),
        max_sessions,
        workers: 1,
        stats_interval: Duration::from_millis(50),
        ..EmbeddedNodeConfig::default()
    }
}

/// Starts an embedded node allowing `max_sessions`.
pub async fn start_node(max_sessions: u32) -> EmbeddedNode {
    EmbeddedNode::start(node_config(max_sessions))
        .await
        .expect("embedded node starts")
}

/// Pool timings for tests: Health every 200 ms, down after 2 failures.
pub fn fast_config(nodes: Vec<MediaNodeConfig>) -> PoolConfig {
    PoolConfig {
        nodes,
        health_interval: Duration::from_millis(200),
        health_timeout: Duration::from_millis(300),
        event_retry: Duration::from_millis(100),
        ..PoolConfig::default()
    }
}

/// Waits until every named node is Up with its event stream subscribed.
pub async fn wait_up(pool: &MediaPool, names: &[&str]) {
    let ok = pool
        .wait_until(WAIT, |snap| {
            names.iter().all(|n| {
                snap.iter()
                    .any(|s| s.name == *n && s.status == NodeStatus::Up && s.events_connected)
            })
        })
        .await;
    assert!(ok, "nodes {names:?} not up: {:?}", pool.snapshot());
}

/// Waits until `node` has `status`.
pub async fn wait_status(pool: &MediaPool, node: &str, status: NodeStatus) {
    let ok = pool
        .wait_until(WAIT, |snap| {
            snap.iter().any(|s| s.name == node && s.status == status)
        })
        .await;
    assert!(ok, "{node} not {status:?}: {:?}", pool.snapshot());
}

/// The next event matching `pick`, within [`WAIT`].
pub async fn next_event<T>(
    rx: &mut broadcast::Receiver<PoolEvent>,
    mut pick: impl FnMut(&PoolEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event channel closed"),
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .expect("expected event within the wait bound")
}

/// A media node served on an already bound listener (to restart a node on the same port).
pub struct FixedNode {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl FixedNode {
    pub async fn start(listener: TcpListener, cfg: EmbeddedNodeConfig) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            switchboard_media::serve(cfg, listener, shutdown)
                .await
                .expect("node serves");
        });
        Self {
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("node stops in time")
            .expect("node task");
    }
}

/// A loopback port nothing listens on right now.
pub fn unused_tcp_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// One RTP packet (version 2, no CSRC) with `payload`.
pub fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The RTP address of a leg's local endpoint.
pub fn rtp_addr(ep: &pb::LocalEndpoint) -> SocketAddr {
    SocketAddr::new(
        ep.address.parse().expect("node address"),
        u16::try_from(ep.rtp_port).expect("port"),
    )
}

/// A TCP relay in front of a real node. The node→client direction can be held (requests
/// still reach the node, its answers wait until passed again), and the link can be cut
/// (connections closed, new ones refused) and restored.
pub struct HoldingProxy {
    pub addr: SocketAddr,
    hold: tokio::sync::watch::Sender<bool>,
    down: tokio::sync::watch::Sender<bool>,
    _task: tokio::task::JoinHandle<()>,
}

impl HoldingProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let hold = tokio::sync::watch::channel(false).0;
        let down = tokio::sync::watch::channel(false).0;
        let (holding, downs) = (hold.clone(), down.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *downs.borrow() {
                    continue; // refused: dropped at once
                }
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let mut cut = downs.subscribe();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::io::copy(&mut cr, &mut sw) => {}
                        _ = cut.wait_for(|d| *d) => {}
                    }
                });
                let (mut held, mut cut) = (holding.subscribe(), downs.subscribe());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let relay = async {
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if held.wait_for(|h| !*h).await.is_err() {
                                break;
                            }
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! {
                        () = relay => {}
                        _ = cut.wait_for(|d| *d) => {}
                    }
                });
            }
        });
        Self {
            addr,
            hold,
            down,
            _task: task,
        }
    }

    /// Holds (true) or passes (false) the node's answers.
    pub fn hold_answers(&self, hold: bool) {
        self.hold.send_replace(hold);
    }

    /// Cuts (true: every connection closed, new ones refused) or restores (false) the link.
    pub fn cut_link(&self, down: bool) {
        self.down.send_replace(down);
    }
}
