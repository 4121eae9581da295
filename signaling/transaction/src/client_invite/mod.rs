//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as updated by RFC 6026 §8.4).

use std::time::Instant;

use crate::message::{Outbox, TransactionEvent, TransactionMessage};
use crate::timer::{Retransmit, Timer, TimerConfig};

#[cfg(test)]
mod tests;

/// An INVITE client transaction: retransmits the INVITE over unreliable transports (Timer A),
/// gives up after Timer B, ACKs non-2xx finals itself (absorbing their retransmissions until
/// Timer D), and passes every 2xx to the TU in the RFC 6026 Accepted state until Timer M.
#[derive(Debug)]
pub struct ClientInviteTransaction<M> {
    request: M,
    config: TimerConfig,
    reliable: bool,
    state: State<M>,
    out: Outbox<M>,
}

/// States, named for what they wait for.
#[derive(Debug)]
enum State<M> {
    /// Waiting for any response; Timer A retransmits (doubling), Timer B gives up.
    Calling {
        retransmit: Option<Retransmit>,
        timer_b: Instant,
    },
    /// A provisional arrived; waiting for the final (the TU decides when to CANCEL).
    Proceeding,
    /// A non-2xx final arrived and was ACKed; re-ACKing its retransmissions until Timer D.
    Completed { ack: M, timer_d: Instant },
    /// A 2xx arrived (RFC 6026); passing 2xx retransmissions and forked 2xx to the TU until Timer M.
    Accepted { timer_m: Instant },
    /// Done; may be dropped.
    Terminated,
}

impl<M: TransactionMessage> ClientInviteTransaction<M> {
    /// Starts the transaction at `now`: queues the INVITE for sending, arms Timers A and B.
    pub fn new(now: Instant, request: M, reliable: bool, config: &TimerConfig) -> Self {
        let mut out = Outbox::default();
        out.transmit(request.clone());
        let timer_b = now + Timer::B.duration(config, reliable).unwrap_or_default();
        Self {
            request,
            config: *config,
            reliable,
            state: State::Calling {
                retransmit: Retransmit::start(Timer::A, now, config, reliable),
                timer_b,
            },
            out,
        }
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// Name of the current state (`Calling`, `Proceeding`, `Completed`, `Accepted`, `Terminated`).
    pub fn state(&self) -> &'static str {
        match self.state {
            State::Calling { .. } => "Calling",
            State::Proceeding => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Accepted { .. } => "Accepted",
            State::Terminated => "Terminated",
        }
    }

    /// True once the transaction reached the Terminated state.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// A response matched to this transaction arrived (RFC 3261 §17.1.1.2, RFC 6026 §8.4).
    ///
    /// A status outside 100–699 is ignored.
    pub fn handle_response(&mut self, now: Instant, status: u16, response: M) {
        if !(100..=699).contains(&status) {
            return;
        }
        match &self.state {
            State::Calling { .. } | State::Proceeding => self.first_response(now, status, response),
            State::Completed { ack, .. } => {
                // §17.1.1.2: a retransmitted final is ACKed again and not passed up.
                if status >= 300 {
                    self.out.transmit(ack.clone());
                }
            }
            State::Accepted { .. } => {
                // RFC 6026 §8.4: 2xx retransmissions (and forked 2xx) go to the TU.
                if (200..300).contains(&status) {
                    self.out
                        .event(TransactionEvent::Response { status, response });
                }
            }
            State::Terminated => {}
        }
    }

    fn first_response(&mut self, now: Instant, status: u16, response: M) {
        match status {
            100..=199 => self.state = State::Proceeding,
            200..=299 => {
                let m = Timer::M
                    .duration(&self.config, self.reliable)
                    .unwrap_or_default();
                self.state = State::Accepted { timer_m: now + m };
            }
            _ => {
                let ack = M::build_ack(&self.request, &response);
                self.out.transmit(ack.clone());
                let d = Timer::D
                    .duration(&self.config, self.reliable)
                    .unwrap_or_default();
                self.state = State::Completed {
                    ack,
                    timer_d: now + d,
                };
            }
        }
        self.out
            .event(TransactionEvent::Response { status, response });
        if matches!(self.state, State::Completed { timer_d, .. } if timer_d <= now) {
            self.terminate();
        }
    }

    /// Fires every timer due at `now` (A: retransmit; B: time out; D, M: terminate).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Calling { timer_b, .. } if *timer_b <= now => {
                self.out.event(TransactionEvent::TimedOut);
                self.terminate();
            }
            State::Calling {
                retransmit: Some(r),
                timer_b,
            } if r.at <= now => {
                // §17.1.1.2: Timer A doubles with no cap; Timer B bounds it.
                let (retransmit, timer_b) = (Some(r.backoff(now, None)), *timer_b);
                self.out.transmit(self.request.clone());
                self.state = State::Calling {
                    retransmit,
                    timer_b,
                };
            }
            State::Completed { timer_d, .. } if *timer_d <= now => self.terminate(),
            State::Accepted { timer_m } if *timer_m <= now => self.terminate(),
            _ => {}
        }
    }

    /// The transport failed to send the INVITE or ACK: inform the TU and terminate (§17.1.4).
    pub fn handle_transport_error(&mut self) {
        if !self.is_terminated() {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// The next message to send (the INVITE, its retransmissions, ACKs for non-2xx finals).
    pub fn poll_transmit(&mut self) -> Option<M> {
        self.out.poll_transmit()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent<M>> {
        self.out.poll_event()
    }

    /// The earliest deadline at which [`Self::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Calling {
                retransmit,
                timer_b,
            } => Some(retransmit.map_or(*timer_b, |r| r.at.min(*timer_b))),
            State::Completed { timer_d, .. } => Some(*timer_d),
            State::Accepted { timer_m } => Some(*timer_m),
            State::Proceeding | State::Terminated => None,
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.out.event(TransactionEvent::Terminated);
    }
}
