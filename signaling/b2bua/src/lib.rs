//! Switchboard's B2BUA (placeholder doc, replaced below).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod dialog;
mod random;

pub use dialog::{Dialog, DialogError, DialogId, DialogState, RequestRejection};
pub use random::{RandomSource, SequentialTokens};
