//! `[security]`: banning sources that keep failing digest authentication (SIP scanners guessing
//! passwords), the way fail2ban or Kamailio's pike/htable setups do.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigIssue;

/// `[security]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    /// Failed digest authentications (REGISTER or INVITE) from one IP address within
    /// `ban_window_secs` that ban it (1-10000, default 20); 0 turns banning off.
    pub ban_after_failures: u32,
    /// The window the failures are counted in, seconds (1-86400, default 60).
    pub ban_window_secs: u64,
    /// How long a banned address is ignored, seconds (1-604800, default 600): every message
    /// from it is dropped unanswered.
    pub ban_secs: u64,
    /// Messages from one IP address in one second above which it is banned for `ban_secs`
    /// (0 or 10-10000000, default 2000; 0 turns flood bans off). Trunks' `inbound_ips` are exempt.
    pub flood_max_per_sec: u32,
}

impl Default for SecuritySection {
    fn default() -> Self {
        SecuritySection {
            ban_after_failures: 20,
            ban_window_secs: 60,
            ban_secs: 600,
            flood_max_per_sec: 2000,
        }
    }
}

impl SecuritySection {
    /// Validates, recording problems in `issues`.
    pub(super) fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        let mut check = |key: &str, value: u64, max: u64, min: u64| {
            if !(min..=max).contains(&value) {
                issues.push(ConfigIssue {
                    key: format!("security.{key}"),
                    message: format!("{value}: must be between {min} and {max}"),
                });
            }
        };
        check(
            "ban_after_failures",
            u64::from(self.ban_after_failures),
            10_000,
            0,
        );
        check("ban_window_secs", self.ban_window_secs, 86_400, 1);
        check("ban_secs", self.ban_secs, 604_800, 1);
        if self.flood_max_per_sec != 0 {
            check(
                "flood_max_per_sec",
                u64::from(self.flood_max_per_sec),
                10_000_000,
                10,
            );
        }
    }

    /// The window as a duration.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.ban_window_secs)
    }

    /// The ban time as a duration.
    pub fn ban(&self) -> Duration {
        Duration::from_secs(self.ban_secs)
    }
}
