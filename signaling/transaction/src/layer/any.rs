//! One enum over the four machines, so the layer can store them in one map.

use std::time::Instant;

use crate::{
    ClientInviteTransaction, ClientNonInviteTransaction, ServerInviteTransaction,
    ServerNonInviteTransaction, TransactionError, TransactionEvent, TransactionMessage,
};

/// Any of the four transaction state machines (named as in RFC 3261 §17).
#[allow(clippy::enum_variant_names)]
#[derive(Debug)]
pub(crate) enum AnyTransaction<M> {
    ClientInvite(ClientInviteTransaction<M>),
    ClientNonInvite(ClientNonInviteTransaction<M>),
    ServerInvite(ServerInviteTransaction<M>),
    ServerNonInvite(ServerNonInviteTransaction<M>),
}

macro_rules! each {
    ($self:expr, $t:ident => $body:expr) => {
        match $self {
            AnyTransaction::ClientInvite($t) => $body,
            AnyTransaction::ClientNonInvite($t) => $body,
            AnyTransaction::ServerInvite($t) => $body,
            AnyTransaction::ServerNonInvite($t) => $body,
        }
    };
}

impl<M: TransactionMessage> AnyTransaction<M> {
    pub(crate) fn state(&self) -> &'static str {
        each!(self, t => t.state())
    }

    pub(crate) fn is_terminated(&self) -> bool {
        each!(self, t => t.is_terminated())
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<M> {
        each!(self, t => t.poll_transmit())
    }

    pub(crate) fn poll_event(&mut self) -> Option<TransactionEvent<M>> {
        each!(self, t => t.poll_event())
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        each!(self, t => t.poll_timeout())
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        each!(self, t => t.handle_timeout(now))
    }

    pub(crate) fn handle_transport_error(&mut self) {
        each!(self, t => t.handle_transport_error())
    }

    /// Routes a request (retransmission or ACK) to a server transaction; ignored on client side.
    pub(crate) fn handle_request(&mut self, now: Instant, request: M) {
        match self {
            Self::ServerInvite(t) => t.handle_request(now, request),
            Self::ServerNonInvite(t) => t.handle_request(now, request),
            Self::ClientInvite(_) | Self::ClientNonInvite(_) => {}
        }
    }

    /// Routes a response to a client transaction; ignored on server side.
    pub(crate) fn handle_response(&mut self, now: Instant, status: u16, response: M) {
        match self {
            Self::ClientInvite(t) => t.handle_response(now, status, response),
            Self::ClientNonInvite(t) => t.handle_response(now, status, response),
            Self::ServerInvite(_) | Self::ServerNonInvite(_) => {}
        }
    }

    /// The TU matched the ACK for a 2xx; only meaningful for a server INVITE transaction.
    pub(crate) fn handle_2xx_ack(&mut self) {
        if let Self::ServerInvite(t) = self {
            t.handle_2xx_ack();
        }
    }

    /// Sends a TU response through a server transaction.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        response: M,
    ) -> Result<(), TransactionError> {
        match self {
            Self::ServerInvite(t) => t.send_response(now, status, response),
            Self::ServerNonInvite(t) => t.send_response(now, status, response),
            Self::ClientInvite(_) | Self::ClientNonInvite(_) => {
                Err(TransactionError::ResponseNotAllowed {
                    status,
                    state: "client transaction",
                })
            }
        }
    }
}
