//! Test vocabulary: a tiny message type and a virtual clock, so tests read like the RFC.

use std::time::{Duration, Instant};

use crate::message::{TransactionEvent, TransactionMessage};
use crate::timer::TimerConfig;

/// A stand-in SIP message: just enough to tell requests, responses and ACKs apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TestMsg {
    /// A request with its method.
    Request(&'static str),
    /// A response with its status.
    Response(u16),
    /// An ACK built by the client INVITE transaction for a response of this status.
    Ack(u16),
}

impl TransactionMessage for TestMsg {
    fn is_ack(&self) -> bool {
        matches!(self, Self::Ack(_) | Self::Request("ACK"))
    }

    fn build_ack(_request: &Self, response: &Self) -> Self {
        match response {
            Self::Response(status) => Self::Ack(*status),
            _ => Self::Ack(0),
        }
    }

    fn build_trying(_request: &Self) -> Self {
        Self::Response(100)
    }
}

/// The default timers: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
pub(crate) fn timers() -> TimerConfig {
    TimerConfig::default()
}

/// Milliseconds as a `Duration`.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The common surface of all four machines, so one set of helpers drives them all.
pub(crate) trait Machine {
    fn poll_transmit(&mut self) -> Option<TestMsg>;
    fn poll_event(&mut self) -> Option<TransactionEvent<TestMsg>>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
}

macro_rules! impl_machine {
    ($($ty:ident),*) => {$(
        impl Machine for crate::$ty<TestMsg> {
            fn poll_transmit(&mut self) -> Option<TestMsg> { self.poll_transmit() }
            fn poll_event(&mut self) -> Option<TransactionEvent<TestMsg>> { self.poll_event() }
            fn poll_timeout(&self) -> Option<Instant> { self.poll_timeout() }
            fn handle_timeout(&mut self, now: Instant) { self.handle_timeout(now) }
        }
    )*};
}
impl_machine!(
    ClientNonInviteTransaction,
    ClientInviteTransaction,
    ServerNonInviteTransaction,
    ServerInviteTransaction
);

/// Drains every queued transmit.
pub(crate) fn transmits<T: Machine>(m: &mut T) -> Vec<TestMsg> {
    std::iter::from_fn(|| m.poll_transmit()).collect()
}

/// Drains every queued event.
pub(crate) fn events<T: Machine>(m: &mut T) -> Vec<TransactionEvent<TestMsg>> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Fires every deadline up to and including `until`, as a driver with one sleep would.
/// Returns the instants at which something was transmitted, with the message.
pub(crate) fn drive_until<T: Machine>(m: &mut T, until: Instant) -> Vec<(Instant, TestMsg)> {
    let mut sent = Vec::new();
    // A bound, so a machine that fails to advance its deadline fails the test instead of hanging.
    for _ in 0..10_000 {
        let Some(at) = m.poll_timeout().filter(|at| *at <= until) else {
            return sent;
        };
        m.handle_timeout(at);
        sent.extend(std::iter::from_fn(|| m.poll_transmit()).map(|msg| (at, msg)));
    }
    panic!("deadline never advanced past {until:?}");
}

/// The offsets from `base` of each send time.
pub(crate) fn offsets(base: Instant, sent: &[(Instant, TestMsg)]) -> Vec<Duration> {
    sent.iter().map(|(at, _)| at.duration_since(base)).collect()
}

/// xorshift64*: a seeded, reproducible source of chance for the network.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
