//! Counters: per-leg [`LegCounters`] kept by the owning session task (plain integers, no
//! atomics on the packet path) and node-wide [`Totals`] that sessions add their deltas to at
//! each publish tick, read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a packet was dropped; the index into drop counter arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// RTP header invalid.
    MalformedRtp = 0,
    /// RTCP header invalid.
    MalformedRtcp = 1,
    /// Source other than the latched one.
    WrongSource = 2,
    /// SRTP/SRTCP authentication or replay failure.
    SrtpAuth = 3,
    /// The other leg has no remote to send to.
    NoRemote = 4,
    /// Telephone-event packet stripped.
    DtmfStripped = 5,
    /// The kernel refused to send.
    SendError = 6,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 7] = [
        DropReason::MalformedRtp,
        DropReason::MalformedRtcp,
        DropReason::WrongSource,
        DropReason::SrtpAuth,
        DropReason::NoRemote,
        DropReason::DtmfStripped,
        DropReason::SendError,
    ];

    /// Prometheus label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::MalformedRtp => "malformed_rtp",
            DropReason::MalformedRtcp => "malformed_rtcp",
            DropReason::WrongSource => "wrong_source",
            DropReason::SrtpAuth => "srtp_auth",
            DropReason::NoRemote => "no_remote",
            DropReason::DtmfStripped => "dtmf_stripped",
            DropReason::SendError => "send_error",
        }
    }
}

/// Packet kinds counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RTP (or SRTP).
    Rtp = 0,
    /// RTCP (or SRTCP).
    Rtcp = 1,
}

/// Counters of one leg, owned by its session task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegCounters {
    /// Packets received and accepted from the leg's remote, by [`Kind`].
    pub packets_in: [u64; 2],
    /// Bytes received and accepted, by [`Kind`].
    pub bytes_in: [u64; 2],
    /// Packets sent to the leg's remote, by [`Kind`].
    pub packets_out: [u64; 2],
    /// Bytes sent, by [`Kind`].
    pub bytes_out: [u64; 2],
    /// Drops by [`DropReason`] of packets received on this leg (send errors: sent on it).
    pub drops: [u64; 7],
}

impl LegCounters {
    /// Counts one drop.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Counts one accepted inbound packet.
    #[inline]
    pub fn inbound(&mut self, kind: Kind, len: usize) {
        self.packets_in[kind as usize] += 1;
        self.bytes_in[kind as usize] += len as u64;
    }

    /// Counts one sent packet.
    #[inline]
    pub fn outbound(&mut self, kind: Kind, len: usize) {
        self.packets_out[kind as usize] += 1;
        self.bytes_out[kind as usize] += len as u64;
    }
}

/// Node-wide monotonic totals for `/metrics`, fed by session deltas.
#[derive(Debug, Default)]
pub struct Totals {
    /// Packets in, by kind.
    pub packets_in: [AtomicU64; 2],
    /// Packets out, by kind.
    pub packets_out: [AtomicU64; 2],
    /// Bytes in, by kind.
    pub bytes_in: [AtomicU64; 2],
    /// Bytes out, by kind.
    pub bytes_out: [AtomicU64; 2],
    /// Drops by reason.
    pub drops: [AtomicU64; 7],
    /// Sessions ever allocated.
    pub sessions_created: AtomicU64,
    /// DTMF digits detected.
    pub dtmf_detected: AtomicU64,
    /// RTP timeouts raised.
    pub rtp_timeouts: AtomicU64,
}

impl Totals {
    /// Adds `now - before` of one leg's counters.
    pub fn add_delta(&self, now: &LegCounters, before: &LegCounters) {
        let add = |dst: &[AtomicU64], a: &[u64], b: &[u64]| {
            for ((d, x), y) in dst.iter().zip(a).zip(b) {
                let delta = x.saturating_sub(*y);
                if delta > 0 {
                    d.fetch_add(delta, Ordering::Relaxed);
                }
            }
        };
        add(&self.packets_in, &now.packets_in, &before.packets_in);
        add(&self.packets_out, &now.packets_out, &before.packets_out);
        add(&self.bytes_in, &now.bytes_in, &before.bytes_in);
        add(&self.bytes_out, &now.bytes_out, &before.bytes_out);
        add(&self.drops, &now.drops, &before.drops);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_only_the_delta() {
        let totals = Totals::default();
        let mut c = LegCounters::default();
        c.inbound(Kind::Rtp, 172);
        c.drop(DropReason::WrongSource);
        let before = c;
        totals.add_delta(&c, &LegCounters::default());
        c.inbound(Kind::Rtp, 172);
        totals.add_delta(&c, &before);
        assert_eq!(totals.packets_in[0].load(Ordering::Relaxed), 2);
        assert_eq!(totals.bytes_in[0].load(Ordering::Relaxed), 344);
        assert_eq!(
            totals.drops[DropReason::WrongSource as usize].load(Ordering::Relaxed),
            1
        );
    }
}
