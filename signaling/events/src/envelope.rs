//! The envelope every event travels in: ids, sequence numbers, time and node.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// An event as stored in the journal and delivered to every sink.
///
/// JSON shape: `{"id":..,"seq":..,"call_uuid":..,"call_seq":..,"timestamp":..,"node_id":..,"type":..,<event fields>}`
/// (`call_uuid` and `call_seq` are absent for events that belong to no call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique event id: `<node>-<journal epoch>-<seq>`. The journal epoch is a random
    /// 32-bit hex value chosen when the journal directory is created, so ids stay unique
    /// even if a journal is wiped and numbering restarts. Use it to de-duplicate.
    pub id: String,
    /// Journal sequence number: global on this node, starts at 1, increases by one per event.
    pub seq: u64,
    /// The call this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_uuid: Option<String>,
    /// Per-call sequence number: 1, 2, 3, ... for the events of one call UUID, without gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_seq: Option<u64>,
    /// When the event was published, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// The signaling node that produced the event.
    pub node_id: String,
    /// The event itself (its `type` and fields are flattened into the envelope).
    #[serde(flatten)]
    pub event: Event,
}

/// Formats `t` as RFC 3339 UTC with milliseconds (`2026-11-25T21:58:27.123Z`).
/// Times before 1970 are clamped to the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); H. Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // d is in 1..=31 and m in 1..=12 by construction.
    (y, m as u32, d as u32)
}

/// Extracts the journal sequence number from an event id (`<node>-<epoch>-<seq>`), so a
/// client can resume from the last event id it saw.
pub fn seq_from_id(id: &str) -> Option<u64> {
    id.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(rfc3339_utc(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_643_907);
        assert_eq!(rfc3339_utc(t), "2026-11-25T21:58:27.000Z");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(rfc3339_utc(t), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn envelope_flattens_the_event_and_omits_absent_call_fields() {
        let env = Envelope {
            id: "sig1-0a0b0c0d-7".into(),
            seq: 7,
            call_uuid: None,
            call_seq: None,
            timestamp: "2026-11-25T21:58:27.000Z".into(),
            node_id: "sig1".into(),
            event: Event::MediaNodeUp { node: "m1".into() },
        };
        let s = serde_json::to_string(&env).expect("serialize");
        assert_eq!(
            s,
            r#"{"id":"sig1-0a0b0c0d-7","seq":7,"timestamp":"2026-11-25T21:58:27.000Z","node_id":"sig1","type":"media_node_up","node":"m1"}"#
        );
        assert_eq!(seq_from_id(&env.id), Some(7));
    }
}
