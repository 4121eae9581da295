//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of the signaling node, without auth
//! (like `/health`). Names follow Prometheus conventions: `switchboard_*`, `_total` for counters,
//! `_seconds` for durations.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::core::call_registry::{END_CAUSES, SETUP_BUCKETS};
use crate::core::{Core, SIP_METHODS};

/// Renders every metric.
pub fn render(core: &Core) -> String {
    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let calls = core.call_directory().stats();
    metric(
        "switchboard_calls_active",
        "gauge",
        "B2BUA calls in progress.",
        &one(core.call_count() as f64),
    );
    metric(
        "switchboard_calls_created_total",
        "counter",
        "Calls accepted and routed.",
        &one(calls.created.load(Relaxed) as f64),
    );
    metric(
        "switchboard_calls_answered_total",
        "counter",
        "Calls answered.",
        &one(calls.answered.load(Relaxed) as f64),
    );
    let ended: Vec<(String, f64)> = END_CAUSES
        .iter()
        .zip(&calls.ended)
        .map(|(c, n)| (format!("{{cause=\"{c}\"}}"), n.load(Relaxed) as f64))
        .collect();
    metric(
        "switchboard_calls_ended_total",
        "counter",
        "Calls ended, by cause.",
        &ended,
    );
    let mut cumulative = 0u64;
    let mut buckets: Vec<(String, f64)> = Vec::new();
    for (i, b) in calls.setup_buckets.iter().enumerate() {
        cumulative += b.load(Relaxed);
        let le = SETUP_BUCKETS
            .get(i)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "+Inf".into());
        buckets.push((format!("_bucket{{le=\"{le}\"}}"), cumulative as f64));
    }
    buckets.push(("_sum".into(), calls.setup_sum_us.load(Relaxed) as f64 / 1e6));
    buckets.push(("_count".into(), cumulative as f64));
    let _ = writeln!(
        out,
        "# HELP switchboard_call_setup_seconds Time from the INVITE to the answer relayed to the caller.\n# TYPE switchboard_call_setup_seconds histogram"
    );
    for (suffix, v) in &buckets {
        let _ = writeln!(out, "switchboard_call_setup_seconds{suffix} {v}");
    }
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let counters = core.counters();
    let mut requests: Vec<(String, f64)> = SIP_METHODS
        .iter()
        .zip(&counters.requests_in)
        .map(|(m, n)| (format!("{{method=\"{m}\"}}"), n.load(Relaxed) as f64))
        .collect();
    if let Some(other) = counters.requests_in.last() {
        requests.push(("{method=\"other\"}".into(), other.load(Relaxed) as f64));
    }
    metric(
        "switchboard_sip_requests_received_total",
        "counter",
        "SIP requests received, by method.",
        &requests,
    );
    let responses: Vec<(String, f64)> = counters
        .responses_in
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{{class=\"{}xx\"}}", i + 1), n.load(Relaxed) as f64))
        .collect();
    metric(
        "switchboard_sip_responses_received_total",
        "counter",
        "SIP responses received, by class.",
        &responses,
    );
    metric(
        "switchboard_sip_messages_malformed_total",
        "counter",
        "Messages answered 400 or dropped as unparseable.",
        &one(counters.malformed.load(Relaxed) as f64),
    );
    metric(
        "switchboard_sip_messages_dropped_overload_total",
        "counter",
        "Messages dropped on a full worker queue (new INVITEs first, from a quarter full).",
        &one(counters.dropped_overload.load(Relaxed) as f64),
    );
    metric(
        "switchboard_calls_rejected_total",
        "counter",
        "New calls answered 503 by the overload protection: the worker was overloaded (load shedding, \
         sip.overload_queue_delay_ms) or sip.max_calls calls were up.",
        &[
            (
                "{reason=\"overload\"}".to_owned(),
                counters.rejected_overload.load(Relaxed) as f64,
            ),
            (
                "{reason=\"max_calls\"}".to_owned(),
                counters.rejected_max_calls.load(Relaxed) as f64,
            ),
        ],
    );
    metric(
        "switchboard_sip_overloaded",
        "gauge",
        "1 while a signaling worker is overloaded and refuses new calls, else 0.",
        &one(if core.overloaded() { 1.0 } else { 0.0 }),
    );
    metric(
        "switchboard_transactions",
        "gauge",
        "Live SIP transactions.",
        &one(core.transaction_count() as f64),
    );
    metric(
        "switchboard_registrations",
        "gauge",
        "Registered contact bindings.",
        &one(core.registration_count() as f64),
    );
    let shared = core.shared_registrations();
    for (name, kind, help, value) in shared.map_or(Vec::new(), |s| s.metrics()) {
        metric(name, kind, help, &one(value));
    }
    metric(
        "switchboard_auth_failures_total",
        "counter",
        "Failed digest authentications.",
        &one(core.events().auth_failures() as f64),
    );
    metric(
        "switchboard_bans_active",
        "gauge",
        "Source addresses banned now for failing authentication.",
        &one(core.bans().active(std::time::Instant::now()) as f64),
    );
    metric(
        "switchboard_messages_dropped_banned_total",
        "counter",
        "Messages dropped unanswered because their source was banned.",
        &one(core.bans().dropped() as f64),
    );
    let trunks = core.trunk_health().statuses();
    let probed = trunks.iter().filter(|t| t.status != "unprobed");
    let up: Vec<(String, f64)> = probed
        .clone()
        .map(|t| {
            let up = if t.status == "up" { 1.0 } else { 0.0 };
            (format!("{{trunk=\"{}\"}}", t.name), up)
        })
        .collect();
    metric(
        "switchboard_trunk_up",
        "gauge",
        "Whether a trunk with OPTIONS keepalive answers (1) or is skipped by calls (0).",
        &up,
    );
    let failed: Vec<(String, f64)> = probed
        .map(|t| (format!("{{trunk=\"{}\"}}", t.name), t.probes_failed as f64))
        .collect();
    metric(
        "switchboard_trunk_probes_failed_total",
        "counter",
        "OPTIONS keepalive probes that timed out or got 408/5xx.",
        &failed,
    );
    let registered: Vec<(String, f64)> = trunks
        .iter()
        .filter_map(|t| {
            let r = t.registration.as_ref()?;
            let v = if r.status == "registered" { 1.0 } else { 0.0 };
            Some((format!("{{trunk=\"{}\"}}", t.name), v))
        })
        .collect();
    metric(
        "switchboard_trunk_registered",
        "gauge",
        "Whether our registration to a trunk with register = true holds (1) or not (0).",
        &registered,
    );
    let nodes = core.media_pool().snapshot();
    let status: Vec<(String, f64)> = nodes
        .iter()
        .map(|n| {
            (
                format!("{{node=\"{}\",status=\"{}\"}}", n.name, n.status.as_str()),
                1.0,
            )
        })
        .collect();
    metric(
        "switchboard_media_node_status",
        "gauge",
        "Media nodes by status (1 per node).",
        &status,
    );
    let sessions: Vec<(String, f64)> = nodes
        .iter()
        .map(|n| (format!("{{node=\"{}\"}}", n.name), f64::from(n.sessions)))
        .collect();
    metric(
        "switchboard_media_sessions",
        "gauge",
        "Sessions on each media node.",
        &sessions,
    );
    let free: Vec<(String, f64)> = nodes
        .iter()
        .map(|n| {
            (
                format!("{{node=\"{}\"}}", n.name),
                f64::from(n.free_sessions),
            )
        })
        .collect();
    metric(
        "switchboard_media_free_sessions",
        "gauge",
        "Sessions each media node can still take.",
        &free,
    );
    let bus = core.events().bus();
    metric(
        "switchboard_events_published_total",
        "counter",
        "Events journaled.",
        &one(bus.stats().published as f64),
    );
    metric(
        "switchboard_events_refused_total",
        "counter",
        "Events refused (journal writer too far behind).",
        &one(core.events().refused() as f64),
    );
    let sinks = bus.sink_stats();
    let lag: Vec<(String, f64)> = sinks
        .iter()
        .map(|k| (format!("{{sink=\"{}\"}}", k.name), k.lag as f64))
        .collect();
    metric(
        "switchboard_event_sink_lag",
        "gauge",
        "Events journaled but not yet confirmed by each sink.",
        &lag,
    );
    let delivered: Vec<(String, f64)> = sinks
        .iter()
        .map(|k| (format!("{{sink=\"{}\"}}", k.name), k.delivered as f64))
        .collect();
    metric(
        "switchboard_event_sink_delivered_total",
        "counter",
        "Events confirmed by each sink.",
        &delivered,
    );
    let retries: Vec<(String, f64)> = sinks
        .iter()
        .map(|k| (format!("{{sink=\"{}\"}}", k.name), k.retries as f64))
        .collect();
    metric(
        "switchboard_event_sink_retries_total",
        "counter",
        "Delivery retries of each sink.",
        &retries,
    );
    let failures: Vec<(String, f64)> = sinks
        .iter()
        .map(|k| (format!("{{sink=\"{}\"}}", k.name), k.failures as f64))
        .collect();
    metric(
        "switchboard_event_sink_failures_total",
        "counter",
        "Failed delivery attempts of each sink.",
        &failures,
    );
    out
}

/// The `/metrics` handler.
pub async fn handler(State(core): State<Arc<Core>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&core),
    )
}
