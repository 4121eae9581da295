//! Test vocabulary shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod brokers;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_events::event::{CallEnded, EndSide};
use switchboard_events::{
    DeliveryError, Envelope, Event, EventBus, EventBusConfig, Sink, SinkConfig, StoredEvent,
};

/// A bus on `dir` with small, test-friendly settings.
pub fn open_bus(dir: &Path, tweak: impl FnOnce(&mut EventBusConfig)) -> EventBus {
    let mut c = EventBusConfig::new("sig1", dir);
    tweak(&mut c);
    EventBus::open(c).expect("open bus")
}

/// A sink config that retries fast.
pub fn fast_sink(name: &str) -> SinkConfig {
    let mut c = SinkConfig::new(name);
    c.backoff_initial = Duration::from_millis(5);
    c.backoff_max = Duration::from_millis(50);
    c.cursor_sync_interval = Duration::from_millis(10);
    c
}

/// The events of one call: created, ringing, answered, `dtmf` digits, ended.
pub fn call_events(dtmf: usize) -> Vec<Event> {
    let mut v = vec![
        Event::CallCreated {
            from: "1001".into(),
            to: "1002".into(),
        },
        Event::CallRinging,
        Event::CallAnswered,
    ];
    for i in 0..dtmf {
        v.push(Event::CallDtmf {
            leg: switchboard_events::event::Leg::A,
            digit: char::from(b'0' + (i % 10) as u8),
            duration_ms: 100,
        });
    }
    v.push(Event::CallEnded(CallEnded {
        cause: "normal_clearing".into(),
        sip_status: 200,
        side: EndSide::A,
        setup_ms: 12,
        talk_ms: 1000,
        quality: None,
    }));
    v
}

/// Publishes `calls` interleaved calls of `per_call` events each (round robin), returns
/// the number of events published.
pub fn publish_calls(bus: &EventBus, prefix: &str, calls: usize, per_call: usize) -> u64 {
    let events = call_events(per_call.saturating_sub(4));
    let mut n = 0;
    for e in &events {
        for c in 0..calls {
            bus.publish(Some(&format!("{prefix}{c}")), e.clone())
                .expect("publish");
            n += 1;
        }
    }
    n
}

/// Reads `count` events from a subscription (bounded wait).
pub async fn take(
    sub: &mut switchboard_events::Subscription,
    count: usize,
) -> Vec<Arc<StoredEvent>> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .expect("event within 30 s")
            .expect("bus open")
            .expect("no lag");
        out.push(next);
    }
    out
}

/// Asserts every call's `call_seq`s are exactly 1..=n in order and journal seqs are unique.
pub fn assert_call_seqs_gapless<'a>(envs: impl IntoIterator<Item = &'a Envelope>) {
    let mut calls: HashMap<&str, u64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for e in envs {
        assert!(seen.insert(e.seq), "duplicate seq {}", e.seq);
        if let Some(uuid) = e.call_uuid.as_deref() {
            let last = calls.entry(uuid).or_insert(0);
            assert_eq!(e.call_seq, Some(*last + 1), "call {uuid} seq after {last}");
            *last += 1;
        }
    }
}

/// Polls `cond` every 10 ms for up to 60 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// An in-memory sink: records what it confirmed; can be told to fail or to hang.
#[derive(Clone, Default)]
pub struct MemorySink {
    pub got: Arc<Mutex<Vec<u64>>>,
    pub fail_next: Arc<AtomicUsize>,
    pub hang: Arc<AtomicBool>,
}

impl Sink for MemorySink {
    async fn deliver(&mut self, events: &[Arc<StoredEvent>]) -> Result<(), DeliveryError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            // Confirm the first event only, then fail.
            self.got.lock().expect("lock").push(events[0].seq());
            return Err(DeliveryError::new(1, "induced failure"));
        }
        self.got
            .lock()
            .expect("lock")
            .extend(events.iter().map(|e| e.seq()));
        Ok(())
    }
}
