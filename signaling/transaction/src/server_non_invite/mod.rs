//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use std::time::Instant;

use crate::error::{TransactionError, check_status};
use crate::message::{Outbox, TransactionEvent, TransactionMessage};
use crate::timer::{Timer, TimerConfig};

#[cfg(test)]
mod tests;

/// A non-INVITE server transaction: answers request retransmissions with the last response and
/// absorbs them until Timer J after the final response.
#[derive(Debug)]
pub struct ServerNonInviteTransaction<M> {
    request: M,
    config: TimerConfig,
    reliable: bool,
    state: State<M>,
    out: Outbox<M>,
}

/// States, named for what they wait for.
#[derive(Debug)]
enum State<M> {
    /// Waiting for the TU's first response; retransmissions are absorbed silently.
    Trying,
    /// Waiting for the TU's final response; retransmissions get the last provisional.
    Proceeding { last_provisional: M },
    /// Absorbing request retransmissions (answered with the final) until Timer J.
    Completed { final_response: M, timer_j: Instant },
    /// Done; may be dropped.
    Terminated,
}

impl<M: TransactionMessage> ServerNonInviteTransaction<M> {
    /// Creates the transaction for a new `request` received at `now`. The TU must then answer
    /// with [`Self::send_response`].
    pub fn new(now: Instant, request: M, reliable: bool, config: &TimerConfig) -> Self {
        let _ = now; // no timer runs before the TU answers
        Self {
            request,
            config: *config,
            reliable,
            state: State::Trying,
            out: Outbox::default(),
        }
    }

    /// The request that created this transaction.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// Name of the current state (`Trying`, `Proceeding`, `Completed`, `Terminated`).
    pub fn state(&self) -> &'static str {
        match self.state {
            State::Trying => "Trying",
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Terminated => "Terminated",
        }
    }

    /// True once the transaction reached the Terminated state.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// A retransmission of the request arrived (§17.2.2): the last response, if any, is resent.
    pub fn handle_request(&mut self, now: Instant, request: M) {
        let _ = (now, request);
        match &self.state {
            State::Trying => {}
            State::Proceeding { last_provisional } => self.out.transmit(last_provisional.clone()),
            State::Completed { final_response, .. } => self.out.transmit(final_response.clone()),
            State::Terminated => return,
        }
        self.out.event(TransactionEvent::RetransmittedRequest);
    }

    /// The TU sends a response: provisional (1xx) or final (200–699).
    ///
    /// # Errors
    /// [`TransactionError::InvalidStatus`] outside 100–699;
    /// [`TransactionError::ResponseNotAllowed`] after the final response.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        response: M,
    ) -> Result<(), TransactionError> {
        check_status(status)?;
        if matches!(self.state, State::Completed { .. } | State::Terminated) {
            return Err(TransactionError::ResponseNotAllowed {
                status,
                state: self.state(),
            });
        }
        self.out.transmit(response.clone());
        if status < 200 {
            self.state = State::Proceeding {
                last_provisional: response,
            };
            return Ok(());
        }
        let j = Timer::J
            .duration(&self.config, self.reliable)
            .unwrap_or_default();
        self.state = State::Completed {
            final_response: response,
            timer_j: now + j,
        };
        if j.is_zero() {
            self.terminate();
        }
        Ok(())
    }

    /// Fires Timer J if due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Completed { timer_j, .. } if timer_j <= now) {
            self.terminate();
        }
    }

    /// The transport failed to send a response: inform the TU and terminate (§17.2.4).
    pub fn handle_transport_error(&mut self) {
        if !self.is_terminated() {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<M> {
        self.out.poll_transmit()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent<M>> {
        self.out.poll_event()
    }

    /// The earliest deadline at which [`Self::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Completed { timer_j, .. } => Some(timer_j),
            _ => None,
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.out.event(TransactionEvent::Terminated);
    }
}
