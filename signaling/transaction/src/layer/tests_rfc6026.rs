//! RFC 6026 flows and transport errors through the layer.

use std::time::Instant;

use super::*;
use crate::TransactionEvent::{AckReceived, Response, Terminated, TransportError};
use crate::testkit::{TestMsg, ms};

fn invite_info(branch: &str) -> RequestInfo<'_> {
    RequestInfo {
        method: "INVITE",
        branch,
        sent_by: "192.0.2.1:5060",
        call_id: "c",
        from_tag: Some("f"),
        to_tag: None,
        cseq: 1,
        reliable: false,
    }
}

fn drain(l: &mut TransactionLayer<TestMsg>) -> (Vec<TestMsg>, Vec<TransactionEvent<TestMsg>>) {
    let t = std::iter::from_fn(|| l.poll_transmit())
        .map(|t| t.message)
        .collect();
    let e = std::iter::from_fn(|| l.poll_event())
        .map(|(_, e)| e)
        .collect();
    (t, e)
}

mod rfc6026 {
    use super::*;

    #[test]
    fn server_accepted_sends_tu_2xx_passes_matching_ack_and_ends_on_timer_l() {
        let (base, mut l) = (
            Instant::now(),
            TransactionLayer::new(LayerConfig::default()),
        );
        let RequestDecision::New { key, .. } =
            l.receive_request(base, &invite_info("z9hG4bK-1"), TestMsg::Request("INVITE"))
        else {
            panic!("not new")
        };
        l.send_response(base + ms(50), &key, 200, TestMsg::Response(200))
            .unwrap();
        // INVITE retransmission absorbed; the TU's own 2xx retransmission goes out.
        let again = l.receive_request(
            base + ms(500),
            &invite_info("z9hG4bK-1"),
            TestMsg::Request("INVITE"),
        );
        assert_eq!(again, RequestDecision::Matched { key: key.clone() });
        l.send_response(base + ms(550), &key, 200, TestMsg::Response(200))
            .unwrap();
        let ack_info = RequestInfo {
            method: "ACK",
            ..invite_info("z9hG4bK-1")
        };
        l.receive_request(base + ms(600), &ack_info, TestMsg::Request("ACK"));
        let (sent, events) = drain(&mut l);
        assert_eq!(sent, [TestMsg::Response(200), TestMsg::Response(200)]);
        assert_eq!(
            events,
            [
                TransactionEvent::RetransmittedRequest,
                AckReceived(TestMsg::Request("ACK"))
            ]
        );
        assert_eq!(l.poll_timeout(), Some(base + ms(32_050)));
        l.handle_timeout(base + ms(32_050));
        assert_eq!(drain(&mut l).1, [Terminated]);
        assert!(l.is_empty());
    }

    #[test]
    fn client_accepted_passes_2xx_retransmissions_then_timer_m_makes_them_stray() {
        let (base, mut l) = (
            Instant::now(),
            TransactionLayer::new(LayerConfig::default()),
        );
        let key = TransactionKey::client("z9hG4bK-2", "h", "INVITE");
        l.send_request(base, key.clone(), TestMsg::Request("INVITE"), false)
            .unwrap();
        let ok = ResponseInfo {
            branch: "z9hG4bK-2",
            sent_by: "h",
            cseq_method: "INVITE",
            status: 200,
        };
        l.receive_response(base + ms(100), &ok, TestMsg::Response(200));
        l.receive_response(base + ms(600), &ok, TestMsg::Response(200));
        let (sent, events) = drain(&mut l);
        assert_eq!(sent, [TestMsg::Request("INVITE")]); // no ACK for a 2xx from the transaction
        let ok_event = Response {
            status: 200,
            response: TestMsg::Response(200),
        };
        assert_eq!(events, [ok_event.clone(), ok_event]);
        l.handle_timeout(base + ms(32_100));
        assert_eq!(drain(&mut l).1, [Terminated]);
        assert_eq!(
            l.receive_response(base + ms(33_000), &ok, TestMsg::Response(200)),
            ResponseDecision::Stray
        );
    }
}

#[test]
fn transport_error_reaches_tu_and_removes_transaction() {
    let (base, mut l) = (
        Instant::now(),
        TransactionLayer::new(LayerConfig::default()),
    );
    let key = TransactionKey::client("z9hG4bK-3", "h", "OPTIONS");
    l.send_request(base, key.clone(), TestMsg::Request("OPTIONS"), true)
        .unwrap();
    l.handle_transport_error(&key).unwrap();
    assert_eq!(drain(&mut l).1, [TransportError, Terminated]);
    assert!(l.is_empty());
    assert!(matches!(
        l.handle_transport_error(&key),
        Err(LayerError::UnknownTransaction { .. })
    ));
}

#[test]
fn rfc3261_s13_3_1_4_layer_retransmits_2xx_until_tu_reports_ack() {
    let base = Instant::now();
    let config = LayerConfig {
        retransmit_2xx: true,
        ..LayerConfig::default()
    };
    let mut l = TransactionLayer::new(config);
    let RequestDecision::New { key, .. } =
        l.receive_request(base, &invite_info("z9hG4bK-4"), TestMsg::Request("INVITE"))
    else {
        panic!("not new")
    };
    l.send_response(base, &key, 200, TestMsg::Response(200))
        .unwrap();
    l.handle_timeout(base + ms(500));
    l.handle_timeout(base + ms(1_500));
    assert_eq!(drain(&mut l).0, vec![TestMsg::Response(200); 3]);
    // The ACK for the 2xx carries a new branch: the dialog matches it and tells the layer.
    let ack = RequestInfo {
        method: "ACK",
        ..invite_info("z9hG4bK-ack")
    };
    assert_eq!(
        l.receive_request(base + ms(1_600), &ack, TestMsg::Request("ACK")),
        RequestDecision::AckWithoutTransaction
    );
    l.handle_2xx_ack(&key).unwrap();
    assert_eq!(l.poll_timeout(), Some(base + ms(32_000)));
    l.handle_timeout(base + ms(32_000));
    let (sent, events) = drain(&mut l);
    assert!(sent.is_empty());
    assert_eq!(events, [Terminated]);
}
