//! The sink dispatcher: confirmation-driven cursors, retries, restarts, never blocking publish.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use support::*;

#[tokio::test]
async fn failed_deliveries_are_retried_and_counted_without_loss_or_reordering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    let sink = MemorySink::default();
    sink.fail_next.store(3, Ordering::SeqCst);
    bus.add_sink(fast_sink("mem"), sink.clone()).expect("sink");
    let n = publish_calls(&bus, "c", 20, 8);
    eventually("delivered", || bus.sink_stats()[0].cursor == n).await;
    let got = sink.got.lock().expect("lock").clone();
    assert_eq!(
        got,
        (1..=n).collect::<Vec<_>>(),
        "each event confirmed once, in order"
    );
    let s = &bus.sink_stats()[0];
    assert_eq!((s.failures, s.retries, s.delivered, s.lag), (3, 3, n, 0));
    assert_eq!(s.last_error.as_deref(), Some("induced failure"));
    bus.shutdown().await;
}

#[tokio::test]
async fn a_restarted_sink_resumes_from_its_persisted_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    let first = MemorySink::default();
    bus.add_sink(fast_sink("mem"), first.clone()).expect("sink");
    let n1 = publish_calls(&bus, "a", 10, 5);
    eventually("first part delivered", || bus.sink_stats()[0].cursor == n1).await;
    first.hang.store(true, Ordering::SeqCst);
    let n2 = publish_calls(&bus, "b", 10, 5);
    assert!(bus.wait_durable(n1 + n2).await);
    bus.shutdown().await;

    let bus = open_bus(dir.path(), |_| {});
    let second = MemorySink::default();
    bus.add_sink(fast_sink("mem"), second.clone())
        .expect("sink");
    eventually("rest delivered", || bus.sink_stats()[0].cursor == n1 + n2).await;
    let a: BTreeSet<u64> = first.got.lock().expect("lock").iter().copied().collect();
    let b: BTreeSet<u64> = second.got.lock().expect("lock").iter().copied().collect();
    assert_eq!(
        a.union(&b).copied().collect::<Vec<_>>(),
        (1..=n1 + n2).collect::<Vec<_>>()
    );
    assert!(
        b.len() as u64 >= n2 && b.iter().all(|s| *s > n1 - 10),
        "only the tail is redelivered"
    );
    bus.shutdown().await;
}

#[tokio::test]
async fn publish_never_waits_for_a_stuck_sink() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    let sink = MemorySink::default();
    sink.hang.store(true, Ordering::SeqCst);
    bus.add_sink(fast_sink("stuck"), sink.clone())
        .expect("sink");
    // A current-thread runtime: if publish waited on the sink, this loop would never end.
    let n = publish_calls(&bus, "c", 500, 4);
    assert_eq!(bus.stats().published, n);
    assert!(
        bus.wait_durable(n).await,
        "all events durable while the sink is stuck"
    );
    let s = &bus.sink_stats()[0];
    assert_eq!((s.cursor, s.lag, s.delivered), (0, n, 0));
    assert_eq!(bus.stats().queued, 0);
    bus.shutdown().await;
}
