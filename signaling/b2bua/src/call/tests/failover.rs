//! Serial failover: a B leg failing with a retryable status moves to the next route while the caller
//! waits; a final refusal or the last route's failure goes upstream.

use switchboard_sip::Method;

use super::*;

const FALLBACK_HOP: &str = "198.51.100.77:5060";

fn with_fallback() -> Harness {
    let mut h = Harness::new();
    h.call.add_fallback_route(RouteTarget {
        request_uri: "sip:+15551234@198.51.100.77".to_owned(),
        next_hop: addr(FALLBACK_HOP),
        auth: None,
        transport: Default::default(),
    });
    h.drain();
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    h
}

fn invite_hop(actions: &[Action<u32>]) -> Option<std::net::SocketAddr> {
    actions.iter().find_map(|a| match a {
        Action::SendRequest {
            leg: Leg::B,
            request,
            next_hop,
            ..
        } if request.method() == Some(&Method::Invite) => Some(*next_hop),
        _ => None,
    })
}

#[test]
fn b_leg_503_fails_over_to_the_next_route_as_a_new_dialog() {
    let mut h = with_fallback();
    let (_, first) = h.b_invite.clone().expect("first INVITE");
    let out = h.b_reply(503, None);
    assert!(a_statuses(&out).is_empty(), "the caller keeps waiting");
    assert_eq!(invite_hop(&out), Some(addr(FALLBACK_HOP)));
    let (_, second) = h.b_invite.clone().expect("second INVITE");
    assert_eq!(
        second.request_uri().expect("uri").to_string(),
        "sip:+15551234@198.51.100.77"
    );
    assert_ne!(second.call_id().ok(), first.call_id().ok());
    assert_ne!(
        second.from().expect("from").tag(),
        first.from().expect("from").tag()
    );
    assert_eq!(second.body(), B_OFFER, "same media session, same offer");
    assert_eq!(h.call.leg_of(first.call_id().expect("cid")), None);
    h.b_reply(180, None);
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
    let ack = h.ack_from_a();
    h.event(CallEvent::Ack { request: ack });
    let bye = h.bye_from_b();
    let out = h.event(CallEvent::Request {
        tx: 50,
        request: bye,
    });
    let (tx, bye_a) = sent(&out, Leg::A, Method::Bye).pop().expect("BYE to A");
    h.reply_to(tx, &bye_a, 200);
    h.assert_ended(EndCause::HangUp(Leg::B), 200, 1);
}

#[test]
fn timer_b_fails_over_and_the_last_routes_refusal_goes_upstream() {
    let mut h = with_fallback();
    let tx = h.b_invite_tx();
    let out = h.event(CallEvent::ClientTimedOut { tx });
    assert_eq!(invite_hop(&out), Some(addr(FALLBACK_HOP)));
    let out = h.b_reply(486, None);
    assert_eq!(a_statuses(&out), [486]);
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 486, 1);
}

#[test]
fn exhausted_routes_answer_the_last_failure() {
    let mut h = with_fallback();
    h.b_reply(503, None);
    let out = h.b_reply(500, None);
    assert_eq!(a_statuses(&out), [503]);
    assert_eq!(invite_hop(&out), None);
    h.assert_ended(EndCause::Rejected { b_status: 500 }, 503, 1);
}

#[test]
fn busy_is_final_and_does_not_fail_over() {
    let mut h = with_fallback();
    let out = h.b_reply(486, None);
    assert_eq!(a_statuses(&out), [486]);
    assert_eq!(invite_hop(&out), None);
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 486, 1);
}

#[test]
fn cancel_stops_failover() {
    let mut h = with_fallback();
    h.b_reply(180, None);
    h.event(CallEvent::Cancel);
    let out = h.b_reply(487, None);
    assert_eq!(invite_hop(&out), None);
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
}

/// A hunt of two routes with a 15 s per-member ring time, the B-leg INVITE to the first sent.
fn hunt() -> Harness {
    let mut h = Harness::new();
    h.call.add_fallback_route(RouteTarget {
        request_uri: "sip:1002@198.51.100.77".to_owned(),
        next_hop: addr(FALLBACK_HOP),
        auth: None,
        transport: Default::default(),
    });
    h.call.set_attempt_timeout(Duration::from_secs(15));
    h.drain();
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    h
}

#[test]
fn hunt_member_ringing_past_its_time_is_cancelled_and_the_next_member_rung() {
    let mut h = hunt();
    h.b_reply(180, None);
    let start = h.now;
    let out = h.fire_timer();
    assert_eq!(
        h.now - start,
        Duration::from_secs(15),
        "the member's ring time"
    );
    let (cancel_tx, cancel) = sent(&out, Leg::B, Method::Cancel)
        .pop()
        .expect("CANCEL to B");
    assert!(a_statuses(&out).is_empty(), "the caller keeps waiting");
    h.reply_to(cancel_tx, &cancel, 200);
    let out = h.b_reply(487, None);
    assert_eq!(invite_hop(&out), Some(addr(FALLBACK_HOP)), "next member");
    assert!(a_statuses(&out).is_empty());
    // The last member rings its time too, then the caller gets 480.
    h.b_reply(180, None);
    let out = h.fire_timer();
    let (tx, cancel) = sent(&out, Leg::B, Method::Cancel).pop().expect("CANCEL");
    assert_eq!(a_statuses(&out), [480]);
    h.reply_to(tx, &cancel, 200);
    h.b_reply(487, None);
    h.assert_ended(EndCause::NoAnswer, 480, 1);
}

#[test]
fn hunt_member_answering_as_its_cancel_goes_out_keeps_the_call() {
    let mut h = hunt();
    h.b_reply(180, None);
    let out = h.fire_timer();
    assert_eq!(sent(&out, Leg::B, Method::Cancel).len(), 1);
    // RFC 3261 §9.1: the 2xx crossed the CANCEL; the member answered, so the call goes on.
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
    assert!(sent(&out, Leg::B, Method::Bye).is_empty());
}

#[test]
fn caller_id_replaces_the_from_user_on_the_b_leg_only() {
    let mut h = Harness::new();
    h.call.set_caller_id("+15550100");
    h.drain();
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    let (_, invite) = h.b_invite.clone().expect("INVITE");
    let from = invite.from().expect("From");
    assert_eq!(from.uri.user, Some("+15550100"));
    assert_eq!(
        from.uri.host.map(|h| h.to_string()).as_deref(),
        Some("atlanta.example")
    );
    assert_eq!(from.display_name, Some("Alice"), "A's display name is kept");
    assert!(from.tag().is_some_and(|t| t != "a-tag-1"), "our own tag");
}
