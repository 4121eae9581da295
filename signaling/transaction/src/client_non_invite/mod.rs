//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

use std::time::Instant;

use crate::message::{Outbox, TransactionEvent, TransactionMessage};
use crate::timer::{Retransmit, Timer, TimerConfig};

#[cfg(test)]
mod tests;

/// A non-INVITE client transaction: sends one request, retransmits it over unreliable
/// transports (Timer E), gives up after Timer F, absorbs final response retransmissions (Timer K).
#[derive(Debug)]
pub struct ClientNonInviteTransaction<M> {
    request: M,
    config: TimerConfig,
    reliable: bool,
    state: State,
    out: Outbox<M>,
}

/// States, named for what they wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for any response; Timer E retransmits (doubling to T2), Timer F gives up.
    Trying {
        retransmit: Option<Retransmit>,
        timer_f: Instant,
    },
    /// A provisional arrived; waiting for the final, retransmitting every T2.
    Proceeding {
        retransmit: Option<Retransmit>,
        timer_f: Instant,
    },
    /// A final arrived; absorbing its retransmissions until Timer K.
    Completed { timer_k: Instant },
    /// Done; may be dropped.
    Terminated,
}

impl<M: TransactionMessage> ClientNonInviteTransaction<M> {
    /// Starts the transaction at `now`: queues `request` for sending, arms Timers E and F.
    pub fn new(now: Instant, request: M, reliable: bool, config: &TimerConfig) -> Self {
        let mut out = Outbox::default();
        out.transmit(request.clone());
        let timer_f = now + Timer::F.duration(config, reliable).unwrap_or_default();
        Self {
            request,
            config: *config,
            reliable,
            state: State::Trying {
                retransmit: Retransmit::start(Timer::E, now, config, reliable),
                timer_f,
            },
            out,
        }
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// Name of the current state (`Trying`, `Proceeding`, `Completed`, `Terminated`).
    pub fn state(&self) -> &'static str {
        match self.state {
            State::Trying { .. } => "Trying",
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Terminated => "Terminated",
        }
    }

    /// True once the transaction reached the Terminated state.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// A response matched to this transaction arrived (RFC 3261 §17.1.2.2).
    ///
    /// Provisional and the first final response go to the TU; retransmitted finals are absorbed.
    /// A status outside 100–699 is ignored.
    pub fn handle_response(&mut self, now: Instant, status: u16, response: M) {
        let (retransmit, timer_f) = match self.state {
            State::Trying {
                retransmit,
                timer_f,
            }
            | State::Proceeding {
                retransmit,
                timer_f,
            } => (retransmit, timer_f),
            State::Completed { .. } | State::Terminated => return,
        };
        match status {
            100..=199 => {
                self.state = State::Proceeding {
                    retransmit,
                    timer_f,
                };
            }
            200..=699 => {
                let k = Timer::K
                    .duration(&self.config, self.reliable)
                    .unwrap_or_default();
                self.state = State::Completed { timer_k: now + k };
            }
            _ => return,
        }
        self.out
            .event(TransactionEvent::Response { status, response });
        if matches!(self.state, State::Completed { timer_k } if timer_k <= now) {
            self.terminate();
        }
    }

    /// Fires every timer due at `now` (E: retransmit; F: time out; K: terminate).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Trying { timer_f, .. } | State::Proceeding { timer_f, .. } if timer_f <= now => {
                self.out.event(TransactionEvent::TimedOut);
                self.terminate();
            }
            State::Trying {
                retransmit: Some(r),
                timer_f,
            } if r.at <= now => {
                self.out.transmit(self.request.clone());
                self.state = State::Trying {
                    retransmit: Some(r.backoff(now, Some(self.config.t2))),
                    timer_f,
                };
            }
            State::Proceeding {
                retransmit: Some(r),
                timer_f,
            } if r.at <= now => {
                // §17.1.2.2: in Proceeding, Timer E is reset to T2 at each firing.
                self.out.transmit(self.request.clone());
                let retransmit = Some(Retransmit {
                    at: now + self.config.t2,
                    interval: self.config.t2,
                });
                self.state = State::Proceeding {
                    retransmit,
                    timer_f,
                };
            }
            State::Completed { timer_k } if timer_k <= now => self.terminate(),
            _ => {}
        }
    }

    /// The transport failed to send the request: inform the TU and terminate (§17.1.4).
    pub fn handle_transport_error(&mut self) {
        if self.state != State::Terminated {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// The next message to send (the request, then its retransmissions).
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
            State::Trying {
                retransmit,
                timer_f,
            }
            | State::Proceeding {
                retransmit,
                timer_f,
            } => Some(retransmit.map_or(timer_f, |r| r.at.min(timer_f))),
            State::Completed { timer_k } => Some(timer_k),
            State::Terminated => None,
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.out.event(TransactionEvent::Terminated);
    }
}
