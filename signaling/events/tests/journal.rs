//! Journal behaviour: recovery, torn tails, the size bound, per-call numbering, resume.

mod support;

use std::fs::{self, OpenOptions};
use std::io::Write;

use support::*;
use switchboard_events::Event;

fn last_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

#[tokio::test]
async fn restart_resumes_journal_and_open_call_numbering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    let n = publish_calls(&bus, "c", 10, 6);
    for _ in 0..3 {
        bus.publish(Some("open-call"), Event::CallRinging)
            .expect("publish");
    }
    bus.shutdown().await;
    assert_eq!(bus.stats().journal.durable_seq, n + 3);

    let bus = open_bus(dir.path(), |_| {});
    let after_open = bus
        .publish(Some("open-call"), Event::CallAnswered)
        .expect("publish");
    assert_eq!((after_open.seq, after_open.call_seq), (n + 4, Some(4)));
    let reused = bus
        .publish(Some("c0"), Event::CallRinging)
        .expect("publish");
    assert_eq!(
        reused.call_seq,
        Some(1),
        "an ended call's counter is closed"
    );

    let mut sub = bus.subscribe(Some(0));
    let all = take(&mut sub, (n + 5) as usize).await;
    let restarted = bus.clone();
    let seqs: Vec<u64> = all.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs, (1..=n + 5).collect::<Vec<_>>());
    assert!(all.iter().all(|e| e.envelope.id.starts_with("sig1-")));
    bus.shutdown().await;
    assert_eq!(
        restarted.publish(None, Event::CallRinging),
        Err(switchboard_events::PublishError::Closed)
    );
    assert!(sub.next().await.is_none(), "subscriptions end at shutdown");
}

#[tokio::test]
async fn torn_tail_is_truncated_and_numbering_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    for _ in 0..10 {
        bus.publish(
            None,
            Event::Ban {
                source: "192.0.2.1".into(),
            },
        )
        .expect("publish");
    }
    bus.shutdown().await;
    // A crash mid-write: a header promising 100 bytes, then only 5 of them.
    let seg = last_segment(dir.path());
    let good_len = fs::metadata(&seg).expect("meta").len();
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    f.write_all(&100u32.to_le_bytes()).expect("write");
    f.write_all(&[0u8; 4 + 8 + 5]).expect("write");
    drop(f);

    let bus = open_bus(dir.path(), |_| {});
    assert_eq!(bus.stats().journal.truncated_bytes, 4 + 4 + 8 + 5);
    assert_eq!(fs::metadata(&seg).expect("meta").len(), good_len);
    assert_eq!(
        bus.publish(None, Event::CallRinging).expect("publish").seq,
        11
    );
    let mut sub = bus.subscribe(Some(0));
    let seqs: Vec<u64> = take(&mut sub, 11).await.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    bus.shutdown().await;
}

#[tokio::test]
async fn corrupt_last_record_is_dropped_at_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    for _ in 0..5 {
        bus.publish(None, Event::MediaNodeUp { node: "m1".into() })
            .expect("publish");
    }
    bus.shutdown().await;
    let seg = last_segment(dir.path());
    let mut bytes = fs::read(&seg).expect("read");
    let last = bytes.len() - 2;
    bytes[last] ^= 0x55;
    fs::write(&seg, bytes).expect("write");

    let bus = open_bus(dir.path(), |_| {});
    assert!(bus.stats().journal.truncated_bytes > 0);
    assert_eq!(
        bus.publish(None, Event::CallRinging).expect("publish").seq,
        5
    );
    bus.shutdown().await;
}

#[tokio::test]
async fn per_call_sequences_are_gapless_with_concurrent_publishers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    // Every thread writes into the same 20 calls.
                    let call = format!("call-{}", (i + t) % 20);
                    bus.publish(Some(&call), Event::CallRinging)
                        .expect("publish");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("publisher");
    }
    let mut sub = bus.subscribe(Some(0));
    let all = take(&mut sub, 2000).await;
    let seqs: Vec<u64> = all.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs, (1..=2000).collect::<Vec<_>>());
    assert_call_seqs_gapless(all.iter().map(|e| &e.envelope));
    bus.shutdown().await;
}

#[tokio::test]
async fn subscribe_resumes_from_history_into_live_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A tiny cache and small segments: history comes from disk, across segment files.
    let bus = open_bus(dir.path(), |c| {
        c.journal.cache_events = 16;
        c.journal.segment_bytes = 8 << 10;
    });
    publish_calls(&bus, "a", 50, 10);
    let mut sub = bus.subscribe(Some(200));
    let live = {
        let bus = bus.clone();
        tokio::spawn(async move {
            for i in 0..500 {
                bus.publish(Some(&format!("b{}", i % 7)), Event::CallRinging)
                    .expect("publish");
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let got = take(&mut sub, 800).await;
    live.await.expect("publisher");
    let seqs: Vec<u64> = got.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs, (201..=1000).collect::<Vec<_>>());
    assert!(
        bus.stats().journal.segments > 1,
        "history spans several segments"
    );

    let by_id = bus
        .subscribe_after_id(&got[99].envelope.id)
        .expect("our id");
    assert_eq!(by_id.position(), 301);
    bus.shutdown().await;
}

#[tokio::test]
async fn bound_drops_oldest_segments_when_a_sink_lags_and_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |c| {
        c.journal.segment_bytes = 4 << 10;
        c.journal.max_bytes = 16 << 10;
    });
    let sink = MemorySink::default();
    sink.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    bus.add_sink(fast_sink("stuck"), sink.clone())
        .expect("sink");
    let n = publish_calls(&bus, "x", 100, 6);
    assert!(bus.wait_durable(n).await);
    let stats = bus.stats().journal;
    assert!(stats.bytes <= (16 << 10) + (4 << 10), "bounded: {stats:?}");
    assert!(stats.dropped_unacked > 0, "drops counted: {stats:?}");
    assert!(stats.first_seq > 1);
    bus.shutdown().await;

    // After a restart the sink resumes at the oldest retained event and reports the hole.
    let bus = open_bus(dir.path(), |_| {});
    let sink = MemorySink::default();
    bus.add_sink(fast_sink("stuck"), sink.clone())
        .expect("sink");
    eventually("sink caught up", || bus.sink_stats()[0].lag == 0).await;
    let s = &bus.sink_stats()[0];
    let got = sink.got.lock().expect("lock").clone();
    assert_eq!(got.first().copied(), Some(stats.first_seq));
    assert_eq!(got.len() as u64 + stats.first_seq - 1, n);
    assert_eq!(s.cursor, n);
    assert_eq!(s.skipped, stats.first_seq - 1, "the hole is reported");
    bus.shutdown().await;
}

#[tokio::test]
async fn history_is_kept_up_to_the_bound_without_drops_when_the_sink_keeps_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |c| {
        c.journal.segment_bytes = 4 << 10;
        c.journal.max_bytes = 16 << 10;
    });
    bus.add_sink(fast_sink("mem"), MemorySink::default())
        .expect("sink");
    let mut n = 0;
    for step in 0..40 {
        n += publish_calls(&bus, &format!("s{step}-"), 5, 4);
        eventually("delivered", || bus.sink_stats()[0].cursor == n).await;
    }
    let stats = bus.stats().journal;
    assert!(stats.bytes <= (16 << 10) + (4 << 10), "bounded: {stats:?}");
    assert!(
        stats.first_seq > 1 && stats.segments >= 4,
        "history kept up to the bound: {stats:?}"
    );
    assert_eq!(stats.dropped_unacked, 0);
    assert_eq!(bus.sink_stats()[0].skipped, 0);
    bus.shutdown().await;
}

#[tokio::test]
async fn numbers_confirmed_by_a_sink_are_never_reused_after_data_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    bus.add_sink(fast_sink("mem"), MemorySink::default())
        .expect("sink");
    for _ in 0..10 {
        bus.publish(
            None,
            Event::Ban {
                source: "192.0.2.7".into(),
            },
        )
        .expect("publish");
    }
    eventually("delivered", || bus.sink_stats()[0].cursor == 10).await;
    bus.shutdown().await;
    // Lose the last five records (fsynced data destroyed under us).
    let seg = last_segment(dir.path());
    let len = fs::metadata(&seg).expect("meta").len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");

    let bus = open_bus(dir.path(), |_| {});
    let next = bus.publish(None, Event::CallRinging).expect("publish");
    assert_eq!(next.seq, 11, "ids 6..=10 were delivered once: not reused");
    let mut sub = bus.subscribe(Some(0));
    let mut seqs = Vec::new();
    let mut lagged = None;
    while seqs.last() != Some(&11) {
        match sub.next().await.expect("open") {
            Ok(e) => seqs.push(e.seq()),
            Err(l) => lagged = Some(l),
        }
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 11]);
    let lagged = lagged.expect("the hole is reported");
    assert_eq!((lagged.missed_from, lagged.resumed_at), (6, 11));
    bus.shutdown().await;
}
