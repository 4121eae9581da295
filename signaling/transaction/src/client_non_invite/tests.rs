use std::time::Instant;

use crate::ClientNonInviteTransaction;
use crate::TransactionEvent::{Response, Terminated, TimedOut, TransportError};
use crate::testkit::{TestMsg, drive_until, events, ms, offsets, timers, transmits};

fn start(reliable: bool) -> (Instant, ClientNonInviteTransaction<TestMsg>) {
    let base = Instant::now();
    let mut tsx =
        ClientNonInviteTransaction::new(base, TestMsg::Request("REGISTER"), reliable, &timers());
    assert_eq!(transmits(&mut tsx), [TestMsg::Request("REGISTER")]);
    (base, tsx)
}

mod rfc3261 {
    use super::*;

    mod s17_1_2_2 {
        use super::*;

        #[test]
        fn timer_e_caps_at_t2() {
            let (base, mut tsx) = start(false);
            let sent = drive_until(&mut tsx, base + ms(16_000));
            // Intervals 500, 1000, 2000, 4000, 4000, 4000 ms.
            let expected = [500, 1_500, 3_500, 7_500, 11_500, 15_500].map(ms);
            assert_eq!(offsets(base, &sent), expected);
            assert!(sent.iter().all(|(_, m)| *m == TestMsg::Request("REGISTER")));
        }

        #[test]
        fn timer_e_resets_to_t2_in_proceeding() {
            let (base, mut tsx) = start(false);
            drive_until(&mut tsx, base + ms(600)); // first retransmission at 500 ms
            tsx.handle_response(base + ms(700), 100, TestMsg::Response(100));
            assert_eq!(
                events(&mut tsx),
                [Response {
                    status: 100,
                    response: TestMsg::Response(100)
                }]
            );
            assert_eq!(tsx.state(), "Proceeding");
            // Next firing is the one already armed (1500 ms), then every T2.
            let sent = drive_until(&mut tsx, base + ms(10_000));
            assert_eq!(offsets(base, &sent), [1_500, 5_500, 9_500].map(ms));
        }

        #[test]
        fn timer_f() {
            let (base, mut tsx) = start(false);
            drive_until(&mut tsx, base + ms(31_999));
            assert!(events(&mut tsx).is_empty());
            assert_eq!(tsx.poll_timeout(), Some(base + ms(32_000)));
            tsx.handle_timeout(base + ms(32_000));
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
            assert!(tsx.is_terminated());
            assert_eq!(tsx.poll_timeout(), None);
        }

        #[test]
        fn timer_f_also_runs_in_proceeding() {
            let (base, mut tsx) = start(true);
            tsx.handle_response(base + ms(10), 100, TestMsg::Response(100));
            events(&mut tsx);
            drive_until(&mut tsx, base + ms(32_000));
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
        }

        #[test]
        fn timer_k() {
            let (base, mut tsx) = start(false);
            tsx.handle_response(base + ms(100), 200, TestMsg::Response(200));
            assert_eq!(
                events(&mut tsx),
                [Response {
                    status: 200,
                    response: TestMsg::Response(200)
                }]
            );
            assert_eq!(tsx.state(), "Completed");
            // A retransmitted final is absorbed, not passed to the TU.
            tsx.handle_response(base + ms(200), 200, TestMsg::Response(200));
            assert!(events(&mut tsx).is_empty());
            // Timer K = T4 over unreliable transports; no request retransmission meanwhile.
            assert_eq!(tsx.poll_timeout(), Some(base + ms(5_100)));
            assert!(drive_until(&mut tsx, base + ms(5_100)).is_empty());
            assert_eq!(events(&mut tsx), [Terminated]);
        }

        #[test]
        fn timer_k_zero_on_reliable() {
            let (base, mut tsx) = start(true);
            tsx.handle_response(base + ms(100), 404, TestMsg::Response(404));
            assert_eq!(
                events(&mut tsx),
                [
                    Response {
                        status: 404,
                        response: TestMsg::Response(404)
                    },
                    Terminated
                ]
            );
            assert!(tsx.is_terminated());
        }

        #[test]
        fn reliable_transport_sends_no_retransmissions() {
            let (base, mut tsx) = start(true);
            assert!(drive_until(&mut tsx, base + ms(40_000)).is_empty());
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
        }
    }

    mod s17_1_4 {
        use super::*;

        #[test]
        fn transport_error_informs_tu_and_terminates() {
            let (_, mut tsx) = start(false);
            tsx.handle_transport_error();
            assert_eq!(events(&mut tsx), [TransportError, Terminated]);
            tsx.handle_transport_error();
            assert!(events(&mut tsx).is_empty());
        }
    }
}

#[test]
fn invalid_status_is_ignored() {
    let (base, mut tsx) = start(false);
    tsx.handle_response(base, 42, TestMsg::Response(42));
    tsx.handle_response(base, 700, TestMsg::Response(700));
    assert!(events(&mut tsx).is_empty());
    assert_eq!(tsx.state(), "Trying");
}
