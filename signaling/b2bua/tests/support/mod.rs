//! A minimal driver for the contract tests: one real transaction layer, one call, the wire to each side.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchboard_b2bua::{
    Action, Call, CallConfig, CallEvent, ClientTxId, EndCause, RouteTarget, SequentialTokens,
};
use switchboard_sip::{HeaderName, Message, Method};
use switchboard_transaction::{
    LayerConfig, RequestDecision, RequestInfo, ResponseInfo, TransactionEvent, TransactionKey,
    TransactionLayer, TransactionMessage,
};

/// The SIP message as the transaction layer's message type.
#[derive(Clone, Debug)]
pub struct Sip(Message<'static>);

impl TransactionMessage for Sip {
    fn is_ack(&self) -> bool {
        self.0.method() == Some(&Method::Ack)
    }

    fn build_ack(request: &Self, response: &Self) -> Self {
        let (req, resp) = (&request.0, &response.0);
        let uri = req.request_uri().unwrap().to_string();
        let mut ack = Message::new_request(Method::Ack, uri).unwrap();
        ack.push_header(
            HeaderName::Via,
            req.header(&HeaderName::Via).unwrap().to_owned(),
        );
        ack.push_header(HeaderName::MaxForwards, "70");
        ack.push_header(
            HeaderName::From,
            req.header(&HeaderName::From).unwrap().to_owned(),
        );
        ack.push_header(
            HeaderName::To,
            resp.header(&HeaderName::To).unwrap().to_owned(),
        );
        ack.push_header(HeaderName::CallId, req.call_id().unwrap().to_owned());
        ack.push_header(HeaderName::CSeq, format!("{} ACK", req.cseq().unwrap().seq));
        ack.push_header(HeaderName::ContentLength, "0");
        Sip(ack)
    }

    fn build_trying(request: &Self) -> Self {
        Sip(request.0.response(100, "Trying"))
    }
}

pub fn parse(text: &str) -> Message<'static> {
    Message::parse(text.as_bytes()).unwrap().into_owned()
}

pub fn sent_by(m: &Message<'_>) -> String {
    let v = m.top_via().unwrap();
    match v.port {
        Some(p) => format!("{}:{p}", v.host),
        None => v.host.to_string(),
    }
}

/// A minimal driver: one transaction layer, one call, and the wire to each side.
pub struct Driver {
    pub now: Instant,
    pub layer: TransactionLayer<Sip>,
    pub call: Option<Call<TransactionKey>>,
    pub client: HashMap<TransactionKey, ClientTxId>,
    pub to_a: Vec<Message<'static>>,
    pub to_b: Vec<Message<'static>>,
    pub actions: Vec<Action<TransactionKey>>,
}

impl Driver {
    pub fn new() -> Driver {
        let config = LayerConfig {
            trying_delay: None,
            ..LayerConfig::default()
        };
        Driver {
            now: Instant::now(),
            layer: TransactionLayer::new(config),
            call: None,
            client: HashMap::new(),
            to_a: Vec::new(),
            to_b: Vec::new(),
            actions: Vec::new(),
        }
    }

    pub fn call(&mut self) -> &mut Call<TransactionKey> {
        self.call.as_mut().unwrap()
    }

    /// A request arriving from the caller or the callee.
    pub fn request_in(&mut self, m: Message<'static>) {
        let (branch, sb) = (
            m.top_via().unwrap().branch().unwrap().to_owned(),
            sent_by(&m),
        );
        let method = m.method().unwrap().as_str().to_owned();
        let call_id = m.call_id().unwrap().to_owned();
        let from_tag = m.from().unwrap().tag().map(str::to_owned);
        let to_tag = m.to().unwrap().tag().map(str::to_owned);
        let info = RequestInfo {
            method: &method,
            branch: &branch,
            sent_by: &sb,
            call_id: &call_id,
            from_tag: from_tag.as_deref(),
            to_tag: to_tag.as_deref(),
            cseq: m.cseq().unwrap().seq,
            reliable: false,
        };
        match self.layer.receive_request(self.now, &info, Sip(m.clone())) {
            RequestDecision::New { key, cancels } if method == "INVITE" && to_tag.is_none() => {
                assert!(cancels.is_none());
                let mut config = CallConfig::new("203.0.113.1:5060", "UDP", "sip:sb@203.0.113.1");
                config.ring_timeout = Duration::from_secs(30);
                let route = RouteTarget {
                    request_uri: "sip:bob@198.51.100.20".to_owned(),
                    next_hop: "198.51.100.20:5060".parse().unwrap(),
                    auth: None,
                    transport: Default::default(),
                };
                let rng = Box::new(SequentialTokens::new("t"));
                let source = "192.0.2.10:5060".parse().unwrap();
                self.call = Some(Call::new(self.now, config, m, key, source, route, rng));
            }
            RequestDecision::New {
                key,
                cancels: Some(_),
            } => {
                let ok = Sip(m.response(200, "OK"));
                self.layer.send_response(self.now, &key, 200, ok).unwrap();
                let now = self.now;
                self.call().handle(now, CallEvent::Cancel);
            }
            RequestDecision::New { key, .. } => {
                let now = self.now;
                self.call().handle(
                    now,
                    CallEvent::Request {
                        tx: key,
                        request: m,
                    },
                );
            }
            RequestDecision::AckWithoutTransaction => {
                let now = self.now;
                self.call().handle(now, CallEvent::Ack { request: m });
            }
            RequestDecision::Matched { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
        self.pump();
    }

    /// A response arriving from the callee (or the caller, for our BYE).
    pub fn response_in(&mut self, m: Message<'static>) {
        let branch = m.top_via().unwrap().branch().unwrap().to_owned();
        let sb = sent_by(&m);
        let method = m.cseq().unwrap().method.as_str().to_owned();
        let info = ResponseInfo {
            branch: &branch,
            sent_by: &sb,
            cseq_method: &method,
            status: m.status().unwrap(),
        };
        self.layer.receive_response(self.now, &info, Sip(m));
        self.pump();
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.layer.poll_timeout(), self.call().poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.layer.handle_timeout(now);
                    self.call().handle_timeout(now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Moves actions into the layer and layer events into the call until both are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(action) = self.call.as_mut().and_then(Call::poll_action) {
                busy = true;
                self.actions.push(action.clone());
                self.act(action);
            }
            while let Some(t) = self.layer.poll_transmit() {
                busy = true;
                // Each leg has its own Call-ID: that tells the destination.
                let to_b = t.message.0.call_id().unwrap() != "a-call@192.0.2.10";
                if to_b {
                    self.to_b.push(t.message.0)
                } else {
                    self.to_a.push(t.message.0)
                }
            }
            while let Some((key, event)) = self.layer.poll_event() {
                busy = true;
                let Some(&tx) = self.client.get(&key) else {
                    continue;
                };
                let now = self.now;
                match event {
                    TransactionEvent::Response { response, .. } => {
                        self.call().handle(
                            now,
                            CallEvent::Response {
                                tx,
                                response: response.0,
                            },
                        );
                    }
                    TransactionEvent::TimedOut | TransactionEvent::TransportError => {
                        self.call().handle(now, CallEvent::ClientTimedOut { tx });
                    }
                    _ => {}
                }
            }
            if !busy {
                return;
            }
        }
    }

    pub fn act(&mut self, action: Action<TransactionKey>) {
        let now = self.now;
        match action {
            Action::Respond { tx, response } => {
                let status = response.status().unwrap();
                self.layer
                    .send_response(now, &tx, status, Sip(response))
                    .unwrap();
            }
            Action::SendRequest {
                leg, tx, request, ..
            } => {
                let branch = request.top_via().unwrap().branch().unwrap().to_owned();
                let method = request.method().unwrap().as_str().to_owned();
                let key = TransactionKey::client(&branch, &sent_by(&request), &method);
                self.client.insert(key.clone(), tx);
                let _ = leg;
                self.layer
                    .send_request(now, key, Sip(request), false)
                    .unwrap();
            }
            Action::SendAck { request, .. } => self.to_b.push(request),
            Action::AllocateMedia { .. } | Action::OfferMedia { .. } => {
                let b_offer = b"v=0\r\nc=IN IP4 203.0.113.50\r\n".to_vec();
                self.call()
                    .handle(now, CallEvent::MediaAllocated { b_offer });
            }
            Action::UpdateMedia { op, .. } => {
                let sdp = b"v=0\r\nc=IN IP4 203.0.113.50\r\n".to_vec();
                self.call().handle(now, CallEvent::MediaUpdated { op, sdp });
            }
            Action::ReleaseMedia
            | Action::Ended { .. }
            | Action::Transfer { .. }
            | Action::MoveMedia { .. }
            | Action::Progress { .. } => {}
        }
    }

    pub fn last_to_b(&self, method: Method<'_>) -> Message<'static> {
        self.to_b
            .iter()
            .rev()
            .find(|m| m.method() == Some(&method))
            .cloned()
            .unwrap()
    }

    /// B's response to a request we sent it, with B's tag.
    pub fn b_answers(&mut self, request: &Message<'_>, status: u16, sdp: bool) {
        let tag = request.to().unwrap().tag().unwrap_or("bt1").to_owned();
        let mut r = request.response_with_tag(status, "B", &tag).into_owned();
        r.push_header(HeaderName::Contact, "<sip:bob@198.51.100.20>");
        if sdp {
            r.set_body(
                Some("application/sdp"),
                b"v=0\r\nc=IN IP4 198.51.100.20\r\n".to_vec(),
            );
        }
        let text = String::from_utf8(r.encode()).unwrap();
        self.response_in(parse(&text));
    }

    pub fn statuses_to_a(&self) -> Vec<u16> {
        self.to_a.iter().filter_map(Message::status).collect()
    }

    pub fn ended(&self) -> Option<(EndCause, u16)> {
        self.actions.iter().find_map(|a| match a {
            Action::Ended {
                cause, a_status, ..
            } => Some((*cause, *a_status)),
            _ => None,
        })
    }
}
