//! The packet path: what happens to one datagram received on a leg, and the timer-driven
//! work (DTMF generation, detector end timeouts, RTP timeouts) of a session. Called only by the
//! session task that owns the legs. Follows the order of media-core's packet-path contract:
//! demux → (SRTP: strict-source check, unprotect) → parse → latch → stats/timeout/DTMF → relay.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use switchboard_media_core::dtmf::{
    self, DtmfDetector, DtmfGenerator, DtmfGeneratorConfig, EVENT_PACKET_LEN, OutboundStream,
};
use switchboard_media_core::latch::LatchDecision;
use switchboard_media_core::rtp::{PacketKind, RtcpHeader, RtpHeader, demux};
use switchboard_proto::v1::{self as pb, media_event};

use super::DtmfRequest;
use super::leg::{Leg, Port};
use super::session::{SessionShared, leg_code};
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
    let kind = match (port, inl.mux) {
        (Port::Rtcp, _) => Kind::Rtcp,
        (Port::Rtp, false) => Kind::Rtp,
        (Port::Rtp, true) => match demux(pkt) {
            PacketKind::Rtcp => Kind::Rtcp,
            PacketKind::Rtp | PacketKind::Other => Kind::Rtp,
        },
    };
    let Some(srtp) = inl.srtp.as_deref_mut() else {
        accept(inl, outl, from, kind, pkt, src, now, shared);
        return;
    };
    // SRTP leg: strict source before the cipher, then unprotect into the leg's scratch buffer.
    if inl.latch[kind as usize].is_foreign(src) {
        inl.counters.drop(DropReason::WrongSource);
        inl.stats.on_foreign_source();
        return;
    }
    let mut clear = std::mem::take(&mut srtp.scratch);
    let ok = match kind {
        Kind::Rtp => srtp.session.unprotect_rtp(pkt, &mut clear).is_ok(),
        Kind::Rtcp => srtp.session.unprotect_rtcp(pkt, &mut clear).is_ok(),
    };
    if ok {
        accept(inl, outl, from, kind, &mut clear, src, now, shared);
    } else {
        inl.counters.drop(DropReason::SrtpAuth);
        inl.stats.on_auth_failed();
    }
    if let Some(srtp) = inl.srtp.as_deref_mut() {
        srtp.scratch = clear;
    }
}

/// Validates, latches, accounts and relays a clear-text packet.
#[allow(clippy::too_many_arguments)]
#[inline]
fn accept(
    inl: &mut Leg,
    outl: &mut Leg,
    from: usize,
    kind: Kind,
    pkt: &mut [u8],
    src: SocketAddr,
    now: Instant,
    shared: &SessionShared,
) {
    let header = match kind {
        Kind::Rtp => match RtpHeader::parse(pkt) {
            Ok(h) => Some(h),
            Err(_) => return malformed(inl, DropReason::MalformedRtp),
        },
        Kind::Rtcp => match RtcpHeader::parse(pkt) {
            Ok(_) => None,
            Err(_) => return malformed(inl, DropReason::MalformedRtcp),
        },
    };
    if inl.latch[kind as usize].on_packet(now, src) == LatchDecision::DropForeignSource {
        inl.counters.drop(DropReason::WrongSource);
        inl.stats.on_foreign_source();
        return;
    }
    inl.seen(kind, pkt.len(), now);
    let Some(h) = header else {
        inl.stats.on_rtcp(now);
        outl.send(Kind::Rtcp, pkt);
        return;
    };
    inl.stats.on_rtp(now, &h, pkt.len());
    inl.last_in_ssrc = h.ssrc;
    if dtmf::is_telephone_event(&h, inl.telephone_event_pt) {
        let _ = inl.detector().on_packet(now, &h, h.payload(pkt));
        report_digits(inl, from, shared);
        if inl.strips_dtmf() {
            inl.counters.drop(DropReason::DtmfStripped);
            return;
        }
    }
    forward_rtp(outl, pkt, &h, now);
}

fn malformed(inl: &mut Leg, reason: DropReason) {
    inl.counters.drop(reason);
    inl.stats.on_malformed();
}

/// Sends relayed RTP to `outl`, continuing its outbound sequence space (generated DTMF
/// inserted, audio suppressed while an event is sent).
#[inline]
fn forward_rtp(outl: &mut Leg, pkt: &mut [u8], h: &RtpHeader, now: Instant) {
    if outl
        .generator
        .as_deref()
        .is_some_and(DtmfGenerator::is_active)
    {
        outl.seq_offset.suppressed(1);
        return;
    }
    let Ok(seq) = outl.seq_offset.apply(pkt, h) else {
        return;
    };
    outl.last_out = Some(OutboundStream {
        ssrc: h.ssrc,
        last_seq: seq,
        last_ts: h.timestamp,
        last_sent_at: now,
    });
    outl.send(Kind::Rtp, pkt);
}

/// Emits one DtmfDetected event per completed key press.
fn report_digits(leg: &mut Leg, index: usize, shared: &SessionShared) {
    while let Some(ev) = leg
        .detector
        .as_deref_mut()
        .and_then(DtmfDetector::poll_event)
    {
        let Some(digit) = ev.digit else { continue };
        shared.totals.dtmf_detected.fetch_add(1, Ordering::Relaxed);
        shared.emit(media_event::Kind::Dtmf(pb::DtmfDetected {
            leg: leg_code(index),
            digit: digit.to_string(),
            duration_ms: ev.duration_ms,
            volume: ev.volume.into(),
        }));
    }
}

/// Starts generating a digit toward leg `i`'s remote.
pub(crate) fn start_dtmf(
    legs: &mut [Leg; 2],
    i: usize,
    req: DtmfRequest,
    now: Instant,
) -> Result<(), String> {
    let leg = legs.get_mut(i).ok_or_else(|| format!("leg index {i}"))?;
    let pt = leg
        .telephone_event_pt
        .ok_or("the leg has no telephone_event_payload_type (UpdateLeg first)")?;
    if leg
        .generator
        .as_deref()
        .is_some_and(DtmfGenerator::is_active)
    {
        return Err("a digit is still being sent on this leg".into());
    }
    let config = DtmfGeneratorConfig {
        payload_type: pt,
        ptime: leg.ptime,
        volume: req.volume,
        ..Default::default()
    };
    let stream = leg.last_out.unwrap_or(OutboundStream {
        ssrc: 0x5b00_0000 | u32::from(leg.rtp_port),
        last_seq: 0,
        last_ts: 0,
        last_sent_at: now,
    });
    let mut generator = Box::new(DtmfGenerator::new(config));
    generator
        .start(now, req.event, req.duration, stream)
        .map_err(|e| e.to_string())?;
    leg.generator = Some(generator);
    Ok(())
}

/// Timer work of every leg: due DTMF packets, detector end timeouts, RTP timeouts.
pub(crate) fn on_timer(legs: &mut [Leg; 2], now: Instant, shared: &SessionShared) {
    for (i, leg) in legs.iter_mut().enumerate() {
        send_generated(leg, now);
        let detector = leg.detector.as_deref_mut();
        if let Some(d) = detector.filter(|d| d.poll_timeout().is_some_and(|t| t <= now)) {
            d.handle_timeout(now);
            report_digits(leg, i, shared);
        }
        if let Some(t) = leg.timeout.poll(now) {
            shared.totals.rtp_timeouts.fetch_add(1, Ordering::Relaxed);
            let silent_ms = u32::try_from(t.silent_for.as_millis()).unwrap_or(u32::MAX);
            shared.emit(media_event::Kind::RtpTimeout(pb::RtpTimeout {
                leg: leg_code(i),
                silent_ms,
            }));
        }
    }
}

fn send_generated(leg: &mut Leg, now: Instant) {
    let Some(mut generator) = leg.generator.take() else {
        return;
    };
    let mut buf = [0u8; EVENT_PACKET_LEN];
    while let Some(n) = generator.poll_transmit(now, &mut buf) {
        let Some(pkt) = buf.get(..n) else { break };
        leg.seq_offset.inserted(1);
        if let Ok(h) = RtpHeader::parse(pkt) {
            leg.last_out = Some(OutboundStream {
                ssrc: h.ssrc,
                last_seq: h.sequence,
                last_ts: h.timestamp,
                last_sent_at: now,
            });
        }
        leg.send(Kind::Rtp, pkt);
    }
    if generator.is_active() {
        leg.generator = Some(generator);
    }
}
