//! The parse error: which header failed and why, ready to become a `400 Bad Request` reason phrase.

use std::fmt;

/// A message or header that RFC 3261 says to reject.
///
/// `Display` gives `"<header>: <reason>"` (or just the reason for start-line and framing problems), which is
/// safe to use as a reason phrase: it never contains CR or LF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", HeaderPrefix(*header))]
pub struct ParseError {
    /// Canonical name of the header that failed (`Some("CSeq")`), or `None` for the start line, the
    /// framing or the message as a whole.
    pub header: Option<&'static str>,
    /// What is wrong, in a few words.
    pub reason: &'static str,
    /// The status to answer with when a response is possible: `400`, or `505` for an unsupported
    /// SIP version, or `513` for a message over the size limit.
    pub status: u16,
    /// True when the message is a request (not ACK) whose Via, From, To, Call-ID and CSeq could be read,
    /// so [`crate::bad_request`] can build a response to it.
    pub respondable: bool,
}

impl ParseError {
    /// An error in `header` (canonical name) for `reason`.
    pub fn header(header: &'static str, reason: &'static str) -> Self {
        ParseError {
            header: Some(header),
            reason,
            status: 400,
            respondable: false,
        }
    }

    /// An error not tied to one header (start line, framing, whole message).
    pub fn message(reason: &'static str) -> Self {
        ParseError {
            header: None,
            reason,
            status: 400,
            respondable: false,
        }
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

struct HeaderPrefix(Option<&'static str>);

impl fmt::Display for HeaderPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, "{h}: "),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_header_and_reason() {
        let e = ParseError::header("CSeq", "method does not match request line");
        assert_eq!(e.to_string(), "CSeq: method does not match request line");
        assert_eq!(
            ParseError::message("bad request line").to_string(),
            "bad request line"
        );
    }
}
