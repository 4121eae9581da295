//! Call scenario tests on a virtual clock: a small vocabulary (`Harness`, `b_reply`, `bye_from_a`, ...)
//! drives one [`Call`] with parsed literal messages and checks the parsed actions.

mod auth;
mod basic;
mod failover;
mod failures;
mod fork;
mod indialog;
mod invariants;
mod late_offer;
mod migrate;
mod originate;
mod prack;
mod timer;
mod timer_b;
mod transfer;
mod update_info;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message, Method};

use super::{Action, Call, CallConfig, CallEvent, ClientTxId, Leg, RouteTarget};
use crate::failure::EndCause;
use crate::random::SequentialTokens;

pub(super) const A_OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
pub(super) const B_OFFER: &[u8] = b"v=0\r\no=sb 1 1 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";
pub(super) const B_ANSWER: &str = "v=0\r\no=bob 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
pub(super) const A_ANSWER: &[u8] = b"v=0\r\no=sb 1 1 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 30002 RTP/AVP 0\r\n";

pub(super) const A_SOURCE: &str = "192.0.2.10:5060";
pub(super) const NEXT_HOP: &str = "198.51.100.20:5062";

/// The caller's INVITE: Via and Contact at 192.0.2.10, a Record-Route through proxy.atlanta.example.
pub(super) fn a_invite_text(max_forwards: u32, sdp: &str) -> String {
    format!(
        "INVITE sip:bob@switchboard.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1;rport\r\n\
Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKinner\r\n\
Record-Route: <sip:proxy.atlanta.example;lr>\r\n\
Max-Forwards: {max_forwards}\r\n\
From: \"Alice\" <sip:alice@atlanta.example>;tag=a-tag-1\r\n\
To: <sip:bob@switchboard.example>\r\n\
Call-ID: a-call-1@192.0.2.10\r\n\
CSeq: 101 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

pub(super) fn parse(text: &str) -> Message<'static> {
    Message::parse(text.as_bytes())
        .expect("test message parses")
        .into_owned()
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub(super) struct Harness {
    pub(super) call: Call<u32>,
    pub(super) now: Instant,
    /// Every action drained so far.
    pub(super) all: Vec<Action<u32>>,
    pub(super) b_invite: Option<(ClientTxId, Message<'static>)>,
    next_server_tx: u32,
    /// Server transactions of requests handed in before the call ended (the call answers them).
    pub(super) live_requests: Vec<u32>,
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness::with_invite(&a_invite_text(70, A_OFFER))
    }

    pub(super) fn with_invite(text: &str) -> Harness {
        Harness::with_route(
            text,
            RouteTarget {
                request_uri: "sip:bob@198.51.100.20:5062".to_owned(),
                next_hop: addr(NEXT_HOP),
                auth: None,
                transport: Default::default(),
            },
        )
    }

    pub(super) fn with_route(text: &str, route: RouteTarget) -> Harness {
        let now = Instant::now();
        let call = Call::new(
            now,
            test_config(),
            parse(text),
            1,
            addr(A_SOURCE),
            route,
            Box::new(SequentialTokens::new("r")),
        );
        Harness::of(call, now)
    }

    /// A harness around `call`, started at `now`.
    pub(super) fn of(call: Call<u32>, now: Instant) -> Harness {
        Harness {
            call,
            now,
            all: Vec::new(),
            b_invite: None,
            next_server_tx: 100,
            live_requests: Vec::new(),
        }
    }

    /// Drains the call's actions, remembering them (and the B-leg INVITE).
    pub(super) fn drain(&mut self) -> Vec<Action<u32>> {
        let mut out = Vec::new();
        while let Some(a) = self.call.poll_action() {
            if let Action::SendRequest {
                leg: Leg::B,
                tx,
                request,
                ..
            } = &a
            {
                let initial = request.to().ok().and_then(|t| t.tag()).is_none();
                if request.method() == Some(&Method::Invite) && initial {
                    self.b_invite = Some((*tx, request.clone()));
                }
            }
            out.push(a);
        }
        self.all.extend(out.iter().cloned());
        out
    }

    pub(super) fn event(&mut self, e: CallEvent<u32>) -> Vec<Action<u32>> {
        self.call.handle(self.now, e);
        self.drain()
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Fires the call's timer at its deadline.
    pub(super) fn fire_timer(&mut self) -> Vec<Action<u32>> {
        let deadline = self.call.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(deadline);
        self.call.handle_timeout(self.now);
        self.drain()
    }

    /// Start, media allocated, B-leg INVITE sent.
    pub(super) fn to_b_invite() -> Harness {
        let mut h = Harness::new();
        h.drain();
        h.event(CallEvent::MediaAllocated {
            b_offer: B_OFFER.to_vec(),
        });
        assert!(h.b_invite.is_some(), "B-leg INVITE sent");
        h
    }

    pub(super) fn b_invite_tx(&self) -> ClientTxId {
        self.b_invite.as_ref().expect("B-leg INVITE sent").0
    }

    /// A response from B to our INVITE, with To tag `b-tag-1` (except 100) and B's Contact.
    pub(super) fn b_response(&self, status: u16, sdp: Option<&str>, tag: &str) -> Message<'static> {
        let (_, inv) = self.b_invite.as_ref().expect("B-leg INVITE sent");
        let to = inv.header(&HeaderName::To).expect("To");
        let to = if status == 100 {
            to.to_owned()
        } else {
            format!("{to};tag={tag}")
        };
        let body = sdp.unwrap_or("");
        parse(&format!(
            "SIP/2.0 {status} Whatever B Says\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:bob@198.51.100.20:5062>\r\n{}Content-Length: {}\r\n\r\n{body}",
            inv.header(&HeaderName::Via).expect("Via"),
            inv.header(&HeaderName::From).expect("From"),
            inv.call_id().expect("Call-ID"),
            if body.is_empty() {
                ""
            } else {
                "Content-Type: application/sdp\r\n"
            },
            body.len()
        ))
    }

    pub(super) fn b_reply(&mut self, status: u16, sdp: Option<&str>) -> Vec<Action<u32>> {
        let response = self.b_response(status, sdp, "b-tag-1");
        let tx = self.b_invite_tx();
        self.event(CallEvent::Response { tx, response })
    }

    /// A final response to a request the call sent.
    pub(super) fn reply_to(
        &mut self,
        tx: ClientTxId,
        request: &Message<'_>,
        status: u16,
    ) -> Vec<Action<u32>> {
        let response = parse(&request.response(status, "Reply").encode_string());
        self.event(CallEvent::Response { tx, response })
    }

    /// Answered call: 180, 200 (with SDP), media updated, ACK from A.
    pub(super) fn answered() -> Harness {
        let mut h = Harness::to_b_invite();
        h.b_reply(180, None);
        h.b_reply(200, Some(B_ANSWER));
        assert!(h.media_updated_and_acked(1).is_empty());
        h
    }

    /// The media node rewrote B's answer for A (update `op`) and A ACKed our 2xx; returns what
    /// the ACK produced.
    pub(super) fn media_updated_and_acked(&mut self, op: u32) -> Vec<Action<u32>> {
        self.event(CallEvent::MediaUpdated {
            op: crate::MediaOp(op),
            sdp: A_ANSWER.to_vec(),
        });
        let ack = self.ack_from_a();
        self.event(CallEvent::Ack { request: ack })
    }

    pub(super) fn a_tag(&self) -> String {
        self.call.a_dialog().id().local_tag.clone()
    }

    pub(super) fn ack_from_a(&self) -> Message<'static> {
        parse(&format!(
            "ACK sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack\r\n\
From: \"Alice\" <sip:alice@atlanta.example>;tag=a-tag-1\r\nTo: <sip:bob@switchboard.example>;tag={}\r\n\
Call-ID: a-call-1@192.0.2.10\r\nCSeq: 101 ACK\r\nContent-Length: 0\r\n\r\n",
            self.a_tag()
        ))
    }

    /// An in-dialog request from A with the given method, CSeq and To tag.
    pub(super) fn a_in_dialog(&self, method: &str, cseq: u32, to_tag: &str) -> Message<'static> {
        parse(&format!(
            "{method} sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKm{cseq}\r\n\
Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@atlanta.example>;tag=a-tag-1\r\n\
To: <sip:bob@switchboard.example>;tag={to_tag}\r\nCall-ID: a-call-1@192.0.2.10\r\n\
CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    pub(super) fn a_request(&mut self, request: Message<'static>) -> (u32, Vec<Action<u32>>) {
        self.next_server_tx += 1;
        let tx = self.next_server_tx;
        if !self.call.is_terminated() {
            self.live_requests.push(tx);
        }
        (tx, self.event(CallEvent::Request { tx, request }))
    }

    /// BYE from B inside the B-leg dialog.
    pub(super) fn bye_from_b(&self) -> Message<'static> {
        let (_, inv) = self.b_invite.as_ref().expect("B-leg INVITE sent");
        parse(&format!(
            "BYE sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKbb\r\n\
Max-Forwards: 70\r\nFrom: {};tag=b-tag-1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n",
            inv.header(&HeaderName::To).expect("To"),
            inv.header(&HeaderName::From).expect("From"),
            inv.call_id().expect("Call-ID"),
        ))
    }

    /// Asserts the call ended with `cause` and `a_status`, media was released `releases` times in
    /// all, `Ended` was the last action, and later events produce nothing.
    pub(super) fn assert_ended(&mut self, cause: EndCause, a_status: u16, releases: usize) {
        let last = self.all.last().expect("some action");
        match last {
            Action::Ended {
                cause: c,
                a_status: s,
                ..
            } => assert_eq!((*c, *s), (cause, a_status)),
            other => panic!("last action is not Ended: {other:?}"),
        }
        let released = self
            .all
            .iter()
            .filter(|a| matches!(a, Action::ReleaseMedia))
            .count();
        assert_eq!(released, releases, "ReleaseMedia count");
        assert_eq!(self.call.media_releases() as usize, releases);
        assert!(self.call.is_terminated());
        assert_eq!(self.call.poll_timeout(), None);
        let bye = self.a_in_dialog("BYE", 999, &self.a_tag());
        assert!(self.a_request(bye).1.is_empty(), "nothing after Ended");
    }
}

/// Our addresses, with a 30 s ring timeout.
pub(super) fn test_config() -> CallConfig {
    let mut config = CallConfig::new("203.0.113.1:5060", "UDP", "sip:sb@203.0.113.1:5060");
    config.ring_timeout = Duration::from_secs(30);
    config
}

/// Statuses of the responses sent to the A-leg INVITE (server transaction 1).
pub(super) fn a_statuses(actions: &[Action<u32>]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { tx: 1, response } => response.status(),
            _ => None,
        })
        .collect()
}

/// The requests sent on `leg` with `method`, with their transaction ids.
pub(super) fn sent(
    actions: &[Action<u32>],
    leg: Leg,
    method: Method<'_>,
) -> Vec<(ClientTxId, Message<'static>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendRequest {
                leg: l,
                tx,
                request,
                ..
            } if *l == leg && request.method() == Some(&method) => Some((*tx, request.clone())),
            _ => None,
        })
        .collect()
}

/// The response sent on server transaction `tx`.
pub(super) fn response_on(actions: &[Action<u32>], tx: u32) -> Option<Message<'static>> {
    actions.iter().find_map(|a| match a {
        Action::Respond { tx: t, response } if *t == tx => Some(response.clone()),
        _ => None,
    })
}

/// Encodes and re-parses a message, as a peer would see it.
pub(super) fn on_the_wire(m: &Message<'_>) -> Message<'static> {
    parse(&m.encode_string())
}

trait EncodeString {
    fn encode_string(&self) -> String;
}

impl EncodeString for Message<'_> {
    fn encode_string(&self) -> String {
        String::from_utf8(self.encode()).expect("test messages are UTF-8")
    }
}
