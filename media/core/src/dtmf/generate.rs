//! RFC 4733 §2.5.1 sender: a polled state machine that writes one telephone-event into the node's
//! outbound stream.
//!
//! # Packet sequence
//! For an event of `D` timestamp units and a packet interval of `P` units (from `ptime`):
//! packet `k` (k = 0, 1, ...) is due at `start + k·ptime` and carries duration `k·P` while `k·P < D`
//! (the first one, duration 0, has the marker bit — RFC 4733 §2.5.1.3); then three end packets (E bit,
//! duration `D`) are due together at the first interval where `k·P >= D` (RFC 4733 §2.5.1.4). All
//! packets carry the event's start timestamp and the stream's SSRC; sequence numbers continue the stream.
//!
//! # What the node must do (RFC 4733 §2.5.1.2)
//! * Build an [`OutboundStream`] from the last packet it sent on that leg (after any rewriting) and call
//!   [`DtmfGenerator::start`]. The event timestamp is `last_ts + (now - last_sent_at)·clock_rate`.
//! * Every time [`DtmfGenerator::poll_timeout`] passes, call [`DtmfGenerator::poll_transmit`] in a loop
//!   until it returns `None`, sending each packet (protected if the leg is SRTP) and calling
//!   [`SeqOffset::inserted`] once per packet.
//! * While [`DtmfGenerator::is_active`], suppress the relayed audio to that leg (do not send it) and call
//!   [`SeqOffset::suppressed`] once per suppressed packet; relayed audio sequence numbers are rewritten
//!   with [`SeqOffset::apply`] for the rest of the call, so the far end sees one gap-free stream.
//!   Relayed audio timestamps need no change (they follow the same clock).

use std::time::{Duration, Instant};

use thiserror::Error;

use super::{EVENT_PAYLOAD_LEN, EventPayload, MAX_DTMF_EVENT};
use crate::rtp::{RTP_FIXED_HEADER_LEN, RtpError, RtpHeader, set_sequence, write_header};

/// Generator configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfGeneratorConfig {
    /// Negotiated telephone-event payload type (default 101).
    pub payload_type: u8,
    /// Its clock rate (default 8000).
    pub clock_rate: u32,
    /// Interval between event packets (default 50 ms; 20 ms is typical when it matches the audio ptime).
    pub ptime: Duration,
    /// Volume field, 0-63 meaning 0 to -63 dBm0 (default 10).
    pub volume: u8,
}

impl Default for DtmfGeneratorConfig {
    fn default() -> Self {
        Self {
            payload_type: 101,
            clock_rate: 8000,
            ptime: Duration::from_millis(50),
            volume: 10,
        }
    }
}

/// The state of the leg's outbound stream when the event starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundStream {
    /// SSRC the leg sends with.
    pub ssrc: u32,
    /// Sequence number of the last packet sent.
    pub last_seq: u16,
    /// Timestamp of the last packet sent.
    pub last_ts: u32,
    /// When that packet was sent.
    pub last_sent_at: Instant,
}

/// Why an event cannot be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfGeneratorError {
    /// An event is still being sent.
    #[error("DTMF generator: an event is still being sent")]
    Busy,
    /// The event code is not a DTMF event (0-16).
    #[error("DTMF generator: event code {0} is not a DTMF event (0-16)")]
    BadEvent(u8),
    /// Zero duration, or longer than 65535 timestamp units (segmented long events are not generated).
    #[error("DTMF generator: duration must be 1..=65535 timestamp units")]
    BadDuration,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    event: u8,
    ssrc: u32,
    timestamp: u32,
    total: u16,
    step: u32,
    next_seq: u16,
    index: u32,
    ends_sent: u8,
    next_due: Instant,
}

/// Telephone-event generator for one outbound leg.
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    config: DtmfGeneratorConfig,
    sending: Option<Sending>,
}

fn to_units(d: Duration, clock_rate: u32) -> u64 {
    (d.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u64
}

/// Packet length of one generated event packet.
pub const EVENT_PACKET_LEN: usize = RTP_FIXED_HEADER_LEN + EVENT_PAYLOAD_LEN;

impl DtmfGenerator {
    /// An idle generator.
    pub fn new(config: DtmfGeneratorConfig) -> Self {
        Self {
            config,
            sending: None,
        }
    }

    /// Whether an event is being sent (the node suppresses relayed audio meanwhile).
    pub fn is_active(&self) -> bool {
        self.sending.is_some()
    }

    /// Starts sending `event` for `duration` at `now`, continuing `stream`.
    pub fn start(
        &mut self,
        now: Instant,
        event: u8,
        duration: Duration,
        stream: OutboundStream,
    ) -> Result<(), DtmfGeneratorError> {
        if self.sending.is_some() {
            return Err(DtmfGeneratorError::Busy);
        }
        if event > MAX_DTMF_EVENT {
            return Err(DtmfGeneratorError::BadEvent(event));
        }
        let total = to_units(duration, self.config.clock_rate);
        let total = u16::try_from(total)
            .ok()
            .filter(|t| *t > 0)
            .ok_or(DtmfGeneratorError::BadDuration)?;
        let elapsed = to_units(
            now.saturating_duration_since(stream.last_sent_at),
            self.config.clock_rate,
        );
        self.sending = Some(Sending {
            event,
            ssrc: stream.ssrc,
            timestamp: stream.last_ts.wrapping_add(elapsed.max(1) as u32),
            total,
            step: to_units(self.config.ptime, self.config.clock_rate).max(1) as u32,
            next_seq: stream.last_seq.wrapping_add(1),
            index: 0,
            ends_sent: 0,
            next_due: now,
        });
        Ok(())
    }

    /// When the next packet is due, if an event is being sent.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sending.map(|s| s.next_due)
    }

    /// Writes the next due packet into `buf` and returns its length (16 bytes); `None` when nothing is due
    /// or `buf` is shorter than [`EVENT_PACKET_LEN`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let mut s = self.sending?;
        if now < s.next_due || buf.len() < EVENT_PACKET_LEN {
            return None;
        }
        let so_far = s.index.saturating_mul(s.step);
        let end = so_far >= u32::from(s.total);
        let duration = if end { s.total } else { so_far as u16 };
        let marker = s.index == 0;
        write_header(
            buf,
            self.config.payload_type,
            marker,
            s.next_seq,
            s.timestamp,
            s.ssrc,
        )?;
        let payload = EventPayload {
            event: s.event,
            end,
            volume: self.config.volume,
            duration,
        };
        payload.write(buf.get_mut(RTP_FIXED_HEADER_LEN..)?)?;
        s.next_seq = s.next_seq.wrapping_add(1);
        if end {
            s.ends_sent += 1;
            if s.ends_sent >= 3 {
                self.sending = None;
                return Some(EVENT_PACKET_LEN);
            }
        } else {
            s.index += 1;
            s.next_due += self.config.ptime;
        }
        self.sending = Some(s);
        Some(EVENT_PACKET_LEN)
    }
}

/// Sequence-number offset of relayed packets on one outbound leg, modulo 2^16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqOffset(u16);

impl SeqOffset {
    /// The current offset.
    pub fn value(self) -> u16 {
        self.0
    }

    /// The node inserted `n` packets of its own (generated DTMF) into the stream.
    pub fn inserted(&mut self, n: u16) {
        self.0 = self.0.wrapping_add(n);
    }

    /// The node dropped `n` relayed packets (audio suppressed during an event).
    pub fn suppressed(&mut self, n: u16) {
        self.0 = self.0.wrapping_sub(n);
    }

    /// Rewrites the sequence number of the relayed RTP packet in `buf`; returns the new number.
    pub fn apply(self, buf: &mut [u8], header: &RtpHeader) -> Result<u16, RtpError> {
        let seq = header.sequence.wrapping_add(self.0);
        if self.0 != 0 {
            set_sequence(buf, seq)?;
        }
        Ok(seq)
    }
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
