//! The layer's configuration and the decisions it hands the TU.

use std::time::Duration;

use super::TransactionKey;
use crate::{TRYING_DELAY, TimerConfig};

/// Configuration of a [`TransactionLayer`](crate::TransactionLayer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerConfig {
    /// T1, T2, T4 for every transaction.
    pub timers: TimerConfig,
    /// Cap on live server transactions; above it new requests get [`RequestDecision::Overloaded`].
    /// Default 100 000.
    pub max_server_transactions: usize,
    /// Delay before a server INVITE transaction sends `100 Trying` itself; `None` leaves it to
    /// the TU. Default [`TRYING_DELAY`] (200 ms).
    pub trying_delay: Option<Duration>,
    /// Retransmit 2xx responses to INVITE on the TU's behalf until it reports the ACK with
    /// [`TransactionLayer::handle_2xx_ack`](crate::TransactionLayer::handle_2xx_ack) (RFC 3261
    /// §13.3.1.4; see [`crate::ServerInviteTransaction::set_retransmit_2xx`]). Default `false`.
    pub retransmit_2xx: bool,
}

impl Default for LayerConfig {
    fn default() -> Self {
        Self {
            timers: TimerConfig::default(),
            max_server_transactions: 100_000,
            trying_delay: Some(TRYING_DELAY),
            retransmit_2xx: false,
        }
    }
}

/// What the layer did with a received request, and what the TU must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestDecision {
    /// A new server transaction exists; the TU handles the request and answers with
    /// [`TransactionLayer::send_response`](crate::TransactionLayer::send_response). For a CANCEL, `cancels` is the INVITE server
    /// transaction it refers to, if that is still live (§9.2).
    New {
        /// The new transaction.
        key: TransactionKey,
        /// For CANCEL: the matching INVITE server transaction.
        cancels: Option<TransactionKey>,
    },
    /// A retransmission or an ACK, handled by its server transaction (poll for output).
    Matched {
        /// The transaction it matched.
        key: TransactionKey,
    },
    /// An ACK that matches no transaction (the ACK for a 2xx, §13.2.2.4): pass it to the dialog.
    AckWithoutTransaction,
    /// RFC 3261 §8.2.2.2 merged request (same From tag, Call-ID and CSeq as a request in
    /// progress, different branch). A server transaction was created for it; the TU must answer
    /// `482 Loop Detected` through it with [`TransactionLayer::send_response`](crate::TransactionLayer::send_response).
    LoopDetected {
        /// The transaction to answer 482 on.
        key: TransactionKey,
        /// The transaction of the original request.
        original: TransactionKey,
    },
    /// The server transaction cap is reached: answer `503 Service Unavailable` statelessly
    /// (no transaction was created).
    Overloaded,
}

/// What the layer did with a received response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseDecision {
    /// Routed to its client transaction (poll for output).
    Matched(TransactionKey),
    /// No client transaction matches (e.g. a 2xx retransmission after Timer M): the core decides
    /// (a UA core may pass it to the dialog; a proxy drops it, RFC 6026 §7.2).
    Stray,
}

/// A message to send, with the transaction it belongs to (the driver knows where to send it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit<M> {
    /// The sending transaction.
    pub key: TransactionKey,
    /// The message.
    pub message: M,
}
