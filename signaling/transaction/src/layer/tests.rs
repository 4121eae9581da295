use std::time::Instant;

use super::*;
use crate::TransactionEvent::{Response, Terminated, TimedOut};
use crate::testkit::{TestMsg, ms};

const BRANCH_A: &str = "z9hG4bK-a";
const BRANCH_B: &str = "z9hG4bK-b";

fn layer() -> TransactionLayer<TestMsg> {
    TransactionLayer::new(LayerConfig::default())
}

/// A request outside any dialog from one caller, on an unreliable transport.
fn req<'a>(method: &'a str, branch: &'a str) -> RequestInfo<'a> {
    RequestInfo {
        method,
        branch,
        sent_by: "192.0.2.1:5060",
        call_id: "call-1",
        from_tag: Some("from-1"),
        to_tag: None,
        cseq: 1,
        reliable: false,
    }
}

fn events(l: &mut TransactionLayer<TestMsg>) -> Vec<(TransactionKey, TransactionEvent<TestMsg>)> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

fn transmits(l: &mut TransactionLayer<TestMsg>) -> Vec<TestMsg> {
    std::iter::from_fn(|| l.poll_transmit())
        .map(|t| t.message)
        .collect()
}

fn new_key(decision: RequestDecision) -> TransactionKey {
    match decision {
        RequestDecision::New { key, .. } => key,
        other => panic!("expected New, got {other:?}"),
    }
}

mod rfc3261 {
    use super::*;

    mod s17_2_3 {
        use super::*;

        #[test]
        fn retransmission_matches_and_terminated_transaction_is_removed() {
            let (base, mut l) = (Instant::now(), layer());
            let key = new_key(l.receive_request(
                base,
                &req("OPTIONS", BRANCH_A),
                TestMsg::Request("OPTIONS"),
            ));
            assert_eq!(l.len(), 1);
            l.send_response(base, &key, 200, TestMsg::Response(200))
                .unwrap();
            let again = l.receive_request(
                base + ms(500),
                &req("OPTIONS", BRANCH_A),
                TestMsg::Request("OPTIONS"),
            );
            assert_eq!(again, RequestDecision::Matched { key: key.clone() });
            assert_eq!(
                transmits(&mut l),
                [TestMsg::Response(200), TestMsg::Response(200)]
            );
            // Timer J (32 s) removes it.
            assert_eq!(l.poll_timeout(), Some(base + ms(32_000)));
            l.handle_timeout(base + ms(32_000));
            assert!(l.is_empty());
            assert_eq!(l.server_count(), 0);
            assert_eq!(l.poll_timeout(), None);
            assert!(events(&mut l).contains(&(key, Terminated)));
        }

        #[test]
        fn ack_matches_invite_server_transaction() {
            let (base, mut l) = (Instant::now(), layer());
            let key = new_key(l.receive_request(
                base,
                &req("INVITE", BRANCH_A),
                TestMsg::Request("INVITE"),
            ));
            l.send_response(base, &key, 486, TestMsg::Response(486))
                .unwrap();
            let ack = l.receive_request(
                base + ms(10),
                &req("ACK", BRANCH_A),
                TestMsg::Request("ACK"),
            );
            assert_eq!(ack, RequestDecision::Matched { key: key.clone() });
            assert_eq!(l.state(&key), Some("Confirmed"));
            // The ACK for a 2xx has its own branch and matches nothing.
            let ack2 = l.receive_request(base, &req("ACK", BRANCH_B), TestMsg::Request("ACK"));
            assert_eq!(ack2, RequestDecision::AckWithoutTransaction);
            assert_eq!(l.len(), 1);
        }

        #[test]
        fn cancel_has_its_own_transaction_and_finds_its_invite() {
            let (base, mut l) = (Instant::now(), layer());
            let invite = new_key(l.receive_request(
                base,
                &req("INVITE", BRANCH_A),
                TestMsg::Request("INVITE"),
            ));
            let decision =
                l.receive_request(base, &req("CANCEL", BRANCH_A), TestMsg::Request("CANCEL"));
            let RequestDecision::New { key, cancels } = decision else {
                panic!("{decision:?}")
            };
            assert_eq!(key.method, "CANCEL");
            assert_eq!(cancels, Some(invite.clone()));
            assert_eq!(l.invite_for_cancel(&key), Some(invite.clone()));
            assert_eq!(l.len(), 2);
            l.send_response(base, &key, 200, TestMsg::Response(200))
                .unwrap();
            l.send_response(base, &invite, 487, TestMsg::Response(487))
                .unwrap();
            assert_eq!(
                transmits(&mut l),
                [TestMsg::Response(200), TestMsg::Response(487)]
            );
        }

        #[test]
        fn rfc2543_branch_still_matches_retransmission_and_ack() {
            let (base, mut l) = (Instant::now(), layer());
            let old = |method| RequestInfo {
                branch: "",
                ..req(method, "")
            };
            let key = new_key(l.receive_request(base, &old("INVITE"), TestMsg::Request("INVITE")));
            assert!(!key.has_magic_cookie());
            l.send_response(base, &key, 404, TestMsg::Response(404))
                .unwrap();
            assert_eq!(
                l.receive_request(base, &old("INVITE"), TestMsg::Request("INVITE")),
                RequestDecision::Matched { key: key.clone() }
            );
            assert_eq!(
                l.receive_request(base, &old("ACK"), TestMsg::Request("ACK")),
                RequestDecision::Matched { key: key.clone() }
            );
            assert_eq!(l.state(&key), Some("Confirmed"));
        }
    }

    mod s8_2_2_2 {
        use super::*;

        #[test]
        fn merged_request_gets_482() {
            let (base, mut l) = (Instant::now(), layer());
            let first = new_key(l.receive_request(
                base,
                &req("INVITE", BRANCH_A),
                TestMsg::Request("INVITE"),
            ));
            // The same request forked back to us along another path: new branch.
            let decision = l.receive_request(
                base + ms(5),
                &req("INVITE", BRANCH_B),
                TestMsg::Request("INVITE"),
            );
            let RequestDecision::LoopDetected { key, original } = decision else {
                panic!("{decision:?}")
            };
            assert_eq!(original, first);
            l.send_response(base + ms(5), &key, 482, TestMsg::Response(482))
                .unwrap();
            assert_eq!(transmits(&mut l), [TestMsg::Response(482)]);
            // Its retransmission is absorbed by its own transaction (482 resent), not re-detected.
            let again = l.receive_request(
                base + ms(505),
                &req("INVITE", BRANCH_B),
                TestMsg::Request("INVITE"),
            );
            assert_eq!(again, RequestDecision::Matched { key });
        }

        #[test]
        fn requests_with_to_tag_or_other_cseq_are_not_merged() {
            let (base, mut l) = (Instant::now(), layer());
            new_key(l.receive_request(base, &req("INVITE", BRANCH_A), TestMsg::Request("INVITE")));
            let in_dialog = RequestInfo {
                to_tag: Some("t"),
                ..req("INVITE", BRANCH_B)
            };
            new_key(l.receive_request(base, &in_dialog, TestMsg::Request("INVITE")));
            let next_cseq = RequestInfo {
                cseq: 2,
                ..req("INVITE", "z9hG4bK-c")
            };
            new_key(l.receive_request(base, &next_cseq, TestMsg::Request("INVITE")));
        }

        #[test]
        fn no_merge_once_original_transaction_is_gone() {
            let (base, mut l) = (Instant::now(), layer());
            let reliable = RequestInfo {
                reliable: true,
                ..req("OPTIONS", BRANCH_A)
            };
            let key = new_key(l.receive_request(base, &reliable, TestMsg::Request("OPTIONS")));
            l.send_response(base, &key, 200, TestMsg::Response(200))
                .unwrap(); // J = 0 on reliable
            assert!(l.is_empty());
            new_key(l.receive_request(
                base,
                &req("OPTIONS", BRANCH_B),
                TestMsg::Request("OPTIONS"),
            ));
        }
    }

    mod s17_1_3 {
        use super::*;

        #[test]
        fn response_matches_client_transaction_by_branch_and_cseq_method() {
            let (base, mut l) = (Instant::now(), layer());
            let key = TransactionKey::client(BRANCH_A, "198.51.100.1:5060", "REGISTER");
            l.send_request(base, key.clone(), TestMsg::Request("REGISTER"), false)
                .unwrap();
            assert_eq!(transmits(&mut l), [TestMsg::Request("REGISTER")]);
            let info = |status, cseq_method| ResponseInfo {
                branch: BRANCH_A,
                sent_by: "198.51.100.1:5060",
                cseq_method,
                status,
            };
            // Same branch, other method: not ours.
            assert_eq!(
                l.receive_response(base, &info(200, "INVITE"), TestMsg::Response(200)),
                ResponseDecision::Stray
            );
            assert_eq!(
                l.receive_response(base, &info(401, "REGISTER"), TestMsg::Response(401)),
                ResponseDecision::Matched(key.clone())
            );
            assert_eq!(
                events(&mut l),
                [(
                    key.clone(),
                    Response {
                        status: 401,
                        response: TestMsg::Response(401)
                    }
                )]
            );
        }

        #[test]
        fn send_request_rejects_bad_keys() {
            let (base, mut l) = (Instant::now(), layer());
            let key = TransactionKey::client(BRANCH_A, "h", "OPTIONS");
            l.send_request(base, key.clone(), TestMsg::Request("OPTIONS"), true)
                .unwrap();
            assert!(matches!(
                l.send_request(base, key, TestMsg::Request("OPTIONS"), true),
                Err(LayerError::DuplicateBranch(_))
            ));
            let legacy = TransactionKey::client("1234", "h", "OPTIONS");
            assert!(matches!(
                l.send_request(base, legacy, TestMsg::Request("OPTIONS"), true),
                Err(LayerError::MissingMagicCookie(_))
            ));
            let ack = TransactionKey::client(BRANCH_B, "h", "ACK");
            assert_eq!(
                l.send_request(base, ack, TestMsg::Request("ACK"), true),
                Err(LayerError::AckIsNotATransaction)
            );
            let server = TransactionKey::server(BRANCH_B, "h", "OPTIONS");
            assert!(matches!(
                l.send_request(base, server, TestMsg::Request("OPTIONS"), true),
                Err(LayerError::WrongRole(_))
            ));
        }
    }
}

#[test]
fn server_transaction_cap_answers_503() {
    let base = Instant::now();
    let config = LayerConfig {
        max_server_transactions: 2,
        ..LayerConfig::default()
    };
    let mut l = TransactionLayer::new(config);
    let branches = ["z9hG4bK-1", "z9hG4bK-2", "z9hG4bK-3"];
    let info = |i: usize| RequestInfo {
        cseq: i as u32,
        reliable: true,
        ..req("OPTIONS", branches[i])
    };
    let k0 = new_key(l.receive_request(base, &info(0), TestMsg::Request("OPTIONS")));
    new_key(l.receive_request(base, &info(1), TestMsg::Request("OPTIONS")));
    assert_eq!(
        l.receive_request(base, &info(2), TestMsg::Request("OPTIONS")),
        RequestDecision::Overloaded
    );
    // Client transactions are not capped.
    let client = TransactionKey::client("z9hG4bK-c", "h", "OPTIONS");
    l.send_request(base, client, TestMsg::Request("OPTIONS"), true)
        .unwrap();
    // Room again once one completes.
    l.send_response(base, &k0, 200, TestMsg::Response(200))
        .unwrap();
    assert_eq!(l.server_count(), 1);
    new_key(l.receive_request(base, &info(2), TestMsg::Request("OPTIONS")));
}

#[test]
fn layer_timeout_is_earliest_deadline_in_order() {
    let (base, mut l) = (Instant::now(), layer());
    // Client REGISTER over TCP: only Timer F at 32 s.
    let reg = TransactionKey::client(BRANCH_A, "h", "REGISTER");
    l.send_request(base, reg.clone(), TestMsg::Request("REGISTER"), true)
        .unwrap();
    assert_eq!(l.poll_timeout(), Some(base + ms(32_000)));
    // Client OPTIONS over UDP 1 s later: Timer E at 1.5 s comes first.
    let opt = TransactionKey::client(BRANCH_B, "h", "OPTIONS");
    l.send_request(
        base + ms(1_000),
        opt.clone(),
        TestMsg::Request("OPTIONS"),
        false,
    )
    .unwrap();
    assert_eq!(l.poll_timeout(), Some(base + ms(1_500)));
    transmits(&mut l);
    // Early wake-up: nothing fires.
    l.handle_timeout(base + ms(1_499));
    assert!(transmits(&mut l).is_empty());
    l.handle_timeout(base + ms(1_500));
    assert_eq!(transmits(&mut l), [TestMsg::Request("OPTIONS")]);
    assert_eq!(l.poll_timeout(), Some(base + ms(2_500)));
    // OPTIONS completes (K = 5 s): its stale E entry is skipped, K is next.
    l.receive_response(
        base + ms(2_000),
        &ResponseInfo {
            branch: BRANCH_B,
            sent_by: "h",
            cseq_method: "OPTIONS",
            status: 200,
        },
        TestMsg::Response(200),
    );
    assert_eq!(l.poll_timeout(), Some(base + ms(7_000)));
    l.handle_timeout(base + ms(7_000));
    assert_eq!(l.len(), 1);
    assert_eq!(l.poll_timeout(), Some(base + ms(32_000)));
    l.handle_timeout(base + ms(40_000));
    let evs = events(&mut l);
    assert!(evs.contains(&(reg.clone(), TimedOut)));
    assert_eq!(evs.last(), Some(&(reg, Terminated)));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn stale_deadlines_stay_bounded_under_churn() {
    let (base, mut l) = (Instant::now(), layer());
    for i in 0..10_000u32 {
        let branch = format!("z9hG4bK-{i}");
        let key = TransactionKey::client(&branch, "h", "OPTIONS");
        let now = base + ms(u64::from(i));
        l.handle_timeout(now);
        l.send_request(now, key, TestMsg::Request("OPTIONS"), false)
            .unwrap();
        let info = ResponseInfo {
            branch: &branch,
            sent_by: "h",
            cseq_method: "OPTIONS",
            status: 200,
        };
        l.receive_response(now, &info, TestMsg::Response(200));
        transmits(&mut l);
        events(&mut l);
    }
    // 10 000 transactions in Completed (Timer K 5 s): at most ~5 000 live at once.
    assert!(l.len() <= 5_001, "{}", l.len());
    assert!(
        l.heap_len() <= 2 * l.len() + 64,
        "heap {} for {} live",
        l.heap_len(),
        l.len()
    );
    l.handle_timeout(base + ms(60_000));
    assert!(l.is_empty());
}
