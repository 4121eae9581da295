use super::*;

fn binding(uri: &str, expires_at: u64, call_id: &str, cseq: u32) -> Binding {
    Binding {
        uri: uri.into(),
        expires_at,
        q: Some(500),
        instance: None,
        reg_id: None,
        call_id: call_id.into(),
        cseq,
        received: "127.0.0.1:40000;transport=udp".into(),
        user_agent: Some("phone/1.0".into()),
    }
}

fn alice() -> Aor {
    Aor::new("alice", "example.com")
}

fn uris(store: &MemoryLocationStore, aor: &Aor) -> Vec<String> {
    store.bindings(aor).into_iter().map(|b| b.uri).collect()
}

#[test]
fn announcements_round_trip_through_json_with_every_binding_field() {
    let mut b = binding(
        "sip:alice@192.0.2.1:5062;transport=tcp",
        1_900_000_000,
        "c1",
        7,
    );
    b.instance = Some("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>".into());
    b.reg_id = Some(1);
    let up = Change::Upsert {
        aor: alice(),
        binding: b.clone(),
    };
    let down = Change::Remove {
        aor: alice(),
        key: b.key().to_owned(),
    };
    for change in [up, down] {
        let text = serde_json::to_string(&Announce::new("node-a", &change)).expect("json");
        let back: Announce = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.into_change(), ("node-a".to_owned(), change), "{text}");
    }
    let entry = Entry::new(&alice(), &b);
    let text = serde_json::to_string(&entry).expect("json");
    assert!(
        !text.contains("\"op\"") && text.contains("\"reg_id\":1"),
        "{text}"
    );
    let parsed: Entry = serde_json::from_str(&text).expect("parse");
    assert_eq!(parsed.into_parts(), (alice(), b));
}

#[test]
fn absent_optional_fields_parse_as_none() {
    let text = r#"{"user":"bob","domain":"Example.COM","uri":"sip:bob@192.0.2.2","expires_at":5,
        "call_id":"c","cseq":1,"received":"192.0.2.2:5060;transport=udp"}"#;
    let (aor, b) = serde_json::from_str::<Entry>(text)
        .expect("parse")
        .into_parts();
    assert_eq!(aor, Aor::new("bob", "example.com"));
    assert_eq!(
        (b.q, b.instance, b.reg_id, b.user_agent),
        (None, None, None, None)
    );
}

#[test]
fn local_changes_are_queued_and_lookups_stay_local() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let replica = Replica::default();
    let mut store = SharedStore::shared(replica.clone(), tx);
    store.upsert(&alice(), binding("sip:alice@192.0.2.1", 100, "c1", 1));
    assert_eq!(
        uris(&replica.lock().store, &alice()),
        ["sip:alice@192.0.2.1"]
    );
    assert!(store.remove(&alice(), "sip:alice@192.0.2.9").is_none());
    assert!(store.remove(&alice(), "sip:alice@192.0.2.1").is_some());
    store.upsert(&alice(), binding("sip:alice@192.0.2.2", 100, "c2", 1));
    // Expiry is each node's own business: nothing queued.
    assert_eq!(store.expire(100).len(), 1);
    let mut queued = Vec::new();
    while let Ok(c) = rx.try_recv() {
        queued.push((
            c.aor().user.clone(),
            c.key().to_owned(),
            matches!(c, Change::Upsert { .. }),
        ));
    }
    assert_eq!(
        queued,
        [
            ("alice".to_owned(), "sip:alice@192.0.2.1".to_owned(), true),
            ("alice".to_owned(), "sip:alice@192.0.2.1".to_owned(), false),
            ("alice".to_owned(), "sip:alice@192.0.2.2".to_owned(), true),
        ]
    );
    assert_eq!(store.count(), 0);
}

#[test]
fn remote_changes_apply_unless_stale_or_lapsed() {
    let mut state = ReplicaState::default();
    let s = &mut state;
    let up = |b: Binding| Change::Upsert {
        aor: alice(),
        binding: b,
    };
    assert!(apply(s, up(binding("sip:a@1", 200, "c1", 5)), 10));
    // The same binding again (our own write echoed by a resync): no change.
    assert!(!apply(s, up(binding("sip:a@1", 200, "c1", 5)), 10));
    // An older CSeq of the same REGISTER dialog arriving late is ignored.
    assert!(!apply(s, up(binding("sip:a@1", 150, "c1", 4)), 10));
    assert_eq!(s.store.bindings(&alice())[0].expires_at, 200);
    // A refresh from another Call-ID (the phone rebooted) replaces it.
    assert!(apply(s, up(binding("sip:a@1", 300, "c9", 1)), 10));
    assert_eq!(s.store.bindings(&alice())[0].expires_at, 300);
    // A binding already lapsed here removes the local copy instead of adding one.
    assert!(apply(s, up(binding("sip:a@1", 20, "c9", 2)), 30));
    assert!(s.store.bindings(&alice()).is_empty());
    assert!(!apply(s, up(binding("sip:a@2", 20, "c9", 2)), 30));
    assert!(apply(s, up(binding("sip:a@2", 400, "c9", 3)), 30));
    let remove = |key: &str| Change::Remove {
        aor: alice(),
        key: key.into(),
    };
    assert!(apply(s, remove("sip:a@2"), 30));
    assert!(!apply(s, remove("sip:a@2"), 30));
    assert_eq!(s.store.count(), 0);
}

#[test]
fn only_the_node_that_last_wrote_a_binding_reports_its_expiry() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let replica = Replica::default();
    let mut store = SharedStore::shared(replica.clone(), tx);
    let bob = Aor::new("bob", "example.com");
    store.upsert(&alice(), binding("sip:a@mine", 100, "c1", 1));
    store.upsert(&bob, binding("sip:b@mine-then-theirs", 100, "c2", 1));
    let remote = |aor: &Aor, b: Binding| {
        let change = Change::Upsert {
            aor: aor.clone(),
            binding: b,
        };
        assert!(apply(&mut replica.lock(), change, 10));
    };
    remote(&bob, binding("sip:b@theirs", 100, "c3", 1));
    remote(&bob, binding("sip:b@mine-then-theirs", 100, "c2", 2));
    let reported: Vec<String> = store.expire(100).into_iter().map(|(_, b)| b.uri).collect();
    assert_eq!(reported, ["sip:a@mine"]);
    // All three are gone all the same.
    assert_eq!(store.count(), 0);
    // Without sharing, every expiry is this node's.
    let mut alone = SharedStore::local_only();
    alone.upsert(&alice(), binding("sip:a@1", 100, "c1", 1));
    assert_eq!(alone.expire(100).len(), 1);
}

#[test]
fn resync_replace_makes_the_replica_what_redis_holds() {
    let mut s = MemoryLocationStore::new();
    s.upsert(&alice(), binding("sip:a@gone", 500, "c1", 1));
    s.upsert(&alice(), binding("sip:a@old", 500, "c2", 1));
    let redis = vec![
        (alice(), binding("sip:a@old", 400, "c2", 2)),
        (alice(), binding("sip:a@new", 500, "c3", 1)),
        (alice(), binding("sip:a@lapsed", 50, "c4", 1)),
    ];
    let write_back = resync(&mut s, redis, true, 100);
    assert!(write_back.is_empty());
    let mut got: Vec<(String, u64)> = s
        .bindings(&alice())
        .into_iter()
        .map(|b| (b.uri, b.expires_at))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("sip:a@new".to_owned(), 500), ("sip:a@old".to_owned(), 400)]
    );
}

#[test]
fn resync_merge_keeps_the_later_binding_and_writes_back_what_redis_lacks() {
    let mut s = MemoryLocationStore::new();
    let bob = Aor::new("bob", "example.com");
    s.upsert(&alice(), binding("sip:a@mine", 500, "c1", 1));
    s.upsert(&alice(), binding("sip:a@both", 600, "c2", 3));
    s.upsert(&bob, binding("sip:b@older-here", 300, "c5", 1));
    s.upsert(&bob, binding("sip:b@lapsed", 90, "c6", 1));
    let redis = vec![
        (alice(), binding("sip:a@both", 550, "c2", 2)),
        (bob.clone(), binding("sip:b@older-here", 400, "c5", 2)),
        (bob.clone(), binding("sip:b@theirs", 700, "c7", 1)),
    ];
    let mut back: Vec<String> = resync(&mut s, redis, false, 100)
        .iter()
        .map(|c| c.key().to_owned())
        .collect();
    back.sort();
    assert_eq!(back, ["sip:a@both", "sip:a@mine"]);
    let mut a = uris(&s, &alice());
    a.sort();
    assert_eq!(a, ["sip:a@both", "sip:a@mine"]);
    assert_eq!(
        s.bindings(&alice()).iter().map(|b| b.expires_at).max(),
        Some(600)
    );
    let mut b: Vec<(String, u64)> = s
        .bindings(&bob)
        .into_iter()
        .map(|b| (b.uri, b.expires_at))
        .collect();
    b.sort();
    assert_eq!(
        b,
        [
            ("sip:b@lapsed".to_owned(), 90),
            ("sip:b@older-here".to_owned(), 400),
            ("sip:b@theirs".to_owned(), 700)
        ]
    );
}
