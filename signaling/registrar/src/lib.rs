//! Sans-IO registrar, location service and digest authentication (RFC 3261 section 10, RFC 8760).
