//! Seeded random event sequences: whatever happens, in whatever order, the call never panics, and once
//! the driver has finished every transaction it started, the call has ended exactly once with both
//! legs done and media released exactly once (none when the allocation itself failed). Some
//! sequences start from an answered call, a session timer, a second branch or an originated call.

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
    match rng.below(13) {
        0 => {
            h.event(CallEvent::MediaAllocated {
                b_offer: B_OFFER.to_vec(),
            });
        }
        1 => {
            let op = crate::MediaOp(u32::try_from(rng.below(3)).unwrap_or(0) + 1);
            h.event(CallEvent::MediaUpdated {
                op,
                sdp: A_ANSWER.to_vec(),
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
                        if request.method() != Some(&Method::Invite)
                            || request.to().ok().and_then(|t| t.tag()).is_some() =>
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
        11 => in_dialog_step(h, rng),
        10 => {
            h.advance(Duration::from_secs(rng.below(40)));
            h.call.handle_timeout(h.now);
            h.drain();
        }
        _ => match rng.below(8) {
            0 => {
                h.event(CallEvent::Hangup);
            }
            // The node dies; the call may move (a new session, re-INVITEs on both legs).
            1 => {
                h.event(CallEvent::MediaLost);
            }
            2 => {
                h.event(CallEvent::MediaMoved {
                    a_offer: A_ANSWER.to_vec(),
                    b_offer: B_OFFER.to_vec(),
                });
            }
            // The caller's PRACK for our last reliable provisional response, or a stale one.
            5 => {
                let rseq = h.all.iter().rev().find_map(|a| match a {
                    Action::Respond { tx: 1, response } => response.rseq().ok().flatten(),
                    _ => None,
                });
                let rseq = rseq.unwrap_or(1) - u32::try_from(rng.below(2)).unwrap_or(0);
                let cseq = 150 + u32::try_from(rng.below(20)).unwrap_or(0);
                let prack = super::prack::prack_from_a(h, cseq, rseq);
                h.a_request(prack);
            }
            // A REFER from the caller (RFC 3515), and the driver's answer to any pending one.
            3 => random_step_refer(h, 410 + u32::try_from(rng.below(9)).unwrap_or(0)),
            4 => {
                let pending = h.all.iter().rev().find_map(|a| match a {
                    Action::Transfer { referrer, .. } => Some(*referrer),
                    _ => None,
                });
                let route = RouteTarget {
                    request_uri: "sip:carol@198.51.100.99".to_owned(),
                    next_hop: addr("198.51.100.99:5060"),
                    auth: None,
                    transport: Default::default(),
                };
                let now = h.now;
                match (pending, rng.below(3)) {
                    (Some(Leg::A), 0 | 1) => {
                        h.call.transfer_a(now, route);
                    }
                    (Some(Leg::B), 0 | 1) => {
                        h.call.transfer_b(now, route);
                    }
                    _ => h.call.refer_failed(404),
                }
                h.drain();
            }
            _ => {}
        },
    }
}

/// A REFER from the caller (to carol) with CSeq `cseq`.
fn random_step_refer(h: &mut Harness, cseq: u32) {
    let refer = h
        .a_in_dialog("REFER", cseq, &h.a_tag())
        .encode_string()
        .replacen(
            "Content-Length: 0",
            "Refer-To: <sip:carol@198.51.100.99>\r\nContent-Length: 0",
            1,
        );
    h.a_request(parse(&refer));
}

/// A re-INVITE, UPDATE or INFO from either leg, or a media result for an in-dialog update.
fn in_dialog_step(h: &mut Harness, rng: &mut Rng) {
    let sdp = if rng.below(2) == 0 { A_OFFER } else { "" };
    let method = ["INVITE", "UPDATE", "INFO"]
        .get(usize::try_from(rng.below(3)).unwrap_or(0))
        .copied()
        .unwrap_or("INFO");
    let cseq = 300 + u32::try_from(rng.below(50)).unwrap_or(0);
    match rng.below(4) {
        0 => {
            let request = h.a_with_body(method, cseq, "application/sdp", sdp);
            h.a_request(request);
        }
        1 if h.b_invite.is_some() => {
            let request = h.b_with_body(method, cseq, sdp);
            h.a_request(request);
        }
        2 => {
            let op = crate::MediaOp(u32::try_from(rng.below(8)).unwrap_or(0) + 1);
            h.event(CallEvent::MediaUpdated {
                op,
                sdp: B_OFFER.to_vec(),
            });
        }
        _ => {
            let op = crate::MediaOp(u32::try_from(rng.below(8)).unwrap_or(0) + 1);
            h.event(CallEvent::MediaUpdateFailed { op });
        }
    }
}

#[test]
fn every_event_order_ends_with_both_legs_done_and_media_released_once() {
    let (mut relayed, mut second_parties, mut swapped) = (0, 0, 0);
    for seed in 1..=1200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // A third of the sequences start from an answered call, so in-dialog requests matter.
        // Some run a session timer we refresh (RFC 4028), so refreshes cross everything else.
        let mut h = if seed % 6 == 0 {
            super::timer::answered_with(
                "Session-Expires: 90;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
            )
            .0
        } else if seed % 3 == 0 {
            Harness::answered()
        } else if seed % 7 == 2 {
            // A call we originate: the first party, then the second, on the B-leg machinery
            // (half of them from the first party's answer on).
            let mut h = super::originate::originated();
            if seed % 2 == 1 {
                super::originate::first_party_answers(&mut h);
            }
            h
        } else if seed % 13 == 6 {
            // A callee running a session timer we refresh: refreshes to B cross everything.
            super::timer_b::answered_by_b_with(
                "Session-Expires: 90;refresher=uac\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
            )
        } else if seed % 11 == 5 {
            // A caller requiring reliable provisional responses: PRACKs cross everything.
            super::prack::caller_requiring_100rel()
        } else {
            Harness::new()
        };
        if seed % 2 == 0 {
            h.call.add_fallback_route(RouteTarget {
                request_uri: "sip:bob@198.51.100.77".to_owned(),
                next_hop: addr("198.51.100.77:5060"),
                auth: None,
                transport: Default::default(),
            });
        }
        // Some ring a second branch in parallel (its responses are what `b_reply` answers).
        if seed % 5 == 1 {
            h.call.add_parallel_route(RouteTarget {
                request_uri: "sip:bob@198.51.100.88".to_owned(),
                next_hop: addr("198.51.100.88:5060"),
                auth: None,
                transport: Default::default(),
            });
        }
        h.drain();
        if seed % 12 == 3 {
            // Some answered calls start with the caller's REFER, so transfers cross everything.
            random_step_refer(&mut h, 400);
        }
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
        // Every in-dialog request got one final response (a 2xx maybe retransmitted), so no
        // server transaction of the driver is left waiting.
        let mut finals: std::collections::BTreeMap<u32, Vec<u16>> = Default::default();
        for a in &h.all {
            if let Action::Respond { tx, response } = a {
                if *tx >= 100 && response.status().is_some_and(|s| s >= 200) {
                    finals.entry(*tx).or_default().extend(response.status());
                }
            }
        }
        let relays = h.all.iter().any(|a| {
            matches!(a, Action::SendRequest { request, .. }
                if request.to().ok().and_then(|t| t.tag()).is_some()
                    && matches!(request.method(), Some(Method::Invite | Method::Update | Method::Info)))
        });
        relayed += usize::from(relays);
        swapped += usize::from(h.all.iter().any(|a| {
            matches!(a, Action::SendRequest { leg: Leg::B, request, .. }
                if request.method() == Some(&Method::Notify)
                    && request.call_id().ok() == Some("a-call-1@192.0.2.10"))
        }));
        // The second party's INVITE carries the first party's answer as rewritten by the node.
        let second_rung = h.all.contains(&Action::OfferMedia { leg: Leg::A })
            && sent(&h.all, Leg::B, Method::Invite)
                .iter()
                .any(|(_, r)| r.to().ok().and_then(|t| t.tag()).is_none() && r.body() == A_ANSWER);
        second_parties += usize::from(second_rung);
        for &tx in &h.live_requests {
            let got = finals.get(&tx).cloned().unwrap_or_default();
            let first = got.first().copied();
            assert!(first.is_some(), "seed {seed}: request {tx} never answered");
            assert!(
                got.iter().all(|s| Some(*s) == first) && (got.len() == 1 || first < Some(300)),
                "seed {seed}: request {tx} answered {got:?}"
            );
        }
        assert_eq!(
            h.call
                .b_dialog()
                .map(|d| d.state())
                .filter(|s| *s != crate::DialogState::Terminated),
            None,
            "seed {seed}"
        );
    }
    assert!(
        relayed >= 20,
        "only {relayed} sequences relayed an in-dialog request"
    );
    assert!(
        second_parties >= 3,
        "only {second_parties} originated sequences reached the second party"
    );
    assert!(
        swapped >= 3,
        "only {swapped} sequences transferred the callee after the caller's REFER"
    );
}

#[test]
fn ack_handed_in_as_a_request_is_absorbed_not_answered() {
    let mut h = Harness::to_b_invite();
    h.b_reply(200, Some(B_ANSWER));
    h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
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
            sdp: A_ANSWER.to_vec(),
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
