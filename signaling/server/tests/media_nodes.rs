//! Remote media nodes from `[[media.nodes]]` (the real `switchboard-media` binary, no embedded
//! node): a call's media is anchored on one; when it dies mid-call the call moves to another node by
//! re-INVITE on both legs, or, with no other node, is ended on both legs with a media-failure cause;
//! nothing is left behind.

mod support;

use std::time::{Duration, Instant};

use support::media_node::MediaNode;
use support::{
    Server, SippUas, caller_sipp_args, caller_until_bye, config_with, free_port, poll_until,
    register_user, sipp,
};

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
    let caller = caller_until_bye(&server, &free_port().to_string());
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

/// DESIGN.md "Security defaults": mTLS between signaling and media. Both nodes serve gRPC over
/// TLS with a certificate from our CA (`--tls-cert`, `--tls-key`); one trusts our CA for client
/// certificates, the other only another CA (`--tls-client-ca`). Signaling (`[media] tls_ca`,
/// `tls_cert`, `tls_key`, `https://` URIs) gets the trusting node up and the call's media on it,
/// while the other refuses our certificate during the handshake: it stays down, with the error,
/// and gets no call, though its weight would make it first.
#[test]
fn media_nodes_over_mutual_tls_carry_calls_and_one_refusing_our_certificate_gets_none() {
    use support::certs::make_certs;
    const TOKEN: &str = "media-tls-test-token-0123456789ab";
    let ours = make_certs();
    let other = make_certs();
    let node_with_client_ca = |client_ca: &std::path::Path| {
        let (cert, key, ca) = (
            ours.cert.display().to_string(),
            ours.key.display().to_string(),
            client_ca.display().to_string(),
        );
        MediaNode::start_with(&[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca,
        ])
    };
    let trusting = node_with_client_ca(&ours.ca);
    let picky = node_with_client_ca(&other.ca);
    let config = config_with(&format!(
        "[media]\ntls_ca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
         [[media.nodes]]\nname = \"trusting\"\ngrpc_uri = \"https://{}\"\n\
         [[media.nodes]]\nname = \"picky\"\ngrpc_uri = \"https://{}\"\nweight = 1000\n",
        ours.ca.display(),
        ours.cert.display(),
        ours.key.display(),
        trusting.grpc,
        picky.grpc
    ))
    .replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    );
    let server = Server::start(&config);
    let auth = format!("Bearer {TOKEN}");
    let nodes = || -> serde_json::Value {
        let (_, body) = support::http_request(
            server.http,
            "GET",
            "/api/v1/media-nodes",
            &[("Authorization", &auth)],
            "",
        );
        serde_json::from_str(&body).unwrap_or_default()
    };
    let status = |all: &serde_json::Value, name: &str| {
        all.as_array()
            .and_then(|a| a.iter().find(|n| n["name"] == name).cloned())
            .unwrap_or_default()
    };
    poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let all = nodes();
        let (t, p) = (status(&all, "trusting"), status(&all, "picky"));
        if t["status"] == "up" && p["status"] == "down" && !p["last_error"].is_null() {
            eprintln!("the node refusing our certificate: {}", p["last_error"]);
            Ok(())
        } else {
            Err(format!(
                "expected trusting up and picky down: {all}\n{}",
                server.log()
            ))
        }
    });

    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let args = caller_sipp_args(&server, "1002", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let uas = uas.finish(Duration::from_secs(20));
    let log = server.log();
    assert!(caller.success, "caller:\n{}\n{log}", caller.output);
    assert!(uas.success, "callee:\n{}\n{log}", uas.output);
    assert!(
        log.contains("media released"),
        "the call's media session was released on the trusting node: {log}"
    );
    let all = nodes();
    assert_eq!(status(&all, "picky")["status"], "down", "{all}");
    support::health_until_idle(&server);
}
