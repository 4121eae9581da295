//! Switchboard's B2BUA (placeholder doc, replaced below).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod call;
pub mod dialog;
mod failure;
mod random;

pub use call::{Action, Call, CallConfig, CallEvent, ClientTxId, Leg, MediaOp, RouteTarget};
pub use dialog::{Dialog, DialogError, DialogId, DialogState, RequestRejection};
pub use failure::{EndCause, FailureSide, HangupCause, MappedFailure, map_failure};
pub use random::{RandomSource, SequentialTokens};
