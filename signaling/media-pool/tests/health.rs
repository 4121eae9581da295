//! Health checks, drain and run-time membership against real media nodes on loopback.

mod support;

use std::time::{Duration, Instant};

use support::{
    FixedNode, fast_config, next_event, node_config, start_node, unused_tcp_port, wait_status,
    wait_up,
};
use switchboard_media_pool::proto::{self as pb, media_service_client::MediaServiceClient};
use switchboard_media_pool::{
    AllocateOptions, MediaError, MediaNodeConfig, MediaPool, NodeStatus, PoolConfig, PoolEvent,
};
use tokio::net::TcpListener;

#[tokio::test]
async fn stopped_node_is_down_within_3s_with_default_timings_and_gets_no_new_sessions() {
    let doomed = start_node(8).await;
    let other = start_node(8).await;
    // Default deadlines and health timings (1 s poll, 500 ms deadline, down after 2 failures).
    let config = PoolConfig {
        nodes: vec![
            doomed.node_config("doomed").with_weight(1000),
            other.node_config("other"),
        ],
        ..PoolConfig::default()
    };
    let pool = MediaPool::new(config).expect("pool");
    wait_up(&pool, &["doomed", "other"]).await;
    let before = pool
        .allocate("c0", AllocateOptions::default())
        .await
        .expect("c0");
    assert_eq!(before.node, "doomed");
    let mut events = pool.subscribe();

    let stopped_at = Instant::now();
    doomed
        .stop(Duration::from_secs(5))
        .await
        .expect("node stops");
    let reason = next_event(&mut events, |e| match e {
        PoolEvent::NodeStatus {
            node,
            status: NodeStatus::Down,
            reason,
        } if node == "doomed" => Some(reason.clone()),
        _ => None,
    })
    .await;
    let took = stopped_at.elapsed();
    eprintln!("node marked down {took:?} after it stopped");
    assert!(took < Duration::from_secs(3), "marked down after {took:?}");
    assert!(reason.is_some_and(|r| r.contains("Health")));
    let snap = pool.snapshot();
    let down = snap.iter().find(|s| s.name == "doomed").expect("listed");
    assert_eq!(down.status, NodeStatus::Down);
    assert!(down.last_error.is_some());

    for call in ["c1", "c2", "c3"] {
        let a = pool
            .allocate(call, AllocateOptions::default())
            .await
            .expect("placed");
        assert_eq!(a.node, "other");
        assert!(a.refused.is_empty(), "down node not tried: {:?}", a.refused);
    }
    assert_eq!(
        pool.sessions_on("doomed"),
        Vec::<String>::new(),
        "shutdown released c0"
    );
}

#[tokio::test]
async fn unreachable_node_is_down_then_up_when_it_starts_and_events_resubscribe() {
    let addr = unused_tcp_port();
    let pool = MediaPool::new(fast_config(vec![MediaNodeConfig::new(
        "late",
        format!("http://{addr}"),
    )]))
    .expect("pool");
    wait_status(&pool, "late", NodeStatus::Down).await;
    let e = pool
        .allocate("c0", AllocateOptions::default())
        .await
        .expect_err("none up");
    assert!(
        matches!(&e, MediaError::NoCapacity { attempts } if attempts.is_empty()),
        "{e}"
    );

    let node = FixedNode::start(
        TcpListener::bind(addr).await.expect("rebind"),
        node_config(4),
    )
    .await;
    wait_up(&pool, &["late"]).await;
    node.stop().await;
    wait_status(&pool, "late", NodeStatus::Down).await;

    // Back on the same address: Up again and its event stream is subscribed again.
    let _node = FixedNode::start(
        TcpListener::bind(addr).await.expect("rebind"),
        node_config(4),
    )
    .await;
    wait_up(&pool, &["late"]).await;
    let mut events = pool.subscribe();
    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("placed");
    pool.release(&a.session_id).await.expect("released");
    let node = next_event(&mut events, |e| match e {
        PoolEvent::Media { node, event } if event.session_id == a.session_id => Some(node.clone()),
        _ => None,
    })
    .await;
    assert_eq!(node, "late");
}

#[tokio::test]
async fn drained_node_keeps_its_sessions_and_gets_no_new_ones() {
    let n1 = start_node(8).await;
    let n2 = start_node(8).await;
    let pool = MediaPool::new(fast_config(vec![
        n1.node_config("n1").with_weight(1000),
        n2.node_config("n2"),
    ]))
    .expect("pool");
    wait_up(&pool, &["n1", "n2"]).await;
    let kept = pool
        .allocate("c0", AllocateOptions::default())
        .await
        .expect("c0");
    assert_eq!(kept.node, "n1");

    pool.drain("n1").await.expect("drain");
    assert_eq!(status_of(&pool, "n1"), NodeStatus::Draining);
    for call in ["c1", "c2"] {
        let a = pool
            .allocate(call, AllocateOptions::default())
            .await
            .expect("placed");
        assert_eq!(a.node, "n2");
        assert!(a.refused.is_empty());
    }
    let mut events = pool.subscribe();
    pool.update_leg(pb::UpdateLegRequest {
        session_id: kept.session_id.clone(),
        leg: pb::Leg::A as i32,
        remote_address: "127.0.0.1".into(),
        remote_rtp_port: 4000,
        ..Default::default()
    })
    .await
    .expect("draining node still serves its session");

    pool.undrain("n1").await.expect("undrain");
    let status = next_event(&mut events, |e| match e {
        PoolEvent::NodeStatus { node, status, .. } if node == "n1" => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, NodeStatus::Up);
    let back = pool
        .allocate("c3", AllocateOptions::default())
        .await
        .expect("c3");
    assert_eq!(back.node, "n1");

    // Drained by someone else (operator on the node itself): Health reports it.
    let mut direct = MediaServiceClient::connect(n1.grpc_uri())
        .await
        .expect("connect");
    direct.drain(pb::DrainRequest {}).await.expect("drain");
    wait_status(&pool, "n1", NodeStatus::Draining).await;
    let a = pool
        .allocate("c4", AllocateOptions::default())
        .await
        .expect("c4");
    assert_eq!(a.node, "n2");
}

#[tokio::test]
async fn nodes_join_and_leave_at_run_time() {
    let n1 = start_node(4).await;
    let n2 = start_node(4).await;
    let pool = MediaPool::new(fast_config(vec![n1.node_config("n1")])).expect("pool");
    wait_up(&pool, &["n1"]).await;

    pool.add_node(n2.node_config("n2").with_weight(1000))
        .expect("added");
    let dup = pool.add_node(n2.node_config("n2")).expect_err("duplicate");
    assert!(matches!(dup, MediaError::DuplicateNode(_)));
    wait_up(&pool, &["n2"]).await;
    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("c1");
    assert_eq!(a.node, "n2");

    let orphaned = pool.remove_node("n2").expect("removed");
    assert_eq!(orphaned, vec![a.session_id.clone()]);
    assert_eq!(pool.node_of(&a.session_id), None);
    assert!(pool.snapshot().iter().all(|s| s.name != "n2"));
    let b = pool
        .allocate("c2", AllocateOptions::default())
        .await
        .expect("c2");
    assert_eq!(b.node, "n1");
    assert!(matches!(
        pool.remove_node("n2"),
        Err(MediaError::UnknownNode(_))
    ));
    let bad = pool.add_node(MediaNodeConfig::new("x", "not a uri"));
    assert!(matches!(
        bad,
        Err(MediaError::InvalidNode {
            field: "grpc_uri",
            ..
        })
    ));
}

fn status_of(pool: &MediaPool, node: &str) -> NodeStatus {
    pool.snapshot()
        .iter()
        .find(|s| s.name == node)
        .map(|s| s.status)
        .expect("node listed")
}

#[tokio::test]
async fn node_that_accepts_but_never_answers_is_down_by_deadline_within_3s() {
    // A peer that accepts TCP and then says nothing: every call must end at its deadline.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = silent.local_addr().expect("addr");
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let started = Instant::now();
    let pool = MediaPool::new(PoolConfig {
        nodes: vec![MediaNodeConfig::new("silent", format!("http://{addr}"))],
        ..PoolConfig::default()
    })
    .expect("pool");
    wait_status(&pool, "silent", NodeStatus::Down).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "down after {took:?}");
    let snap = pool.snapshot();
    let error = snap[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("DeadlineExceeded"), "{error}");
}
