//! Sans-IO SIP transaction layer (RFC 3261 section 17, RFC 6026).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod client_invite;
mod client_non_invite;
mod error;
mod layer;
mod message;
mod server_invite;
mod server_non_invite;
mod timer;

#[cfg(test)]
mod testkit;

pub use client_invite::ClientInviteTransaction;
pub use client_non_invite::ClientNonInviteTransaction;
pub use error::{LayerError, TransactionError};
pub use layer::{
    LayerConfig, MAGIC_COOKIE, RequestDecision, RequestInfo, ResponseDecision, ResponseInfo, Role,
    TransactionKey, TransactionLayer, Transmit,
};
pub use message::{TransactionEvent, TransactionMessage};
pub use server_invite::{ServerInviteTransaction, TRYING_DELAY};
pub use server_non_invite::ServerNonInviteTransaction;
pub use timer::{Timer, TimerConfig};
