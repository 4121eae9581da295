//! A session's published statistics, kept as plain numbers and addresses.
//!
//! A session task publishes at every stats tick; `ListSessions` and release read the last
//! publication. Storing it in its gRPC form ([`SessionInfo`], ten strings) cost every session
//! ~800 bytes at rest; this form is ~480 and the strings are built only when someone asks.
//! The published counters double as the baseline of the next delta added to the node totals.

use std::net::{IpAddr, SocketAddr};

use switchboard_proto::v1::{
    DropCounters, LegInfo, LocalEndpoint, SessionInfo, StreamStats as PbStreamStats,
};

use crate::stats::{DropReason, Kind, LegCounters};

/// One leg as of its session's last publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LegSnapshot {
    pub(crate) local_ip: IpAddr,
    pub(crate) rtp_port: u16,
    /// Equal to `rtp_port` when the leg has no separate RTCP socket.
    pub(crate) rtcp_port: u16,
    pub(crate) remote_rtp: Option<SocketAddr>,
    pub(crate) remote_rtcp: Option<SocketAddr>,
    pub(crate) counters: LegCounters,
    /// RFC 3550 cumulative loss of the inbound RTP stream.
    pub(crate) lost: i64,
    pub(crate) jitter_us: u32,
    /// SSRC of the last accepted inbound RTP packet.
    pub(crate) ssrc: u32,
    pub(crate) extended_highest_seq: u32,
    /// Wall-clock time of the last accepted packet, 0 before any.
    pub(crate) last_seen_unix_ms: u64,
    pub(crate) srtp: bool,
    /// Strict source in force for RTP.
    pub(crate) latched: bool,
}

impl LegSnapshot {
    /// The gRPC form.
    pub(crate) fn info(&self) -> LegInfo {
        let c = &self.counters;
        let addr = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        LegInfo {
            local: Some(LocalEndpoint {
                address: self.local_ip.to_string(),
                rtp_port: self.rtp_port.into(),
                rtcp_port: self.rtcp_port.into(),
            }),
            remote_rtp: addr(self.remote_rtp),
            remote_rtcp: addr(self.remote_rtcp),
            rtp_in: Some(PbStreamStats {
                packets: c.packets_in[Kind::Rtp as usize],
                bytes: c.bytes_in[Kind::Rtp as usize],
                lost: self.lost,
                jitter_ms: f64::from(self.jitter_us) / 1000.0,
                ssrc: self.ssrc,
                extended_highest_seq: self.extended_highest_seq,
            }),
            rtp_packets_out: c.packets_out[Kind::Rtp as usize],
            rtp_bytes_out: c.bytes_out[Kind::Rtp as usize],
            rtcp_packets_in: c.packets_in[Kind::Rtcp as usize],
            rtcp_packets_out: c.packets_out[Kind::Rtcp as usize],
            last_seen_unix_ms: self.last_seen_unix_ms,
            drops: Some(drop_counters(c)),
            srtp_inbound: self.srtp,
            srtp_outbound: self.srtp,
            latched: self.latched,
        }
    }
}

/// The gRPC form of a session; legs are absent until the task's first publish.
pub(crate) fn session_info(
    id: &str,
    call_id: &str,
    created_unix_ms: u64,
    legs: Option<&[LegSnapshot; 2]>,
) -> SessionInfo {
    SessionInfo {
        session_id: id.to_owned(),
        call_id: call_id.to_owned(),
        leg_a: legs.map(|[a, _]| a.info()),
        leg_b: legs.map(|[_, b]| b.info()),
        created_unix_ms,
    }
}

fn drop_counters(c: &LegCounters) -> DropCounters {
    let d = |r: DropReason| c.drops[r as usize];
    DropCounters {
        malformed_rtp: d(DropReason::MalformedRtp),
        malformed_rtcp: d(DropReason::MalformedRtcp),
        wrong_source: d(DropReason::WrongSource),
        srtp_auth: d(DropReason::SrtpAuth),
        no_remote: d(DropReason::NoRemote),
        dtmf_stripped: d(DropReason::DtmfStripped),
        send_error: d(DropReason::SendError),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn leg() -> LegSnapshot {
        let mut counters = LegCounters::default();
        counters.inbound(Kind::Rtp, 172);
        counters.inbound(Kind::Rtcp, 52);
        counters.outbound(Kind::Rtp, 172);
        counters.drop(DropReason::WrongSource);
        LegSnapshot {
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtp_port: 30000,
            rtcp_port: 30001,
            remote_rtp: Some(SocketAddr::from(([192, 0, 2, 1], 4000))),
            remote_rtcp: Some(SocketAddr::from(([192, 0, 2, 1], 4001))),
            counters,
            lost: 3,
            jitter_us: 1500,
            ssrc: 0x1234,
            extended_highest_seq: 70000,
            last_seen_unix_ms: 1_700_000_000_000,
            srtp: true,
            latched: true,
        }
    }

    #[test]
    fn a_leg_is_reported_with_its_addresses_counters_and_stream_figures() {
        let info = leg().info();
        let local = info.local.expect("local");
        assert_eq!(
            (local.address.as_str(), local.rtp_port, local.rtcp_port),
            ("127.0.0.1", 30000, 30001)
        );
        assert_eq!(info.remote_rtp, "192.0.2.1:4000");
        assert_eq!(info.remote_rtcp, "192.0.2.1:4001");
        let rtp_in = info.rtp_in.expect("rtp_in");
        assert_eq!((rtp_in.packets, rtp_in.bytes, rtp_in.lost), (1, 172, 3));
        assert_eq!((rtp_in.ssrc, rtp_in.extended_highest_seq), (0x1234, 70000));
        assert!((rtp_in.jitter_ms - 1.5).abs() < 1e-9);
        assert_eq!((info.rtp_packets_out, info.rtp_bytes_out), (1, 172));
        assert_eq!((info.rtcp_packets_in, info.rtcp_packets_out), (1, 0));
        assert_eq!(info.drops.expect("drops").wrong_source, 1);
        assert_eq!(info.last_seen_unix_ms, 1_700_000_000_000);
        assert!(info.srtp_inbound && info.srtp_outbound && info.latched);
    }

    #[test]
    fn a_session_without_a_publish_has_its_ids_and_no_legs() {
        let info = session_info("s-1", "call-1", 42, None);
        assert_eq!(
            (info.session_id.as_str(), info.call_id.as_str()),
            ("s-1", "call-1")
        );
        assert_eq!(info.created_unix_ms, 42);
        assert!(info.leg_a.is_none() && info.leg_b.is_none());
        let unset = LegSnapshot {
            remote_rtp: None,
            ..leg()
        };
        let info = session_info("s-1", "call-1", 42, Some(&[leg(), unset]));
        assert_eq!(
            info.leg_b.expect("b").remote_rtp,
            "",
            "no remote signaled yet"
        );
    }
}
