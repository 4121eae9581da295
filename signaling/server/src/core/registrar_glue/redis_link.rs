//! The Redis link of a node sharing registrations: one background task per process that writes this
//! node's binding changes to Redis and applies other nodes' changes to the local replica. Signaling
//! workers never wait for it: they change the replica and queue the change (`replica::SharedStore`).
//!
//! Redis layout: one key per binding, `switchboard:reg:b:<user>@<domain>|<binding key>`, holding
//! the JSON `replica::Entry`, with a TTL of the binding's remaining lifetime; each change is written
//! together with a PUBLISH of a JSON `replica::Announce` on `switchboard:reg:changes` (one MULTI, so
//! the order of announcements is the order of writes). `switchboard:reg:epoch` holds a random value
//! set once: when it changes, Redis lost its data (restarted without persistence).
//!
//! On every (re)connect: subscribe, write the changes queued while Redis was away, load every key
//! (SCAN, MGET) and resynchronise the replica (`replica::resync`): Redis wins, unless its epoch
//! changed or this node dropped queued changes, when the two are merged and Redis gets back what it
//! lacks. While Redis is away, changes queue (at most [`MAX_PENDING`], oldest dropped), REGISTER
//! and calls go on from the replica, and the link retries every second.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use switchboard_registrar::{Aor, Binding, LocationStore};
use tokio::sync::mpsc;

use super::link_stats::LinkStats;
use super::replica::{self, Announce, Change, Entry, Replica, SharedStore};
use crate::core::handler::{rand_u64, unix_now};

/// Prefix of every binding key.
pub(crate) const KEY_PREFIX: &str = "switchboard:reg:b:";
/// The key whose value changes when Redis lost its data.
pub(crate) const EPOCH_KEY: &str = "switchboard:reg:epoch";
/// Where changes are announced.
pub(crate) const CHANNEL: &str = "switchboard:reg:changes";
/// Changes kept while Redis is away; older ones are dropped (and a merge resync follows).
pub(crate) const MAX_PENDING: usize = 100_000;
/// Changes written per MULTI.
const BATCH: usize = 128;
/// Between reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);
/// Bound on every Redis round trip.
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// How often an idle link checks Redis still answers.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Starts the link to `url` on the current tokio runtime; returns the registrar's store and the
/// link's counters. The task ends when the store is dropped.
pub(crate) fn start(url: &str) -> (SharedStore, Arc<LinkStats>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let replica = Replica::default();
    let stats = Arc::new(LinkStats::default());
    let link = Link {
        url: url.to_owned(),
        node: format!("{:016x}", rand_u64()),
        replica: replica.clone(),
        rx,
        pending: VecDeque::new(),
        overflowed: false,
        down_logged: false,
        epoch: None,
        stats: stats.clone(),
    };
    tokio::spawn(link.run());
    (SharedStore::shared(replica, tx), stats)
}

/// The key of one binding.
pub(crate) fn binding_key(aor: &Aor, key: &str) -> String {
    format!("{KEY_PREFIX}{}@{}|{key}", aor.user, aor.domain)
}

struct Link {
    url: String,
    /// This process's id in announcements (ours are ignored when they come back).
    node: String,
    replica: Replica,
    rx: mpsc::UnboundedReceiver<Change>,
    /// Local changes not yet written, oldest first.
    pending: VecDeque<Change>,
    /// Changes were dropped since the last resync.
    overflowed: bool,
    /// The current outage was logged.
    down_logged: bool,
    /// The epoch seen at the last resync.
    epoch: Option<String>,
    stats: Arc<LinkStats>,
}

/// Why a session with Redis ended.
enum Ended {
    /// The registrar is gone: stop.
    Stopped,
    /// Redis failed or went away: retry.
    Lost(String),
}

impl From<redis::RedisError> for Ended {
    fn from(e: redis::RedisError) -> Ended {
        Ended::Lost(e.to_string())
    }
}

/// Runs one Redis round trip within [`OP_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Ended> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(r) => r.map_err(Ended::from),
        Err(_) => Err(Ended::Lost(format!(
            "{what}: no answer within {OP_TIMEOUT:?}"
        ))),
    }
}

impl Link {
    async fn run(mut self) {
        loop {
            let reason = match self.session().await {
                Ended::Stopped => return,
                Ended::Lost(reason) => reason,
            };
            let was_up = self.stats.up.swap(false, Ordering::Relaxed);
            if was_up || !self.down_logged {
                // Once per outage (and when Redis is unreachable at start).
                self.down_logged = true;
                tracing::warn!(%reason, pending = self.pending.len(), "shared registrations: Redis link down, retrying every second");
            } else {
                tracing::debug!(%reason, "shared registrations: Redis unreachable");
            }
            let pause = tokio::time::sleep(RETRY);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut pause => break,
                    change = self.rx.recv() => match change {
                        Some(c) => self.queue(c),
                        None => return,
                    },
                }
            }
        }
    }

    fn queue(&mut self, change: Change) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            self.overflowed = true;
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.pending.push_back(change);
        self.stats
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// Connects, resynchronises, then relays changes both ways until Redis fails or we stop.
    async fn session(&mut self) -> Ended {
        let client = match redis::Client::open(self.url.as_str()) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let mut conn = match bounded("connect", client.get_multiplexed_async_connection()).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let mut pubsub = match bounded("subscribe", client.get_async_pubsub()).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        if let Err(e) = bounded("subscribe", pubsub.subscribe(CHANNEL)).await {
            return e;
        }
        if let Err(e) = self.resync(&mut conn).await {
            return e;
        }
        let mut messages = pubsub.on_message();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            enum Next {
                Local(Option<Change>),
                Remote(Option<redis::Msg>),
                Ping,
            }
            let next = tokio::select! {
                c = self.rx.recv() => Next::Local(c),
                m = messages.next() => Next::Remote(m),
                _ = ping.tick() => Next::Ping,
            };
            let step = match next {
                Next::Local(None) => return Ended::Stopped,
                Next::Local(Some(c)) => {
                    self.queue(c);
                    while let Ok(c) = self.rx.try_recv() {
                        self.queue(c);
                    }
                    self.flush(&mut conn).await
                }
                Next::Remote(None) => Err(Ended::Lost("subscription closed".into())),
                Next::Remote(Some(m)) => {
                    self.receive(m.get_payload_bytes());
                    Ok(())
                }
                Next::Ping => bounded("PING", redis::cmd("PING").query_async::<()>(&mut conn))
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = step {
                return e;
            }
        }
    }

    /// Writes what queued while away, loads Redis's bindings and resynchronises the replica.
    async fn resync(&mut self, conn: &mut MultiplexedConnection) -> Result<(), Ended> {
        let fresh = format!("{:016x}", rand_u64());
        let _: bool = bounded("SET epoch", conn.set_nx(EPOCH_KEY, &fresh)).await?;
        let epoch: String = bounded("GET epoch", conn.get(EPOCH_KEY)).await?;
        let lost_data = self.epoch.as_ref().is_some_and(|e| *e != epoch);
        let replace = !(lost_data || self.overflowed);
        self.flush(conn).await?;
        let redis = load(conn).await?;
        let loaded = redis.len();
        let write_back = {
            let mut state = self.replica.lock();
            let store = &mut state.store;
            // Changes made while loading are already in the replica; a replace must keep them.
            let mut late = Vec::new();
            while let Ok(c) = self.rx.try_recv() {
                late.push(c);
            }
            let back = replica::resync(store, redis, replace, unix_now(SystemTime::now()));
            for c in &late {
                match c.clone() {
                    Change::Upsert { aor, binding } => store.upsert(&aor, binding),
                    Change::Remove { aor, key } => {
                        store.remove(&aor, &key);
                    }
                }
            }
            back.into_iter().chain(late).collect::<Vec<_>>()
        };
        for c in write_back {
            self.queue(c);
        }
        self.flush(conn).await?;
        self.epoch = Some(epoch);
        self.overflowed = false;
        self.down_logged = false;
        self.stats.up.store(true, Ordering::Relaxed);
        self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            loaded,
            node = self.node,
            merged = !replace,
            "shared registrations: Redis link up"
        );
        Ok(())
    }

    /// Writes and announces queued changes, in order, a batch per MULTI.
    async fn flush(&mut self, conn: &mut MultiplexedConnection) -> Result<(), Ended> {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            let now = unix_now(SystemTime::now());
            let mut pipe = redis::pipe();
            pipe.atomic();
            for c in self.pending.iter().take(n) {
                self.write(&mut pipe, c, now);
            }
            if let Err(e) = bounded("write", pipe.query_async::<()>(conn)).await {
                self.stats.failed.fetch_add(n as u64, Ordering::Relaxed);
                return Err(e);
            }
            self.pending.drain(..n);
            self.stats
                .pending
                .store(self.pending.len() as u64, Ordering::Relaxed);
            self.stats.replicated.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Adds one change's write and announcement to `pipe`. A binding already lapsed is deleted.
    fn write(&self, pipe: &mut redis::Pipeline, change: &Change, now: u64) {
        let key = binding_key(change.aor(), change.key());
        let lapsed = match change {
            Change::Upsert { aor, binding } if binding.expires_at > now => {
                match serde_json::to_string(&Entry::new(aor, binding)) {
                    Ok(json) => {
                        pipe.set_ex(&key, json, binding.expires_at - now).ignore();
                        None
                    }
                    Err(_) => Some(Change::Remove {
                        aor: aor.clone(),
                        key: binding.key().to_owned(),
                    }),
                }
            }
            Change::Upsert { aor, binding } => Some(Change::Remove {
                aor: aor.clone(),
                key: binding.key().to_owned(),
            }),
            Change::Remove { .. } => Some(change.clone()),
        };
        let announce = match &lapsed {
            Some(remove) => {
                pipe.del(&key).ignore();
                Announce::new(&self.node, remove)
            }
            None => Announce::new(&self.node, change),
        };
        if let Ok(text) = serde_json::to_string(&announce) {
            pipe.publish(CHANNEL, text).ignore();
        }
    }

    /// Applies one announcement from another node.
    fn receive(&self, payload: &[u8]) {
        let (node, change) = match serde_json::from_slice::<Announce>(payload) {
            Ok(a) => a.into_change(),
            Err(e) => {
                tracing::warn!(error = %e, "shared registrations: unreadable announcement ignored");
                return;
            }
        };
        if node == self.node {
            return;
        }
        let mut state = self.replica.lock();
        if replica::apply(&mut state, change, unix_now(SystemTime::now())) {
            self.stats.applied.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every binding in Redis (unreadable values are skipped and logged).
async fn load(conn: &mut MultiplexedConnection) -> Result<Vec<(Aor, Binding)>, Ended> {
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = bounded(
            "SCAN",
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{KEY_PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(conn),
        )
        .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let values: Vec<Option<String>> =
            bounded("MGET", redis::cmd("MGET").arg(chunk).query_async(conn)).await?;
        for (key, value) in chunk.iter().zip(values) {
            // A key may lapse between SCAN and MGET.
            let Some(text) = value else { continue };
            match serde_json::from_str::<Entry>(&text) {
                Ok(e) => out.push(e.into_parts()),
                Err(e) => {
                    tracing::warn!(key, error = %e, "shared registrations: unreadable binding skipped")
                }
            }
        }
    }
    Ok(out)
}
