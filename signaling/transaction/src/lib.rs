//! Sans-IO SIP transaction layer (RFC 3261 section 17, RFC 6026).
