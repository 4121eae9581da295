//! One leg of a session: its sockets, where its remote is, its counters, and the per-packet
//! paths. [`super::path::relay`] decides whether a packet received on a leg is relayed;
//! [`Leg::send`] puts a packet on the wire toward the leg's remote.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchboard_media_core::dtmf::{
    DtmfDetector, DtmfDetectorConfig, DtmfGenerator, OutboundStream, SeqOffset,
};
use switchboard_media_core::latch::{LatchConfig, SourceLatch};
use switchboard_media_core::srtp::{SdesCrypto, SrtpError, SrtpSession};
use switchboard_media_core::stats::{StatsConfig, StreamStats};
use switchboard_media_core::timeout::RtpTimeout;

use super::recv::{RelaySocket, register};
use super::snapshot::LegSnapshot;
use super::{LegOptions, LegUpdate, SrtpKeying};
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
    pub(crate) rtp: RelaySocket,
    pub(crate) rtcp: Option<RelaySocket>,
    pub(crate) local_ip: IpAddr,
    pub(crate) rtp_port: u16,
    /// Telephone-event handling fixed at allocation.
    pub(crate) dtmf_mode: DtmfMode,
    /// Negotiated rtcp-mux (from the answer); RTCP then goes to and from the RTP port.
    pub(crate) mux: bool,
    pub(crate) telephone_event_pt: Option<u8>,
    pub(crate) ptime: Duration,
    pub(crate) counters: LegCounters,
    /// Source learning of RTP and RTCP received on this leg; their hints are the signaled
    /// remote RTP and RTCP addresses.
    pub(crate) latch: [SourceLatch; 2],
    /// RFC 3550 receive statistics of the inbound RTP stream.
    pub(crate) stats: StreamStats,
    /// RTP timeout; also when the last packet was accepted.
    pub(crate) timeout: RtpTimeout,
    /// RFC 4733 detection, allocated on the first telephone-event packet (most calls have none).
    pub(crate) detector: Option<Box<DtmfDetector>>,
    /// The digit being generated toward this leg's remote, if any.
    pub(crate) generator: Option<Box<DtmfGenerator>>,
    /// Sequence offset of relayed packets sent to this leg (generated DTMF inserted).
    pub(crate) seq_offset: SeqOffset,
    /// The last RTP packet sent to this leg (after rewriting), for DTMF generation.
    pub(crate) last_out: Option<OutboundStream>,
    /// SDES-SRTP state (boxed: plain RTP legs pay one pointer).
    pub(crate) srtp: Option<Box<SrtpLeg>>,
    /// SSRC of the last accepted inbound RTP packet.
    pub(crate) last_in_ssrc: u32,
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
            rtp: register(rtp)?,
            rtcp: rtcp.map(register).transpose()?,
            local_ip: local.ip(),
            rtp_port: local.port(),
            mux: opts.rtcp_mux,
            dtmf_mode: opts.dtmf_mode,
            telephone_event_pt: None,
            ptime: Duration::from_millis(20),
            counters: LegCounters::default(),
            latch: [
                SourceLatch::new(LatchConfig::default(), None),
                SourceLatch::new(LatchConfig::default(), None),
            ],
            stats: StreamStats::new(StatsConfig::default()),
            timeout: RtpTimeout::new(now, opts.rtp_timeout),
            detector: None,
            generator: None,
            seq_offset: SeqOffset::default(),
            last_out: None,
            srtp: None,
            last_in_ssrc: 0,
        })
    }

    /// Applies new remote parameters from signaling; an error names the invalid field.
    pub(crate) fn update(&mut self, u: &LegUpdate) -> Result<(), (&'static str, String)> {
        let srtp = match (&u.srtp_inbound, &u.srtp_outbound) {
            (None, None) => None,
            (Some(inb), Some(outb)) => {
                let remote = sdes(inb).map_err(|e| ("srtp_inbound", e))?;
                let local = sdes(outb).map_err(|e| ("srtp_outbound", e))?;
                let session = SrtpSession::new(&local, &remote)
                    .map_err(|e| ("srtp_inbound", e.to_string()))?;
                Some(Box::new(SrtpLeg {
                    session,
                    scratch: Vec::new(),
                }))
            }
            (Some(_), None) => return Err(("srtp_outbound", "required with srtp_inbound".into())),
            (None, Some(_)) => return Err(("srtp_inbound", "required with srtp_outbound".into())),
        };
        let rtcp = if u.rtcp_mux {
            u.remote_rtp
        } else {
            u.remote_rtcp
        };
        if self.latch[0].hint() != Some(u.remote_rtp) {
            self.latch[0].relearn(Some(u.remote_rtp));
        }
        if self.latch[1].hint() != Some(rtcp) {
            self.latch[1].relearn(Some(rtcp));
        }
        self.mux = u.rtcp_mux || self.rtcp.is_none();
        if self.telephone_event_pt != u.telephone_event_pt {
            let cfg = StatsConfig {
                jitter_exclude_pt: u.telephone_event_pt,
                ..StatsConfig::default()
            };
            if self.stats.snapshot(false).packets == 0 {
                self.stats = StreamStats::new(cfg);
            }
        }
        self.telephone_event_pt = u.telephone_event_pt;
        self.ptime = u.ptime;
        self.srtp = srtp;
        Ok(())
    }

    /// When the next generated DTMF packet is due, if generating.
    pub(crate) fn next_generation(&self) -> Option<Instant> {
        self.generator
            .as_deref()
            .and_then(DtmfGenerator::poll_timeout)
    }

    /// The earliest timer of this leg (generation, detector end timeout, RTP timeout).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.next_generation(),
            self.detector
                .as_deref()
                .and_then(DtmfDetector::poll_timeout),
            self.timeout.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Where packets of `kind` for this leg's remote go.
    /// Symmetric RTP: the latched source, which starts as the signaled remote.
    #[inline]
    fn destination(&self, kind: Kind) -> Option<SocketAddr> {
        match kind {
            Kind::Rtp => self.latch[0].latched(),
            Kind::Rtcp => self.latch[1].latched(),
        }
    }

    /// Sends `pkt` toward this leg's remote from the matching local socket, SRTP-protecting it
    /// when the leg is SRTP.
    #[inline]
    pub(crate) fn send(&mut self, kind: Kind, pkt: &[u8]) {
        let Some(dst) = self.destination(kind) else {
            self.counters.drop(DropReason::NoRemote);
            return;
        };
        let wire = match self.srtp.as_deref_mut() {
            None => Ok(pkt),
            Some(srtp) => srtp.protect(kind, pkt),
        };
        let sock = match (kind, &self.rtcp) {
            (Kind::Rtcp, Some(rtcp)) if !self.mux => rtcp,
            _ => &self.rtp,
        };
        match wire.map(|w| (sock.get_ref().send_to(w, dst), w.len())) {
            Ok((Ok(_), len)) => self.counters.outbound(kind, len),
            Ok((Err(_), _)) | Err(_) => self.counters.drop(DropReason::SendError),
        }
    }

    /// Marks an accepted inbound packet.
    #[inline]
    pub(crate) fn seen(&mut self, kind: Kind, len: usize, now: Instant) {
        self.counters.inbound(kind, len);
        self.timeout.on_packet(now);
    }

    /// This leg's published form: counters, RFC 3550 figures, addresses.
    pub(crate) fn snapshot(&mut self, now: Instant) -> LegSnapshot {
        let st = self.stats.snapshot(false);
        let last_seen_unix_ms = if self.counters.packets_in == [0, 0] {
            0
        } else {
            let ago = now.saturating_duration_since(self.timeout.last_seen());
            unix_ms(SystemTime::now().checked_sub(ago).unwrap_or(UNIX_EPOCH))
        };
        LegSnapshot {
            local_ip: self.local_ip,
            rtp_port: self.rtp_port,
            rtcp_port: if self.rtcp.is_some() {
                self.rtp_port + 1
            } else {
                self.rtp_port
            },
            remote_rtp: self.latch[0].hint(),
            remote_rtcp: self.latch[1].hint(),
            counters: self.counters,
            lost: st.lost,
            jitter_us: st.jitter_us,
            ssrc: self.last_in_ssrc,
            extended_highest_seq: st.extended_max_seq,
            last_seen_unix_ms,
            srtp: self.srtp.is_some(),
            latched: self.latch[0].is_locked(),
        }
    }

    /// The RFC 4733 detector, created on first use.
    pub(crate) fn detector(&mut self) -> &mut DtmfDetector {
        self.detector
            .get_or_insert_with(|| Box::new(DtmfDetector::new(DtmfDetectorConfig::default())))
    }

    /// Whether telephone-event packets from this leg are stripped.
    pub(crate) fn strips_dtmf(&self) -> bool {
        self.dtmf_mode == DtmfMode::Strip
    }
}

/// SDES-SRTP contexts of a leg and their reusable output buffer (grown on the first packet).
#[derive(Debug)]
pub(crate) struct SrtpLeg {
    pub(crate) session: SrtpSession,
    pub(crate) scratch: Vec<u8>,
}

impl SrtpLeg {
    /// Protects `pkt` toward the leg's remote; the result is in the scratch buffer.
    fn protect(&mut self, kind: Kind, pkt: &[u8]) -> Result<&[u8], SrtpError> {
        match kind {
            Kind::Rtp => self.session.protect_rtp(pkt, &mut self.scratch)?,
            Kind::Rtcp => self.session.protect_rtcp(pkt, &mut self.scratch)?,
        }
        Ok(&self.scratch)
    }
}

/// Parses SDES keying into the media-core form (`1 SUITE inline:KEY`).
fn sdes(k: &SrtpKeying) -> Result<SdesCrypto, String> {
    SdesCrypto::parse(&format!("1 {} inline:{}", k.suite, k.inline_key)).map_err(|e| e.to_string())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
