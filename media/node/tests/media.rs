//! Media features over real loopback UDP: strict source, RFC 4733 DTMF detection from pcap
//! captures and generation, SDES-SRTP ↔ RTP bridging.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use switchboard_media_core::srtp::{SdesCrypto, SrtpSession, SrtpSuite};
use switchboard_proto::v1::{self as pb, media_event};
use tonic::Streaming;

const WAIT: Duration = Duration::from_secs(2);

async fn bridged(node: &mut TestNode, a: &Peer, b: &Peer) -> pb::AllocateSessionResponse {
    let s = allocate(&mut node.client, "call-media").await;
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

async fn next_dtmf(events: &mut Streaming<pb::MediaEvent>) -> Option<pb::DtmfDetected> {
    loop {
        let ev = tokio::time::timeout(WAIT, events.message())
            .await
            .ok()?
            .ok()??;
        if let Some(media_event::Kind::Dtmf(d)) = ev.kind {
            return Some(d);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_source_drops_and_counts_a_third_sockets_packets() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = bridged(&mut node, &a, &b).await;
    let la = s.leg_a.clone().expect("a");
    // A packet from the signaled address confirms the latch: strict source from then on.
    a.rtp
        .send_to(&rtp(0, 1, 160, 1, 160), rtp_addr(&la))
        .await
        .expect("send");
    recv(&b.rtp, WAIT).await.expect("relayed");
    a.rtcp
        .send_to(&rtcp_rr(1), rtcp_addr(&la))
        .await
        .expect("send rtcp");
    recv(&b.rtcp, WAIT).await.expect("rtcp relayed");
    let intruder = Peer::new().await;
    intruder
        .rtp
        .send_to(&rtp(0, 2, 320, 99, 160), rtp_addr(&la))
        .await
        .expect("inject");
    intruder
        .rtcp
        .send_to(&rtcp_rr(99), rtcp_addr(&la))
        .await
        .expect("inject rtcp");
    a.rtp
        .send_to(&rtp(0, 3, 480, 1, 160), rtp_addr(&la))
        .await
        .expect("send");
    let (got, _) = recv(&b.rtp, WAIT).await.expect("legit packet relayed");
    assert_eq!(
        &got[2..4],
        &3u16.to_be_bytes(),
        "the injected packet was not relayed"
    );
    assert!(
        recv(&b.rtcp, Duration::from_millis(100)).await.is_none(),
        "injected RTCP not relayed"
    );
    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i).0.drops.is_some_and(|d| d.wrong_source == 2)
    })
    .await;
    let ia = legs(&info).0;
    assert_eq!(ia.drops.expect("drops").wrong_source, 2);
    assert!(ia.latched);
    assert_eq!(ia.rtp_in.expect("stats").packets, 2);
    node.stop().await;
}

/// Replays a capture's UDP payloads from peer `a` to leg A and returns the digits reported.
async fn replay_capture(path: &Path, strip: bool) -> (Vec<pb::DtmfDetected>, usize, usize) {
    let payloads = pcap_udp_payloads(&std::fs::read(path).expect("capture readable"));
    let mut node = start(test_config(4)).await;
    let mut events = node
        .client
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();
    let mode = if strip {
        pb::DtmfMode::Strip
    } else {
        pb::DtmfMode::PassThrough
    };
    let opts = pb::LegOptions {
        dtmf_mode: mode as i32,
        ..Default::default()
    };
    let req = pb::AllocateSessionRequest {
        call_id: "c".into(),
        leg_a: Some(opts),
        ..Default::default()
    };
    let s = node
        .client
        .allocate_session(req)
        .await
        .expect("allocate")
        .into_inner();
    let (a, b) = (Peer::new().await, Peer::new().await);
    node.client
        .update_leg(a.update(&s.session_id, pb::Leg::A))
        .await
        .expect("update a");
    node.client
        .update_leg(b.update(&s.session_id, pb::Leg::B))
        .await
        .expect("update b");
    let la = s.leg_a.clone().expect("a");
    for p in &payloads {
        a.rtp.send_to(p, rtp_addr(&la)).await.expect("send");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut relayed = 0;
    while recv(&b.rtp, Duration::from_millis(300)).await.is_some() {
        relayed += 1;
    }
    let mut digits = Vec::new();
    while let Some(d) = next_dtmf(&mut events).await {
        digits.push(d);
    }
    node.stop().await;
    (digits, payloads.len(), relayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_s2_5_2_each_key_press_reported_once_from_capture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/dtmf_rfc4733.pcap");
    let (digits, sent, relayed) = replay_capture(&path, false).await;
    let got: Vec<_> = digits
        .iter()
        .map(|d| (d.digit.as_str(), d.duration_ms, d.leg))
        .collect();
    let a = pb::Leg::A as i32;
    assert_eq!(
        got,
        [("1", 200, a), ("#", 240, a), ("9", 160, a), ("D", 120, a)]
    );
    assert_eq!(relayed, sent, "pass-through forwards every packet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2833_sipp_capture_detected_once_and_stripped() {
    let path = Path::new("/usr/share/sip-tester/dtmf_2833_1.pcap");
    // The test command installs sip-tester; a missing capture is a broken set-up, not a pass.
    assert!(
        path.exists(),
        "{} missing: install the Debian package sip-tester",
        path.display()
    );
    let (digits, sent, relayed) = replay_capture(path, true).await;
    let got: Vec<_> = digits
        .iter()
        .map(|d| (d.digit.as_str(), d.duration_ms))
        .collect();
    assert_eq!(got, [("1", 280)]);
    assert!(sent >= 10);
    assert_eq!(relayed, 0, "strip mode forwards no telephone-event packet");
}

fn event_fields(p: &[u8]) -> (u8, bool, u16, u32, u8, bool, u16) {
    let seq = u16::from_be_bytes([p[2], p[3]]);
    let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    let dur = u16::from_be_bytes([p[14], p[15]]);
    (
        p[1] & 0x7f,
        p[1] & 0x80 != 0,
        seq,
        ts,
        p[12],
        p[13] & 0x80 != 0,
        dur,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_s2_5_1_generated_digit_continues_the_outbound_stream() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = bridged(&mut node, &a, &b).await;
    let la = s.leg_a.clone().expect("a");
    for seq in 100..103u16 {
        a.rtp
            .send_to(
                &rtp(0, seq, u32::from(seq) * 160, 0xaaaa, 160),
                rtp_addr(&la),
            )
            .await
            .expect("audio");
        recv(&b.rtp, WAIT).await.expect("audio relayed");
    }
    let req = pb::SendDtmfRequest {
        session_id: s.session_id.clone(),
        leg: pb::Leg::B as i32,
        digit: "5".into(),
        duration_ms: 100,
        volume: 10,
    };
    node.client.send_dtmf(req).await.expect("send dtmf");
    let mut packets = Vec::new();
    while let Some((p, _)) = recv(&b.rtp, Duration::from_millis(500)).await {
        packets.push(event_fields(&p));
    }
    // ptime 20 ms (UpdateLeg default), 100 ms = 800 units: durations 0..640 then 3 end packets.
    assert_eq!(packets.len(), 8, "{packets:?}");
    let ts = packets[0].3;
    assert!(ts > 102 * 160, "event timestamp follows the audio clock");
    for (k, (pt, marker, seq, pts, event, end, dur)) in packets.iter().copied().enumerate() {
        assert_eq!((pt, event, pts), (101, 5, ts));
        assert_eq!(seq, 103 + k as u16, "sequence continues the relayed stream");
        assert_eq!(marker, k == 0, "marker only on the first packet");
        let want = if k < 5 {
            (false, 160 * k as u16)
        } else {
            (true, 800)
        };
        assert_eq!((end, dur), want, "packet {k}");
    }
    // Audio after the event is renumbered after the inserted packets.
    a.rtp
        .send_to(&rtp(0, 103, 103 * 160, 0xaaaa, 160), rtp_addr(&la))
        .await
        .expect("audio");
    let (p, _) = recv(&b.rtp, WAIT).await.expect("audio relayed");
    assert_eq!(u16::from_be_bytes([p[2], p[3]]), 111);
    node.stop().await;
}

fn key(byte: u8) -> (SdesCrypto, pb::SrtpParams) {
    let c = SdesCrypto::generate(1, SrtpSuite::AesCm128HmacSha1_80, &[byte; 30]);
    let text = c.to_string();
    let inline = text.split("inline:").nth(1).expect("inline key").to_owned();
    let params = pb::SrtpParams {
        suite: pb::SrtpSuite::AesCm128HmacSha180 as i32,
        inline_key: inline,
    };
    (c, params)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdes_srtp_leg_bridges_to_plain_rtp_leg_and_drops_tampered_packets() {
    let mut node = start(test_config(4)).await;
    let (a, b) = (Peer::new().await, Peer::new().await);
    let s = allocate(&mut node.client, "call-srtp").await;
    let (peer_key, peer_params) = key(7);
    let (node_key, node_params) = key(9);
    let mut ua = a.update(&s.session_id, pb::Leg::A);
    ua.srtp_inbound = Some(peer_params);
    ua.srtp_outbound = Some(node_params);
    node.client.update_leg(ua).await.expect("update a (SRTP)");
    node.client
        .update_leg(b.update(&s.session_id, pb::Leg::B))
        .await
        .expect("update b");
    let mut peer = SrtpSession::new(&peer_key, &node_key).expect("peer session");
    let (la, lb) = (s.leg_a.clone().expect("a"), s.leg_b.clone().expect("b"));

    let plain = rtp(0, 1, 160, 0x5150, 160);
    let mut wire = Vec::new();
    peer.protect_rtp(&plain, &mut wire).expect("protect");
    a.rtp.send_to(&wire, rtp_addr(&la)).await.expect("send");
    let (got, _) = recv(&b.rtp, WAIT).await.expect("SRTP→RTP relayed");
    assert_eq!(got, plain, "leg B receives clear RTP");

    let back = rtp(0, 50, 8000, 0x6160, 160);
    b.rtp.send_to(&back, rtp_addr(&lb)).await.expect("send");
    let (got, _) = recv(&a.rtp, WAIT).await.expect("RTP→SRTP relayed");
    assert_ne!(got, back, "leg A receives SRTP");
    let mut clear = Vec::new();
    peer.unprotect_rtp(&got, &mut clear)
        .expect("peer authenticates the node's SRTP");
    assert_eq!(clear, back);

    let mut tampered = Vec::new();
    peer.protect_rtp(&rtp(0, 2, 320, 0x5150, 160), &mut tampered)
        .expect("protect");
    tampered[20] ^= 0xff;
    a.rtp.send_to(&tampered, rtp_addr(&la)).await.expect("send");
    assert!(
        recv(&b.rtp, Duration::from_millis(200)).await.is_none(),
        "tampered packet dropped"
    );
    let info = wait_session(&mut node.client, &s.session_id, |i| {
        legs(i).0.drops.is_some_and(|d| d.srtp_auth == 1)
    })
    .await;
    let ia = legs(&info).0;
    assert_eq!(ia.drops.expect("drops").srtp_auth, 1);
    assert!(ia.srtp_inbound && ia.srtp_outbound);
    node.stop().await;
}
