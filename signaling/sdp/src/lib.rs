//! SDP (RFC 4566/8866) parser, printer and offer/answer helpers.
