//! Several signaling nodes sharing registrations through one real `redis-server` (DESIGN.md
//! "Scale-out"): a phone registered on node 1 is called through node 2, a node started later
//! knows it, an un-REGISTER on node 1 makes node 2 answer 480, a REGISTER challenged by one node
//! is accepted by another (shared nonce key), and a Redis outage stops no REGISTER.

mod support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{
    Server, SippRun, SippUas, TempDir, UdpPeer, caller_sipp_args, config_with, free_port,
    invite_final, poll_until, register_authorization, register_user, sipp, status,
};

/// A `redis-server` on a free loopback port without persistence, killed by its PID on drop.
struct Redis {
    port: u16,
    child: Option<Child>,
    _dir: TempDir,
}

impl Redis {
    fn start() -> Redis {
        let mut r = Redis {
            port: free_port(),
            child: None,
            _dir: TempDir::new("sb-shared-redis"),
        };
        r.spawn();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self._dir.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install redis-server)");
        self.child = Some(child);
        let port = self.port;
        poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            TcpStream::connect(("127.0.0.1", port))
                .map(drop)
                .map_err(|e| format!("redis-server did not listen: {e}"))
        });
    }

    /// The binding keys Redis holds (`redis-cli --scan`).
    fn binding_keys(&self) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--scan", "--pattern"])
            .arg("switchboard:reg:b:*")
            .output()
            .expect("redis-cli (apt-get install redis-tools)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits up to 10 s until Redis holds `n` binding keys.
    fn wait_binding_keys(&self, n: usize) {
        poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
            let keys = self.binding_keys();
            match keys.len() == n {
                true => Ok(()),
                false => Err(format!("{keys:?}, not {n} binding keys")),
            }
        });
    }

    /// SIGKILL by PID: the data is gone (no persistence).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A nonce secret file shared by the nodes of one test.
struct Secret {
    dir: TempDir,
}

impl Secret {
    fn new(fill: u8) -> Secret {
        let dir = TempDir::new("sb-shared-secret");
        std::fs::write(dir.path.join("nonce.key"), [fill; 48]).expect("write secret");
        Secret { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path.join("nonce.key")
    }
}

/// A node sharing registrations through `redis` with nonce key `secret`.
fn node(redis: &Redis, secret: &Secret) -> Server {
    Server::start(&config_with(&format!(
        "shared_redis_url = \"{}\"\nnonce_secret_file = \"{}\"\n",
        redis.url(),
        secret.path().display()
    )))
}

/// The value of an unlabelled metric on `server`'s `/metrics`.
fn metric(server: &Server, name: &str) -> Option<f64> {
    let (code, body) = server.http_get("/metrics");
    assert_eq!(code, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits up to 10 s until `name` on `server` is `value`; panics with the node's log otherwise.
fn wait_metric(server: &Server, name: &str, value: f64, context: &str) {
    poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let now = metric(server, name);
        match now == Some(value) {
            true => Ok(()),
            false => Err(format!(
                "{context}: {name} stayed {now:?}, not {value}\n{}",
                server.log()
            )),
        }
    });
}

/// REGISTER of `user` with `contact` and `Expires: expires` sent to `challenger` (which answers
/// 401), then the authenticated retry from the same socket sent to `answerer`; returns the final
/// answer to the retry.
fn register_across(
    challenger: &Server,
    answerer: &Server,
    user: &str,
    pass: &str,
    contact: &str,
    expires: u32,
) -> String {
    let mut peer = UdpPeer::new(challenger.sip);
    let uri = format!("sip:{}", challenger.sip);
    let local = peer.local();
    let send = |peer: &UdpPeer, cseq: u32, auth: &str| {
        peer.send(&format!(
            "REGISTER {uri} SIP/2.0\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bKx{cseq}{expires};rport\n\
             From: <sip:{user}@127.0.0.1>;tag=x{user}\n\
             To: <sip:{user}@127.0.0.1>\n\
             Call-ID: across-{user}-{expires}@{local}\n\
             CSeq: {cseq} REGISTER\n\
             Contact: {contact}\n\
             Max-Forwards: 70\n\
             Expires: {expires}\n\
             {auth}Content-Length: 0\n\n"
        ));
        peer.recv()
    };
    let first = send(&peer, 1, "");
    assert_eq!(status(&first), 401, "{first}");
    let auth = register_authorization(&first, user, pass, &uri);
    peer.server = answerer.sip;
    send(&peer, 2, &auth)
}

/// 1001 calls 1002 (a sipp UAS on `uas_port`) through `via`; returns (caller, callee).
fn call_1002(via: &Server, uas_port: u16) -> (SippRun, SippRun) {
    let uas_media = free_port().to_string();
    let callee = SippUas::start(
        "call_uas_answer.xml",
        uas_port,
        &["-mi", "127.0.0.1", "-mp", &uas_media],
    );
    let args = caller_sipp_args(via, "1002", &free_port().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_auth.xml", via.sip, "udp", &args);
    (caller, callee.finish(Duration::from_secs(15)))
}

fn assert_call_succeeded((caller, callee): (SippRun, SippRun), via: &Server, home: &Server) {
    assert!(
        caller.success && callee.success,
        "call failed\n--- caller ---\n{}\n--- callee ---\n{}\n--- node called through ---\n{}\n\
         --- node registered on ---\n{}",
        caller.output,
        callee.output,
        via.log(),
        home.log()
    );
}

#[test]
fn a_phone_registered_on_one_node_is_called_through_another_and_a_later_node() {
    let redis = Redis::start();
    let secret = Secret::new(7);
    let (node1, node2) = (node(&redis, &secret), node(&redis, &secret));
    wait_metric(
        &node2,
        "switchboard_registrations_redis_up",
        1.0,
        "node 2 link",
    );
    let uas_port = free_port();
    register_user(&node1, "1002", "1002pass", uas_port);
    wait_metric(&node2, "switchboard_registrations", 1.0, "node 2 replica");
    assert_call_succeeded(call_1002(&node2, uas_port), &node2, &node1);

    // A node started after the registration loads it from Redis.
    let node3 = node(&redis, &secret);
    wait_metric(&node3, "switchboard_registrations", 1.0, "node 3 load");
    assert_call_succeeded(call_1002(&node3, uas_port), &node3, &node1);
    assert!(metric(&node1, "switchboard_registrations_replicated_total") >= Some(1.0));
    assert!(metric(&node2, "switchboard_registrations_applied_total") >= Some(1.0));

    // Un-REGISTER on node 1: node 2 no longer has a contact for 1002.
    let contact = format!("<sip:1002@127.0.0.1:{uas_port}>");
    let gone = register_across(&node1, &node1, "1002", "1002pass", &contact, 0);
    assert_eq!(status(&gone), 200, "{gone}");
    wait_metric(&node2, "switchboard_registrations", 0.0, "node 2 removal");
    let answer = invite_final(&node2, "1002");
    assert_eq!(status(&answer), 480, "{answer}");
}

#[test]
fn a_register_challenged_by_one_node_is_accepted_by_another() {
    let redis = Redis::start();
    let secret = Secret::new(9);
    let (node1, node2) = (node(&redis, &secret), node(&redis, &secret));
    let contact = format!("<sip:1001@127.0.0.1:{}>", free_port());
    let ok = register_across(&node1, &node2, "1001", "1001pass", &contact, 300);
    assert_eq!(status(&ok), 200, "{ok}\n{}", node2.log());
    // Registered on node 2, known on node 1.
    wait_metric(&node1, "switchboard_registrations", 1.0, "node 1 replica");
    // A node with another nonce key refuses node 1's nonce.
    let other = Secret::new(10);
    let stranger = node(&redis, &other);
    let refused = register_across(&node1, &stranger, "1001", "1001pass", &contact, 300);
    assert_eq!(status(&refused), 401, "{refused}");
}

#[test]
fn a_redis_outage_stops_no_register_and_the_nodes_catch_up_when_it_is_back() {
    let mut redis = Redis::start();
    let secret = Secret::new(11);
    let (node1, node2) = (node(&redis, &secret), node(&redis, &secret));
    wait_metric(
        &node1,
        "switchboard_registrations_redis_up",
        1.0,
        "node 1 link",
    );
    wait_metric(
        &node2,
        "switchboard_registrations_redis_up",
        1.0,
        "node 2 link",
    );
    let before = format!("<sip:1001@127.0.0.1:{}>", free_port());
    let ok = register_across(&node1, &node1, "1001", "1001pass", &before, 300);
    assert_eq!(status(&ok), 200, "{ok}");
    wait_metric(&node2, "switchboard_registrations", 1.0, "node 2 replica");
    let (_, health) = node1.http_get("/health");
    assert!(
        health.contains("\"registrations_redis_up\":true"),
        "{health}"
    );

    redis.kill();
    wait_metric(
        &node1,
        "switchboard_registrations_redis_up",
        0.0,
        "outage seen",
    );
    let (_, health) = node1.http_get("/health");
    assert!(
        health.contains("\"registrations_redis_up\":false"),
        "{health}"
    );
    let uas_port = free_port();
    register_user(&node1, "1002", "1002pass", uas_port);
    assert_eq!(metric(&node1, "switchboard_registrations"), Some(2.0));
    wait_metric(
        &node1,
        "switchboard_registrations_replication_pending",
        1.0,
        "change queued during the outage",
    );

    // Redis comes back empty: node 1 writes back both bindings, node 2 learns the new one and
    // calls it.
    redis.spawn();
    wait_metric(
        &node1,
        "switchboard_registrations_redis_up",
        1.0,
        "node 1 relink",
    );
    wait_metric(&node2, "switchboard_registrations", 2.0, "node 2 catch-up");
    assert_eq!(
        metric(&node1, "switchboard_registrations_replication_pending"),
        Some(0.0)
    );
    assert!(metric(&node1, "switchboard_registrations_resyncs_total") >= Some(2.0));
    assert_call_succeeded(call_1002(&node2, uas_port), &node2, &node1);
    // And a node started now loads both from the restarted Redis.
    let node3 = node(&redis, &secret);
    wait_metric(&node3, "switchboard_registrations", 2.0, "node 3 load");
}

#[test]
fn a_lapsed_binding_leaves_every_node_and_redis() {
    let redis = Redis::start();
    let secret = Secret::new(12);
    let shared = || {
        Server::start(&config_with(&format!(
            "min_expires = 1\nshared_redis_url = \"{}\"\nnonce_secret_file = \"{}\"\n",
            redis.url(),
            secret.path().display()
        )))
    };
    let (node1, node2) = (shared(), shared());
    let contact = format!("<sip:1001@127.0.0.1:{}>", free_port());
    let ok = register_across(&node1, &node1, "1001", "1001pass", &contact, 3);
    assert_eq!(status(&ok), 200, "{ok}");
    wait_metric(&node2, "switchboard_registrations", 1.0, "node 2 replica");
    redis.wait_binding_keys(1);
    // Nobody refreshes it: it lapses on both nodes and its Redis key with it.
    wait_metric(&node2, "switchboard_registrations", 0.0, "node 2 expiry");
    wait_metric(&node1, "switchboard_registrations", 0.0, "node 1 expiry");
    redis.wait_binding_keys(0);
}
