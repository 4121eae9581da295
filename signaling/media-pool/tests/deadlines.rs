//! Deadlines: a node whose answers are held (requests still reach it, through a TCP relay)
//! must cost a call no more than its deadline, and leave nothing behind.

mod support;

use std::time::{Duration, Instant};

use support::{HoldingProxy, fast_config, start_node, wait_up};
use switchboard_media_pool::proto::{
    self as pb, media_event, media_service_client::MediaServiceClient,
};
use switchboard_media_pool::{
    AllocateOptions, FailureSide, MediaError, MediaNodeConfig, MediaPool, PoolConfig, RetryHint,
};

#[tokio::test]
async fn allocation_deadline_moves_on_and_releases_the_late_session() {
    let slow = start_node(4).await;
    let other = start_node(4).await;
    let proxy = HoldingProxy::start(slow.grpc_addr()).await;
    let config = PoolConfig {
        allocate_timeout: Duration::from_millis(300),
        health_interval: Duration::from_secs(3600),
        ..fast_config(vec![
            MediaNodeConfig::new("slow", format!("http://{}", proxy.addr)).with_weight(1000),
            other.node_config("other"),
        ])
    };
    let pool = MediaPool::new(config).expect("pool");
    wait_up(&pool, &["slow", "other"]).await;
    // Watch the slow node directly to see what happens to the session it creates.
    let mut direct = MediaServiceClient::connect(slow.grpc_uri())
        .await
        .expect("connect");
    let mut node_events = direct
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();

    proxy.hold_answers(true);
    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("placed elsewhere");
    assert_eq!(a.node, "other");
    assert_eq!(a.refused.len(), 1);
    assert_eq!(a.refused[0].node, "slow");
    assert_eq!(a.refused[0].code, tonic::Code::DeadlineExceeded);

    // The slow node did create the session; the pool releases it so it is not orphaned.
    let released = tokio::time::timeout(support::WAIT, async {
        while let Some(e) = node_events.message().await.expect("stream") {
            if let Some(media_event::Kind::Released(r)) = e.kind {
                return (e.call_id, r.reason);
            }
        }
        panic!("node event stream ended");
    })
    .await
    .expect("late session released in time");
    assert_eq!(released, ("c1".to_owned(), "released".to_owned()));
    let health = direct
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.sessions, 0, "no orphan session on the slow node");
    proxy.hold_answers(false);
}

#[tokio::test]
async fn held_answer_ends_a_call_at_its_deadline_as_a_media_failure() {
    let node = start_node(4).await;
    let proxy = HoldingProxy::start(node.grpc_addr()).await;
    let pool = MediaPool::new(PoolConfig {
        call_timeout: Duration::from_millis(300),
        health_interval: Duration::from_secs(3600),
        ..fast_config(vec![MediaNodeConfig::new(
            "held",
            format!("http://{}", proxy.addr),
        )])
    })
    .expect("pool");
    wait_up(&pool, &["held"]).await;
    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("c1");

    proxy.hold_answers(true);
    let started = Instant::now();
    let e = pool
        .update_leg(pb::UpdateLegRequest {
            session_id: a.session_id.clone(),
            leg: pb::Leg::A as i32,
            remote_address: "127.0.0.1".into(),
            remote_rtp_port: 4000,
            ..Default::default()
        })
        .await
        .expect_err("held answer");
    let took = started.elapsed();
    assert!(
        matches!(&e, MediaError::Node { node, code: tonic::Code::DeadlineExceeded, .. } if node == "held"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(e.side(), FailureSide::Media);
    assert_eq!(e.retry(), RetryHint::OtherNode);
    let snap = pool.snapshot();
    assert!(
        snap[0]
            .last_error
            .as_deref()
            .is_some_and(|l| l.contains("UpdateLeg"))
    );

    // A timed-out release keeps the session routed so it can be retried.
    let e = pool.release(&a.session_id).await.expect_err("held answer");
    assert!(matches!(
        e,
        MediaError::Node {
            code: tonic::Code::DeadlineExceeded,
            ..
        }
    ));
    assert_eq!(pool.node_of(&a.session_id).as_deref(), Some("held"));
    proxy.hold_answers(false);
    // The node did release it (only its answer was held): the SessionReleased event, once let
    // through, makes the pool forget the session.
    let forgot = pool
        .wait_until(support::WAIT, |_| pool.node_of(&a.session_id).is_none())
        .await;
    assert!(forgot, "released session still routed");
}
