//! Real brokers on loopback (filled in by the broker tests).
