//! Registration to trunks (`[[trunks]] register = true`, RFC 3261 §10.2): worker 0 keeps a binding
//! `sip:USER@DOMAIN` → `sip:USER@<our address>` at each such trunk, so the carrier knows where to
//! send calls. One Call-ID per trunk for all its REGISTERs, CSeq counting up; a 401/407 is
//! answered with the trunk's credentials (a second challenge only when `stale`); `423` is retried
//! with the carrier's Min-Expires; the binding is refreshed halfway through the granted time; a
//! failure (other final status, timeout) is retried after [`RETRY`]. At shutdown each granted
//! binding is removed with `Expires: 0` (RFC 3261 §10.2.2), so the carrier stops sending calls.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard_b2bua::{RouteAuth, answer_challenge};
use switchboard_sip::{Contacts, HeaderName, Message, Method};
use switchboard_transaction::{TransactionEvent, TransactionKey, TransactionLayer};

use super::handler::rand_u64;
use super::sip_msg::SipMsg;
use super::trunk_probe::{RegistrationState, TrunkHealth, UacRequest};
use crate::config::TrunkConfig;
use crate::transport::Target;

/// Wait before trying again after a failed registration.
pub(crate) const RETRY: Duration = Duration::from_secs(30);

/// The registering side, owned by worker 0.
pub(crate) struct TrunkRegistrar {
    health: Arc<TrunkHealth>,
    bindings: Vec<Binding>,
    sent_by: super::trunk_probe::SentBy,
}

struct Binding {
    index: usize,
    name: String,
    auth: RouteAuth,
    registrar_uri: String,
    aor: String,
    contact: String,
    target: Target,
    expires: u32,
    call_id: String,
    from_tag: String,
    cseq: u32,
    next_due: Option<Instant>,
    in_flight: Option<TransactionKey>,
    /// The challenge answer of the request in flight, if any (set on the request after a 401/407).
    credentials: Option<(HeaderName<'static>, String)>,
    challenges_answered: u8,
    /// Being removed (shutdown): the REGISTER in flight says `Expires: 0`.
    unregistering: bool,
}

impl TrunkRegistrar {
    /// Bindings for the trunks with `register`; the first REGISTERs go out at `now`.
    pub(crate) fn new(
        trunks: &[TrunkConfig],
        health: Arc<TrunkHealth>,
        sent_by: &super::trunk_probe::SentBy,
        worker: usize,
        now: Instant,
    ) -> TrunkRegistrar {
        let bindings = trunks
            .iter()
            .enumerate()
            .filter_map(|(index, t)| {
                let expires = t.register_expires?;
                let auth = t.auth.clone()?;
                let user = switchboard_sip::escape_user(&auth.username);
                Some(Binding {
                    index,
                    name: t.name.clone(),
                    registrar_uri: format!("sip:{}", t.domain),
                    aor: format!("sip:{user}@{}", t.domain),
                    contact: super::trunk_probe::contact_over(
                        &format!(
                            "sip:{user}@{}",
                            sent_by.over(super::trunk_probe::server_transport(t.transport))
                        ),
                        super::trunk_probe::server_transport(t.transport),
                    ),
                    auth,
                    target: Target {
                        dest: t.address,
                        transport: super::trunk_probe::server_transport(t.transport),
                        local: None,
                        conn: None,
                    },
                    expires,
                    call_id: super::calls::b_leg_token(worker),
                    from_tag: format!("{:016x}", rand_u64()),
                    cseq: 0,
                    next_due: Some(now),
                    in_flight: None,
                    credentials: None,
                    challenges_answered: 0,
                    unregistering: false,
                })
            })
            .collect();
        TrunkRegistrar {
            health,
            bindings,
            sent_by: sent_by.clone(),
        }
    }

    /// Shutdown: stops refreshing and removes every binding the trunk holds (`Expires: 0`,
    /// challenges answered as usual).
    pub(crate) fn unregister_all(&mut self, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        for i in 0..self.bindings.len() {
            let b = &mut self.bindings[i];
            b.next_due = None;
            let held = self
                .health
                .registration(b.index)
                .is_some_and(|r| r.status == "registered");
            if !held {
                continue;
            }
            b.unregistering = true;
            b.expires = 0;
            b.credentials = None;
            b.challenges_answered = 0;
            self.send(i, now, layer);
        }
    }

    /// Whether a removal is still waiting for its answer.
    pub(crate) fn unregistering(&self) -> bool {
        self.bindings
            .iter()
            .any(|b| b.unregistering && b.in_flight.is_some())
    }

    /// When the next REGISTER is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.iter().filter_map(|b| b.next_due).min()
    }

    /// Sends every due REGISTER (without credentials: a fresh challenge each time).
    pub(crate) fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        for i in 0..self.bindings.len() {
            if self.bindings[i].next_due.is_some_and(|d| d <= now) {
                self.bindings[i].next_due = None;
                self.bindings[i].credentials = None;
                self.bindings[i].challenges_answered = 0;
                self.send(i, now, layer);
            }
        }
    }

    fn send(&mut self, i: usize, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        let sent_by = self
            .sent_by
            .over(self.bindings[i].target.transport)
            .to_owned();
        let b = &mut self.bindings[i];
        b.cseq += 1;
        let Some(request) = register(b, &sent_by) else {
            b.next_due = Some(now + RETRY);
            return;
        };
        let Some(key) = super::calls::client_key(&request) else {
            b.next_due = Some(now + RETRY);
            return;
        };
        let msg = SipMsg::new(request, Some(b.target.clone()));
        match layer.send_request(now, key.clone(), msg, false) {
            Ok(()) => {
                b.in_flight = Some(key);
                if self.health.registration(b.index).is_none() {
                    self.health
                        .set_registration(b.index, RegistrationState::registering());
                }
            }
            Err(e) => {
                tracing::debug!(trunk = b.name, error = %e, "REGISTER refused");
                b.next_due = Some(now + RETRY);
            }
        }
    }

    /// A client-transaction event; `false` when `key` is not one of our REGISTERs.
    pub(crate) fn on_client_event(
        &mut self,
        key: &TransactionKey,
        event: &TransactionEvent<SipMsg>,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
    ) -> bool {
        let Some(i) = self
            .bindings
            .iter()
            .position(|b| b.in_flight.as_ref() == Some(key))
        else {
            return false;
        };
        match event {
            TransactionEvent::Response { response, .. } => {
                let r = &response.msg;
                let status = r.status().unwrap_or(0);
                if status < 200 {
                    return true;
                }
                self.bindings[i].in_flight = None;
                self.on_final(i, status, r, now, layer);
            }
            TransactionEvent::TimedOut | TransactionEvent::TransportError => {
                self.bindings[i].in_flight = None;
                self.failed(i, None, now);
            }
            _ => {}
        }
        true
    }

    fn on_final(
        &mut self,
        i: usize,
        status: u16,
        r: &Message<'static>,
        now: Instant,
        layer: &mut TransactionLayer<SipMsg>,
    ) {
        match status {
            200..=299 if self.bindings[i].unregistering => {
                let b = &mut self.bindings[i];
                tracing::info!(trunk = b.name, "unregistered from trunk");
                self.health
                    .set_registration(b.index, RegistrationState::unregistered());
            }
            200..=299 => {
                let b = &mut self.bindings[i];
                let granted = granted_expires(r, &b.contact).unwrap_or(b.expires);
                if granted == 0 {
                    return self.failed(i, Some(status), now);
                }
                b.next_due = Some(now + Duration::from_secs(u64::from(granted).div_ceil(2)));
                let until = SystemTime::now() + Duration::from_secs(u64::from(granted));
                tracing::info!(trunk = b.name, expires = granted, "registered to trunk");
                self.health
                    .set_registration(b.index, RegistrationState::registered(until));
            }
            401 | 407 => {
                let b = &mut self.bindings[i];
                let cnonce = format!("{:016x}", rand_u64());
                let answer = answer_challenge(r, &b.auth, "REGISTER", &b.registrar_uri, &cnonce);
                match answer {
                    Some(a) if b.challenges_answered == 0 || a.stale => {
                        b.challenges_answered = b.challenges_answered.saturating_add(1);
                        if b.challenges_answered > 2 {
                            return self.failed(i, Some(status), now);
                        }
                        b.credentials = Some((a.header, a.value));
                        self.send(i, now, layer);
                    }
                    _ => self.failed(i, Some(status), now),
                }
            }
            423 => {
                let min = r
                    .header(&HeaderName::MinExpires)
                    .and_then(|v| v.trim().parse::<u32>().ok());
                let b = &mut self.bindings[i];
                match min {
                    Some(min) if min > b.expires => {
                        b.expires = min;
                        b.credentials = None;
                        b.challenges_answered = 0;
                        self.send(i, now, layer);
                    }
                    _ => self.failed(i, Some(status), now),
                }
            }
            _ => self.failed(i, Some(status), now),
        }
    }

    fn failed(&mut self, i: usize, status: Option<u16>, now: Instant) {
        let b = &mut self.bindings[i];
        if b.unregistering {
            tracing::warn!(trunk = b.name, ?status, "unregistering from trunk failed");
            return;
        }
        b.next_due = Some(now + RETRY);
        b.credentials = None;
        let reason = status.map_or_else(|| "timeout".to_owned(), |s| s.to_string());
        tracing::warn!(
            trunk = b.name,
            reason,
            "registration to trunk failed; retrying in 30 s"
        );
        self.health
            .set_registration(b.index, RegistrationState::failed(status));
    }
}

/// The REGISTER for binding `b` at its current CSeq, with its challenge answer if any.
fn register(b: &Binding, sent_by: &str) -> Option<Message<'static>> {
    let mut m = UacRequest {
        method: Method::Register,
        uri: &b.registrar_uri,
        sent_by,
        from: &b.aor,
        from_tag: &b.from_tag,
        to: &b.aor,
        call_id: &b.call_id,
        cseq: b.cseq,
        contact: &b.contact,
        transport: b.target.transport,
    }
    .build()?;
    m.push_header(HeaderName::Expires, b.expires.to_string());
    if let Some((name, value)) = &b.credentials {
        m.push_header(name.clone(), value.clone());
    }
    m.push_header(HeaderName::ContentLength, "0");
    Some(m)
}

/// The time the registrar granted our `contact` (RFC 3261 §10.2.4): its `expires` parameter in
/// the 2xx, else the Expires header.
fn granted_expires(r: &Message<'_>, contact: &str) -> Option<u32> {
    if let Ok(Contacts::List(list)) = r.contacts() {
        let ours = list.iter().find(|c| c.uri.to_string() == contact);
        if let Some(Ok(e)) = ours.and_then(|c| c.expires()) {
            return Some(e);
        }
    }
    r.expires().ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_s10_2_4_granted_time_is_our_contacts_expires_else_the_header() {
        let r = Message::parse(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@c>;tag=1\r\n\
To: <sip:a@c>;tag=2\r\nCall-ID: x\r\nCSeq: 2 REGISTER\r\n\
Contact: <sip:other@192.0.2.9>;expires=900, <sip:a@192.0.2.1:5060>;expires=120\r\n\
Expires: 3600\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("parse");
        assert_eq!(granted_expires(&r, "sip:a@192.0.2.1:5060"), Some(120));
        assert_eq!(granted_expires(&r, "sip:b@192.0.2.1:5060"), Some(3600));
    }
}
