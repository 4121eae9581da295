//! The relay over real loopback UDP: RTP and RTCP both ways, rtcp-mux, malformed packets.

mod common;

use std::time::Duration;

use common::*;
use switchboard_proto::v1::{self as pb, LegOptions};

const WAIT: Duration = Duration::from_secs(2);

/// Allocates a session and points leg A at `a`, leg B at `b`.
async fn bridged(node: &mut TestNode, a: &Peer, b: &Peer) -> pb::AllocateSessionResponse {
    let s = allocate(&mut node.client, "call-relay").await;
    node.client
        .update_leg(a.update(&s.session_id, pb::Leg::A))
        .await
        .expect("update a");
    node.client
        .update_leg(b.update(&s.session_id, pb::Leg::B))
        .await
        .expect("update b");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_is_relayed_both_ways_from_the_other_legs_port() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = bridged(&mut node, &a, &b).await;
    let (la, lb) = (s.leg_a.clone().expect("a"), s.leg_b.clone().expect("b"));
    assert_eq!(la.rtp_port % 2, 0);
    assert_eq!(la.rtcp_port, la.rtp_port + 1);

    let pkt = rtp(0, 1, 160, 0x1111, 160);
    a.rtp.send_to(&pkt, rtp_addr(&la)).await.expect("send");
    let (got, from) = recv(&b.rtp, WAIT).await.expect("A→B relayed");
    assert_eq!(got, pkt);
    assert_eq!(from, rtp_addr(&lb), "sent from leg B's local RTP port");

    let back = rtp(8, 9, 320, 0x2222, 160);
    b.rtp.send_to(&back, rtp_addr(&lb)).await.expect("send");
    let (got, from) = recv(&a.rtp, WAIT).await.expect("B→A relayed");
    assert_eq!(got, back);
    assert_eq!(from, rtp_addr(&la));

    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i).0.rtp_packets_out == 1 && legs(i).1.rtp_packets_out == 1
    })
    .await;
    let (ia, ib) = legs(&info);
    assert_eq!(ia.rtp_in.expect("stats").packets, 1);
    assert_eq!(ib.rtp_in.expect("stats").bytes, 172);
    assert_eq!((ia.rtp_packets_out, ib.rtp_packets_out), (1, 1));
    // The published addresses: local as allocated, remote as signaled, a last-seen time.
    let addr = |s: &tokio::net::UdpSocket| s.local_addr().expect("addr").to_string();
    assert_eq!(
        (ia.local.as_ref(), ib.local.as_ref()),
        (Some(&la), Some(&lb))
    );
    assert_eq!(
        (ia.remote_rtp, ia.remote_rtcp),
        (addr(&a.rtp), addr(&a.rtcp))
    );
    assert_eq!(
        (ib.remote_rtp, ib.remote_rtcp),
        (addr(&b.rtp), addr(&b.rtcp))
    );
    assert!(ia.last_seen_unix_ms > 0 && ib.last_seen_unix_ms > 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_is_relayed_between_rtcp_ports() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = bridged(&mut node, &a, &b).await;
    let (la, lb) = (s.leg_a.clone().expect("a"), s.leg_b.clone().expect("b"));
    let rr = rtcp_rr(0x1111);
    a.rtcp.send_to(&rr, rtcp_addr(&la)).await.expect("send");
    let (got, from) = recv(&b.rtcp, WAIT).await.expect("RTCP A→B");
    assert_eq!((got, from), (rr.clone(), rtcp_addr(&lb)));
    b.rtcp.send_to(&rr, rtcp_addr(&lb)).await.expect("send");
    let (_, from) = recv(&a.rtcp, WAIT).await.expect("RTCP B→A");
    assert_eq!(from, rtcp_addr(&la));
    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i).0.rtcp_packets_in == 1
    })
    .await;
    assert_eq!(legs(&info).0.rtcp_packets_in, 1);
    assert_eq!(legs(&info).1.rtcp_packets_out, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc5761_muxed_rtcp_shares_the_rtp_port() {
    let mut node = start(test_config(4)).await;
    let mux = LegOptions {
        rtcp_mux: true,
        ..Default::default()
    };
    let req = pb::AllocateSessionRequest {
        call_id: "call-mux".into(),
        leg_a: Some(mux),
        leg_b: Some(mux),
        ..Default::default()
    };
    let s = node
        .client
        .allocate_session(req)
        .await
        .expect("allocate")
        .into_inner();
    let (la, lb) = (s.leg_a.clone().expect("a"), s.leg_b.clone().expect("b"));
    assert_eq!(
        la.rtcp_port, la.rtp_port,
        "no separate RTCP port with rtcp-mux"
    );
    let (a, b) = (Peer::new().await, Peer::new().await);
    for (peer, leg) in [(&a, pb::Leg::A), (&b, pb::Leg::B)] {
        let mut u = peer.update(&s.session_id, leg);
        u.rtcp_mux = true;
        u.remote_rtcp_port = 0;
        node.client.update_leg(u).await.expect("update");
    }
    let rr = rtcp_rr(7);
    a.rtp.send_to(&rr, rtp_addr(&la)).await.expect("send");
    let (got, from) = recv(&b.rtp, WAIT)
        .await
        .expect("muxed RTCP relayed to B's RTP port");
    assert_eq!((got, from), (rr, rtp_addr(&lb)));
    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i).0.rtcp_packets_in == 1
    })
    .await;
    assert_eq!(legs(&info).0.rtcp_packets_in, 1);
    assert_eq!(legs(&info).0.rtp_in.expect("stats").packets, 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rtp_and_rtcp_are_dropped_and_counted() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = bridged(&mut node, &a, &b).await;
    let la = s.leg_a.clone().expect("a");
    a.rtp
        .send_to(&[0x80, 0, 0, 1], rtp_addr(&la))
        .await
        .expect("short rtp");
    let mut v1 = rtp(0, 1, 1, 1, 20);
    v1[0] = 0x40;
    a.rtp.send_to(&v1, rtp_addr(&la)).await.expect("version 1");
    a.rtcp
        .send_to(&[0x80, 201, 0], rtcp_addr(&la))
        .await
        .expect("short rtcp");
    // A valid packet afterwards proves the loop survived and ordering held.
    let good = rtp(0, 2, 160, 1, 160);
    a.rtp.send_to(&good, rtp_addr(&la)).await.expect("good");
    let (got, _) = recv(&b.rtp, WAIT).await.expect("valid packet relayed");
    assert_eq!(got, good);
    assert!(
        recv(&b.rtcp, Duration::from_millis(100)).await.is_none(),
        "bad RTCP not relayed"
    );
    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i)
            .0
            .drops
            .is_some_and(|d| d.malformed_rtp == 2 && d.malformed_rtcp == 1)
    })
    .await;
    let drops = legs(&info).0.drops.expect("drops");
    assert_eq!((drops.malformed_rtp, drops.malformed_rtcp), (2, 1));
    assert_eq!(legs(&info).0.rtp_in.expect("stats").packets, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_before_the_other_leg_has_a_remote_are_counted_as_no_remote() {
    let mut node = start(test_config(4)).await;
    let a = Peer::new().await;
    let s = allocate(&mut node.client, "call-early").await;
    node.client
        .update_leg(a.update(&s.session_id, pb::Leg::A))
        .await
        .expect("update a");
    let la = s.leg_a.clone().expect("a");
    a.rtp
        .send_to(&rtp(0, 1, 1, 1, 160), rtp_addr(&la))
        .await
        .expect("send");
    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i).1.drops.is_some_and(|d| d.no_remote == 1)
    })
    .await;
    assert_eq!(legs(&info).1.drops.expect("drops").no_remote, 1);
    node.stop().await;
}
