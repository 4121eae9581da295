//! One signaling worker: owns a transaction layer for the Call-IDs hashed to it and drives it with one
//! sleep reset to the earliest deadline.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use switchboard_sip::{HeaderName, Message, Method, ParseLimits, bad_request};
use switchboard_transaction::{
    LayerConfig, RequestDecision, RequestInfo, TimerConfig, TransactionEvent, TransactionLayer,
    TransactionMessage,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Counters;
use super::handler::{Handler, Origin, SERVER};
use super::registrar_glue::Registrar;
use super::routing::{Arrival, ViaRoute, response_target};
use crate::config::Config;
use crate::transport::{Inbound, Target, Transports};

/// A message owned by the transaction layer: the parsed message and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct SipMsg {
    msg: Arc<Message<'static>>,
    target: Option<Target>,
}

impl TransactionMessage for SipMsg {
    fn is_ack(&self) -> bool {
        matches!(self.msg.method(), Some(Method::Ack))
    }

    fn build_ack(request: &Self, response: &Self) -> Self {
        // RFC 3261 §17.1.1.3: Request-URI, Call-ID, From, CSeq number, top Via and Route of the request,
        // To of the response.
        let uri = request
            .msg
            .request_uri()
            .map(|u| u.to_string())
            .unwrap_or_default();
        let mut ack = Message::new_request(Method::Ack, uri)
            .unwrap_or_else(|_| Message::new_response(500, "unbuildable ACK"));
        for h in request.msg.headers() {
            match h.name {
                HeaderName::Via => {
                    ack.push_header(HeaderName::Via, h.value.to_string());
                    break;
                }
                _ => continue,
            }
        }
        let copy = |ack: &mut Message<'static>, m: &Message<'static>, name: HeaderName<'static>| {
            if let Some(v) = m.header(&name) {
                ack.push_header(name, v.to_owned());
            }
        };
        copy(&mut ack, &request.msg, HeaderName::From);
        copy(&mut ack, &response.msg, HeaderName::To);
        copy(&mut ack, &request.msg, HeaderName::CallId);
        if let Ok(cseq) = request.msg.cseq() {
            ack.push_header(HeaderName::CSeq, format!("{} ACK", cseq.seq));
        }
        for h in request
            .msg
            .headers()
            .iter()
            .filter(|h| h.name == HeaderName::Route)
        {
            ack.push_header(HeaderName::Route, h.value.to_string());
        }
        ack.push_header(HeaderName::MaxForwards, "70");
        ack.push_header(HeaderName::ContentLength, "0");
        SipMsg {
            msg: Arc::new(ack),
            target: request.target.clone(),
        }
    }

    fn build_trying(request: &Self) -> Self {
        let mut trying = request.msg.response(100, "Trying").into_owned();
        trying.set_header(HeaderName::Server, SERVER);
        SipMsg {
            msg: Arc::new(trying),
            target: request.target.clone(),
        }
    }
}

pub(crate) struct Worker {
    layer: TransactionLayer<SipMsg>,
    transports: Transports,
    handler: Handler,
    counters: Arc<Counters>,
    limits: ParseLimits,
    live: usize,
}

impl Worker {
    pub(crate) fn new(
        config: &Config,
        transports: Transports,
        registrar: Arc<Mutex<Registrar>>,
        counters: Arc<Counters>,
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
        Worker {
            layer,
            transports,
            handler: Handler::new(registrar),
            counters,
            limits,
            live: 0,
        }
    }

    /// The run loop: next message or earliest timer, then drain every output.
    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Inbound>,
        shutdown: CancellationToken,
    ) {
        loop {
            let deadline = self.layer.poll_timeout();
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
                () = sleep => self.layer.handle_timeout(Instant::now()),
                () = shutdown.cancelled() => break,
            }
            self.drain().await;
        }
        self.counters
            .transactions
            .fetch_sub(self.live, Ordering::Relaxed);
    }

    fn on_message(&mut self, inbound: Inbound, now: Instant) {
        let data = inbound.data.clone();
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
        if !msg.is_request() {
            // This server sends no requests yet, so no response can match a client transaction.
            tracing::debug!(source = %inbound.source, "dropping stray response");
            return;
        }
        if let Err(e) = msg.stamp_received(inbound.source) {
            tracing::debug!(error = %e, "cannot stamp Via");
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
                let resp = if info.method == "CANCEL" {
                    Self::cancel(&msg, cancels.as_ref())
                } else {
                    self.handler.respond(&msg, origin, now)
                };
                self.respond(now, &key, resp, &inbound, &msg);
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
            // Retransmissions and ACKs are handled inside the layer; an ACK for a 2xx would go to a
            // dialog, and this server has no dialogs yet.
            RequestDecision::Matched { .. } | RequestDecision::AckWithoutTransaction => {}
        }
    }

    /// RFC 3261 §9.2: CANCEL matching a live INVITE server transaction gets 200; otherwise 481. Every INVITE
    /// is answered with a final response at once in this build, so there is never a pending INVITE to end
    /// with 487: the CANCEL has no effect on it beyond its own 200.
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
        let t = self.transports.clone();
        tokio::spawn(async move {
            if let Err(e) = t.send(&target, bytes).await {
                tracing::debug!(error = %e, "stateless send failed");
            }
        });
    }

    /// Sends every queued transmit and consumes every event.
    async fn drain(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            let Some(target) = t.message.target.clone() else {
                continue;
            };
            let bytes = Bytes::from(t.message.msg.encode());
            if let Err(e) = self.transports.send(&target, bytes).await {
                tracing::debug!(error = %e, "send failed");
                let _ = self.layer.handle_transport_error(&t.key);
            }
        }
        while let Some((key, event)) = self.layer.poll_event() {
            match event {
                TransactionEvent::TimedOut => tracing::debug!(?key, "transaction timed out"),
                TransactionEvent::TransportError => tracing::debug!(?key, "transport error"),
                _ => {}
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
