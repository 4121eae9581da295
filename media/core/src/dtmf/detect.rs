//! RFC 4733 §2.5.2 receiver: one [`DtmfEvent`] per key press.
//!
//! An event is identified by (SSRC, RTP timestamp): all packets of one event carry the event's start
//! timestamp. The marker bit is not relied on (it may be missing or repeated). Rules:
//! * the first packet of an unknown (SSRC, timestamp) starts an event, so a lost start packet is harmless;
//! * the duration reported is the largest seen;
//! * the first end packet (E bit) reports the event; redundant end packets and late updates of an event
//!   already reported are ignored;
//! * a packet with a newer timestamp while an event is still open reports the open one
//!   ([`DtmfEndReason::Superseded`]) and starts the new one;
//! * packets up to 10 s of timestamp units older than the open or last reported event (reordering) are
//!   ignored; a larger backwards jump is a new timestamp base and starts a new event;
//! * no packet for `end_timeout` while an event is open: [`DtmfDetector::handle_timeout`] reports it
//!   with the last known duration ([`DtmfEndReason::Timeout`]).
//!
//! Durations beyond 16 bits (RFC 4733 §2.5.1.3 segmented long events) are reported per segment.

use std::time::{Duration, Instant};

use super::{DtmfPayloadError, EventPayload, event_to_digit};
use crate::rtp::RtpHeader;

/// Detector configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDetectorConfig {
    /// RTP clock rate of the telephone-event PT (usually 8000), to express durations in ms.
    pub clock_rate: u32,
    /// Silence after which an open event is reported without its end packet (default 500 ms).
    pub end_timeout: Duration,
}

impl Default for DtmfDetectorConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            end_timeout: Duration::from_millis(500),
        }
    }
}

/// How the event's end was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEndReason {
    /// An end packet (E bit) was received.
    EndPacket,
    /// No end packet arrived within `end_timeout`.
    Timeout,
    /// A newer event started before this one's end packet was seen.
    Superseded,
}

/// One detected key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Event code (RFC 4733 §3.2).
    pub event: u8,
    /// DTMF character, `None` for flash (16) and non-DTMF events.
    pub digit: Option<char>,
    /// Duration in timestamp units (largest seen).
    pub duration: u32,
    /// Duration in milliseconds.
    pub duration_ms: u32,
    /// Volume (0-63, meaning 0 to -63 dBm0).
    pub volume: u8,
    /// RTP timestamp of the event (its start).
    pub timestamp: u32,
    /// SSRC of the stream.
    pub ssrc: u32,
    /// How the end was determined.
    pub end: DtmfEndReason,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    duration: u16,
    volume: u8,
    last_at: Instant,
}

const QUEUE: usize = 4;

/// Telephone-event detector for one received stream. Feed [`DtmfDetector::on_packet`] with packets of the
/// negotiated telephone-event PT, then drain [`DtmfDetector::poll_event`].
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    config: DtmfDetectorConfig,
    open: Option<Open>,
    /// (ssrc, timestamp) of the last reported event.
    done: Option<(u32, u32)>,
    queue: [Option<DtmfEvent>; QUEUE],
    head: usize,
    len: usize,
}

/// How far back (seconds of timestamp units) a packet is taken as a reordered packet of an older event;
/// a larger backwards jump is a new timestamp base (re-INVITE, new source) and starts a new event.
const STALE_WINDOW_SECS: u32 = 10;

impl DtmfDetector {
    /// A detector with no open event.
    pub fn new(config: DtmfDetectorConfig) -> Self {
        Self {
            config,
            open: None,
            done: None,
            queue: [None; QUEUE],
            head: 0,
            len: 0,
        }
    }

    /// Handles one telephone-event packet received at `now`; `payload` is its RTP payload.
    pub fn on_packet(
        &mut self,
        now: Instant,
        header: &RtpHeader,
        payload: &[u8],
    ) -> Result<(), DtmfPayloadError> {
        let p = EventPayload::parse(payload)?;
        let (ssrc, ts) = (header.ssrc, header.timestamp);
        if let Some((dssrc, dts)) = self.done
            && dssrc == ssrc
            && (dts == ts || self.stale(ts, dts))
        {
            return Ok(()); // redundant end, late update, or reordered old packet
        }
        match self.open {
            Some(mut o) if o.ssrc == ssrc && o.timestamp == ts => {
                o.duration = o.duration.max(p.duration);
                o.volume = p.volume;
                o.last_at = now;
                self.open = Some(o);
            }
            Some(o) if o.ssrc == ssrc && self.stale(ts, o.timestamp) => return Ok(()),
            Some(o) => {
                self.report(o, DtmfEndReason::Superseded);
                self.open = Some(Self::start(now, ssrc, ts, &p));
            }
            None => self.open = Some(Self::start(now, ssrc, ts, &p)),
        }
        if p.end
            && let Some(o) = self.open
        {
            self.report(o, DtmfEndReason::EndPacket);
        }
        Ok(())
    }

    /// `ts` lies a little before `reference`: a reordered packet of an older event.
    fn stale(&self, ts: u32, reference: u32) -> bool {
        let back = reference.wrapping_sub(ts);
        back != 0 && back <= self.config.clock_rate.saturating_mul(STALE_WINDOW_SECS)
    }

    /// Forgets the open and last reported events (new remote stream). Queued events are kept.
    pub fn reset(&mut self) {
        self.open = None;
        self.done = None;
    }

    fn start(now: Instant, ssrc: u32, timestamp: u32, p: &EventPayload) -> Open {
        Open {
            ssrc,
            timestamp,
            event: p.event,
            duration: p.duration,
            volume: p.volume,
            last_at: now,
        }
    }

    fn report(&mut self, o: Open, end: DtmfEndReason) {
        self.open = None;
        self.done = Some((o.ssrc, o.timestamp));
        let rate = u64::from(self.config.clock_rate.max(1));
        let ev = DtmfEvent {
            event: o.event,
            digit: event_to_digit(o.event),
            duration: u32::from(o.duration),
            duration_ms: (u64::from(o.duration) * 1000 / rate) as u32,
            volume: o.volume,
            timestamp: o.timestamp,
            ssrc: o.ssrc,
            end,
        };
        if self.len == QUEUE {
            // The caller did not drain: drop the oldest rather than grow.
            self.head = (self.head + 1) % QUEUE;
            self.len -= 1;
        }
        self.queue[(self.head + self.len) % QUEUE] = Some(ev);
        self.len += 1;
    }

    /// The next detected event, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        if self.len == 0 {
            return None;
        }
        let ev = self.queue[self.head].take();
        self.head = (self.head + 1) % QUEUE;
        self.len -= 1;
        ev
    }

    /// When [`DtmfDetector::handle_timeout`] should be called, if an event is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.open.map(|o| o.last_at + self.config.end_timeout)
    }

    /// Reports an open event whose end packets were all lost, once `end_timeout` has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(o) = self.open
            && now.saturating_duration_since(o.last_at) >= self.config.end_timeout
        {
            self.report(o, DtmfEndReason::Timeout);
        }
    }
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
