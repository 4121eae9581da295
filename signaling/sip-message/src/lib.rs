//! Switchboard's SIP message layer: zero-copy parser, printer and typed headers.
