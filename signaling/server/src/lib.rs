//! The Switchboard signaling server: transports, registrar, B2BUA driver, HTTP.
