//! Sans-IO SIP transaction layer (RFC 3261 §17, RFC 6026).
//!
//! The four transaction state machines of RFC 3261 §17 (with the RFC 6026 Accepted state on
//! both INVITE sides) and a [`TransactionLayer`] that owns many of them. Nothing here does I/O
//! or reads the clock (the quinn-proto model): every input carries `now`, and outputs are polled.
//! The crate does not know the SIP message type: it is generic over [`TransactionMessage`].
//!
//! # Module map
//! - `timer`: [`TimerConfig`] (T1, T2, T4) and [`Timer`] A–M with their RFC meaning and durations.
//! - `message`: the [`TransactionMessage`] trait and [`TransactionEvent`] (what the TU is told).
//! - `client_invite`, `client_non_invite`, `server_invite`, `server_non_invite`: one state
//!   machine per file ([`ClientInviteTransaction`], [`ClientNonInviteTransaction`],
//!   [`ServerInviteTransaction`], [`ServerNonInviteTransaction`]).
//! - `layer`: [`TransactionLayer`], [`TransactionKey`] matching (§17.1.3, §17.2.3), §8.2.2.2
//!   merged-request detection, the server transaction cap, one earliest deadline.
//! - `error`: [`TransactionError`] (TU misuse of a machine), [`LayerError`].
//!
//! # Usage contract (call order)
//! 1. Feed inputs as they happen, each with the current `now`:
//!    [`TransactionLayer::receive_request`] / [`TransactionLayer::receive_response`] for parsed
//!    messages (the caller extracts [`RequestInfo`] / [`ResponseInfo`] from them),
//!    [`TransactionLayer::send_request`] / [`TransactionLayer::send_response`] from the TU,
//!    [`TransactionLayer::handle_transport_error`] when a send failed.
//! 2. After any input, drain [`TransactionLayer::poll_transmit`] (send each message) and
//!    [`TransactionLayer::poll_event`] (hand each event to the TU; a TU reaction is a new input).
//! 3. Reset the driver's single sleep to [`TransactionLayer::poll_timeout`]; when it wakes, call
//!    [`TransactionLayer::handle_timeout`] and go to 2. Never a task per timer.
//!
//! Retransmission timers (A, E, G) run only over unreliable transports; D, I, J, K are zero over
//! reliable ones, so those transactions terminate at once. The server INVITE transaction sends
//! `100 Trying` itself after 200 ms of TU silence ([`LayerConfig::trying_delay`]; `None` leaves
//! the 100 to the TU, which may also send it at once). ACKs for 2xx responses are never
//! transaction messages: the TU sends them (client) and receives them
//! ([`RequestDecision::AckWithoutTransaction`] or, in the Accepted state,
//! [`TransactionEvent::AckReceived`]). Per RFC 6026 the TU retransmits its 2xx; with
//! [`LayerConfig::retransmit_2xx`] the server INVITE transaction does it instead (§13.3.1.4) until
//! the TU calls [`TransactionLayer::handle_2xx_ack`], reporting `TimedOut` at Timer L otherwise.
//!
//! `M` may be a wrapper that carries the destination with the message (e.g. `struct Outgoing {
//! message, remote, transport }`): then each [`Transmit`] says where to send it, and
//! `build_ack` / `build_trying` copy the destination from the request.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_transaction::*;
//!
//! #[derive(Clone, Debug)]
//! struct Msg(String); // the real integrator uses the SIP message type
//! impl TransactionMessage for Msg {
//!     fn is_ack(&self) -> bool { self.0.starts_with("ACK") }
//!     fn build_ack(_req: &Self, _resp: &Self) -> Self { Msg("ACK".into()) }
//!     fn build_trying(_req: &Self) -> Self { Msg("SIP/2.0 100 Trying".into()) }
//! }
//!
//! let mut layer = TransactionLayer::new(LayerConfig::default());
//! let mut now = Instant::now(); // a real driver reads its clock here, once per wake-up
//! let info = RequestInfo {
//!     method: "OPTIONS", branch: "z9hG4bK776asdhds", sent_by: "192.0.2.1:5060",
//!     call_id: "a84b4c76e66710", from_tag: Some("1928301774"), to_tag: None, cseq: 1,
//!     reliable: false,
//! };
//! match layer.receive_request(now, &info, Msg("OPTIONS sip:b@example.com SIP/2.0".into())) {
//!     RequestDecision::New { key, .. } => {
//!         layer.send_response(now, &key, 200, Msg("SIP/2.0 200 OK".into())).unwrap();
//!     }
//!     RequestDecision::LoopDetected { key, .. } => { /* send_response(.., 482, ..) */ }
//!     RequestDecision::Overloaded => { /* answer 503 statelessly */ }
//!     RequestDecision::Matched { .. } | RequestDecision::AckWithoutTransaction => {}
//! }
//! loop {
//!     while let Some(t) = layer.poll_transmit() { /* socket.send_to(t.message, dest(t.key)) */ }
//!     while let Some((_key, _event)) = layer.poll_event() { /* hand to the TU */ }
//!     let Some(deadline) = layer.poll_timeout() else { break };
//!     now = deadline; // a real driver: sleep_until(deadline) in a select! with the socket
//!     layer.handle_timeout(now);
//! }
//! assert_eq!(layer.len(), 0); // Timer J (32 s) removed the transaction
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod client_invite;
mod client_non_invite;
mod error;
mod layer;
mod message;
mod server_invite;
mod server_non_invite;
mod timer;

#[cfg(test)]
mod invariant_tests;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod testkit;

pub use client_invite::ClientInviteTransaction;
pub use client_non_invite::ClientNonInviteTransaction;
pub use error::{LayerError, TransactionError};
pub use layer::{
    LayerConfig, MAGIC_COOKIE, RequestDecision, RequestInfo, ResponseDecision, ResponseInfo, Role,
    TransactionKey, TransactionLayer, Transmit,
};
pub use message::{TransactionEvent, TransactionMessage};
pub use server_invite::{ServerInviteTransaction, TRYING_DELAY};
pub use server_non_invite::ServerNonInviteTransaction;
pub use timer::{Timer, TimerConfig};
