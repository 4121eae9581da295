//! Late offer (RFC 3261 §13.2.1, RFC 3264 §4): a caller's INVITE without SDP. The callee gets our
//! own offer, its answer anchored on the node is our offer to the caller in the 2xx (never in an
//! unreliable 1xx), and the caller's answer comes in its ACK.

use switchboard_sip::Method;

use super::*;
use crate::FailureSide;

/// A late-offer call answered by B (180, 183 with its answer, 200 without SDP); returns the
/// harness after our 200 went to A.
fn answered_late() -> Harness {
    let mut h = Harness::with_invite(&a_invite_text(70, ""));
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100]);
    assert!(
        out.contains(&Action::OfferMedia { leg: Leg::B }),
        "our own offer, for the callee: {out:?}"
    );
    let out = h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    let invites = sent(&out, Leg::B, Method::Invite);
    assert_eq!(invites.len(), 1, "{out:?}");
    assert_eq!(invites[0].1.body(), B_OFFER);
    assert_eq!(a_statuses(&h.b_reply(180, None)), [180]);
    let out = h.b_reply(183, Some(B_ANSWER));
    assert!(
        out.iter().any(|a| matches!(a,
            Action::UpdateMedia { leg: Leg::B, sdp, .. } if sdp == B_ANSWER.as_bytes())),
        "B's answer to our offer goes to the node: {out:?}"
    );
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    let early = response_on(&out, 1).expect("183 to A");
    assert_eq!(
        (early.status(), early.body().is_empty()),
        (Some(183), true),
        "no offer in an unreliable 183"
    );
    let out = h.b_reply(200, None);
    let ok = response_on(&out, 1).expect("200 to A");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.body(), A_ANSWER, "our offer to the caller, in the 2xx");
    h
}

fn ack_with(h: &Harness, sdp: &str) -> Message<'static> {
    let mut ack = h.ack_from_a();
    if !sdp.is_empty() {
        ack.set_body(Some("application/sdp"), sdp.as_bytes().to_vec());
    }
    on_the_wire(&ack)
}

#[test]
fn rfc3264_s4_late_offer_our_offer_in_the_2xx_the_callers_answer_in_its_ack() {
    let mut h = answered_late();
    let ack = ack_with(&h, A_OFFER);
    let out = h.event(CallEvent::Ack { request: ack });
    assert!(
        out.iter().any(|a| matches!(a,
            Action::UpdateMedia { leg: Leg::A, sdp, .. } if sdp == A_OFFER.as_bytes())),
        "the caller's answer points the node at it: {out:?}"
    );
    assert_eq!(
        h.call.poll_timeout(),
        None,
        "confirmed: no 2xx retransmission"
    );
    // A retransmitted ACK changes nothing.
    let again = ack_with(&h, A_OFFER);
    assert!(h.event(CallEvent::Ack { request: again }).is_empty());
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc3261_s13_2_2_4_an_ack_without_the_answer_ends_the_late_offer_call() {
    let mut h = answered_late();
    let ack = ack_with(&h, "");
    let out = h.event(CallEvent::Ack { request: ack });
    let byes_a = sent(&out, Leg::A, Method::Bye);
    let byes_b = sent(&out, Leg::B, Method::Bye);
    assert_eq!((byes_a.len(), byes_b.len()), (1, 1), "{out:?}");
    for (tx, bye) in byes_a.into_iter().chain(byes_b) {
        h.reply_to(tx, &bye, 200);
    }
    let cause = EndCause::Failed {
        side: FailureSide::ALeg,
        status: 488,
    };
    h.assert_ended(cause, 200, 1);
}
