//! The SIP core: workers sharded by Call-ID, each owning a sans-IO transaction layer and the B2BUA calls
//! whose legs shard to it, plus the shared registrar and the media pool (the embedded media node).
//!
//! Files: `worker` (run loop, request/response dispatch), `sip_msg` (the layer's message type), `handler`
//! (requests that end here), `registrar_glue` (REGISTER, INVITE authentication, contact lookup),
//! `dialplan_glue` (a new INVITE's origin, dialplan rule and B-leg routes), `calls` (the
//! B2BUA driver: call table, actions → layer/media), `media` (gRPC tasks off the loop, SDP anchoring),
//! [`routing`] (RFC 3261 §18.2.2).
//!
//! Run-loop contract (one per worker, see `worker`): take the next inbound message or the earliest timer,
//! feed it to the transaction layer / request handler / calls with `now`, or take the next media result,
//! then drain every transmit to the transports. A worker keeps one sleep reset to the earliest deadline
//! (transactions and calls), never a task per timer. DEVELOPMENT.md describes calls in the loop.

pub mod bans;
pub mod call_registry;
mod calls;
mod dialplan_glue;
pub mod events_glue;
mod flood;
mod handler;
pub mod inspect;
mod media;
mod origin;
pub mod originate;
mod overload;
mod registrar_glue;
pub mod routing;
mod sip_msg;
mod trunk_probe;
mod trunk_register;
mod worker;

pub use trunk_probe::{RegistrationState, TrunkHealth, TrunkStatus};

use std::collections::hash_map::RandomState;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use switchboard_media_pool::{EmbeddedNode, EmbeddedNodeConfig, MediaPool, NodeStatus, PoolConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::transport::{Inbound, Sink, TransportConfig, Transports};

/// A B-leg Call-ID as worker `worker` makes it (see [`crate::shard::b_leg_worker`]).
pub fn b_leg_call_id(worker: usize) -> String {
    calls::b_leg_token(worker)
}

/// Messages queued per worker before new ones are dropped (UDP senders retransmit; an overloaded server
/// must shed load rather than grow without bound).
const WORKER_QUEUE: usize = 8192;

/// Counters shown on `/health` and used by leak checks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Transactions alive, summed over workers.
    pub transactions: AtomicUsize,
    /// B2BUA calls in progress, summed over workers.
    pub calls: AtomicUsize,
    /// Messages dropped because a worker queue was full (new INVITEs first: see `overload`).
    pub dropped_overload: AtomicU64,
    /// New calls answered 503 because their worker was overloaded (load shedding).
    pub rejected_overload: AtomicU64,
    /// New calls answered 503 because `sip.max_calls` calls were in progress.
    pub rejected_max_calls: AtomicU64,
    /// Workers currently shedding new calls.
    pub overloaded_workers: AtomicUsize,
    /// Messages answered with 400 or dropped as unparseable.
    pub malformed: AtomicU64,
    /// Requests received, by method (index into [`SIP_METHODS`]; the last slot is every other method).
    pub requests_in: [AtomicU64; SIP_METHODS.len() + 1],
    /// Responses received, by class (1xx … 6xx).
    pub responses_in: [AtomicU64; 6],
}

/// Methods counted one by one in [`Counters::requests_in`].
pub const SIP_METHODS: [&str; 13] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "UPDATE",
    "INFO",
    "PRACK",
    "REFER",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
];

impl Counters {
    /// Counts one parsed inbound message.
    pub(crate) fn count_in(&self, msg: &switchboard_sip::Message<'_>) {
        if let Some(m) = msg.method() {
            let i = SIP_METHODS
                .iter()
                .position(|x| *x == m.as_str())
                .unwrap_or(SIP_METHODS.len());
            self.requests_in[i].fetch_add(1, Ordering::Relaxed);
        } else if let Some(status) = msg.status() {
            let class = usize::from(status / 100).clamp(1, 6) - 1;
            self.responses_in[class].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The running SIP core.
pub struct Core {
    transports: Transports,
    /// Stops the transports, after the workers (see `Core::shutdown`).
    transports_stop: CancellationToken,
    registrar: Arc<Mutex<registrar_glue::Registrar>>,
    counters: Arc<Counters>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    media_pool: Arc<MediaPool>,
    media_node: Mutex<Option<EmbeddedNode>>,
    dialing: dialplan_glue::Dialing,
    events: events_glue::Events,
    directory: call_registry::CallDirectory,
    trunk_health: Arc<TrunkHealth>,
    /// Each worker's input channel besides SIP (media results, operator commands).
    worker_inputs: Vec<mpsc::UnboundedSender<media::MediaResult>>,
    bans: Arc<bans::Bans>,
}

struct Dispatcher {
    queues: Vec<mpsc::Sender<Inbound>>,
    hasher: RandomState,
    counters: Arc<Counters>,
    bans: Arc<bans::Bans>,
    flood: Option<flood::Flood>,
    events: events_glue::Events,
}

impl Sink for Dispatcher {
    fn deliver(&self, msg: Inbound) {
        let (ip, now) = (msg.source.ip(), std::time::Instant::now());
        if self.bans.is_banned(ip, now) {
            // A banned source gets no answer at all (as with a firewall rule).
            return;
        }
        if self.flood.as_ref().is_some_and(|f| f.over_limit(ip, now)) && self.bans.ban(ip, now) {
            tracing::warn!(%ip, "banned: message flood");
            let source = ip.to_string();
            self.events
                .publish(None, switchboard_events::Event::Ban { source });
            return;
        }
        let i = crate::shard::pick(&msg.data, msg.source, self.queues.len(), &self.hasher);
        if let Some(q) = self.queues.get(i) {
            // The queue's last slots are kept for work already accepted: new calls are dropped first.
            let full_for_new_calls =
                q.capacity() < overload::NEW_CALL_RESERVE && overload::is_initial_invite(&msg.data);
            if full_for_new_calls || q.try_send(msg).is_err() {
                self.counters
                    .dropped_overload
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Core {
    /// Binds the transports and starts the workers.
    pub async fn start(
        config: &Config,
        plan: crate::reload::PlanHandle,
        shutdown: CancellationToken,
    ) -> std::io::Result<Arc<Core>> {
        let trunk_health = Arc::new(TrunkHealth::new(&config.trunks));
        let dialing = dialplan_glue::Dialing::new(
            plan,
            Arc::new(config.trunks.clone()),
            trunk_health.clone(),
        );
        let counters = Arc::new(Counters::default());
        let (media_node, media_pool) = start_media(config).await?;
        let bans = Arc::new(bans::Bans::new(config.security.clone()));
        let events = events_glue::Events::open(&config.events)?.with_bans(bans.clone());
        let directory = call_registry::CallDirectory::new(events.clone());
        let registrar = Arc::new(Mutex::new(registrar_glue::Registrar::new(
            config,
            events.clone(),
        )));
        let mut queues = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..config.workers.max(1) {
            let (tx, rx) = mpsc::channel(WORKER_QUEUE);
            queues.push(tx);
            receivers.push(rx);
        }
        let dispatcher = Arc::new(Dispatcher {
            queues,
            hasher: RandomState::new(),
            counters: counters.clone(),
            bans: bans.clone(),
            flood: flood::Flood::new(
                config.security.flood_max_per_sec,
                config
                    .trunks
                    .iter()
                    .flat_map(|t| t.inbound.clone())
                    .collect(),
                std::time::Instant::now(),
            ),
            events: events.clone(),
        });
        let mut media_results = Vec::new();
        let mut media_senders = Vec::new();
        let mut worker_inputs = Vec::new();
        let mut workers_early = Vec::new();
        let mut media_clients = Vec::new();
        for _ in 0..receivers.len() {
            let (tx, rx) = mpsc::unbounded_channel();
            media_clients.push(media::MediaClient::new(
                media_pool.clone(),
                tx.clone(),
                config.media.rtp_timeout,
            ));
            media_senders.push(tx.clone());
            worker_inputs.push(tx);
            media_results.push(rx);
        }
        // Subscribed here, not in the task: a pool event right after start (a drain) is not missed.
        workers_early.push(tokio::spawn(media_events(
            media_pool.subscribe(),
            media_senders,
            events.clone(),
            directory.clone(),
            shutdown.clone(),
        )));
        // The transports outlive the shutdown token until the workers are done (`Core::shutdown`),
        // so a stopping worker still gets the answers to its last requests.
        let transports_stop = CancellationToken::new();
        let transports = Transports::bind(
            TransportConfig {
                listen: config.sip_listen.clone(),
                max_message_size: config.max_message_size,
                tcp_idle_timeout: config.tcp_idle_timeout,
                tcp_partial_message_timeout: config.tcp_partial_message_timeout,
                tls_listen: config.sip_tls_listen.clone(),
                tls: config.tls.clone(),
            },
            dispatcher,
            transports_stop.clone(),
        )
        .await?;
        if let Some(tls) = transports.tls() {
            let tls_trunks = config
                .trunks
                .iter()
                .filter(|t| t.transport == switchboard_b2bua::LegTransport::Tls);
            for t in tls_trunks {
                tls.name_peer(t.address, &t.tls_name);
            }
        }
        let mut workers = workers_early;
        workers.push(tokio::spawn(expiry_tick(
            registrar.clone(),
            shutdown.clone(),
        )));
        let channels = receivers.into_iter().zip(media_clients).zip(media_results);
        for (index, ((rx, client), results)) in channels.enumerate() {
            let calls = calls::Calls::new(index, client, counters.clone(), directory.clone());
            let mut w = worker::Worker::new(
                config,
                transports.clone(),
                registrar.clone(),
                dialing.clone(),
                counters.clone(),
                calls,
            );
            if index == 0 {
                w.probe_trunks(&config.trunks, trunk_health.clone(), events.clone(), index);
            }
            workers.push(tokio::spawn(w.run(rx, results, shutdown.clone())));
        }
        Ok(Arc::new(Core {
            transports,
            transports_stop,
            registrar,
            counters,
            workers: Mutex::new(workers),
            media_pool,
            media_node: Mutex::new(media_node),
            dialing,
            events,
            directory,
            trunk_health,
            worker_inputs,
            bans,
        }))
    }

    /// The transports.
    pub fn transports(&self) -> &Transports {
        &self.transports
    }

    /// Live transactions over all workers.
    pub fn transaction_count(&self) -> usize {
        self.counters.transactions.load(Ordering::Relaxed)
    }

    /// Bindings in the location service.
    pub fn registration_count(&self) -> usize {
        self.registrar
            .lock()
            .map(|r| r.binding_count())
            .unwrap_or(0)
    }

    /// The Redis link of shared registrations (`[registrar] shared_redis_url`), when configured.
    pub(crate) fn shared_registrations(&self) -> Option<registrar_glue::SharedRegistrationStatus> {
        self.registrar.lock().ok().and_then(|r| r.shared_status())
    }

    /// B2BUA calls in progress over all workers.
    pub fn call_count(&self) -> usize {
        self.counters.calls.load(Ordering::Relaxed)
    }

    /// Whether any worker is overloaded, refusing new calls with 503 (`sip.overload_queue_delay_ms`).
    pub fn overloaded(&self) -> bool {
        self.counters.overloaded_workers.load(Ordering::Relaxed) > 0
    }

    /// The media-node pool (the embedded node).
    pub fn media_pool(&self) -> &MediaPool {
        &self.media_pool
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Waits for the workers to finish after the shutdown token fired.
    pub async fn shutdown(&self) {
        let workers = self
            .workers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for w in workers {
            // Workers end when the shutdown token fires; a stuck one must not hold the process.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), w).await;
        }
        self.transports_stop.cancel();
        let node = self.media_node.lock().ok().and_then(|mut n| n.take());
        if let Some(node) = node {
            if let Err(e) = node.stop(std::time::Duration::from_secs(2)).await {
                tracing::warn!(error = %e, "embedded media node did not stop cleanly");
            }
        }
        self.events
            .shutdown(std::time::Duration::from_secs(3))
            .await;
    }

    /// Sources banned for failing authentication (`[security]`).
    pub fn bans(&self) -> &bans::Bans {
        &self.bans
    }

    /// Every trunk's OPTIONS keepalive state.
    pub fn trunk_health(&self) -> &TrunkHealth {
        &self.trunk_health
    }

    /// The event pipeline (journal, sinks, subscriptions).
    pub fn events(&self) -> &events_glue::Events {
        &self.events
    }
}

/// Starts the embedded media node (DESIGN.md "Embedded default") and a pool holding it, and waits
/// until the pool sees it up.
async fn start_media(config: &Config) -> std::io::Result<(Option<EmbeddedNode>, Arc<MediaPool>)> {
    if !config.media_nodes.is_empty() {
        let pool = MediaPool::new(PoolConfig {
            nodes: config.media_nodes.clone(),
            tls: config.media_tls.clone(),
            ..PoolConfig::default()
        })
        .map_err(|e| std::io::Error::other(format!("media pool: {e}")))?;
        let up = pool
            .wait_until(std::time::Duration::from_secs(5), |nodes| {
                nodes.iter().any(|n| n.status == NodeStatus::Up)
            })
            .await;
        if !up {
            tracing::warn!("no configured media node is up yet; calls get 503 until one is");
        }
        return Ok((None, Arc::new(pool)));
    }
    let node = EmbeddedNode::start(EmbeddedNodeConfig {
        rtp_ip: config.media.rtp_ip,
        ports: config.media.ports,
        ..EmbeddedNodeConfig::default()
    })
    .await
    .map_err(|e| std::io::Error::other(format!("embedded media node: {e}")))?;
    // The node runs in this process: a slow Health answer means the machine is overloaded, not that
    // the node died, and marking it down would turn overload into 503 for every new call. So it is
    // given longer to answer and many more misses than a remote node.
    let pool = MediaPool::new(PoolConfig {
        health_timeout: std::time::Duration::from_secs(2),
        down_after_failures: 10,
        ..PoolConfig::default()
    })
    .and_then(|pool| node.add_to(&pool, "embedded").map(|()| pool))
    .map_err(|e| std::io::Error::other(format!("media pool: {e}")))?;
    let up = pool
        .wait_until(std::time::Duration::from_secs(5), |nodes| {
            nodes.iter().any(|n| n.status == NodeStatus::Up)
        })
        .await;
    if !up {
        return Err(std::io::Error::other(
            "embedded media node not up within 5 s",
        ));
    }
    Ok((Some(node), Arc::new(pool)))
}

/// Forwards the media nodes' RTP timeouts to the worker owning the call (its index is in the call
/// UUID, see `calls::b_leg_token`), and reports RFC 4733 digits as call events (logged; the event pipeline
/// comes later).
async fn media_events(
    mut pool_events: tokio::sync::broadcast::Receiver<switchboard_media_pool::PoolEvent>,
    workers: Vec<mpsc::UnboundedSender<media::MediaResult>>,
    events: events_glue::Events,
    directory: call_registry::CallDirectory,
    shutdown: CancellationToken,
) {
    use switchboard_events::Event;
    use switchboard_media_pool::PoolEvent;
    use switchboard_media_pool::proto::media_event::Kind;
    loop {
        let event = tokio::select! {
            e = pool_events.recv() => e,
            () = shutdown.cancelled() => return,
        };
        match event {
            Ok(PoolEvent::Media { node, event }) => {
                if let Some(Kind::Dtmf(d)) = &event.kind {
                    let leg = if d.leg == switchboard_media_pool::proto::Leg::A as i32 {
                        "a"
                    } else {
                        "b"
                    };
                    tracing::info!(
                        call_uuid = %event.call_id,
                        node = %node,
                        leg,
                        digit = %d.digit,
                        duration_ms = d.duration_ms,
                        "dtmf"
                    );
                    let dtmf = Event::CallDtmf {
                        leg: if leg == "a" {
                            switchboard_events::event::Leg::A
                        } else {
                            switchboard_events::event::Leg::B
                        },
                        digit: d.digit.chars().next().unwrap_or('?'),
                        duration_ms: d.duration_ms,
                    };
                    events.publish(Some(&event.call_id), dtmf);
                    continue;
                }
                if !matches!(event.kind, Some(Kind::RtpTimeout(_))) {
                    continue;
                }
                let worker = crate::shard::b_leg_worker(event.call_id.as_bytes(), workers.len());
                if let Some(tx) = worker.and_then(|w| workers.get(w)) {
                    let _ = tx.send(media::MediaResult::RtpTimeout {
                        call_uuid: event.call_id,
                    });
                }
            }
            Ok(PoolEvent::NodeStatus {
                node,
                status,
                reason,
            }) => {
                tracing::info!(node, status = status.as_str(), reason, "media node status");
                if status == NodeStatus::Down {
                    media_lost(&node, &directory, &workers);
                }
                let event = match status {
                    NodeStatus::Up => Event::MediaNodeUp { node },
                    NodeStatus::Down => Event::MediaNodeDown { node },
                    NodeStatus::Draining => Event::MediaNodeDraining { node },
                    NodeStatus::Unknown => continue,
                };
                events.publish(None, event);
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "media events lagged");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A media node went down: every call anchored on it has lost its media; its worker moves an
/// answered call to another node (re-INVITE on both legs) or ends it (BYE on both legs with a
/// media-failure cause, or 503 while still being set up).
fn media_lost(
    node: &str,
    directory: &call_registry::CallDirectory,
    workers: &[mpsc::UnboundedSender<media::MediaResult>],
) {
    for call in directory.snapshot() {
        if call.media_node.as_deref() != Some(node) {
            continue;
        }
        tracing::warn!(
            call_uuid = call.uuid,
            node,
            "media node down: moving or ending the call"
        );
        let worker = crate::shard::b_leg_worker(call.uuid.as_bytes(), workers.len());
        if let Some(tx) = worker.and_then(|w| workers.get(w)) {
            let _ = tx.send(media::MediaResult::MediaLost {
                call_uuid: call.uuid,
            });
        }
    }
}

/// Once a second, lapsed registrations are removed (and reported).
async fn expiry_tick(
    registrar: Arc<Mutex<registrar_glue::Registrar>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(mut r) = registrar.lock() {
                    r.expire(std::time::SystemTime::now());
                }
            }
            () = shutdown.cancelled() => return,
        }
    }
}
