//! What the transaction layer needs from a SIP message, and what it reports to the TU.

use std::collections::VecDeque;

/// The few things a transaction state machine needs from a SIP message.
///
/// The machines never parse: responses arrive with their status code, requests arrive already
/// matched to their transaction. The integrator implements this for the real message type.
pub trait TransactionMessage: Clone {
    /// True if this message is an ACK request (RFC 3261 §17.2.1: absorbed by, or passed through,
    /// the server INVITE transaction).
    fn is_ack(&self) -> bool;

    /// Builds the ACK a client INVITE transaction sends for a non-2xx final `response` to
    /// `request` (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From, CSeq number and the single top
    /// Via of `request` (same branch), the To header of `response` (with its tag), the Route
    /// headers of `request`, CSeq method `ACK`, no body.
    fn build_ack(request: &Self, response: &Self) -> Self;

    /// Builds `100 Trying` for `request` (RFC 3261 §8.2.6.1): copies Via, From, To (no tag is
    /// added), Call-ID, CSeq and Timestamp. Sent by the server INVITE transaction when the TU is
    /// silent for 200 ms (RFC 3261 §17.2.1).
    fn build_trying(request: &Self) -> Self;
}

/// Something a transaction reports to its transaction user (TU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionEvent<M> {
    /// Client side: a response for the TU (provisional, final, or an RFC 6026 2xx retransmission
    /// or forked 2xx received in the Accepted state).
    Response {
        /// The status code, as passed to `handle_response`.
        status: u16,
        /// The response message.
        response: M,
    },
    /// Server INVITE, Accepted state (RFC 6026 §8.7): an ACK that matched the transaction,
    /// passed to the TU.
    AckReceived(M),
    /// Server side: a retransmitted request was absorbed (the last response, if any, was resent).
    RetransmittedRequest,
    /// Timer B, F or H fired: no final response (client) or no ACK (server INVITE) in time.
    TimedOut,
    /// The transport reported a failure sending this transaction's message.
    TransportError,
    /// The transaction reached the Terminated state; it may be dropped.
    Terminated,
}

/// Queued outputs of one state machine: messages to send and events for the TU.
#[derive(Debug)]
pub(crate) struct Outbox<M> {
    transmits: VecDeque<M>,
    events: VecDeque<TransactionEvent<M>>,
}

impl<M> Default for Outbox<M> {
    fn default() -> Self {
        Self {
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }
}

impl<M> Outbox<M> {
    pub(crate) fn transmit(&mut self, msg: M) {
        self.transmits.push_back(msg);
    }

    pub(crate) fn event(&mut self, event: TransactionEvent<M>) {
        self.events.push_back(event);
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<M> {
        self.transmits.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<TransactionEvent<M>> {
        self.events.pop_front()
    }
}
