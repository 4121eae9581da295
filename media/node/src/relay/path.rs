//! The packet path: what happens to one datagram received on a leg, and the timer-driven
//! work (DTMF generation) of a session. Called only by the session task that owns the legs.

use std::net::SocketAddr;
use std::time::Instant;

use super::DtmfRequest;
use super::leg::{Leg, Port, is_muxed_rtcp};
use super::session::SessionShared;
use crate::stats::{DropReason, Kind};

/// Splits the legs into (received-on, relayed-to).
#[inline]
fn pair(legs: &mut [Leg; 2], from: usize) -> (&mut Leg, &mut Leg) {
    let [a, b] = legs;
    if from == 0 { (a, b) } else { (b, a) }
}

/// Handles one datagram received on leg `from`'s `port` from `src`.
#[inline]
pub(crate) fn relay(
    legs: &mut [Leg; 2],
    from: usize,
    port: Port,
    pkt: &mut [u8],
    src: SocketAddr,
    now: Instant,
    shared: &SessionShared,
) {
    let (inl, outl) = pair(legs, from);
    let kind = match port {
        Port::Rtcp => Kind::Rtcp,
        Port::Rtp if inl.mux && is_muxed_rtcp(pkt) => Kind::Rtcp,
        Port::Rtp => Kind::Rtp,
    };
    let _ = (src, shared);
    let valid = match kind {
        Kind::Rtp => pkt.len() >= 12 && pkt[0] >> 6 == 2,
        Kind::Rtcp => pkt.len() >= 8 && pkt[0] >> 6 == 2,
    };
    if !valid {
        inl.counters.drop(if kind == Kind::Rtp {
            DropReason::MalformedRtp
        } else {
            DropReason::MalformedRtcp
        });
        return;
    }
    inl.seen(kind, pkt.len(), now);
    outl.send(kind, pkt);
}

/// Starts generating a digit toward leg `i`'s remote.
pub(crate) fn start_dtmf(
    legs: &mut [Leg; 2],
    i: usize,
    req: DtmfRequest,
    now: Instant,
) -> Result<(), String> {
    let _ = (legs, i, req, now);
    Err("DTMF generation is not available yet".into())
}

/// Timer work: due DTMF packets and detector timeouts.
pub(crate) fn on_timer(legs: &mut [Leg; 2], now: Instant, shared: &SessionShared) {
    let _ = (legs, now, shared);
}
