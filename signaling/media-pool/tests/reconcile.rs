//! Reconciliation of the pool's routing table with a real node's session list.

mod support;

use std::time::Duration;

use support::{fast_config, start_node, wait_up};
use switchboard_media_pool::proto::{self as pb, media_service_client::MediaServiceClient};
use switchboard_media_pool::{AllocateOptions, MediaPool, PoolConfig, Reconciliation};

#[tokio::test]
async fn orphans_with_our_prefix_are_released_and_sessions_the_node_ended_are_forgotten() {
    let node = start_node(8).await;
    let pool = MediaPool::new(PoolConfig {
        session_prefix: "pool-a".into(),
        ..fast_config(vec![node.node_config("n1")])
    })
    .expect("pool");
    wait_up(&pool, &["n1"]).await;
    let kept = pool
        .allocate("kept", AllocateOptions::default())
        .await
        .expect("kept");
    let lost = pool
        .allocate("lost", AllocateOptions::default())
        .await
        .expect("lost");
    assert!(
        kept.session_id.starts_with("pool-a-"),
        "{}",
        kept.session_id
    );

    let mut direct = MediaServiceClient::connect(node.grpc_uri())
        .await
        .expect("connect");
    for (call, hint) in [("no-call", "pool-a-orphan"), ("theirs", "pool-b-7")] {
        direct
            .allocate_session(pb::AllocateSessionRequest {
                call_id: call.into(),
                session_id_hint: hint.into(),
                ..Default::default()
            })
            .await
            .expect("direct allocation");
    }
    direct
        .release_session(pb::ReleaseSessionRequest {
            session_id: lost.session_id.clone(),
        })
        .await
        .expect("node loses a session behind the pool's back");
    // ListSessions reflects the node's periodic snapshot (50 ms here): wait until it names all.
    let listed = tokio::time::timeout(support::WAIT, async {
        loop {
            let list = direct
                .list_sessions(pb::ListSessionsRequest {})
                .await
                .expect("list")
                .into_inner()
                .sessions;
            if list.len() == 3 && list.iter().all(|s| !s.session_id.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(listed.is_ok(), "node snapshot never named its sessions");

    // The node's SessionReleased event already made the pool forget the lost session;
    // reconcile reports as missing only what no event told (e.g. while the stream was down).
    let forgot = pool
        .wait_until(support::WAIT, |_| pool.node_of(&lost.session_id).is_none())
        .await;
    assert!(
        forgot,
        "SessionReleased from the node ends the pool's routing entry"
    );

    let r = pool.reconcile("n1").await.expect("reconciled");
    assert_eq!(
        r,
        Reconciliation {
            orphans_released: vec!["pool-a-orphan".into()],
            missing: vec![],
        }
    );
    assert_eq!(pool.node_of(&kept.session_id).as_deref(), Some("n1"));
    let h = direct
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        h.sessions, 2,
        "our kept session and the other pool's session remain"
    );
    assert_eq!(
        pool.reconcile("n1").await.expect("again"),
        Reconciliation::default()
    );
}

#[tokio::test]
async fn session_ended_while_the_event_stream_was_cut_is_reported_missing() {
    let node = start_node(8).await;
    let proxy = support::HoldingProxy::start(node.grpc_addr()).await;
    let pool = MediaPool::new(PoolConfig {
        health_interval: Duration::from_secs(3600),
        ..fast_config(vec![switchboard_media_pool::MediaNodeConfig::new(
            "n1",
            format!("http://{}", proxy.addr),
        )])
    })
    .expect("pool");
    wait_up(&pool, &["n1"]).await;
    let kept = pool
        .allocate("kept", AllocateOptions::default())
        .await
        .expect("kept");
    let lost = pool
        .allocate("lost", AllocateOptions::default())
        .await
        .expect("lost");

    proxy.cut_link(true);
    let cut = pool
        .wait_until(support::WAIT, |s| s.iter().all(|n| !n.events_connected))
        .await;
    assert!(cut, "event stream noticed the cut link");
    let mut direct = MediaServiceClient::connect(node.grpc_uri())
        .await
        .expect("connect");
    direct
        .release_session(pb::ReleaseSessionRequest {
            session_id: lost.session_id.clone(),
        })
        .await
        .expect("node ends a session while the pool cannot hear it");
    proxy.cut_link(false);
    wait_up(&pool, &["n1"]).await;
    assert_eq!(
        pool.node_of(&lost.session_id).as_deref(),
        Some("n1"),
        "no event told the pool"
    );

    let r = pool.reconcile("n1").await.expect("reconciled");
    assert_eq!(
        r,
        Reconciliation {
            orphans_released: vec![],
            missing: vec![lost.session_id.clone()],
        }
    );
    assert_eq!(pool.node_of(&lost.session_id), None);
    assert_eq!(pool.node_of(&kept.session_id).as_deref(), Some("n1"));
}
