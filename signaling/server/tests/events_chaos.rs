//! Broker chaos through the whole server (issue 5, "How it is checked"): real `nats-server -js` and
//! `redis-server` (AOF, fsync always) on loopback, switchboard-signaling with both sinks, and
//! authenticated sipp calls through it. NATS and Redis are killed (SIGKILL by PID) and restarted on
//! the same ports and data directories during the calls, and signaling itself is stopped (SIGTERM)
//! with events its NATS sink has not delivered yet and restarted on the same journal for a second
//! batch of calls. Afterwards every call succeeded at both sipps, JetStream and the Redis stream
//! each hold exactly the events the server journaled (once each after de-duplication by event id,
//! with identical content), every call's events are numbered 1..n from `call_created` to
//! `call_ended`, and both sinks' lag is back to 0.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, TempDir, config_with, free_port, health_until_idle, register_user};

const TOKEN: &str = "events-chaos-token-0123456789abcdef";
/// Calls placed before signaling restarts (both brokers killed and restarted during them;
/// 10 s at RATE, so the calls outlast the NATS client's 5 s publish-ack timeout).
const FIRST_CALLS: usize = 1500;
/// Calls placed after the restart (Redis killed and restarted during them).
const SECOND_CALLS: usize = 300;
const RATE: usize = 150;
const HOLD_MS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nats,
    Redis,
}

/// A broker process we started, killed by its PID on drop.
struct Broker {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    fn start(kind: Kind, dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).expect("broker dir");
        let mut broker = Broker {
            kind,
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        };
        broker.spawn();
        broker
    }

    fn url(&self) -> String {
        match self.kind {
            Kind::Nats => format!("nats://127.0.0.1:{}", self.port),
            Kind::Redis => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    fn spawn(&mut self) {
        let (port, dir) = (self.port.to_string(), self.dir.display().to_string());
        let mut cmd = match self.kind {
            Kind::Nats => {
                let mut c = Command::new("nats-server");
                c.args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd", &dir]);
                c
            }
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                c.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--dir",
                    &dir,
                ]);
                c.args(["--appendonly", "yes", "--appendfsync", "always"]);
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {:?} (apt-get install nats-server redis-server): {e}",
                    self.kind
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{:?} did not listen on {}",
                self.kind,
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to the broker's PID, then reaps it.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same data directory.
    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A sipp UAS (`tests/load/sipp/uas.xml`) and a sipp UAC (`uac_b2bua.xml`) running `calls` calls.
struct Load {
    uas: Child,
    uac: Child,
    dir: TempDir,
    calls: usize,
    uas_port: u16,
}

/// Every sipp: loopback, UDP, bounded in time, a 4 MiB socket buffer (its default drops calls under
/// load), statistics in a CSV.
const SIPP_COMMON: &str = "-i 127.0.0.1 -t u1 -nostdin -buff_size 4194304 -timeout 90s -timeout_error \
                           -trace_stat -fd 1 -trace_err";

/// Starts sipp in `dir` on SIP port `port` with `args`, bounded in time, its statistics in a CSV.
fn spawn_sipp(dir: &Path, port: u16, args: &[String]) -> Child {
    std::fs::create_dir_all(dir).expect("sipp dir");
    Command::new("sipp")
        .args(args)
        .args(SIPP_COMMON.split_whitespace())
        .args(["-mp", &free_port().to_string(), "-p", &port.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sipp.err")).expect("err file"))
        .spawn()
        .expect("run sipp (apt-get install sip-tester)")
}

impl Load {
    /// Registers 1002 at a new sipp UAS and starts caller 1001 at RATE calls/s.
    fn start(server: &Server, calls: usize) -> Load {
        let scen = support::repo_root().join("tests/load/sipp");
        let dir = TempDir::new("sb-chaos-sipp");
        let uas_port = free_port();
        register_user(server, "1002", "1002pass", uas_port);
        let n = calls.to_string();
        let sf = |name: &str| scen.join(name).display().to_string();
        let uas_args = ["-sf".into(), sf("uas.xml"), "-m".into(), n.clone()];
        let uas = spawn_sipp(&dir.path.join("uas"), uas_port, &uas_args);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::UdpSocket::bind(("127.0.0.1", uas_port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let sip = server.sip;
        let uac_args: Vec<String> = format!(
            "{sip} -s 1002 -au 1001 -ap 1001pass -key caller 1001 -auth_uri 1002@{sip} -r {RATE} \
             -m {n} -l {n} -d {HOLD_MS} -recv_timeout 20000 -sf {}",
            sf("uac_b2bua.xml")
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect();
        let uac = spawn_sipp(&dir.path.join("uac"), free_port(), &uac_args);
        Load {
            uas,
            uac,
            dir,
            calls,
            uas_port,
        }
    }

    /// Waits (bounded) for both sipps and asserts every call succeeded at both.
    fn finish(mut self, server: &Server) {
        for (name, child) in [("uac", &mut self.uac), ("uas", &mut self.uas)] {
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Ok(Some(s)) = child.try_wait() {
                    break Some(s);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let (ok, failed) = sipp_counts(&self.dir.path.join(name));
            assert!(
                status.is_some_and(|s| s.success()) && ok == self.calls && failed == 0,
                "{name}: {ok}/{} calls ok, {failed} failed, exit {status:?}\n{}\n{}",
                self.calls,
                sipp_errors(&self.dir.path.join(name)),
                tail(&server.log(), 40)
            );
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for c in [&mut self.uac, &mut self.uas] {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// (successful, failed) calls from the last line of the sipp `-trace_stat` CSV in `dir`.
fn sipp_counts(dir: &Path) -> (usize, usize) {
    let csv = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_.csv"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut lines = csv.lines();
    let (Some(head), Some(last)) = (lines.next(), csv.lines().last()) else {
        return (0, usize::MAX);
    };
    let col = |name: &str| {
        let i = head.split(';').position(|h| h == name)?;
        last.split(';').nth(i)?.trim().parse().ok()
    };
    (
        col("SuccessfulCall(C)").unwrap_or(0),
        col("FailedCall(C)").unwrap_or(usize::MAX),
    )
}

fn sipp_errors(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| tail(&std::fs::read_to_string(e.path()).unwrap_or_default(), 20))
        .collect()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `GET /api/v1/stats` as JSON.
fn stats(server: &Server) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = support::http_request(
        server.http,
        "GET",
        "/api/v1/stats",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("stats JSON")
}

/// The stats of sink `name` (`nats`, `redis`).
fn sink(stats: &Value, name: &str) -> Value {
    stats["event_sinks"]
        .as_array()
        .and_then(|s| s.iter().find(|k| k["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no sink {name}: {stats}"))
}

/// Polls until both sinks' lag is 0 and nothing new is journaled (60 s at most); returns the stats.
fn until_sinks_caught_up(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_seq = None;
    loop {
        let s = stats(server);
        let idle = ["nats", "redis"].iter().all(|k| sink(&s, k)["lag"] == 0);
        if idle && last_seq == s["events_journaled_seq"].as_u64() {
            return s;
        }
        assert!(Instant::now() < deadline, "sinks did not catch up: {s}");
        last_seq = s["events_journaled_seq"].as_u64();
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every journaled event, replayed by `GET /api/v1/events?after=0` (SSE over HTTP/1.0, so the body is
/// not chunked), until `count` have arrived (30 s at most); in stream order.
fn journal(addr: SocketAddr, count: usize) -> Vec<Value> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    write!(
        s,
        "GET /api/v1/events?after=0 HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let complete = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        text.matches("\ndata:").count() >= count && text.ends_with("\n\n")
    };
    while !complete(&raw) {
        assert!(Instant::now() < deadline, "journal replay stalled");
        match s.read(&mut buf) {
            Ok(0) => panic!("event stream closed early"),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
    }
    let text = String::from_utf8_lossy(&raw);
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap_or_else(|e| panic!("event JSON ({e}): {d}")))
        .collect()
}

/// (entries read, events by id) from the JetStream stream, through a pull consumer.
async fn read_jetstream(url: &str) -> (usize, BTreeMap<String, Value>) {
    use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
    use futures_util::StreamExt;
    let client = async_nats::connect(url).await.expect("connect NATS");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("SWITCHBOARD_EVENTS").await.expect("stream");
    let total = stream.info().await.expect("stream info").state.messages as usize;
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut by_id = BTreeMap::new();
    for _ in 0..total {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("a message within 10 s")
            .expect("consumer open")
            .expect("message");
        let event: Value = serde_json::from_slice(&msg.payload).expect("envelope JSON");
        let id = event["id"].as_str().expect("id").to_owned();
        let msg_id = msg.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        assert_eq!(msg_id.map(|v| v.as_str()), Some(id.as_str()), "Nats-Msg-Id");
        assert_eq!(
            msg.subject.as_str(),
            format!(
                "switchboard.events.{}",
                event["type"].as_str().expect("type")
            )
        );
        by_id.insert(id, event);
    }
    (total, by_id)
}

/// (entries read, events by id) from the Redis stream `switchboard:events` (XRANGE).
async fn read_redis(url: &str) -> (usize, BTreeMap<String, Value>) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect Redis");
    let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("switchboard:events")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    let mut by_id = BTreeMap::new();
    for (_, fields) in &entries {
        let field = |k: &str| {
            let kv = fields.chunks(2).find(|kv| kv[0] == k.as_bytes());
            kv.map(|kv| String::from_utf8_lossy(&kv[1]).into_owned())
        };
        let json = field("json").expect("json field");
        let event: Value = serde_json::from_str(&json).expect("envelope JSON");
        let id = field("id").expect("id field");
        assert_eq!(Some(id.as_str()), event["id"].as_str(), "id field");
        by_id.insert(id, event);
    }
    (entries.len(), by_id)
}

/// Asserts `got` holds exactly the journal's events, with the same content.
fn assert_same_events(
    sink: &str,
    journal: &BTreeMap<String, Value>,
    got: &BTreeMap<String, Value>,
) {
    let missing: Vec<&String> = journal.keys().filter(|id| !got.contains_key(*id)).collect();
    let extra: Vec<&String> = got.keys().filter(|id| !journal.contains_key(*id)).collect();
    let changed: Vec<&String> = journal
        .iter()
        .filter(|(id, e)| got.get(*id).is_some_and(|g| g != *e))
        .map(|(id, _)| id)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "{sink}: {} journaled, {} received; missing {} (first {:?}), not journaled {} (first {:?}), different {} (first {:?})",
        journal.len(),
        got.len(),
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first(),
        changed.len(),
        changed.first()
    );
}

/// Checks every call produced exactly the events its call flow should, numbered 1..n; returns the
/// number of calls.
fn assert_calls_gapless(journal: &[Value]) -> usize {
    let mut calls: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in journal {
        if let Some(uuid) = e["call_uuid"].as_str() {
            calls.entry(uuid).or_default().push(e);
        }
    }
    for (uuid, events) in &calls {
        let seqs: Vec<u64> = events
            .iter()
            .filter_map(|e| e["call_seq"].as_u64())
            .collect();
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            seqs,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "call {uuid}: {types:?}"
        );
        // sipp's callee answers 180 (no SDP), 200; the caller hangs up.
        let expected = [
            "call_created",
            "call_ringing",
            "call_answered",
            "call_ended",
        ];
        assert_eq!(types, expected, "call {uuid}");
        let ended = events.last().expect("call_ended");
        assert_eq!(ended["cause"], "normal_clearing", "call {uuid}: {ended}");
    }
    calls.len()
}

fn chaos_config(journal: &Path, nats: &Broker, redis: &Broker) -> String {
    let events = format!(
        "[events]\nnode_id = \"chaos-1\"\njournal_dir = \"{}\"\n\
         [events.nats]\nurl = \"{}\"\n[events.redis]\nurl = \"{}\"\n",
        journal.display(),
        nats.url(),
        redis.url()
    );
    config_with(&events).replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    )
}

fn pause(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}

/// Polls until sink `name` has delivered more than `than` events (30 s at most).
fn until_delivered(server: &Server, name: &str, than: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = stats(server);
        let delivered = sink(&s, name)["delivered"].as_u64().unwrap_or(0);
        if delivered > than {
            return delivered;
        }
        assert!(
            Instant::now() < deadline,
            "{name} sink stuck at {delivered}: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// First batch: once the sinks deliver, both brokers are killed while the calls run, restarted,
/// and delivery resumes; then NATS is killed again, so signaling stops with events its NATS sink
/// has not delivered (at least the REGISTER refresh sent after that kill).
fn first_batch(server: Server, nats: &mut Broker, redis: &mut Broker) {
    let load = Load::start(&server, FIRST_CALLS);
    until_delivered(&server, "nats", 200);
    nats.kill();
    pause(1.0);
    redis.kill();
    pause(1.0);
    nats.restart();
    pause(1.0);
    redis.restart();
    let s = stats(&server);
    for name in ["nats", "redis"] {
        let at_restart = sink(&s, name)["delivered"].as_u64().unwrap_or(0);
        until_delivered(&server, name, at_restart + 100);
    }
    nats.kill();
    register_user(&server, "1002", "1002pass", load.uas_port);
    load.finish(&server);
    health_until_idle(&server);
    let s = stats(&server);
    for name in ["nats", "redis"] {
        assert!(
            sink(&s, name)["failures"].as_u64() > Some(0),
            "{name} outage not seen: {s}"
        );
    }
    assert_eq!(s["events_refused"], 0, "every event journaled: {s}");
    let nats_lag = sink(&s, "nats")["lag"].as_u64().unwrap_or(0);
    assert!(
        nats_lag > 0,
        "NATS is down, so its sink must be behind: {s}"
    );
    eprintln!(
        "first batch: {FIRST_CALLS} calls; stopping signaling with the NATS sink {nats_lag} events behind: {s}"
    );
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exit: {status:?}");
}

/// Second batch on the restarted signaling: NATS comes back, Redis is killed and restarted.
fn second_batch(server: &Server, nats: &mut Broker, redis: &mut Broker) -> Value {
    let load = Load::start(server, SECOND_CALLS);
    pause(0.5);
    nats.restart();
    pause(0.3);
    redis.kill();
    pause(1.0);
    redis.restart();
    load.finish(server);
    health_until_idle(server);
    let s = until_sinks_caught_up(server);
    assert_eq!(s["events_refused"], 0, "every event journaled: {s}");
    assert!(
        sink(&s, "redis")["failures"].as_u64() > Some(0),
        "Redis outage not seen: {s}"
    );
    eprintln!("second batch: {SECOND_CALLS} calls; sinks caught up: {s}");
    s
}

#[test]
fn brokers_and_signaling_restarted_during_calls_lose_and_duplicate_no_event() {
    let dir = TempDir::new("sb-chaos");
    let mut nats = Broker::start(Kind::Nats, &dir.path.join("nats"));
    let mut redis = Broker::start(Kind::Redis, &dir.path.join("redis"));
    let config = chaos_config(&dir.path.join("journal"), &nats, &redis);
    first_batch(Server::start(&config), &mut nats, &mut redis);
    let server = Server::start(&config);
    let s = second_batch(&server, &mut nats, &mut redis);

    // The journal, as replayed by the server: seqs 1..=n across the restart, unique ids.
    let n = s["events_journaled_seq"].as_u64().expect("journaled seq") as usize;
    let mut journal = journal(server.http, n);
    journal.retain(|e| e["seq"].as_u64().is_some_and(|q| q as usize <= n));
    let seqs: Vec<u64> = journal.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>(), "journal replay");
    let by_id: BTreeMap<String, Value> = journal
        .iter()
        .map(|e| (e["id"].as_str().expect("id").to_owned(), e.clone()))
        .collect();
    assert_eq!(by_id.len(), n, "event ids are unique");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (js_raw, js) = rt.block_on(read_jetstream(&nats.url()));
    let (redis_raw, rs) = rt.block_on(read_redis(&redis.url()));
    eprintln!(
        "journal {n} events; JetStream {js_raw} entries, {} unique; Redis {redis_raw} entries, {} unique",
        js.len(),
        rs.len()
    );
    assert_same_events("JetStream", &by_id, &js);
    assert_same_events("Redis", &by_id, &rs);
    let calls = assert_calls_gapless(&journal);
    assert_eq!(
        calls,
        FIRST_CALLS + SECOND_CALLS,
        "every placed call has its events"
    );
}
