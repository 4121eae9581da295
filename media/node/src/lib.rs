//! The Switchboard media manager node: gRPC-controlled RTP/RTCP relay.
