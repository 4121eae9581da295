//! One leg of a session: its sockets, where its remote is, its counters, and the per-packet
//! paths. [`inbound`] decides whether a packet received on a leg is relayed; [`Leg::send`]
//! puts a packet on the wire toward the leg's remote.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchboard_proto::v1::{DropCounters, LegInfo, LocalEndpoint, StreamStats};
use tokio::net::UdpSocket;

use super::{LegOptions, LegUpdate};
use crate::config::DtmfMode;
use crate::stats::{DropReason, Kind, LegCounters};

/// Which socket of a leg a packet arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// The RTP port (also RTCP with rtcp-mux).
    Rtp,
    /// The separate RTCP port.
    Rtcp,
}

/// One leg's state, owned by the session task.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: Option<UdpSocket>,
    pub(crate) local_ip: IpAddr,
    pub(crate) rtp_port: u16,
    pub(crate) opts: LegOptions,
    /// Negotiated rtcp-mux (from the answer); RTCP then goes to and from the RTP port.
    pub(crate) mux: bool,
    pub(crate) remote_rtp: Option<SocketAddr>,
    pub(crate) remote_rtcp: Option<SocketAddr>,
    pub(crate) telephone_event_pt: Option<u8>,
    pub(crate) ptime: Duration,
    pub(crate) counters: LegCounters,
    pub(crate) published: LegCounters,
    pub(crate) last_activity: Instant,
    pub(crate) last_seen_unix_ms: u64,
    pub(crate) timed_out: bool,
}

impl Leg {
    /// Wraps bound sockets (must be called on the worker runtime that will poll them).
    pub(crate) fn new(
        rtp: std::net::UdpSocket,
        rtcp: Option<std::net::UdpSocket>,
        opts: LegOptions,
        now: Instant,
    ) -> std::io::Result<Self> {
        let local = rtp.local_addr()?;
        Ok(Leg {
            rtp: UdpSocket::from_std(rtp)?,
            rtcp: rtcp.map(UdpSocket::from_std).transpose()?,
            local_ip: local.ip(),
            rtp_port: local.port(),
            mux: opts.rtcp_mux,
            opts,
            remote_rtp: None,
            remote_rtcp: None,
            telephone_event_pt: None,
            ptime: Duration::from_millis(20),
            counters: LegCounters::default(),
            published: LegCounters::default(),
            last_activity: now,
            last_seen_unix_ms: 0,
            timed_out: false,
        })
    }

    /// Applies new remote parameters from signaling.
    pub(crate) fn update(&mut self, u: &LegUpdate) -> Result<(), String> {
        self.remote_rtp = Some(u.remote_rtp);
        self.remote_rtcp = Some(if u.rtcp_mux {
            u.remote_rtp
        } else {
            u.remote_rtcp
        });
        self.mux = u.rtcp_mux || self.rtcp.is_none();
        self.telephone_event_pt = u.telephone_event_pt;
        self.ptime = u.ptime;
        Ok(())
    }

    /// When the next generated DTMF packet is due, if generating.
    pub(crate) fn next_generation(&self) -> Option<Instant> {
        None
    }

    /// Where packets of `kind` for this leg's remote go.
    #[inline]
    fn destination(&self, kind: Kind) -> Option<SocketAddr> {
        match kind {
            Kind::Rtp => self.remote_rtp,
            Kind::Rtcp => self.remote_rtcp,
        }
    }

    /// Sends `pkt` toward this leg's remote from the matching local socket.
    #[inline]
    pub(crate) fn send(&mut self, kind: Kind, pkt: &[u8]) {
        let Some(dst) = self.destination(kind) else {
            self.counters.drop(DropReason::NoRemote);
            return;
        };
        let sock = match (kind, &self.rtcp) {
            (Kind::Rtcp, Some(rtcp)) if !self.mux => rtcp,
            _ => &self.rtp,
        };
        match sock.try_send_to(pkt, dst) {
            Ok(_) => self.counters.outbound(kind, pkt.len()),
            Err(_) => self.counters.drop(DropReason::SendError),
        }
    }

    /// Marks an accepted inbound packet.
    #[inline]
    pub(crate) fn seen(&mut self, kind: Kind, len: usize, now: Instant) {
        self.counters.inbound(kind, len);
        self.last_activity = now;
        self.timed_out = false;
    }

    /// True when the leg just crossed its RTP timeout (reported once per silence period).
    pub(crate) fn check_timeout(&mut self, now: Instant) -> Option<Duration> {
        let silent = now.saturating_duration_since(self.last_activity);
        if !self.timed_out && silent >= self.opts.rtp_timeout {
            self.timed_out = true;
            return Some(silent);
        }
        None
    }

    /// Refreshes `last_seen_unix_ms` from the monotonic last activity.
    pub(crate) fn refresh_wall_clock(&mut self, now: Instant) {
        if self.counters.packets_in == [0, 0] {
            return;
        }
        let ago = now.saturating_duration_since(self.last_activity);
        let wall = SystemTime::now().checked_sub(ago).unwrap_or(UNIX_EPOCH);
        self.last_seen_unix_ms = unix_ms(wall);
    }

    /// The local endpoint advertised to signaling.
    pub(crate) fn local_endpoint(&self) -> LocalEndpoint {
        let rtcp_port = if self.rtcp.is_some() {
            self.rtp_port + 1
        } else {
            self.rtp_port
        };
        LocalEndpoint {
            address: self.local_ip.to_string(),
            rtp_port: self.rtp_port.into(),
            rtcp_port: rtcp_port.into(),
        }
    }

    /// Snapshot of this leg for gRPC.
    pub(crate) fn info(&self) -> LegInfo {
        let c = &self.counters;
        LegInfo {
            local: Some(self.local_endpoint()),
            remote_rtp: self.remote_rtp.map(|a| a.to_string()).unwrap_or_default(),
            remote_rtcp: self.remote_rtcp.map(|a| a.to_string()).unwrap_or_default(),
            rtp_in: Some(StreamStats {
                packets: c.packets_in[Kind::Rtp as usize],
                bytes: c.bytes_in[Kind::Rtp as usize],
                ..StreamStats::default()
            }),
            rtp_packets_out: c.packets_out[Kind::Rtp as usize],
            rtp_bytes_out: c.bytes_out[Kind::Rtp as usize],
            rtcp_packets_in: c.packets_in[Kind::Rtcp as usize],
            rtcp_packets_out: c.packets_out[Kind::Rtcp as usize],
            last_seen_unix_ms: self.last_seen_unix_ms,
            drops: Some(drop_counters(c)),
            srtp_inbound: false,
            srtp_outbound: false,
            latched: false,
        }
    }

    /// Whether telephone-event packets from this leg are stripped.
    pub(crate) fn strips_dtmf(&self) -> bool {
        self.opts.dtmf_mode == DtmfMode::Strip
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

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 5761 §4: with rtcp-mux, RTCP is told from RTP by the second octet (payload type
/// 64..=95 with the marker bit, i.e. RTCP packet types 192..=223).
#[inline]
pub(crate) fn is_muxed_rtcp(pkt: &[u8]) -> bool {
    matches!(pkt.get(1), Some(b) if (192..=223).contains(b))
}
