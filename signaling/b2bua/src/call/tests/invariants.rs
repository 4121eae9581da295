//! Seeded random event sequences: whatever happens, in whatever order, the call never panics, and once
//! the driver has finished every transaction it started, the call has ended exactly once with both
//! legs done and media released exactly once (none when the allocation itself failed).

use std::time::Duration;

use switchboard_sip::Method;

use super::*;

/// xorshift64*: a tiny seeded generator, enough to vary event order.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn random_step(h: &mut Harness, rng: &mut Rng) {
    let statuses = [100, 180, 183, 200, 486, 487, 503];
    match rng.below(12) {
        0 => {
            h.event(CallEvent::MediaAllocated {
                b_offer: B_OFFER.to_vec(),
            });
        }
        1 => {
            let op = crate::MediaOp(u32::try_from(rng.below(3)).unwrap_or(0) + 1);
            h.event(CallEvent::MediaUpdated {
                op,
                a_answer: A_ANSWER.to_vec(),
            });
        }
        2 if rng.below(4) == 0 => {
            h.event(CallEvent::MediaFailed);
        }
        3 if h.b_invite.is_some() => {
            let s = statuses
                .get(usize::try_from(rng.below(7)).unwrap_or(0))
                .copied()
                .unwrap_or(180);
            let sdp = matches!(s, 183 | 200).then_some(B_ANSWER);
            h.b_reply(s, sdp);
        }
        4 => {
            h.event(CallEvent::Cancel);
        }
        5 => {
            let ack = h.ack_from_a();
            h.event(CallEvent::Ack { request: ack });
        }
        6 => {
            let bye = h.a_in_dialog(
                "BYE",
                200 + u32::try_from(rng.below(5)).unwrap_or(0),
                &h.a_tag(),
            );
            h.a_request(bye);
        }
        7 if h.b_invite.is_some() => {
            let bye = h.bye_from_b();
            h.a_request(bye);
        }
        8 => {
            let tx = ClientTxId(u32::try_from(rng.below(8)).unwrap_or(0) + 1);
            h.event(CallEvent::ClientTimedOut { tx });
        }
        9 => {
            // Answer a random request the call sent.
            let requests: Vec<_> = h
                .all
                .iter()
                .filter_map(|a| match a {
                    Action::SendRequest { tx, request, .. }
                        if request.method() != Some(&Method::Invite) =>
                    {
                        Some((*tx, request.clone()))
                    }
                    _ => None,
                })
                .collect();
            let n = u64::try_from(requests.len()).unwrap_or(0);
            if n > 0 {
                let pick = usize::try_from(rng.below(n)).unwrap_or(0);
                if let Some((tx, req)) = requests.get(pick) {
                    h.reply_to(*tx, req, 200);
                }
            }
        }
        10 => {
            h.advance(Duration::from_secs(rng.below(40)));
            h.call.handle_timeout(h.now);
            h.drain();
        }
        _ => {
            if rng.below(6) == 0 {
                h.event(CallEvent::Hangup);
            }
        }
    }
}

#[test]
fn every_event_order_ends_with_both_legs_done_and_media_released_once() {
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut h = Harness::new();
        if seed % 2 == 0 {
            h.call.add_fallback_route(RouteTarget {
                request_uri: "sip:bob@198.51.100.77".to_owned(),
                next_hop: addr("198.51.100.77:5060"),
            });
        }
        h.drain();
        let steps = 1 + rng.below(25);
        for _ in 0..steps {
            random_step(&mut h, &mut rng);
        }
        let allocation_failed = h
            .all
            .iter()
            .position(|a| matches!(a, Action::SendRequest { .. }))
            .is_none()
            && h.call.media_releases() == 0
            && h.call.is_terminated();
        // Settle: the driver hangs up and every transaction it runs ends (Timer B/F at the latest).
        h.event(CallEvent::Hangup);
        for tx in 1..=40 {
            h.event(CallEvent::ClientTimedOut { tx: ClientTxId(tx) });
        }
        assert!(h.call.is_terminated(), "seed {seed}: {:?}", h.call);
        let ended = h
            .all
            .iter()
            .filter(|a| matches!(a, Action::Ended { .. }))
            .count();
        assert_eq!(ended, 1, "seed {seed}");
        assert!(
            matches!(h.all.last(), Some(Action::Ended { .. })),
            "seed {seed}"
        );
        let released = h
            .all
            .iter()
            .filter(|a| matches!(a, Action::ReleaseMedia))
            .count();
        assert!(released <= 1, "seed {seed}");
        if !allocation_failed && h.b_invite.is_some() {
            assert_eq!(
                released, 1,
                "seed {seed}: a B leg ran, so media was allocated"
            );
        }
        assert_eq!(
            u32::try_from(released).unwrap_or(9),
            h.call.media_releases()
        );
        assert_eq!(h.call.poll_timeout(), None, "seed {seed}");
        assert_eq!(
            h.call
                .b_dialog()
                .map(|d| d.state())
                .filter(|s| *s != crate::DialogState::Terminated),
            None,
            "seed {seed}"
        );
    }
}

#[test]
fn ack_handed_in_as_a_request_is_absorbed_not_answered() {
    let mut h = Harness::to_b_invite();
    h.b_reply(200, Some(B_ANSWER));
    h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        a_answer: A_ANSWER.to_vec(),
    });
    let ack = h.ack_from_a();
    let (_, out) = h.a_request(ack);
    assert!(out.is_empty());
    assert_eq!(h.call.poll_timeout(), None, "the ACK confirmed the A leg");
}

#[test]
fn absurd_configured_timeouts_do_not_overflow_the_clock() {
    let mut h = Harness::new();
    h.drain();
    h.call.config.ring_timeout = Duration::MAX;
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    assert!(h.call.poll_timeout().is_some_and(|d| d > h.now));
}

#[test]
fn a_flood_of_183s_while_media_is_slow_stays_bounded() {
    let mut h = Harness::to_b_invite();
    let mut updates = 0;
    for _ in 0..1000 {
        let out = h.b_reply(183, Some(B_ANSWER));
        updates += out
            .iter()
            .filter(|a| matches!(a, Action::UpdateMedia { .. }))
            .count();
    }
    assert_eq!(updates, super::super::MAX_QUEUED_UPSTREAM);
    // The 200 still gets through once the media node catches up, after the queued 183s.
    h.b_reply(200, Some(B_ANSWER));
    let mut to_a = Vec::new();
    for op in 1..=9 {
        let out = h.event(CallEvent::MediaUpdated {
            op: crate::MediaOp(op),
            a_answer: A_ANSWER.to_vec(),
        });
        to_a.extend(a_statuses(&out));
    }
    assert_eq!(to_a.len(), 9);
    assert_eq!(to_a.last(), Some(&200));
}

#[test]
fn s13_2_2_4_stray_forks_are_hung_up_only_up_to_a_bound() {
    let mut h = Harness::answered();
    let mut byes = 0;
    for i in 0..50 {
        let response = h.b_response(200, None, &format!("fork-{i}"));
        let tx = h.b_invite_tx();
        let out = h.event(CallEvent::Response { tx, response });
        byes += sent(&out, Leg::B, Method::Bye).len();
    }
    assert_eq!(byes, super::super::MAX_STRAY_FORKS as usize);
    assert!(!h.call.is_terminated());
}
