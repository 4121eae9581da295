//! Matching a call against the plan.

use std::net::IpAddr;

use crate::model::{Conditions, SourceMatch};
use crate::{Action, Dialplan};

/// Who sent the INVITE, as established before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A digest-authenticated user.
    User(&'a str),
    /// A trusted trunk (by IP ACL or credentials).
    Trunk(&'a str),
}

/// The facts about a new call that rules may test.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    /// Request-URI user part (the dialled number), %-decoded.
    pub called: &'a str,
    /// From user part (the caller ID).
    pub calling: &'a str,
    /// Request-URI host.
    pub domain: &'a str,
    /// Packet source address.
    pub source_ip: IpAddr,
    /// Authenticated origin.
    pub origin: Origin<'a>,
    /// Request headers (name as sent, value), for `headers` conditions; names compare case-insensitively.
    pub headers: Vec<(&'a str, &'a str)>,
    /// Wall-clock time, seconds since the Unix epoch (for `time` conditions).
    pub unix_time: i64,
}

/// The outcome of a matching rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The rule that matched.
    pub rule: String,
    /// The called number after `rewrite_called`.
    pub called: String,
    /// The calling number after `rewrite_calling`.
    pub calling: String,
    /// What to do.
    pub action: Action,
}

impl Dialplan {
    /// The first rule matching `req`, with rewritten numbers; `None` when no rule matches.
    pub fn route(&self, req: &RouteRequest<'_>) -> Option<Route> {
        let local = req.unix_time + self.utc_offset_secs;
        let days = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday (Monday = 0).
        let weekday = (days + 3).rem_euclid(7) as u32;
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        let rule = self
            .rules
            .iter()
            .find(|r| matches(&r.conditions, req, weekday, minute))?;
        let rewrite = |r: &Option<crate::model::Rewrite>, n: &str| match r {
            Some(r) => r.apply(n),
            None => n.to_owned(),
        };
        Some(Route {
            rule: rule.name.clone(),
            called: rewrite(&rule.rewrite_called, req.called),
            calling: rewrite(&rule.rewrite_calling, req.calling),
            action: rule.action.clone(),
        })
    }
}

fn matches(c: &Conditions, req: &RouteRequest<'_>, weekday: u32, minute: u32) -> bool {
    let pattern =
        |p: &Option<crate::model::Pattern>, v: &str| p.as_ref().is_none_or(|p| p.matches(v));
    pattern(&c.called, req.called)
        && pattern(&c.calling, req.calling)
        && pattern(&c.domain, req.domain)
        && (c.sources.is_empty() || c.sources.iter().any(|s| source_matches(s, req)))
        && c.headers.iter().all(|(name, p)| {
            req.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && p.matches(v.trim()))
        })
        && c.time.is_none_or(|t| t.contains(weekday, minute))
}

fn source_matches(s: &SourceMatch, req: &RouteRequest<'_>) -> bool {
    match (s, req.origin) {
        (SourceMatch::Users, Origin::User(_)) => true,
        (SourceMatch::Trunks, Origin::Trunk(_)) => true,
        (SourceMatch::Trunk(name), Origin::Trunk(t)) => name == t,
        (SourceMatch::Net(range), _) => range.contains(req.source_ip),
        _ => false,
    }
}
