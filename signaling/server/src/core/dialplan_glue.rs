//! A new INVITE through the dialplan: who sent it (a trunk by source address, or a user by digest
//! authentication), which rule matches (`switchboard-dialplan`), and the B-leg routes that rule's
//! action resolves to (a user's registered contacts, a trunk failover chain, hunt members).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use switchboard_b2bua::RouteTarget;
use switchboard_dialplan::{Action, Origin as PlanOrigin, Route, RouteRequest};
use switchboard_sip::Message;

use super::handler::{Origin, random_tag};
use super::registrar_glue::Registrar;
use super::trunk_probe::TrunkHealth;
use crate::config::TrunkConfig;
use crate::reload::PlanHandle;

/// Where an admitted call goes: the first route, then the others — the first `parallel` of them
/// rung at the same time as it (a ring group; a user's contacts of the highest q), the rest as
/// serial fallbacks (trunks, hunt, a user's lower-q contacts in q order).
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) route: RouteTarget,
    pub(crate) fallbacks: Vec<RouteTarget>,
    /// How many of `fallbacks` ring in parallel with `route` (the rest are serial fallbacks).
    pub(crate) parallel: usize,
    /// A hunt's per-member ring time, or a ring group's ring time.
    pub(crate) attempt_timeout: Option<std::time::Duration>,
    /// The From user presented on the B leg (rule `rewrite_calling`, else the trunk's `caller_id`).
    pub(crate) caller_id: Option<String>,
}

/// Dialplan state shared by the workers.
#[derive(Clone)]
pub(crate) struct Dialing {
    plan: PlanHandle,
    trunks: Arc<Vec<TrunkConfig>>,
    /// OPTIONS keepalive state: a trunk that is down is skipped.
    health: Arc<TrunkHealth>,
}

type Refusal = Box<Message<'static>>;

/// B-leg routes in the order they are tried, or the status (and reason) the caller gets instead.
pub(crate) type Resolution = Result<Vec<RouteTarget>, (u16, String)>;

impl Dialing {
    pub(crate) fn new(
        plan: PlanHandle,
        trunks: Arc<Vec<TrunkConfig>>,
        health: Arc<TrunkHealth>,
    ) -> Dialing {
        Dialing {
            plan,
            trunks,
            health,
        }
    }

    /// Authenticates, matches and resolves a new INVITE; `Err` is the final response to send.
    pub(crate) fn admit(
        &self,
        req: &Message<'_>,
        origin: Origin,
        registrar: &Mutex<Registrar>,
    ) -> Result<Admitted, Refusal> {
        let wall = SystemTime::now();
        let refuse = |status: u16, reason: &str| -> Refusal {
            Box::new(
                req.response_with_tag(status, reason, &random_tag())
                    .into_owned(),
            )
        };
        let lock = || {
            registrar
                .lock()
                .map_err(|_| refuse(500, "Registrar unavailable"))
        };
        let trunk = self.trunks.iter().find(|t| t.accepts(origin.source.ip()));
        let username = match trunk {
            Some(_) => None,
            None => Some(lock()?.authenticate_invite(req, origin, wall)?),
        };
        // An account that belongs to a trunk (`inbound_user`) makes the call that trunk's.
        let trunk = trunk.or_else(|| {
            let user = username.as_deref()?;
            self.trunks
                .iter()
                .find(|t| t.inbound_user.as_deref() == Some(user))
        });
        let plan_origin = match (trunk, username.as_deref()) {
            (Some(t), _) => PlanOrigin::Trunk(&t.name),
            (None, Some(u)) => PlanOrigin::User(u),
            (None, None) => return Err(refuse(403, "Forbidden")),
        };
        let uri = req
            .request_uri()
            .map_err(|_| refuse(400, "Bad Request-URI"))?;
        let called = uri.user_decoded().unwrap_or_default();
        let domain = uri.host.as_ref().map(|h| h.to_string()).unwrap_or_default();
        let from = req.from().map_err(|_| refuse(400, "Bad From"))?;
        let calling = from.uri.user_decoded().unwrap_or_default();
        let headers = req
            .headers()
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_ref()))
            .collect();
        let request = RouteRequest {
            called: &called,
            calling: &calling,
            domain: &domain,
            source_ip: origin.source.ip(),
            origin: plan_origin,
            headers,
            unix_time: wall
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        };
        self.plan(&request, registrar, wall)
            .map_err(|(status, reason)| refuse(status, &reason))
    }

    /// Where a call from `calling` to `called` in `domain` goes, for a call we originate (the
    /// dialplan sees it as dialled by user `calling` from loopback). `Err`: the status and reason
    /// the plan answers.
    pub(crate) fn originate_plan(
        &self,
        called: &str,
        calling: &str,
        domain: &str,
        registrar: &Mutex<Registrar>,
    ) -> Result<Admitted, (u16, String)> {
        let wall = SystemTime::now();
        self.plan(
            &as_dialled_by(called, calling, domain, wall),
            registrar,
            wall,
        )
    }

    /// The matched rule's routes as an [`Admitted`] plan, or the status (and reason) to answer.
    fn plan(
        &self,
        request: &RouteRequest<'_>,
        registrar: &Mutex<Registrar>,
        wall: SystemTime,
    ) -> Result<Admitted, (u16, String)> {
        let (called, calling) = (request.called, request.calling);
        let (route, routes) = self.route(request, registrar, wall);
        let Some(route) = route else {
            tracing::info!(called, calling, "no dialplan rule matches");
            return Err((404, "No Route".to_owned()));
        };
        tracing::debug!(
            rule = route.rule,
            called = route.called,
            "dialplan rule matched"
        );
        let routes = routes?;
        let attempt_timeout = match &route.action {
            Action::Hunt { timeout, .. } | Action::RingGroup { timeout, .. } => Some(*timeout),
            _ => None,
        };
        let parallel = match &route.action {
            Action::RingGroup { .. } => routes.len(),
            // RFC 3261 §16.6: the contacts of the highest q together, then the others by q.
            Action::User => registrar.lock().map_or(routes.len(), |r| {
                r.top_q_group(&route.called, request.domain, wall)
            }),
            _ => 0,
        }
        .saturating_sub(1);
        let caller_id = if route.calling != calling {
            Some(route.calling.clone())
        } else if let Action::Trunks(names) = &route.action {
            // The first trunk tried: the first of the chain that is up.
            names
                .iter()
                .find(|n| self.health.is_up(n))
                .and_then(|n| self.trunks.iter().find(|t| &t.name == n))
                .and_then(|t| t.caller_id.clone())
        } else {
            None
        };
        let mut routes = routes.into_iter();
        match routes.next() {
            Some(first) => Ok(Admitted {
                route: first,
                fallbacks: routes.collect(),
                parallel,
                attempt_timeout,
                caller_id,
            }),
            None => Err((480, "Temporarily Unavailable".to_owned())),
        }
    }

    /// Where a blind transfer of the caller of `a_invite` to `target` goes: the plan routes it as
    /// if that caller (as a user) had dialled `target` in the same domain; the first route of the
    /// matched rule. `Err` is the status and reason the plan answers.
    pub(crate) fn transfer_route(
        &self,
        a_invite: &Message<'_>,
        target: &str,
        registrar: &Mutex<Registrar>,
    ) -> Result<RouteTarget, (u16, String)> {
        let wall = SystemTime::now();
        let domain = a_invite
            .request_uri()
            .ok()
            .and_then(|u| u.host.as_ref().map(|h| h.to_string()))
            .unwrap_or_default();
        let calling = a_invite
            .from()
            .ok()
            .and_then(|f| f.uri.user_decoded().map(|u| u.into_owned()))
            .unwrap_or_default();
        let request = as_dialled_by(target, &calling, &domain, wall);
        let (_, routes) = self.route(&request, registrar, wall);
        routes?
            .into_iter()
            .next()
            .ok_or_else(|| (480, "Temporarily Unavailable".to_owned()))
    }

    /// The matching rule (if any) and the B-leg routes it resolves to, or the status it answers.
    /// Also serves route simulation: it has no effect.
    pub(crate) fn route(
        &self,
        request: &RouteRequest<'_>,
        registrar: &Mutex<Registrar>,
        wall: SystemTime,
    ) -> (Option<Route>, Resolution) {
        match self.plan.current().route(request) {
            None => (None, Err((404, "No Route".to_owned()))),
            Some(route) => {
                let routes = self.resolve(&route, request.domain, registrar, wall);
                (Some(route), routes)
            }
        }
    }

    /// The B-leg routes for a matched rule, in the order they are tried.
    fn resolve(
        &self,
        route: &Route,
        domain: &str,
        registrar: &Mutex<Registrar>,
        wall: SystemTime,
    ) -> Resolution {
        let unavailable = || (500, "Registrar unavailable".to_owned());
        match &route.action {
            Action::Reject { code, reason } => Err((*code, reason.clone())),
            Action::User => {
                let r = registrar.lock().map_err(|_| unavailable())?;
                r.user_routes(&route.called, domain, wall)
                    .map_err(|(s, why)| (s, why.to_owned()))
            }
            Action::Trunks(names) => {
                let routes: Vec<RouteTarget> = names
                    .iter()
                    .filter(|n| self.health.is_up(n))
                    .filter_map(|n| self.trunks.iter().find(|t| &t.name == n))
                    .map(|t| RouteTarget {
                        request_uri: format!(
                            "sip:{}@{}",
                            switchboard_sip::escape_user(&route.called),
                            t.domain
                        ),
                        next_hop: t.address,
                        auth: t.auth.clone(),
                        transport: t.transport,
                    })
                    .collect();
                if routes.is_empty() && !names.is_empty() {
                    // Every trunk of the chain failed its OPTIONS keepalive.
                    return Err((503, "Trunks Unavailable".to_owned()));
                }
                Ok(routes)
            }
            Action::Hunt { members, .. } | Action::RingGroup { members, .. } => {
                let r = registrar.lock().map_err(|_| unavailable())?;
                let routes: Vec<RouteTarget> = members
                    .iter()
                    .filter_map(|m| r.user_routes(m, domain, wall).ok())
                    .flatten()
                    .collect();
                if routes.is_empty() {
                    return Err((480, "Temporarily Unavailable".to_owned()));
                }
                Ok(routes)
            }
        }
    }
}

/// The routing facts of a call Switchboard places itself (a transfer, an originated call): user
/// `calling` dialling `called` in `domain`, from loopback, without headers.
fn as_dialled_by<'a>(
    called: &'a str,
    calling: &'a str,
    domain: &'a str,
    wall: SystemTime,
) -> RouteRequest<'a> {
    RouteRequest {
        called,
        calling,
        domain,
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        origin: PlanOrigin::User(calling),
        headers: Vec::new(),
        unix_time: wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    }
}
