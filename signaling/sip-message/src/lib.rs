//! Switchboard's SIP message layer: a zero-copy parser, a printer and typed headers (RFC 3261 §7, §20, §25).
//!
//! # Module map
//! | module | what |
//! | --- | --- |
//! | [`message`] | [`Message`], [`StartLine`], [`Header`]; typed accessors (`top_via`, `from`, `cseq`, ...) |
//! | `typed` | typed accessors on [`Message`] (`vias`, `contacts`, `authorization`, `session_expires`, ...) |
//! | `parse` | the parser and the RFC 3261 checks behind [`Message::parse`] |
//! | `print` | the printer: [`Message::encode`], canonical form |
//! | `builder` | responses (RFC 3261 §8.2.6), header edits, bodies, [`Message::stamp_received`], [`bad_request`], [`http_date`] |
//! | [`framing`] | stream framing by Content-Length, CRLF keepalives (RFC 5626) |
//! | [`uri`] | [`Uri`], [`Host`], [`Scheme`]: sip, sips, tel, any other scheme; IPv6 references (RFC 5118) |
//! | [`name`] | [`HeaderName`]: known names, compact forms |
//! | [`via`] | [`Via`] with branch, received, rport, maddr, ttl |
//! | [`addr`] | [`NameAddr`] (From, To, Contact, Route, ...) and [`Contacts`] |
//! | [`auth`] | [`Auth`] credentials/challenges, [`DigestParams`], [`AuthBuilder`] |
//! | [`misc`] | CSeq, RAck, RSeq, Session-Expires, Min-SE, Replaces, Reason, Content-Type, token lists |
//! | [`method`] | [`Method`] |
//! | [`multipart`] | splitting `multipart/*` bodies |
//! | [`text`] | lexical helpers: [`Params`], comma splitting, unquoting, %-decoding |
//! | `error`, `limits` | [`ParseError`], [`ParseLimits`], [`Framing`] |
//!
//! # Usage contract
//! * [`Message::parse`] takes one datagram (or one frame cut by [`framing::next_message`], parsed with
//!   [`Framing::Stream`]) and returns a message borrowing from it, or a [`ParseError`] naming the header and
//!   reason. When `err.respondable` is true, [`bad_request`] builds the `400` (or `505`) to send back.
//! * A parsed message has a top Via, From, To, Call-ID and CSeq that parse, a CSeq method equal to the
//!   request method, no duplicated single-value headers, numeric Content-Length/Expires/Max-Forwards, and
//!   readable Contact/Route/Record-Route/Content-Type. Other headers are checked when read.
//! * The parser reads the top Via, From, To, Call-ID, CSeq and Contact once into structs that borrow from
//!   the input buffer; their accessors return those. Other typed accessors parse the stored text on each
//!   call and borrow from the message; lists allocate a `Vec`. URI user parts, display names and quoted
//!   values are decoded on access (`user_decoded`, `display_name()`). [`Auth::digest`] reads every digest
//!   parameter in one pass.
//! * Editing (`push_header`, `set_header`, `prepend_header`, `remove_header`, `set_body`,
//!   `stamp_received`) keeps the message consistent; a `Content-Length` is computed by `set_body`, and
//!   `response`/`response_with_tag` add `Content-Length: 0`. Values with CR or LF are neutralised.
//! * Unknown headers, methods and URI schemes are kept verbatim, in order. Printing writes canonical header
//!   names, unfolded values and CRLF line ends; parse → encode → parse gives an equal [`Message`].
//! * Nothing a peer sends panics the parser; every size is bounded by [`ParseLimits`].
//!
//! # Example
//! ```
//! use switchboard_sip::{Message, HeaderName, bad_request};
//!
//! let datagram = b"REGISTER sip:example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776;rport\r\n\
//! Max-Forwards: 70\r\n\
//! From: <sip:alice@example.com>;tag=456248\r\n\
//! To: <sip:alice@example.com>\r\n\
//! Call-ID: 843817637684230@998sdasdh09\r\n\
//! CSeq: 1826 REGISTER\r\n\
//! Contact: <sip:alice@192.0.2.10>;expires=3600\r\n\
//! Content-Length: 0\r\n\r\n";
//! let mut req = Message::parse(datagram).expect("valid");
//! assert_eq!(req.top_via()?.branch(), Some("z9hG4bK776"));
//! assert_eq!(req.cseq()?.seq, 1826);
//! req.stamp_received("198.51.100.7:40000".parse().expect("addr"))?;
//! assert_eq!(req.top_via()?.received(), Some("198.51.100.7"));
//!
//! let mut ok = req.response_with_tag(200, "OK", "a6c85cf");
//! ok.push_header(HeaderName::Contact, "<sip:alice@192.0.2.10>;expires=3600");
//! let bytes = ok.encode();
//! assert!(bytes.starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776"));
//!
//! let bad = b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
//! From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
//! let err = Message::parse(bad).unwrap_err();
//! assert_eq!(err.to_string(), "CSeq: method does not match request line");
//! let answer = bad_request(bad, &err).expect("respondable");
//! assert_eq!(answer.status(), Some(400));
//! # Ok::<(), switchboard_sip::ParseError>(())
//! ```

pub mod addr;
pub mod auth;
mod builder;
mod error;
pub mod framing;
mod limits;
pub mod message;
pub mod method;
pub mod misc;
pub mod multipart;
pub mod name;
mod params;
mod parse;
mod print;
pub mod text;
mod typed;
pub mod uri;
pub mod via;

#[cfg(test)]
mod tests;

pub use addr::{Contacts, NameAddr};
pub use auth::{Auth, AuthBuilder, Challenge, Credentials, DigestParams};
pub use builder::{bad_request, http_date};
pub use error::ParseError;
pub use limits::{Framing, ParseLimits};
pub use message::{Header, Message, StartLine};
pub use method::Method;
pub use misc::{CSeq, MediaType, RAck, Reason, Replaces, SessionExpires};
pub use name::HeaderName;
pub use text::{Param, Params, escape_user};
pub use uri::{Host, Scheme, Uri};
pub use via::{Rport, Via};
