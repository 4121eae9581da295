//! Per-leg SRTP/SRTCP contexts: one for what we send (our key), one for what we receive (the peer's key).

use bytes::Bytes;
use thiserror::Error;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

use super::sdes::{SdesCrypto, SrtpSuite};

/// Replay window (packets) for SRTP and SRTCP (RFC 3711 §3.3.2 requires at least 64).
const REPLAY_WINDOW: usize = 128;

/// Why an SRTP operation failed.
#[derive(Debug, Error)]
pub enum SrtpError {
    /// The authentication tag did not verify: drop and count the packet.
    #[error("SRTP: authentication failed")]
    AuthFailed,
    /// The packet index was already seen (replay protection): drop it.
    #[error("SRTP: replayed packet")]
    Replayed,
    /// Too short or not parseable as RTP/RTCP.
    #[error("SRTP: malformed packet")]
    Malformed,
    /// Any other failure of the SRTP library (key setup, exhausted packet index).
    #[error("SRTP: {0}")]
    Other(#[source] webrtc_srtp::Error),
}

impl From<webrtc_srtp::Error> for SrtpError {
    fn from(e: webrtc_srtp::Error) -> Self {
        use webrtc_srtp::Error as E;
        match e {
            E::RtpFailedToVerifyAuthTag
            | E::RtcpFailedToVerifyAuthTag
            | E::ErrFailedToVerifyAuthTag => Self::AuthFailed,
            E::SrtpSsrcDuplicated(..) | E::SrtcpSsrcDuplicated(..) | E::ErrDuplicated => {
                Self::Replayed
            }
            E::ErrTooShortRtp
            | E::ErrTooShortRtcp
            | E::SrtpTooSmall(..)
            | E::SrtcpTooSmall(..)
            | E::RtcpInvalidLengthAuthTag(..)
            | E::Util(_)
            | E::Rtcp(_) => Self::Malformed,
            other => Self::Other(other),
        }
    }
}

fn profile(suite: SrtpSuite) -> ProtectionProfile {
    match suite {
        SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    }
}

fn context(c: &SdesCrypto) -> Result<Context, SrtpError> {
    Ok(Context::new(
        &c.key,
        &c.salt,
        profile(c.suite),
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
    )?)
}

/// SRTP state of one leg.
pub struct SrtpSession {
    tx: Context,
    rx: Context,
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession").finish_non_exhaustive()
    }
}

fn copy_out(result: Result<Bytes, webrtc_srtp::Error>, out: &mut Vec<u8>) -> Result<(), SrtpError> {
    let b = result?;
    out.clear();
    out.extend_from_slice(&b);
    Ok(())
}

impl SrtpSession {
    /// `local` is the key we offered/answered (we protect with it); `remote` is the peer's (we unprotect).
    pub fn new(local: &SdesCrypto, remote: &SdesCrypto) -> Result<Self, SrtpError> {
        Ok(Self {
            tx: context(local)?,
            rx: context(remote)?,
        })
    }

    /// Protects a plain RTP packet into `out` (cleared first).
    pub fn protect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_out(self.tx.encrypt_rtp(packet), out)
    }

    /// Verifies and decrypts an SRTP packet into `out` (cleared first).
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_out(self.rx.decrypt_rtp(packet), out)
    }

    /// Protects a plain (compound) RTCP packet into `out` (cleared first).
    pub fn protect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_out(self.tx.encrypt_rtcp(packet), out)
    }

    /// Verifies and decrypts an SRTCP packet into `out` (cleared first).
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_out(self.rx.decrypt_rtcp(packet), out)
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
