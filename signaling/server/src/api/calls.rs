//! `/api/v1/calls`: live calls with both legs, media node and quality; originate; hang up; blind
//! transfer; send DTMF.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, json_body};
use crate::core::call_registry::CallRecord;
use crate::core::inspect::{CallActionError, LegsView};
use crate::core::originate::OriginateInput;

/// A call with its legs' media statistics.
#[derive(Debug, Serialize)]
pub(super) struct CallView {
    #[serde(flatten)]
    call: CallRecord,
    duration_secs: u64,
    legs: Option<LegsView>,
}

fn view(call: CallRecord, stats: &mut std::collections::HashMap<String, LegsView>) -> CallView {
    let since = call.answered_at.unwrap_or(call.started_at);
    let duration_secs = std::time::SystemTime::now()
        .duration_since(since)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let legs = call.media_session.as_ref().and_then(|s| stats.remove(s));
    CallView {
        call,
        duration_secs,
        legs,
    }
}

pub(super) async fn list(State(s): State<ApiState>) -> Json<Vec<CallView>> {
    let calls = s.core.calls();
    let mut stats = if calls.is_empty() {
        Default::default()
    } else {
        s.core.media_stats().await
    };
    Json(calls.into_iter().map(|c| view(c, &mut stats)).collect())
}

pub(super) async fn get(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    let call = s.core.call(&uuid).ok_or_else(|| not_found(&uuid))?;
    let mut stats = s.core.media_stats().await;
    Ok(Json(view(call, &mut stats)))
}

fn not_found(uuid: &str) -> ApiError {
    ApiError::not_found(format!("no live call {uuid:?}"))
}

fn action_error(uuid: &str, e: CallActionError) -> ApiError {
    match e {
        CallActionError::NotFound => not_found(uuid),
        CallActionError::NoMedia => ApiError::new(
            StatusCode::CONFLICT,
            "no_media",
            "the call has no media session yet",
        ),
        CallActionError::Invalid(field, why) => ApiError::field(field, why),
        CallActionError::Refused(why) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "media_refused",
            format!("the media node refused: {why}"),
        ),
        CallActionError::NotAnswered => ApiError::new(
            StatusCode::CONFLICT,
            "not_answered",
            "the call is not answered on both legs, or is busy with another request",
        ),
        CallActionError::NoRoute(code, reason) => {
            ApiError::field("target", format!("the dialplan answers {code} {reason}"))
        }
        CallActionError::Unroutable(field, code, reason) => {
            ApiError::field(field, format!("the dialplan answers {code} {reason}"))
        }
        CallActionError::AtCapacity => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "max_calls",
            "sip.max_calls calls are in progress; try again later",
        ),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginateBody {
    from: String,
    to: String,
    domain: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Originated {
    uuid: String,
    from: String,
    to: String,
}

/// `POST /api/v1/calls`: originate a call; `201` with its UUID once the first party is rung.
pub(super) async fn originate(
    State(s): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Originated>), ApiError> {
    let b: OriginateBody = json_body(&body)?;
    let input = OriginateInput {
        from: b.from.clone(),
        to: b.to.clone(),
        domain: b.domain,
    };
    let uuid = s
        .core
        .originate(input)
        .await
        .map_err(|e| action_error("", e))?;
    Ok((
        StatusCode::CREATED,
        Json(Originated {
            uuid,
            from: b.from,
            to: b.to,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    target: String,
}

#[derive(Serialize)]
pub(super) struct Transferred {
    uuid: String,
    target: String,
    request_uri: String,
}

pub(super) async fn transfer(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Result<Json<Transferred>, ApiError> {
    let b: TransferBody = json_body(&body)?;
    let request_uri = s
        .core
        .transfer(&uuid, &b.target)
        .await
        .map_err(|e| action_error(&uuid, e))?;
    Ok(Json(Transferred {
        uuid,
        target: b.target,
        request_uri,
    }))
}

#[derive(Serialize)]
pub(super) struct HungUp {
    uuid: String,
    hangup: bool,
}

pub(super) async fn hang_up(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<HungUp>, ApiError> {
    s.core.hang_up(&uuid).map_err(|e| action_error(&uuid, e))?;
    Ok(Json(HungUp { uuid, hangup: true }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DtmfBody {
    leg: String,
    digits: String,
}

#[derive(Serialize)]
pub(super) struct DtmfQueued {
    uuid: String,
    leg: String,
    digits: String,
}

pub(super) async fn dtmf(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<DtmfQueued>), ApiError> {
    let b: DtmfBody = json_body(&body)?;
    s.core
        .send_dtmf(&uuid, &b.leg, &b.digits)
        .await
        .map_err(|e| action_error(&uuid, e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DtmfQueued {
            uuid,
            leg: b.leg,
            digits: b.digits,
        }),
    ))
}
