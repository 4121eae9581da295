//! A worker's calls: the B2BUA driver. Owns every [`Call`] whose legs shard to this worker, indexes
//! them by both legs' Call-IDs, maps client transactions back to calls, and turns each call's
//! [`Action`]s into transaction-layer operations, direct sends and media tasks.
//!
//! Both legs of a call are handled by the worker that took the A-leg INVITE: the B-leg Call-ID is
//! made by [`b_leg_token`] as `sbw<worker>-<32 hex digits>` (128 random bits), and
//! [`crate::shard::pick`] sends a Call-ID of exactly that form to worker `<worker>`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use switchboard_b2bua::{
    Action, Call, CallConfig, CallEvent, ClientTxId, Leg, Parties, RandomSource, RouteTarget,
    SecondParty,
};
use switchboard_media_pool::proto as pb;
use switchboard_sip::{HeaderName, Message};
use switchboard_transaction::{TransactionKey, TransactionLayer};

use super::Counters;
use super::call_registry::{CallDirectory, quality_of};
use super::dialplan_glue::Admitted;
use super::handler::{SERVER, rand_u64};
use super::media::{MediaClient, MediaResult, Session};
use super::worker::SipMsg;
use crate::transport::Target;
use switchboard_events::event::TransferOrigin;

/// The server transaction a call answers on, with where its responses go.
#[derive(Debug, Clone)]
pub(crate) struct ServerTx {
    pub(crate) key: TransactionKey,
    pub(crate) target: Option<Target>,
}

/// The B-leg Call-ID prefix; see the module doc.
pub(crate) const B_LEG_PREFIX: &str = "sbw";

/// A fresh token whose form routes to `worker` (used for the B-leg Call-ID, tags and branches).
pub(crate) fn b_leg_token(worker: usize) -> String {
    format!(
        "{B_LEG_PREFIX}{worker}-{:016x}{:016x}",
        rand_u64(),
        rand_u64()
    )
}

struct WorkerTokens(usize);

impl RandomSource for WorkerTokens {
    fn token(&mut self) -> String {
        b_leg_token(self.0)
    }
}

enum MediaState {
    None,
    Allocating { release: bool },
    Ready(Session),
    Released,
}

struct Entry {
    call: Call<ServerTx>,
    uuid: String,
    a_target: Option<Target>,
    media: MediaState,
    call_ids: Vec<String>,
    /// Whether each leg's latest SDP holds its stream (A, B): a silent leg is then expected, so
    /// the node's RTP timeout does not hang the call up.
    hold: [bool; 2],
    /// Client transactions the call started and its A-leg INVITE's server transaction, to unindex
    /// them when the call goes without scanning every call's.
    client_keys: Vec<TransactionKey>,
    /// `None` for a call we originate.
    a_key: Option<TransactionKey>,
    /// The media session the call released, whose final statistics complete the CDR.
    releasing: Option<String>,
}

/// The calls of one worker.
pub(crate) struct Calls {
    worker: usize,
    next: u64,
    entries: HashMap<u64, Entry>,
    by_call_id: HashMap<String, u64>,
    client: HashMap<TransactionKey, (u64, ClientTxId)>,
    a_tx: HashMap<TransactionKey, u64>,
    /// Each call's earliest deadline, ordered, so the worker's next wake-up and the due calls are
    /// found without scanning every call.
    timers: BTreeSet<(Instant, u64)>,
    timer_of: HashMap<u64, Instant>,
    by_uuid: HashMap<String, u64>,
    media: MediaClient,
    counters: Arc<Counters>,
    directory: CallDirectory,
    /// ACKs for 2xx, sent without a transaction; drained by the worker.
    pub(crate) direct: Vec<(Target, Bytes)>,
    /// REFERs waiting to be routed by the worker: (call UUID, target, the referring leg).
    pub(crate) refers: Vec<(String, String, Leg)>,
}

impl Calls {
    pub(crate) fn new(
        worker: usize,
        media: MediaClient,
        counters: Arc<Counters>,
        directory: CallDirectory,
    ) -> Calls {
        Calls {
            worker,
            next: 1,
            entries: HashMap::new(),
            by_call_id: HashMap::new(),
            client: HashMap::new(),
            a_tx: HashMap::new(),
            timers: BTreeSet::new(),
            timer_of: HashMap::new(),
            by_uuid: HashMap::new(),
            media,
            counters,
            directory,
            direct: Vec::new(),
            refers: Vec::new(),
        }
    }

    /// The call a Call-ID belongs to (either leg).
    pub(crate) fn find(&self, call_id: &str) -> Option<u64> {
        self.by_call_id.get(call_id).copied()
    }

    /// The call whose A-leg INVITE is server transaction `key` (for CANCEL).
    pub(crate) fn find_by_invite(&self, key: &TransactionKey) -> Option<u64> {
        self.a_tx.get(key).copied()
    }

    /// Calls in progress.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Starts a call for a new, authenticated and routed INVITE: `plan.route` with the first
    /// `plan.parallel` of `plan.fallbacks` at the same time (first answer wins), then each other
    /// fallback in order while the B leg fails with a retryable status (serial failover) or, in a
    /// hunt, rings past the per-member timeout.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
        config: CallConfig,
        invite: Message<'static>,
        tx: ServerTx,
        source: SocketAddr,
        plan: Admitted,
    ) {
        let Admitted {
            route,
            fallbacks,
            parallel,
            attempt_timeout,
            caller_id,
        } = plan;
        let n = self.next;
        self.next += 1;
        // Same form as the B-leg Call-ID, so a node's events for this call find this worker.
        let uuid = b_leg_token(self.worker);
        let a_call_id = invite.call_id().map(str::to_owned).unwrap_or_default();
        tracing::info!(
            call_uuid = uuid,
            a_call_id,
            to = route.request_uri,
            "call started"
        );
        let user = |u: Option<switchboard_sip::Uri<'_>>| {
            u.and_then(|u| u.user_decoded().map(|x| x.into_owned()))
                .unwrap_or_default()
        };
        let from = user(invite.from().ok().map(|f| f.uri));
        let to = user(invite.request_uri().ok());
        self.directory.created(&uuid, &from, &to, &a_call_id);
        self.a_tx.insert(tx.key.clone(), n);
        let a_key = tx.key.clone();
        let a_target = tx.target.clone();
        let rng = Box::new(WorkerTokens(self.worker));
        let call = Call::new(now, config, invite, tx, source, route, rng);
        let call = with_plan(call, fallbacks, parallel, attempt_timeout, caller_id);
        self.by_call_id.insert(a_call_id.clone(), n);
        self.install(n, uuid, call, a_target, Some(a_key), vec![a_call_id]);
        self.pump(n, now, layer);
    }

    /// Starts a call we originate between `parties` (see `Call::originate`): the first party is
    /// rung by `first`, the second by `second` once the first answered. Returns the call's UUID,
    /// or which of `"first"`, `"second"`, `"domain"` does not make a SIP URI.
    pub(crate) fn originate(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
        config: CallConfig,
        parties: &Parties,
        first: Admitted,
        second: Admitted,
    ) -> Result<String, &'static str> {
        let second = SecondParty {
            route: second.route,
            others: second.fallbacks,
            parallel: second.parallel,
            caller_id: second.caller_id,
        };
        let rng = Box::new(WorkerTokens(self.worker));
        let call = Call::originate(config, parties, first.route, second, rng)?;
        let call = with_plan(
            call,
            first.fallbacks,
            first.parallel,
            first.attempt_timeout,
            first.caller_id,
        );
        let n = self.next;
        self.next += 1;
        let uuid = b_leg_token(self.worker);
        tracing::info!(
            call_uuid = uuid,
            first = parties.first,
            second = parties.second,
            "originated call started"
        );
        self.directory
            .created(&uuid, &parties.first, &parties.second, "");
        self.install(n, uuid.clone(), call, None, None, Vec::new());
        self.pump(n, now, layer);
        Ok(uuid)
    }

    /// Indexes a new call `n` and counts it.
    fn install(
        &mut self,
        n: u64,
        uuid: String,
        call: Call<ServerTx>,
        a_target: Option<Target>,
        a_key: Option<TransactionKey>,
        call_ids: Vec<String>,
    ) {
        self.by_uuid.insert(uuid.clone(), n);
        self.entries.insert(
            n,
            Entry {
                call,
                uuid,
                a_target,
                media: MediaState::None,
                call_ids,
                hold: [false; 2],
                client_keys: Vec::new(),
                a_key,
                releasing: None,
            },
        );
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Feeds an event to call `n` and carries out what it asks.
    pub(crate) fn handle(
        &mut self,
        n: u64,
        now: Instant,
        event: CallEvent<ServerTx>,
        layer: &mut TransactionLayer<SipMsg>,
    ) {
        if let Some(e) = self.entries.get_mut(&n) {
            e.call.handle(now, event);
            self.pump(n, now, layer);
        }
    }

    /// A transaction-layer event; false when the key is not one of our client transactions.
    pub(crate) fn on_client_event(
        &mut self,
        key: &TransactionKey,
        event: switchboard_transaction::TransactionEvent<SipMsg>,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
    ) -> bool {
        use switchboard_transaction::TransactionEvent as T;
        let Some(&(n, tx)) = self.client.get(key) else {
            return false;
        };
        match event {
            T::Response { response, .. } => {
                let response = Arc::unwrap_or_clone(response.msg);
                self.handle(n, now, CallEvent::Response { tx, response }, layer);
            }
            T::TimedOut | T::TransportError => {
                self.forget_client(n, key);
                self.handle(n, now, CallEvent::ClientTimedOut { tx }, layer);
            }
            T::Terminated => self.forget_client(n, key),
            _ => {}
        }
        true
    }

    fn forget_client(&mut self, n: u64, key: &TransactionKey) {
        self.client.remove(key);
        if let Some(e) = self.entries.get_mut(&n) {
            e.client_keys.retain(|k| k != key);
        }
    }

    /// The call whose UUID is `uuid`.
    fn by_uuid(&self, uuid: &str) -> Option<u64> {
        self.by_uuid.get(uuid).copied()
    }

    /// The caller's INVITE of call `uuid`, for routing a transfer.
    pub(crate) fn a_invite_of(&self, uuid: &str) -> Option<Message<'static>> {
        let n = self.by_uuid(uuid)?;
        self.entries.get(&n).map(|e| e.call.a_invite().clone())
    }

    /// Blind transfer of call `uuid` to `route`: of the caller (`Call::transfer_b`: the API, a
    /// callee's REFER), or of the callee after the caller's REFER (`by` A: `Call::transfer_a`);
    /// `false` when the call cannot be transferred now.
    pub(crate) fn transfer(
        &mut self,
        uuid: &str,
        route: RouteTarget,
        by: TransferOrigin,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
    ) -> bool {
        let Some(n) = self.by_uuid(uuid) else {
            return false;
        };
        let target = route.request_uri.clone();
        let started = self.entries.get_mut(&n).is_some_and(|e| match by {
            TransferOrigin::A => {
                // The callee becomes the call's A leg: requests to it follow its Via, not the
                // caller's connection.
                let swapped = e.call.transfer_a(now, route);
                if swapped {
                    e.a_target = None;
                }
                swapped
            }
            TransferOrigin::B | TransferOrigin::Api => e.call.transfer_b(now, route),
        });
        if started {
            tracing::info!(call_uuid = uuid, target, "blind transfer");
            self.directory.transferred(uuid, &target, by);
        }
        self.pump(n, now, layer);
        started
    }

    /// A callee's REFER whose target the dialplan refused: the callee is told `status`.
    pub(crate) fn refer_failed(
        &mut self,
        uuid: &str,
        status: u16,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
    ) {
        let Some(n) = self.by_uuid(uuid) else {
            return;
        };
        if let Some(e) = self.entries.get_mut(&n) {
            e.call.refer_failed(status);
        }
        self.pump(n, now, layer);
    }

    /// A server transaction ended: forget it as a CANCEL target.
    pub(crate) fn on_server_terminated(&mut self, key: &TransactionKey) {
        self.a_tx.remove(key);
    }

    /// The outcome of a media task.
    pub(crate) fn on_media(
        &mut self,
        result: MediaResult,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
    ) {
        match result {
            MediaResult::Allocated {
                call,
                session,
                b_offer,
            } => {
                if self.take_session(call, session) {
                    self.handle(call, now, CallEvent::MediaAllocated { b_offer }, layer);
                }
            }
            MediaResult::Moved {
                call,
                session,
                a_offer,
                b_offer,
            } => {
                if self.take_session(call, session) {
                    let moved = CallEvent::MediaMoved { a_offer, b_offer };
                    self.handle(call, now, moved, layer);
                }
            }
            MediaResult::Updated {
                call,
                op,
                leg,
                sdp,
                hold,
            } => {
                if let Some(e) = self.entries.get_mut(&call) {
                    e.hold[usize::from(leg == Leg::B)] = hold;
                    self.directory.hold(&e.uuid, leg, hold);
                    if leg == Leg::B {
                        // B's answer (as rewritten for A) names the codec the call uses.
                        let codec = super::media::negotiated_codec(&sdp);
                        self.directory.codec(&e.uuid, codec);
                    }
                }
                self.handle(call, now, CallEvent::MediaUpdated { op, sdp }, layer);
            }
            MediaResult::RtpTimeout { call_uuid } => {
                let found = self
                    .by_uuid(&call_uuid)
                    .and_then(|n| Some((n, self.entries.get(&n)?)));
                if let Some((n, e)) = found {
                    if e.hold.contains(&true) {
                        tracing::info!(call_uuid, "media silent past the RTP timeout, on hold");
                        return;
                    }
                    tracing::info!(call_uuid, "media silent past the RTP timeout: hanging up");
                    self.handle(n, now, CallEvent::Hangup, layer);
                }
            }
            MediaResult::MediaLost { call_uuid } => {
                let found = self.by_uuid(&call_uuid);
                if let Some((n, e)) = found.and_then(|n| Some((n, self.entries.get_mut(&n)?))) {
                    // The session died with its node: nothing to release. The call moves to
                    // another node (Action::MoveMedia) or ends.
                    let event = match e.media {
                        MediaState::Ready(_) => CallEvent::MediaLost,
                        _ => CallEvent::MediaFailed,
                    };
                    e.media = MediaState::Released;
                    self.handle(n, now, event, layer);
                }
            }
            MediaResult::Transfer { reply, .. } => {
                // Routed by the worker before it gets here (`Worker::on_transfer`).
                let _ = reply.send(Err(super::media::TransferRefusal::NotFound));
            }
            MediaResult::Originate { reply, .. } => {
                // Started by the worker before it gets here.
                let _ = reply.send(Err("worker"));
            }
            MediaResult::Hangup { call_uuid } => {
                if let Some(n) = self.by_uuid(&call_uuid) {
                    tracing::info!(call_uuid, "operator hang-up");
                    self.handle(n, now, CallEvent::Hangup, layer);
                }
            }
            MediaResult::Failed { call, op } => {
                if let Some(e) = self.entries.get_mut(&call) {
                    if let MediaState::Allocating { .. } = e.media {
                        e.media = MediaState::Released;
                    }
                }
                let event = match op {
                    Some(op) => CallEvent::MediaUpdateFailed { op },
                    None => CallEvent::MediaFailed,
                };
                self.handle(call, now, event, layer);
            }
        }
    }

    /// A session allocated for call `call` becomes its media session (released at once when the
    /// call is gone or asked for its release meanwhile); whether the call should be told.
    fn take_session(&mut self, call: u64, session: Session) -> bool {
        let Some(e) = self.entries.get_mut(&call) else {
            self.media.release(session.id);
            return false;
        };
        if let MediaState::Allocating { release: true } = e.media {
            e.media = MediaState::Released;
            self.media.release(session.id);
            return false;
        }
        tracing::debug!(call_uuid = e.uuid, session = session.id, "media allocated");
        let node = self.media.node_of(&session.id);
        self.directory.media(&e.uuid, node, &session.id);
        e.media = MediaState::Ready(session);
        true
    }

    /// The earliest call timer (ring, ACK, 2xx retransmission, session timer).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Fires every call timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        let due: Vec<u64> = self
            .timers
            .range(..=(now, u64::MAX))
            .map(|(_, n)| *n)
            .collect();
        for n in due {
            if let Some(e) = self.entries.get_mut(&n) {
                e.call.handle_timeout(now);
            }
            self.pump(n, now, layer);
        }
    }

    /// Hangs up every call (shutdown).
    pub(crate) fn hang_up_all(&mut self, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        let all: Vec<u64> = self.entries.keys().copied().collect();
        for n in all {
            self.handle(n, now, CallEvent::Hangup, layer);
        }
    }

    /// Re-indexes call `n`'s earliest deadline.
    fn rearm(&mut self, n: u64) {
        if let Some(t) = self.timer_of.remove(&n) {
            self.timers.remove(&(t, n));
        }
        if let Some(t) = self.entries.get(&n).and_then(|e| e.call.poll_timeout()) {
            self.timers.insert((t, n));
            self.timer_of.insert(n, t);
        }
    }

    /// Carries out every action call `n` has queued, then re-indexes its deadline.
    fn pump(&mut self, n: u64, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        self.carry_out(n, now, layer);
        self.rearm(n);
    }

    fn carry_out(&mut self, n: u64, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        loop {
            let Some(e) = self.entries.get_mut(&n) else {
                return;
            };
            let Some(action) = e.call.poll_action() else {
                break;
            };
            match action {
                Action::Respond { tx, mut response } => {
                    let status = response.status().unwrap_or(500);
                    if self.a_tx.get(&tx.key) == Some(&n) {
                        let sdp = !response.body().is_empty();
                        self.directory.a_invite_response(&e.uuid, status, sdp);
                    }
                    response.set_header(HeaderName::Server, SERVER);
                    let msg = SipMsg::new(response, tx.target.clone());
                    if let Err(err) = layer.send_response(now, &tx.key, status, msg) {
                        tracing::debug!(call_uuid = e.uuid, error = %err, "response refused");
                    }
                }
                Action::SendRequest {
                    leg,
                    tx,
                    request,
                    next_hop,
                } => {
                    let target = leg_target(leg, next_hop, e.a_target.as_ref(), &request);
                    let Some(key) = client_key(&request) else {
                        e.call.handle(now, CallEvent::ClientTimedOut { tx });
                        continue;
                    };
                    let reliable = target.transport.is_reliable();
                    if leg == Leg::B {
                        if let Some(id) = request.call_id().ok().map(str::to_owned) {
                            if !e.call_ids.contains(&id) {
                                self.directory.b_leg(&e.uuid, &id);
                                e.call_ids.push(id.clone());
                                self.by_call_id.insert(id, n);
                            }
                        }
                    }
                    e.client_keys.push(key.clone());
                    self.client.insert(key.clone(), (n, tx));
                    let msg = SipMsg::new(request, Some(target));
                    if let Err(err) = layer.send_request(now, key.clone(), msg, reliable) {
                        tracing::debug!(error = %err, "client transaction refused");
                        self.client.remove(&key);
                        if let Some(e) = self.entries.get_mut(&n) {
                            e.call.handle(now, CallEvent::ClientTimedOut { tx });
                        }
                    }
                }
                Action::SendAck {
                    leg,
                    request,
                    next_hop,
                } => {
                    let target = leg_target(leg, next_hop, e.a_target.as_ref(), &request);
                    self.direct.push((target, Bytes::from(request.encode())));
                }
                Action::AllocateMedia { offer } => {
                    e.media = MediaState::Allocating { release: false };
                    self.media.allocate(n, e.uuid.clone(), Ok(offer));
                }
                Action::MoveMedia {
                    a_sdp,
                    b_sdp,
                    sent_a,
                    sent_b,
                } => {
                    tracing::warn!(call_uuid = e.uuid, "moving the call to another media node");
                    e.media = MediaState::Allocating { release: false };
                    let sdps = super::media::MoveSdps {
                        a_sdp,
                        b_sdp,
                        sent_a,
                        sent_b,
                    };
                    self.media.relocate(n, e.uuid.clone(), sdps);
                }
                Action::OfferMedia { leg } => {
                    e.media = MediaState::Allocating { release: false };
                    self.media.allocate(n, e.uuid.clone(), Err(leg));
                }
                Action::Progress { status } => {
                    self.directory.a_invite_response(&e.uuid, status, false);
                    if status == 200 {
                        // The first party's dialog is the A leg now.
                        self.directory.a_leg(&e.uuid, e.call.a_call_id());
                    }
                }
                Action::UpdateMedia { op, leg, sdp } => match &e.media {
                    MediaState::Ready(session) => {
                        self.media.update(n, op, session.clone(), leg, sdp);
                    }
                    _ => e.call.handle(now, CallEvent::MediaUpdateFailed { op }),
                },
                Action::Transfer { target, referrer } => {
                    tracing::info!(call_uuid = e.uuid, target, ?referrer, "REFER");
                    self.refers.push((e.uuid.clone(), target, referrer));
                }
                Action::ReleaseMedia => {
                    match std::mem::replace(&mut e.media, MediaState::Released) {
                        // Released with the call's end, so its statistics go into the CDR.
                        MediaState::Ready(session) => e.releasing = Some(session.id),
                        MediaState::Allocating { .. } => {
                            e.media = MediaState::Allocating { release: true };
                        }
                        MediaState::None | MediaState::Released => {}
                    }
                }
                Action::Ended {
                    cause,
                    a_status,
                    duration,
                } => {
                    tracing::info!(
                        call_uuid = e.uuid,
                        ?cause,
                        a_status,
                        ?duration,
                        "call ended"
                    );
                    let cdr = self.directory.end(&e.uuid, cause, a_status, duration);
                    match (e.releasing.take(), cdr) {
                        (Some(session), Some(cdr)) => {
                            self.media.release_then(session, move |info| {
                                let stats = |l: &Option<pb::LegInfo>| {
                                    l.as_ref().and_then(|l| l.rtp_in).unwrap_or_default()
                                };
                                let quality =
                                    info.map(|i| quality_of(&stats(&i.leg_a), &stats(&i.leg_b)));
                                cdr.publish(quality);
                            });
                        }
                        (Some(session), None) => self.media.release(session),
                        (None, Some(cdr)) => cdr.publish(None),
                        (None, None) => {}
                    }
                    self.remove(n);
                    return;
                }
            }
        }
    }

    fn remove(&mut self, n: u64) {
        let Some(e) = self.entries.remove(&n) else {
            return;
        };
        for id in &e.call_ids {
            self.by_call_id.remove(id);
        }
        self.by_uuid.remove(&e.uuid);
        for key in &e.client_keys {
            if self.client.get(key).is_some_and(|(c, _)| *c == n) {
                self.client.remove(key);
            }
        }
        if let Some(key) = e.a_key.filter(|k| self.a_tx.get(k) == Some(&n)) {
            self.a_tx.remove(&key);
        }
        if let Some(t) = self.timer_of.remove(&n) {
            self.timers.remove(&(t, n));
        }
        if let MediaState::Ready(session) = e.media {
            self.media.release(session.id);
        }
        if let Some(session) = e.releasing {
            self.media.release(session);
        }
        self.counters.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `call` with the rest of its dialplan plan: further routes (the first `parallel` rung with the
/// first route, the rest as serial fallbacks), a hunt's per-route ring time and a caller-ID rewrite.
fn with_plan(
    mut call: Call<ServerTx>,
    others: Vec<RouteTarget>,
    parallel: usize,
    attempt_timeout: Option<std::time::Duration>,
    caller_id: Option<String>,
) -> Call<ServerTx> {
    for (i, other) in others.into_iter().enumerate() {
        if i < parallel {
            call.add_parallel_route(other);
        } else {
            call.add_fallback_route(other);
        }
    }
    if let Some(t) = attempt_timeout {
        call.set_attempt_timeout(t);
    }
    if let Some(id) = caller_id {
        call.set_caller_id(id);
    }
    call
}

/// Where `request` to `leg` goes: A back the way its INVITE came (same transport and connection),
/// to the address the call names; B (and the A leg of a call we originated) to the next hop over
/// the transport its Via names (the route's: UDP, or TCP over an open or new connection).
fn leg_target(leg: Leg, next_hop: SocketAddr, a: Option<&Target>, request: &Message<'_>) -> Target {
    match (leg, a) {
        (Leg::A, Some(a)) => Target {
            dest: next_hop,
            ..a.clone()
        },
        _ => {
            let leg = request
                .top_via()
                .map(|v| switchboard_b2bua::LegTransport::from_via(v.transport))
                .unwrap_or_default();
            Target {
                dest: next_hop,
                transport: super::trunk_probe::server_transport(leg),
                local: None,
                conn: None,
            }
        }
    }
}

/// The client transaction key of a request we send (RFC 3261 §17.1.3: branch, sent-by, method).
pub(super) fn client_key(request: &Message<'_>) -> Option<TransactionKey> {
    let via = request.top_via().ok()?;
    let sent_by = match via.port {
        Some(p) => format!("{}:{p}", via.host),
        None => via.host.to_string(),
    };
    let method = request.method()?.as_str().to_owned();
    let method = if method == "ACK" {
        "INVITE".to_owned()
    } else {
        method
    };
    Some(TransactionKey::client(via.branch()?, &sent_by, &method))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    #[test]
    fn b_leg_tokens_name_their_worker_and_differ() {
        let (a, b) = (b_leg_token(5), b_leg_token(5));
        assert_ne!(a, b);
        assert_eq!(crate::shard::b_leg_worker(a.as_bytes(), 8), Some(5));
        assert_eq!(crate::shard::b_leg_worker(a.as_bytes(), 5), None);
    }

    #[test]
    fn rfc3261_s17_1_3_client_key_from_branch_sent_by_and_method() {
        let req = Message::parse(
            b"CANCEL sip:b@198.51.100.2 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKx\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 CANCEL\r\n\r\n",
        )
        .expect("parse");
        let key = client_key(&req).expect("key");
        assert_eq!(
            key,
            TransactionKey::client("z9hG4bKx", "203.0.113.1:5060", "CANCEL")
        );
        let no_branch = Message::parse(
            b"BYE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n",
        )
        .expect("parse");
        assert!(client_key(&no_branch).is_none());
    }

    #[test]
    fn requests_to_a_follow_its_transport_requests_to_b_the_transport_their_via_names() {
        let hop: SocketAddr = "192.0.2.7:5070".parse().expect("addr");
        let a = Target {
            dest: "192.0.2.7:40000".parse().expect("addr"),
            transport: Transport::Tcp,
            local: None,
            conn: None,
        };
        let over = |t: &str| {
            Message::parse(
                format!(
                    "BYE sip:b@y SIP/2.0\r\nVia: SIP/2.0/{t} 203.0.113.1;branch=z9hG4bKq\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("parse")
            .into_owned()
        };
        let to_a = leg_target(Leg::A, hop, Some(&a), &over("UDP"));
        assert_eq!((to_a.dest, to_a.transport), (hop, Transport::Tcp));
        let to_b = leg_target(Leg::B, hop, Some(&a), &over("UDP"));
        assert_eq!((to_b.dest, to_b.transport), (hop, Transport::Udp));
        let to_b = leg_target(Leg::B, hop, Some(&a), &over("TCP"));
        assert_eq!((to_b.dest, to_b.transport), (hop, Transport::Tcp));
    }
}
