//! One signaling worker: owns a transaction layer for the Call-IDs hashed to it and drives it with one
//! sleep reset to the earliest deadline.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use switchboard_b2bua::{CallConfig, CallEvent};
use switchboard_sip::{HeaderName, Message, ParseLimits, bad_request};
use switchboard_transaction::{
    LayerConfig, RequestDecision, RequestInfo, ResponseDecision, ResponseInfo, Role, TimerConfig,
    TransactionEvent, TransactionKey, TransactionLayer,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Counters;
use super::calls::{Calls, ServerTx};
use super::dialplan_glue::Dialing;
use super::handler::{Handler, Origin, SERVER};
use super::media::{MediaResult, OriginateRequest, TransferRefusal};
use super::overload::{self, OverloadDetector, Refusal};
use super::registrar_glue::Registrar;
use super::routing::{Arrival, ViaRoute, response_target};
pub(crate) use super::sip_msg::SipMsg;
use super::trunk_probe::TrunkProber;
use super::trunk_register::TrunkRegistrar;
use crate::config::{Config, OverloadConfig};
use crate::transport::{Inbound, Target, Transports};

/// How long a stopping worker keeps handling answers to its un-REGISTERs (under the 2 s the core
/// waits for each worker).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(1500);

pub(crate) struct Worker {
    layer: TransactionLayer<SipMsg>,
    transports: Transports,
    handler: Handler,
    counters: Arc<Counters>,
    limits: ParseLimits,
    live: usize,
    calls: Calls,
    call_config: CallConfig,
    /// OPTIONS keepalive to trunks (worker 0 only).
    prober: Option<TrunkProber>,
    /// Registrations to trunks (worker 0 only).
    uplinks: Option<TrunkRegistrar>,
    /// Load shedding: whether this worker refuses new calls now.
    overload: OverloadDetector,
    /// `sip.max_calls` and the 503's Retry-After.
    limits_config: OverloadConfig,
}

impl Worker {
    pub(crate) fn new(
        config: &Config,
        transports: Transports,
        registrar: Arc<Mutex<Registrar>>,
        dialing: Dialing,
        counters: Arc<Counters>,
        calls: Calls,
    ) -> Worker {
        let timers = TimerConfig {
            t1: config.timers.t1,
            t2: config.timers.t2,
            t4: config.timers.t4,
        };
        let layer = TransactionLayer::new(LayerConfig {
            timers,
            max_server_transactions: config.max_server_transactions / config.workers.max(1),
            ..LayerConfig::default()
        });
        let limits = ParseLimits {
            max_message_size: config.max_message_size,
            ..ParseLimits::DEFAULT
        };
        let sent_by = transports
            .local_addrs()
            .first()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.0.1:5060".to_owned());
        let mut call_config =
            CallConfig::new(&sent_by, "UDP", &format!("sip:switchboard@{sent_by}"));
        let tls_sent_by = transports.tls_local_addrs().first().map(|a| a.to_string());
        call_config.tls_contact_uri = tls_sent_by.as_ref().map(|a| format!("sip:switchboard@{a}"));
        call_config.tls_via_sent_by = tls_sent_by;
        call_config.t1 = config.timers.t1;
        call_config.t2 = config.timers.t2;
        Worker {
            layer,
            transports,
            handler: Handler::new(registrar, dialing),
            calls,
            counters,
            limits,
            live: 0,
            call_config,
            prober: None,
            uplinks: None,
            overload: OverloadDetector::new(config.overload.queue_delay, config.overload.recovery),
            limits_config: config.overload,
        }
    }

    /// Makes this worker send the trunks' OPTIONS keepalives and REGISTERs (`worker` is its own
    /// index).
    pub(crate) fn probe_trunks(
        &mut self,
        trunks: &[crate::config::TrunkConfig],
        health: Arc<super::TrunkHealth>,
        events: super::events_glue::Events,
        worker: usize,
    ) {
        let now = Instant::now();
        let sent_by = super::trunk_probe::SentBy {
            plain: self.call_config.via_sent_by.clone(),
            tls: self.call_config.tls_via_sent_by.clone(),
        };
        self.uplinks = Some(TrunkRegistrar::new(
            trunks,
            health.clone(),
            &sent_by,
            worker,
            now,
        ));
        self.prober = Some(TrunkProber::new(
            trunks, health, events, &sent_by, worker, now,
        ));
    }

    /// The run loop: next message or earliest timer, then drain every output.
    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Inbound>,
        mut media: mpsc::UnboundedReceiver<MediaResult>,
        shutdown: CancellationToken,
    ) {
        loop {
            let deadline = [
                self.layer.poll_timeout(),
                self.calls.poll_timeout(),
                self.prober.as_ref().and_then(TrunkProber::poll_timeout),
                self.uplinks.as_ref().and_then(TrunkRegistrar::poll_timeout),
                self.overload.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.on_message(msg, Instant::now()),
                    None => break,
                },
                Some(result) = media.recv() => match result {
                    MediaResult::Transfer { call_uuid, target, reply } => {
                        let outcome = self.on_transfer(&call_uuid, &target, Instant::now());
                        let _ = reply.send(outcome);
                    }
                    MediaResult::Originate { reply, .. }
                        if self.counters.calls.load(Ordering::Relaxed)
                            >= self.limits_config.max_calls =>
                    {
                        // An operator's call counts against sip.max_calls like a phone's.
                        self.counters.rejected_max_calls.fetch_add(1, Ordering::Relaxed);
                        let _ = reply.send(Err("max_calls"));
                    }
                    MediaResult::Originate { request, reply } => {
                        let OriginateRequest { parties, first, second } = *request;
                        let config = self.call_config.clone();
                        let (now, layer) = (Instant::now(), &mut self.layer);
                        let outcome =
                            self.calls.originate(now, layer, config, &parties, first, second);
                        let _ = reply.send(outcome);
                    }
                    other => self.calls.on_media(other, Instant::now(), &mut self.layer),
                },
                () = sleep => {
                    let now = Instant::now();
                    self.layer.handle_timeout(now);
                    self.calls.handle_timeout(now, &mut self.layer);
                    if let Some(p) = self.prober.as_mut() {
                        p.handle_timeout(now, &mut self.layer);
                    }
                    if let Some(r) = self.uplinks.as_mut() {
                        r.handle_timeout(now, &mut self.layer);
                    }
                    if let Some(t) = self.overload.handle_timeout(now) {
                        overload::report(t, &self.counters.overloaded_workers);
                    }
                }
                () = shutdown.cancelled() => break,
            }
            self.drain().await;
        }
        // Shutdown: BYE/CANCEL what is up and release media (sent best-effort), and remove our
        // registrations at trunks. The transports stay up until every worker is done, so the
        // answers (a challenge to an un-REGISTER) are handled for up to SHUTDOWN_GRACE.
        let now = Instant::now();
        self.calls.hang_up_all(now, &mut self.layer);
        if let Some(r) = self.uplinks.as_mut() {
            r.unregister_all(now, &mut self.layer);
        }
        self.drain().await;
        let until = Instant::now() + SHUTDOWN_GRACE;
        while self
            .uplinks
            .as_ref()
            .is_some_and(TrunkRegistrar::unregistering)
        {
            let wake = self.layer.poll_timeout().map_or(until, |d| d.min(until));
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.on_message(msg, Instant::now()),
                    None => break,
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    self.layer.handle_timeout(now);
                }
            }
            self.drain().await;
        }
        self.counters
            .calls
            .fetch_sub(self.calls.len(), Ordering::Relaxed);
        if self.overload.is_overloaded() {
            self.counters
                .overloaded_workers
                .fetch_sub(1, Ordering::Relaxed);
        }
        self.counters
            .transactions
            .fetch_sub(self.live, Ordering::Relaxed);
    }

    /// Routes an operator's blind transfer through the dialplan and starts it.
    fn on_transfer(
        &mut self,
        uuid: &str,
        target: &str,
        now: Instant,
    ) -> Result<String, TransferRefusal> {
        let invite = self
            .calls
            .a_invite_of(uuid)
            .ok_or(TransferRefusal::NotFound)?;
        let route = self
            .handler
            .transfer_route(&invite, target)
            .map_err(|(code, reason)| TransferRefusal::NoRoute(code, reason))?;
        let uri = route.request_uri.clone();
        let by = switchboard_events::event::TransferOrigin::Api;
        if self.calls.transfer(uuid, route, by, now, &mut self.layer) {
            Ok(uri)
        } else {
            Err(TransferRefusal::NotAnswered)
        }
    }

    /// Routes the REFER targets (RFC 3515) and starts or refuses each transfer.
    fn route_refers(&mut self, now: Instant) -> bool {
        let refers = std::mem::take(&mut self.calls.refers);
        let busy = !refers.is_empty();
        for (uuid, target, referrer) in refers {
            let Some(invite) = self.calls.a_invite_of(&uuid) else {
                continue;
            };
            match self.handler.transfer_route(&invite, &target) {
                Ok(route) => {
                    use switchboard_events::event::TransferOrigin;
                    let by = match referrer {
                        switchboard_b2bua::Leg::A => TransferOrigin::A,
                        switchboard_b2bua::Leg::B => TransferOrigin::B,
                    };
                    self.calls.transfer(&uuid, route, by, now, &mut self.layer);
                }
                Err((status, reason)) => {
                    tracing::info!(
                        call_uuid = uuid,
                        target,
                        status,
                        reason,
                        "REFER target refused"
                    );
                    self.calls.refer_failed(&uuid, status, now, &mut self.layer);
                }
            }
        }
        busy
    }

    fn on_message(&mut self, inbound: Inbound, now: Instant) {
        let waited = now.saturating_duration_since(inbound.received);
        if let Some(t) = self.overload.observe(now, waited) {
            overload::report(t, &self.counters.overloaded_workers);
        }
        let data = inbound.data.clone();
        tracing::trace!(
            target: "switchboard::sip",
            source = %inbound.source,
            "received:\n{}",
            String::from_utf8_lossy(&data)
        );
        let mut msg = match Message::parse_with(&data, &self.limits, framing(&inbound)) {
            Ok(m) => m,
            Err(err) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(source = %inbound.source, error = %err, "malformed message");
                if let Some(resp) = bad_request(&data, &err) {
                    let mut resp = resp.into_owned();
                    resp.set_header(HeaderName::Server, SERVER);
                    self.send_stateless(resp, &inbound);
                }
                return;
            }
        };
        self.counters.count_in(&msg);
        if !msg.is_request() {
            self.on_response(msg.into_owned(), now);
            return;
        }
        if let Err(e) = msg.stamp_received(inbound.source) {
            tracing::debug!(error = %e, "cannot stamp Via");
        }
        if self.shed(&msg, &inbound) {
            return;
        }
        let Some(target) = target_for(&msg, &inbound) else {
            return;
        };
        let msg = Arc::new(msg.into_owned());
        let sip = SipMsg {
            msg: msg.clone(),
            target: Some(target),
        };
        let info = match request_info(&msg, &inbound) {
            Some(i) => i,
            None => return,
        };
        let decision = self.layer.receive_request(now, &info.as_info(), sip);
        match decision {
            RequestDecision::New { key, cancels } => {
                let origin = Origin {
                    source: inbound.source,
                    transport: inbound.transport,
                };
                let call = self.calls.find(&info.call_id);
                if info.method == "CANCEL" {
                    let resp = Self::cancel(&msg, cancels.as_ref());
                    self.respond(now, &key, resp, &inbound, &msg);
                    // §9.2: the 200 to the CANCEL is sent; the call ends its INVITE with 487.
                    if let Some(n) = cancels.as_ref().and_then(|k| self.calls.find_by_invite(k)) {
                        self.calls
                            .handle(n, now, CallEvent::Cancel, &mut self.layer);
                    }
                } else if let (Some(n), Some(_)) = (call, &info.to_tag) {
                    let tx = ServerTx {
                        key,
                        target: target_for(&msg, &inbound),
                    };
                    let request = Arc::unwrap_or_clone(msg);
                    self.calls
                        .handle(n, now, CallEvent::Request { tx, request }, &mut self.layer);
                } else if info.method == "INVITE" && info.to_tag.is_none() {
                    self.new_invite(now, key, msg, &inbound, origin, call.is_some());
                } else {
                    let resp = self.handler.respond(&msg, origin, now);
                    self.respond(now, &key, resp, &inbound, &msg);
                }
            }
            RequestDecision::LoopDetected { key, .. } => {
                let resp = msg.response(482, "Loop Detected").into_owned();
                self.respond(now, &key, resp, &inbound, &msg);
            }
            RequestDecision::Overloaded => {
                let mut resp = msg.response(503, "Service Unavailable").into_owned();
                resp.set_header(HeaderName::RetryAfter, "5");
                self.send_stateless(resp, &inbound);
            }
            // ACK for a 2xx: it belongs to the call's dialog (§13.2.2.4), not to a transaction.
            RequestDecision::AckWithoutTransaction => {
                if let Some(n) = self.calls.find(&info.call_id) {
                    let request = Arc::unwrap_or_clone(msg);
                    self.calls
                        .handle(n, now, CallEvent::Ack { request }, &mut self.layer);
                }
            }
            // Retransmissions and non-2xx ACKs are handled inside the layer.
            RequestDecision::Matched { .. } => {}
        }
    }

    /// A response: to its client transaction (which reports it to the call as an event).
    fn on_response(&mut self, msg: Message<'static>, now: Instant) {
        let (Ok(via), Ok(cseq), Some(status)) = (msg.top_via(), msg.cseq(), msg.status()) else {
            tracing::debug!("dropping response without Via, CSeq or status");
            return;
        };
        let sent_by = match via.port {
            Some(p) => format!("{}:{p}", via.host),
            None => via.host.to_string(),
        };
        let branch = via.branch().unwrap_or_default().to_owned();
        let method = cseq.method.as_str().to_owned();
        let info = ResponseInfo {
            branch: &branch,
            sent_by: &sent_by,
            cseq_method: &method,
            status,
        };
        if let ResponseDecision::Stray =
            self.layer
                .receive_response(now, &info, SipMsg::new(msg.clone(), None))
        {
            tracing::debug!(status, branch, "stray response dropped");
        }
    }

    /// A new INVITE outside any dialog: authenticate, route to the callee's registered contact and
    /// start a B2BUA call, or answer it with the refusal.
    fn new_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        msg: Arc<Message<'static>>,
        inbound: &Inbound,
        origin: Origin,
        merged: bool,
    ) {
        if merged {
            // §8.2.2.2: a second INVITE without To tag on a live call's Call-ID.
            let resp = msg.response(482, "Loop Detected").into_owned();
            self.respond(now, &key, resp, inbound, &msg);
            return;
        }
        if let Some(resp) = self.handler.precheck_invite(&msg) {
            self.respond(now, &key, resp, inbound, &msg);
            return;
        }
        match self.handler.admit_invite(&msg, origin) {
            Ok(_)
                if self.counters.calls.load(Ordering::Relaxed) >= self.limits_config.max_calls =>
            {
                self.counters
                    .rejected_max_calls
                    .fetch_add(1, Ordering::Relaxed);
                // Per call, so debug only: switchboard_calls_rejected_total counts them.
                tracing::debug!(
                    max_calls = self.limits_config.max_calls,
                    "call refused: sip.max_calls reached"
                );
                let why = Refusal::MaxCalls;
                let resp = overload::refusal(&msg, why, self.limits_config.retry_after_secs);
                self.respond(now, &key, resp, inbound, &msg);
            }
            Ok(plan) => {
                let tx = ServerTx {
                    key,
                    target: target_for(&msg, inbound),
                };
                let invite = Arc::unwrap_or_clone(msg);
                self.calls.start(
                    now,
                    &mut self.layer,
                    self.call_config.clone(),
                    invite,
                    tx,
                    inbound.source,
                    plan,
                );
            }
            Err(mut resp) => {
                resp.set_header(HeaderName::Server, SERVER);
                self.respond(now, &key, *resp, inbound, &msg);
            }
        }
    }

    /// Load shedding: while overloaded, a new call (INVITE without To tag on a Call-ID with no call) is
    /// answered at once with a stateless 503, before any transaction, authentication or media work.
    /// Returns whether `msg` was refused.
    fn shed(&mut self, msg: &Message<'_>, inbound: &Inbound) -> bool {
        if !self.overload.is_overloaded()
            || msg.method().is_none_or(|m| m.as_str() != "INVITE")
            || msg.to().map_or(true, |to| to.tag().is_some())
            || msg
                .call_id()
                .map_or(true, |id| self.calls.find(id).is_some())
        {
            return false;
        }
        self.overload.note_refused();
        self.counters
            .rejected_overload
            .fetch_add(1, Ordering::Relaxed);
        let why = Refusal::Overload;
        let resp = overload::refusal(msg, why, self.limits_config.retry_after_secs);
        self.send_stateless(resp, inbound);
        true
    }

    /// RFC 3261 §9.2: CANCEL matching a live INVITE server transaction gets 200; otherwise 481. The
    /// INVITE's call (if any) then answers it 487.
    fn cancel(
        msg: &Message<'static>,
        cancels: Option<&switchboard_transaction::TransactionKey>,
    ) -> Message<'static> {
        match cancels {
            Some(_) => msg.response(200, "OK").into_owned(),
            None => msg
                .response(481, "Call/Transaction Does Not Exist")
                .into_owned(),
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        key: &switchboard_transaction::TransactionKey,
        resp: Message<'static>,
        inbound: &Inbound,
        req: &Message<'static>,
    ) {
        let status = resp.status().unwrap_or(500);
        let target = target_for(req, inbound);
        let sip = SipMsg {
            msg: Arc::new(resp),
            target,
        };
        if let Err(e) = self.layer.send_response(now, key, status, sip) {
            tracing::warn!(error = %e, "transaction refused response");
        }
    }

    fn send_stateless(&self, resp: Message<'static>, inbound: &Inbound) {
        let Some(target) = target_for(&resp, inbound) else {
            return;
        };
        let bytes = Bytes::from(resp.encode());
        trace_sent(&target, &bytes);
        let t = self.transports.clone();
        tokio::spawn(async move {
            if let Err(e) = t.send(&target, bytes).await {
                tracing::debug!(error = %e, "stateless send failed");
            }
        });
    }

    /// Sends every queued transmit and direct ACK, and consumes every event (which may queue more).
    async fn drain(&mut self) {
        loop {
            let mut busy = self.route_refers(Instant::now());
            while let Some((key, event)) = self.layer.poll_event() {
                busy = true;
                let now = Instant::now();
                if key.role == Role::Client {
                    if let Some(p) = self.prober.as_mut() {
                        if p.on_client_event(&key, &event, now) {
                            continue;
                        }
                    }
                    if let Some(r) = self.uplinks.as_mut() {
                        if r.on_client_event(&key, &event, now, &mut self.layer) {
                            continue;
                        }
                    }
                    self.calls
                        .on_client_event(&key, event, now, &mut self.layer);
                    continue;
                }
                match event {
                    TransactionEvent::TimedOut => tracing::debug!(?key, "transaction timed out"),
                    TransactionEvent::TransportError => tracing::debug!(?key, "transport error"),
                    TransactionEvent::Terminated => self.calls.on_server_terminated(&key),
                    // An ACK reusing its INVITE's branch still acknowledges the call's 2xx.
                    TransactionEvent::AckReceived(ack) => {
                        let request = Arc::unwrap_or_clone(ack.msg);
                        let call = request.call_id().ok().and_then(|id| self.calls.find(id));
                        if let Some(n) = call {
                            self.calls
                                .handle(n, now, CallEvent::Ack { request }, &mut self.layer);
                        }
                    }
                    _ => {}
                }
            }
            while let Some(t) = self.layer.poll_transmit() {
                busy = true;
                let Some(target) = t.message.target.clone() else {
                    continue;
                };
                let bytes = Bytes::from(t.message.msg.encode());
                trace_sent(&target, &bytes);
                if let Err(e) = self.transports.send(&target, bytes).await {
                    tracing::debug!(error = %e, "send failed");
                    let _ = self.layer.handle_transport_error(&t.key);
                }
            }
            for (target, bytes) in std::mem::take(&mut self.calls.direct) {
                trace_sent(&target, &bytes);
                if let Err(e) = self.transports.send(&target, bytes).await {
                    tracing::debug!(error = %e, "ACK send failed");
                }
            }
            if !busy {
                break;
            }
        }
        let live = self.layer.len();
        if live != self.live {
            if live > self.live {
                self.counters
                    .transactions
                    .fetch_add(live - self.live, Ordering::Relaxed);
            } else {
                self.counters
                    .transactions
                    .fetch_sub(self.live - live, Ordering::Relaxed);
            }
            self.live = live;
        }
    }
}

/// Logs a message about to be sent, at trace level under the `switchboard::sip` target
/// (`RUST_LOG=switchboard::sip=trace` shows every SIP message in and out).
fn trace_sent(target: &Target, bytes: &[u8]) {
    tracing::trace!(
        target: "switchboard::sip",
        dest = %target.dest,
        "sending:\n{}",
        String::from_utf8_lossy(bytes)
    );
}

fn framing(inbound: &Inbound) -> switchboard_sip::Framing {
    if inbound.transport.is_reliable() {
        switchboard_sip::Framing::Stream
    } else {
        switchboard_sip::Framing::Datagram
    }
}

/// Where responses to this request (or this response's request) go, from its top Via.
fn target_for(msg: &Message<'_>, inbound: &Inbound) -> Option<Target> {
    let via = msg.top_via().ok()?;
    let route = ViaRoute {
        host: via.host.to_string(),
        port: via.port,
        maddr: via.maddr().map(str::to_owned),
        rport: via.rport().is_some(),
    };
    let arrival = Arrival {
        source: inbound.source,
        local: inbound.local,
        transport: inbound.transport,
        conn: inbound.conn,
    };
    Some(response_target(&route, &arrival))
}

/// Owned copies of the fields the transaction layer matches on.
struct OwnedInfo {
    method: String,
    branch: String,
    sent_by: String,
    call_id: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
    cseq: u32,
    reliable: bool,
}

impl OwnedInfo {
    fn as_info(&self) -> RequestInfo<'_> {
        RequestInfo {
            method: &self.method,
            branch: &self.branch,
            sent_by: &self.sent_by,
            call_id: &self.call_id,
            from_tag: self.from_tag.as_deref(),
            to_tag: self.to_tag.as_deref(),
            cseq: self.cseq,
            reliable: self.reliable,
        }
    }
}

fn request_info(msg: &Message<'_>, inbound: &Inbound) -> Option<OwnedInfo> {
    let via = msg.top_via().ok()?;
    let sent_by = match via.port {
        Some(p) => format!("{}:{p}", via.host),
        None => via.host.to_string(),
    };
    Some(OwnedInfo {
        method: msg.method()?.as_str().to_owned(),
        branch: via.branch().unwrap_or_default().to_owned(),
        sent_by,
        call_id: msg.call_id().ok()?.to_owned(),
        from_tag: msg.from().ok()?.tag().map(str::to_owned),
        to_tag: msg.to().ok()?.tag().map(str::to_owned),
        cseq: msg.cseq().ok()?.seq,
        reliable: inbound.transport.is_reliable(),
    })
}
