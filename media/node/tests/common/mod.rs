//! Test vocabulary: start a node in-process on port 0, talk to it over gRPC, and move RTP over
//! real loopback UDP sockets with deadlines instead of sleeps.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use switchboard_media::{NodeConfig, PortRange};
use switchboard_proto::v1::media_service_client::MediaServiceClient;
use switchboard_proto::v1::{self as pb, LocalEndpoint};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub type Client = MediaServiceClient<Channel>;

/// A node running in this test's runtime.
pub struct TestNode {
    pub client: Client,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestNode {
    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) {
        drop(self.client);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("node stops in time")
            .expect("serve task");
    }
}

static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

/// A range of `pairs` port pairs that was free when probed (distinct per call in this process).
pub fn free_range(pairs: u16) -> PortRange {
    let span = pairs * 2;
    let seed = (std::process::id() % 97) as u16 * 200;
    for _ in 0..400 {
        let slot = NEXT_RANGE.fetch_add(1, Ordering::Relaxed);
        // Below the kernel's ephemeral range (32768-60999 here), so no outgoing connection of this
        // or another process can take a probed port before the node binds it.
        let base = 20000 + seed.wrapping_add(slot.wrapping_mul(span + 2)) % 12000;
        let base = base - base % 2;
        let ok = (0..span).all(|i| StdUdp::bind((Ipv4Addr::LOCALHOST, base + i)).is_ok());
        if ok {
            return PortRange::new(base, base + span - 1).expect("valid range");
        }
    }
    panic!("no free port range on loopback");
}

/// A config for tests: loopback, a private free range, fast ticks.
pub fn test_config(pairs: u16) -> NodeConfig {
    NodeConfig {
        ports: free_range(pairs),
        workers: 1,
        stats_interval: Duration::from_millis(50),
        ..NodeConfig::default()
    }
}

/// Starts a node in-process on ephemeral gRPC and HTTP ports.
pub async fn start(cfg: NodeConfig) -> TestNode {
    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let (grpc_addr, http_addr) = (
        grpc.local_addr().expect("addr"),
        http.local_addr().expect("addr"),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = rx.await;
        };
        switchboard_media::serve_with_http(cfg, grpc, Some(http), shutdown)
            .await
            .expect("serve");
    });
    let client = connect(grpc_addr).await;
    TestNode {
        client,
        grpc: grpc_addr,
        http: http_addr,
        stop: Some(tx),
        task,
    }
}

/// Connects a gRPC client, retrying until the deadline.
pub async fn connect(addr: SocketAddr) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match MediaServiceClient::connect(format!("http://{addr}")).await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Allocates a session with default options.
pub async fn allocate(client: &mut Client, call_id: &str) -> pb::AllocateSessionResponse {
    let req = pb::AllocateSessionRequest {
        call_id: call_id.into(),
        ..Default::default()
    };
    client
        .allocate_session(req)
        .await
        .expect("allocate")
        .into_inner()
}

/// The socket address of a local endpoint's RTP / RTCP port.
pub fn rtp_addr(e: &LocalEndpoint) -> SocketAddr {
    SocketAddr::new(e.address.parse().expect("ip"), e.rtp_port as u16)
}
pub fn rtcp_addr(e: &LocalEndpoint) -> SocketAddr {
    SocketAddr::new(e.address.parse().expect("ip"), e.rtcp_port as u16)
}

/// A remote party: an RTP and an RTCP socket on loopback port 0.
pub struct Peer {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl Peer {
    pub async fn new() -> Peer {
        Peer {
            rtp: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            rtcp: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
        }
    }

    /// UpdateLeg request pointing `leg` of `session` at this peer.
    pub fn update(&self, session: &str, leg: pb::Leg) -> pb::UpdateLegRequest {
        let rtp = self.rtp.local_addr().expect("addr");
        let rtcp = self.rtcp.local_addr().expect("addr");
        pb::UpdateLegRequest {
            session_id: session.into(),
            leg: leg as i32,
            remote_address: rtp.ip().to_string(),
            remote_rtp_port: rtp.port().into(),
            remote_rtcp_port: rtcp.port().into(),
            telephone_event_payload_type: Some(101),
            ..Default::default()
        }
    }
}

/// Receives one datagram or `None` after `timeout`.
pub async fn recv(sock: &UdpSocket, timeout: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(timeout, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            buf.truncate(n);
            Some((buf, from))
        }
        _ => None,
    }
}

/// A 12-byte-header RTP packet with `payload_len` bytes of payload.
pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0x80, pt & 0x7f];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5u8, payload_len));
    p
}

/// A minimal RTCP receiver report (RC = 0) from `ssrc`.
pub fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Polls `GetSession` until `check` holds or the deadline passes; returns the last info.
pub async fn wait_session(
    client: &mut Client,
    id: &str,
    check: impl Fn(&pb::SessionInfo) -> bool,
) -> pb::SessionInfo {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let req = pb::GetSessionRequest {
            session_id: id.into(),
        };
        let info = client.get_session(req).await.expect("get").into_inner();
        if check(&info) || Instant::now() > deadline {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Leg A / leg B counters of a session.
pub fn legs(info: &pb::SessionInfo) -> (pb::LegInfo, pb::LegInfo) {
    (
        info.leg_a.clone().expect("leg a"),
        info.leg_b.clone().expect("leg b"),
    )
}

/// UDP payloads of a classic (microsecond, Ethernet) pcap capture, IPv4 only.
pub fn pcap_udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let Some(magic) = bytes.get(..4) else {
        return Vec::new();
    };
    let le = magic == [0xd4, 0xc3, 0xb2, 0xa1];
    let word = |b: &[u8]| {
        let w: [u8; 4] = b.try_into().expect("4 bytes");
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let mut out = Vec::new();
    let mut off = 24;
    while let Some(rec) = bytes.get(off..off + 16) {
        let incl = word(&rec[8..12]) as usize;
        let Some(frame) = bytes.get(off + 16..off + 16 + incl) else {
            break;
        };
        off += 16 + incl;
        // Ethernet II, IPv4, UDP.
        if frame.get(12..14) != Some(&[0x08, 0x00][..]) || frame.get(23) != Some(&17) {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let udp = &frame[14 + ihl..];
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        if let Some(p) = udp.get(8..len) {
            out.push(p.to_vec());
        }
    }
    out
}
