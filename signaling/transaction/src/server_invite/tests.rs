use std::time::Instant;

use crate::TransactionEvent::{
    AckReceived, RetransmittedRequest, Terminated, TimedOut, TransportError,
};
use crate::testkit::{TestMsg, drive_until, events, ms, offsets, timers, transmits};
use crate::{ServerInviteTransaction, TransactionError};

fn start(reliable: bool) -> (Instant, ServerInviteTransaction<TestMsg>) {
    let base = Instant::now();
    let tsx = ServerInviteTransaction::new(base, TestMsg::Request("INVITE"), reliable, &timers());
    (base, tsx)
}

fn invite() -> TestMsg {
    TestMsg::Request("INVITE")
}

fn ack() -> TestMsg {
    TestMsg::Request("ACK")
}

mod rfc3261 {
    use super::*;

    mod s17_2_1 {
        use super::*;

        #[test]
        fn sends_100_trying_after_200ms_if_tu_silent() {
            let (base, mut tsx) = start(false);
            assert_eq!(tsx.poll_timeout(), Some(base + ms(200)));
            let sent = drive_until(&mut tsx, base + ms(1_000));
            assert_eq!(sent, [(base + ms(200), TestMsg::Response(100))]);
            // The 100 is now the last provisional: an INVITE retransmission gets it again.
            tsx.handle_request(base + ms(500), invite());
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(100)]);
        }

        #[test]
        fn no_automatic_100_when_tu_answers_within_200ms() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base + ms(50), 180, TestMsg::Response(180))
                .unwrap();
            assert!(drive_until(&mut tsx, base + ms(1_000)).is_empty());
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(180)]);
        }

        #[test]
        fn trying_delay_is_configurable() {
            let base = Instant::now();
            let mut now = ServerInviteTransaction::with_trying_delay(
                base,
                invite(),
                false,
                &timers(),
                Some(ms(0)),
            );
            assert_eq!(transmits(&mut now), [TestMsg::Response(100)]);
            let mut never =
                ServerInviteTransaction::with_trying_delay(base, invite(), false, &timers(), None);
            assert_eq!(never.poll_timeout(), None);
            assert!(drive_until(&mut never, base + ms(60_000)).is_empty());
        }

        #[test]
        fn absorbs_retransmitted_invite_by_resending_last_response() {
            let (base, mut tsx) = start(false);
            tsx.handle_request(base + ms(100), invite()); // nothing sent yet: nothing to resend
            assert!(transmits(&mut tsx).is_empty());
            tsx.send_response(base + ms(150), 180, TestMsg::Response(180))
                .unwrap();
            tsx.handle_request(base + ms(500), invite());
            assert_eq!(
                transmits(&mut tsx),
                [TestMsg::Response(180), TestMsg::Response(180)]
            );
            tsx.send_response(base + ms(600), 486, TestMsg::Response(486))
                .unwrap();
            tsx.handle_request(base + ms(700), invite());
            assert_eq!(
                transmits(&mut tsx),
                [TestMsg::Response(486), TestMsg::Response(486)]
            );
            assert_eq!(
                events(&mut tsx),
                [
                    RetransmittedRequest,
                    RetransmittedRequest,
                    RetransmittedRequest
                ]
            );
        }

        #[test]
        fn timer_g_h() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 486, TestMsg::Response(486))
                .unwrap();
            assert_eq!(transmits(&mut tsx), [TestMsg::Response(486)]);
            let sent = drive_until(&mut tsx, base + ms(40_000));
            // G: 500 ms doubling, capped at T2 = 4 s; H = 64*T1 = 32 s ends it.
            let expected = [
                500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
            ]
            .map(ms);
            assert_eq!(offsets(base, &sent), expected);
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
        }

        #[test]
        fn timer_g_unused_on_reliable_but_h_runs() {
            let (base, mut tsx) = start(true);
            tsx.send_response(base, 486, TestMsg::Response(486))
                .unwrap();
            transmits(&mut tsx);
            assert_eq!(tsx.poll_timeout(), Some(base + ms(32_000)));
            assert!(drive_until(&mut tsx, base + ms(40_000)).is_empty());
            assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
        }

        #[test]
        fn timer_i() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 404, TestMsg::Response(404))
                .unwrap();
            transmits(&mut tsx);
            tsx.handle_request(base + ms(100), ack());
            assert_eq!(tsx.state(), "Confirmed");
            // Timer I = T4; G no longer retransmits; ACK retransmissions are absorbed.
            assert_eq!(tsx.poll_timeout(), Some(base + ms(5_100)));
            tsx.handle_request(base + ms(200), ack());
            assert!(drive_until(&mut tsx, base + ms(5_099)).is_empty());
            assert!(events(&mut tsx).is_empty());
            drive_until(&mut tsx, base + ms(5_100));
            assert_eq!(events(&mut tsx), [Terminated]);
        }

        #[test]
        fn timer_i_zero_on_reliable() {
            let (base, mut tsx) = start(true);
            tsx.send_response(base, 404, TestMsg::Response(404))
                .unwrap();
            tsx.handle_request(base + ms(100), ack());
            assert_eq!(events(&mut tsx), [Terminated]);
        }

        #[test]
        fn no_response_after_final() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 486, TestMsg::Response(486))
                .unwrap();
            assert_eq!(
                tsx.send_response(base, 200, TestMsg::Response(200)),
                Err(TransactionError::ResponseNotAllowed {
                    status: 200,
                    state: "Completed"
                })
            );
        }
    }

    mod s17_2_4 {
        use super::*;

        #[test]
        fn transport_error_informs_tu_and_terminates() {
            let (base, mut tsx) = start(false);
            tsx.send_response(base, 486, TestMsg::Response(486))
                .unwrap();
            tsx.handle_transport_error();
            assert_eq!(events(&mut tsx), [TransportError, Terminated]);
        }
    }
}

mod s13_3_1_4 {
    use super::*;

    fn accepted_with_2xx_retransmission(
        reliable: bool,
    ) -> (Instant, ServerInviteTransaction<TestMsg>) {
        let (base, mut tsx) = start(reliable);
        tsx.set_retransmit_2xx(true);
        tsx.send_response(base, 200, TestMsg::Response(200))
            .unwrap();
        assert_eq!(transmits(&mut tsx), [TestMsg::Response(200)]);
        (base, tsx)
    }

    #[test]
    fn opt_in_2xx_retransmission_stops_when_tu_reports_ack() {
        let (base, mut tsx) = accepted_with_2xx_retransmission(false);
        let sent = drive_until(&mut tsx, base + ms(4_000));
        assert_eq!(offsets(base, &sent), [500, 1_500, 3_500].map(ms));
        tsx.handle_2xx_ack();
        assert!(drive_until(&mut tsx, base + ms(31_999)).is_empty());
        drive_until(&mut tsx, base + ms(32_000));
        assert_eq!(events(&mut tsx), [Terminated]);
    }

    #[test]
    fn opt_in_2xx_retransmission_runs_on_reliable_and_times_out_at_timer_l() {
        let (base, mut tsx) = accepted_with_2xx_retransmission(true);
        let sent = drive_until(&mut tsx, base + ms(40_000));
        let expected = [
            500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
        ]
        .map(ms);
        assert_eq!(offsets(base, &sent), expected);
        assert_eq!(events(&mut tsx), [TimedOut, Terminated]);
    }

    #[test]
    fn matching_ack_stops_2xx_retransmission() {
        let (base, mut tsx) = accepted_with_2xx_retransmission(false);
        tsx.handle_request(base + ms(100), ack());
        assert!(drive_until(&mut tsx, base + ms(40_000)).is_empty());
        assert_eq!(events(&mut tsx), [AckReceived(ack()), Terminated]);
    }
}

mod rfc6026 {
    use super::*;

    #[test]
    fn timer_l() {
        let (base, mut tsx) = start(false);
        tsx.send_response(base, 200, TestMsg::Response(200))
            .unwrap();
        assert_eq!(tsx.state(), "Accepted");
        assert_eq!(tsx.poll_timeout(), Some(base + ms(32_000)));
        // The transaction itself never retransmits the 2xx.
        assert!(drive_until(&mut tsx, base + ms(31_999)).is_empty());
        drive_until(&mut tsx, base + ms(32_000));
        assert_eq!(events(&mut tsx), [Terminated]);
    }

    #[test]
    fn accepted_absorbs_invite_sends_tu_2xx_and_passes_ack() {
        let (base, mut tsx) = start(false);
        tsx.send_response(base, 200, TestMsg::Response(200))
            .unwrap();
        assert_eq!(transmits(&mut tsx), [TestMsg::Response(200)]);
        tsx.handle_request(base + ms(100), invite());
        assert!(transmits(&mut tsx).is_empty());
        // The TU (UAS core, §13.3.1.4) retransmits the 2xx through the transaction.
        tsx.send_response(base + ms(500), 200, TestMsg::Response(200))
            .unwrap();
        assert_eq!(transmits(&mut tsx), [TestMsg::Response(200)]);
        assert!(
            tsx.send_response(base, 486, TestMsg::Response(486))
                .is_err()
        );
        tsx.handle_request(base + ms(600), ack());
        assert_eq!(events(&mut tsx), [RetransmittedRequest, AckReceived(ack())]);
        assert_eq!(tsx.state(), "Accepted");
    }

    #[test]
    fn transport_error_in_accepted_informs_tu_and_keeps_timer_l() {
        let (base, mut tsx) = start(true);
        tsx.send_response(base, 200, TestMsg::Response(200))
            .unwrap();
        tsx.handle_transport_error();
        assert_eq!(events(&mut tsx), [TransportError]);
        assert_eq!(tsx.poll_timeout(), Some(base + ms(32_000)));
    }
}
