//! A dead media node: an answered call moves to a new session by re-INVITE on both legs; a call
//! that cannot move (ringing, or a leg refusing the re-INVITE) ends with a media cause.

use switchboard_sip::Method;

use super::*;
use crate::FailureSide;

const NEW_A_OFFER: &str = "v=0\r\no=bob 1 3 IN IP4 203.0.113.60\r\ns=-\r\nc=IN IP4 203.0.113.60\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n";
const NEW_B_OFFER: &str = "v=0\r\no=alice 1 3 IN IP4 203.0.113.60\r\ns=-\r\nc=IN IP4 203.0.113.60\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// A 2xx with `sdp` to a request the call sent.
fn ok_with_sdp(request: &Message<'_>, sdp: &str) -> Message<'static> {
    let mut r = request.response(200, "OK").into_owned();
    r.push_header(HeaderName::Contact, "<sip:peer@192.0.2.99:5060>");
    r.set_body(Some("application/sdp"), sdp.as_bytes().to_vec());
    on_the_wire(&r)
}

/// An answered call whose node died and whose new session is up: the two re-INVITEs (A, B).
fn moved() -> (
    Harness,
    (ClientTxId, Message<'static>),
    (ClientTxId, Message<'static>),
) {
    let mut h = Harness::answered();
    let out = h.event(CallEvent::MediaLost);
    match out.as_slice() {
        [
            Action::MoveMedia {
                a_sdp,
                b_sdp,
                sent_a,
                sent_b,
            },
        ] => {
            assert_eq!(a_sdp.as_slice(), A_OFFER.as_bytes(), "A's last SDP");
            assert_eq!(b_sdp.as_slice(), B_ANSWER.as_bytes(), "B's last SDP");
            assert_eq!(sent_a.as_slice(), A_ANSWER, "what A was last told");
            assert_eq!(sent_b.as_slice(), B_OFFER, "what B was last told");
        }
        other => panic!("expected MoveMedia: {other:?}"),
    }
    let out = h.event(CallEvent::MediaMoved {
        a_offer: NEW_A_OFFER.as_bytes().to_vec(),
        b_offer: NEW_B_OFFER.as_bytes().to_vec(),
    });
    let to_a = sent(&out, Leg::A, Method::Invite);
    let to_b = sent(&out, Leg::B, Method::Invite);
    assert_eq!((to_a.len(), to_b.len()), (1, 1), "{out:?}");
    assert_eq!(to_a[0].1.body(), NEW_A_OFFER.as_bytes());
    assert_eq!(to_b[0].1.body(), NEW_B_OFFER.as_bytes());
    assert_eq!(to_a[0].1.call_id().ok(), Some("a-call-1@192.0.2.10"));
    assert_eq!(
        to_a[0].1.to().ok().and_then(|t| t.tag().map(str::to_owned)),
        Some("a-tag-1".to_owned()),
        "inside A's dialog"
    );
    (h, to_a[0].clone(), to_b[0].clone())
}

#[test]
fn a_call_whose_node_died_moves_to_a_new_session_by_reinvite_on_both_legs() {
    let (mut h, (a_tx, a_inv), (b_tx, b_inv)) = moved();
    // While moving, an offer from a leg is refused with 491 (glare with our re-INVITE).
    let reinvite = h.a_with_body("INVITE", 150, "application/sdp", A_OFFER);
    let (tx, out) = h.a_request(reinvite);
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(491));

    for (tx, inv, leg, answer) in [
        (a_tx, &a_inv, Leg::A, A_OFFER),
        (b_tx, &b_inv, Leg::B, B_ANSWER),
    ] {
        let response = ok_with_sdp(inv, answer);
        let out = h.event(CallEvent::Response {
            tx,
            response: response.clone(),
        });
        assert!(
            out.iter()
                .any(|a| matches!(a, Action::SendAck { leg: l, .. } if *l == leg)),
            "the 2xx is ACKed: {out:?}"
        );
        assert!(
            out.iter().any(|a| matches!(a,
                Action::UpdateMedia { leg: l, sdp, .. } if *l == leg && sdp == answer.as_bytes())),
            "the answer points the new node at the leg: {out:?}"
        );
        // A retransmission is ACKed again, nothing else.
        let again = h.event(CallEvent::Response { tx, response });
        assert!(
            matches!(again.as_slice(), [Action::SendAck { .. }]),
            "{again:?}"
        );
    }
    assert!(!h.call.is_terminated(), "the call goes on");
    // Offers are accepted again once the move is done.
    let reinvite = h.a_with_body("INVITE", 151, "application/sdp", A_OFFER);
    let (tx, out) = h.a_request(reinvite);
    assert_eq!(response_on(&out, tx), None, "not refused: {out:?}");
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::UpdateMedia { leg: Leg::A, .. })),
        "relayed through the new node: {out:?}"
    );
}

#[test]
fn a_leg_refusing_the_move_ends_the_call_with_a_media_cause() {
    let (mut h, (a_tx, a_inv), _) = moved();
    let out = h.reply_to(a_tx, &a_inv, 488);
    let byes_a = sent(&out, Leg::A, Method::Bye);
    let byes_b = sent(&out, Leg::B, Method::Bye);
    assert_eq!(
        (byes_a.len(), byes_b.len()),
        (1, 1),
        "BYE both legs: {out:?}"
    );
    for (tx, bye) in byes_a.into_iter().chain(byes_b) {
        h.reply_to(tx, &bye, 200);
    }
    let cause = EndCause::Failed {
        side: FailureSide::Media,
        status: 503,
    };
    h.assert_ended(cause, 200, 1);
}

#[test]
fn a_ringing_call_whose_node_died_ends_as_a_media_failure() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let out = h.event(CallEvent::MediaLost);
    assert!(a_statuses(&out).contains(&503), "{out:?}");
    assert!(
        !out.iter().any(|a| matches!(a, Action::MoveMedia { .. })),
        "{out:?}"
    );
}
