//! The two relays under test, set up for the load generator: sessions on the media node, and the
//! baseline forwarder (one ingress and one egress socket per stream, one task per stream).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchboard_media::{DtmfMode, LegOptions, LegUpdate, Node};
use tokio::net::UdpSocket;

use crate::sys;

const OPTS: LegOptions = LegOptions {
    rtcp_mux: true,
    dtmf_mode: DtmfMode::PassThrough,
    rtp_timeout: Duration::from_secs(600),
};

fn update(remote: SocketAddr) -> LegUpdate {
    LegUpdate {
        remote_rtp: remote,
        remote_rtcp: remote,
        rtcp_mux: true,
        telephone_event_pt: Some(101),
        ptime: Duration::from_millis(20),
        srtp_inbound: None,
        srtp_outbound: None,
    }
}

/// Allocates `n` node sessions whose leg A's remote is `from` and leg B's remote is `to`;
/// returns each session's leg A RTP address (where the generator sends).
pub(crate) async fn node_streams(
    node: &Node,
    n: usize,
    from: SocketAddr,
    to: SocketAddr,
) -> Vec<SocketAddr> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (id, [a, _]) = node
            .allocate(&format!("bench-{i}"), "", [OPTS, OPTS])
            .expect("allocate");
        node.update_leg(&id, 0, update(from))
            .await
            .expect("update A");
        node.update_leg(&id, 1, update(to)).await.expect("update B");
        out.push(SocketAddr::new(
            a.address.parse().expect("ip"),
            a.rtp_port as u16,
        ));
    }
    out
}

/// Resident memory per node session: the VmRSS delta over `n` sessions whose legs point at a
/// discard address (so no generator socket is counted), measured after every session has
/// published its statistics once (steady state). The sessions are released afterwards.
pub(crate) async fn session_memory(node: &Node, n: usize) -> f64 {
    let sink: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let rss0 = sys::rss_kib();
    node_streams(node, n, sink, sink).await;
    let first_publish = node.config().stats_interval.min(Duration::from_secs(5));
    tokio::time::sleep(first_publish + Duration::from_millis(500)).await;
    let per_session = sys::rss_kib().saturating_sub(rss0) as f64 * 1024.0 / n as f64;
    node.release_all("memory measured").await;
    per_session
}

/// The baseline forwarder, running on its own thread named `baseline` until [`Baseline::stop`].
pub(crate) struct Baseline {
    /// Each stream's ingress address (where the generator sends).
    pub(crate) ingress: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Baseline {
    /// Starts `n` streams, each an ingress and an egress socket with one task forwarding every
    /// packet received on the ingress out of the egress to `to`, all on one current-thread
    /// tokio runtime (the same runtime kind as a node relay worker).
    pub(crate) fn start(n: usize, to: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("baseline".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(forward(n, to, ready_tx, flag));
            })
            .expect("baseline thread");
        let ingress = ready_rx.recv().expect("baseline ready");
        Baseline {
            ingress,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the forwarder and waits for its thread (it checks the flag every 50 ms).
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn forward(
    n: usize,
    to: SocketAddr,
    ready: std::sync::mpsc::Sender<Vec<SocketAddr>>,
    stop: Arc<AtomicBool>,
) {
    let mut addrs = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let ingress = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let egress = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        addrs.push(ingress.local_addr().expect("addr"));
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((len, _)) = ingress.recv_from(&mut buf).await {
                let _ = egress.send_to(&buf[..len], to).await;
            }
        }));
    }
    let _ = ready.send(addrs);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        t.abort();
    }
}
