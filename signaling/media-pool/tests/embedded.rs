//! The in-process media node: loopback gRPC on an ephemeral port, clean stop, start errors.

mod support;

use std::time::Duration;

use support::node_config;
use switchboard_media_pool::proto::{self as pb, media_service_client::MediaServiceClient};
use switchboard_media_pool::{EmbeddedError, EmbeddedNode, EmbeddedNodeConfig};

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
