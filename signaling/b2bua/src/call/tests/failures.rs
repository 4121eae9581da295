//! Calls that end before or instead of an answer: CANCEL, B-leg failures and timeouts, ring and ACK
//! timeouts, media failures, unusable INVITEs. Each checks media is released exactly once.

use std::time::Duration;

use switchboard_sip::Method;

use super::*;
use crate::failure::FailureSide;

#[test]
fn s9_1_cancel_during_ringing_487_upstream_cancel_downstream() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let out = h.event(CallEvent::Cancel);
    assert_eq!(a_statuses(&out), [487]);
    let (cancel_tx, cancel) = sent(&out, Leg::B, Method::Cancel)
        .pop()
        .expect("CANCEL to B");
    let (_, invite) = h.b_invite.clone().expect("invite");
    let cancel = on_the_wire(&cancel);
    assert_eq!(
        cancel.top_via().expect("via").branch(),
        invite.top_via().expect("via").branch()
    );
    let cseq = cancel.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (1, Method::Cancel));
    assert_eq!(
        cancel.request_uri().expect("uri"),
        invite.request_uri().expect("uri")
    );
    assert_eq!(
        cancel.call_id().expect("cid"),
        invite.call_id().expect("cid")
    );
    assert_eq!(cancel.to().expect("to").tag(), None);
    let reason = cancel.reasons().expect("Reason");
    assert_eq!(
        reason.first().and_then(|r| r.cause()),
        Some(16),
        "RFC 3326 Q.850 cause"
    );
    assert!(!h.call.is_terminated(), "waits for B's final answer");
    assert!(h.reply_to(cancel_tx, &cancel, 200).is_empty());
    h.b_reply(487, None);
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
}

#[test]
fn s9_1_cancel_waits_for_a_provisional_before_cancelling_b() {
    let mut h = Harness::to_b_invite();
    let out = h.event(CallEvent::Cancel);
    assert_eq!(a_statuses(&out), [487]);
    assert!(sent(&out, Leg::B, Method::Cancel).is_empty());
    let out = h.b_reply(180, None);
    assert!(a_statuses(&out).is_empty(), "no 180 after the 487");
    assert_eq!(sent(&out, Leg::B, Method::Cancel).len(), 1);
    h.b_reply(487, None);
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
}

#[test]
fn s9_1_2xx_crossing_the_cancel_is_acked_and_byed() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    h.event(CallEvent::Cancel);
    let out = h.b_reply(200, Some(B_ANSWER));
    assert!(matches!(
        out.first(),
        Some(Action::SendAck { leg: Leg::B, .. })
    ));
    let (tx, bye) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE to B");
    assert!(a_statuses(&out).is_empty());
    h.reply_to(tx, &bye, 200);
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
}

#[test]
fn cancel_while_media_is_allocating_releases_it_and_never_calls_b() {
    let mut h = Harness::new();
    h.drain();
    let out = h.event(CallEvent::Cancel);
    assert_eq!(a_statuses(&out), [487]);
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
    h.call.handle(
        h.now,
        CallEvent::MediaAllocated {
            b_offer: B_OFFER.to_vec(),
        },
    );
    assert!(h.drain().is_empty());
    assert!(h.b_invite.is_none());
}

#[test]
fn b_leg_486_busy_is_mapped_upstream() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let out = h.b_reply(486, None);
    let r = response_on(&out, 1).expect("final to A");
    assert_eq!((r.status(), r.reason()), (Some(486), Some("Busy Here")));
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 486, 1);
}

#[test]
fn b_leg_5xx_becomes_503_upstream() {
    for status in [500, 503] {
        let mut h = Harness::to_b_invite();
        let out = h.b_reply(status, None);
        assert_eq!(a_statuses(&out), [503]);
        h.assert_ended(EndCause::Rejected { b_status: status }, 503, 1);
    }
}

#[test]
fn b_leg_480_and_401_become_480() {
    for status in [480, 401] {
        let mut h = Harness::to_b_invite();
        assert_eq!(a_statuses(&h.b_reply(status, None)), [480]);
        h.assert_ended(EndCause::Rejected { b_status: status }, 480, 1);
    }
}

#[test]
fn s17_1_1_2_timer_b_on_the_b_leg_gives_408() {
    let mut h = Harness::to_b_invite();
    let tx = h.b_invite_tx();
    let out = h.event(CallEvent::ClientTimedOut { tx });
    assert_eq!(a_statuses(&out), [408]);
    h.assert_ended(EndCause::Rejected { b_status: 408 }, 408, 1);
}

#[test]
fn ring_timeout_cancels_b_and_answers_480() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    h.advance(Duration::from_secs(29));
    assert!(h.call.poll_timeout().is_some_and(|d| d > h.now));
    let out = h.fire_timer();
    assert_eq!(a_statuses(&out), [480]);
    assert_eq!(sent(&out, Leg::B, Method::Cancel).len(), 1);
    h.b_reply(487, None);
    h.assert_ended(EndCause::NoAnswer, 480, 1);
}

#[test]
fn s13_3_1_4_no_ack_for_the_2xx_byes_both_legs() {
    let mut h = Harness::to_b_invite();
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
    // §13.3.1.4: the 2xx goes again at 0.5, 1.5, 3.5, 7.5, 11.5, ... s (T1 doubling to T2).
    let start = h.now;
    let mut resent = Vec::new();
    let out = loop {
        let out = h.fire_timer();
        if a_statuses(&out) != [200] {
            break out;
        }
        resent.push((h.now - start).as_millis());
    };
    assert_eq!(resent.get(..5), Some(&[500, 1500, 3500, 7500, 11500][..]));
    assert_eq!(h.now - start, Duration::from_secs(32), "BYE at 64*T1");
    let (ta, bye_a) = sent(&out, Leg::A, Method::Bye).pop().expect("BYE to A");
    let (tb, bye_b) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE to B");
    h.reply_to(tb, &bye_b, 200);
    // A is unreachable: its BYE times out (Timer F), which also ends the leg.
    let _ = bye_a;
    h.event(CallEvent::ClientTimedOut { tx: ta });
    h.assert_ended(EndCause::AckTimeout, 200, 1);
}

#[test]
fn media_allocation_failure_answers_503_and_releases_nothing() {
    let mut h = Harness::new();
    h.drain();
    let out = h.event(CallEvent::MediaFailed);
    assert_eq!(a_statuses(&out), [503]);
    h.assert_ended(
        EndCause::Failed {
            side: FailureSide::Media,
            status: 503,
        },
        503,
        0,
    );
}

#[test]
fn media_update_failure_after_b_answered_byes_b_and_answers_503() {
    let mut h = Harness::to_b_invite();
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaFailed);
    assert_eq!(a_statuses(&out), [503]);
    let (tx, bye) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE to B");
    h.reply_to(tx, &bye, 200);
    h.assert_ended(
        EndCause::Failed {
            side: FailureSide::Media,
            status: 503,
        },
        503,
        1,
    );
}

#[test]
fn s16_3_max_forwards_zero_gets_483_without_media() {
    let mut h = Harness::with_invite(&a_invite_text(0, A_OFFER));
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100, 483]);
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::AllocateMedia { .. }))
    );
    h.assert_ended(
        EndCause::Failed {
            side: FailureSide::ALeg,
            status: 483,
        },
        483,
        0,
    );
}

#[test]
fn s15_1_2_bye_on_the_early_dialog_terminates_the_invite_with_487() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let (tx, out) = h.a_request(h.a_in_dialog("BYE", 102, &h.a_tag()));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
    assert_eq!(a_statuses(&out), [487]);
    assert_eq!(sent(&out, Leg::B, Method::Cancel).len(), 1);
    h.b_reply(487, None);
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
}

#[test]
fn late_b_events_after_the_end_change_nothing() {
    let mut h = Harness::to_b_invite();
    h.b_reply(486, None);
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 486, 1);
    assert!(h.b_reply(200, Some(B_ANSWER)).is_empty());
    assert!(h.event(CallEvent::MediaFailed).is_empty());
    assert_eq!(h.call.media_releases(), 1);
}

#[test]
fn s13_3_1_4_timer_l_reported_by_the_transaction_layer_byes_both_legs() {
    let mut h = Harness::to_b_invite();
    h.b_reply(200, Some(B_ANSWER));
    h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    let out = h.event(CallEvent::AckTimedOut);
    let (ta, bye_a) = sent(&out, Leg::A, Method::Bye).pop().expect("BYE to A");
    let (tb, bye_b) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE to B");
    h.reply_to(ta, &bye_a, 481);
    h.reply_to(tb, &bye_b, 200);
    h.assert_ended(EndCause::AckTimeout, 200, 1);
}

#[test]
fn ack_timeout_event_is_ignored_once_a_acked() {
    let mut h = Harness::answered();
    assert!(h.event(CallEvent::AckTimedOut).is_empty());
    assert!(!h.call.is_terminated());
}

fn last_reason_to_a(actions: &[Action<u32>]) -> Option<String> {
    actions.iter().rev().find_map(|a| match a {
        Action::Respond { tx: 1, response } => response.reason().map(str::to_owned),
        _ => None,
    })
}

#[test]
fn s8_1_1_3_invite_without_from_tag_gets_400() {
    let text = a_invite_text(70, A_OFFER).replace(";tag=a-tag-1", "");
    let mut h = Harness::with_invite(&text);
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100, 400]);
    assert_eq!(last_reason_to_a(&out).as_deref(), Some("From: no tag"));
    h.assert_ended(
        EndCause::Failed {
            side: FailureSide::ALeg,
            status: 400,
        },
        400,
        0,
    );
}

#[test]
fn s8_1_1_8_invite_without_contact_gets_400() {
    let text = a_invite_text(70, A_OFFER).replace("Contact: <sip:alice@192.0.2.10:5060>\r\n", "");
    let mut h = Harness::with_invite(&text);
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100, 400]);
    assert_eq!(
        last_reason_to_a(&out).as_deref(),
        Some("Contact: missing in INVITE")
    );
    h.assert_ended(
        EndCause::Failed {
            side: FailureSide::ALeg,
            status: 400,
        },
        400,
        0,
    );
}

#[test]
fn s8_2_2_3_required_extension_gets_420_with_unsupported_naming_all_but_timer_and_100rel() {
    let text = a_invite_text(70, A_OFFER).replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel, precondition, timer, replaces\r\n",
    );
    let mut h = Harness::with_invite(&text);
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100, 420]);
    let r = out
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Respond { response, .. } => Some(on_the_wire(response)),
            _ => None,
        })
        .expect("420");
    assert_eq!(
        r.unsupported().expect("Unsupported"),
        ["precondition", "replaces"]
    );
    h.assert_ended(
        EndCause::Failed {
            side: FailureSide::ALeg,
            status: 420,
        },
        420,
        0,
    );
}
