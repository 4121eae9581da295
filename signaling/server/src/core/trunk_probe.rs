//! OPTIONS keepalive to trunks (`[[trunks]] keepalive_interval_s`).
//!
//! Worker 0 sends each probed trunk an OPTIONS every interval, through its transaction layer (so
//! UDP retransmission follows Timer E). A probe counts as answered on any final response except 408
//! and 5xx; it counts as failed on those, on a transaction timeout, or when it is still unanswered
//! as the next one is due. `keepalive_failures` failures in a row mark the trunk down (a
//! `trunk_down` event, a warning); the first answered probe marks it up (`trunk_up`). The
//! dialplan skips a trunk while it is down. Trunks start up, and a trunk without keepalive is
//! always up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use switchboard_events::Event;
use switchboard_sip::{HeaderName, Message, Method};
use switchboard_transaction::{TransactionEvent, TransactionKey, TransactionLayer};

use super::events_glue::Events;
use super::handler::rand_u64;
use super::sip_msg::SipMsg;
use crate::config::TrunkConfig;
use crate::transport::{Target, Transport};

/// The probe state of every configured trunk, shared by the prober (writer), the dialplan (which
/// skips down trunks) and the REST API and metrics (readers).
#[derive(Debug)]
pub struct TrunkHealth {
    trunks: Vec<TrunkState>,
}

#[derive(Debug)]
struct TrunkState {
    name: String,
    address: String,
    transport: &'static str,
    probed: bool,
    up: AtomicBool,
    probes: AtomicU64,
    failed: AtomicU64,
    detail: Mutex<Detail>,
    registration: Mutex<Option<RegistrationState>>,
}

/// Where our registration to a trunk stands (`register = true`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegistrationState {
    /// `registering`, `registered`, `failed` (retried every 30 s) or `unregistered` (removed at
    /// shutdown).
    pub status: &'static str,
    /// Until when the binding holds (RFC 3339), when registered.
    pub expires_at: Option<String>,
    /// The last final status that failed it, if any (`null` with `failed` means a timeout).
    pub last_failure: Option<u16>,
}

impl RegistrationState {
    pub(crate) fn registering() -> Self {
        RegistrationState {
            status: "registering",
            expires_at: None,
            last_failure: None,
        }
    }

    pub(crate) fn registered(until: SystemTime) -> Self {
        RegistrationState {
            status: "registered",
            expires_at: Some(switchboard_events::envelope::rfc3339_utc(until)),
            last_failure: None,
        }
    }

    pub(crate) fn unregistered() -> Self {
        RegistrationState {
            status: "unregistered",
            expires_at: None,
            last_failure: None,
        }
    }

    pub(crate) fn failed(status: Option<u16>) -> Self {
        RegistrationState {
            status: "failed",
            expires_at: None,
            last_failure: status,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Detail {
    failures_in_row: u32,
    last_status: Option<u16>,
    last_rtt: Option<Duration>,
    changed: Option<SystemTime>,
}

/// One trunk's probe state, as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrunkStatus {
    /// Trunk name.
    pub name: String,
    /// Where its requests go (`IP:port`, as resolved at start).
    pub address: String,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// `up`, `down`, or `unprobed` (no keepalive configured; calls always use it).
    pub status: &'static str,
    /// Probes sent.
    pub probes: u64,
    /// Probes that failed (timeout, 408, 5xx).
    pub probes_failed: u64,
    /// Failed probes since the last answered one.
    pub failures_in_row: u32,
    /// Status of the last final response, if any.
    pub last_status: Option<u16>,
    /// Round-trip time of the last answered probe, in milliseconds.
    pub last_rtt_ms: Option<f64>,
    /// When the trunk last went up or down (RFC 3339), if it did.
    pub changed: Option<String>,
    /// Our registration to the trunk, when it has `register = true`.
    pub registration: Option<RegistrationState>,
}

impl TrunkHealth {
    /// Every trunk up, as at start.
    pub fn new(trunks: &[TrunkConfig]) -> TrunkHealth {
        TrunkHealth {
            trunks: trunks
                .iter()
                .map(|t| TrunkState {
                    name: t.name.clone(),
                    address: t.address.to_string(),
                    transport: match t.transport {
                        switchboard_b2bua::LegTransport::Udp => "udp",
                        switchboard_b2bua::LegTransport::Tcp => "tcp",
                        switchboard_b2bua::LegTransport::Tls => "tls",
                    },
                    probed: t.keepalive.is_some(),
                    up: AtomicBool::new(true),
                    probes: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    detail: Mutex::new(Detail::default()),
                    registration: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// Whether calls may use trunk `name` (unknown and unprobed trunks are up).
    pub fn is_up(&self, name: &str) -> bool {
        self.trunks
            .iter()
            .find(|t| t.name == name)
            .is_none_or(|t| t.up.load(Ordering::Relaxed))
    }

    /// Every trunk's state, in configuration order.
    pub fn statuses(&self) -> Vec<TrunkStatus> {
        self.trunks
            .iter()
            .map(|t| {
                let d = t.detail.lock().map(|d| d.clone()).unwrap_or_default();
                let status = match (t.probed, t.up.load(Ordering::Relaxed)) {
                    (false, _) => "unprobed",
                    (true, true) => "up",
                    (true, false) => "down",
                };
                TrunkStatus {
                    name: t.name.clone(),
                    address: t.address.clone(),
                    transport: t.transport,
                    status,
                    probes: t.probes.load(Ordering::Relaxed),
                    probes_failed: t.failed.load(Ordering::Relaxed),
                    failures_in_row: d.failures_in_row,
                    last_status: d.last_status,
                    last_rtt_ms: d.last_rtt.map(|r| r.as_secs_f64() * 1000.0),
                    changed: d.changed.map(switchboard_events::envelope::rfc3339_utc),
                    registration: t.registration.lock().ok().and_then(|r| r.clone()),
                }
            })
            .collect()
    }

    /// Trunk `index`'s registration state, if it registers.
    pub(crate) fn registration(&self, index: usize) -> Option<RegistrationState> {
        self.trunks
            .get(index)
            .and_then(|t| t.registration.lock().ok().and_then(|r| r.clone()))
    }

    pub(crate) fn set_registration(&self, index: usize, state: RegistrationState) {
        if let Some(mut r) = self
            .trunks
            .get(index)
            .and_then(|t| t.registration.lock().ok())
        {
            *r = Some(state);
        }
    }

    /// Records a probe's outcome; returns the transition it caused (`Some(true)` up, `Some(false)`
    /// down).
    fn record(&self, index: usize, outcome: Outcome, down_after: u32) -> Option<bool> {
        let t = self.trunks.get(index)?;
        let mut d = t.detail.lock().ok()?;
        let was_up = t.up.load(Ordering::Relaxed);
        let now_up = match outcome {
            Outcome::Answered { status, rtt } => {
                d.last_status = Some(status);
                d.last_rtt = Some(rtt);
                d.failures_in_row = 0;
                true
            }
            Outcome::Failed { status } => {
                t.failed.fetch_add(1, Ordering::Relaxed);
                d.last_status = status.or(d.last_status);
                d.failures_in_row = d.failures_in_row.saturating_add(1);
                was_up && d.failures_in_row < down_after
            }
        };
        if now_up == was_up {
            return None;
        }
        t.up.store(now_up, Ordering::Relaxed);
        d.changed = Some(SystemTime::now());
        Some(now_up)
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Answered { status: u16, rtt: Duration },
    Failed { status: Option<u16> },
}

/// Our address (Via sent-by and Contact host:port) per transport: the UDP/TCP listener's, and the
/// TLS listener's for TLS.
#[derive(Debug, Clone)]
pub(crate) struct SentBy {
    pub(crate) plain: String,
    pub(crate) tls: Option<String>,
}

impl SentBy {
    /// The address to use over `transport`.
    pub(crate) fn over(&self, transport: Transport) -> &str {
        match (transport, &self.tls) {
            (Transport::Tls, Some(tls)) => tls,
            _ => &self.plain,
        }
    }
}

/// The probing side, owned by worker 0: when each trunk is due and which transaction is its probe.
pub(crate) struct TrunkProber {
    health: std::sync::Arc<TrunkHealth>,
    events: Events,
    probes: Vec<Probe>,
    sent_by: SentBy,
    worker: usize,
}

struct Probe {
    index: usize,
    name: String,
    uri: String,
    target: Target,
    interval: Duration,
    down_after: u32,
    next_due: Instant,
    /// Probes whose transaction is still alive: key, when sent, and whether it was already
    /// counted as failed (unanswered when the next one was due). An answer to any of them shows
    /// the trunk is alive.
    outstanding: Vec<(TransactionKey, Instant, bool)>,
}

impl TrunkProber {
    /// A prober for the trunks with keepalive; the first probes go out at `now`. `sent_by` is our
    /// Via/Contact address, `worker` the index whose Call-IDs route responses back to us.
    pub(crate) fn new(
        trunks: &[TrunkConfig],
        health: std::sync::Arc<TrunkHealth>,
        events: Events,
        sent_by: &SentBy,
        worker: usize,
        now: Instant,
    ) -> TrunkProber {
        let probes = trunks
            .iter()
            .enumerate()
            .filter_map(|(index, t)| {
                let k = t.keepalive?;
                Some(Probe {
                    index,
                    name: t.name.clone(),
                    uri: format!("sip:{}", t.domain),
                    target: Target {
                        dest: t.address,
                        transport: server_transport(t.transport),
                        local: None,
                        conn: None,
                    },
                    interval: k.interval,
                    down_after: k.failures,
                    next_due: now,
                    outstanding: Vec::new(),
                })
            })
            .collect();
        TrunkProber {
            health,
            events,
            probes,
            sent_by: sent_by.clone(),
            worker,
        }
    }

    /// When the next probe is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.probes.iter().map(|p| p.next_due).min()
    }

    /// Sends every due probe (a probe still in flight then counts as failed).
    pub(crate) fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer<SipMsg>) {
        for i in 0..self.probes.len() {
            if self.probes[i].next_due > now {
                continue;
            }
            let unanswered = self.probes[i]
                .outstanding
                .last_mut()
                .filter(|(_, _, counted)| !*counted);
            if let Some((_, _, counted)) = unanswered {
                *counted = true;
                self.finish(i, Outcome::Failed { status: None });
            }
            let p = &mut self.probes[i];
            p.next_due = now + p.interval;
            let transport = p.target.transport;
            let sent_by = self.sent_by.over(transport);
            let Some(request) = options(&p.uri, sent_by, self.worker, transport) else {
                continue;
            };
            let Some(key) = super::calls::client_key(&request) else {
                continue;
            };
            self.health.trunks[p.index]
                .probes
                .fetch_add(1, Ordering::Relaxed);
            let msg = SipMsg::new(request, Some(p.target.clone()));
            match layer.send_request(now, key.clone(), msg, false) {
                Ok(()) => p.outstanding.push((key, now, false)),
                Err(e) => tracing::debug!(trunk = p.name, error = %e, "OPTIONS probe refused"),
            }
        }
    }

    /// A client-transaction event; `false` when `key` is not one of our probes.
    pub(crate) fn on_client_event(
        &mut self,
        key: &TransactionKey,
        event: &TransactionEvent<SipMsg>,
        now: Instant,
    ) -> bool {
        let found = self.probes.iter().enumerate().find_map(|(i, p)| {
            let j = p.outstanding.iter().position(|(k, _, _)| k == key)?;
            Some((i, j))
        });
        let Some((i, j)) = found else {
            return false;
        };
        let (_, sent, counted) = self.probes[i].outstanding[j].clone();
        let outcome = match event {
            TransactionEvent::Response { response, .. } => {
                let status = response.msg.status().unwrap_or(0);
                if status < 200 {
                    return true;
                }
                if status == 408 || status >= 500 {
                    Outcome::Failed {
                        status: Some(status),
                    }
                } else {
                    Outcome::Answered {
                        status,
                        rtt: now.saturating_duration_since(sent),
                    }
                }
            }
            TransactionEvent::TimedOut | TransactionEvent::TransportError => {
                Outcome::Failed { status: None }
            }
            TransactionEvent::Terminated => {
                self.probes[i].outstanding.remove(j);
                return true;
            }
            _ => return true,
        };
        self.probes[i].outstanding.remove(j);
        // A failure already counted when the next probe was due is not counted twice.
        if matches!(outcome, Outcome::Answered { .. }) || !counted {
            self.finish(i, outcome);
        }
        true
    }

    fn finish(&mut self, i: usize, outcome: Outcome) {
        let p = &self.probes[i];
        match self.health.record(p.index, outcome, p.down_after) {
            Some(true) => {
                tracing::info!(trunk = p.name, "trunk up: OPTIONS answered");
                self.events.publish(
                    None,
                    Event::TrunkUp {
                        trunk: p.name.clone(),
                    },
                );
            }
            Some(false) => {
                let reason = match outcome {
                    Outcome::Failed { status: Some(s) } => s.to_string(),
                    _ => "timeout".to_owned(),
                };
                tracing::warn!(trunk = p.name, reason, "trunk down: OPTIONS probes failed");
                self.events.publish(
                    None,
                    Event::TrunkDown {
                        trunk: p.name.clone(),
                        reason,
                    },
                );
            }
            None => {}
        }
    }
}

/// The transport layer's name for a call leg's transport.
pub(super) fn server_transport(t: switchboard_b2bua::LegTransport) -> Transport {
    match t {
        switchboard_b2bua::LegTransport::Udp => Transport::Udp,
        switchboard_b2bua::LegTransport::Tcp => Transport::Tcp,
        switchboard_b2bua::LegTransport::Tls => Transport::Tls,
    }
}

/// `uri` with `;transport=tcp` (or `tls`) when the requests go over TCP or TLS (RFC 3261 §19.1.1),
/// so the trunk reaches us back the same way.
pub(super) fn contact_over(uri: &str, transport: Transport) -> String {
    match transport {
        Transport::Udp => uri.to_owned(),
        Transport::Tcp => format!("{uri};transport=tcp"),
        Transport::Tls => format!("{uri};transport=tls"),
    }
}

/// An out-of-dialog request of ours to a trunk (RFC 3261 §8.1.1): Request-URI `uri`, a fresh Via
/// branch from `sent_by` with rport, Max-Forwards 70, From `from` with `from_tag`, To `to`, Call-ID,
/// CSeq `cseq` and Contact `contact`. The caller adds what its method needs and Content-Length.
pub(super) struct UacRequest<'a> {
    pub(super) method: Method<'static>,
    pub(super) uri: &'a str,
    pub(super) sent_by: &'a str,
    pub(super) from: &'a str,
    pub(super) from_tag: &'a str,
    pub(super) to: &'a str,
    pub(super) call_id: &'a str,
    pub(super) cseq: u32,
    pub(super) contact: &'a str,
    pub(super) transport: Transport,
}

impl UacRequest<'_> {
    pub(super) fn build(self) -> Option<Message<'static>> {
        let method = self.method.as_str().to_owned();
        let mut m = Message::new_request(self.method, self.uri.to_owned()).ok()?;
        m.push_header(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch=z9hG4bK{:016x}{:016x};rport",
                self.transport.as_via(),
                self.sent_by,
                rand_u64(),
                rand_u64()
            ),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(
            HeaderName::From,
            format!("<{}>;tag={}", self.from, self.from_tag),
        );
        m.push_header(HeaderName::To, format!("<{}>", self.to));
        m.push_header(HeaderName::CallId, self.call_id.to_owned());
        m.push_header(HeaderName::CSeq, format!("{} {method}", self.cseq));
        m.push_header(HeaderName::Contact, format!("<{}>", self.contact));
        Some(m)
    }
}

/// An out-of-dialog OPTIONS to `uri` (RFC 3261 §11), with a fresh Call-ID that routes its
/// responses to `worker`.
fn options(
    uri: &str,
    sent_by: &str,
    worker: usize,
    transport: Transport,
) -> Option<Message<'static>> {
    let us = format!("sip:switchboard@{sent_by}");
    let contact = contact_over(&us, transport);
    let mut m = UacRequest {
        method: Method::Options,
        uri,
        sent_by,
        from: &us,
        from_tag: &format!("{:016x}", rand_u64()),
        to: uri,
        call_id: &super::calls::b_leg_token(worker),
        cseq: 1,
        contact: &contact,
        transport,
    }
    .build()?;
    m.push_header(HeaderName::Accept, "application/sdp");
    m.push_header(HeaderName::ContentLength, "0");
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Keepalive;

    fn trunk(name: &str, keepalive: Option<u32>) -> TrunkConfig {
        TrunkConfig {
            name: name.into(),
            address: "127.0.0.1:5080".parse().expect("addr"),
            domain: "carrier.example".into(),
            tls_name: "carrier.example".into(),
            inbound: Vec::new(),
            inbound_user: None,
            caller_id: None,
            keepalive: keepalive.map(|failures| Keepalive {
                interval: Duration::from_secs(1),
                failures,
            }),
            auth: None,
            transport: Default::default(),
            register_expires: None,
        }
    }

    #[test]
    fn down_after_the_configured_failures_in_a_row_and_up_on_the_first_answer() {
        let h = TrunkHealth::new(&[trunk("a", Some(2)), trunk("b", None)]);
        let fail = Outcome::Failed { status: None };
        let ok = Outcome::Answered {
            status: 200,
            rtt: Duration::from_millis(3),
        };
        assert_eq!(h.record(0, fail, 2), None, "one failure is not enough");
        assert!(h.is_up("a"));
        assert_eq!(h.record(0, ok, 2), None, "an answer resets the count");
        assert_eq!(h.record(0, fail, 2), None);
        assert_eq!(h.record(0, fail, 2), Some(false));
        assert!(!h.is_up("a"));
        assert_eq!(h.record(0, fail, 2), None, "already down");
        assert_eq!(h.record(0, ok, 2), Some(true));
        assert!(h.is_up("a"));
        let s = h.statuses();
        assert_eq!((s[0].status, s[0].probes_failed), ("up", 4));
        assert_eq!(s[1].status, "unprobed");
        assert!(h.is_up("b") && h.is_up("not-configured"));
    }

    #[test]
    fn rfc3261_s11_options_probe_is_a_complete_out_of_dialog_request() {
        let m =
            options("sip:carrier.example", "192.0.2.1:5060", 0, Transport::Udp).expect("options");
        let text = String::from_utf8(m.encode()).expect("utf8");
        let parsed = Message::parse(text.as_bytes()).expect("parses");
        assert_eq!(parsed.method(), Some(&Method::Options));
        assert!(
            crate::shard::b_leg_worker(parsed.call_id().expect("call-id").as_bytes(), 2) == Some(0),
            "responses come back to the probing worker: {text}"
        );
        let via = parsed.top_via().expect("via");
        assert!(via.branch().expect("branch").starts_with("z9hG4bK"));
        assert!(text.contains("CSeq: 1 OPTIONS") && text.contains("Max-Forwards: 70"));
    }
}
