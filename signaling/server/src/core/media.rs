//! Media anchoring for calls: the media-node gRPC calls a call asks for ([`switchboard_b2bua::Action`]
//! `AllocateMedia`, `UpdateMedia`, `ReleaseMedia`), run off the worker's loop.
//!
//! Each request is a spawned task bounded by [`MEDIA_DEADLINE`] (on top of the pool's own per-RPC
//! deadlines); its outcome comes back to the owning worker as a [`MediaResult`] on the worker's
//! channel, which the worker selects on next to its inbound queue. The worker never awaits a gRPC
//! call. SDP rewriting happens here too: the first active media section of each offer/answer is
//! anchored on the node (its `c=` and port replaced by the node's leg address), any further section
//! is refused (port 0), since a session relays one stream per leg.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_b2bua::{Leg, MediaOp};
use switchboard_media_pool::proto as pb;
use switchboard_media_pool::{AllocateOptions, MediaPool};
use switchboard_sdp::{Attribute, Direction, SessionDescription};
use tokio::sync::mpsc;

use super::origin::Origins;

/// Longest a media task may take before the call is told the media failed.
pub(crate) const MEDIA_DEADLINE: Duration = Duration::from_secs(3);

/// A session placed on a media node: its id, the node's address for each leg, and the `o=` each
/// leg's party sees from us.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) leg_a: pb::LocalEndpoint,
    pub(crate) leg_b: pb::LocalEndpoint,
    pub(crate) origins: Arc<Origins>,
}

impl Session {
    fn new(allocation: switchboard_media_pool::Allocation, origins: Origins) -> Self {
        Self {
            id: allocation.session_id,
            leg_a: allocation.leg_a,
            leg_b: allocation.leg_b,
            origins: Arc::new(origins),
        }
    }
}

/// The outcome of a media task, for the call numbered `call`.
#[derive(Debug)]
pub(crate) enum MediaResult {
    /// Session allocated and leg A pointed at the caller; `b_offer` is A's offer anchored on leg B.
    Allocated {
        call: u64,
        session: Session,
        b_offer: Vec<u8>,
    },
    /// The node's `leg` pointed at that leg's SDP; `sdp` is it anchored on the other leg. `hold`:
    /// the SDP puts its stream on hold (not `sendrecv`, or an unspecified `c=` address).
    Updated {
        call: u64,
        op: MediaOp,
        leg: Leg,
        sdp: Vec<u8>,
        hold: bool,
    },
    /// A new session took over call `call` after its node died: `a_offer` / `b_offer` are the
    /// re-INVITE offers for each leg.
    Moved {
        call: u64,
        session: Session,
        a_offer: Vec<u8>,
        b_offer: Vec<u8>,
    },
    /// Allocation (`op` None) or update `op` failed (the reason is logged).
    Failed { call: u64, op: Option<MediaOp> },
    /// A leg of the call `call_uuid` was silent longer than its RTP timeout (a node event).
    RtpTimeout { call_uuid: String },
    /// An operator hangs up the call `call_uuid` (REST API); not a media outcome, but it reaches
    /// the owning worker on the same channel.
    Hangup { call_uuid: String },
    /// The node holding the call's session went down: its media is gone.
    MediaLost { call_uuid: String },
    /// An operator transfers the caller of `call_uuid` to `target` (REST API, NATS); the worker
    /// routes it and replies with the new callee's Request-URI or why not.
    Transfer {
        call_uuid: String,
        target: String,
        reply: tokio::sync::oneshot::Sender<Result<String, TransferRefusal>>,
    },
    /// An operator originates a call (REST API, NATS), already routed; the worker starts it and
    /// replies with its UUID, or which part does not make a SIP URI.
    Originate {
        request: Box<OriginateRequest>,
        reply: tokio::sync::oneshot::Sender<Result<String, &'static str>>,
    },
}

/// A call to originate: who, and the dialplan's plan for each party.
#[derive(Debug)]
pub(crate) struct OriginateRequest {
    pub(crate) parties: switchboard_b2bua::Parties,
    pub(crate) first: super::dialplan_glue::Admitted,
    pub(crate) second: super::dialplan_glue::Admitted,
}

/// Why a transfer was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferRefusal {
    /// No live call with that UUID on the worker.
    NotFound,
    /// The call is not answered on both legs, or has a request or a transfer in flight.
    NotAnswered,
    /// The dialplan answers the target with this status and reason.
    NoRoute(u16, String),
}

/// Why a media task failed (logged; the call only learns `MediaFailed`).
#[derive(Debug, thiserror::Error)]
enum MediaTaskError {
    #[error("SDP: {0}")]
    Sdp(String),
    #[error("media node: {0}")]
    Node(#[from] switchboard_media_pool::MediaError),
    #[error("media node did not answer within {0:?}")]
    Deadline(Duration),
    #[error("media node gave no usable address for leg {0}")]
    NoAddress(&'static str),
}

/// A worker's handle on the media pool; results come back on the worker's channel.
#[derive(Clone)]
pub(crate) struct MediaClient {
    pool: Arc<MediaPool>,
    results: mpsc::UnboundedSender<MediaResult>,
    rtp_timeout_ms: u32,
}

impl MediaClient {
    pub(crate) fn new(
        pool: Arc<MediaPool>,
        results: mpsc::UnboundedSender<MediaResult>,
        rtp_timeout: Duration,
    ) -> Self {
        MediaClient {
            pool,
            results,
            rtp_timeout_ms: u32::try_from(rtp_timeout.as_millis()).unwrap_or(u32::MAX),
        }
    }

    /// Allocates a session for `call`, points leg A at the caller's offer and rewrites the offer for
    /// B; without an offer (`Err(leg)`: a call we originate, a late offer), makes our own offer on
    /// the node's `leg` instead.
    pub(crate) fn allocate(&self, call: u64, call_uuid: String, offer: Result<Vec<u8>, Leg>) {
        let (pool, results) = (self.pool.clone(), self.results.clone());
        let rtp_timeout_ms = self.rtp_timeout_ms;
        tokio::spawn(async move {
            let work = async {
                match &offer {
                    Ok(offer) => allocate(&pool, &call_uuid, offer, rtp_timeout_ms).await,
                    Err(leg) => allocate_offering(&pool, &call_uuid, *leg, rtp_timeout_ms).await,
                }
            };
            let result = match tokio::time::timeout(MEDIA_DEADLINE, work).await {
                Ok(Ok((session, b_offer))) => MediaResult::Allocated {
                    call,
                    session,
                    b_offer,
                },
                Ok(Err(e)) => {
                    tracing::warn!(call_uuid, error = %e, "media allocation failed");
                    MediaResult::Failed { call, op: None }
                }
                Err(_) => {
                    let e = MediaTaskError::Deadline(MEDIA_DEADLINE);
                    tracing::warn!(call_uuid, error = %e, "media allocation failed");
                    MediaResult::Failed { call, op: None }
                }
            };
            if let Err(mpsc::error::SendError(MediaResult::Allocated { session, .. })) =
                results.send(result)
            {
                // The worker is gone (shutdown): nothing will release it otherwise.
                let _ = pool.release(&session.id).await;
            }
        });
    }

    /// Moves call `call` to a new session after its node died (see `Action::MoveMedia`).
    pub(crate) fn relocate(&self, call: u64, call_uuid: String, sdps: MoveSdps) {
        let (pool, results) = (self.pool.clone(), self.results.clone());
        let rtp_timeout_ms = self.rtp_timeout_ms;
        tokio::spawn(async move {
            let work = relocate(&pool, &call_uuid, &sdps, rtp_timeout_ms);
            let result = match tokio::time::timeout(MEDIA_DEADLINE, work).await {
                Ok(Ok((session, a_offer, b_offer))) => MediaResult::Moved {
                    call,
                    session,
                    a_offer,
                    b_offer,
                },
                Ok(Err(e)) => {
                    tracing::warn!(call_uuid, error = %e, "moving the call's media failed");
                    MediaResult::Failed { call, op: None }
                }
                Err(_) => {
                    tracing::warn!(call_uuid, "moving the call's media missed its deadline");
                    MediaResult::Failed { call, op: None }
                }
            };
            if let Err(mpsc::error::SendError(MediaResult::Moved { session, .. })) =
                results.send(result)
            {
                let _ = pool.release(&session.id).await;
            }
        });
    }

    /// Points the node's `leg` at `sdp` (an offer or answer from that leg) and rewrites it for the
    /// other leg.
    pub(crate) fn update(&self, call: u64, op: MediaOp, session: Session, leg: Leg, sdp: Vec<u8>) {
        let (pool, results) = (self.pool.clone(), self.results.clone());
        tokio::spawn(async move {
            let work = update(&pool, &session, leg, &sdp);
            let result = match tokio::time::timeout(MEDIA_DEADLINE, work).await {
                Ok(Ok((sdp, hold))) => MediaResult::Updated {
                    call,
                    op,
                    leg,
                    sdp,
                    hold,
                },
                Ok(Err(e)) => {
                    tracing::warn!(session = session.id, error = %e, "media update failed");
                    MediaResult::Failed { call, op: Some(op) }
                }
                Err(_) => {
                    tracing::warn!(session = session.id, "media update missed its deadline");
                    MediaResult::Failed { call, op: Some(op) }
                }
            };
            let _ = results.send(result);
        });
    }

    /// Releases a session; failures are logged (the pool's reconciliation removes leftovers).
    /// The node holding a session.
    pub(crate) fn node_of(&self, session_id: &str) -> Option<String> {
        self.pool.node_of(session_id)
    }

    pub(crate) fn release(&self, session_id: String) {
        self.release_then(session_id, |_| {});
    }

    /// Releases a session, then hands `done` its final statistics (`None` when the release failed).
    pub(crate) fn release_then(
        &self,
        session_id: String,
        done: impl FnOnce(Option<pb::SessionInfo>) + Send + 'static,
    ) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(MEDIA_DEADLINE, pool.release(&session_id)).await {
                Ok(Ok(info)) => {
                    let out = |l: &Option<pb::LegInfo>| l.as_ref().map_or(0, |l| l.rtp_packets_out);
                    tracing::info!(
                        session = session_id,
                        rtp_to_a = out(&info.leg_a),
                        rtp_to_b = out(&info.leg_b),
                        "media released"
                    );
                    done(Some(info));
                }
                Ok(Err(e)) => {
                    tracing::warn!(session = session_id, error = %e, "media release failed");
                    done(None);
                }
                Err(_) => {
                    tracing::warn!(session = session_id, "media release missed its deadline");
                    done(None);
                }
            }
        });
    }
}

/// The codec an SDP answer settled on: the first payload type of its first active stream, as
/// `NAME/RATE` from its `a=rtpmap` or the RFC 3551 static table (`PCMA/8000`).
pub(crate) fn negotiated_codec(sdp: &[u8]) -> Option<String> {
    let sdp = SessionDescription::parse_bytes(sdp).ok()?;
    let media = sdp.media.iter().find(|m| m.port != 0)?;
    let pt: u8 = media.formats.first()?.parse().ok()?;
    let mapped = media.attributes.iter().find_map(|a| match a {
        Attribute::RtpMap(m) if m.payload_type == pt => {
            Some(format!("{}/{}", m.encoding, m.clock_rate))
        }
        _ => None,
    });
    mapped.or_else(|| {
        let name = match pt {
            0 => "PCMU/8000",
            3 => "GSM/8000",
            4 => "G723/8000",
            8 => "PCMA/8000",
            9 => "G722/8000",
            18 => "G729/8000",
            _ => return None,
        };
        Some(name.to_owned())
    })
}

/// The remote end of one SDP's first active media section.
struct Remote {
    index: usize,
    /// Unspecified (`0.0.0.0` / `::`): RFC 3264 §8.4 hold, the node keeps the old address.
    address: IpAddr,
    /// Not `sendrecv`, or an unspecified address.
    hold: bool,
    port: u16,
    rtcp_mux: bool,
    payload_types: Vec<u32>,
    telephone_event: Option<u32>,
}

fn remote_of(sdp: &SessionDescription) -> Result<Remote, MediaTaskError> {
    let index = sdp
        .media
        .iter()
        .position(|m| m.port != 0)
        .ok_or_else(|| MediaTaskError::Sdp("no active m= line".into()))?;
    let m = sdp
        .media
        .get(index)
        .ok_or_else(|| MediaTaskError::Sdp("no active m= line".into()))?;
    let address = sdp
        .media_address(index)
        .ok_or_else(|| MediaTaskError::Sdp(format!("m= line {index}: no c= address")))?;
    let hold = address.is_unspecified() || sdp.media_direction(index) != Direction::SendRecv;
    Ok(Remote {
        index,
        address,
        hold,
        port: m.port,
        rtcp_mux: m.attributes.contains(&Attribute::RtcpMux),
        payload_types: m.payload_types().into_iter().map(u32::from).collect(),
        telephone_event: m.telephone_event_payload_type(None).map(u32::from),
    })
}

fn parse(body: &[u8]) -> Result<SessionDescription, MediaTaskError> {
    SessionDescription::parse_bytes(body).map_err(|e| MediaTaskError::Sdp(e.to_string()))
}

/// Rewrites `sdp` so its section `index` points at `local`; other sections are refused (port 0).
fn anchor(
    mut sdp: SessionDescription,
    index: usize,
    session: &Session,
    leg: pb::Leg,
) -> Result<Vec<u8>, MediaTaskError> {
    let (local, name) = match leg {
        pb::Leg::B => (&session.leg_b, "B"),
        _ => (&session.leg_a, "A"),
    };
    let ip: IpAddr = local
        .address
        .parse()
        .map_err(|_| MediaTaskError::NoAddress(name))?;
    let port = u16::try_from(local.rtp_port).map_err(|_| MediaTaskError::NoAddress(name))?;
    // RFC 3264 §8.4: an SDP that holds with an unspecified address keeps saying so.
    let ip = match sdp.media_address(index) {
        Some(held) if held.is_unspecified() => held,
        _ => ip,
    };
    sdp.set_connection_address(ip);
    sdp.set_origin_address(ip);
    for i in 0..sdp.media.len() {
        sdp.set_media_port(i, if i == index { port } else { 0 });
    }
    session.origins.stamp(leg, &mut sdp);
    Ok(sdp.to_bytes())
}

fn update_request(session: &str, leg: pb::Leg, remote: &Remote) -> pb::UpdateLegRequest {
    pb::UpdateLegRequest {
        session_id: session.to_owned(),
        leg: leg as i32,
        remote_address: remote.address.to_string(),
        remote_rtp_port: u32::from(remote.port),
        remote_rtcp_port: if remote.rtcp_mux {
            u32::from(remote.port)
        } else {
            u32::from(remote.port) + 1
        },
        rtcp_mux: remote.rtcp_mux,
        payload_types: remote.payload_types.clone(),
        telephone_event_payload_type: remote.telephone_event,
        ..pb::UpdateLegRequest::default()
    }
}

async fn allocate(
    pool: &MediaPool,
    call_uuid: &str,
    offer: &[u8],
    rtp_timeout_ms: u32,
) -> Result<(Session, Vec<u8>), MediaTaskError> {
    let sdp = parse(offer)?;
    let remote = remote_of(&sdp)?;
    let options = AllocateOptions {
        leg_a: pb::LegOptions {
            rtcp_mux: remote.rtcp_mux,
            rtp_timeout_ms,
            ..pb::LegOptions::default()
        },
        leg_b: pb::LegOptions {
            rtp_timeout_ms,
            ..pb::LegOptions::default()
        },
    };
    let allocation = pool.allocate(call_uuid, options).await?;
    let session = Session::new(allocation, Origins::new());
    let rest = async {
        pool.update_leg(update_request(&session.id, pb::Leg::A, &remote))
            .await?;
        anchor(sdp, remote.index, &session, pb::Leg::B)
    };
    match rest.await {
        Ok(b_offer) => Ok((session, b_offer)),
        Err(e) => {
            let _ = pool.release(&session.id).await;
            Err(e)
        }
    }
}

/// Our offer for a call we originate (before anchoring on the node): G.711 both laws and RFC 4733
/// events, as every SIP phone and trunk takes.
const OUR_OFFER: &str = "v=0\r\no=switchboard 1 1 IN IP4 192.0.2.1\r\ns=switchboard\r\n\
c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
a=sendrecv\r\n";

/// Allocates a session for a call without the caller's offer and returns our offer anchored on its
/// `leg` (no leg is pointed anywhere until the answers come).
async fn allocate_offering(
    pool: &MediaPool,
    call_uuid: &str,
    leg: Leg,
    rtp_timeout_ms: u32,
) -> Result<(Session, Vec<u8>), MediaTaskError> {
    let each = pb::LegOptions {
        rtp_timeout_ms,
        ..pb::LegOptions::default()
    };
    let options = AllocateOptions {
        leg_a: each,
        leg_b: each,
    };
    let allocation = pool.allocate(call_uuid, options).await?;
    let session = Session::new(allocation, Origins::new());
    let node_leg = match leg {
        Leg::A => pb::Leg::A,
        Leg::B => pb::Leg::B,
    };
    match anchor(parse(OUR_OFFER.as_bytes())?, 0, &session, node_leg) {
        Ok(offer) => Ok((session, offer)),
        Err(e) => {
            let _ = pool.release(&session.id).await;
            Err(e)
        }
    }
}

/// What moving a call needs: each leg's last SDP and the SDP last sent to each leg.
#[derive(Debug, Clone)]
pub(crate) struct MoveSdps {
    pub(crate) a_sdp: Vec<u8>,
    pub(crate) b_sdp: Vec<u8>,
    pub(crate) sent_a: Vec<u8>,
    pub(crate) sent_b: Vec<u8>,
}

/// A new session pointed at both legs' last SDPs, and the re-INVITE offers for A and B: the other
/// leg's SDP anchored on the new session, continuing the `o=` last sent to that leg, one version up.
async fn relocate(
    pool: &MediaPool,
    call_uuid: &str,
    sdps: &MoveSdps,
    rtp_timeout_ms: u32,
) -> Result<(Session, Vec<u8>, Vec<u8>), MediaTaskError> {
    let (a, b) = (parse(&sdps.a_sdp)?, parse(&sdps.b_sdp)?);
    let (remote_a, remote_b) = (remote_of(&a)?, remote_of(&b)?);
    let leg = |rtcp_mux| pb::LegOptions {
        rtcp_mux,
        rtp_timeout_ms,
        ..pb::LegOptions::default()
    };
    let options = AllocateOptions {
        leg_a: leg(remote_a.rtcp_mux),
        leg_b: leg(remote_b.rtcp_mux),
    };
    let allocation = pool.allocate(call_uuid, options).await?;
    let origins = Origins::continuing(&sdps.sent_a, &sdps.sent_b);
    let session = Session::new(allocation, origins);
    let rest = async {
        for (node_leg, remote) in [(pb::Leg::A, &remote_a), (pb::Leg::B, &remote_b)] {
            if !remote.address.is_unspecified() {
                pool.update_leg(update_request(&session.id, node_leg, remote))
                    .await?;
            }
        }
        Ok::<_, MediaTaskError>((
            anchor(b, remote_b.index, &session, pb::Leg::A)?,
            anchor(a, remote_a.index, &session, pb::Leg::B)?,
        ))
    };
    match rest.await {
        Ok((a_offer, b_offer)) => Ok((session, a_offer, b_offer)),
        Err(e) => {
            let _ = pool.release(&session.id).await;
            Err(e)
        }
    }
}

/// Points the node's `leg` at `sdp` (unless it holds with an unspecified address) and anchors it on
/// the other leg; returns the rewritten SDP and whether it puts the stream on hold.
async fn update(
    pool: &MediaPool,
    session: &Session,
    leg: Leg,
    sdp: &[u8],
) -> Result<(Vec<u8>, bool), MediaTaskError> {
    let sdp = parse(sdp)?;
    let remote = remote_of(&sdp)?;
    let (node_leg, other) = match leg {
        Leg::A => (pb::Leg::A, pb::Leg::B),
        Leg::B => (pb::Leg::B, pb::Leg::A),
    };
    if !remote.address.is_unspecified() {
        pool.update_leg(update_request(&session.id, node_leg, &remote))
            .await?;
    }
    Ok((anchor(sdp, remote.index, session, other)?, remote.hold))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
m=video 4002 RTP/AVP 96\r\n";

    #[test]
    fn codec_is_the_first_payload_type_of_the_first_active_stream() {
        assert_eq!(
            negotiated_codec(OFFER.as_bytes()).as_deref(),
            Some("PCMA/8000")
        );
        let static_pt = OFFER
            .replace("RTP/AVP 8 101", "RTP/AVP 0")
            .replace("a=rtpmap:8 PCMA/8000\r\n", "");
        assert_eq!(
            negotiated_codec(static_pt.as_bytes()).as_deref(),
            Some("PCMU/8000"),
            "RFC 3551 static type without rtpmap"
        );
        let opus = OFFER
            .replace("RTP/AVP 8 101", "RTP/AVP 111")
            .replace("8 PCMA/8000", "111 opus/48000/2");
        assert_eq!(
            negotiated_codec(opus.as_bytes()).as_deref(),
            Some("opus/48000")
        );
        assert_eq!(negotiated_codec(b"not sdp"), None);
    }

    /// A session on a node at 127.0.0.1, RTP port 30000 on both legs.
    fn loopback_session() -> Session {
        let local = pb::LocalEndpoint {
            address: "127.0.0.1".into(),
            rtp_port: 30000,
            rtcp_port: 30001,
        };
        Session {
            id: "s1".into(),
            leg_a: local.clone(),
            leg_b: local,
            origins: Arc::new(Origins::new()),
        }
    }

    #[test]
    fn rfc3264_s6_first_audio_anchored_other_streams_refused() {
        let sdp = parse(OFFER.as_bytes()).expect("sdp");
        let remote = remote_of(&sdp).expect("remote");
        assert_eq!(remote.address.to_string(), "192.0.2.10");
        assert_eq!((remote.port, remote.index), (4000, 0));
        assert_eq!(remote.payload_types, [8, 101]);
        assert_eq!(remote.telephone_event, Some(101));
        let out = anchor(sdp, 0, &loopback_session(), pb::Leg::B).expect("anchor");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("c=IN IP4 127.0.0.1"), "{text}");
        assert!(text.contains("m=audio 30000 "), "{text}");
        assert!(text.contains("m=video 0 "), "{text}");
        assert!(
            text.contains("o=switchboard ") && text.contains(" 1 IN IP4 127.0.0.1"),
            "our own origin, first version: {text}"
        );
        assert!(!text.contains("192.0.2.10"), "{text}");
    }

    #[test]
    fn rfc3264_s8_4_hold_is_seen_and_an_unspecified_address_stays_unspecified() {
        let c0 = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 8\r\na=sendonly\r\n";
        let sdp = parse(c0.as_bytes()).expect("sdp");
        let remote = remote_of(&sdp).expect("remote");
        assert!(remote.hold && remote.address.is_unspecified());
        let out = anchor(sdp, 0, &loopback_session(), pb::Leg::B).expect("anchor");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("c=IN IP4 0.0.0.0"), "{text}");
        assert!(
            text.contains("m=audio 30000 ") && text.contains("a=sendonly"),
            "{text}"
        );
        for (direction, hold) in [("sendrecv", false), ("recvonly", true), ("inactive", true)] {
            let sdp = OFFER.replace("m=video 4002 RTP/AVP 96\r\n", &format!("a={direction}\r\n"));
            let remote = remote_of(&parse(sdp.as_bytes()).expect("sdp")).expect("remote");
            assert_eq!(remote.hold, hold, "{direction}");
        }
    }

    #[test]
    fn offer_without_address_or_active_stream_is_refused() {
        let no_c = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert!(remote_of(&parse(no_c.as_bytes()).expect("sdp")).is_err());
        let held = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 0 RTP/AVP 0\r\n";
        assert!(remote_of(&parse(held.as_bytes()).expect("sdp")).is_err());
        assert!(parse(b"not sdp").is_err());
    }
}
