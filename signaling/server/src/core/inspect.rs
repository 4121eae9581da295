//! Operator views of the running core for the REST API and dashboard: registrations (list, remove)
//! and route simulation ("what would this INVITE do"), without side effects on calls.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use switchboard_dialplan::{Action, Origin, RouteRequest};
use switchboard_registrar::Aor;

use super::Core;

/// One address-of-record and its live bindings.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationView {
    /// `sip:user@domain`.
    pub aor: String,
    /// User part.
    pub user: String,
    /// Domain.
    pub domain: String,
    /// Bindings, in registration order.
    pub contacts: Vec<ContactView>,
}

/// One binding.
#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    /// Contact URI as registered.
    pub uri: String,
    /// Seconds until it lapses.
    pub expires_in: u64,
    /// `q` (0.000–1.000) if the client gave one.
    pub q: Option<f32>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// Where its REGISTER came from (`transport ip:port`).
    pub received: String,
    /// `+sip.instance`, if any.
    pub instance: Option<String>,
}

/// A dialplan action as JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionView {
    /// Dial the called user.
    User,
    /// Dial trunks in order.
    Trunk {
        /// Failover chain.
        trunks: Vec<String>,
    },
    /// Parallel fork.
    RingGroup {
        /// Members.
        members: Vec<String>,
        /// Seconds.
        timeout_secs: u64,
    },
    /// Sequential hunt.
    Hunt {
        /// Members in order.
        members: Vec<String>,
        /// Seconds per member.
        timeout_secs: u64,
    },
    /// Reject.
    Reject {
        /// Status.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

impl From<&Action> for ActionView {
    fn from(a: &Action) -> ActionView {
        match a {
            Action::User => ActionView::User,
            Action::Trunks(t) => ActionView::Trunk { trunks: t.clone() },
            Action::RingGroup { members, timeout } => ActionView::RingGroup {
                members: members.clone(),
                timeout_secs: timeout.as_secs(),
            },
            Action::Hunt { members, timeout } => ActionView::Hunt {
                members: members.clone(),
                timeout_secs: timeout.as_secs(),
            },
            Action::Reject { code, reason } => ActionView::Reject {
                code: *code,
                reason: reason.clone(),
            },
        }
    }
}

/// What route simulation is asked about.
#[derive(Debug, Clone)]
pub struct SimulationInput {
    /// Dialled number (Request-URI user).
    pub called: String,
    /// Caller ID (From user).
    pub calling: String,
    /// Request-URI host.
    pub domain: String,
    /// Source address of the INVITE.
    pub source_ip: IpAddr,
    /// `Some(trunk)` for a call from that trunk, else a call from user `calling`.
    pub trunk: Option<String>,
    /// Headers (name, value) the rules may test.
    pub headers: Vec<(String, String)>,
}

/// A B-leg target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    /// Request-URI of the B-leg INVITE.
    pub request_uri: String,
    /// Where it is sent.
    pub next_hop: String,
}

/// What the dialplan would do with a call.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSimulation {
    /// The matching rule, if any.
    pub rule: Option<String>,
    /// Called number after rewrites.
    pub called: Option<String>,
    /// Calling number after rewrites.
    pub calling: Option<String>,
    /// The rule's action.
    pub action: Option<ActionView>,
    /// B-leg targets in the order they would be tried (empty when refused).
    pub targets: Vec<TargetView>,
    /// The final status the caller would get instead (reject rule, no route, nobody registered).
    pub refusal: Option<Refusal>,
}

/// A status and reason.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// SIP status.
    pub code: u16,
    /// Reason phrase.
    pub reason: String,
}

impl Core {
    /// Every registration with its live bindings.
    pub fn registrations(&self) -> Vec<RegistrationView> {
        let wall = SystemTime::now();
        let now = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let Ok(r) = self.registrar.lock() else {
            return Vec::new();
        };
        r.registrations(wall)
            .into_iter()
            .map(|(aor, bindings)| RegistrationView {
                aor: aor.to_string(),
                user: aor.user.clone(),
                domain: aor.domain.clone(),
                contacts: bindings
                    .into_iter()
                    .map(|b| ContactView {
                        expires_in: b.expires_at.saturating_sub(now),
                        q: b.q.map(|q| f32::from(q) / 1000.0),
                        user_agent: b.user_agent,
                        received: b.received,
                        instance: b.instance,
                        uri: b.uri,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Removes every binding of `user@domain`; returns how many were removed.
    pub fn remove_registration(&self, user: &str, domain: &str) -> usize {
        match self.registrar.lock() {
            Ok(mut r) => r.unregister(&Aor::new(user, domain)),
            Err(_) => 0,
        }
    }

    /// Removes one binding of `user@domain` by its contact URI; whether it existed.
    pub fn remove_contact(&self, user: &str, domain: &str, contact: &str) -> bool {
        match self.registrar.lock() {
            Ok(mut r) => r.unregister_contact(&Aor::new(user, domain), contact),
            Err(_) => false,
        }
    }

    /// What the running dialplan would do with a call, without placing it.
    pub fn simulate_route(&self, input: &SimulationInput) -> RouteSimulation {
        let wall = SystemTime::now();
        let origin = match &input.trunk {
            Some(t) => Origin::Trunk(t),
            None => Origin::User(&input.calling),
        };
        let request = RouteRequest {
            called: &input.called,
            calling: &input.calling,
            domain: &input.domain,
            source_ip: input.source_ip,
            origin,
            headers: input
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
            unix_time: wall
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        };
        let (route, targets) = self.dialing.route(&request, &self.registrar, wall);
        let (targets, refusal) = match targets {
            Ok(t) => (
                t.into_iter()
                    .map(|r| TargetView {
                        request_uri: r.request_uri,
                        next_hop: r.next_hop.to_string(),
                    })
                    .collect(),
                None,
            ),
            Err((code, reason)) => (Vec::new(), Some(Refusal { code, reason })),
        };
        RouteSimulation {
            rule: route.as_ref().map(|r| r.rule.clone()),
            called: route.as_ref().map(|r| r.called.clone()),
            calling: route.as_ref().map(|r| r.calling.clone()),
            action: route.as_ref().map(|r| ActionView::from(&r.action)),
            targets,
            refusal,
        }
    }
}

/// Media statistics of one leg, from the media node.
#[derive(Debug, Clone, Serialize)]
pub struct LegStatsView {
    /// RTP packets received from this leg's peer.
    pub packets: u64,
    /// Packets lost (from sequence numbers).
    pub packets_lost: i64,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// RTP packets sent to this leg's peer.
    pub packets_out: u64,
}

/// Both legs' statistics.
#[derive(Debug, Clone, Serialize)]
pub struct LegsView {
    /// Caller side.
    pub a: LegStatsView,
    /// Callee side.
    pub b: LegStatsView,
}

/// Why an operator action on a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallActionError {
    /// No live call with that UUID.
    NotFound,
    /// The call has no media session yet.
    NoMedia,
    /// A field is invalid (name, reason).
    Invalid(&'static str, String),
    /// The media node refused the action (e.g. DTMF on a leg without telephone-event).
    Refused(String),
    /// The call is not in a state for it (a transfer before both legs answered).
    NotAnswered,
    /// The dialplan has no way to the target: its status and reason.
    NoRoute(u16, String),
    /// The dialplan has no way to the party in a field (name, status, reason).
    Unroutable(&'static str, u16, String),
    /// `sip.max_calls` calls are in progress: no new call now.
    AtCapacity,
}

/// A number or user name as an operator gives it (transfer target, originate parties): 1 to 64
/// of letters, digits and `+ * # - _ .`; `Invalid` names `field` otherwise.
pub(super) fn check_number(field: &'static str, value: &str) -> Result<(), CallActionError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "+*#-_.".contains(c);
    if value.is_empty() || value.len() > 64 || !value.chars().all(valid) {
        return Err(CallActionError::Invalid(
            field,
            "1 to 64 of letters, digits and + * # - _ .".into(),
        ));
    }
    Ok(())
}

impl Core {
    /// A shared handle on the media-node pool (for tasks that outlive a borrow of the core).
    pub fn media_pool_handle(&self) -> std::sync::Arc<switchboard_media_pool::MediaPool> {
        self.media_pool.clone()
    }

    /// The live-call directory (and its counters).
    pub fn call_directory(&self) -> &super::call_registry::CallDirectory {
        &self.directory
    }

    /// Every live call.
    pub fn calls(&self) -> Vec<super::call_registry::CallRecord> {
        self.directory.snapshot()
    }

    /// One live call.
    pub fn call(&self, uuid: &str) -> Option<super::call_registry::CallRecord> {
        self.directory.get(uuid)
    }

    /// Per-leg media statistics of every session, by session id (one gRPC call per node).
    pub async fn media_stats(&self) -> std::collections::HashMap<String, LegsView> {
        let mut out = std::collections::HashMap::new();
        for node in self.media_pool.snapshot() {
            let Ok(sessions) = self.media_pool.list_sessions(&node.name).await else {
                continue;
            };
            for s in sessions {
                let leg = |l: Option<&switchboard_media_pool::proto::LegInfo>| {
                    let rtp_in = l.and_then(|l| l.rtp_in.as_ref());
                    LegStatsView {
                        packets: rtp_in.map(|r| r.packets).unwrap_or(0),
                        packets_lost: rtp_in.map(|r| r.lost).unwrap_or(0),
                        jitter_ms: rtp_in.map(|r| r.jitter_ms).unwrap_or(0.0),
                        packets_out: l.map(|l| l.rtp_packets_out).unwrap_or(0),
                    }
                };
                let legs = LegsView {
                    a: leg(s.leg_a.as_ref()),
                    b: leg(s.leg_b.as_ref()),
                };
                out.insert(s.session_id, legs);
            }
        }
        out
    }

    /// Hangs up a live call (BYE or CANCEL on both legs, as the call's state requires).
    pub fn hang_up(&self, uuid: &str) -> Result<(), CallActionError> {
        if self.directory.get(uuid).is_none() {
            return Err(CallActionError::NotFound);
        }
        let worker = crate::shard::b_leg_worker(uuid.as_bytes(), self.worker_inputs.len())
            .and_then(|w| self.worker_inputs.get(w))
            .ok_or(CallActionError::NotFound)?;
        worker
            .send(super::media::MediaResult::Hangup {
                call_uuid: uuid.to_owned(),
            })
            .map_err(|_| CallActionError::NotFound)
    }

    /// Blind transfer: the callee's leg is hung up and the caller connected to `target` (a number
    /// or user, routed by the dialplan as if the caller had dialled it). Returns the new callee's
    /// Request-URI once its INVITE is on its way.
    pub async fn transfer(&self, uuid: &str, target: &str) -> Result<String, CallActionError> {
        check_number("target", target)?;
        if self.directory.get(uuid).is_none() {
            return Err(CallActionError::NotFound);
        }
        let worker = crate::shard::b_leg_worker(uuid.as_bytes(), self.worker_inputs.len())
            .and_then(|w| self.worker_inputs.get(w))
            .ok_or(CallActionError::NotFound)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        worker
            .send(super::media::MediaResult::Transfer {
                call_uuid: uuid.to_owned(),
                target: target.to_owned(),
                reply,
            })
            .map_err(|_| CallActionError::NotFound)?;
        match answer.await {
            Ok(Ok(uri)) => Ok(uri),
            Ok(Err(super::media::TransferRefusal::NotAnswered)) => {
                Err(CallActionError::NotAnswered)
            }
            Ok(Err(super::media::TransferRefusal::NoRoute(code, reason))) => {
                Err(CallActionError::NoRoute(code, reason))
            }
            Ok(Err(super::media::TransferRefusal::NotFound)) | Err(_) => {
                Err(CallActionError::NotFound)
            }
        }
    }

    /// Sends DTMF `digits` (0-9 * # A-D) as RFC 4733 events towards `leg` (`"a"` or `"b"`), one
    /// after another (100 ms tones, 60 ms apart). Returns once the node took the first digit (a
    /// refusal, e.g. a leg without telephone-event, is returned) and the rest are scheduled.
    pub async fn send_dtmf(
        &self,
        uuid: &str,
        leg: &str,
        digits: &str,
    ) -> Result<(), CallActionError> {
        use switchboard_media_pool::proto as pb;
        let leg = match leg {
            "a" | "A" => pb::Leg::A,
            "b" | "B" => pb::Leg::B,
            _ => {
                return Err(CallActionError::Invalid(
                    "leg",
                    "must be \"a\" or \"b\"".into(),
                ));
            }
        };
        let valid = |c: char| c.is_ascii_digit() || "*#ABCDabcd".contains(c);
        if digits.is_empty() || digits.len() > 32 || !digits.chars().all(valid) {
            return Err(CallActionError::Invalid(
                "digits",
                "1 to 32 of 0-9 * # A-D".into(),
            ));
        }
        let call = self.directory.get(uuid).ok_or(CallActionError::NotFound)?;
        let session = call.media_session.ok_or(CallActionError::NoMedia)?;
        let pool = self.media_pool.clone();
        let request = move |session: &str, d: char| pb::SendDtmfRequest {
            session_id: session.to_owned(),
            leg: leg as i32,
            digit: d.to_string(),
            duration_ms: 100,
            volume: 10,
        };
        let mut rest = digits.chars();
        if let Some(first) = rest.next() {
            pool.send_dtmf(request(&session, first))
                .await
                .map_err(|e| CallActionError::Refused(e.to_string()))?;
        }
        let rest: String = rest.collect();
        let directory = self.directory.clone();
        let uuid = uuid.to_owned();
        tokio::spawn(async move {
            for d in rest.chars() {
                tokio::time::sleep(std::time::Duration::from_millis(160)).await;
                // The call may have ended (or moved to another session) meanwhile: the
                // remaining digits are dropped, not sent to a released session.
                let current = directory.get(&uuid).and_then(|c| c.media_session);
                if current.as_deref() != Some(session.as_str()) {
                    tracing::debug!(uuid, session, "call ended before its DTMF was sent");
                    return;
                }
                match pool.send_dtmf(request(&session, d)).await {
                    Ok(()) => {}
                    Err(switchboard_media_pool::MediaError::UnknownSession(_)) => {
                        tracing::debug!(uuid, session, "call ended before its DTMF was sent");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(uuid, session, error = %e, "DTMF not sent");
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
