//! SDES-SRTP (RFC 4568, RFC 3711): `a=crypto` parsing/generation and per-leg protect/unprotect.
//!
//! The cipher work is done by the `webrtc-srtp` crate. It returns a newly allocated buffer per packet;
//! [`SrtpSession`] copies it into the caller's reusable `Vec<u8>`, so SRTP legs cost one allocation per
//! packet (accepted; plain RTP legs allocate nothing). Packets failing authentication or replay checks
//! yield [`SrtpError::AuthFailed`] / [`SrtpError::Replayed`]: drop and count them
//! (`StreamStats::on_auth_failed`).
//!
//! `webrtc-srtp` keeps state per SSRC and creates it before authenticating, so a peer spraying SSRCs makes
//! it grow: after learning, the node should run [`crate::latch::SourceLatch`] on the source address
//! before unprotecting (strict source drops foreign senders before they reach the cipher).

mod base64;
mod sdes;
mod session;

pub use sdes::{KEY_SALT_LEN, MASTER_KEY_LEN, MASTER_SALT_LEN, SdesCrypto, SdesError, SrtpSuite};
pub use session::{SrtpError, SrtpSession};
