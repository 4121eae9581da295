//! Dialog errors: creation/building failures and the RFC 3261 §12.2.2 rejections of in-dialog requests.

use switchboard_sip::ParseError;

/// Why a dialog could not be created or a request built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the dialog needs is missing or unreadable.
    #[error("{header}: {reason}")]
    Header {
        /// Canonical header name.
        header: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The message could not be read or built.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The local CSeq reached 2^31 (RFC 3261 §8.1.1.5).
    #[error("CSeq: local sequence number exhausted")]
    CSeqExhausted,
}

/// Why an in-dialog request was refused (RFC 3261 §12.2.2); [`RequestRejection::status`] is the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestRejection {
    /// Call-ID or tags match no dialog: `481 Call/Transaction Does Not Exist`.
    #[error("no dialog matches Call-ID, From tag and To tag")]
    NoMatch,
    /// CSeq lower than the last one seen: `500 Server Internal Error` (out of order).
    #[error("CSeq: {got} is lower than the remote sequence number {last}")]
    OutOfOrder {
        /// The request's CSeq number.
        got: u32,
        /// The last remote CSeq number.
        last: u32,
    },
}

impl RequestRejection {
    /// The status code and reason phrase to answer with.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            RequestRejection::NoMatch => (481, "Call/Transaction Does Not Exist"),
            RequestRejection::OutOfOrder { .. } => (500, "Server Internal Error"),
        }
    }
}
