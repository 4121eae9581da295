//! SDP (RFC 8866) parser and printer with the helpers a B2BUA needs to anchor media.
//!
//! Module map:
//! - [`model`]: [`SessionDescription`], [`MediaDescription`], [`Origin`], [`Connection`], [`Bandwidth`],
//!   [`Timing`], verbatim [`Line`]s, and the printer (`Display`, `\r\n` endings, RFC 8866 §5 order).
//! - [`attribute`]: typed `a=` lines — `rtpmap`, `fmtp`, `ptime`, direction, `rtcp` (RFC 3605),
//!   `rtcp-mux`, `crypto` (SDES, RFC 4568) — and [`Attribute::Other`] for the rest, kept verbatim.
//! - [`parse`]: [`SessionDescription::parse`] with [`SdpLimits`]; [`SdpError`] names the line and reason.
//! - `rewrite`: connection address / port rewriting, direction, telephone-event payload type.
//!
//! Usage contract: parse the body of an offer or answer, rewrite it for the other leg
//! ([`SessionDescription::set_connection_address`], [`SessionDescription::set_media_port`],
//! [`SessionDescription::bump_version`]), print it with `to_string()` / `to_bytes()`. Parsing accepts `\n`
//! or `\r\n`; printing always writes `\r\n`. Whatever parses prints to text that parses to an equal value
//! (checked by a property test and the `sdp` fuzz target in `fuzz/`). Nothing a peer sends panics; sizes
//! are bounded by [`SdpLimits`].

pub mod attribute;
pub mod model;
pub mod parse;
mod rewrite;

pub use attribute::{Attribute, Crypto, Direction, Fmtp, KeyParam, Rtcp, RtpMap};
pub use model::{
    Bandwidth, Connection, Line, MediaDescription, Origin, SessionDescription, Timing,
};
pub use parse::{SdpError, SdpLimits};

#[cfg(test)]
mod tests;
