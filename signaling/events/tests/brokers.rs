//! Broker chaos with real `nats-server` (JetStream) and `redis-server` on loopback: kill the
//! broker in the middle of a run, restart it, and find every event exactly once.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::brokers::{Broker, Kind};
use support::*;
use switchboard_events::sink::nats::{NatsConfig, NatsSink};
use switchboard_events::sink::redis::{RedisConfig, RedisSink};
use switchboard_events::{Envelope, EventBus, Sink};

const CHUNKS: usize = 100;
/// Each chunk: 2 calls × 10 events.
const PER_CHUNK: u64 = 20;
const TOTAL: u64 = CHUNKS as u64 * PER_CHUNK;

fn sink_config(name: &str) -> switchboard_events::SinkConfig {
    let mut c = fast_sink(name);
    c.backoff_max = Duration::from_millis(200);
    c
}

/// Publishes TOTAL events in chunks; kills the broker half-way (once the sink confirmed a quarter),
/// keeps publishing while it is down, checks publish was not held up, restarts it, and
/// waits until the sink has caught up.
async fn run_chaos(bus: &EventBus, broker: &mut Broker) {
    let mut published = 0;
    let mut killed_at = None;
    for k in 0..CHUNKS {
        published += publish_calls(bus, &format!("k{k}-"), 2, 10);
        if k == CHUNKS / 2 {
            // Kill while the sink is busy: it has confirmed part of what was published.
            eventually("a quarter delivered", || {
                bus.sink_stats()[0].cursor >= TOTAL / 4
            })
            .await;
            broker.kill();
            killed_at = Some(published);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(published, TOTAL);
    let killed_at = killed_at.expect("killed");
    // Every publish while the broker was down was accepted and made durable; the sink is behind.
    assert_eq!(bus.stats().published, TOTAL);
    assert!(bus.wait_durable(TOTAL).await);
    assert_eq!(bus.stats().queued, 0);
    let s = bus.sink_stats()[0].clone();
    assert!(
        s.cursor < TOTAL && s.lag > 0,
        "sink waits for the broker: {s:?}"
    );
    assert!(killed_at < TOTAL, "the kill happened mid-run");

    eventually("the sink saw the outage", || {
        bus.sink_stats()[0].failures > 0
    })
    .await;
    broker.restart();
    eventually("sink caught up after the restart", || {
        bus.sink_stats()[0].lag == 0
    })
    .await;
    let s = bus.sink_stats()[0].clone();
    assert_eq!(s.cursor, TOTAL);
    assert!(
        s.failures > 0 && s.retries > 0,
        "the outage was seen and retried: {s:?}"
    );
}

/// De-duplicates by id and checks the result is exactly seqs 1..=TOTAL with gapless calls.
fn assert_exactly_once(read_back: Vec<Envelope>) {
    let raw = read_back.len();
    let by_id: BTreeMap<String, Envelope> =
        read_back.into_iter().map(|e| (e.id.clone(), e)).collect();
    let mut envs: Vec<Envelope> = by_id.into_values().collect();
    envs.sort_by_key(|e| e.seq);
    let seqs: Vec<u64> = envs.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=TOTAL).collect::<Vec<_>>(),
        "every event present once ({raw} raw entries)"
    );
    assert_call_seqs_gapless(envs.iter());
    let calls = envs.iter().filter(|e| e.call_seq == Some(10)).count();
    assert_eq!(calls as u64, TOTAL / 10, "every call complete");
}

async fn start_bus(dir: &std::path::Path, name: &str, sink: impl Sink) -> EventBus {
    let bus = open_bus(&dir.join("journal"), |_| {});
    bus.add_sink(sink_config(name), sink).expect("sink");
    bus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_outage_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(Kind::NatsJetStream, &dir.path().join("nats"));
    let mut cfg = NatsConfig::new(broker.url());
    cfg.timeout = Duration::from_secs(1);
    let bus = start_bus(dir.path(), "nats", NatsSink::new(cfg)).await;
    run_chaos(&bus, &mut broker).await;
    bus.shutdown().await;

    let client = async_nats::connect(broker.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("SWITCHBOARD_EVENTS").await.expect("stream");
    let state = stream.info().await.expect("info").state.clone();
    let mut read_back = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        let msg = stream.get_raw_message(seq).await.expect("message");
        assert!(msg.subject.starts_with("switchboard.events."));
        read_back.push(serde_json::from_slice(&msg.payload).expect("envelope"));
    }
    assert_exactly_once(read_back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_outage_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(Kind::Redis, &dir.path().join("redis"));
    let mut cfg = RedisConfig::new(broker.url());
    cfg.timeout = Duration::from_secs(1);
    let bus = start_bus(dir.path(), "redis", RedisSink::new(cfg)).await;
    run_chaos(&bus, &mut broker).await;
    bus.shutdown().await;

    let client = redis::Client::open(broker.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("switchboard:events")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("xrange");
    let read_back = entries
        .iter()
        .map(|(_, fields)| {
            let json = fields
                .chunks(2)
                .find(|kv| kv[0] == b"json")
                .map(|kv| kv[1].clone())
                .expect("json field");
            let env: Envelope = serde_json::from_slice(&json).expect("envelope");
            let id = fields
                .chunks(2)
                .find(|kv| kv[0] == b"id")
                .expect("id field");
            assert_eq!(id[1], env.id.as_bytes());
            env
        })
        .collect();
    assert_exactly_once(read_back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_without_jetstream_falls_back_to_core_publish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(Kind::NatsCore, &dir.path().join("nats"));
    let client = async_nats::connect(broker.url()).await.expect("connect");
    let mut sub = client
        .subscribe("switchboard.events.>")
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    let bus = start_bus(
        dir.path(),
        "nats",
        NatsSink::new(NatsConfig::new(broker.url())),
    )
    .await;
    let n = publish_calls(&bus, "c", 10, 6);
    let mut got = Vec::new();
    while (got.len() as u64) < n {
        let msg = tokio::time::timeout(
            Duration::from_secs(30),
            futures_util::StreamExt::next(&mut sub),
        )
        .await
        .expect("message within 30 s")
        .expect("subscription open");
        let env: Envelope = serde_json::from_slice(&msg.payload).expect("envelope");
        assert_eq!(
            msg.subject.as_str(),
            format!("switchboard.events.{}", env.event.type_name())
        );
        got.push(env);
    }
    assert_eq!(
        got.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    eventually("cursor advanced", || bus.sink_stats()[0].cursor == n).await;
    assert_eq!(bus.sink_stats()[0].failures, 0);
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaling_restart_with_a_non_empty_journal_delivers_the_rest_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(Kind::NatsJetStream, &dir.path().join("nats"));
    let url = broker.url();
    let cfg = || {
        let mut c = NatsConfig::new(url.clone());
        c.timeout = Duration::from_secs(1);
        c
    };
    let bus = start_bus(dir.path(), "nats", NatsSink::new(cfg())).await;
    let first = publish_calls(&bus, "a", 20, 10);
    eventually("first part delivered", || {
        bus.sink_stats()[0].cursor == first
    })
    .await;
    broker.kill();
    // Calls still in progress when signaling stops: their numbering must continue.
    let mut second = 0;
    for c in 0..20 {
        for e in [
            switchboard_events::Event::CallCreated {
                from: "a".into(),
                to: "b".into(),
            },
            switchboard_events::Event::CallRinging,
        ] {
            bus.publish(Some(&format!("b{c}")), e).expect("publish");
            second += 1;
        }
    }
    assert!(bus.wait_durable(first + second).await);
    bus.shutdown().await;

    broker.restart();
    let bus = start_bus(dir.path(), "nats", NatsSink::new(cfg())).await;
    for c in 0..20 {
        let p = bus
            .publish(
                Some(&format!("b{c}")),
                switchboard_events::Event::CallAnswered,
            )
            .expect("publish");
        assert_eq!(
            p.call_seq,
            Some(3),
            "numbering continues across the restart"
        );
    }
    let total = first + second + 20;
    eventually("everything delivered", || {
        bus.sink_stats()[0].cursor == total
    })
    .await;
    bus.shutdown().await;

    let client = async_nats::connect(broker.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("SWITCHBOARD_EVENTS").await.expect("stream");
    let state = stream.info().await.expect("info").state.clone();
    assert_eq!(state.messages, total, "JetStream holds each event once");
    let mut envs = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        let msg = stream.get_raw_message(seq).await.expect("message");
        envs.push(serde_json::from_slice::<Envelope>(&msg.payload).expect("envelope"));
    }
    envs.sort_by_key(|e| e.seq);
    assert_eq!(
        envs.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_call_seqs_gapless(envs.iter());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_are_named_from_the_template_and_trimmed() {
    use switchboard_events::sink::redis::RedisTrim;
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(Kind::Redis, &dir.path().join("redis"));
    let mut cfg = RedisConfig::new(broker.url());
    cfg.stream = "sb:{node}:{type}".into();
    cfg.trim = RedisTrim::MaxLen(100);
    let bus = start_bus(dir.path(), "redis", RedisSink::new(cfg)).await;
    // 2,000 calls: each type stream gets 2,000 entries before trimming.
    let n = publish_calls(&bus, "c", 2000, 4);
    eventually("delivered", || bus.sink_stats()[0].cursor == n).await;
    bus.shutdown().await;

    let client = redis::Client::open(broker.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    for t in [
        "call_created",
        "call_ringing",
        "call_answered",
        "call_ended",
    ] {
        let len: u64 = redis::cmd("XLEN")
            .arg(format!("sb:sig1:{t}"))
            .query_async(&mut conn)
            .await
            .expect("xlen");
        // `MAXLEN ~` trims whole radix-tree nodes (100 entries each): between 100 and 200 stay.
        assert!((100..200).contains(&len), "{t}: {len} entries");
    }
    let last: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XREVRANGE")
        .arg("sb:sig1:call_ended")
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("xrevrange");
    let fields: Vec<&[u8]> = last[0].1.iter().map(Vec::as_slice).collect();
    let get = |k: &[u8]| {
        fields
            .chunks(2)
            .find(|kv| kv[0] == k)
            .map(|kv| kv[1])
            .expect("field")
    };
    assert_eq!(get(b"type"), b"call_ended");
    assert_eq!(get(b"seq"), n.to_string().as_bytes());
    assert_eq!(get(b"call_seq"), b"4");
    assert_eq!(get(b"call_uuid"), b"c1999");
}
