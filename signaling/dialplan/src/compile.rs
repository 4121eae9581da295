//! Validation: [`crate::spec`] → [`crate::model`], collecting every problem with its key path.

use std::collections::HashSet;
use std::time::Duration;

use regex::Regex;

use crate::model::{Action, Conditions, Pattern, Rewrite, Rule, SourceMatch, TimeWindow};
use crate::spec::{
    ActionSpec, HeaderSpec, MatchSpec, PatternSpec, PatternTable, RewriteSpec, RuleSpec, TimeSpec,
};
use crate::{IpRange, PlanContext, PlanError};

/// Collects errors under key paths while compiling one file.
pub(crate) struct Compiler<'a> {
    pub(crate) ctx: &'a PlanContext,
    pub(crate) errors: Vec<PlanError>,
}

impl Compiler<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(PlanError {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// One `[[rules]]` table; `None` when it has errors (already recorded).
    pub(crate) fn rule(&mut self, path: &str, value: toml::Value) -> Option<Rule> {
        let spec: RuleSpec = match value.try_into() {
            Ok(spec) => spec,
            Err(e) => {
                self.error(path, e.message().trim().to_owned());
                return None;
            }
        };
        let before = self.errors.len();
        if spec.name.trim().is_empty() {
            self.error(&format!("{path}.name"), "must not be empty");
        }
        let conditions = self.conditions(&format!("{path}.match"), spec.conditions);
        let rewrite_called = spec
            .rewrite_called
            .and_then(|r| self.rewrite(&format!("{path}.rewrite_called"), r));
        let rewrite_calling = spec
            .rewrite_calling
            .and_then(|r| self.rewrite(&format!("{path}.rewrite_calling"), r));
        let action = self.action(&format!("{path}.action"), spec.action);
        if self.errors.len() > before {
            return None;
        }
        Some(Rule {
            name: spec.name,
            conditions,
            rewrite_called,
            rewrite_calling,
            action: action?,
        })
    }

    fn conditions(&mut self, path: &str, spec: MatchSpec) -> Conditions {
        let pattern = |c: &mut Self, key: &str, p: Option<PatternSpec>| {
            p.and_then(|p| c.pattern(&format!("{path}.{key}"), p))
        };
        let called = pattern(self, "called", spec.called);
        let calling = pattern(self, "calling", spec.calling);
        let domain = pattern(self, "domain", spec.domain);
        let sources = spec
            .source
            .map(|s| s.into_vec())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.source(&format!("{path}.source[{i}]"), s))
            .collect();
        let headers = spec
            .headers
            .into_iter()
            .enumerate()
            .filter_map(|(i, h)| self.header(&format!("{path}.headers[{i}]"), h))
            .collect();
        let time = spec
            .time
            .and_then(|t| self.time(&format!("{path}.time"), t));
        Conditions {
            called,
            calling,
            domain,
            sources,
            headers,
            time,
        }
    }

    fn pattern(&mut self, path: &str, spec: PatternSpec) -> Option<Pattern> {
        match spec {
            PatternSpec::Exact(s) => Some(Pattern::Exact(s)),
            PatternSpec::Table(t) => self.pattern_table(path, t),
        }
    }

    fn pattern_table(&mut self, path: &str, t: PatternTable) -> Option<Pattern> {
        match (t.exact, t.prefix, t.regex) {
            (Some(e), None, None) => Some(Pattern::Exact(e)),
            (None, Some(p), None) => Some(Pattern::Prefix(p)),
            (None, None, Some(r)) => self.regex(&format!("{path}.regex"), &r).map(Pattern::Regex),
            _ => {
                self.error(path, "give exactly one of `exact`, `prefix`, `regex`");
                None
            }
        }
    }

    fn regex(&mut self, path: &str, source: &str) -> Option<Regex> {
        match Regex::new(source) {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().to_owned();
                self.error(path, format!("invalid regex {source:?}: {first}"));
                None
            }
        }
    }

    fn header(&mut self, path: &str, h: HeaderSpec) -> Option<(String, Pattern)> {
        if h.name.trim().is_empty() || h.name.contains(':') {
            self.error(&format!("{path}.name"), "must be a header name");
        }
        let table = PatternTable {
            exact: h.exact,
            prefix: h.prefix,
            regex: h.regex,
        };
        let p = self.pattern_table(path, table)?;
        Some((h.name.trim().to_ascii_lowercase(), p))
    }

    fn source(&mut self, path: &str, s: &str) -> Option<SourceMatch> {
        match s {
            "users" => return Some(SourceMatch::Users),
            "trunks" => return Some(SourceMatch::Trunks),
            _ => {}
        }
        if let Some(name) = s.strip_prefix("trunk:") {
            if !self.ctx.trunks.iter().any(|t| t == name) {
                self.error(path, format!("unknown trunk {name:?}"));
                return None;
            }
            return Some(SourceMatch::Trunk(name.to_owned()));
        }
        match IpRange::parse(s) {
            Some(range) => Some(SourceMatch::Net(range)),
            None => {
                self.error(
                    path,
                    format!("{s:?} is not `users`, `trunks`, `trunk:NAME` or an IP range like 10.0.0.0/8"),
                );
                None
            }
        }
    }

    fn time(&mut self, path: &str, t: TimeSpec) -> Option<TimeWindow> {
        let mut days = 0u8;
        for (i, d) in t.days.iter().enumerate() {
            match parse_days(d) {
                Some(bits) => days |= bits,
                None => self.error(
                    &format!("{path}.days[{i}]"),
                    format!("{d:?} is not a day (mon..sun) or range (mon-fri)"),
                ),
            }
        }
        if t.days.is_empty() {
            days = 0x7f;
        }
        let minute = |c: &mut Self, key: &str, v: Option<String>, default: u32| match v {
            None => Some(default),
            Some(v) => parse_hhmm(&v).or_else(|| {
                c.error(
                    &format!("{path}.{key}"),
                    format!("{v:?} is not HH:MM (00:00-24:00)"),
                );
                None
            }),
        };
        let from_minute = minute(self, "from", t.from, 0)?;
        let to_minute = minute(self, "to", t.to, 24 * 60)?;
        Some(TimeWindow {
            days,
            from_minute,
            to_minute,
        })
    }

    fn rewrite(&mut self, path: &str, r: RewriteSpec) -> Option<Rewrite> {
        let strip_prefix = r.strip > 0 || r.prefix.is_some();
        match (strip_prefix, r.regex, r.replace, r.set) {
            (true, None, None, None) => Some(Rewrite::StripPrefix {
                strip: r.strip,
                prefix: r.prefix.unwrap_or_default(),
            }),
            (false, Some(re), Some(replace), None) => {
                let regex = self.regex(&format!("{path}.regex"), &re)?;
                Some(Rewrite::Replace { regex, replace })
            }
            (false, Some(_), None, None) => {
                self.error(&format!("{path}.replace"), "`regex` needs `replace`");
                None
            }
            (false, None, None, Some(s)) => Some(Rewrite::Set(s)),
            _ => {
                self.error(
                    path,
                    "give `strip` and/or `prefix`, or `regex` with `replace`, or `set`",
                );
                None
            }
        }
    }

    fn action(&mut self, path: &str, a: ActionSpec) -> Option<Action> {
        let allowed: &[&str] = match a.kind.as_str() {
            "user" => &[],
            "trunk" => &["trunks"],
            "ring_group" | "hunt" => &["members", "timeout_secs"],
            "reject" => &["code", "reason"],
            other => {
                self.error(
                    &format!("{path}.kind"),
                    format!("{other:?} is not one of user, trunk, ring_group, hunt, reject"),
                );
                return None;
            }
        };
        let present = [
            ("trunks", a.trunks.is_some()),
            ("members", a.members.is_some()),
            ("timeout_secs", a.timeout_secs.is_some()),
            ("code", a.code.is_some()),
            ("reason", a.reason.is_some()),
        ];
        for (key, _) in present.iter().filter(|(k, p)| *p && !allowed.contains(k)) {
            self.error(
                &format!("{path}.{key}"),
                format!("not used by kind {:?}", a.kind),
            );
        }
        match a.kind.as_str() {
            "user" => Some(Action::User),
            "trunk" => self.trunks(path, a.trunks.unwrap_or_default()),
            "reject" => self.reject(path, a.code, a.reason),
            kind => {
                let members = self.members(path, a.members.unwrap_or_default())?;
                let timeout = match a.timeout_secs {
                    Some(0) => {
                        self.error(&format!("{path}.timeout_secs"), "must be at least 1");
                        return None;
                    }
                    Some(s) => Duration::from_secs(s),
                    None if kind == "hunt" => Duration::from_secs(15),
                    None => Duration::from_secs(30),
                };
                Some(if kind == "hunt" {
                    Action::Hunt { members, timeout }
                } else {
                    Action::RingGroup { members, timeout }
                })
            }
        }
    }

    fn trunks(&mut self, path: &str, trunks: Vec<String>) -> Option<Action> {
        if trunks.is_empty() {
            self.error(&format!("{path}.trunks"), "name at least one trunk");
            return None;
        }
        let mut ok = true;
        for (i, t) in trunks.iter().enumerate() {
            if !self.ctx.trunks.contains(t) {
                self.error(
                    &format!("{path}.trunks[{i}]"),
                    format!("unknown trunk {t:?}"),
                );
                ok = false;
            }
        }
        ok.then_some(Action::Trunks(trunks))
    }

    fn members(&mut self, path: &str, members: Vec<String>) -> Option<Vec<String>> {
        if members.is_empty() {
            self.error(&format!("{path}.members"), "name at least one user");
            return None;
        }
        let mut seen = HashSet::new();
        let mut ok = true;
        for (i, m) in members.iter().enumerate() {
            let known = self.ctx.users.is_empty() || self.ctx.users.contains(m);
            if !known {
                self.error(
                    &format!("{path}.members[{i}]"),
                    format!("unknown user {m:?}"),
                );
                ok = false;
            } else if !seen.insert(m) {
                self.error(
                    &format!("{path}.members[{i}]"),
                    format!("{m:?} listed twice"),
                );
                ok = false;
            }
        }
        ok.then_some(members)
    }

    fn reject(&mut self, path: &str, code: Option<u16>, reason: Option<String>) -> Option<Action> {
        let Some(code) = code else {
            self.error(&format!("{path}.code"), "a reject needs a SIP status code");
            return None;
        };
        if !(400..=699).contains(&code) {
            self.error(
                &format!("{path}.code"),
                format!("{code} is not a 4xx-6xx status"),
            );
            return None;
        }
        if reason.as_deref().is_some_and(|r| r.contains(['\r', '\n'])) {
            self.error(&format!("{path}.reason"), "must be one line");
            return None;
        }
        let reason = reason.unwrap_or_else(|| default_reason(code).to_owned());
        Some(Action::Reject { code, reason })
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_days(s: &str) -> Option<u8> {
    let day = |d: &str| DAYS.iter().position(|x| x.eq_ignore_ascii_case(d.trim()));
    match s.split_once('-') {
        None => Some(1 << day(s)?),
        Some((a, b)) => {
            let (a, b) = (day(a)?, day(b)?);
            let mut bits = 0u8;
            let mut d = a;
            loop {
                bits |= 1 << d;
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
            Some(bits)
        }
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (h <= 24 && m < 60 && total <= 24 * 60).then_some(total)
}

/// `"+01:00"` / `"-05:30"` / `"Z"` → seconds east of UTC.
pub(crate) fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let minutes = parse_hhmm(rest)?;
    (minutes <= 14 * 60).then_some(sign * i64::from(minutes) * 60)
}

/// RFC 3261 §21 reason phrases for the statuses a plan is likely to reject with.
fn default_reason(code: u16) -> &'static str {
    match code {
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        488 => "Not Acceptable Here",
        503 => "Service Unavailable",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "Rejected",
    }
}
