//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as updated by RFC 6026 §8.7).

use std::time::{Duration, Instant};

use crate::error::{TransactionError, check_status};
use crate::message::{Outbox, TransactionEvent, TransactionMessage};
use crate::timer::{Retransmit, Timer, TimerConfig};

#[cfg(test)]
mod tests;

/// How long the server INVITE transaction waits for the TU before sending `100 Trying` itself
/// (RFC 3261 §17.2.1: "if the TU will not generate a provisional response within 200 ms").
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

/// An INVITE server transaction: sends `100 Trying` if the TU is silent, answers INVITE
/// retransmissions with the last response, retransmits non-2xx finals (Timer G) until the ACK
/// (Timer H), absorbs ACKs (Timer I), and after a 2xx waits in the RFC 6026 Accepted state
/// (Timer L), passing matching ACKs to the TU and sending the TU's 2xx retransmissions.
#[derive(Debug)]
pub struct ServerInviteTransaction<M> {
    request: M,
    config: TimerConfig,
    reliable: bool,
    retransmit_2xx: bool,
    state: State<M>,
    out: Outbox<M>,
}

/// States, named for what they wait for.
#[derive(Debug)]
enum State<M> {
    /// Waiting for the TU's final response; `trying_at` is when `100 Trying` is due.
    Proceeding {
        last_provisional: Option<M>,
        trying_at: Option<Instant>,
    },
    /// Waiting for the ACK of a non-2xx final; Timer G retransmits it, Timer H gives up.
    Completed {
        final_response: M,
        retransmit: Option<Retransmit>,
        timer_h: Instant,
    },
    /// ACK received; absorbing ACK retransmissions until Timer I.
    Confirmed { timer_i: Instant },
    /// A 2xx was sent (RFC 6026); absorbing INVITE retransmissions until Timer L, and, if
    /// enabled, retransmitting the 2xx until the ACK is reported.
    Accepted {
        timer_l: Instant,
        resend: Option<Resend2xx<M>>,
    },
    /// Done; may be dropped.
    Terminated,
}

/// The optional RFC 3261 §13.3.1.4 2xx retransmission, done here on the TU's behalf.
#[derive(Debug)]
struct Resend2xx<M> {
    response: M,
    retransmit: Retransmit,
}

impl<M: TransactionMessage> ServerInviteTransaction<M> {
    /// Creates the transaction for a new INVITE received at `now`; `100 Trying` is sent after
    /// [`TRYING_DELAY`] unless the TU sends a provisional or final response first.
    pub fn new(now: Instant, request: M, reliable: bool, config: &TimerConfig) -> Self {
        Self::with_trying_delay(now, request, reliable, config, Some(TRYING_DELAY))
    }

    /// Like [`Self::new`] with a chosen delay for the automatic `100 Trying`: `Some(ZERO)` sends
    /// it at once (queued before this returns), `None` never sends it (the TU answers itself).
    pub fn with_trying_delay(
        now: Instant,
        request: M,
        reliable: bool,
        config: &TimerConfig,
        trying_delay: Option<Duration>,
    ) -> Self {
        let mut tsx = Self {
            request,
            config: *config,
            reliable,
            retransmit_2xx: false,
            state: State::Proceeding {
                last_provisional: None,
                trying_at: trying_delay.map(|d| now + d),
            },
            out: Outbox::default(),
        };
        if trying_delay == Some(Duration::ZERO) {
            tsx.handle_timeout(now);
        }
        tsx
    }

    /// Opt in to retransmitting the 2xx on the TU's behalf (RFC 3261 §13.3.1.4: T1 doubling to
    /// T2, over every transport) until the TU reports the ACK with [`Self::handle_2xx_ack`] or a
    /// matching ACK arrives. If Timer L (64·T1) fires first, [`TransactionEvent::TimedOut`] tells
    /// the TU no ACK came (it should send BYE). Off by default: RFC 6026 leaves this to the TU.
    pub fn set_retransmit_2xx(&mut self, enabled: bool) {
        self.retransmit_2xx = enabled;
    }

    /// The TU (dialog) matched the ACK for the 2xx: stop retransmitting the 2xx.
    pub fn handle_2xx_ack(&mut self) {
        if let State::Accepted { resend, .. } = &mut self.state {
            *resend = None;
        }
    }

    /// The INVITE that created this transaction.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// Name of the current state (`Proceeding`, `Completed`, `Confirmed`, `Accepted`,
    /// `Terminated`).
    pub fn state(&self) -> &'static str {
        match self.state {
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Confirmed { .. } => "Confirmed",
            State::Accepted { .. } => "Accepted",
            State::Terminated => "Terminated",
        }
    }

    /// True once the transaction reached the Terminated state.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// A request matched to this transaction arrived: an INVITE retransmission or an ACK.
    pub fn handle_request(&mut self, now: Instant, request: M) {
        if request.is_ack() {
            self.handle_ack(now, request);
            return;
        }
        match &self.state {
            State::Proceeding {
                last_provisional, ..
            } => {
                if let Some(provisional) = last_provisional {
                    self.out.transmit(provisional.clone());
                }
            }
            State::Completed { final_response, .. } => self.out.transmit(final_response.clone()),
            // RFC 6026 §8.7: the Accepted state absorbs INVITE retransmissions; the TU's own
            // 2xx retransmission (RFC 3261 §13.3.1.4) answers them.
            State::Confirmed { .. } | State::Accepted { .. } => {}
            State::Terminated => return,
        }
        self.out.event(TransactionEvent::RetransmittedRequest);
    }

    fn handle_ack(&mut self, now: Instant, ack: M) {
        match self.state {
            State::Completed { .. } => {
                let i = Timer::I
                    .duration(&self.config, self.reliable)
                    .unwrap_or_default();
                self.state = State::Confirmed { timer_i: now + i };
                if i.is_zero() {
                    self.terminate();
                }
            }
            State::Accepted { .. } => {
                self.handle_2xx_ack();
                self.out.event(TransactionEvent::AckReceived(ack));
            }
            // An ACK before any final, or an ACK retransmission in Confirmed: absorbed.
            State::Proceeding { .. } | State::Confirmed { .. } | State::Terminated => {}
        }
    }

    /// The TU sends a response. In Proceeding: 1xx, 2xx (→ Accepted) or 300–699 (→ Completed).
    /// In Accepted: further 2xx (the TU's retransmissions, RFC 6026 §8.7).
    ///
    /// # Errors
    /// [`TransactionError::InvalidStatus`] outside 100–699;
    /// [`TransactionError::ResponseNotAllowed`] for any other response in any other state.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        response: M,
    ) -> Result<(), TransactionError> {
        check_status(status)?;
        let allowed = match self.state {
            State::Proceeding { .. } => true,
            State::Accepted { .. } => (200..300).contains(&status),
            _ => false,
        };
        if !allowed {
            return Err(TransactionError::ResponseNotAllowed {
                status,
                state: self.state(),
            });
        }
        self.out.transmit(response.clone());
        if let State::Accepted { resend, .. } = &mut self.state {
            if let Some(resend) = resend {
                resend.response = response;
            }
            return Ok(());
        }
        self.state = match status {
            100..=199 => State::Proceeding {
                last_provisional: Some(response),
                trying_at: None,
            },
            200..=299 => State::Accepted {
                timer_l: now
                    + Timer::L
                        .duration(&self.config, self.reliable)
                        .unwrap_or_default(),
                resend: self.retransmit_2xx.then(|| Resend2xx {
                    response,
                    retransmit: Retransmit {
                        at: now + self.config.t1,
                        interval: self.config.t1,
                    },
                }),
            },
            _ => State::Completed {
                final_response: response,
                retransmit: Retransmit::start(Timer::G, now, &self.config, self.reliable),
                timer_h: now
                    + Timer::H
                        .duration(&self.config, self.reliable)
                        .unwrap_or_default(),
            },
        };
        Ok(())
    }

    /// Fires every timer due at `now` (100 Trying; G: retransmit; H: time out; I, L: terminate).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Proceeding {
                last_provisional,
                trying_at,
            } if trying_at.is_some_and(|at| at <= now) => {
                let trying = M::build_trying(&self.request);
                self.out.transmit(trying.clone());
                *last_provisional = Some(trying);
                *trying_at = None;
            }
            State::Completed { timer_h, .. } if *timer_h <= now => {
                self.out.event(TransactionEvent::TimedOut);
                self.terminate();
            }
            State::Completed {
                final_response,
                retransmit: Some(r),
                ..
            } if r.at <= now => {
                // §17.2.1: Timer G doubles, capped at T2.
                self.out.transmit(final_response.clone());
                *r = r.backoff(now, Some(self.config.t2));
            }
            State::Confirmed { timer_i } if *timer_i <= now => self.terminate(),
            State::Accepted { timer_l, resend } if *timer_l <= now => {
                if resend.is_some() {
                    self.out.event(TransactionEvent::TimedOut);
                }
                self.terminate();
            }
            State::Accepted {
                resend: Some(resend),
                ..
            } if resend.retransmit.at <= now => {
                // §13.3.1.4: T1 doubling, capped at T2.
                self.out.transmit(resend.response.clone());
                resend.retransmit = resend.retransmit.backoff(now, Some(self.config.t2));
            }
            _ => {}
        }
    }

    /// The transport failed to send a response. The TU is informed; the transaction terminates,
    /// except in the Accepted state, where the TU owns the 2xx and Timer L still cleans up.
    pub fn handle_transport_error(&mut self) {
        match self.state {
            State::Terminated => {}
            State::Accepted { .. } => self.out.event(TransactionEvent::TransportError),
            _ => {
                self.out.event(TransactionEvent::TransportError);
                self.terminate();
            }
        }
    }

    /// The next message to send (responses and their retransmissions).
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
            State::Proceeding { trying_at, .. } => *trying_at,
            State::Completed {
                retransmit,
                timer_h,
                ..
            } => Some(retransmit.map_or(*timer_h, |r| r.at.min(*timer_h))),
            State::Confirmed { timer_i } => Some(*timer_i),
            State::Accepted { timer_l, resend } => Some(
                resend
                    .as_ref()
                    .map_or(*timer_l, |r| r.retransmit.at.min(*timer_l)),
            ),
            State::Terminated => None,
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.out.event(TransactionEvent::Terminated);
    }
}
