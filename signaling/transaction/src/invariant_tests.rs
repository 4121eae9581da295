//! Random input sequences (seeded) against all four machines: nothing panics, deadlines always
//! move past `now`, and `Terminated` is reported exactly once, last.

use std::time::{Duration, Instant};

use crate::testkit::{Machine, Rng, TestMsg, timers};
use crate::{
    ClientInviteTransaction, ClientNonInviteTransaction, ServerInviteTransaction,
    ServerNonInviteTransaction, TransactionEvent,
};

/// One random input to a machine.
enum Input {
    Response(u16),
    Request(TestMsg),
    TuResponse(u16),
    Timeout,
    TransportError,
    Wait(Duration),
}

fn random_input(rng: &mut Rng) -> Input {
    // Statuses include invalid ones (0, 99, 700, 65535) a broken peer or TU might produce.
    const STATUSES: [u16; 12] = [0, 99, 100, 180, 183, 200, 202, 302, 486, 503, 700, u16::MAX];
    let status = STATUSES[(rng.next() % STATUSES.len() as u64) as usize];
    match rng.next() % 6 {
        0 => Input::Response(status),
        1 if rng.chance(50) => Input::Request(TestMsg::Request("ACK")),
        1 => Input::Request(TestMsg::Request("INVITE")),
        2 => Input::TuResponse(status),
        3 => Input::Timeout,
        4 if rng.chance(10) => Input::TransportError,
        _ => Input::Wait(Duration::from_millis(rng.next() % 8_000)),
    }
}

/// Applies inputs through `apply`, checking the invariants after each.
fn check<T: Machine>(
    seed: u64,
    mut tsx: T,
    base: Instant,
    apply: impl Fn(&mut T, Instant, Input),
    is_terminated: impl Fn(&T) -> bool,
) -> bool {
    let mut rng = Rng(seed | 1);
    let mut now = base;
    let mut terminated_seen = false;
    for step in 0..200 {
        let input = random_input(&mut rng);
        if let Input::Wait(d) = input {
            now += d;
            continue;
        }
        let fired = matches!(input, Input::Timeout);
        if fired {
            // A driver wakes at the deadline (or later), never before.
            now = now.max(tsx.poll_timeout().unwrap_or(now));
        }
        apply(&mut tsx, now, input);
        let events: Vec<_> = std::iter::from_fn(|| tsx.poll_event()).collect();
        let transmits: Vec<_> = std::iter::from_fn(|| tsx.poll_transmit()).collect();
        if terminated_seen {
            assert!(
                events.is_empty() && transmits.is_empty(),
                "seed {seed} step {step}: output after Terminated"
            );
        }
        let terminated_events = events
            .iter()
            .filter(|e| **e == TransactionEvent::Terminated)
            .count();
        assert!(
            terminated_events <= 1,
            "seed {seed} step {step}: {events:?}"
        );
        if terminated_events == 1 {
            assert_eq!(
                events.last(),
                Some(&TransactionEvent::Terminated),
                "seed {seed}"
            );
            terminated_seen = true;
        }
        assert_eq!(
            is_terminated(&tsx),
            terminated_seen,
            "seed {seed} step {step}"
        );
        if fired {
            assert!(
                tsx.poll_timeout().is_none_or(|at| at > now),
                "seed {seed} step {step}: deadline not advanced"
            );
        }
    }
    terminated_seen
}

#[test]
fn client_machines_survive_random_inputs() {
    let base = Instant::now();
    let mut terminated = 0;
    for seed in 0..300 {
        let reliable = seed % 2 == 0;
        let tsx =
            ClientInviteTransaction::new(base, TestMsg::Request("INVITE"), reliable, &timers());
        terminated += usize::from(check(
            seed,
            tsx,
            base,
            |t, now, input| match input {
                Input::Response(s) => t.handle_response(now, s, TestMsg::Response(s)),
                Input::Timeout => t.handle_timeout(now),
                Input::TransportError => t.handle_transport_error(),
                _ => {}
            },
            |t| t.is_terminated(),
        ));
        let tsx =
            ClientNonInviteTransaction::new(base, TestMsg::Request("BYE"), reliable, &timers());
        terminated += usize::from(check(
            seed,
            tsx,
            base,
            |t, now, input| match input {
                Input::Response(s) => t.handle_response(now, s, TestMsg::Response(s)),
                Input::Timeout => t.handle_timeout(now),
                Input::TransportError => t.handle_transport_error(),
                _ => {}
            },
            |t| t.is_terminated(),
        ));
    }
    // Most random walks reach Terminated, so the checks above saw real endings.
    assert!(terminated > 300, "{terminated} of 600 runs terminated");
}

#[test]
fn server_machines_survive_random_inputs() {
    let base = Instant::now();
    let mut terminated = 0;
    for seed in 0..300 {
        let reliable = seed % 2 == 0;
        let mut tsx =
            ServerInviteTransaction::new(base, TestMsg::Request("INVITE"), reliable, &timers());
        tsx.set_retransmit_2xx(seed % 3 == 0);
        terminated += usize::from(check(
            seed,
            tsx,
            base,
            |t, now, input| match input {
                Input::Request(m) => t.handle_request(now, m),
                Input::TuResponse(s) => {
                    let _ = t.send_response(now, s, TestMsg::Response(s));
                }
                Input::Timeout => t.handle_timeout(now),
                Input::TransportError => t.handle_transport_error(),
                _ => {}
            },
            |t| t.is_terminated(),
        ));
        let tsx =
            ServerNonInviteTransaction::new(base, TestMsg::Request("BYE"), reliable, &timers());
        terminated += usize::from(check(
            seed,
            tsx,
            base,
            |t, now, input| match input {
                Input::Request(m) => t.handle_request(now, m),
                Input::TuResponse(s) => {
                    let _ = t.send_response(now, s, TestMsg::Response(s));
                }
                Input::Timeout => t.handle_timeout(now),
                Input::TransportError => t.handle_transport_error(),
                _ => {}
            },
            |t| t.is_terminated(),
        ));
    }
    // Most random walks reach Terminated, so the checks above saw real endings.
    assert!(terminated > 300, "{terminated} of 600 runs terminated");
}
