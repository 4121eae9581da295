//! Sans-IO media logic: RTP/RTCP parsing, source latching, stream stats, RFC 4733 DTMF, SRTP contexts.
