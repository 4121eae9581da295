//! NATS sink.
