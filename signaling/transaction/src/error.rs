//! Errors of the transaction API: misuse by the TU, never a peer's fault.

use thiserror::Error;

/// An input the transaction cannot accept in its current state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransactionError {
    /// A status code outside 100–699.
    #[error("status code {0} is outside 100-699")]
    InvalidStatus(u16),
    /// The TU sent a response the state does not allow (e.g. after a final response).
    #[error("cannot send a {status} response in the {state} state")]
    ResponseNotAllowed {
        /// The status the TU tried to send.
        status: u16,
        /// The transaction state at the time.
        state: &'static str,
    },
}

/// An error of the [`crate::TransactionLayer`] API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayerError {
    /// No transaction has that key (never existed, or already terminated and removed).
    #[error("no transaction with branch {branch:?} and method {method}")]
    UnknownTransaction {
        /// The branch of the key.
        branch: String,
        /// The method of the key.
        method: String,
    },
    /// A client transaction with that key already exists (branch reuse).
    #[error("a client transaction with branch {0:?} already exists")]
    DuplicateBranch(String),
    /// The branch lacks the RFC 3261 magic cookie `z9hG4bK`.
    #[error("Via branch {0:?} lacks the z9hG4bK magic cookie")]
    MissingMagicCookie(String),
    /// ACK is never a transaction of its own (RFC 3261 §17.1.1.3 / §13.2.2.4): send it directly.
    #[error("ACK does not start a client transaction")]
    AckIsNotATransaction,
    /// A server key was given where a client key is needed.
    #[error("{0} is not a client transaction key")]
    WrongRole(String),
    /// The machine refused the input.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
}

/// Checks a status code is within 100–699.
pub(crate) fn check_status(status: u16) -> Result<(), TransactionError> {
    if (100..=699).contains(&status) {
        Ok(())
    } else {
        Err(TransactionError::InvalidStatus(status))
    }
}
