//! Parallel forking (ring group, every contact of a user): all branches rung at once with the same
//! offer, the first 2xx wins and the others are cancelled, the caller fails only when all failed.

use switchboard_sip::{HeaderName, Method};

use super::*;

pub(super) const FORK_HOP: &str = "198.51.100.88:5070";

/// A call with one parallel branch besides the primary; both INVITEs sent. Returns the harness,
/// the primary's (tx, INVITE) and the branch's.
pub(super) fn forked() -> (
    Harness,
    (ClientTxId, Message<'static>),
    (ClientTxId, Message<'static>),
) {
    let mut h = Harness::new();
    h.call.add_parallel_route(RouteTarget {
        request_uri: "sip:bob@198.51.100.88:5070".to_owned(),
        next_hop: addr(FORK_HOP),
        auth: None,
        transport: Default::default(),
    });
    h.drain();
    let out = h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    let invites = sent(&out, Leg::B, Method::Invite);
    assert_eq!(invites.len(), 2, "both branches rung at once");
    let hops: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::SendRequest {
                next_hop, request, ..
            } if request.method() == Some(&Method::Invite) => Some(*next_hop),
            _ => None,
        })
        .collect();
    assert_eq!(hops, [addr(NEXT_HOP), addr(FORK_HOP)]);
    let (primary, fork) = (invites[0].clone(), invites[1].clone());
    assert_ne!(primary.1.call_id().ok(), fork.1.call_id().ok());
    assert_eq!(primary.1.body(), fork.1.body(), "the same offer");
    (h, primary, fork)
}

/// A response from the callee of `invite` (To tag `tag` except for 100).
fn reply(
    h: &mut Harness,
    (tx, invite): &(ClientTxId, Message<'static>),
    status: u16,
    sdp: Option<&str>,
    tag: &str,
) -> Vec<Action<u32>> {
    let to = invite.header(&HeaderName::To).expect("To");
    let body = sdp.unwrap_or("");
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    let response = parse(&format!(
        "SIP/2.0 {status} X\r\nVia: {}\r\nFrom: {}\r\nTo: {to};tag={tag}\r\nCall-ID: {}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:bob@198.51.100.88:5070>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        invite.header(&HeaderName::Via).expect("Via"),
        invite.header(&HeaderName::From).expect("From"),
        invite.call_id().expect("Call-ID"),
        body.len()
    ));
    h.event(CallEvent::Response { tx: *tx, response })
}

fn cancels_to(actions: &[Action<u32>], hop: &str) -> usize {
    actions
        .iter()
        .filter(|a| {
            matches!(a, Action::SendRequest { request, next_hop, .. }
                if request.method() == Some(&Method::Cancel) && *next_hop == addr(hop))
        })
        .count()
}

#[test]
fn first_branch_to_answer_wins_and_the_other_is_cancelled() {
    let (mut h, primary, fork) = forked();
    let out = reply(&mut h, &primary, 180, None, "p");
    assert_eq!(a_statuses(&out), [180]);
    let out = reply(&mut h, &fork, 180, None, "f");
    assert_eq!(a_statuses(&out), [180], "the branch rings too");
    let out = reply(&mut h, &fork, 200, Some(B_ANSWER), "f");
    assert_eq!(
        cancels_to(&out, NEXT_HOP),
        1,
        "the ringing primary is cancelled"
    );
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::SendAck { next_hop, .. } if *next_hop == addr(FORK_HOP))),
        "the winner is ACKed: {out:?}"
    );
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
    // The cancelled branch's 487 changes nothing; the call goes on with the winner.
    assert!(a_statuses(&reply(&mut h, &primary, 487, None, "p")).is_empty());
    assert_eq!(h.call.b_call_id(), fork.1.call_id().ok());
    let ack = h.ack_from_a();
    h.event(CallEvent::Ack { request: ack });
    let bye = h.a_in_dialog("BYE", 102, &h.a_tag());
    let (_, out) = h.a_request(bye);
    let byes: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::SendRequest {
                request, next_hop, ..
            } if request.method() == Some(&Method::Bye) => Some(*next_hop),
            _ => None,
        })
        .collect();
    assert_eq!(
        byes,
        [addr(FORK_HOP)],
        "BYE goes to the branch that answered"
    );
}

#[test]
fn caller_gets_a_failure_only_when_every_branch_failed_busy_first() {
    let (mut h, primary, fork) = forked();
    reply(&mut h, &fork, 180, None, "f");
    let out = reply(&mut h, &primary, 486, None, "p");
    assert!(a_statuses(&out).is_empty(), "a branch still rings");
    let out = reply(&mut h, &fork, 480, None, "f");
    assert_eq!(a_statuses(&out), [486], "busy is the most telling failure");
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 486, 1);
}

#[test]
fn s9_1_caller_cancel_cancels_every_ringing_branch_and_ends_after_their_487s() {
    let (mut h, primary, fork) = forked();
    reply(&mut h, &primary, 180, None, "p");
    reply(&mut h, &fork, 183, None, "f");
    let out = h.event(CallEvent::Cancel);
    assert_eq!(a_statuses(&out), [487]);
    assert_eq!(cancels_to(&out, NEXT_HOP), 1);
    assert_eq!(cancels_to(&out, FORK_HOP), 1);
    reply(&mut h, &primary, 487, None, "p");
    assert!(
        !h.call.is_terminated(),
        "the branch has not answered its CANCEL yet"
    );
    reply(&mut h, &fork, 487, None, "f");
    h.assert_ended(EndCause::CallerCancelled, 487, 1);
}

#[test]
fn rfc3261_s13_2_2_4_a_second_2xx_from_another_branch_is_acked_and_hung_up() {
    let (mut h, primary, fork) = forked();
    reply(&mut h, &primary, 200, Some(B_ANSWER), "p");
    let out = reply(&mut h, &fork, 200, Some(B_ANSWER), "f");
    let to_fork = |m: &Method<'_>| {
        out.iter().any(|a| match a {
            Action::SendAck {
                request, next_hop, ..
            } => request.method() == Some(m) && *next_hop == addr(FORK_HOP),
            Action::SendRequest {
                request, next_hop, ..
            } => request.method() == Some(m) && *next_hop == addr(FORK_HOP),
            _ => false,
        })
    };
    assert!(to_fork(&Method::Ack) && to_fork(&Method::Bye), "{out:?}");
    assert_eq!(h.call.b_call_id(), primary.1.call_id().ok());
}
