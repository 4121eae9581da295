use std::time::Instant;

use crate::ServerNonInviteTransaction;
use crate::TransactionError;
use crate::TransactionEvent::{RetransmittedRequest, Terminated, TransportError};
use crate::testkit::{TestMsg, drive_until, events, ms, timers, transmits};

fn start(reliable: bool) -> (Instant, ServerNonInviteTransaction<TestMsg>) {
    let base = Instant::now();
    let tsx =
        ServerNonInviteTransaction::new(base, TestMsg::Request("REGISTER"), reliable, &timers());
    (base, tsx)
}

mod rfc3261 {
    use super::*;

    mod s17_2_2 {
        use super::*;

        #[test]
        fn retransmission_in_trying_is_absorbed_silently() {
            let (base, mut tsx) = start(false);
            tsx.handle_request(base + ms(500), TestMsg::Request("REGISTER"));
            assert!(transmits(&mut tsx).is_empty());
            assert_eq!(events(&mut tsx), [RetransmittedRequest]);
            assert_eq!(tsx.state(), "Trying");
        }

        #[test]
        fn retransmission_gets_last_provisional_then_final() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 100, TestMsg::Response(100))
                .unwrap();
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(100)]);
            tsx.handle_request(base + ms(500), TestMsg::Request("REGISTER"));
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(100)]);
            tsx.send_response(base + ms(600), 401, TestMsg::Response(401))
                .unwrap();
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(401)]);
            tsx.handle_request(base + ms(1_500), TestMsg::Request("REGISTER"));
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(401)]);
            assert_eq!(
                events(&mut tsx),
                [RetransmittedRequest, RetransmittedRequest]
            );
        }

        #[test]
        fn timer_j() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base + ms(10), 200, TestMsg::Response(200))
                .unwrap();
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(200)]);
            // Timer J = 64*T1 over unreliable transports.
            assert_eq!(tsx.poll_timeout(), Some(base + ms(32_010)));
            // The server never retransmits a non-INVITE final on its own.
            assert!(drive_until(&mut tsx, base + ms(32_009)).is_empty());
            assert_eq!(tsx.state(), "Completed");
            drive_until(&mut tsx, base + ms(32_010));
            assert_eq!(events(&mut tsx), [Terminated]);
        }

        #[test]
        fn timer_j_zero_on_reliable() {
            let (base, mut tsx) = start(true);
            tsx.send_response(base, 200, TestMsg::Response(200))
                .unwrap();
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(200)]);
            assert_eq!(events(&mut tsx), [Terminated]);
            assert_eq!(tsx.poll_timeout(), None);
        }

        #[test]
        fn second_final_is_refused() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 200, TestMsg::Response(200))
                .unwrap();
            let err = tsx.send_response(base, 500, TestMsg::Response(500));
            assert_eq!(
                err,
                Err(TransactionError::ResponseNotAllowed {
                    status: 500,
                    state: "Completed"
                })
            );
            assert_eq!(
                tsx.send_response(base, 99, TestMsg::Response(99)),
                Err(TransactionError::InvalidStatus(99))
            );
        }
    }

    mod s17_2_4 {
        use super::*;

        #[test]
        fn transport_error_informs_tu_and_terminates() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 200, TestMsg::Response(200))
                .unwrap();
            tsx.handle_transport_error();
            assert_eq!(events(&mut tsx), [TransportError, Terminated]);
        }
    }
}
