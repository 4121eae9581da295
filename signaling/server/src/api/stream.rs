//! `GET /api/v1/events`: the event stream as Server-Sent Events. Each SSE message carries one
//! journaled event (`id:` the event id, `event:` its type, `data:` the envelope JSON). A client
//! resumes without gaps with `Last-Event-ID` (what browsers send on reconnect) or `?after=<seq>`;
//! without either it gets new events only. `?type=<prefix>` (e.g. `call_`) and `?call_uuid=` filter.
//! When the journal no longer holds the events asked for, a `lagged` message says which seqs
//! were lost before the stream continues.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use switchboard_events::Subscription;

use super::{ApiError, ApiState};

/// Query of `GET /api/v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    after: Option<u64>,
    #[serde(rename = "type")]
    type_prefix: Option<String>,
    call_uuid: Option<String>,
}

struct Filter {
    type_prefix: Option<String>,
    call_uuid: Option<String>,
}

impl Filter {
    fn keeps(&self, envelope: &switchboard_events::Envelope) -> bool {
        let type_ok = self
            .type_prefix
            .as_deref()
            .is_none_or(|p| envelope.event.type_name().starts_with(p));
        let call_ok = self
            .call_uuid
            .as_deref()
            .is_none_or(|c| envelope.call_uuid.as_deref() == Some(c));
        type_ok && call_ok
    }
}

pub(super) async fn events(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let bus = s.core.events().bus();
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let subscription = match (last_id, q.after) {
        (Some(id), _) => bus.subscribe_after_id(&id).ok_or_else(|| {
            ApiError::field(
                "Last-Event-ID",
                format!("{id:?} is not an event id of this node"),
            )
        })?,
        (None, after) => bus.subscribe(after),
    };
    let filter = Filter {
        type_prefix: q.type_prefix,
        call_uuid: q.call_uuid,
    };
    let stream = futures_util::stream::unfold((subscription, filter), next_message);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn next_message(
    (mut sub, filter): (Subscription, Filter),
) -> Option<(Result<SseEvent, Infallible>, (Subscription, Filter))> {
    loop {
        match sub.next().await? {
            Ok(stored) => {
                if !filter.keeps(&stored.envelope) {
                    continue;
                }
                let data = String::from_utf8_lossy(&stored.json).into_owned();
                let msg = SseEvent::default()
                    .id(stored.envelope.id.clone())
                    .event(stored.envelope.event.type_name())
                    .data(data);
                return Some((Ok(msg), (sub, filter)));
            }
            Err(lagged) => {
                let msg = SseEvent::default().event("lagged").data(format!(
                    "{{\"missed_from\":{},\"resumed_at\":{}}}",
                    lagged.missed_from, lagged.resumed_at
                ));
                return Some((Ok(msg), (sub, filter)));
            }
        }
    }
}
