//! RFC 4733 (obsoletes RFC 2833) telephone-events: payload format, a detector and a generator.
//!
//! * [`DtmfDetector`] turns received telephone-event packets into one [`DtmfEvent`] per key press.
//! * [`DtmfGenerator`] writes a correct event packet sequence into the node's outbound stream.
//! * [`is_telephone_event`] tells the node whether a packet carries the negotiated telephone-event PT;
//!   passing such packets through or stripping them is the node's choice.

mod detect;
mod generate;

pub use detect::{DtmfDetector, DtmfDetectorConfig, DtmfEndReason, DtmfEvent};
pub use generate::{
    DtmfGenerator, DtmfGeneratorConfig, DtmfGeneratorError, EVENT_PACKET_LEN, OutboundStream,
    SeqOffset,
};

use thiserror::Error;

use crate::rtp::RtpHeader;

/// Length of one telephone-event payload block (RFC 4733 §2.3).
pub const EVENT_PAYLOAD_LEN: usize = 4;
/// Largest DTMF event code (16 = flash).
pub const MAX_DTMF_EVENT: u8 = 16;

/// Why a telephone-event payload is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfPayloadError {
    /// Shorter than the 4-byte event block.
    #[error("telephone-event payload: {0} bytes is shorter than 4")]
    TooShort(usize),
}

/// One RFC 4733 §2.3 event block: `event(8) | E(1) R(1) volume(6) | duration(16)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (0-9, 10 `*`, 11 `#`, 12-15 A-D, 16 flash, others non-DTMF events).
    pub event: u8,
    /// E bit: this is an end packet.
    pub end: bool,
    /// Volume, 0 to -63 dBm0, stored as its absolute value (0-63).
    pub volume: u8,
    /// Duration of the event so far, in timestamp units.
    pub duration: u16,
}

impl EventPayload {
    /// Parses the first event block of a telephone-event payload (a redundant second block is ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfPayloadError> {
        let b: &[u8; EVENT_PAYLOAD_LEN] = payload
            .first_chunk()
            .ok_or(DtmfPayloadError::TooShort(payload.len()))?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Writes the block into `out[..4]` (R bit zero); `None` if `out` is too short.
    pub fn write(&self, out: &mut [u8]) -> Option<()> {
        let b: &mut [u8; EVENT_PAYLOAD_LEN] = out.first_chunk_mut()?;
        b[0] = self.event;
        b[1] = (u8::from(self.end) << 7) | (self.volume & 0x3f);
        b[2..4].copy_from_slice(&self.duration.to_be_bytes());
        Some(())
    }
}

/// The DTMF character of an event code (RFC 4733 §3.2 table 7), `None` for flash and non-DTMF events.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The event code of a DTMF character (`0-9`, `*`, `#`, `A-D`, case-insensitive).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// Whether `header` carries the negotiated telephone-event payload type (none negotiated → false).
pub fn is_telephone_event(header: &RtpHeader, negotiated_pt: Option<u8>) -> bool {
    negotiated_pt == Some(header.payload_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_s2_3_payload_round_trip() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 2240,
        };
        let mut b = [0u8; 4];
        p.write(&mut b).expect("4 bytes");
        assert_eq!(b, [11, 0x8a, 0x08, 0xc0]);
        assert_eq!(EventPayload::parse(&b), Ok(p));
        assert_eq!(
            EventPayload::parse(&b[..3]),
            Err(DtmfPayloadError::TooShort(3))
        );
    }

    #[test]
    fn rfc4733_s3_2_digit_mapping() {
        let all = "0123456789*#ABCD";
        for (code, ch) in all.chars().enumerate() {
            assert_eq!(event_to_digit(code as u8), Some(ch));
            assert_eq!(digit_to_event(ch), Some(code as u8));
        }
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('x'), None);
    }
}
