//! HTTP endpoints (axum): `/metrics` in the Prometheus text exposition format (written by
//! hand) and `/health` as JSON.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::node::Node;
use crate::stats::{DropReason, Kind};

/// The router serving `/metrics` and `/health` for `node`.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(node)
}

async fn health(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let h = node.health();
    axum::Json(serde_json::json!({
        "sessions": h.sessions,
        "max_sessions": h.max_sessions,
        "free_ports": h.free_ports,
        "total_ports": h.total_ports,
        "load": h.load,
        "draining": h.draining,
        "drained": h.drained,
    }))
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&node),
    )
}

/// Renders every metric in the text exposition format.
pub fn render(node: &Node) -> String {
    let mut out = String::with_capacity(2048);
    gauges(&mut out, node);
    counters(&mut out, node.totals());
    out
}

fn gauges(out: &mut String, node: &Node) {
    let h = node.health();
    let mut gauge = |name: &str, help: &str, v: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(
        "switchboard_media_sessions_active",
        "Sessions currently allocated.",
        f64::from(h.sessions),
    );
    gauge(
        "switchboard_media_sessions_max",
        "Configured session limit.",
        f64::from(h.max_sessions),
    );
    gauge(
        "switchboard_media_ports_free",
        "Free RTP/RTCP port pairs.",
        f64::from(h.free_ports),
    );
    gauge(
        "switchboard_media_ports_total",
        "RTP/RTCP port pairs in the pool.",
        f64::from(h.total_ports),
    );
    gauge(
        "switchboard_media_load",
        "max(sessions/max, used/total port pairs).",
        h.load,
    );
    gauge(
        "switchboard_media_draining",
        "1 while draining.",
        if h.draining { 1.0 } else { 0.0 },
    );
}

fn counters(out: &mut String, t: &crate::stats::Totals) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut counter = |name: &str, help: &str, rows: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let by_dir_kind = |inb: &[std::sync::atomic::AtomicU64; 2],
                       outb: &[std::sync::atomic::AtomicU64; 2]| {
        let mut rows = Vec::new();
        for (kind, label) in [(Kind::Rtp, "rtp"), (Kind::Rtcp, "rtcp")] {
            rows.push((
                format!("{{direction=\"in\",kind=\"{label}\"}}"),
                load(&inb[kind as usize]),
            ));
            rows.push((
                format!("{{direction=\"out\",kind=\"{label}\"}}"),
                load(&outb[kind as usize]),
            ));
        }
        rows
    };
    counter(
        "switchboard_media_packets_total",
        "Packets relayed, by direction and kind.",
        &by_dir_kind(&t.packets_in, &t.packets_out),
    );
    counter(
        "switchboard_media_bytes_total",
        "Bytes relayed, by direction and kind.",
        &by_dir_kind(&t.bytes_in, &t.bytes_out),
    );
    let drops: Vec<_> = DropReason::ALL
        .iter()
        .map(|r| {
            (
                format!("{{reason=\"{}\"}}", r.label()),
                load(&t.drops[*r as usize]),
            )
        })
        .collect();
    counter(
        "switchboard_media_dropped_packets_total",
        "Packets dropped, by reason.",
        &drops,
    );
    counter(
        "switchboard_media_sessions_created_total",
        "Sessions allocated.",
        &[(String::new(), load(&t.sessions_created))],
    );
    counter(
        "switchboard_media_dtmf_detected_total",
        "DTMF digits detected.",
        &[(String::new(), load(&t.dtmf_detected))],
    );
    counter(
        "switchboard_media_rtp_timeouts_total",
        "RTP timeout events.",
        &[(String::new(), load(&t.rtp_timeouts))],
    );
}
