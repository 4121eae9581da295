//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`. A test checks that it describes
//! exactly the routes the router serves (`routes::ROUTES`).

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({
        "200": {"description": description, "content": {"application/json": {"schema": schema}}},
        "401": error_response("missing or wrong bearer token")
    })
}

fn with(mut responses: Value, status: &str, description: &str) -> Value {
    responses[status] = error_response(description);
    responses
}

fn path_param(name: &str, description: &str) -> Value {
    json!([{"name": name, "in": "path", "required": true, "description": description,
            "schema": {"type": "string"}}])
}

/// Query and header parameters of the event stream (SSE and WebSocket).
fn stream_parameters() -> Value {
    json!([
        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "start after this journal seq (replay from the journal, then live)"},
        {"name": "last_event_id", "in": "query", "schema": {"type": "string"}, "description": "start after this event id (for clients that cannot set `Last-Event-ID`)"},
        {"name": "type", "in": "query", "schema": {"type": "string"}, "description": "event type prefix, e.g. `call_`"},
        {"name": "call_uuid", "in": "query", "schema": {"type": "string"}, "description": "only the events of this call"},
        {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}, "description": "start after this event id; wins over `last_event_id` and `after`"}
    ])
}

/// The document.
pub(super) fn document() -> Value {
    let object = json!({"type": "object"});
    let array = json!({"type": "array", "items": {"type": "object"}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard call-control API",
            "version": "1",
            "description": "REST API of switchboard-signaling. Every route needs `Authorization: Bearer <token>`; the token is set in `[http] api_token` or generated at first start into `[http] api_token_file` (mode 0600). Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                       "field": {"type": "string", "description": "the offending request field"}}}}
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": ok("the OpenAPI document", object.clone())}},
            "/api/v1/stats": {"get": {"summary": "Server counters: active calls, transactions, registrations, TCP connections, media sessions, dropped and malformed messages", "responses": ok("counters", object.clone())}},
            "/api/v1/registrations": {"get": {"summary": "Every address-of-record with its live contacts (URI, expiry, q, user agent, source)", "responses": ok("registrations", array.clone())}},
            "/api/v1/registrations/{aor}": {"delete": {
                "summary": "Remove every binding of an address-of-record (`user@domain`), or only the one whose contact URI is `contact`",
                "parameters": [
                    {"name": "aor", "in": "path", "required": true, "description": "user@domain, optionally with `sip:`", "schema": {"type": "string"}},
                    {"name": "contact", "in": "query", "required": false, "description": "remove only this contact URI", "schema": {"type": "string"}}
                ],
                "responses": with(with(ok("how many bindings were removed", object.clone()), "400", "not user@domain"), "404", "no binding")
            }},
            "/api/v1/media-nodes": {"get": {"summary": "Media nodes with status, sessions, capacity, free ports and load", "responses": ok("nodes", array.clone())}},
            "/api/v1/trunks": {"get": {"summary": "Trunks with their address and transport, OPTIONS keepalive state: status (up, down, unprobed), probes sent and failed, failures in a row, last status and round-trip time, when it last changed; and our registration at the trunk (status, expiry, last failure)", "responses": ok("trunks", array.clone())}},
            "/api/v1/bans": {"get": {"summary": "Addresses banned for failing digest authentication (`[security]`): ip, seconds_left, until", "responses": ok("bans", array.clone())}},
            "/api/v1/bans/{ip}": {"delete": {
                "summary": "Lift the ban on an address (its failure count starts over)",
                "parameters": path_param("ip", "the banned IP address"),
                "responses": with(with(ok("`{ip, lifted: true}`", object.clone()), "400", "not an IP address (field `ip`)"), "404", "the address is not banned")
            }},
            "/api/v1/media-nodes/{name}/drain": {"post": {
                "summary": "Drain a node: it keeps its calls and takes no new ones",
                "parameters": path_param("name", "node name"),
                "responses": with(with(ok("drained", object.clone()), "404", "no such node"), "502", "the node refused")
            }},
            "/api/v1/media-nodes/{name}/undrain": {"post": {
                "summary": "Let a drained node take new calls again",
                "parameters": path_param("name", "node name"),
                "responses": with(with(ok("undrained", object.clone()), "404", "no such node"), "502", "the node refused")
            }},
            "/api/v1/dialplan": {"get": {"summary": "The running dialplan: file and rules (name, action)", "responses": ok("the plan", object.clone())}},
            "/api/v1/dialplan/validate": {"post": {
                "summary": "Validate a candidate dialplan (TOML in the body) without installing it; lists every error with its key path",
                "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
                "responses": with(ok("`valid`, `rules` and `errors` ({path, message})", object.clone()), "400", "body is not UTF-8")
            }},
            "/api/v1/dialplan/reload": {"post": {
                "summary": "Re-read the dialplan file (as SIGHUP does); a file with errors is refused and the running plan stays",
                "responses": with(ok("the new plan", object.clone()), "422", "the file was refused")
            }},
            "/api/v1/events": {"get": {
                "summary": "The event stream (Server-Sent Events): one message per journaled event, `id` = event id, `event` = type, `data` = envelope JSON. Resume without gaps with `Last-Event-ID` (header or query) or `after`; without either, new events only; `type` (prefix) and `call_uuid` filter. A `lagged` message (`data` = `{\"type\":\"lagged\",\"missed_from\":N,\"resumed_at\":M}`) reports events the journal no longer holds. A comment every 15 s keeps the connection alive.",
                "parameters": stream_parameters(),
                "responses": with({
                    let mut r = ok("event stream", json!({"type": "string"}));
                    r["200"]["content"] = json!({"text/event-stream": {"schema": {"type": "string"}}});
                    r
                }, "400", "an invalid query or Last-Event-ID (`field` names it)")
            }},
            "/api/v1/events/ws": {"get": {
                "summary": "The event stream over a WebSocket, with the query, resume and filter semantics of `/api/v1/events`. Each event is one text frame holding the envelope JSON (as SSE `data`); a hole is the text frame `{\"type\":\"lagged\",\"missed_from\":N,\"resumed_at\":M}`. The server pings every 15 s and drops a client that answers nothing for two intervals or takes no frame for 30 s; frames from the client are ignored; Close is answered. On shutdown the server closes with 1001. Errors come before the upgrade, as JSON.",
                "parameters": stream_parameters(),
                "responses": {
                    "101": {"description": "switching to the WebSocket protocol; then one text frame per event"},
                    "400": error_response("an invalid query or Last-Event-ID (`field` names it), or not a WebSocket handshake"),
                    "401": error_response("missing or wrong bearer token"),
                    "426": error_response("the connection cannot be upgraded")
                }
            }},
            "/api/v1/calls": {
                "get": {"summary": "Live calls: uuid, state (setup, ringing, early_media, answered), from, to, both Call-IDs, start and answer time, duration, media node and session, legs on hold, negotiated codec, per-leg media statistics (packets, loss, jitter)", "responses": ok("calls", array.clone())},
                "post": {
                    "summary": "Originate a call: ring `from` (a registered user or a number, routed by the dialplan as if `to` dialled it) with our own G.711/telephone-event offer, and once it answers call `to` (routed as if `from` dialled it) and connect them on one media session; if `to` refuses or does not answer, `from` is hung up. Progress comes as call events and in the calls list",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["from", "to"], "additionalProperties": false,
                        "properties": {"from": {"type": "string", "pattern": "^[A-Za-z0-9+*#._-]{1,64}$"},
                                       "to": {"type": "string", "pattern": "^[A-Za-z0-9+*#._-]{1,64}$"},
                                       "domain": {"type": "string", "description": "SIP domain of both parties; default: the first registrar domain, else our SIP address"}}}}}},
                    "responses": {
                        "201": {"description": "the first party is being called: `{uuid, from, to}`", "content": {"application/json": {"schema": object.clone()}}},
                        "400": error_response("an invalid field, or a party the dialplan does not route (field `from` or `to`)"),
                        "401": error_response("missing or wrong bearer token"),
                        "503": error_response("`sip.max_calls` calls are in progress (code `max_calls`)")
                    }
                }
            },
            "/api/v1/calls/{uuid}": {
                "get": {"summary": "One live call", "parameters": path_param("uuid", "call UUID"),
                        "responses": with(ok("the call", object.clone()), "404", "no such live call")},
                "delete": {"summary": "Hang up a call (BYE, or CANCEL while ringing, on both legs)", "parameters": path_param("uuid", "call UUID"),
                           "responses": with(ok("`{uuid, hangup: true}`", object.clone()), "404", "no such live call")}
            },
            "/api/v1/calls/{uuid}/dtmf": {"post": {
                "summary": "Send DTMF into a call as RFC 4733 events towards one leg (100 ms tones, 60 ms apart)",
                "parameters": path_param("uuid", "call UUID"),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["leg", "digits"], "additionalProperties": false,
                    "properties": {"leg": {"enum": ["a", "b"]}, "digits": {"type": "string", "pattern": "^[0-9*#A-Da-d]{1,32}$"}}}}}},
                "responses": {
                    "202": {"description": "scheduled", "content": {"application/json": {"schema": object.clone()}}},
                    "400": error_response("an invalid field"), "401": error_response("missing or wrong bearer token"),
                    "404": error_response("no such live call"), "409": error_response("the call has no media session yet"),
                    "422": error_response("the media node refused (e.g. the leg negotiated no telephone-event)")
                }
            }},
            "/api/v1/calls/{uuid}/transfer": {"post": {
                "summary": "Blind transfer: hang up the callee's leg and connect the caller to `target` (a number or user, routed by the dialplan as if the caller dialled it) on the same media session; the caller is hung up if the target does not answer",
                "parameters": path_param("uuid", "call UUID"),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["target"], "additionalProperties": false,
                    "properties": {"target": {"type": "string", "pattern": "^[A-Za-z0-9+*#._-]{1,64}$"}}}}}},
                "responses": {
                    "200": {"description": "the new callee is being called (its Request-URI)", "content": {"application/json": {"schema": object.clone()}}},
                    "400": error_response("an invalid field, or a target the dialplan does not route (field `target`)"), "401": error_response("missing or wrong bearer token"),
                    "404": error_response("no such live call"), "409": error_response("the call is not answered on both legs, or busy with another request")
                }
            }},
            "/api/v1/dialplan/simulate": {"post": {
                "summary": "What the running dialplan would do with a call, without placing it: rule, rewritten numbers, action, B-leg targets in order or the refusal",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["called"], "additionalProperties": false,
                    "properties": {
                        "called": {"type": "string"}, "calling": {"type": "string"},
                        "domain": {"type": "string"}, "source_ip": {"type": "string"},
                        "trunk": {"type": "string", "description": "simulate a call from this trunk"},
                        "headers": {"type": "object", "additionalProperties": {"type": "string"}}
                    }}}}},
                "responses": with(ok("the simulated route", object), "400", "an invalid field")
            }}
        }
    })
}
