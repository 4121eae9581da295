//! Measures the transaction layer alone: N server transactions (request, retransmission,
//! final, Timer J) plus N client transactions (request, final, Timer K) on a virtual clock.
//!
//! `cargo run --release -p switchboard-transaction --example layer_throughput [N]`

use std::time::{Duration, Instant};

use switchboard_transaction::{
    LayerConfig, RequestDecision, RequestInfo, ResponseInfo, TransactionKey, TransactionLayer,
    TransactionMessage,
};

#[derive(Clone)]
struct Msg(u16);

/// Stand-in for an ACK, which this benchmark never sends.
const ACK: u16 = 1;

impl TransactionMessage for Msg {
    fn is_ack(&self) -> bool {
        self.0 == ACK
    }
    fn build_ack(_request: &Self, _response: &Self) -> Self {
        Msg(ACK)
    }
    fn build_trying(_request: &Self) -> Self {
        Msg(100)
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    // All server transactions of the run stay live for Timer J (32 s): lift the default cap.
    let config = LayerConfig {
        max_server_transactions: n + 1,
        ..LayerConfig::default()
    };
    let mut layer = TransactionLayer::new(config);
    let base = Instant::now();
    let started = Instant::now();
    let (mut sent, mut peak) = (0usize, 0usize);
    for i in 0..n {
        // 10 000 new transactions per virtual second on each side.
        let now = base + Duration::from_micros(100 * i as u64);
        let branch = format!("z9hG4bK{i:x}");
        let info = RequestInfo {
            method: "OPTIONS",
            branch: &branch,
            sent_by: "192.0.2.1:5060",
            call_id: &branch,
            from_tag: Some("f"),
            to_tag: None,
            cseq: 1,
            reliable: false,
        };
        if let RequestDecision::New { key, .. } = layer.receive_request(now, &info, Msg(0)) {
            layer.receive_request(now, &info, Msg(0));
            let _ = layer.send_response(now, &key, 200, Msg(200));
        }
        let key = TransactionKey::client(&branch, "198.51.100.1:5060", "OPTIONS");
        let _ = layer.send_request(now, key, Msg(0), false);
        let resp = ResponseInfo {
            branch: &branch,
            sent_by: "198.51.100.1:5060",
            cseq_method: "OPTIONS",
            status: 200,
        };
        layer.receive_response(now, &resp, Msg(200));
        layer.handle_timeout(now);
        while layer.poll_transmit().is_some() {
            sent += 1;
        }
        while layer.poll_event().is_some() {}
        peak = peak.max(layer.len());
    }
    while let Some(deadline) = layer.poll_timeout() {
        layer.handle_timeout(deadline);
        while layer.poll_event().is_some() {}
    }
    let elapsed = started.elapsed();
    let tx = 2 * n;
    println!(
        "{tx} transactions ({sent} transmits) in {elapsed:?}: {:.0} transactions/s, peak live {peak}, left {}",
        tx as f64 / elapsed.as_secs_f64(),
        layer.len()
    );
}
