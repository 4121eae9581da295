//! The dialplan file as the operator writes it (serde, `deny_unknown_fields`). Nothing here is
//! validated beyond its shape; [`crate::compile`] turns it into a [`crate::Dialplan`].

use serde::Deserialize;

/// Top level of the file: settings, then `[[rules]]` in order.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanSpec {
    /// UTC offset of the plan's clock for `time` matches, `"+01:00"` (default `"+00:00"`).
    #[serde(default)]
    pub(crate) utc_offset: Option<String>,
    /// Rules, tried in order; the first that matches decides.
    #[serde(default)]
    pub(crate) rules: Vec<toml::Value>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    /// Unique name, reported in logs and by route simulation.
    pub(crate) name: String,
    /// Conditions; all must hold. A rule without `match` matches every call.
    #[serde(default, rename = "match")]
    pub(crate) conditions: MatchSpec,
    /// Rewrite of the called number, applied before the action.
    #[serde(default)]
    pub(crate) rewrite_called: Option<RewriteSpec>,
    /// Rewrite of the calling number (caller ID).
    #[serde(default)]
    pub(crate) rewrite_calling: Option<RewriteSpec>,
    /// What to do with a matching call.
    pub(crate) action: ActionSpec,
}

/// `match`: every present condition must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchSpec {
    pub(crate) called: Option<PatternSpec>,
    pub(crate) calling: Option<PatternSpec>,
    pub(crate) domain: Option<PatternSpec>,
    /// `"users"`, `"trunks"`, `"trunk:NAME"` or an IP range `"10.0.0.0/8"`; any of the list.
    pub(crate) source: Option<OneOrMany>,
    #[serde(default)]
    pub(crate) headers: Vec<HeaderSpec>,
    pub(crate) time: Option<TimeSpec>,
}

/// A string, or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `"1001"` (exact) or `{ exact = .. }`, `{ prefix = .. }`, `{ regex = .. }` (exactly one key).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum PatternSpec {
    Exact(String),
    Table(PatternTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatternTable {
    pub(crate) exact: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) regex: Option<String>,
}

/// `{ name = "X-Route", exact/prefix/regex = .. }`; a header matches when any of its values does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderSpec {
    pub(crate) name: String,
    pub(crate) exact: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) regex: Option<String>,
}

/// `{ days = ["mon-fri", "sat"], from = "09:00", to = "17:30" }`: from ≤ t < to on those days, in
/// the plan's `utc_offset`. `from > to` spans midnight.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeSpec {
    #[serde(default)]
    pub(crate) days: Vec<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
}

/// Number rewrite: `strip` leading characters, then `prefix`; or `regex` + `replace` (`$1`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteSpec {
    #[serde(default)]
    pub(crate) strip: usize,
    #[serde(default)]
    pub(crate) prefix: Option<String>,
    pub(crate) regex: Option<String>,
    pub(crate) replace: Option<String>,
    /// Replace the whole number with this value (caller-ID override).
    pub(crate) set: Option<String>,
}

/// `action = { kind = "...", ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionSpec {
    /// `user`, `trunk`, `ring_group`, `hunt` or `reject`.
    pub(crate) kind: String,
    /// `trunk`: the failover chain, tried in order.
    pub(crate) trunks: Option<Vec<String>>,
    /// `ring_group` / `hunt`: registered users to ring.
    pub(crate) members: Option<Vec<String>>,
    /// `ring_group`: how long to ring; `hunt`: per member.
    pub(crate) timeout_secs: Option<u64>,
    /// `reject`: a 4xx–6xx status.
    pub(crate) code: Option<u16>,
    /// `reject`: the reason phrase (default: the status's standard phrase).
    pub(crate) reason: Option<String>,
}
