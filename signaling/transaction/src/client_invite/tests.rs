use std::time::Instant;

use crate::ClientInviteTransaction;
use crate::TransactionEvent::{Response, Terminated, TimedOut, TransportError};
use crate::testkit::{TestMsg, drive_until, events, ms, offsets, timers, transmits};

fn start(reliable: bool) -> (Instant, ClientInviteTransaction<TestMsg>) {
    let base = Instant::now();
    let mut tsx =
        ClientInviteTransaction::new(base, TestMsg::Request("INVITE"), reliable, &timers());
    assert_eq!(transmits(&mut tsx), [TestMsg::Request("INVITE")]);
    (base, tsx)
}

fn response(status: u16) -> crate::TransactionEvent<TestMsg> {
    Response {
        status,
        response: TestMsg::Response(status),
    }
}

mod rfc3261 {
    use super::*;

    mod s17_1_1_2 {
        use super::*;

        #[test]
        fn timer_a_doubles_until_timer_b() {
            let (base, mut tsx) = start(false);
            let sent = drive_until(&mut tsx, base + ms(40_000));
            // A = 500 ms doubling: sends at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; B fires at 32 s.
            assert_eq!(
                offsets(base, &sent),
                [500, 1_500, 3_500, 7_500, 15_500, 31_500].map(ms)
            );
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
        }

        #[test]
        fn timer_b_times_out_after_64_t1() {
            let (base, mut tsx) = start(true);
            assert_eq!(tsx.poll_timeout(), Some(base + ms(32_000)));
            tsx.handle_timeout(base + ms(31_999));
            assert!(events(&mut tsx).is_empty());
            tsx.handle_timeout(base + ms(32_000));
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
        }

        #[test]
        fn provisional_stops_retransmission_and_timer_b() {
            let (base, mut tsx) = start(false);
            tsx.handle_response(base + ms(100), 180, TestMsg::Response(180));
            assert_eq!(events(&mut tsx), [response(180)]);
            assert_eq!(tsx.state(), "Proceeding");
            assert_eq!(tsx.poll_timeout(), None);
        }

        #[test]
        fn ack_for_non_2xx_generated_once_and_resent_on_retransmitted_final() {
            let (base, mut tsx) = start(false);
            tsx.handle_response(base + ms(100), 180, TestMsg::Response(180));
            tsx.handle_response(base + ms(200), 486, TestMsg::Response(486));
            assert_eq!(transmits(&mut tsx), [TestMsg::Ack(486)]);
            assert_eq!(events(&mut tsx), [response(180), response(486)]);
            // The retransmitted 486 is ACKed again but not passed to the TU.
            tsx.handle_response(base + ms(700), 486, TestMsg::Response(486));
            assert_eq!(transmits(&mut tsx), [TestMsg::Ack(486)]);
            assert!(events(&mut tsx).is_empty());
        }

        #[test]
        fn timer_d_32s_unreliable_zero_reliable() {
            let (base, mut tsx) = start(false);
            tsx.handle_response(base + ms(100), 503, TestMsg::Response(503));
            assert_eq!(tsx.poll_timeout(), Some(base + ms(32_100)));
            drive_until(&mut tsx, base + ms(32_099));
            assert_eq!(tsx.state(), "Completed");
            drive_until(&mut tsx, base + ms(32_100));
            assert_eq!(events(&mut tsx), [response(503), Terminated]);

            let (base, mut tsx) = start(true);
            tsx.handle_response(base + ms(100), 503, TestMsg::Response(503));
            assert_eq!(transmits(&mut tsx), [TestMsg::Ack(503)]);
            assert_eq!(events(&mut tsx), [response(503), Terminated]);
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
        }
    }
}

mod rfc6026 {
    use super::*;

    #[test]
    fn retransmitted_2xx_passed_to_tu_in_accepted() {
        let (base, mut tsx) = start(false);
        tsx.handle_response(base + ms(100), 200, TestMsg::Response(200));
        assert_eq!(tsx.state(), "Accepted");
        // The transaction never ACKs a 2xx: that is the TU's job (RFC 3261 §13.2.2.4).
        assert!(transmits(&mut tsx).is_empty());
        tsx.handle_response(base + ms(600), 200, TestMsg::Response(200));
        tsx.handle_response(base + ms(700), 183, TestMsg::Response(183));
        tsx.handle_response(base + ms(800), 487, TestMsg::Response(487));
        assert_eq!(events(&mut tsx), [response(200), response(200)]);
        assert!(transmits(&mut tsx).is_empty());
    }

    #[test]
    fn timer_m() {
        let (base, mut tsx) = start(true);
        tsx.handle_response(base + ms(100), 200, TestMsg::Response(200));
        events(&mut tsx);
        assert_eq!(tsx.poll_timeout(), Some(base + ms(32_100)));
        drive_until(&mut tsx, base + ms(32_099));
        assert_eq!(tsx.state(), "Accepted");
        drive_until(&mut tsx, base + ms(32_100));
        assert_eq!(events(&mut tsx), [Terminated]);
    }
}
