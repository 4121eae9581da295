//! gRPC contract between signaling and media nodes: package `switchboard.media.v1`.
//!
//! The contract lives in `proto/switchboard/media/v1/media.proto` (documented field by field);
//! `build.rs` compiles it with `protox` and generates the prost messages and the tonic client and
//! server with `tonic-prost-build`.
//!
//! # Module map
//! - [`media::v1`]: generated messages, [`media::v1::media_service_client::MediaServiceClient`]
//!   and [`media::v1::media_service_server::MediaService`] / `MediaServiceServer`.
//!
//! # Usage contract
//! - Signaling is the client and sets a deadline on every call.
//! - Error codes: `RESOURCE_EXHAUSTED` (node full: no port pair or max sessions), `UNAVAILABLE`
//!   (draining), `NOT_FOUND` (unknown session), `INVALID_ARGUMENT` (message names the field),
//!   `ALREADY_EXISTS` (session id hint in use). On the first two, try the next node.

/// `switchboard.media.*` packages.
pub mod media {
    /// Version 1 of the media control API.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
        tonic::include_proto!("switchboard.media.v1");
    }
}

pub use media::v1;
