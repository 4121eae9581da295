//! Per-stream receive statistics: RFC 3550 A.1 sequence tracking (extended sequence numbers, cycles,
//! probation, expected vs received), A.3 loss, A.8 interarrival jitter, and drop counters.

use std::time::{Duration, Instant};

use crate::rtp::RtpHeader;

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Stream statistics configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsConfig {
    /// RTP clock rate of the stream's main payload (8000 for G.711), for jitter.
    pub clock_rate: u32,
    /// Sequential packets required before a new source is valid (RFC 3550 A.1 MIN_SEQUENTIAL, default 2;
    /// 0 or 1 counts the first packet at once).
    pub probation: u8,
    /// Payload type excluded from jitter (the telephone-event PT: its packets repeat timestamps).
    pub jitter_exclude_pt: Option<u8>,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            probation: 2,
            jitter_exclude_pt: None,
        }
    }
}

/// A copyable snapshot for gRPC and Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// RTP packets accepted (every packet passed to `on_rtp`, including probation and duplicates).
    pub packets: u64,
    /// Bytes of those packets (whole datagrams).
    pub bytes: u64,
    /// RTCP packets accepted.
    pub rtcp_packets: u64,
    /// Packets counted as received by RFC 3550 A.1 (after probation).
    pub received: u64,
    /// Packets expected from the extended sequence numbers (A.3).
    pub expected: u64,
    /// Cumulative packets lost, expected - received (negative with duplicates, A.3).
    pub lost: i64,
    /// Fraction lost since the previous snapshot with `interval = true`, 8-bit fixed point (A.3).
    pub fraction_lost: u8,
    /// Highest extended sequence number (cycles << 16 | max_seq).
    pub extended_max_seq: u32,
    /// Interarrival jitter in timestamp units (A.8).
    pub jitter: u32,
    /// Interarrival jitter in microseconds.
    pub jitter_us: u32,
    /// Time of the last accepted packet (RTP or RTCP).
    pub last_seen: Option<Instant>,
    /// Packets dropped as malformed.
    pub malformed: u64,
    /// Packets dropped as coming from a foreign source (strict source).
    pub foreign_source: u64,
    /// SRTP/SRTCP packets that failed authentication or replay check.
    pub auth_failed: u64,
}

/// RFC 3550 A.1 source state.
#[derive(Debug, Clone, Copy, Default)]
struct SeqState {
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u8,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
}

impl SeqState {
    fn init(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 A.1 `update_seq`; true when the packet counts as received.
    fn update(&mut self, seq: u16, min_sequential: u8) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = min_sequential.saturating_sub(1);
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                self.init(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        self.received += 1;
        true
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u64 {
        u64::from(self.extended_max().wrapping_sub(self.base_seq)) + 1
    }
}

/// The plain counters of a stream; the derived figures of [`StatsSnapshot`] are computed on demand.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    packets: u64,
    bytes: u64,
    rtcp_packets: u64,
    malformed: u64,
    foreign_source: u64,
    auth_failed: u64,
    last_seen: Option<Instant>,
}

/// Receive statistics of one stream (one direction of one leg).
#[derive(Debug, Clone)]
pub struct StreamStats {
    config: StatsConfig,
    seq: Option<SeqState>,
    epoch: Option<Instant>,
    transit: Option<i32>,
    jitter_q4: u64,
    fraction_lost: u8,
    counts: Counts,
}

impl StreamStats {
    /// Empty statistics.
    pub fn new(config: StatsConfig) -> Self {
        Self {
            config,
            seq: None,
            epoch: None,
            transit: None,
            jitter_q4: 0,
            fraction_lost: 0,
            counts: Counts::default(),
        }
    }

    /// Records a valid RTP packet of `wire_len` bytes that arrived at `now`.
    pub fn on_rtp(&mut self, now: Instant, header: &RtpHeader, wire_len: usize) {
        self.counts.packets += 1;
        self.counts.bytes += wire_len as u64;
        self.counts.last_seen = Some(now);
        let min_seq = self.config.probation;
        let seq = self.seq.get_or_insert_with(|| {
            let mut s = SeqState::default();
            s.init(header.sequence);
            if min_seq > 1 {
                // RFC 3550 A.1: max_seq = seq - 1, probation = MIN_SEQUENTIAL.
                s.max_seq = header.sequence.wrapping_sub(1);
                s.probation = min_seq;
            }
            s
        });
        let counted = seq.update(header.sequence, min_seq);
        if counted && self.config.jitter_exclude_pt != Some(header.payload_type) {
            self.update_jitter(now, header.timestamp);
        }
    }

    /// RFC 3550 A.8: arrival time in timestamp units, transit difference, J += (|D| - J) / 16.
    fn update_jitter(&mut self, now: Instant, ts: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let nanos = now.saturating_duration_since(epoch).as_nanos();
        let arrival = (nanos * u128::from(self.config.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(ts) as i32;
        if let Some(prev) = self.transit.replace(transit) {
            let d = u64::from(transit.wrapping_sub(prev).unsigned_abs());
            // Fixed point with 4 fractional bits, as in A.8's integer variant; u64 since |D| < 2^31
            // keeps J*16 below 2^36.
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
    }

    /// Records a valid RTCP packet.
    pub fn on_rtcp(&mut self, now: Instant) {
        self.counts.rtcp_packets += 1;
        self.counts.last_seen = Some(now);
    }

    /// Counts a packet dropped as malformed.
    pub fn on_malformed(&mut self) {
        self.counts.malformed += 1;
    }

    /// Counts a packet dropped by strict source.
    pub fn on_foreign_source(&mut self) {
        self.counts.foreign_source += 1;
    }

    /// Counts an SRTP/SRTCP packet that failed authentication.
    pub fn on_auth_failed(&mut self) {
        self.counts.auth_failed += 1;
    }

    /// A snapshot of the counters. With `interval = true` this starts a new reporting interval for
    /// `fraction_lost` (as an RTCP RR would); with `false` it repeats the last interval's fraction.
    pub fn snapshot(&mut self, interval: bool) -> StatsSnapshot {
        let c = self.counts;
        let mut s = StatsSnapshot {
            packets: c.packets,
            bytes: c.bytes,
            rtcp_packets: c.rtcp_packets,
            last_seen: c.last_seen,
            malformed: c.malformed,
            foreign_source: c.foreign_source,
            auth_failed: c.auth_failed,
            ..StatsSnapshot::default()
        };
        if let Some(seq) = self.seq.as_mut().filter(|q| q.probation == 0) {
            let expected = seq.expected();
            s.received = seq.received;
            s.expected = expected;
            s.lost = expected as i64 - seq.received as i64;
            s.extended_max_seq = seq.extended_max();
            if interval {
                let exp_int = expected.saturating_sub(seq.expected_prior);
                let rec_int = seq.received.saturating_sub(seq.received_prior);
                seq.expected_prior = expected;
                seq.received_prior = seq.received;
                let lost_int = exp_int.saturating_sub(rec_int);
                self.fraction_lost = (lost_int << 8)
                    .checked_div(exp_int)
                    .map_or(0, |f| f.min(255) as u8);
            }
        }
        s.fraction_lost = self.fraction_lost;
        s.jitter = u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX);
        let rate = u64::from(self.config.clock_rate.max(1));
        s.jitter_us = (u64::from(s.jitter) * 1_000_000 / rate).min(u64::from(u32::MAX)) as u32;
        s
    }

    /// Time since the last packet, if any.
    pub fn silent_for(&self, now: Instant) -> Option<Duration> {
        self.counts
            .last_seen
            .map(|t| now.saturating_duration_since(t))
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
