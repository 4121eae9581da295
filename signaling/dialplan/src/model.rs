//! The validated plan: what [`crate::Dialplan::parse`] builds and [`crate::Dialplan::route`] runs.

use std::net::IpAddr;
use std::time::Duration;

use regex::Regex;

/// One rule: conditions, rewrites, action.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) conditions: Conditions,
    pub(crate) rewrite_called: Option<Rewrite>,
    pub(crate) rewrite_calling: Option<Rewrite>,
    pub(crate) action: Action,
}

/// Every present condition must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    pub(crate) called: Option<Pattern>,
    pub(crate) calling: Option<Pattern>,
    pub(crate) domain: Option<Pattern>,
    /// Any of these (empty = any source).
    pub(crate) sources: Vec<SourceMatch>,
    pub(crate) headers: Vec<(String, Pattern)>,
    pub(crate) time: Option<TimeWindow>,
}

/// A string condition.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

impl Pattern {
    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == value,
            Pattern::Prefix(p) => value.starts_with(p.as_str()),
            Pattern::Regex(r) => r.is_match(value),
        }
    }
}

/// Where a call may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceMatch {
    /// Any digest-authenticated user.
    Users,
    /// Any trusted trunk.
    Trunks,
    /// This trunk.
    Trunk(String),
    /// Source IP in this range.
    Net(IpRange),
}

/// Days of the week (bit 0 = Monday) and minutes of the day, `from ≤ t < to` (wrapping midnight when
/// `from > to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWindow {
    pub(crate) days: u8,
    pub(crate) from_minute: u32,
    pub(crate) to_minute: u32,
}

impl TimeWindow {
    pub(crate) fn contains(&self, weekday: u32, minute: u32) -> bool {
        if self.days & (1 << weekday) == 0 {
            return false;
        }
        if self.from_minute <= self.to_minute {
            (self.from_minute..self.to_minute).contains(&minute)
        } else {
            minute >= self.from_minute || minute < self.to_minute
        }
    }
}

/// A number rewrite.
#[derive(Debug, Clone)]
pub(crate) enum Rewrite {
    StripPrefix { strip: usize, prefix: String },
    Replace { regex: Regex, replace: String },
    Set(String),
}

impl Rewrite {
    pub(crate) fn apply(&self, number: &str) -> String {
        match self {
            Rewrite::StripPrefix { strip, prefix } => {
                let rest: String = number.chars().skip(*strip).collect();
                format!("{prefix}{rest}")
            }
            Rewrite::Replace { regex, replace } => {
                regex.replace(number, replace.as_str()).into_owned()
            }
            Rewrite::Set(s) => s.clone(),
        }
    }
}

/// What a matching rule does with the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Dial the (rewritten) called user: every registered contact of that user.
    User,
    /// Dial the (rewritten) called number on these trunks, in order, moving to the next one when a
    /// trunk fails with a retryable status (5xx, 408, timeout).
    Trunks(Vec<String>),
    /// Ring every member at once; the first to answer wins and the others are cancelled.
    RingGroup {
        /// Registered users.
        members: Vec<String>,
        /// Give up (480) after this long.
        timeout: Duration,
    },
    /// Ring members one after another, each for `timeout`.
    Hunt {
        /// Registered users, in order.
        members: Vec<String>,
        /// How long each member rings.
        timeout: Duration,
    },
    /// Refuse the call.
    Reject {
        /// SIP status, 400–699.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// An address range, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpRange {
    /// Parses `ADDR/LEN` or `ADDR`; `None` when either part is invalid.
    pub fn parse(s: &str) -> Option<IpRange> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = len.unwrap_or(max);
        (prefix_len <= max).then_some(IpRange { addr, prefix_len })
    }

    /// Whether `ip` lies in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let len = u32::from(self.prefix_len);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}
