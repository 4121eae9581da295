//! A client and a server [`TransactionLayer`] talking over a seeded in-memory network that
//! drops, duplicates and reorders packets, on a virtual clock (no sleeping).

use std::time::{Duration, Instant};

use crate::testkit::Rng;
use crate::{
    LayerConfig, RequestDecision, RequestInfo, ResponseInfo, TransactionEvent, TransactionKey,
    TransactionLayer, TransactionMessage,
};

/// A message with just the fields the layers match on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SimMsg {
    Request {
        method: &'static str,
        branch: String,
    },
    Response {
        status: u16,
        method: &'static str,
        branch: String,
    },
}

impl TransactionMessage for SimMsg {
    fn is_ack(&self) -> bool {
        matches!(self, Self::Request { method: "ACK", .. })
    }

    fn build_ack(request: &Self, _response: &Self) -> Self {
        let branch = match request {
            Self::Request { branch, .. } | Self::Response { branch, .. } => branch.clone(),
        };
        Self::Request {
            method: "ACK",
            branch,
        }
    }

    fn build_trying(request: &Self) -> Self {
        match request {
            Self::Request { method, branch } | Self::Response { method, branch, .. } => {
                Self::Response {
                    status: 100,
                    method,
                    branch: branch.clone(),
                }
            }
        }
    }
}

const SENT_BY: &str = "192.0.2.1:5060";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// The lossy wire: packets in flight with their delivery time.
struct Network {
    rng: Rng,
    loss_percent: u64,
    in_flight: Vec<(Instant, Side, SimMsg)>,
    sent: usize,
}

impl Network {
    /// Sends `msg` to `to`: maybe dropped, maybe duplicated, each copy delayed 1–200 ms
    /// (so copies and later packets overtake each other).
    fn send(&mut self, now: Instant, to: Side, msg: SimMsg) {
        self.sent += 1;
        let copies = if self.rng.chance(10) { 2 } else { 1 };
        for _ in 0..copies {
            if !self.rng.chance(self.loss_percent) {
                let delay = Duration::from_millis(1 + self.rng.next() % 200);
                self.in_flight.push((now + delay, to, msg.clone()));
            }
        }
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.iter().map(|(at, _, _)| *at).min()
    }

    fn take_due(&mut self, now: Instant) -> Vec<(Side, SimMsg)> {
        let (due, rest) = self.in_flight.drain(..).partition(|(at, _, _)| *at <= now);
        self.in_flight = rest;
        let mut due: Vec<_> = due;
        due.sort_by_key(|(at, _, _)| *at);
        due.into_iter().map(|(_, side, msg)| (side, msg)).collect()
    }
}

struct Outcome {
    /// Final status per client transaction, in start order (None: no final reached the TU).
    finals: Vec<Option<u16>>,
    client_left: usize,
    server_left: usize,
    packets: usize,
}

/// Runs `transactions` REGISTER and INVITE pairs for `duration` of virtual time.
fn run(seed: u64, loss_percent: u64, transactions: usize, duration: Duration) -> Outcome {
    let base = Instant::now();
    let mut net = Network {
        rng: Rng(seed | 1),
        loss_percent,
        in_flight: Vec::new(),
        sent: 0,
    };
    let mut client = TransactionLayer::new(LayerConfig::default());
    let mut server = TransactionLayer::new(LayerConfig::default());
    let mut keys = Vec::new();
    for i in 0..transactions {
        let method = if i % 2 == 0 { "REGISTER" } else { "INVITE" };
        let branch = format!("z9hG4bK-{seed}-{i}");
        let key = TransactionKey::client(&branch, SENT_BY, method);
        let request = SimMsg::Request { method, branch };
        client
            .send_request(base, key.clone(), request, false)
            .expect("fresh branch");
        keys.push(key);
    }
    let mut finals = vec![None; transactions];
    let mut now = base;
    loop {
        // Flush both layers' output onto the wire and collect client-side finals.
        while let Some(t) = client.poll_transmit() {
            net.send(now, Side::Server, t.message);
        }
        while let Some(t) = server.poll_transmit() {
            net.send(now, Side::Client, t.message);
        }
        while let Some((key, event)) = client.poll_event() {
            if let TransactionEvent::Response {
                status: 200..=699, ..
            } = event
            {
                let i = keys.iter().position(|k| *k == key).expect("own key");
                finals[i].get_or_insert(match event {
                    TransactionEvent::Response { status, .. } => status,
                    _ => 0,
                });
            }
        }
        while server.poll_event().is_some() {}

        let next = [
            net.next_delivery(),
            client.poll_timeout(),
            server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(at) if at <= base + duration => now = at.max(now),
            _ => break,
        }
        for (side, msg) in net.take_due(now) {
            match side {
                Side::Server => deliver_to_server(&mut server, now, msg),
                Side::Client => deliver_to_client(&mut client, now, msg),
            }
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    Outcome {
        finals,
        client_left: client.len(),
        server_left: server.len(),
        packets: net.sent,
    }
}

/// The server TU: answers REGISTER with 200 and INVITE with 180 then 486 at once.
fn deliver_to_server(server: &mut TransactionLayer<SimMsg>, now: Instant, msg: SimMsg) {
    let SimMsg::Request { method, branch } = &msg else {
        return;
    };
    let info = RequestInfo {
        method,
        branch,
        sent_by: SENT_BY,
        call_id: branch,
        from_tag: Some("f"),
        to_tag: None,
        cseq: 1,
        reliable: false,
    };
    let (method, branch) = (*method, branch.clone());
    if let RequestDecision::New { key, .. } = server.receive_request(now, &info, msg.clone()) {
        let respond = |status| SimMsg::Response {
            status,
            method,
            branch: branch.clone(),
        };
        if method == "INVITE" {
            server
                .send_response(now, &key, 180, respond(180))
                .expect("Proceeding");
            server
                .send_response(now, &key, 486, respond(486))
                .expect("Proceeding");
        } else {
            server
                .send_response(now, &key, 200, respond(200))
                .expect("Trying");
        }
    }
}

fn deliver_to_client(client: &mut TransactionLayer<SimMsg>, now: Instant, msg: SimMsg) {
    let SimMsg::Response {
        status,
        method,
        branch,
    } = &msg
    else {
        return;
    };
    let info = ResponseInfo {
        branch,
        sent_by: SENT_BY,
        cseq_method: method,
        status: *status,
    };
    client.receive_response(now, &info, msg.clone());
}

/// 20 seeds × 20 transactions, 30 % loss each way, 10 % duplication, reordering. Every client
/// transaction gets its final before Timer B/F (32 s): a timed-out one would report no final.
/// The run lasts 40 s because the last INVITE retransmission leaves at 31.5 s and its 180 may
/// move the client to Proceeding (no Timer B) with the 486 still to come (seed 6 does this).
#[test]
fn pairs_complete_despite_30_percent_loss_over_32s() {
    for seed in 1..=20 {
        let outcome = run(seed, 30, 20, Duration::from_secs(40));
        for (i, status) in outcome.finals.iter().enumerate() {
            let expected = if i % 2 == 0 { 200 } else { 486 };
            assert_eq!(*status, Some(expected), "seed {seed} transaction {i}");
        }
    }
}

#[test]
fn every_transaction_is_removed_after_its_timers() {
    // 64*T1 + T4 + margin: every timer of every machine has fired by then.
    let outcome = run(7, 30, 50, Duration::from_secs(80));
    assert_eq!((outcome.client_left, outcome.server_left), (0, 0));
}

#[test]
fn lossless_network_sends_no_extra_retransmissions_after_completion() {
    let outcome = run(3, 0, 2, Duration::from_secs(80));
    assert_eq!(outcome.finals, [Some(200), Some(486)]);
    // REGISTER + 200, INVITE + 180 + 486 + ACK, plus at most the retransmissions fired
    // before the (≤ 200 ms delayed) answers arrived: E/A at 500 ms cannot fire.
    assert_eq!(outcome.packets, 6);
}
