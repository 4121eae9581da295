//! Prometheus text rendering of [`crate::MediaPool::snapshot`] (the signaling `/metrics`
//! endpoint appends it); `/health` can serialize the snapshot itself (it is `Serialize`).

use std::fmt::Write as _;

use crate::state::{NodeSnapshot, NodeStatus};

/// Metric name, help text and how to read the value from a node.
type Gauge = (&'static str, &'static str, fn(&NodeSnapshot) -> f64);

const STATUSES: [NodeStatus; 4] = [
    NodeStatus::Unknown,
    NodeStatus::Up,
    NodeStatus::Draining,
    NodeStatus::Down,
];

/// Renders per-node gauges in the Prometheus text format (version 0.0.4).
pub fn render_prometheus(nodes: &[NodeSnapshot]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "switchboard_media_node_status",
        "Media node state as seen by signaling (1 for the current state).",
    );
    for n in nodes {
        for s in STATUSES {
            let v = u8::from(n.status == s);
            let _ = writeln!(
                out,
                "switchboard_media_node_status{{node=\"{}\",status=\"{}\"}} {v}",
                escape(&n.name),
                s.as_str()
            );
        }
    }
    let gauges: [Gauge; 6] = [
        (
            "switchboard_media_node_sessions",
            "Sessions on the node.",
            |n| f64::from(n.sessions),
        ),
        (
            "switchboard_media_node_max_sessions",
            "Session limit of the node.",
            |n| f64::from(n.max_sessions),
        ),
        (
            "switchboard_media_node_free_port_pairs",
            "Free RTP/RTCP port pairs.",
            |n| f64::from(n.free_ports),
        ),
        ("switchboard_media_node_load", "Node load 0..1.", |n| n.load),
        (
            "switchboard_media_node_health_failures",
            "Consecutive failed health checks.",
            |n| f64::from(n.failures),
        ),
        (
            "switchboard_media_node_events_connected",
            "1 while the event stream is subscribed.",
            |n| f64::from(u8::from(n.events_connected)),
        ),
    ];
    for (name, help, value) in gauges {
        header(&mut out, name, help);
        for n in nodes {
            let _ = writeln!(out, "{name}{{node=\"{}\"}} {}", escape(&n.name), value(n));
        }
    }
    out
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Label value escaping: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, status: NodeStatus) -> NodeSnapshot {
        NodeSnapshot {
            name: name.into(),
            grpc_uri: "http://127.0.0.1:1".into(),
            weight: 1,
            status,
            sessions: 3,
            max_sessions: 10,
            free_ports: 14,
            total_ports: 20,
            load: 0.3,
            free_sessions: 7,
            failures: 0,
            last_error: None,
            events_connected: true,
        }
    }

    #[test]
    fn gauges_per_node_with_one_status_set() {
        let text = render_prometheus(&[node("m1", NodeStatus::Up), node("m2", NodeStatus::Down)]);
        assert!(text.contains("switchboard_media_node_status{node=\"m1\",status=\"up\"} 1\n"));
        assert!(text.contains("switchboard_media_node_status{node=\"m1\",status=\"down\"} 0\n"));
        assert!(text.contains("switchboard_media_node_status{node=\"m2\",status=\"down\"} 1\n"));
        assert!(text.contains("switchboard_media_node_sessions{node=\"m2\"} 3\n"));
        assert!(text.contains("switchboard_media_node_load{node=\"m1\"} 0.3\n"));
        assert_eq!(text.matches("# TYPE ").count(), 7);
    }

    #[test]
    fn label_values_are_escaped() {
        let text = render_prometheus(&[node("a\"b\\c\nd", NodeStatus::Up)]);
        assert!(text.contains("node=\"a\\\"b\\\\c\\nd\""), "{text}");
    }

    #[test]
    fn snapshot_serializes_for_health_json() {
        let v = serde_json::to_value(node("m1", NodeStatus::Draining)).expect("json");
        assert_eq!(v["status"], "draining");
        assert_eq!(v["sessions"], 3);
        assert_eq!(v["last_error"], serde_json::Value::Null);
    }
}
