//! Remote media nodes from `[[media.nodes]]` (the real `switchboard-media` binary, no embedded
//! node): a call's media is anchored on one; when it dies mid-call the call moves to another node by
//! re-INVITE on both legs, or, with no other node, is ended on both legs with a media-failure cause;
//! nothing is left behind.

mod support;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Server, SippUas, caller_sipp_args, config_with, free_port, register_user, sipp};

/// The `switchboard-media` binary next to ours (built by the workspace's test run; built here if
/// this package is tested alone).
fn media_binary() -> PathBuf {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_switchboard-signaling"));
    let dir = ours.parent().expect("profile dir").to_path_buf();
    let bin = dir.join("switchboard-media");
    if !bin.exists() {
        let target = dir.parent().expect("target dir");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-p", "switchboard-media", "--target-dir"])
            .arg(target);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().is_ok_and(|s| s.success()),
            "build switchboard-media"
        );
    }
    bin
}

/// An even-based range of `n` free UDP ports on loopback.
fn free_range(n: u16) -> (u16, u16) {
    for _ in 0..200 {
        let base = free_port() & !1;
        let ok = (0..n).all(|i| UdpSocket::bind(("127.0.0.1", base.saturating_add(i))).is_ok());
        if ok && base.checked_add(n).is_some() {
            return (base, base + n - 1);
        }
    }
    panic!("no free port range")
}

/// A `switchboard-media` child, killed by its PID on drop.
struct MediaNode {
    child: Child,
    grpc: String,
}

impl MediaNode {
    fn start() -> MediaNode {
        let (low, high) = free_range(16);
        let mut child = Command::new(media_binary())
            .args(["--grpc-listen", "127.0.0.1:0", "--rtp-ip", "127.0.0.1"])
            .args(["--ports", &format!("{low}-{high}")])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard-media");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("grpc=").nth(1) {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let grpc = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("media node reports its gRPC address");
        MediaNode { child, grpc }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MediaNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn health(server: &Server) -> String {
    server.http_get("/health").1
}

#[test]
fn call_on_a_remote_node_that_dies_is_ended_on_both_legs_and_readiness_drops() {
    let mut node = MediaNode::start();
    let server = Server::start(&config_with(&format!(
        "[[media.nodes]]\nname = \"m1\"\ngrpc_uri = \"http://{}\"\n",
        node.grpc
    )));
    let (status, ready) = server.http_get("/health/ready");
    assert_eq!(status, 200, "ready with the remote node up: {ready}");

    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let sip = server.sip;
    let args = caller_sipp_args(&server, "1002", &free_port().to_string());
    let caller = std::thread::spawn(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp("call_uac_callee_hangs_up.xml", sip, "udp", &refs)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(health(&server).contains("\"calls\":1,")
        && health(&server).contains("\"media_sessions\":1"))
    {
        assert!(
            Instant::now() < deadline,
            "call not up on the node: {}",
            health(&server)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the answer and ACK through, then take the node away.
    std::thread::sleep(Duration::from_millis(500));
    node.kill();

    let caller = caller.join().expect("caller");
    let uas = uas.finish(Duration::from_secs(20));
    let log = server.log();
    assert!(
        caller.success,
        "caller did not get a BYE:\n{}\n{log}",
        caller.output
    );
    assert!(
        uas.success,
        "callee did not get a BYE:\n{}\n{log}",
        uas.output
    );
    assert!(
        log.contains("media node down: moving or ending the call")
            && log.contains("no media node took the session"),
        "no other node to move to: {log}"
    );
    let byes = support::sipp_received(&uas.output, "BYE ");
    assert!(
        byes.first().is_some_and(|b| b.contains("Reason: Q.850")),
        "the BYE says why: {byes:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !health(&server).contains("\"calls\":0,") {
        assert!(
            Instant::now() < deadline,
            "call left behind: {}",
            health(&server)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, ready) = server.http_get("/health/ready");
    assert_eq!(status, 503, "not ready without a media node: {ready}");
}

#[test]
fn answered_call_on_a_node_that_dies_moves_to_the_other_node_by_reinvite() {
    const TOKEN: &str = "media-nodes-test-token-0123456789";
    let mut nodes = [MediaNode::start(), MediaNode::start()];
    let config = config_with(&format!(
        "[[media.nodes]]\nname = \"m1\"\ngrpc_uri = \"http://{}\"\n\
         [[media.nodes]]\nname = \"m2\"\ngrpc_uri = \"http://{}\"\n",
        nodes[0].grpc, nodes[1].grpc
    ))
    .replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    );
    let server = Server::start(&config);
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas_media = free_port().to_string();
    let uas = SippUas::start(
        "call_uas_moved.xml",
        uas_port,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &uas_media],
    );
    let sip = server.sip;
    let args = caller_sipp_args(&server, "1002", &free_port().to_string());
    let caller = std::thread::spawn(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp("call_uac_moved.xml", sip, "udp", &refs)
    });

    // The answered call's node, from the API, once the caller's audio reaches it (so its ACK is
    // in: the call is confirmed); then that node dies.
    let auth = format!("Bearer {TOKEN}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let node = loop {
        let (_, body) = support::http_request(
            server.http,
            "GET",
            "/api/v1/calls",
            &[("Authorization", &auth)],
            "",
        );
        let calls: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let flowing = calls[0]["legs"]["a"]["packets"].as_u64().unwrap_or(0) > 0;
        if calls[0]["state"] == "answered" && flowing {
            break calls[0]["media_node"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no answered call with audio: {body}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let dead = usize::from(node == "m2");
    nodes[dead].kill();

    let caller = caller.join().expect("caller");
    let uas = uas.finish(Duration::from_secs(30));
    let log = server.log();
    assert!(
        caller.success,
        "caller did not follow the move:\n{}\n{log}",
        caller.output
    );
    assert!(
        uas.success,
        "callee did not follow the move:\n{}\n{log}",
        uas.output
    );
    assert!(
        log.contains("moving the call to another media node"),
        "{log}"
    );
    // The new session (the only one released: the dead one is gone) relayed both ways.
    let (to_a, to_b) = support::released_rtp(&server);
    assert!(
        to_a > 10 && to_b > 10,
        "after the move: to A {to_a}, to B {to_b}\n{log}"
    );
    support::health_until_idle(&server);
}
