//! The control plane over gRPC: limits, exhaustion, release, drain, errors, events, HTTP.

mod common;

use std::time::Duration;

use common::*;
use switchboard_proto::v1::{self as pb, media_event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_ports_give_resource_exhausted_and_release_frees_them() {
    let mut node = start(test_config(2)).await;
    let s = allocate(&mut node.client, "call-1").await;
    let req = pb::AllocateSessionRequest {
        call_id: "call-2".into(),
        ..Default::default()
    };
    let err = node
        .client
        .allocate_session(req.clone())
        .await
        .expect_err("pool has 2 pairs = 1 session");
    assert_eq!(err.code(), Code::ResourceExhausted);
    let health = node
        .client
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert_eq!((health.free_ports, health.total_ports), (0, 2));

    let la = s.leg_a.clone().expect("a");
    let released = node
        .client
        .release_session(pb::ReleaseSessionRequest {
            session_id: s.session_id.clone(),
        })
        .await;
    assert_eq!(
        released
            .expect("release")
            .into_inner()
            .session
            .expect("info")
            .session_id,
        s.session_id
    );
    // The sockets are closed: the ports can be bound by anyone again.
    std::net::UdpSocket::bind(rtp_addr(&la)).expect("RTP port free after release");
    std::net::UdpSocket::bind(rtcp_addr(&la)).expect("RTCP port free after release");
    let again = node
        .client
        .allocate_session(req)
        .await
        .expect("ports recycled")
        .into_inner();
    assert!(!again.session_id.is_empty());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_gives_resource_exhausted() {
    let mut cfg = test_config(8);
    cfg.max_sessions = 1;
    let mut node = start(cfg).await;
    allocate(&mut node.client, "call-1").await;
    let req = pb::AllocateSessionRequest {
        call_id: "call-2".into(),
        ..Default::default()
    };
    let err = node.client.allocate_session(req).await.expect_err("limit");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("max sessions"), "{}", err.message());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_sessions_keeps_old_ones_and_reports_drained() {
    let mut node = start(test_config(8)).await;
    let s = allocate(&mut node.client, "call-1").await;
    let d = node
        .client
        .drain(pb::DrainRequest {})
        .await
        .expect("drain")
        .into_inner();
    assert!(d.draining);
    assert_eq!(d.sessions, 1);
    let req = pb::AllocateSessionRequest {
        call_id: "call-2".into(),
        ..Default::default()
    };
    let err = node
        .client
        .allocate_session(req.clone())
        .await
        .expect_err("draining");
    assert_eq!(err.code(), Code::Unavailable);
    let h = node
        .client
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert!(h.draining && !h.drained);
    node.client
        .get_session(pb::GetSessionRequest {
            session_id: s.session_id.clone(),
        })
        .await
        .expect("still there");
    node.client
        .release_session(pb::ReleaseSessionRequest {
            session_id: s.session_id,
        })
        .await
        .expect("release");
    let h = node
        .client
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert!(h.drained, "no session left");
    node.client
        .undrain(pb::UndrainRequest {})
        .await
        .expect("undrain");
    node.client
        .allocate_session(req)
        .await
        .expect("accepted again");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_field_or_the_session() {
    let mut node = start(test_config(4)).await;
    let err = node
        .client
        .get_session(pb::GetSessionRequest {
            session_id: "nope".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let err = node
        .client
        .allocate_session(pb::AllocateSessionRequest::default())
        .await
        .expect_err("no call id");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("call_id"), "{}", err.message());

    let s = allocate(&mut node.client, "call-1").await;
    let peer = Peer::new().await;
    let mut u = peer.update(&s.session_id, pb::Leg::A);
    u.remote_address = "not-an-ip".into();
    let err = node.client.update_leg(u).await.expect_err("bad address");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("remote_address"),
        "{}",
        err.message()
    );
    let mut u = peer.update(&s.session_id, pb::Leg::Unspecified);
    u.remote_rtp_port = 70000;
    let err = node.client.update_leg(u).await.expect_err("bad leg");
    assert!(err.message().starts_with("leg"), "{}", err.message());
    let dtmf = pb::SendDtmfRequest {
        session_id: s.session_id.clone(),
        leg: 1,
        digit: "x".into(),
        ..Default::default()
    };
    let err = node.client.send_dtmf(dtmf).await.expect_err("bad digit");
    assert!(err.message().starts_with("digit"), "{}", err.message());
    let mut u = peer.update(&s.session_id, pb::Leg::A);
    u.remote_rtp_port = 0;
    let err = node.client.update_leg(u).await.expect_err("port 0");
    assert!(
        err.message().starts_with("remote_rtp_port"),
        "{}",
        err.message()
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_leg_raises_one_rtp_timeout_and_release_is_an_event() {
    let mut node = start(test_config(4)).await;
    let mut events = node
        .client
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();
    let opts = pb::LegOptions {
        rtp_timeout_ms: 150,
        ..Default::default()
    };
    let req = pb::AllocateSessionRequest {
        call_id: "call-quiet".into(),
        leg_a: Some(opts),
        leg_b: Some(pb::LegOptions {
            rtp_timeout_ms: 60_000,
            ..opts
        }),
        ..Default::default()
    };
    let s = node
        .client
        .allocate_session(req)
        .await
        .expect("allocate")
        .into_inner();
    let next = |e: Option<pb::MediaEvent>| e.and_then(|e| e.kind);
    let ev = tokio::time::timeout(Duration::from_secs(3), events.message())
        .await
        .expect("in time")
        .expect("ok");
    match next(ev) {
        Some(media_event::Kind::RtpTimeout(t)) => {
            assert_eq!(t.leg, pb::Leg::A as i32);
            assert!(t.silent_ms >= 150);
        }
        other => panic!("expected RtpTimeout, got {other:?}"),
    }
    node.client
        .release_session(pb::ReleaseSessionRequest {
            session_id: s.session_id.clone(),
        })
        .await
        .expect("release");
    let ev = tokio::time::timeout(Duration::from_secs(3), events.message())
        .await
        .expect("in time")
        .expect("ok");
    let ev = ev.expect("event");
    assert_eq!(
        (ev.session_id.as_str(), ev.call_id.as_str()),
        (s.session_id.as_str(), "call-quiet")
    );
    assert!(matches!(ev.kind, Some(media_event::Kind::Released(r)) if r.reason == "released"));
    node.stop().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect http");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .expect("in time")
        .expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_are_served_over_http() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = allocate(&mut node.client, "call-metrics").await;
    node.client
        .update_leg(a.update(&s.session_id, pb::Leg::A))
        .await
        .expect("a");
    node.client
        .update_leg(b.update(&s.session_id, pb::Leg::B))
        .await
        .expect("b");
    a.rtp
        .send_to(
            &rtp(0, 1, 1, 1, 160),
            rtp_addr(s.leg_a.as_ref().expect("a")),
        )
        .await
        .expect("send");
    recv(&b.rtp, Duration::from_secs(2)).await.expect("relayed");
    let mut body = String::new();
    for _ in 0..100 {
        body = http_get(node.http, "/metrics").await;
        if body.contains("switchboard_media_packets_total{direction=\"in\",kind=\"rtp\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        body.contains("switchboard_media_sessions_active 1"),
        "{body}"
    );
    assert!(
        body.contains("switchboard_media_packets_total{direction=\"in\",kind=\"rtp\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("switchboard_media_dropped_packets_total{reason=\"wrong_source\"} 0"),
        "{body}"
    );
    let health = http_get(node.http, "/health").await;
    assert!(
        health.contains("\"sessions\":1") && health.contains("\"drained\":false"),
        "{health}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_sessions_and_frees_ports() {
    let mut node = start(test_config(4)).await;
    let s = allocate(&mut node.client, "call-1").await;
    let la = s.leg_a.clone().expect("a");
    node.stop().await;
    std::net::UdpSocket::bind(rtp_addr(&la)).expect("RTP port free after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_is_listed_with_its_ids_before_its_first_statistics() {
    let mut cfg = test_config(2);
    // Far longer than the test: the relay publishes no statistics while it runs.
    cfg.stats_interval = Duration::from_secs(3600);
    let mut node = start(cfg).await;
    let s = allocate(&mut node.client, "call-listed").await;
    let list = node
        .client
        .list_sessions(pb::ListSessionsRequest {})
        .await
        .expect("list")
        .into_inner();
    let found: Vec<_> = list
        .sessions
        .iter()
        .map(|i| (i.session_id.as_str(), i.call_id.as_str()))
        .collect();
    assert_eq!(found, [(s.session_id.as_str(), "call-listed")]);
}
