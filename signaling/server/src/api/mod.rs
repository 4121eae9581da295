//! The REST API under `/api/v1` (JSON, bearer-token auth on every route) and its OpenAPI document.
//!
//! Files: `token` (the token: configured, read from its file, or generated there with mode 0600),
//! `routes` (the route table; handlers for stats, registrations, media nodes, dialplan), `calls`
//! (live calls, hang-up, DTMF), `stream` (the event stream: query, resume and filter shared by
//! both transports, and Server-Sent Events), `ws` (the same stream over a WebSocket), `openapi`
//! (the document served at `/api/v1/openapi.json`, checked against the router by a test).
//!
//! Errors are `{"error": {"code": "...", "message": "...", "field": "..."}}` with a 4xx/5xx status;
//! `field` names the offending request field when there is one.

mod bans;
mod calls;
mod openapi;
mod routes;
mod stream;
pub mod token;
mod ws;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::core::Core;
use crate::reload::Reloader;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The SIP core.
    pub core: Arc<Core>,
    /// The dialplan (current plan, validate, reload).
    pub reloader: Reloader,
    /// The bearer token.
    pub token: Arc<str>,
}

/// The `/api/v1` router with auth applied.
pub fn router(state: ApiState) -> Router {
    routes::routes()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

/// The JSON error every handler returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// An error with a status, a machine-readable code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// `400 invalid_field` naming `field`.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    /// `404 not_found`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Refuses a request without `Authorization: Bearer <token>` (401 with `WWW-Authenticate`).
async fn auth(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if token::matches(&state.token, t) => next.run(req).await,
        Some(_) => unauthorized("the bearer token is not valid"),
        None => unauthorized("an `Authorization: Bearer <token>` header is required"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"switchboard\""),
    );
    r
}

/// Parses a JSON body, naming the field serde complained about.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let field = serde_field(&text).unwrap_or("body");
        ApiError::field(field, format!("invalid JSON body: {text}"))
    })
}

/// The field a serde error message names first (``missing field `x` ``, ``unknown field `x`, …``).
pub(crate) fn serde_field(text: &str) -> Option<&str> {
    text.split('`').nth(1).filter(|_| text.contains("field"))
}

#[cfg(test)]
mod tests;
