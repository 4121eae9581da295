//! Allocation, routing and release against real media nodes on loopback.

mod support;

use std::time::Duration;

use support::{fast_config, next_event, rtp_addr, start_node, wait_up};
use switchboard_media_pool::proto::{
    self as pb, media_event, media_service_client::MediaServiceClient,
};
use switchboard_media_pool::{
    AllocateOptions, MediaError, MediaPool, PoolConfig, PoolEvent, RetryHint,
};
use tokio::net::UdpSocket;

#[tokio::test]
async fn allocation_goes_to_the_node_with_more_free_capacity() {
    let small = start_node(2).await;
    let big = start_node(8).await;
    let pool = MediaPool::new(fast_config(vec![
        small.node_config("small"),
        big.node_config("big"),
    ]))
    .expect("pool");
    wait_up(&pool, &["small", "big"]).await;

    let a = pool
        .allocate("call-1", AllocateOptions::default())
        .await
        .expect("allocated");
    assert_eq!(a.node, "big");
    assert!(a.refused.is_empty());
    assert_eq!(a.leg_a.address, "127.0.0.1");
    assert_ne!(
        a.leg_a.rtp_port, a.leg_b.rtp_port,
        "both legs on one node, distinct ports"
    );
    assert_eq!(pool.node_of(&a.session_id).as_deref(), Some("big"));
    let on_big = pool.list_sessions("big").await.expect("list");
    assert_eq!(on_big.len(), 1);
    // ListSessions holds the last periodic snapshot (ids may still be empty); GetSession is fresh.
    let info = pool.get_session(&a.session_id).await.expect("get");
    assert_eq!(info.call_id, "call-1");
    assert!(pool.list_sessions("small").await.expect("list").is_empty());

    let snap = pool.snapshot();
    let big_snap = snap.iter().find(|s| s.name == "big").expect("big");
    assert_eq!(big_snap.max_sessions, 8);
    assert_eq!(big_snap.sessions, 1);
}

#[tokio::test]
async fn node_at_its_max_sessions_gets_no_allocation() {
    let one = start_node(1).await;
    let other = start_node(4).await;
    // "one" is preferred while it has room (weight 1000 × 1 free > 1 × 4 free).
    let pool = MediaPool::new(fast_config(vec![
        one.node_config("one").with_weight(1000),
        other.node_config("other"),
    ]))
    .expect("pool");
    wait_up(&pool, &["one", "other"]).await;

    let first = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("first");
    assert_eq!(first.node, "one");
    for call in ["c2", "c3"] {
        let a = pool
            .allocate(call, AllocateOptions::default())
            .await
            .expect("next");
        assert_eq!(a.node, "other", "{call} must not go to the full node");
        assert!(
            a.refused.is_empty(),
            "full node not even tried: {:?}",
            a.refused
        );
    }
}

#[tokio::test]
async fn resource_exhausted_is_retried_on_the_next_node() {
    let one = start_node(1).await;
    let other = start_node(4).await;
    // Health only at start: the pool cannot know that "one" fills up behind its back.
    let config = PoolConfig {
        health_interval: Duration::from_secs(3600),
        ..fast_config(vec![
            one.node_config("one").with_weight(1000),
            other.node_config("other"),
        ])
    };
    let pool = MediaPool::new(config).expect("pool");
    wait_up(&pool, &["one", "other"]).await;
    let mut direct = MediaServiceClient::connect(one.grpc_uri())
        .await
        .expect("connect");
    direct
        .allocate_session(pb::AllocateSessionRequest {
            call_id: "outside".into(),
            ..Default::default()
        })
        .await
        .expect("fills node one");

    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("allocated");
    assert_eq!(a.node, "other");
    assert_eq!(a.refused.len(), 1);
    assert_eq!(a.refused[0].node, "one");
    assert_eq!(a.refused[0].code, tonic::Code::ResourceExhausted);
}

#[tokio::test]
async fn every_node_full_is_no_capacity_naming_each_refusal() {
    let only = start_node(1).await;
    let pool = MediaPool::new(fast_config(vec![only.node_config("only")])).expect("pool");
    wait_up(&pool, &["only"]).await;
    pool.allocate("c1", AllocateOptions::default())
        .await
        .expect("first");
    let e = pool
        .allocate("c2", AllocateOptions::default())
        .await
        .expect_err("full");
    let MediaError::NoCapacity { attempts } = &e else {
        panic!("expected NoCapacity, got {e}");
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].code, tonic::Code::ResourceExhausted);
    assert_eq!(e.retry(), RetryHint::Later);
    assert_eq!(e.sip_status(), 503);
}

#[tokio::test]
async fn release_frees_the_session_on_the_node_that_holds_it() {
    let n1 = start_node(4).await;
    let n2 = start_node(4).await;
    let pool = MediaPool::new(fast_config(vec![
        n1.node_config("n1"),
        n2.node_config("n2"),
    ]))
    .expect("pool");
    wait_up(&pool, &["n1", "n2"]).await;
    let mut events = pool.subscribe();
    // Equal capacity: the first goes to n1 (name order), then n2 has more room.
    let s1 = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("s1");
    let s2 = pool
        .allocate("c2", AllocateOptions::default())
        .await
        .expect("s2");
    assert_eq!((s1.node.as_str(), s2.node.as_str()), ("n1", "n2"));

    let info = pool.release(&s2.session_id).await.expect("released");
    assert_eq!(info.call_id, "c2");
    assert!(pool.list_sessions("n2").await.expect("list").is_empty());
    let left = pool.list_sessions("n1").await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(
        pool.get_session(&s1.session_id)
            .await
            .expect("s1 kept")
            .call_id,
        "c1"
    );
    assert_eq!(pool.node_of(&s2.session_id), None);
    assert_eq!(pool.sessions_on("n1"), vec![s1.session_id.clone()]);

    let (node, reason) = next_event(&mut events, |e| match e {
        PoolEvent::Media { node, event } if event.session_id == s2.session_id => {
            match &event.kind {
                Some(media_event::Kind::Released(r)) => Some((node.clone(), r.reason.clone())),
                _ => None,
            }
        }
        _ => None,
    })
    .await;
    assert_eq!((node.as_str(), reason.as_str()), ("n2", "released"));

    let again = pool.release(&s2.session_id).await.expect_err("unknown now");
    assert!(matches!(again, MediaError::UnknownSession(_)), "{again}");
}

#[tokio::test]
async fn update_leg_and_send_dtmf_reach_the_session_node() {
    let n1 = start_node(4).await;
    let n2 = start_node(4).await;
    let pool = MediaPool::new(fast_config(vec![
        n1.node_config("n1"),
        n2.node_config("n2"),
    ]))
    .expect("pool");
    wait_up(&pool, &["n1", "n2"]).await;
    pool.allocate("c0", AllocateOptions::default())
        .await
        .expect("s0 on n1");
    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("s1");
    assert_eq!(a.node, "n2");

    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = phone.local_addr().expect("addr");
    pool.update_leg(pb::UpdateLegRequest {
        session_id: a.session_id.clone(),
        leg: pb::Leg::A as i32,
        remote_address: me.ip().to_string(),
        remote_rtp_port: me.port().into(),
        telephone_event_payload_type: Some(101),
        ..Default::default()
    })
    .await
    .expect("update routed to n2");
    pool.send_dtmf(pb::SendDtmfRequest {
        session_id: a.session_id.clone(),
        leg: pb::Leg::A as i32,
        digit: "7".into(),
        duration_ms: 60,
        volume: 10,
    })
    .await
    .expect("dtmf routed to n2");
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(support::WAIT, phone.recv_from(&mut buf))
        .await
        .expect("telephone-event packet in time")
        .expect("recv");
    assert_eq!(from, rtp_addr(&a.leg_a), "sent from leg A's local port");
    assert!(n >= 16);
    assert_eq!(buf[1] & 0x7f, 101, "payload type 101");
    assert_eq!(buf[12], 7, "RFC 4733 event code of digit 7");

    let bad = pool
        .update_leg(pb::UpdateLegRequest {
            session_id: a.session_id.clone(),
            leg: pb::Leg::B as i32,
            remote_address: "not-an-ip".into(),
            remote_rtp_port: 4000,
            ..Default::default()
        })
        .await
        .expect_err("invalid address");
    assert!(
        matches!(&bad, MediaError::Node { node, code: tonic::Code::InvalidArgument, .. } if node == "n2"),
        "{bad}"
    );
    assert_eq!(bad.retry(), RetryHint::Never);
    let unknown = pool
        .send_dtmf(pb::SendDtmfRequest {
            session_id: "nope".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown session");
    assert!(matches!(unknown, MediaError::UnknownSession(_)));
}

/// An operator's key presses still being sent when the call hangs up: the digit that races the
/// session's release is refused as an unknown session by the pool, and the node, which did
/// nothing wrong, keeps no error (the dashboard shows a node's last error).
#[tokio::test]
async fn a_digit_racing_the_release_is_not_the_nodes_fault() {
    let n = start_node(4).await;
    let pool = MediaPool::new(fast_config(vec![n.node_config("n")])).expect("pool");
    wait_up(&pool, &["n"]).await;
    for i in 0..20 {
        let a = pool
            .allocate(&format!("c{i}"), AllocateOptions::default())
            .await
            .expect("allocated");
        pool.update_leg(pb::UpdateLegRequest {
            session_id: a.session_id.clone(),
            leg: pb::Leg::B as i32,
            remote_address: "127.0.0.1".into(),
            remote_rtp_port: 9,
            telephone_event_payload_type: Some(101),
            ..Default::default()
        })
        .await
        .expect("leg B set");
        let digit = pb::SendDtmfRequest {
            session_id: a.session_id.clone(),
            leg: pb::Leg::B as i32,
            digit: "5".into(),
            duration_ms: 100,
            volume: 10,
        };
        let (released, sent) = tokio::join!(pool.release(&a.session_id), pool.send_dtmf(digit));
        released.expect("released");
        match sent {
            Ok(()) | Err(MediaError::UnknownSession(_)) => {}
            Err(e) => panic!("the racing digit got {e}"),
        }
    }
    let snap = pool.snapshot();
    assert_eq!(snap[0].last_error, None, "{:?}", snap[0]);
    assert_eq!(snap[0].sessions, 0);
}

#[tokio::test]
async fn concurrent_allocations_spread_over_nodes_of_equal_capacity() {
    let n1 = start_node(8).await;
    let n2 = start_node(8).await;
    let pool = MediaPool::new(fast_config(vec![
        n1.node_config("n1"),
        n2.node_config("n2"),
    ]))
    .expect("pool");
    wait_up(&pool, &["n1", "n2"]).await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.allocate(&format!("c{i}"), AllocateOptions::default())
                    .await
                    .expect("placed")
                    .node
            })
        })
        .collect();
    let mut on_n1 = 0;
    for call in calls {
        if call.await.expect("task") == "n1" {
            on_n1 += 1;
        }
    }
    assert_eq!(
        on_n1, 4,
        "in-flight allocations count against a node's free capacity"
    );
    assert_eq!(pool.sessions_on("n2").len(), 4);
}
