//! RFC 3261 §22.2: a trunk challenging our B-leg INVITE gets it again with credentials for its
//! realm only; wrong credentials (a second challenge that is not `stale`) end in a failure.

use switchboard_registrar::digest::{self, Algorithm};
use switchboard_sip::{HeaderName, Method};

use super::*;
use crate::RouteAuth;

const REALM: &str = "carrier.example";

fn challenged_call() -> Harness {
    let mut h = Harness::with_route(
        &a_invite_text(70, A_OFFER),
        RouteTarget {
            request_uri: "sip:5551234@carrier.example".to_owned(),
            next_hop: addr(NEXT_HOP),
            auth: Some(RouteAuth {
                username: "acct-17".to_owned(),
                password: "s3cret".to_owned(),
                realm: REALM.to_owned(),
            }),
            transport: Default::default(),
        },
    );
    h.drain();
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    h
}

/// A 407 (or 401) from the trunk with one Digest challenge.
fn challenge(h: &mut Harness, status: u16, params: &str) -> Vec<Action<u32>> {
    let header = if status == 401 {
        "WWW-Authenticate"
    } else {
        "Proxy-Authenticate"
    };
    let mut response = h.b_response(status, None, "trunk-tag");
    response.push_header(HeaderName::Other(header.into()), format!("Digest {params}"));
    let response = parse(&response.encode_string());
    let tx = h.b_invite_tx();
    h.event(CallEvent::Response { tx, response })
}

fn new_invite(actions: &[Action<u32>]) -> Option<Message<'static>> {
    actions.iter().find_map(|a| match a {
        Action::SendRequest {
            leg: Leg::B,
            request,
            ..
        } if request.method() == Some(&Method::Invite) => Some(request.clone()),
        _ => None,
    })
}

#[test]
fn rfc3261_s22_2_proxy_challenge_is_answered_with_the_next_cseq_and_valid_credentials() {
    let mut h = challenged_call();
    let (_, first) = h.b_invite.clone().expect("first INVITE");
    let out = challenge(
        &mut h,
        407,
        &format!(
            r#"realm="{REALM}", nonce="n-123", opaque="op", algorithm=MD5, qop="auth,auth-int""#
        ),
    );
    assert!(a_statuses(&out).is_empty(), "the caller keeps waiting");
    let second = new_invite(&out).expect("INVITE sent again");
    assert_eq!(
        second.call_id().ok(),
        first.call_id().ok(),
        "same dialog attempt"
    );
    assert_eq!(
        second.from().expect("from").tag(),
        first.from().expect("from").tag()
    );
    assert_eq!(second.cseq().expect("cseq").seq, 2);
    assert_ne!(
        second.top_via().expect("via").branch(),
        first.top_via().expect("via").branch(),
        "a new transaction"
    );
    assert_eq!(second.body(), B_OFFER);
    let creds = second.proxy_authorization().expect("parses");
    let c = creds.first().expect("Proxy-Authorization");
    let get = |k: &str| c.get(k).map(|v| v.into_owned()).unwrap_or_default();
    assert_eq!(
        (get("username"), get("realm"), get("nonce"), get("opaque")),
        ("acct-17".into(), REALM.into(), "n-123".into(), "op".into())
    );
    assert_eq!((get("qop"), get("nc")), ("auth".into(), "00000001".into()));
    assert_eq!(get("uri"), "sip:5551234@carrier.example");
    let check = digest::DigestCredentials {
        username: get("username"),
        realm: get("realm"),
        nonce: get("nonce"),
        uri: get("uri"),
        response: get("response"),
        algorithm: Some(get("algorithm")),
        cnonce: Some(get("cnonce")),
        qop: Some(get("qop")),
        nc: Some(get("nc")),
        opaque: None,
    };
    let ha1 = digest::ha1(Algorithm::Md5, "acct-17", REALM, "s3cret");
    assert_eq!(
        check.response,
        digest::expected_response(Algorithm::Md5, &ha1, "INVITE", &check)
    );
    // The trunk accepts: the call is answered on the new transaction.
    h.b_reply(180, None);
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
}

#[test]
fn challenge_for_another_realm_is_not_answered_and_fails_upstream() {
    let mut h = challenged_call();
    let out = challenge(&mut h, 401, r#"realm="elsewhere.example", nonce="n1""#);
    assert!(
        new_invite(&out).is_none(),
        "credentials never leave for another realm"
    );
    assert_eq!(a_statuses(&out), [480]);
}

#[test]
fn wrong_credentials_fail_but_a_stale_nonce_is_answered_again() {
    let mut h = challenged_call();
    let params = format!(r#"realm="{REALM}", nonce="n1", algorithm=SHA-256, qop="auth""#);
    let out = challenge(&mut h, 401, &params);
    let second = new_invite(&out).expect("answered once");
    let c = second.authorization().expect("parses");
    assert_eq!(
        c.first().and_then(|c| c.get("algorithm")).as_deref(),
        Some("SHA-256")
    );
    let stale = format!(r#"realm="{REALM}", nonce="n2", qop="auth", stale=true"#);
    let out = challenge(&mut h, 401, &stale);
    let third = new_invite(&out).expect("stale nonce: answered again");
    assert_eq!(third.cseq().expect("cseq").seq, 3);
    let out = challenge(&mut h, 401, &params);
    assert!(
        new_invite(&out).is_none(),
        "refused again: the failure stands"
    );
    assert_eq!(a_statuses(&out), [480]);
}

#[test]
fn rfc3261_s22_2_a_challenged_bye_to_the_trunk_is_sent_again_once_with_credentials() {
    let mut h = challenged_call();
    h.b_reply(200, Some(B_ANSWER));
    h.media_updated_and_acked(1);
    let bye = h.a_in_dialog("BYE", 102, &h.a_tag());
    let (_, out) = h.a_request(bye);
    let (tx, first) = sent(&out, Leg::B, Method::Bye)
        .pop()
        .expect("BYE to the trunk");
    let challenge = |bye: &Message<'_>| {
        let mut r = bye
            .response(407, "Proxy Authentication Required")
            .into_owned();
        r.push_header(
            HeaderName::Other("Proxy-Authenticate".into()),
            format!(r#"Digest realm="{REALM}", nonce="n-bye", algorithm=MD5, qop="auth""#),
        );
        parse(&r.encode_string())
    };
    let out = h.event(CallEvent::Response {
        tx,
        response: challenge(&first),
    });
    let (tx2, second) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE again");
    assert_eq!(second.call_id().ok(), first.call_id().ok());
    assert_eq!(
        second.cseq().expect("cseq").seq,
        first.cseq().expect("cseq").seq + 1
    );
    let creds = second.proxy_authorization().expect("parses");
    let c = creds.first().expect("Proxy-Authorization");
    let get = |k: &str| c.get(k).map(|v| v.into_owned()).unwrap_or_default();
    assert_eq!(
        (get("username"), get("nonce")),
        ("acct-17".into(), "n-bye".into())
    );
    // A second challenge is not answered: the BYE counts as done and the call ends.
    let out = h.event(CallEvent::Response {
        tx: tx2,
        response: challenge(&second),
    });
    assert!(sent(&out, Leg::B, Method::Bye).is_empty(), "{out:?}");
    assert!(h.call.is_terminated());
}

#[test]
fn rfc3261_s22_2_a_challenged_reinvite_to_the_trunk_goes_again_once_with_credentials() {
    let mut h = challenged_call();
    h.b_reply(200, Some(B_ANSWER));
    h.media_updated_and_acked(1);
    // The caller puts the call on hold: its offer is rewritten and relayed to the trunk.
    let hold = A_OFFER.replace("m=audio", "a=sendonly\r\nm=audio");
    let reinvite = h.a_with_body("INVITE", 102, "application/sdp", &hold);
    let (a_tx, _) = h.a_request(reinvite);
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(2),
        sdp: B_OFFER.to_vec(),
    });
    let (tx, first) = sent(&out, Leg::B, Method::Invite)
        .pop()
        .expect("re-INVITE to the trunk");
    let challenge = |m: &Message<'_>, nonce: &str| {
        let mut r = m
            .response(407, "Proxy Authentication Required")
            .into_owned();
        r.push_header(
            HeaderName::Other("Proxy-Authenticate".into()),
            format!(r#"Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth""#),
        );
        parse(&r.encode_string())
    };
    let out = h.event(CallEvent::Response {
        tx,
        response: challenge(&first, "n-re"),
    });
    assert_eq!(response_on(&out, a_tx), None, "the caller waits");
    let (tx2, second) = sent(&out, Leg::B, Method::Invite)
        .pop()
        .expect("re-INVITE again");
    assert_eq!(second.call_id().ok(), first.call_id().ok());
    assert_eq!(
        second.cseq().expect("cseq").seq,
        first.cseq().expect("cseq").seq + 1
    );
    assert_eq!(second.body(), first.body(), "the same offer");
    let creds = second.proxy_authorization().expect("parses");
    let c = creds.first().expect("Proxy-Authorization");
    let get = |k: &str| c.get(k).map(|v| v.into_owned()).unwrap_or_default();
    assert_eq!(get("nonce"), "n-re");
    assert_eq!(get("uri"), second.request_uri().expect("uri").to_string());
    // Challenged again: that is the trunk's answer, relayed to the caller; the call goes on.
    let out = h.event(CallEvent::Response {
        tx: tx2,
        response: challenge(&second, "n-re2"),
    });
    assert!(sent(&out, Leg::B, Method::Invite).is_empty());
    assert_eq!(
        response_on(&out, a_tx).and_then(|r| r.status()),
        Some(407),
        "{out:?}"
    );
    assert!(!h.call.is_terminated());
}
