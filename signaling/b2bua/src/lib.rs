//! Switchboard's back-to-back user agent, sans-IO: RFC 3261 §12 dialogs and the state machine of one
//! call with two independent legs, driven by events and answering with actions. No sockets, no
//! clock reads, no tokio: every input carries `now`, randomness is injected.
//!
//! # Module map
//! | module | what |
//! | --- | --- |
//! | [`dialog`] | [`Dialog`] (RFC 3261 §12): [`DialogId`], [`DialogState`], UAS/UAC creation, in-dialog requests and the 2xx ACK (§12.2.1.1, §13.2.2.4), request matching and CSeq order (§12.2.2, [`RequestRejection`]) |
//! | `call` | [`Call`]: the two-leg state machine; `call/event.rs` has [`CallEvent`], [`Action`], [`CallConfig`], [`RouteTarget`]; `setup.rs` the INVITE, media and B-leg responses; `relay.rs` the ordered upstream relay; `indialog/` re-INVITE, UPDATE and INFO relayed between the legs (`mod.rs` the request and its relay, `answer.rs` the answer, ACKs and 2xx retransmissions); `timer.rs` the RFC 4028 session timer of the A leg; `teardown.rs` CANCEL, BYE, failures, timeouts and the end |
//! | `failure` | [`map_failure`] (B-leg status → upstream status, reason, [`HangupCause`]), [`EndCause`], [`FailureSide`] |
//! | `random` | [`RandomSource`] for tags, branches and Call-IDs; [`SequentialTokens`] for tests |
//!
//! # Driver contract (events in, actions out)
//! The driver owns the transports, the transaction layer (`switchboard-transaction`), the dialplan and
//! the media-node client; this crate never sees a transaction machine, only transaction-user events.
//! 1. A new INVITE (not matching any call) that the dialplan routes: [`Call::new`] with its server
//!    transaction key `K`, its source address (requests to the caller go there), the [`RouteTarget`]
//!    (B-leg Request-URI and next hop) and a [`RandomSource`]. Index the call by the A-leg Call-ID, and
//!    by the B-leg Call-ID after each B-leg INVITE ([`Call::b_call_id`]; [`Call::leg_of`] tells the
//!    leg). Further routes for serial failover go in with [`Call::add_fallback_route`].
//! 2. After every input drain [`Call::poll_action`] in order:
//!    * [`Action::Respond`]: send on that server transaction. The call retransmits its own 2xx
//!      to an INVITE (the A-leg INVITE and relayed re-INVITEs) until the ACK (RFC 3261
//!      §13.3.1.4, T1 doubling to T2 from [`CallConfig`]): the same response again on the same
//!      transaction, which must accept further 2xx in the RFC 6026 Accepted state. The transaction
//!      layer must not retransmit them too (`LayerConfig::retransmit_2xx` off).
//!    * [`Action::SendRequest`]: start a client transaction to `next_hop`; report every response with
//!      [`CallEvent::Response`] (for the B-leg INVITE also 2xx retransmissions) and its end without a
//!      final response with [`CallEvent::ClientTimedOut`] (Timer B/F, transport error). Every
//!      `ClientTxId` must end in one of the two, or the call cannot finish.
//!    * [`Action::SendAck`]: send the ACK for a 2xx directly (no transaction).
//!    * [`Action::AllocateMedia`] → [`CallEvent::MediaAllocated`] (A's offer rewritten for B) or
//!      [`CallEvent::MediaFailed`]; [`Action::UpdateMedia`] (an SDP from `leg`: point the node's
//!      leg at it) → [`CallEvent::MediaUpdated`] (it rewritten for the other leg) or
//!      [`CallEvent::MediaUpdateFailed`] with the same op. SDP is opaque bytes here.
//!    * [`Action::ReleaseMedia`]: release the session (exactly once per allocation that did not fail;
//!      it may come while the allocation is still running).
//!    * [`Action::Ended`]: last action; the call is [`Call::is_terminated`] and can be dropped.
//! 3. Matched inputs: an in-dialog request on either leg → [`CallEvent::Request`] with its server
//!    transaction key (the call answers it, 481 when no dialog matches, 500 when out of order;
//!    every request gets exactly one final response, 487 when the call ends first); an ACK for
//!    our 2xx (to the INVITE or to a re-INVITE, either leg) → [`CallEvent::Ack`]; a CANCEL
//!    matching the A-leg INVITE → answer it 200 in the transaction layer, then
//!    [`CallEvent::Cancel`]; operator hang-up → [`CallEvent::Hangup`].
//! 4. Keep one timer at [`Call::poll_timeout`] (ring timeout, ACK timeouts, 2xx retransmissions,
//!    session timer refreshes and expiry); on expiry call [`Call::handle_timeout`] and drain
//!    again. A transaction layer that retransmits the 2xx itself
//!    may instead report its Timer L give-up as [`CallEvent::AckTimedOut`].
//! 5. Leak checks: after `Ended`, [`Call::media_releases`] equals [`Call::media_allocations`]
//!    (unless allocation failed) and both [`Call::a_dialog`] and [`Call::b_dialog`] are terminated.
//!
//! # Flows
//! Supported: 100 Trying at once; a B-leg INVITE with a new Call-ID, From tag, branch, CSeq 1,
//! Max-Forwards − 1, our Via and Contact, A's From/To identities, and nothing else of A (no Via,
//! Record-Route, Route, Contact, Call-ID or tags: topology hidden both ways, B's reason phrases are
//! not passed on); 180/181/182/183 relayed with A's To tag, A's Record-Route and our Contact
//! (§12.1.1), SDP rewritten through the media node, in B's order (a 200 never overtakes a 183
//! waiting for its rewrite); 200 → ACK to B, 200 with the rewritten answer to A (retransmitted
//! until A's ACK), ACK from A; BYE from either side (200, BYE to the other leg); CANCEL from A (487
//! up, CANCEL down once B sent a provisional, per §9.1; a 2xx crossing it is ACKed and BYEd); a BYE
//! from A on the early dialog (487 to its INVITE); B-leg failures mapped by [`map_failure`] (486 →
//! 486, 480 → 480, 408/Timer B → 408, 5xx → 503, ...); ring timeout (CANCEL to B, 480 up); no ACK
//! within [`CallConfig::ack_timeout`] (BYE both legs, §13.3.1.4); media failures (503 up, BYE to an
//! answered B); 2xx retransmissions ACKed again; a 2xx from another fork ACKed and BYEd; serial
//! failover to fallback routes on retryable B-leg failures (same media session, new B-leg dialog);
//! in-dialog OPTIONS answered 200; our BYE and CANCEL carry an RFC 3326 `Reason: Q.850;cause=N`.
//!
//! In a confirmed call, from either leg: a re-INVITE with SDP (hold with `a=sendonly`/`inactive` or
//! `c=0.0.0.0`, resume, any media change) is relayed as a new INVITE transaction in the other leg's
//! dialog (its next CSeq, our Via and Contact, nothing of the offerer's), the offer given to the
//! media node for the offerer's leg and rewritten to the node's other-leg address, the other leg's
//! 2xx ACKed at once on that leg and its answer rewritten likewise into our 2xx to the offerer,
//! which is retransmitted (T1 doubling to T2) until its ACK (none for 64*T1: BYE both legs,
//! §13.3.1.4); a 4xx-6xx (488, 491, ...) or a timeout (408) is relayed and the offerer's leg on the
//! node is pointed back at its previous SDP, so the session stays as it was (a 481 also ends the
//! call, §12.2.1.2); a node refusing the offer gives 488. Glare (§14.2): an offer arriving while
//! one towards that leg is pending (or our 2xx to A's INVITE awaits its ACK, or our session refresh
//! re-INVITE to A is unanswered) gets 491; a second offer from the same leg before we answered its
//! first gets 500 with Retry-After (0-10 s). UPDATE (RFC 3311) is relayed the same way without an
//! ACK, with or without SDP; INFO (RFC 6086) is relayed with its body, Content-Type, Info-Package,
//! Recv-Info and Content-Disposition, and the other leg's final response (and its body) comes back.
//! Target refreshes update the remote target (§12.2). Requests pending when the call ends get 487
//! (§15.1.2). A re-INVITE without SDP is answered here, not relayed: our 2xx offers the SDP we last
//! sent that leg and the answer in its ACK goes to the media node (§13.2.1).
//!
//! Session timers (RFC 4028) on both legs (see `call/timer.rs`): on the A leg a `Session-Expires`
//! below [`CallConfig::min_se`] gets 422 with `Min-SE`, `Require: timer` is accepted, and our 2xx
//! names the refresher (the caller when it says so or supports `timer`, else us); our B-leg INVITE
//! asks for [`CallConfig::session_expires`] (a callee's 422 gets it again with the callee's
//! `Min-SE`, once) and the callee's 2xx decides that leg's timer. Every successful re-INVITE/UPDATE
//! on a leg refreshes it, an UPDATE without SDP from a leg with a timer is answered here; as
//! refresher we send UPDATE (when the peer allows it) or a re-INVITE with our last SDP at half the
//! interval; without a refresh, `min(32 s, interval/3)` before expiry (or when our refresh gets
//! 408/481/no answer), BYE on both legs with `Reason: Q.850;cause=102` ([`EndCause::SessionExpired`]).
//!
//! Reliable provisional responses (RFC 3262): our B-leg INVITEs offer `100rel` and the callee's
//! reliable 1xx are PRACKed in their early dialogs; a caller whose INVITE requires `100rel` gets
//! its 1xx reliably (RSeq, retransmitted until its PRACK, the next response held until then, 504
//! after 64*T1 without one).
//!
//! The A-leg INVITE is refused with 483 (Max-Forwards 0), 400 (no Contact or From tag), 420 (any
//! Require but `timer` and `100rel`; `Unsupported` lists the tags) or 422 (`Session-Expires` too
//! small). An INVITE without SDP (late offer) gets our offer in the 2xx.
//!
//! Not yet: in-dialog requests on an early dialog (re-INVITE/UPDATE/INFO answered 491 until both
//! legs are answered); provisional responses to a relayed request (not relayed; the offerer's
//! transaction sends its own 100); offers in PRACK (488); renegotiating a session interval in a
//! refresh (the first one stays); copying B's Reason upstream.
//!
//! # Example
//! ```
//! use std::time::Instant;
//! use switchboard_b2bua::{Action, Call, CallConfig, CallEvent, RouteTarget, SequentialTokens};
//! use switchboard_sip::Message;
//!
//! let invite = Message::parse(b"INVITE sip:bob@sb.example SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa1\r\nMax-Forwards: 70\r\n\
//! From: <sip:alice@a.example>;tag=a1\r\nTo: <sip:bob@sb.example>\r\nCall-ID: c1\r\n\
//! CSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.10>\r\nContent-Type: application/sdp\r\n\
//! Content-Length: 4\r\n\r\nv=0\n").expect("valid");
//! let now = Instant::now();
//! let route = RouteTarget {
//!     request_uri: "sip:bob@198.51.100.20".into(),
//!     next_hop: "198.51.100.20:5060".parse().expect("addr"),
//!     auth: None,
//!     transport: Default::default(),
//! };
//! let config = CallConfig::new("203.0.113.1:5060", "UDP", "sip:sb@203.0.113.1");
//! let rng = Box::new(SequentialTokens::new("x"));
//! let mut call = Call::new(now, config, invite, 7u32, "192.0.2.10:5060".parse().expect("addr"), route, rng);
//! assert!(matches!(call.poll_action(), Some(Action::Respond { tx: 7, .. }))); // 100 Trying
//! assert!(matches!(call.poll_action(), Some(Action::AllocateMedia { .. })));
//! call.handle(now, CallEvent::MediaAllocated { b_offer: b"v=0\n".to_vec() });
//! let Some(Action::SendRequest { request, .. }) = call.poll_action() else { panic!("B-leg INVITE") };
//! assert_ne!(request.call_id().expect("Call-ID"), "c1");
//! call.handle(now, CallEvent::Cancel);
//! assert!(matches!(call.poll_action(), Some(Action::Respond { tx: 7, .. }))); // 487
//! assert!(!call.is_terminated()); // the B leg ends when its INVITE does (487 or Timer B)
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod call;
pub mod dialog;
mod failure;
mod random;

pub use call::{
    Action, Call, CallConfig, CallEvent, ChallengeAnswer, ClientTxId, Leg, LegTransport, MediaOp,
    Parties, RouteAuth, RouteTarget, SecondParty, answer_challenge,
};
pub use dialog::{Dialog, DialogError, DialogId, DialogState, RequestRejection};
pub use failure::{EndCause, FailureSide, HangupCause, MappedFailure, map_failure};
pub use random::{RandomSource, SequentialTokens};
