//! Media events from several real nodes arrive on the pool's one channel with the node name.

mod support;

use support::{fast_config, next_event, rtp, rtp_addr, start_node, wait_up};
use switchboard_media_pool::proto::{self as pb, media_event};
use switchboard_media_pool::{AllocateOptions, MediaPool, PoolEvent};
use tokio::net::UdpSocket;

fn short_timeout() -> pb::LegOptions {
    pb::LegOptions {
        rtp_timeout_ms: 300,
        ..Default::default()
    }
}

#[tokio::test]
async fn rtp_timeout_is_forwarded_with_the_node_name() {
    let n1 = start_node(4).await;
    let n2 = start_node(4).await;
    let pool = MediaPool::new(fast_config(vec![
        n1.node_config("n1"),
        n2.node_config("n2"),
    ]))
    .expect("pool");
    wait_up(&pool, &["n1", "n2"]).await;
    let mut events = pool.subscribe();
    pool.allocate("c0", AllocateOptions::default())
        .await
        .expect("c0 on n1");
    let a = pool
        .allocate(
            "c1",
            AllocateOptions {
                leg_a: short_timeout(),
                leg_b: short_timeout(),
            },
        )
        .await
        .expect("c1");
    assert_eq!(a.node, "n2");

    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let packet = rtp(0, true, 1, 160, 0x1234_5678, &[0xff; 160]);
    phone
        .send_to(&packet, rtp_addr(&a.leg_a))
        .await
        .expect("send");

    let (node, event, timeout) = next_event(&mut events, |e| match e {
        PoolEvent::Media { node, event } if event.session_id == a.session_id => match &event.kind {
            Some(media_event::Kind::RtpTimeout(t)) if t.leg == pb::Leg::A as i32 => {
                Some((node.clone(), event.clone(), *t))
            }
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(node, "n2");
    assert_eq!(event.call_id, "c1");
    assert!(timeout.silent_ms >= 300, "{timeout:?}");
}

#[tokio::test]
async fn rfc4733_digit_is_forwarded_with_the_node_name() {
    let n1 = start_node(4).await;
    let pool = MediaPool::new(fast_config(vec![n1.node_config("n1")])).expect("pool");
    wait_up(&pool, &["n1"]).await;
    let mut events = pool.subscribe();
    let a = pool
        .allocate("c1", AllocateOptions::default())
        .await
        .expect("c1");
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
    .expect("update");

    // RFC 4733 §2.5.1: digit 5 at -10 dBm0, 3 updates then 3 end packets (same timestamp).
    let to = rtp_addr(&a.leg_a);
    let steps: [(u16, bool); 6] = [
        (160, false),
        (320, false),
        (480, false),
        (640, true),
        (640, true),
        (640, true),
    ];
    for (i, (duration, end)) in steps.into_iter().enumerate() {
        let seq = u16::try_from(i).expect("small") + 100;
        let flags = if end { 0x80 } else { 0 } | 10;
        let d = duration.to_be_bytes();
        let payload = [5, flags, d[0], d[1]];
        let packet = rtp(101, i == 0, seq, 8000, 0xdead_beef, &payload);
        phone.send_to(&packet, to).await.expect("send");
    }

    let (node, digit) = next_event(&mut events, |e| match e {
        PoolEvent::Media { node, event } if event.session_id == a.session_id => match &event.kind {
            Some(media_event::Kind::Dtmf(d)) => Some((node.clone(), d.clone())),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(node, "n1");
    assert_eq!(digit.digit, "5");
    assert_eq!(digit.leg, pb::Leg::A as i32);
    assert_eq!(digit.duration_ms, 80, "640 samples at 8 kHz");
    assert_eq!(digit.volume, 10);
}
