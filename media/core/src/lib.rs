//! Sans-IO media logic of the Switchboard media manager: RTP/RTCP parsing, source latching, stream stats,
//! RTP timeouts, RFC 4733 DTMF, SDES-SRTP contexts.
//!
//! # Module map
//! * [`rtp`] — RTP header view ([`rtp::RtpHeader::parse`]), RTCP validation, rtcp-mux [`rtp::demux`]
//!   (RFC 5761 §4), in-place header rewrites (`set_sequence`, `set_timestamp`, `set_ssrc`, ...).
//! * [`latch`] — heuristic source learning then strict source ([`latch::SourceLatch`]).
//! * [`stats`] — RFC 3550 A.1/A.3/A.8 receive statistics and drop counters ([`stats::StreamStats`]).
//! * [`timeout`] — RTP silence detection ([`timeout::RtpTimeout`]).
//! * [`dtmf`] — RFC 4733 telephone-event detector and generator.
//! * [`srtp`] — RFC 4568 SDES `a=crypto` parsing/generation and per-leg SRTP/SRTCP contexts.
//!
//! # Packet-path contract
//! Everything here is synchronous and deterministic: no I/O, no locks, no clock reads (every time-dependent
//! call takes `now: Instant`), no randomness (random bytes are injected). On the plain-RTP packet path
//! nothing allocates: parsing returns `Copy` views with offsets into the caller's buffer, rewrites work on
//! `&mut [u8]`, the DTMF generator writes into a caller buffer. The one exception is [`srtp`]: the
//! `webrtc-srtp` crate returns a freshly allocated `Bytes` per packet, which [`srtp::SrtpSession`] copies
//! into a caller-supplied `Vec<u8>` (that `Vec` is reused, so the steady state allocates once per packet
//! inside `webrtc-srtp` only).
//!
//! Per received datagram the node does, in order:
//! 1. [`rtp::demux`] (rtcp-mux) → RTP or RTCP;
//! 2. on SRTP legs, drop early if [`latch::SourceLatch::is_foreign`], then
//!    [`srtp::SrtpSession::unprotect_rtp`] (auth failure → drop, `StreamStats::on_auth_failed`);
//! 3. [`rtp::RtpHeader::parse`] / [`rtp::RtcpHeader::parse`] (error → drop, `on_malformed`);
//! 4. [`latch::SourceLatch::on_packet`] (foreign → drop, `on_foreign_source`);
//! 5. [`stats::StreamStats::on_rtp`], [`timeout::RtpTimeout::on_packet`], and for the telephone-event PT
//!    ([`dtmf::is_telephone_event`]) [`dtmf::DtmfDetector::on_packet`];
//! 6. relay: rewrite the sequence number with the outbound leg's [`dtmf::SeqOffset`] (non-zero once the
//!    node has generated DTMF on that leg), protect with the other leg's SRTP session where needed, send.
//!
//! Generated DTMF: see [`dtmf::DtmfGenerator`] for how the node suppresses audio during an event and keeps
//! the outbound sequence numbers contiguous.
//!
//! Timers: the node keeps one deadline per session, the minimum of `RtpTimeout::deadline`,
//! `DtmfDetector::poll_timeout` and `DtmfGenerator::poll_timeout`, and calls the matching
//! `poll`/`handle_timeout` when it passes.

pub mod dtmf;
pub mod latch;
pub mod rtp;
pub mod srtp;
pub mod stats;
pub mod timeout;
