//! The `switchboard.media.v1.MediaService` server: request validation (errors name the
//! field), mapping to [`Node`] calls, and [`NodeError`] → gRPC status codes.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use switchboard_proto::v1::media_service_server::MediaService;
use switchboard_proto::v1::{self as pb, MediaEvent};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::config::DtmfMode;
use crate::node::{Node, NodeError};
use crate::relay::{DtmfRequest, LegOptions, LegUpdate, SrtpKeying};

/// The gRPC service over a shared [`Node`].
#[derive(Debug, Clone)]
pub struct MediaApi {
    node: Arc<Node>,
}

impl MediaApi {
    /// Serves `node`.
    pub fn new(node: Arc<Node>) -> Self {
        MediaApi { node }
    }
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Self {
        let msg = e.to_string();
        match e {
            NodeError::Draining => Status::unavailable(msg),
            NodeError::MaxSessions(_) | NodeError::NoPorts(_) => Status::resource_exhausted(msg),
            NodeError::NotFound(_) => Status::not_found(msg),
            NodeError::Invalid { .. } => Status::invalid_argument(msg),
            NodeError::AlreadyExists(_) => Status::already_exists(msg),
            NodeError::Internal(_) => Status::internal(msg),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Status {
    NodeError::Invalid {
        field,
        reason: reason.into(),
    }
    .into()
}

fn leg_index(leg: i32) -> Result<usize, Status> {
    match pb::Leg::try_from(leg) {
        Ok(pb::Leg::A) => Ok(0),
        Ok(pb::Leg::B) => Ok(1),
        _ => Err(invalid("leg", format!("must be LEG_A or LEG_B, got {leg}"))),
    }
}

fn leg_options(
    o: Option<&pb::LegOptions>,
    node: &Node,
    field: &'static str,
) -> Result<LegOptions, Status> {
    let cfg = node.config();
    let o = o.cloned().unwrap_or_default();
    let dtmf_mode = match pb::DtmfMode::try_from(o.dtmf_mode) {
        Ok(pb::DtmfMode::Unspecified) => cfg.dtmf_mode,
        Ok(pb::DtmfMode::PassThrough) => DtmfMode::PassThrough,
        Ok(pb::DtmfMode::Strip) => DtmfMode::Strip,
        Err(_) => {
            return Err(invalid(
                field,
                format!("dtmf_mode: unknown value {}", o.dtmf_mode),
            ));
        }
    };
    let rtp_timeout = if o.rtp_timeout_ms == 0 {
        cfg.rtp_timeout
    } else {
        Duration::from_millis(o.rtp_timeout_ms.into())
    };
    Ok(LegOptions {
        rtcp_mux: o.rtcp_mux,
        dtmf_mode,
        rtp_timeout,
    })
}

fn srtp(p: Option<&pb::SrtpParams>, field: &'static str) -> Result<Option<SrtpKeying>, Status> {
    let Some(p) = p else { return Ok(None) };
    let suite = match pb::SrtpSuite::try_from(p.suite) {
        Ok(pb::SrtpSuite::None) => return Ok(None),
        Ok(pb::SrtpSuite::AesCm128HmacSha180) => "AES_CM_128_HMAC_SHA1_80",
        Ok(pb::SrtpSuite::AesCm128HmacSha132) => "AES_CM_128_HMAC_SHA1_32",
        Err(_) => return Err(invalid(field, format!("suite: unknown value {}", p.suite))),
    };
    if p.inline_key.is_empty() {
        return Err(invalid(field, "inline_key: required with an SRTP suite"));
    }
    Ok(Some(SrtpKeying {
        suite,
        inline_key: p.inline_key.clone(),
    }))
}

fn port(v: u32, field: &'static str) -> Result<u16, Status> {
    u16::try_from(v)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(field, format!("{v} is not a port in 1..65535")))
}

fn leg_update(r: &pb::UpdateLegRequest) -> Result<LegUpdate, Status> {
    let ip: IpAddr = r.remote_address.parse().map_err(|_| {
        invalid(
            "remote_address",
            format!("{:?} is not an IP address literal", r.remote_address),
        )
    })?;
    let rtp = port(r.remote_rtp_port, "remote_rtp_port")?;
    let rtcp = match r.remote_rtcp_port {
        0 if r.rtcp_mux => rtp,
        0 => rtp
            .checked_add(1)
            .ok_or_else(|| invalid("remote_rtcp_port", "remote_rtp_port + 1 overflows"))?,
        v => port(v, "remote_rtcp_port")?,
    };
    if let Some(pt) = r.payload_types.iter().find(|pt| **pt > 127) {
        return Err(invalid("payload_types", format!("{pt} is not in 0..127")));
    }
    let telephone_event_pt = match r.telephone_event_payload_type {
        Some(pt) if pt > 127 => {
            return Err(invalid(
                "telephone_event_payload_type",
                format!("{pt} not in 0..127"),
            ));
        }
        Some(pt) => u8::try_from(pt).ok(),
        None => None,
    };
    let ptime = match r.ptime_ms {
        0 => 20,
        p if (10..=200).contains(&p) => p,
        p => return Err(invalid("ptime_ms", format!("{p} not in 10..200"))),
    };
    Ok(LegUpdate {
        remote_rtp: SocketAddr::new(ip, rtp),
        remote_rtcp: SocketAddr::new(ip, if r.rtcp_mux { rtp } else { rtcp }),
        rtcp_mux: r.rtcp_mux,
        telephone_event_pt,
        ptime: Duration::from_millis(ptime.into()),
        srtp_inbound: srtp(r.srtp_inbound.as_ref(), "srtp_inbound")?,
        srtp_outbound: srtp(r.srtp_outbound.as_ref(), "srtp_outbound")?,
    })
}

fn dtmf_request(r: &pb::SendDtmfRequest) -> Result<DtmfRequest, Status> {
    let mut chars = r.digit.chars();
    let event = match (chars.next(), chars.next()) {
        (Some(c), None) => switchboard_media_core::dtmf::digit_to_event(c)
            .ok_or_else(|| invalid("digit", format!("{c:?} is not 0-9 * # A-D")))?,
        _ => {
            return Err(invalid(
                "digit",
                format!("{:?} must be exactly one of 0-9 * # A-D", r.digit),
            ));
        }
    };
    let duration_ms = match r.duration_ms {
        0 => 100,
        d if (40..=8000).contains(&d) => d,
        d => return Err(invalid("duration_ms", format!("{d} not in 40..8000"))),
    };
    let volume = u8::try_from(r.volume).ok().filter(|v| *v <= 63);
    let volume = volume.ok_or_else(|| invalid("volume", format!("{} not in 0..63", r.volume)))?;
    Ok(DtmfRequest {
        event,
        duration: Duration::from_millis(duration_ms.into()),
        volume,
    })
}

fn required_id(id: &str) -> Result<&str, Status> {
    if id.is_empty() {
        Err(invalid("session_id", "required"))
    } else {
        Ok(id)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<MediaEvent, Status>> + Send>>;

#[tonic::async_trait]
impl MediaService for MediaApi {
    async fn allocate_session(
        &self,
        req: Request<pb::AllocateSessionRequest>,
    ) -> Result<Response<pb::AllocateSessionResponse>, Status> {
        let r = req.into_inner();
        if r.call_id.is_empty() {
            return Err(invalid("call_id", "required"));
        }
        let a = leg_options(r.leg_a.as_ref(), &self.node, "leg_a")?;
        let b = leg_options(r.leg_b.as_ref(), &self.node, "leg_b")?;
        let (session_id, [la, lb]) = self.node.allocate(&r.call_id, &r.session_id_hint, [a, b])?;
        Ok(Response::new(pb::AllocateSessionResponse {
            session_id,
            leg_a: Some(la),
            leg_b: Some(lb),
        }))
    }

    async fn update_leg(
        &self,
        req: Request<pb::UpdateLegRequest>,
    ) -> Result<Response<pb::UpdateLegResponse>, Status> {
        let r = req.into_inner();
        let id = required_id(&r.session_id)?;
        let leg = leg_index(r.leg)?;
        let update = leg_update(&r)?;
        self.node.update_leg(id, leg, update).await?;
        Ok(Response::new(pb::UpdateLegResponse {}))
    }

    async fn release_session(
        &self,
        req: Request<pb::ReleaseSessionRequest>,
    ) -> Result<Response<pb::ReleaseSessionResponse>, Status> {
        let r = req.into_inner();
        let info = self
            .node
            .release(required_id(&r.session_id)?, "released")
            .await?;
        Ok(Response::new(pb::ReleaseSessionResponse {
            session: Some(info),
        }))
    }

    async fn send_dtmf(
        &self,
        req: Request<pb::SendDtmfRequest>,
    ) -> Result<Response<pb::SendDtmfResponse>, Status> {
        let r = req.into_inner();
        let id = required_id(&r.session_id)?;
        let leg = leg_index(r.leg)?;
        let dtmf = dtmf_request(&r)?;
        self.node.send_dtmf(id, leg, dtmf).await?;
        Ok(Response::new(pb::SendDtmfResponse {}))
    }

    async fn get_session(
        &self,
        req: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        let r = req.into_inner();
        Ok(Response::new(
            self.node.get(required_id(&r.session_id)?).await?,
        ))
    }

    async fn list_sessions(
        &self,
        _req: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: self.node.list(),
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let filter = req.into_inner().session_id;
        let mut events = self.node.subscribe();
        let (tx, rx) = mpsc::channel(256);
        let node = self.node.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    biased;
                    r = events.recv() => r,
                    _ = tx.closed() => break,
                    _ = node.closed() => break,
                };
                let event = match received {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            skipped = n,
                            "WatchEvents subscriber lagging; events skipped"
                        );
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if (filter.is_empty() || event.session_id == filter)
                    && tx.send(Ok(event)).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn health(
        &self,
        _req: Request<pb::HealthRequest>,
    ) -> Result<Response<pb::HealthResponse>, Status> {
        let h = self.node.health();
        Ok(Response::new(pb::HealthResponse {
            sessions: h.sessions,
            max_sessions: h.max_sessions,
            free_ports: h.free_ports,
            load: h.load,
            draining: h.draining,
            drained: h.drained,
            total_ports: h.total_ports,
        }))
    }

    async fn drain(
        &self,
        _req: Request<pb::DrainRequest>,
    ) -> Result<Response<pb::DrainResponse>, Status> {
        self.node.set_draining(true);
        Ok(Response::new(pb::DrainResponse {
            draining: true,
            sessions: self.node.health().sessions,
        }))
    }

    async fn undrain(
        &self,
        _req: Request<pb::UndrainRequest>,
    ) -> Result<Response<pb::DrainResponse>, Status> {
        self.node.set_draining(false);
        Ok(Response::new(pb::DrainResponse {
            draining: false,
            sessions: self.node.health().sessions,
        }))
    }
}
