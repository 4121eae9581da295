//! Relay benchmark: the media node versus a minimal UDP forwarder (one socket per leg, one
//! task per socket), both driven in the same run by the same load generator.
//!
//! Run: `cargo bench -p switchboard-media --bench relay` (optional env: `STREAMS`, `SECS`).
//! The relay (node worker or baseline thread) is pinned to core 1 and the load generator to
//! core 0 with `taskset -p` on their thread ids. Every loop is bounded in count and time.
//! Prints: saturation packets/s (and G.711 streams equivalent at 50 pps), relay CPU per packet,
//! latency p50/p99 at paced 50 pps per stream, RSS per session against its 4 KiB target, and the
//! node/baseline ratio.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchboard_media::{LegOptions, LegUpdate, Node, NodeConfig, PortRange};
use tokio::net::UdpSocket;

const PKT: usize = 172;
/// Resident memory a relayed session may cost (ROADMAP, issue 3).
const RSS_TARGET: u64 = 4096;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Thread id of the first thread of this process whose name starts with `prefix`.
fn tid_of(prefix: &str) -> Option<String> {
    for _ in 0..100 {
        if let Some(t) = find_tid(prefix) {
            return Some(t);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn find_tid(prefix: &str) -> Option<String> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    dir.flatten().find_map(|e| {
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        comm.starts_with(prefix)
            .then(|| e.file_name().to_string_lossy().into_owned())
    })
}

fn pin(tid: &str, core: u32) {
    let _ = Command::new("taskset")
        .args(["-pc", &core.to_string(), tid])
        .output();
}

/// utime + stime of a thread, in clock ticks (100 Hz).
fn cpu_ticks(tid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// One stream: the generator sends to `ingress`, the relay delivers to `rx`.
struct Stream {
    tx: UdpSocket,
    ingress: SocketAddr,
    rx: Arc<UdpSocket>,
}

/// Sets up `n` streams through the node (leg A → leg B).
async fn node_streams(node: &Node, n: usize) -> Vec<Stream> {
    let opts = LegOptions {
        rtcp_mux: true,
        dtmf_mode: switchboard_media::DtmfMode::PassThrough,
        rtp_timeout: Duration::from_secs(600),
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (id, [la, lb]) = node
            .allocate(&format!("bench-{i}"), "", [opts, opts])
            .expect("allocate");
        let tx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let rx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        for (leg, peer) in [
            (0, tx.local_addr().expect("a")),
            (1, rx.local_addr().expect("a")),
        ] {
            let u = LegUpdate {
                remote_rtp: peer,
                remote_rtcp: peer,
                rtcp_mux: true,
                telephone_event_pt: Some(101),
                ptime: Duration::from_millis(20),
                srtp_inbound: None,
                srtp_outbound: None,
            };
            node.update_leg(&id, leg, u).await.expect("update");
        }
        let _ = lb;
        out.push(Stream {
            tx,
            ingress: SocketAddr::new(la.address.parse().expect("ip"), la.rtp_port as u16),
            rx: Arc::new(rx),
        });
    }
    out
}

/// Resident memory per node session: the VmRSS delta over `n` sessions whose legs point at a discard
/// address, so the load generator's own sockets are not counted, measured after every session has
/// published its statistics once (steady state). The sessions are released afterwards.
async fn session_memory(node: &Node, n: usize) -> f64 {
    let opts = LegOptions {
        rtcp_mux: true,
        dtmf_mode: switchboard_media::DtmfMode::PassThrough,
        rtp_timeout: Duration::from_secs(600),
    };
    let sink: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let rss0 = rss_kib();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let (id, _) = node
            .allocate(&format!("mem-{i}"), "", [opts, opts])
            .expect("allocate");
        for leg in 0..2 {
            let u = LegUpdate {
                remote_rtp: sink,
                remote_rtcp: sink,
                rtcp_mux: true,
                telephone_event_pt: Some(101),
                ptime: Duration::from_millis(20),
                srtp_inbound: None,
                srtp_outbound: None,
            };
            node.update_leg(&id, leg, u).await.expect("update");
        }
        ids.push(id);
    }
    tokio::time::sleep(node.config().stats_interval + Duration::from_millis(500)).await;
    let per_session = rss_kib().saturating_sub(rss0) as f64 * 1024.0 / n as f64;
    node.release_all("memory measured").await;
    per_session
}

/// The baseline: per stream an ingress and an egress socket, one task forwarding between them,
/// all on one current-thread runtime thread named `baseline`.
fn baseline_streams(n: usize, stop: Arc<AtomicBool>) -> Vec<Stream> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("baseline".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let mut streams = Vec::new();
                for _ in 0..n {
                    let ingress = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
                    let egress = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
                    streams.push((ingress.local_addr().expect("a"), ingress, egress));
                }
                let mut addrs = Vec::new();
                for (addr, ingress, egress) in streams {
                    let (dst_tx, dst_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
                    addrs.push((addr, dst_tx));
                    tokio::spawn(async move {
                        let Ok(dst) = dst_rx.await else { return };
                        let mut buf = [0u8; 2048];
                        while let Ok((len, _)) = ingress.recv_from(&mut buf).await {
                            let _ = egress.send_to(&buf[..len], dst).await;
                        }
                    });
                }
                let _ = tx.send(addrs);
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        })
        .expect("thread");
    let addrs = rx.recv().expect("baseline ready");
    let rt = tokio::runtime::Handle::current();
    addrs
        .into_iter()
        .map(|(ingress, dst_tx)| {
            let (tx, rx) = tokio::task::block_in_place(|| {
                rt.block_on(async {
                    (
                        UdpSocket::bind("127.0.0.1:0").await.expect("b"),
                        UdpSocket::bind("127.0.0.1:0").await.expect("b"),
                    )
                })
            });
            let _ = dst_tx.send(rx.local_addr().expect("a"));
            Stream {
                tx,
                ingress,
                rx: Arc::new(rx),
            }
        })
        .collect()
}

/// Drains every receiver; counts packets and records latency from the embedded send time.
fn spawn_receivers(
    streams: &[Stream],
    t0: Instant,
    count: Arc<AtomicU64>,
    lat: Arc<std::sync::Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
) {
    for s in streams {
        let (rx, count, lat, stop) = (s.rx.clone(), count.clone(), lat.clone(), stop.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(100), rx.recv(&mut buf)).await
                else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                if let Some(b) = buf.get(12..20).filter(|_| n >= 20) {
                    let sent = u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
                    let now = t0.elapsed().as_nanos() as u64;
                    local.push(now.saturating_sub(sent));
                }
            }
            lat.lock().map(|mut l| l.extend(local)).ok();
        });
    }
}

struct Result1 {
    pps: f64,
    busy: f64,
    got: u64,
    sent: u64,
    cpu_ns_per_pkt: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Sends for `secs`: at `pace` packets/s per stream, or as fast as possible when `pace` is 0.
async fn drive(streams: &[Stream], relay_tid: &str, secs: u64, pace: u64) -> Result1 {
    let t0 = Instant::now();
    let (count, lat, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(std::sync::Mutex::new(Vec::new())),
        Arc::new(AtomicBool::new(false)),
    );
    spawn_receivers(streams, t0, count.clone(), lat.clone(), stop.clone());
    let cpu0 = cpu_ticks(relay_tid);
    let mut pkt = [0xd5u8; PKT];
    pkt[0] = 0x80;
    pkt[1] = 0; // PCMU, no marker (0xd5 would read as RTCP under rtcp-mux)
    let deadline = t0 + Duration::from_secs(secs);
    let max_packets = 50_000_000u64;
    let (mut sent, mut seq) = (0u64, 0u16);
    let tick = Duration::from_millis(20);
    while Instant::now() < deadline && sent < max_packets {
        let round = Instant::now();
        seq = seq.wrapping_add(1);
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        for s in streams {
            pkt[12..20].copy_from_slice(&(t0.elapsed().as_nanos() as u64).to_be_bytes());
            if s.tx.send_to(&pkt, s.ingress).await.is_ok() {
                sent += 1;
            }
        }
        if pace > 0 {
            let per_round = tick * (50 / pace.max(1)) as u32;
            tokio::time::sleep_until((round + per_round).into()).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    let elapsed = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = count.load(Ordering::Relaxed);
    let cpu_ns = (cpu_ticks(relay_tid) - cpu0) as f64 * 10_000_000.0;
    let mut l = lat.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |v| *v as f64 / 1000.0)
    };
    let sent = sent.max(got);
    Result1 {
        pps: got as f64 / elapsed.as_secs_f64(),
        busy: cpu_ns / elapsed.as_nanos() as f64,
        got,
        sent,
        cpu_ns_per_pkt: cpu_ns / got.max(1) as f64,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    }
}

fn loss(r: &Result1) -> f64 {
    100.0 * (r.sent.saturating_sub(r.got)) as f64 / r.sent.max(1) as f64
}

fn report(name: &str, sat: &Result1, paced: &Result1, streams: usize) {
    println!(
        "{name:9} saturation {:>8.0} pkt/s (= {:>5.0} G.711 streams @50pps, loss {:.2} %), relay CPU {:>5.0} ns/pkt \
         ({:.0} % busy); paced {streams} streams: loss {:.2} %, latency p50 {:.0} us p99 {:.0} us",
        sat.pps,
        sat.pps / 50.0,
        loss(sat),
        sat.cpu_ns_per_pkt,
        sat.busy * 100.0,
        loss(paced),
        paced.p50_us,
        paced.p99_us
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let n = env_or("STREAMS", 200) as usize;
    let secs = env_or("SECS", 2);
    let _ = Command::new("taskset")
        .args(["-apc", "0", &std::process::id().to_string()])
        .output();
    // Below the kernel's ephemeral range (32768+), with slack for ports other programs hold.
    let base = 20000 + (std::process::id() % 10) as u16 * 200;
    let cfg = NodeConfig {
        ports: PortRange::new(base, base + 4 * 1000 + 401).expect("range"),
        workers: 1,
        max_sessions: 5000,
        ..NodeConfig::default()
    };
    let node = Node::new(cfg).expect("node");
    let relay_tid = tid_of("media-relay-0").expect("relay thread");
    pin(&relay_tid, 1);
    let rss_per_session = session_memory(&node, 1000).await;
    let node_streams_v = node_streams(&node, 1000).await;
    let node_sat = drive(&node_streams_v[..n], &relay_tid, secs, 0).await;
    let node_paced = drive(&node_streams_v, &relay_tid, 3, 50).await;
    node.release_all("bench").await;
    drop(node_streams_v);

    let stop = Arc::new(AtomicBool::new(false));
    let base_streams = baseline_streams(1000, stop.clone());
    let base_tid = tid_of("baseline").expect("baseline thread");
    pin(&base_tid, 1);
    let base_sat = drive(&base_streams[..n], &base_tid, secs, 0).await;
    let base_paced = drive(&base_streams, &base_tid, 3, 50).await;
    stop.store(true, Ordering::Relaxed);

    println!(
        "relay benchmark: {PKT}-byte packets, saturation over {n} streams for {secs} s, paced 1000 streams x 50 pps for 3 s"
    );
    report("node", &node_sat, &node_paced, 1000);
    report("baseline", &base_sat, &base_paced, 1000);
    println!(
        "node RSS per session: {rss_per_session:.0} bytes, target < {RSS_TARGET} bytes (VmRSS delta over 1000 \
         sessions after their first stats publish, generator sockets excluded)"
    );
    println!(
        "ratio node/baseline saturation pps: {:.1} %",
        100.0 * node_sat.pps / base_sat.pps.max(1.0)
    );
}
