//! Switchboard's dialplan, sans-IO: an ordered list of routing rules read from TOML, validated as a
//! whole before it may replace the running plan, and matched against each new call.
//!
//! # Module map
//! | module | what |
//! | --- | --- |
//! | `spec` | the file's shape (serde, unknown keys refused) |
//! | `compile` | validation into the model, every error with its key path (`rules[2].action.trunks[0]`) |
//! | `model` | compiled rules: patterns, sources, time windows, rewrites, [`Action`] |
//! | `route` | [`RouteRequest`] → [`Route`]: first matching rule, numbers rewritten |
//!
//! # Usage contract
//! 1. [`Dialplan::parse`] the file's text with a [`PlanContext`] naming the configured trunks and
//!    users. On `Err` keep the running plan and report every [`PlanError`] (one per line).
//! 2. For each new INVITE build a [`RouteRequest`] (called/calling user, domain, source IP and
//!    [`Origin`], headers, wall-clock time) and call [`Dialplan::route`]: `None` means no rule
//!    matched (answer 404), otherwise carry out [`Route::action`] with the rewritten numbers.
//!    The same call answers "what would this INVITE do" for route simulation; it never has effects.
//! 3. The driver owns files, clocks and reloads; this crate never reads either.
//!
//! # File format
//! ```toml
//! utc_offset = "+01:00"          # clock for `time` conditions (default UTC)
//!
//! [[rules]]
//! name = "emergency"
//! match.called = { regex = "^(112|911)$" }
//! action = { kind = "trunk", trunks = ["carrier", "backup"] }
//!
//! [[rules]]
//! name = "outbound"
//! match = { called = { prefix = "9" }, source = "users" }
//! rewrite_called = { strip = 1 }               # or { prefix = "+44" }, { regex = "^0(.*)", replace = "+44$1" }
//! rewrite_calling = { set = "+442071234567" }  # caller ID towards the trunk
//! action = { kind = "trunk", trunks = ["carrier"] }
//!
//! [[rules]]
//! name = "support line, office hours"
//! match = { called = "200", time = { days = ["mon-fri"], from = "09:00", to = "17:30" } }
//! action = { kind = "ring_group", members = ["1001", "1002"], timeout_secs = 20 }
//!
//! [[rules]]
//! name = "registered users"
//! match.called = { regex = "^1\\d{3}$" }
//! action = { kind = "user" }
//!
//! [[rules]]
//! name = "everything else"
//! action = { kind = "reject", code = 404, reason = "No Route" }
//! ```
//! `match` keys: `called`, `calling`, `domain` (a string for exact, or one of `exact`/`prefix`/`regex`),
//! `source` (`users`, `trunks`, `trunk:NAME`, an IP range; one or a list: any may match), `headers`
//! (list of `{ name, exact|prefix|regex }`), `time` (`days`, `from`, `to`). Action kinds: `user`,
//! `trunk` (`trunks`), `ring_group` (`members`, `timeout_secs`, default 30), `hunt` (`members`,
//! `timeout_secs` per member, default 15), `reject` (`code`, `reason`).

mod compile;
mod model;
mod route;
mod spec;

use std::fmt;

pub use model::{Action, IpRange};
pub use route::{Origin, Route, RouteRequest};

/// What a plan is checked against: the names it may refer to.
#[derive(Debug, Clone, Default)]
pub struct PlanContext {
    /// Configured trunk names.
    pub trunks: Vec<String>,
    /// Configured user names (members of ring groups and hunts); empty = not checked.
    pub users: Vec<String>,
}

/// One problem in a dialplan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// Key path, e.g. `rules[2].action.trunks[0]` (empty for a file-level syntax error).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PlanErrors(pub Vec<PlanError>);

/// A validated dialplan.
#[derive(Debug, Clone)]
pub struct Dialplan {
    rules: Vec<model::Rule>,
    utc_offset_secs: i64,
}

impl Dialplan {
    /// Parses and validates a whole file; every error is reported, each with its key path.
    pub fn parse(text: &str, ctx: &PlanContext) -> Result<Dialplan, PlanErrors> {
        let spec: spec::PlanSpec = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" (line {})", line_of(text, s.start)))
                .unwrap_or_default();
            PlanErrors(vec![PlanError {
                path: String::new(),
                message: format!("{}{at}", e.message().trim()),
            }])
        })?;
        let mut c = compile::Compiler {
            ctx,
            errors: Vec::new(),
        };
        let utc_offset_secs = match spec.utc_offset.as_deref() {
            None => 0,
            Some(s) => compile::parse_offset(s).unwrap_or_else(|| {
                c.errors.push(PlanError {
                    path: "utc_offset".into(),
                    message: format!("{s:?} is not an offset like \"+01:00\""),
                });
                0
            }),
        };
        let mut rules = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, value) in spec.rules.into_iter().enumerate() {
            let path = format!("rules[{i}]");
            if let Some(rule) = c.rule(&path, value) {
                if !names.insert(rule.name.clone()) {
                    c.errors.push(PlanError {
                        path: format!("{path}.name"),
                        message: format!("{:?} is already the name of an earlier rule", rule.name),
                    });
                }
                rules.push(rule);
            }
        }
        if c.errors.is_empty() {
            Ok(Dialplan {
                rules,
                utc_offset_secs,
            })
        } else {
            Err(PlanErrors(c.errors))
        }
    }

    /// The plan used when none is configured: dial the called user (every registered contact).
    pub fn registered_users_only() -> Dialplan {
        Dialplan {
            rules: vec![model::Rule {
                name: "registered users".into(),
                conditions: model::Conditions::default(),
                rewrite_called: None,
                rewrite_calling: None,
                action: Action::User,
            }],
            utc_offset_secs: 0,
        }
    }

    /// Each rule's name and action, in order (for engines that check what they can carry out).
    pub fn actions(&self) -> impl Iterator<Item = (&str, &Action)> {
        self.rules.iter().map(|r| (r.name.as_str(), &r.action))
    }

    /// Rule names in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the plan has no rules (every call gets "no route").
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
