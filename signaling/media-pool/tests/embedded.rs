//! The in-process media node: loopback gRPC on an ephemeral port, clean stop, start errors, and
//! the pool calling its service in-process (health, events, sessions, status codes).

mod support;

use std::time::Duration;

use support::{fast_config, next_event, node_config, rtp, rtp_addr, wait_up};
use switchboard_media_pool::proto::{
    self as pb, media_event, media_service_client::MediaServiceClient,
};
use switchboard_media_pool::{
    AllocateOptions, EmbeddedError, EmbeddedNode, EmbeddedNodeConfig, MediaError, MediaPool,
    PoolEvent,
};
use tokio::net::UdpSocket;

#[tokio::test]
async fn embedded_node_serves_grpc_on_loopback_and_stops_cleanly() {
    let node = EmbeddedNode::start(node_config(3)).await.expect("starts");
    assert!(node.grpc_addr().ip().is_loopback());
    assert_ne!(node.grpc_addr().port(), 0);
    assert_eq!(node.grpc_uri(), format!("http://{}", node.grpc_addr()));
    let mut client = MediaServiceClient::connect(node.grpc_uri())
        .await
        .expect("connect");
    let h = client
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert_eq!(h.max_sessions, 3);
    drop(client);

    let addr = node.grpc_addr();
    node.stop(Duration::from_secs(5)).await.expect("stops");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after stop"
    );
}

#[tokio::test]
async fn embedded_node_start_failure_is_reported() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let config = EmbeddedNodeConfig {
        http_listen: Some(busy.local_addr().expect("addr")),
        ..node_config(1)
    };
    let e = EmbeddedNode::start(config)
        .await
        .expect_err("http port taken");
    assert!(matches!(e, EmbeddedError::Serve(_)), "{e}");
    assert!(e.to_string().contains("http_listen"), "{e}");
}

#[tokio::test]
async fn pool_calls_the_embedded_node_in_process_like_over_grpc() {
    let node = EmbeddedNode::start(node_config(1)).await.expect("starts");
    let pool = MediaPool::new(fast_config(vec![])).expect("pool");
    node.add_to(&pool, "embedded").expect("added");
    // Health and the event stream both answer through the in-process service.
    wait_up(&pool, &["embedded"]).await;
    let snapshot = pool.snapshot();
    assert_eq!(
        snapshot[0].grpc_uri,
        node.grpc_uri(),
        "the listener is still shown"
    );

    let mut events = pool.subscribe();
    let short = pb::LegOptions {
        rtp_timeout_ms: 300,
        ..Default::default()
    };
    let a = pool
        .allocate(
            "c1",
            AllocateOptions {
                leg_a: short,
                leg_b: short,
            },
        )
        .await
        .expect("allocated");
    assert_eq!(a.node, "embedded");

    // The node's refusals keep their status codes: full, then unknown leg values.
    let full = pool
        .allocate("c2", AllocateOptions::default())
        .await
        .expect_err("one session only");
    let MediaError::NoCapacity { attempts } = &full else {
        panic!("expected NoCapacity, got {full}");
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].code, tonic::Code::ResourceExhausted);
    let bad = pool
        .update_leg(pb::UpdateLegRequest {
            session_id: a.session_id.clone(),
            leg: pb::Leg::A as i32,
            remote_address: "not an address".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad address");
    assert!(
        matches!(&bad, MediaError::Node { code, .. } if *code == tonic::Code::InvalidArgument),
        "{bad:?}"
    );

    // Media flows and the node's events come back through the in-process stream.
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let packet = rtp(0, true, 1, 160, 0x1234_5678, &[0xff; 160]);
    phone
        .send_to(&packet, rtp_addr(&a.leg_a))
        .await
        .expect("send");
    let timed_out_leg = next_event(&mut events, |e| match e {
        PoolEvent::Media { node, event }
            if node == "embedded" && event.session_id == a.session_id =>
        {
            match &event.kind {
                Some(media_event::Kind::RtpTimeout(t)) => Some(t.leg),
                _ => None,
            }
        }
        _ => None,
    })
    .await;
    assert_eq!(timed_out_leg, pb::Leg::A as i32);

    let info = pool.release(&a.session_id).await.expect("released");
    let leg_a = info.leg_a.expect("leg A");
    assert_eq!(leg_a.rtp_in.expect("leg A stats").packets, 1);
    node.stop(Duration::from_secs(5)).await.expect("stops");
}
