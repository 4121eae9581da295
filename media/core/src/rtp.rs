//! RTP (RFC 3550 §5.1) and RTCP (RFC 3550 §6.4) header views, rtcp-mux demultiplexing (RFC 5761 §4) and
//! in-place header rewrite helpers. Nothing here allocates.

use thiserror::Error;

/// The only RTP/RTCP version in use (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed RTP header.
pub const RTP_FIXED_HEADER_LEN: usize = 12;
/// Length of the fixed RTCP header (common header plus sender SSRC).
pub const RTCP_MIN_LEN: usize = 8;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP header: packet of {0} bytes is shorter than the 12-byte fixed header")]
    TooShort(usize),
    /// The V field is not 2.
    #[error("RTP header: version {0} is not 2")]
    BadVersion(u8),
    /// The CSRC list (CC field) runs past the end of the packet.
    #[error("RTP header: CSRC count {0} runs past the end of the packet")]
    CsrcOverrun(u8),
    /// The header extension (X bit) runs past the end of the packet.
    #[error("RTP header: header extension runs past the end of the packet")]
    ExtensionOverrun,
    /// The P bit is set but the padding count is zero or larger than the payload.
    #[error("RTP header: padding count {0} is zero or exceeds the payload")]
    BadPadding(u8),
}

/// A parsed view of an RTP header; offsets refer to the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// PT field (7 bits).
    pub payload_type: u8,
    /// M bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// CC field: number of CSRC entries.
    pub csrc_count: u8,
    /// X bit: a header extension is present.
    pub extension: bool,
    /// Padding bytes at the end of the packet (0 when P is clear).
    pub padding_len: u8,
    /// Offset of the payload from the start of the packet.
    pub payload_offset: usize,
    /// Payload length, excluding padding.
    pub payload_len: usize,
}

impl RtpHeader {
    /// Parses and validates an RTP header (version, CSRC list, extension, padding).
    pub fn parse(buf: &[u8]) -> Result<Self, RtpError> {
        let fixed: &[u8; RTP_FIXED_HEADER_LEN] =
            buf.first_chunk().ok_or(RtpError::TooShort(buf.len()))?;
        let version = fixed[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let extension = fixed[0] & 0x10 != 0;
        let csrc_count = fixed[0] & 0x0f;
        let mut offset = RTP_FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
        if offset > buf.len() {
            return Err(RtpError::CsrcOverrun(csrc_count));
        }
        if extension {
            let words = match (buf.get(offset + 2), buf.get(offset + 3)) {
                (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
                _ => return Err(RtpError::ExtensionOverrun),
            };
            offset += 4 + 4 * words;
            if offset > buf.len() {
                return Err(RtpError::ExtensionOverrun);
            }
        }
        let mut payload_len = buf.len() - offset;
        let mut padding_len = 0;
        if has_padding {
            padding_len = buf.last().copied().unwrap_or(0);
            if padding_len == 0 || usize::from(padding_len) > payload_len {
                return Err(RtpError::BadPadding(padding_len));
            }
            payload_len -= usize::from(padding_len);
        }
        Ok(Self {
            payload_type: fixed[1] & 0x7f,
            marker: fixed[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            csrc_count,
            extension,
            padding_len,
            payload_offset: offset,
            payload_len,
        })
    }

    /// The payload slice of `buf` (the buffer this header was parsed from); empty if `buf` is another one.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.payload_offset..self.payload_offset + self.payload_len)
            .unwrap_or(&[])
    }
}

/// Writes the fixed RTP header (no CSRC, no extension, no padding) into `buf[..12]`.
/// Returns `None` when `buf` is shorter than 12 bytes.
pub fn write_header(
    buf: &mut [u8],
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
) -> Option<()> {
    let h: &mut [u8; RTP_FIXED_HEADER_LEN] = buf.first_chunk_mut()?;
    h[0] = RTP_VERSION << 6;
    h[1] = (u8::from(marker) << 7) | (pt & 0x7f);
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Some(())
}

fn fixed_mut(buf: &mut [u8]) -> Result<&mut [u8; RTP_FIXED_HEADER_LEN], RtpError> {
    let len = buf.len();
    buf.first_chunk_mut().ok_or(RtpError::TooShort(len))
}

/// Rewrites the sequence number of an RTP packet in place.
pub fn set_sequence(buf: &mut [u8], seq: u16) -> Result<(), RtpError> {
    fixed_mut(buf)?[2..4].copy_from_slice(&seq.to_be_bytes());
    Ok(())
}

/// Rewrites the timestamp of an RTP packet in place.
pub fn set_timestamp(buf: &mut [u8], ts: u32) -> Result<(), RtpError> {
    fixed_mut(buf)?[4..8].copy_from_slice(&ts.to_be_bytes());
    Ok(())
}

/// Rewrites the SSRC of an RTP packet in place.
pub fn set_ssrc(buf: &mut [u8], ssrc: u32) -> Result<(), RtpError> {
    fixed_mut(buf)?[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

/// Rewrites the payload type of an RTP packet in place, keeping the marker bit.
pub fn set_payload_type(buf: &mut [u8], pt: u8) -> Result<(), RtpError> {
    let h = fixed_mut(buf)?;
    h[1] = (h[1] & 0x80) | (pt & 0x7f);
    Ok(())
}

/// Sets or clears the marker bit of an RTP packet in place.
pub fn set_marker(buf: &mut [u8], marker: bool) -> Result<(), RtpError> {
    let h = fixed_mut(buf)?;
    h[1] = (h[1] & 0x7f) | (u8::from(marker) << 7);
    Ok(())
}

/// Why a datagram is not a valid RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Shorter than 8 bytes (common header plus SSRC).
    #[error("RTCP header: packet of {0} bytes is shorter than 8 bytes")]
    TooShort(usize),
    /// The V field is not 2.
    #[error("RTCP header: version {0} is not 2")]
    BadVersion(u8),
    /// The packet type is outside 200-207 (SR, RR, SDES, BYE, APP, RTPFB, PSFB, XR).
    #[error("RTCP header: packet type {0} is outside 200-207")]
    BadPacketType(u8),
    /// The length field says the packet is longer than the datagram.
    #[error("RTCP header: length field ({0} words) runs past the end of the datagram")]
    LengthOverrun(u16),
    /// A compound packet's lengths do not add up to the datagram length (RFC 3550 A.2).
    #[error("RTCP compound: packet lengths do not add up to the datagram length")]
    CompoundMismatch,
}

/// A parsed view of the first RTCP header in a (possibly compound, possibly SRTCP) datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader {
    /// PT field (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205 RTPFB, 206 PSFB, 207 XR).
    pub packet_type: u8,
    /// RC/SC/FMT field (5 bits).
    pub count: u8,
    /// P bit.
    pub padding: bool,
    /// Length field: packet length in 32-bit words minus one.
    pub length_words: u16,
    /// SSRC of the packet sender.
    pub ssrc: u32,
}

impl RtcpHeader {
    /// Validates the first RTCP header: >= 8 bytes, version 2, PT 200-207, length within the datagram.
    /// Works on SRTCP too (its first 8 bytes are in the clear).
    pub fn parse(buf: &[u8]) -> Result<Self, RtcpError> {
        let h: &[u8; RTCP_MIN_LEN] = buf.first_chunk().ok_or(RtcpError::TooShort(buf.len()))?;
        let version = h[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtcpError::BadVersion(version));
        }
        if !(200..=207).contains(&h[1]) {
            return Err(RtcpError::BadPacketType(h[1]));
        }
        let length_words = u16::from_be_bytes([h[2], h[3]]);
        if (usize::from(length_words) + 1) * 4 > buf.len() {
            return Err(RtcpError::LengthOverrun(length_words));
        }
        Ok(Self {
            packet_type: h[1],
            count: h[0] & 0x1f,
            padding: h[0] & 0x20 != 0,
            length_words,
            ssrc: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        })
    }
}

/// Validates a plain (not SRTCP) compound RTCP datagram per RFC 3550 A.2, relaxed for RFC 5506
/// reduced-size RTCP: every packet has version 2 and PT 200-207, and the lengths add up exactly.
pub fn validate_rtcp_compound(buf: &[u8]) -> Result<RtcpHeader, RtcpError> {
    let first = RtcpHeader::parse(buf)?;
    let mut rest = buf;
    while !rest.is_empty() {
        let h = RtcpHeader::parse(rest).map_err(|e| match e {
            RtcpError::TooShort(_) => RtcpError::CompoundMismatch,
            other => other,
        })?;
        let len = (usize::from(h.length_words) + 1) * 4;
        rest = rest.get(len..).ok_or(RtcpError::CompoundMismatch)?;
    }
    Ok(first)
}

/// What a datagram on an rtcp-mux port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// RTP (version 2, second byte's PT outside 64-95).
    Rtp,
    /// RTCP (version 2, RFC 5761 §4: second byte & 0x7f in 64-95, i.e. PT 192-223).
    Rtcp,
    /// Anything else (STUN, DTLS, garbage, shorter than 2 bytes or not version 2).
    Other,
}

/// Classifies a datagram per RFC 5761 §4 (and RFC 7983: only first bytes 128-191 are RTP/RTCP).
pub fn demux(buf: &[u8]) -> PacketKind {
    match buf {
        [b0, b1, ..] if b0 >> 6 == RTP_VERSION => {
            if (64..=95).contains(&(b1 & 0x7f)) {
                PacketKind::Rtcp
            } else {
                PacketKind::Rtp
            }
        }
        _ => PacketKind::Other,
    }
}

#[cfg(test)]
#[path = "rtp_tests.rs"]
mod tests;
