//! gRPC contract between signaling and media nodes (switchboard.media.v1).
