//! Event pipeline throughput, each figure against a baseline measured in the same run.
//!
//! `cargo run --release -p switchboard-events --example throughput [EVENTS]`
//!
//! 1. Journal: `publish` N events and wait until all are durable (fsync-batched), vs writing
//!    the same record bytes to a file through a `BufWriter` (one fsync at the end).
//! 2. Sinks: events/s confirmed by NATS JetStream and by Redis Streams, when `nats-server`
//!    and `redis-server` are installed (started here on free loopback ports, killed at exit).
#![allow(missing_docs)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_events::event::Leg;
use switchboard_events::sink::nats::{NatsConfig, NatsSink};
use switchboard_events::sink::redis::{RedisConfig, RedisSink};
use switchboard_events::{Event, EventBus, EventBusConfig, Sink, SinkConfig};

fn event(i: u64) -> Event {
    match i % 4 {
        0 => Event::CallRinging,
        1 => Event::CallAnswered,
        2 => Event::CallDtmf {
            leg: Leg::A,
            digit: '5',
            duration_ms: 100,
        },
        _ => Event::CallHeld { leg: Leg::B },
    }
}

fn publish_all(bus: &EventBus, n: u64) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let call = format!("sbw0-{:032x}", i / 8);
        bus.publish(Some(&call), event(i)).expect("publish");
    }
    t.elapsed()
}

/// Returns (publish loop time, time until all durable).
async fn journal_run(dir: &std::path::Path, n: u64) -> (Duration, Duration) {
    let bus = EventBus::open(EventBusConfig::new("bench", dir)).expect("bus");
    let t = Instant::now();
    let publish = publish_all(&bus, n);
    assert!(bus.wait_durable(n).await);
    let durable = t.elapsed();
    let s = bus.stats();
    println!(
        "  journal: {} batches (fsyncs), {} segments, {} bytes",
        s.journal.batches, s.journal.segments, s.journal.bytes
    );
    bus.shutdown().await;
    (publish, durable)
}

/// Writes the same record bytes (read back from the journal) through a BufWriter.
fn baseline_run(journal_dir: &std::path::Path, out: &std::path::Path) -> (Duration, u64) {
    let mut bytes = Vec::new();
    let mut segs: Vec<_> = std::fs::read_dir(journal_dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    for s in segs {
        bytes.extend(std::fs::read(s).expect("segment"));
    }
    let t = Instant::now();
    let f = std::fs::File::create(out).expect("create");
    let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
    // Same write granularity as records of ~200 bytes.
    for chunk in bytes.chunks(200) {
        w.write_all(chunk).expect("write");
    }
    let f = w.into_inner().expect("flush");
    f.sync_all().expect("fsync");
    (t.elapsed(), bytes.len() as u64)
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(cmd: &str, args: &[&str], port: u16) -> Option<Broker> {
    let child = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let b = Broker(child);
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(b);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Events/s confirmed by `sink` for `n` events published up front.
async fn sink_run(dir: &std::path::Path, n: u64, sink: impl Sink) -> f64 {
    let bus = EventBus::open(EventBusConfig::new("bench", dir)).expect("bus");
    let mut cfg = SinkConfig::new("bench");
    cfg.max_batch = 1024;
    publish_all(&bus, n);
    assert!(bus.wait_durable(n).await);
    let t = Instant::now();
    bus.add_sink(cfg, sink).expect("sink");
    while bus.sink_stats()[0].cursor < n {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "sink too slow: {:?}",
            bus.sink_stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    bus.shutdown().await;
    rate
}

/// Publishes 2 events per millisecond for `ms` ms and measures publish → subscriber latency.
async fn latency_run(dir: &std::path::Path, ms: u64) -> (Duration, Duration, Duration) {
    let bus = EventBus::open(EventBusConfig::new("bench", dir)).expect("bus");
    let mut sub = bus.subscribe(None);
    let n = ms * 2;
    let reader = tokio::spawn(async move {
        let mut at = Vec::with_capacity(n as usize);
        while (at.len() as u64) < n {
            sub.next().await.expect("open").expect("no lag");
            at.push(Instant::now());
        }
        at
    });
    let mut sent = Vec::with_capacity(n as usize);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for i in 0..ms {
        tick.tick().await;
        for j in 0..2 {
            sent.push(Instant::now());
            bus.publish(Some(&format!("call-{}", i / 4)), event(i * 2 + j))
                .expect("publish");
        }
    }
    let got = reader.await.expect("reader");
    let mut lat: Vec<Duration> = got.iter().zip(&sent).map(|(g, s)| *g - *s).collect();
    lat.sort();
    bus.shutdown().await;
    let pick = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    (pick(0.5), pick(0.99), pick(1.0))
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let jdir = tmp.path().join("journal");
    let (publish, durable) = journal_run(&jdir, n).await;
    let (base, bytes) = baseline_run(&jdir, &tmp.path().join("baseline.bin"));
    let journal_rate = n as f64 / durable.as_secs_f64();
    let base_rate = n as f64 / base.as_secs_f64();
    println!(
        "publish (call path): {:.0} ns/event",
        publish.as_nanos() as f64 / n as f64
    );
    println!("journal, fsync-batched: {journal_rate:.0} events/s ({n} events, {bytes} bytes)");
    println!("baseline BufWriter, same bytes: {base_rate:.0} events/s");
    println!("ratio journal/baseline: {:.2}", journal_rate / base_rate);

    let (p50, p99, max) = latency_run(&tmp.path().join("j-lat"), 2000).await;
    println!(
        "publish -> subscriber at 2,000 events/s (batch delay 2 ms + fsync): p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );

    let m = (n / 4).max(1000);
    let port = free_port();
    let store = tmp.path().join("nats");
    let args = [
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-js",
        "-sd",
        store.to_str().expect("utf-8"),
    ]
    .map(String::from);
    match start(
        "nats-server",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        port,
    ) {
        Some(_nats) => {
            let rate = sink_run(
                &tmp.path().join("j-nats"),
                m,
                NatsSink::new(NatsConfig::new(format!("nats://127.0.0.1:{port}"))),
            )
            .await;
            println!(
                "NATS JetStream sink: {rate:.0} events/s confirmed ({m} events; {:.2} of journal rate)",
                rate / journal_rate
            );
        }
        None => println!("NATS: nats-server not available, skipped"),
    }
    let port = free_port();
    let rdir = tmp.path().join("redis");
    std::fs::create_dir_all(&rdir).expect("dir");
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        rdir.to_str().expect("utf-8"),
    ]
    .map(String::from);
    match start(
        "redis-server",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        port,
    ) {
        Some(_redis) => {
            let rate = sink_run(
                &tmp.path().join("j-redis"),
                m,
                RedisSink::new(RedisConfig::new(format!("redis://127.0.0.1:{port}/0"))),
            )
            .await;
            println!(
                "Redis Streams sink: {rate:.0} events/s confirmed ({m} events; {:.2} of journal rate)",
                rate / journal_rate
            );
        }
        None => println!("Redis: redis-server not available, skipped"),
    }
}
