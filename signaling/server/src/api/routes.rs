//! `/api/v1` handlers: server stats, registrations, media nodes, the dialplan and route simulation.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use switchboard_media_pool::MediaError;

use super::{ApiError, ApiState, json_body};
use crate::core::inspect::{ActionView, RegistrationView, RouteSimulation, SimulationInput};

/// Every route as (method, path); the OpenAPI document must describe exactly these.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/registrations"),
    ("delete", "/api/v1/registrations/{aor}"),
    ("get", "/api/v1/media-nodes"),
    ("post", "/api/v1/media-nodes/{name}/drain"),
    ("post", "/api/v1/media-nodes/{name}/undrain"),
    ("get", "/api/v1/trunks"),
    ("get", "/api/v1/bans"),
    ("delete", "/api/v1/bans/{ip}"),
    ("get", "/api/v1/dialplan"),
    ("post", "/api/v1/dialplan/validate"),
    ("post", "/api/v1/dialplan/reload"),
    ("post", "/api/v1/dialplan/simulate"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/ws"),
    ("get", "/api/v1/calls"),
    ("post", "/api/v1/calls"),
    ("get", "/api/v1/calls/{uuid}"),
    ("delete", "/api/v1/calls/{uuid}"),
    ("post", "/api/v1/calls/{uuid}/dtmf"),
    ("post", "/api/v1/calls/{uuid}/transfer"),
];

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/registrations", get(registrations))
        .route("/api/v1/registrations/{aor}", delete(remove_registration))
        .route("/api/v1/media-nodes", get(media_nodes))
        .route("/api/v1/media-nodes/{name}/drain", post(drain))
        .route("/api/v1/media-nodes/{name}/undrain", post(undrain))
        .route("/api/v1/trunks", get(trunks))
        .route("/api/v1/bans", get(super::bans::list))
        .route("/api/v1/bans/{ip}", delete(super::bans::lift))
        .route("/api/v1/dialplan", get(dialplan))
        .route("/api/v1/dialplan/validate", post(validate))
        .route("/api/v1/dialplan/reload", post(reload))
        .route("/api/v1/dialplan/simulate", post(simulate))
        .route("/api/v1/events", get(super::stream::events))
        .route("/api/v1/events/ws", get(super::ws::events_ws))
        .route(
            "/api/v1/calls",
            get(super::calls::list).post(super::calls::originate),
        )
        .route(
            "/api/v1/calls/{uuid}",
            get(super::calls::get).delete(super::calls::hang_up),
        )
        .route("/api/v1/calls/{uuid}/dtmf", post(super::calls::dtmf))
        .route(
            "/api/v1/calls/{uuid}/transfer",
            post(super::calls::transfer),
        )
}

async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

/// `GET /api/v1/stats`.
#[derive(Debug, Serialize)]
pub(super) struct Stats {
    calls_active: usize,
    transactions: usize,
    registrations: usize,
    tcp_connections: usize,
    media_sessions: u64,
    messages_dropped_overload: u64,
    messages_malformed: u64,
    events_published: u64,
    events_refused: u64,
    events_journaled_seq: u64,
    event_sinks: Vec<SinkView>,
}

#[derive(Debug, Serialize)]
struct SinkView {
    name: String,
    lag: u64,
    delivered: u64,
    retries: u64,
    failures: u64,
    skipped: u64,
    last_error: Option<String>,
}

async fn stats(State(s): State<ApiState>) -> Json<Stats> {
    use std::sync::atomic::Ordering::Relaxed;
    let core = &s.core;
    Json(Stats {
        calls_active: core.call_count(),
        transactions: core.transaction_count(),
        registrations: core.registration_count(),
        tcp_connections: core.transports().tcp_connections(),
        media_sessions: core
            .media_pool()
            .snapshot()
            .iter()
            .map(|n| u64::from(n.sessions))
            .sum(),
        messages_dropped_overload: core.counters().dropped_overload.load(Relaxed),
        messages_malformed: core.counters().malformed.load(Relaxed),
        events_published: core.events().bus().stats().published,
        events_refused: core.events().refused(),
        events_journaled_seq: core.events().bus().durable_seq(),
        event_sinks: core
            .events()
            .bus()
            .sink_stats()
            .into_iter()
            .map(|k| SinkView {
                name: k.name,
                lag: k.lag,
                delivered: k.delivered,
                retries: k.retries,
                failures: k.failures,
                skipped: k.skipped,
                last_error: k.last_error,
            })
            .collect(),
    })
}

async fn registrations(State(s): State<ApiState>) -> Json<Vec<RegistrationView>> {
    Json(s.core.registrations())
}

#[derive(Serialize)]
struct Removed {
    aor: String,
    removed: usize,
}

/// Query of `DELETE /api/v1/registrations/{aor}`: one binding by its contact URI, else all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    contact: Option<String>,
}

async fn remove_registration(
    State(s): State<ApiState>,
    Path(aor): Path<String>,
    query: Result<axum::extract::Query<RemoveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Removed>, ApiError> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let bare = aor.strip_prefix("sip:").unwrap_or(&aor);
    let Some((user, domain)) = bare
        .split_once('@')
        .filter(|(u, d)| !u.is_empty() && !d.is_empty())
    else {
        return Err(ApiError::field("aor", "expected user@domain"));
    };
    if let Some(contact) = query.contact {
        return match s.core.remove_contact(user, domain, &contact) {
            true => Ok(Json(Removed {
                aor: format!("sip:{user}@{}", domain.to_ascii_lowercase()),
                removed: 1,
            })),
            false => Err(ApiError::not_found(format!(
                "no binding {contact:?} for {user}@{domain}"
            ))),
        };
    }
    match s.core.remove_registration(user, domain) {
        0 => Err(ApiError::not_found(format!(
            "no registration for {user}@{domain}"
        ))),
        removed => Ok(Json(Removed {
            aor: format!("sip:{user}@{}", domain.to_ascii_lowercase()),
            removed,
        })),
    }
}

#[derive(Serialize)]
struct NodeView {
    name: String,
    grpc_uri: String,
    status: &'static str,
    sessions: u32,
    max_sessions: u32,
    free_sessions: u32,
    free_ports: u32,
    total_ports: u32,
    load: f64,
    failed_health_checks: u32,
    last_error: Option<String>,
}

async fn media_nodes(State(s): State<ApiState>) -> Json<Vec<NodeView>> {
    let nodes = s.core.media_pool().snapshot();
    Json(
        nodes
            .into_iter()
            .map(|n| NodeView {
                status: n.status.as_str(),
                name: n.name,
                grpc_uri: n.grpc_uri,
                sessions: n.sessions,
                max_sessions: n.max_sessions,
                free_sessions: n.free_sessions,
                free_ports: n.free_ports,
                total_ports: n.total_ports,
                load: n.load,
                failed_health_checks: n.failures,
                last_error: n.last_error,
            })
            .collect(),
    )
}

async fn trunks(State(s): State<ApiState>) -> Json<Vec<crate::core::TrunkStatus>> {
    Json(s.core.trunk_health().statuses())
}

#[derive(Serialize)]
struct Draining {
    name: String,
    draining: bool,
}

async fn drain(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Draining>, ApiError> {
    set_draining(&s, name, true).await
}

async fn undrain(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Draining>, ApiError> {
    set_draining(&s, name, false).await
}

async fn set_draining(
    s: &ApiState,
    name: String,
    draining: bool,
) -> Result<Json<Draining>, ApiError> {
    let pool = s.core.media_pool();
    let result = if draining {
        pool.drain(&name).await
    } else {
        pool.undrain(&name).await
    };
    match result {
        Ok(()) => Ok(Json(Draining { name, draining })),
        Err(MediaError::UnknownNode(n)) => Err(ApiError::not_found(format!("no media node {n:?}"))),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "media_node_error",
            e.to_string(),
        )),
    }
}

#[derive(Serialize)]
struct RuleView {
    name: String,
    action: ActionView,
}

#[derive(Serialize)]
struct DialplanView {
    file: Option<String>,
    rules: Vec<RuleView>,
}

fn rules(plan: &switchboard_dialplan::Dialplan) -> Vec<RuleView> {
    plan.actions()
        .map(|(name, action)| RuleView {
            name: name.to_owned(),
            action: action.into(),
        })
        .collect()
}

async fn dialplan(State(s): State<ApiState>) -> Json<DialplanView> {
    Json(DialplanView {
        file: s.reloader.path().map(|p| p.display().to_string()),
        rules: rules(&s.reloader.current()),
    })
}

#[derive(Serialize)]
struct PlanErrorView {
    path: String,
    message: String,
}

#[derive(Serialize)]
struct Validation {
    valid: bool,
    rules: Vec<RuleView>,
    errors: Vec<PlanErrorView>,
}

/// `POST /api/v1/dialplan/validate` with a candidate file as the body: checked, never installed.
async fn validate(State(s): State<ApiState>, body: Bytes) -> Result<Json<Validation>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::field("body", "not UTF-8 text"))?;
    Ok(Json(match s.reloader.validate(text) {
        Ok(plan) => Validation {
            valid: true,
            rules: rules(&plan),
            errors: Vec::new(),
        },
        Err(errors) => Validation {
            valid: false,
            rules: Vec::new(),
            errors: errors
                .into_iter()
                .map(|e| PlanErrorView {
                    path: e.path,
                    message: e.message,
                })
                .collect(),
        },
    }))
}

/// `POST /api/v1/dialplan/reload`: re-reads the file, as SIGHUP does.
async fn reload(State(s): State<ApiState>) -> Result<Json<DialplanView>, ApiError> {
    match s.reloader.reload() {
        Ok(_) => Ok(dialplan(State(s)).await),
        Err(issues) => {
            let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_dialplan",
                format!(
                    "the file was refused; the running plan is unchanged: {}",
                    text.join("; ")
                ),
            );
            e.field = Some("dialplan.file".into());
            Err(e)
        }
    }
}

/// Body of `POST /api/v1/dialplan/simulate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateBody {
    called: String,
    #[serde(default)]
    calling: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    source_ip: Option<String>,
    #[serde(default)]
    trunk: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

async fn simulate(
    State(s): State<ApiState>,
    body: Bytes,
) -> Result<Json<RouteSimulation>, ApiError> {
    let b: SimulateBody = json_body(&body)?;
    if b.called.is_empty() {
        return Err(ApiError::field("called", "must not be empty"));
    }
    let source_ip = match b.source_ip.as_deref() {
        None => std::net::IpAddr::from([127, 0, 0, 1]),
        Some(ip) => ip
            .parse()
            .map_err(|_| ApiError::field("source_ip", format!("{ip:?} is not an IP address")))?,
    };
    if let Some(t) = &b.trunk {
        if !s.reloader.trunk_names().any(|n| n == t) {
            return Err(ApiError::field("trunk", format!("no trunk named {t:?}")));
        }
    }
    let input = SimulationInput {
        called: b.called,
        calling: b.calling.unwrap_or_default(),
        domain: b.domain.unwrap_or_else(|| "localhost".into()),
        source_ip,
        trunk: b.trunk,
        headers: b.headers.into_iter().collect(),
    };
    Ok(Json(s.core.simulate_route(&input)))
}
