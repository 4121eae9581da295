//! Stream framing (RFC 3261 §18.3) and RFC 5626 §4.4.1 CRLF keepalives.

use crate::error::ParseError;
use crate::name::HeaderName;
use crate::parse::header_end;

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message: drop `skip` bytes (a stray CRLF before the start line, RFC 3261 §7.5), then
    /// the next `len` bytes are the message (headers and Content-Length body).
    Complete {
        /// Bytes to discard before the message.
        skip: usize,
        /// Length of the message.
        len: usize,
    },
    /// `len` bytes of keepalive at the front. `ping` is true for a double CRLF (RFC 5626 ping: answer
    /// with a single CRLF pong); false for a single CRLF (a pong, or an ignorable blank line).
    Keepalive {
        /// Bytes to discard.
        len: usize,
        /// Whether to answer with `\r\n`.
        ping: bool,
    },
    /// More bytes are needed.
    Incomplete,
    /// The stream cannot be framed (no or bad Content-Length, message over the size limit): close it.
    Invalid(ParseError),
}

/// Looks at the front of a stream buffer and says how many bytes form the next message.
///
/// ```
/// use switchboard_sip::framing::{next_message, Frame};
/// assert_eq!(next_message(b"\r\n\r\n", 65536), Frame::Keepalive { len: 4, ping: true });
/// let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhiNEXT";
/// assert_eq!(next_message(msg, 65536), Frame::Complete { skip: 0, len: msg.len() - 4 });
/// assert_eq!(next_message(&msg[..20], 65536), Frame::Incomplete);
/// ```
pub fn next_message(buf: &[u8], max_message_size: usize) -> Frame {
    match buf {
        [] | [b'\r'] | [b'\r', b'\n', b'\r'] => return Frame::Incomplete,
        [b'\r', b'\n', b'\r', b'\n', ..] => return Frame::Keepalive { len: 4, ping: true },
        [b'\r', b'\n'] => {
            return Frame::Keepalive {
                len: 2,
                ping: false,
            };
        }
        [b'\r', b'\n', b'\r', ..] => {
            return Frame::Keepalive {
                len: 2,
                ping: false,
            };
        }
        _ => {}
    }
    let skip = if buf.starts_with(b"\r\n") { 2 } else { 0 };
    let msg = buf.get(skip..).unwrap_or_default();
    let Some((block_end, body_start)) = header_end(msg) else {
        if msg.len() > max_message_size {
            return Frame::Invalid(ParseError::message("message too large").with_status(513));
        }
        return Frame::Incomplete;
    };
    let Some(cl) = content_length(msg.get(..block_end).unwrap_or_default()) else {
        return Frame::Invalid(ParseError::header(
            "Content-Length",
            "missing on a stream transport",
        ));
    };
    let Ok(cl) = cl else {
        return Frame::Invalid(ParseError::header("Content-Length", "not a number"));
    };
    let len = body_start.saturating_add(cl);
    if len > max_message_size {
        return Frame::Invalid(ParseError::message("message too large").with_status(513));
    }
    if msg.len() < len {
        return Frame::Incomplete;
    }
    Frame::Complete { skip, len }
}

/// Finds Content-Length (or `l`) in a header block without parsing the rest. Folded values are joined.
fn content_length(block: &[u8]) -> Option<Result<usize, ()>> {
    let mut lines = block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip(1)
        .peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default();
        let name = std::str::from_utf8(name)
            .unwrap_or_default()
            .trim_end_matches([' ', '\t']);
        if HeaderName::parse(name) != HeaderName::ContentLength {
            continue;
        }
        let mut digits: Vec<u8> = line.get(colon + 1..).unwrap_or_default().to_vec();
        while let Some(next) = lines
            .peek()
            .filter(|l| l.starts_with(b" ") || l.starts_with(b"\t"))
        {
            digits.extend_from_slice(next);
            lines.next();
        }
        let text = std::str::from_utf8(&digits)
            .unwrap_or("x")
            .trim_matches([' ', '\t']);
        if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Err(()));
        }
        return Some(text.parse().map_err(|_| ()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nl: 4\r\n\r\nbody";

    #[test]
    fn rfc3261_s18_3_frames_by_content_length() {
        assert_eq!(
            next_message(MSG, 4096),
            Frame::Complete {
                skip: 0,
                len: MSG.len()
            }
        );
        for cut in 0..MSG.len() {
            assert_eq!(
                next_message(&MSG[..cut], 4096),
                Frame::Incomplete,
                "cut at {cut}"
            );
        }
        let mut two = b"\r\n".to_vec();
        two.extend_from_slice(MSG);
        two.extend_from_slice(MSG);
        assert_eq!(
            next_message(&two, 4096),
            Frame::Complete {
                skip: 2,
                len: MSG.len()
            }
        );
    }

    #[test]
    fn rfc3261_s18_3_missing_or_bad_content_length_is_invalid() {
        let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        assert!(
            matches!(next_message(no_cl, 4096), Frame::Invalid(e) if e.header == Some("Content-Length"))
        );
        let neg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(next_message(neg, 4096), Frame::Invalid(_)));
        assert!(matches!(next_message(MSG, 20), Frame::Invalid(e) if e.status == 513));
        assert!(matches!(next_message(&[b'x'; 100], 50), Frame::Invalid(_)));
    }

    #[test]
    fn rfc5626_s4_4_1_crlf_keepalives() {
        assert_eq!(
            next_message(b"\r\n\r\nINVITE", 4096),
            Frame::Keepalive { len: 4, ping: true }
        );
        assert_eq!(
            next_message(b"\r\n", 4096),
            Frame::Keepalive {
                len: 2,
                ping: false
            }
        );
        assert_eq!(next_message(b"\r\n\r", 4096), Frame::Incomplete);
        assert_eq!(next_message(b"\r", 4096), Frame::Incomplete);
    }
}
