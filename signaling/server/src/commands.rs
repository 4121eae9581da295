//! Commands over NATS request-reply: the REST API's operator actions for scripts that already speak
//! NATS. Requests on `<prefix>` (broadcast; an optional `"node"` field picks one node, others stay
//! silent) and `<prefix>.<node_id>` (this node only) carry JSON such as
//! `{"command": "hangup", "uuid": "…"}`; the reply is `{"ok": true, "node": "…", "result": …}` or
//! `{"ok": false, "node": "…", "error": {"code", "message", "field"}}`.
//!
//! Commands: `status`, `hangup {uuid}`, `dtmf {uuid, leg, digits}`, `transfer {uuid, target}`,
//! `originate {from, to, domain?}` (on the per-node subject, or on the broadcast subject with a
//! `"node"`, so one node places the call), `drain {media_node}`, `undrain {media_node}`, `reload`. The connection is retried with backoff while the server is away.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::core::Core;
use crate::core::inspect::CallActionError;
use crate::core::originate::OriginateInput;
use crate::reload::Reloader;

/// What a command request may hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    command: String,
    node: Option<String>,
    uuid: Option<String>,
    leg: Option<String>,
    digits: Option<String>,
    media_node: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    domain: Option<String>,
}

/// A typed command error.
struct CommandError {
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl CommandError {
    fn field(field: impl Into<String>, message: impl Into<String>) -> CommandError {
        CommandError {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// Serves commands until `shutdown`.
pub async fn serve(
    url: String,
    prefix: String,
    node_id: String,
    core: Arc<Core>,
    reloader: Reloader,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = tokio::select! {
            c = async_nats::connect(url.as_str()) => c,
            () = shutdown.cancelled() => return,
        };
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(url, error = %e, "NATS command connection failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let subs = futures_util::future::try_join(
            client.subscribe(prefix.clone()),
            client.subscribe(format!("{prefix}.{node_id}")),
        )
        .await;
        let (broadcast, direct) = match subs {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "NATS command subscription failed; retrying");
                continue;
            }
        };
        tracing::info!(url, prefix, node_id, "serving commands over NATS");
        let mut messages = futures_util::stream::select(broadcast, direct);
        loop {
            let msg = tokio::select! {
                m = messages.next() => m,
                () = shutdown.cancelled() => return,
            };
            let Some(msg) = msg else {
                tracing::warn!("NATS command subscription ended; reconnecting");
                break;
            };
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let direct = msg.subject.as_str() != prefix;
            if let Some(answer) = answer(&msg.payload, direct, &node_id, &core, &reloader).await {
                let body = serde_json::to_vec(&answer).unwrap_or_default();
                if let Err(e) = client.publish(reply, body.into()).await {
                    tracing::warn!(error = %e, "NATS command reply failed");
                }
            }
        }
    }
}

/// The reply to one request; `None` when a broadcast names another node.
async fn answer(
    payload: &[u8],
    direct: bool,
    node: &str,
    core: &Core,
    reloader: &Reloader,
) -> Option<Value> {
    let result = match serde_json::from_slice::<Request>(payload) {
        Ok(req) => {
            if !direct && req.node.as_deref().is_some_and(|n| n != node) {
                return None;
            }
            if !direct && req.node.is_none() && req.command == "originate" {
                // Every node would place the call.
                Err(CommandError::field(
                    "node",
                    "originate on the broadcast subject needs the node to place the call",
                ))
            } else {
                execute(&req, core, reloader).await
            }
        }
        Err(e) => {
            let text = e.to_string();
            let field = crate::api::serde_field(&text).unwrap_or("body").to_owned();
            Err(CommandError::field(
                field,
                format!("invalid JSON command: {text}"),
            ))
        }
    };
    Some(match result {
        Ok(result) => json!({"ok": true, "node": node, "result": result}),
        Err(e) => json!({"ok": false, "node": node,
            "error": {"code": e.code, "message": e.message, "field": e.field}}),
    })
}

async fn execute(req: &Request, core: &Core, reloader: &Reloader) -> Result<Value, CommandError> {
    let uuid = || {
        req.uuid
            .as_deref()
            .ok_or_else(|| CommandError::field("uuid", "required"))
    };
    let call_error = |e: CallActionError| match e {
        CallActionError::NotFound => CommandError {
            code: "not_found",
            message: "no live call with that uuid".into(),
            field: Some("uuid".into()),
        },
        CallActionError::NoMedia => CommandError {
            code: "no_media",
            message: "the call has no media session yet".into(),
            field: None,
        },
        CallActionError::Invalid(f, why) => CommandError::field(f, why),
        CallActionError::Refused(why) => CommandError {
            code: "media_refused",
            message: why,
            field: None,
        },
        CallActionError::NotAnswered => CommandError {
            code: "not_answered",
            message: "the call is not answered on both legs, or busy with another request".into(),
            field: None,
        },
        CallActionError::NoRoute(code, reason) => CommandError {
            code: "no_route",
            message: format!("the dialplan answers {code} {reason}"),
            field: Some("target".into()),
        },
        CallActionError::Unroutable(field, code, reason) => CommandError {
            code: "no_route",
            message: format!("the dialplan answers {code} {reason}"),
            field: Some(field.into()),
        },
        CallActionError::AtCapacity => CommandError {
            code: "max_calls",
            message: "sip.max_calls calls are in progress; try again later".into(),
            field: None,
        },
    };
    match req.command.as_str() {
        "status" => Ok(json!({
            "calls_active": core.call_count(),
            "registrations": core.registration_count(),
            "transactions": core.transaction_count(),
            "media_nodes": core.media_pool().snapshot().iter()
                .map(|n| json!({"name": n.name, "status": n.status.as_str(), "sessions": n.sessions}))
                .collect::<Vec<_>>(),
            "dialplan_rules": reloader.current().len(),
        })),
        "hangup" => {
            let uuid = uuid()?;
            core.hang_up(uuid).map_err(call_error)?;
            Ok(json!({"uuid": uuid, "hangup": true}))
        }
        "dtmf" => {
            let uuid = uuid()?;
            let leg = req
                .leg
                .as_deref()
                .ok_or_else(|| CommandError::field("leg", "required"))?;
            let digits = req
                .digits
                .as_deref()
                .ok_or_else(|| CommandError::field("digits", "required"))?;
            core.send_dtmf(uuid, leg, digits)
                .await
                .map_err(call_error)?;
            Ok(json!({"uuid": uuid, "leg": leg, "digits": digits}))
        }
        "transfer" => {
            let uuid = uuid()?;
            let target = req
                .target
                .as_deref()
                .ok_or_else(|| CommandError::field("target", "required"))?;
            let uri = core.transfer(uuid, target).await.map_err(call_error)?;
            Ok(json!({"uuid": uuid, "target": target, "request_uri": uri}))
        }
        "drain" | "undrain" => {
            let name = req
                .media_node
                .as_deref()
                .ok_or_else(|| CommandError::field("media_node", "required"))?;
            if !core.media_pool().snapshot().iter().any(|n| n.name == name) {
                return Err(CommandError {
                    code: "not_found",
                    message: format!("no media node {name:?}"),
                    field: Some("media_node".into()),
                });
            }
            let pool = core.media_pool_handle();
            let (name, drain) = (name.to_owned(), req.command == "drain");
            tokio::spawn(async move {
                let r = if drain {
                    pool.drain(&name).await
                } else {
                    pool.undrain(&name).await
                };
                if let Err(e) = r {
                    tracing::warn!(node = name, error = %e, "drain command failed");
                }
            });
            Ok(json!({"media_node": req.media_node, "draining": req.command == "drain"}))
        }
        "reload" => match reloader.reload() {
            Ok(rules) => Ok(json!({"rules": rules})),
            Err(issues) => Err(CommandError {
                code: "invalid_dialplan",
                message: issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                field: Some("dialplan.file".into()),
            }),
        },
        "originate" => {
            let required = |v: &Option<String>, name: &'static str| {
                v.clone()
                    .ok_or_else(|| CommandError::field(name, "required"))
            };
            let input = OriginateInput {
                from: required(&req.from, "from")?,
                to: required(&req.to, "to")?,
                domain: req.domain.clone(),
            };
            let (from, to) = (input.from.clone(), input.to.clone());
            let uuid = core.originate(input).await.map_err(call_error)?;
            Ok(json!({"uuid": uuid, "from": from, "to": to}))
        }
        other => Err(CommandError::field(
            "command",
            format!(
                "{other:?} is not one of status, hangup, transfer, originate, dtmf, drain, \
                 undrain, reload"
            ),
        )),
    }
}
