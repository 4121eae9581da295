//! Flood bans (`[security] flood_max_per_sec`): a source IP address sending more messages in one
//! second than the limit is banned like a password guesser (`bans`): its messages are dropped
//! unanswered for `ban_secs`, and a `ban` event is published. Trunks' `inbound_ips` are exempt
//! (a carrier's traffic is its customers', not one attacker's). Counted per message before parsing,
//! in a sharded map, so one source's flood costs the others nothing but the count.

use std::net::IpAddr;
use std::time::Instant;

use dashmap::DashMap;
use switchboard_dialplan::IpRange;

/// At most this many sources are counted; beyond it, counts of past seconds are forgotten.
const MAX_TRACKED: usize = 100_000;

/// Per-source message counts of the current second.
#[derive(Debug)]
pub(crate) struct Flood {
    limit: u32,
    exempt: Vec<IpRange>,
    start: Instant,
    counts: DashMap<IpAddr, (u64, u32)>,
}

impl Flood {
    /// A counter banning above `limit` messages per second; `None` when `limit` is 0 (off).
    pub(crate) fn new(limit: u32, exempt: Vec<IpRange>, now: Instant) -> Option<Flood> {
        (limit > 0).then(|| Flood {
            limit,
            exempt,
            start: now,
            counts: DashMap::new(),
        })
    }

    /// Counts one message from `ip`; `true` exactly once per second a source goes over the limit.
    pub(crate) fn over_limit(&self, ip: IpAddr, now: Instant) -> bool {
        let second = now.saturating_duration_since(self.start).as_secs();
        if self.counts.len() >= MAX_TRACKED && !self.counts.contains_key(&ip) {
            self.counts.retain(|_, (s, _)| *s == second);
        }
        let crossed = {
            let mut entry = self.counts.entry(ip).or_insert((second, 0));
            let (s, n) = entry.value_mut();
            if *s != second {
                (*s, *n) = (second, 0);
            }
            *n = n.saturating_add(1);
            *n == self.limit.saturating_add(1)
        };
        crossed && !self.exempt.iter().any(|r| r.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_source_over_the_limit_in_one_second_is_reported_once_and_trunks_are_exempt() {
        let t0 = Instant::now();
        let trunk = IpRange::parse("198.51.100.0/24").expect("range");
        let flood = Flood::new(3, vec![trunk], t0).expect("on");
        let (ip, other, carrier): (IpAddr, IpAddr, IpAddr) = (
            [192, 0, 2, 7].into(),
            [192, 0, 2, 8].into(),
            [198, 51, 100, 9].into(),
        );
        let at = |ms| t0 + Duration::from_millis(ms);
        let hits: Vec<bool> = (0..6).map(|i| flood.over_limit(ip, at(i * 10))).collect();
        assert_eq!(hits, [false, false, false, true, false, false]);
        assert!(!flood.over_limit(other, at(100)), "counted per source");
        // The next second starts over.
        let hits: Vec<bool> = (0..4).map(|i| flood.over_limit(ip, at(1000 + i))).collect();
        assert_eq!(hits, [false, false, false, true]);
        assert!(
            (0..10).all(|i| !flood.over_limit(carrier, at(i))),
            "a trunk"
        );
        assert!(Flood::new(0, Vec::new(), t0).is_none(), "0 turns it off");
    }
}
