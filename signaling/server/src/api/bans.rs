//! `/api/v1/bans`: the addresses banned for failing authentication (`[security]`), and lifting one.

use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::{ApiError, ApiState};

/// One banned address.
#[derive(Debug, Serialize)]
pub(super) struct BanView {
    ip: String,
    /// Seconds until the ban expires.
    seconds_left: u64,
    /// When it expires (RFC 3339, UTC).
    until: String,
}

/// `GET /api/v1/bans`.
pub(super) async fn list(State(s): State<ApiState>) -> Json<Vec<BanView>> {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let bans = s.core.bans().list(now);
    Json(
        bans.into_iter()
            .map(|(ip, left)| BanView {
                ip: ip.to_string(),
                seconds_left: left.as_secs(),
                until: switchboard_events::envelope::rfc3339_utc(wall + left),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize)]
pub(super) struct Lifted {
    ip: String,
    lifted: bool,
}

/// `DELETE /api/v1/bans/{ip}`: 400 naming `ip` when it is not an address, 404 when not banned.
pub(super) async fn lift(
    State(s): State<ApiState>,
    Path(ip): Path<String>,
) -> Result<Json<Lifted>, ApiError> {
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| ApiError::field("ip", format!("{ip:?} is not an IP address")))?;
    if !s.core.bans().lift(addr, Instant::now()) {
        return Err(ApiError::not_found(format!("{ip} is not banned")));
    }
    tracing::info!(%addr, "ban lifted by an operator");
    Ok(Json(Lifted {
        ip: addr.to_string(),
        lifted: true,
    }))
}
