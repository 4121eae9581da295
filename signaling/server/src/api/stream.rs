//! The event stream, shared by its two transports: `GET /api/v1/events` (Server-Sent Events, this
//! file) and `GET /api/v1/events/ws` (WebSocket, [`super::ws`]).
//!
//! Both take the same query and deliver the same items: every journaled event (its envelope JSON,
//! exactly as stored), or a `lagged` notice when the journal no longer holds the events asked for
//! (`{"type":"lagged","missed_from":N,"resumed_at":M}`; no event type is named `lagged`). A client
//! resumes without gaps with the `Last-Event-ID` header (what browsers send on SSE reconnect), the
//! `last_event_id` query parameter (what a browser WebSocket can send) or `?after=<seq>`; without
//! any it gets new events only. `?type=<prefix>` (e.g. `call_`) and `?call_uuid=` filter. A bad
//! query is refused with `400` naming the field, before any stream starts.
//!
//! Each SSE message carries `id:` the event id, `event:` its type and `data:` the JSON.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use switchboard_events::{Envelope, EventBus, Lagged, StoredEvent, Subscription};

use super::{ApiError, ApiState};

/// Query of `GET /api/v1/events` and `GET /api/v1/events/ws`. Values stay text here so that a
/// bad one is reported with its own name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    after: Option<String>,
    last_event_id: Option<String>,
    #[serde(rename = "type")]
    type_prefix: Option<String>,
    call_uuid: Option<String>,
}

/// The query as the extractor hands it over (a malformed query is still ours to report).
pub(super) type StreamQueryResult = Result<Query<StreamQuery>, QueryRejection>;

/// One item of the stream: a journaled event, or a hole the subscriber fell into.
pub(super) type StreamItem = Result<Arc<StoredEvent>, Lagged>;

/// The filtered event stream of one client (it owns its journal subscription).
pub(super) type EventStream = Pin<Box<dyn Stream<Item = StreamItem> + Send>>;

/// Which events a client wants.
struct Filter {
    type_prefix: Option<String>,
    call_uuid: Option<String>,
}

impl Filter {
    fn keeps(&self, envelope: &Envelope) -> bool {
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

/// Validates the query and subscribes: the filtered stream of events, or the `400` naming the
/// bad field. The stream reads the journal at the client's pace (a bounded batch at a time) and
/// ends when the event bus shuts down; dropping it drops the subscription.
pub(super) fn open(
    bus: &EventBus,
    headers: &HeaderMap,
    query: StreamQueryResult,
) -> Result<EventStream, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let after = q
        .after
        .map(|a| {
            a.parse::<u64>().map_err(|_| {
                ApiError::field("after", format!("{a:?} is not a journal seq (an integer)"))
            })
        })
        .transpose()?;
    let header_id = headers
        .get("last-event-id")
        .map(|v| v.to_str().map(str::to_owned));
    let last_id = match (header_id, q.last_event_id) {
        (Some(Ok(id)), _) => Some(("Last-Event-ID", id)),
        (Some(Err(_)), _) => {
            return Err(ApiError::field("Last-Event-ID", "not visible ASCII text"));
        }
        (None, Some(id)) => Some(("last_event_id", id)),
        (None, None) => None,
    };
    let subscription = match last_id {
        Some((field, id)) => bus.subscribe_after_id(&id).ok_or_else(|| {
            ApiError::field(field, format!("{id:?} is not an event id of this node"))
        })?,
        None => bus.subscribe(after),
    };
    let filter = Filter {
        type_prefix: q.type_prefix,
        call_uuid: q.call_uuid,
    };
    Ok(Box::pin(futures_util::stream::unfold(
        (subscription, filter),
        next_item,
    )))
}

/// A rejected query as `400`, naming the parameter when serde named one (an unknown one).
fn query_error(e: QueryRejection) -> ApiError {
    let text = e.body_text();
    let field = super::serde_field(&text).unwrap_or("query").to_owned();
    ApiError::field(&field, text)
}

async fn next_item(
    (mut sub, filter): (Subscription, Filter),
) -> Option<(StreamItem, (Subscription, Filter))> {
    loop {
        match sub.next().await? {
            Ok(stored) if !filter.keeps(&stored.envelope) => continue,
            item => return Some((item, (sub, filter))),
        }
    }
}

/// The JSON of a `lagged` notice.
pub(super) fn lagged_json(lagged: &Lagged) -> String {
    format!(
        "{{\"type\":\"lagged\",\"missed_from\":{},\"resumed_at\":{}}}",
        lagged.missed_from, lagged.resumed_at
    )
}

/// `GET /api/v1/events`: the stream as Server-Sent Events, with a comment every 15 s.
pub(super) async fn events(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: StreamQueryResult,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let stream = open(s.core.events().bus(), &headers, query)?.map(|item| {
        Ok(match item {
            Ok(stored) => SseEvent::default()
                .id(stored.envelope.id.clone())
                .event(stored.envelope.event.type_name())
                .data(String::from_utf8_lossy(&stored.json)),
            Err(lagged) => SseEvent::default()
                .event("lagged")
                .data(lagged_json(&lagged)),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
