//! The API in-process: a started server's router driven with `tower::ServiceExt::oneshot`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::routes::ROUTES;
use crate::config::{FileConfig, Overrides};

const TOKEN: &str = "test-token-0123456789abcdef";

struct Api {
    app: axum::Router,
    running: crate::Running,
    _dir: std::path::PathBuf,
}

async fn api_with(plan: &str) -> Api {
    let dir =
        std::env::temp_dir().join(format!("sb-api-{}-{:x}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let text = format!(
        "[sip]\nlisten = [\"127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n\
         [dialplan]\nfile = \"plan.toml\"\n\
         [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:5999\"\ninbound_ips = [\"192.0.2.0/24\"]\n\
         [[users]]\nusername = \"1001\"\npassword = \"1001pass\"\n"
    );
    std::fs::write(dir.join("sb.toml"), text).unwrap();
    let config = FileConfig::load(&dir.join("sb.toml"))
        .and_then(|f| f.validate(&Overrides::default()))
        .unwrap();
    let running = crate::start(config).await.unwrap();
    let state = super::ApiState {
        core: running.core.clone(),
        reloader: running.reloader.clone(),
        token: TOKEN.into(),
    };
    Api {
        app: crate::http::app(running.core.clone(), state),
        running,
        _dir: dir,
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

const PLAN: &str = r#"
[[rules]]
name = "outside line"
match.called = { prefix = "9" }
rewrite_called = { strip = 1 }
action = { kind = "trunk", trunks = ["carrier"] }
[[rules]]
name = "users"
action = { kind = "user" }
"#;

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        self.call("GET", path, Some(TOKEN), "").await
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, serde_json::Value) {
        self.call("POST", path, Some(TOKEN), body).await
    }

    async fn stop(self) {
        self.running.stop().await.unwrap();
        std::fs::remove_dir_all(&self._dir).ok();
    }
}

fn concrete(path: &str) -> String {
    path.replace("{aor}", "1001@example.com")
        .replace("{name}", "embedded")
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_token() {
    let api = api_with(PLAN).await;
    for (method, path) in ROUTES {
        let path = concrete(path);
        let m = method.to_uppercase();
        for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
            let (status, body) = api.call(&m, &path, token, "").await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{m} {path} with {token:?}"
            );
            assert_eq!(body["error"]["code"], "unauthorized", "{m} {path}");
        }
    }
    // Health stays open.
    for path in ["/health", "/health/live"] {
        assert_eq!(
            api.call("GET", path, None, "").await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn openapi_document_describes_exactly_the_served_routes() {
    let api = api_with(PLAN).await;
    let (status, doc) = api.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    // And every listed route is really routed (a missing route is axum's empty 404/405). The
    // event stream never ends; its test is below.
    for (method, path) in ROUTES.iter().filter(|(_, p)| *p != "/api/v1/events") {
        let (status, body) = api
            .call(&method.to_uppercase(), &concrete(path), Some(TOKEN), "{}")
            .await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND && body.is_null()),
            "{method} {path} is not routed ({status})"
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn route_simulation_shows_rule_rewrite_and_targets_and_names_bad_fields() {
    let api = api_with(PLAN).await;
    let (status, sim) = api
        .post(
            "/api/v1/dialplan/simulate",
            r#"{"called": "95551234", "calling": "1001"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(sim["rule"], "outside line");
    assert_eq!(sim["called"], "5551234");
    assert_eq!(sim["action"]["kind"], "trunk");
    assert_eq!(
        sim["targets"][0]["request_uri"],
        "sip:5551234@127.0.0.1:5999"
    );
    assert_eq!(sim["targets"][0]["next_hop"], "127.0.0.1:5999");
    // A user rule for a configured user who is not registered: 480, no target.
    let (_, sim) = api
        .post("/api/v1/dialplan/simulate", r#"{"called": "1001"}"#)
        .await;
    assert_eq!(sim["rule"], "users");
    assert_eq!(sim["refusal"]["code"], 480);
    assert_eq!(sim["targets"].as_array().map(Vec::len), Some(0));
    for (body, field) in [
        (r#"{"calling": "1001"}"#, "called"),
        (r#"{"called": ""}"#, "called"),
        (r#"{"called": "1", "source_ip": "nowhere"}"#, "source_ip"),
        (r#"{"called": "1", "trunk": "ghost"}"#, "trunk"),
        (r#"{"called": "1", "colour": "blue"}"#, "colour"),
    ] {
        let (status, err) = api.post("/api/v1/dialplan/simulate", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    api.stop().await;
}

#[tokio::test]
async fn dialplan_validate_lists_every_error_and_reload_keeps_the_old_plan_on_errors() {
    let api = api_with(PLAN).await;
    let bad = "[[rules]]\nname = \"x\"\nmatch.called = { regex = \"(\" }\naction = { kind = \"trunk\", trunks = [\"ghost\"] }\n";
    let (status, v) = api.post("/api/v1/dialplan/validate", bad).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["valid"], false);
    let paths: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["rules[0].match.called.regex", "rules[0].action.trunks[0]"]
    );
    let (_, v) = api.post("/api/v1/dialplan/validate", PLAN).await;
    assert_eq!(
        (v["valid"].clone(), v["rules"][0]["name"].clone()),
        (true.into(), "outside line".into())
    );

    let path = api.running.reloader.path().unwrap().to_path_buf();
    std::fs::write(&path, bad).unwrap();
    let (status, err) = api.post("/api/v1/dialplan/reload", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "invalid_dialplan");
    let (_, plan) = api.get("/api/v1/dialplan").await;
    assert_eq!(
        plan["rules"].as_array().map(Vec::len),
        Some(2),
        "old plan kept: {plan}"
    );
    std::fs::write(
        &path,
        "[[rules]]\nname = \"only\"\naction = { kind = \"reject\", code = 603 }\n",
    )
    .unwrap();
    let (status, plan) = api.post("/api/v1/dialplan/reload", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        plan["rules"][0]["action"],
        serde_json::json!({"kind": "reject", "code": 603, "reason": "Decline"})
    );
    api.stop().await;
}

#[tokio::test]
async fn media_node_drain_and_undrain_and_unknown_node_is_404() {
    let api = api_with(PLAN).await;
    let (status, nodes) = api.get("/api/v1/media-nodes").await;
    assert_eq!(status, StatusCode::OK);
    let name = nodes[0]["name"].as_str().unwrap().to_owned();
    let (status, body) = api
        .post(&format!("/api/v1/media-nodes/{name}/drain"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, nodes) = api.get("/api/v1/media-nodes").await;
    assert_eq!(nodes[0]["status"], "draining", "{nodes}");
    let (status, _) = api
        .post(&format!("/api/v1/media-nodes/{name}/undrain"), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, nodes) = api.get("/api/v1/media-nodes").await;
    assert_ne!(nodes[0]["status"], "draining", "{nodes}");
    let (status, err) = api.post("/api/v1/media-nodes/nope/drain", "").await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    api.stop().await;
}

#[tokio::test]
async fn registrations_list_and_removal_errors() {
    let api = api_with(PLAN).await;
    let (status, list) = api.get("/api/v1/registrations").await;
    assert_eq!((status, list), (StatusCode::OK, serde_json::json!([])));
    let (status, err) = api
        .call("DELETE", "/api/v1/registrations/nobody", Some(TOKEN), "")
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, "aor".into())
    );
    let (status, _) = api
        .call(
            "DELETE",
            "/api/v1/registrations/1001@example.com",
            Some(TOKEN),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.stop().await;
}

/// Reads an SSE response until `want` messages arrived (5 s limit); returns the raw text.
async fn sse_messages(api: &Api, path: &str, last_id: Option<&str>, want: usize) -> String {
    use futures_util::StreamExt;
    let mut req = Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let resp = api
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while text.matches("\ndata:").count() + usize::from(text.starts_with("data:")) < want {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("stream ended or timed out with {text:?}"),
        }
    }
    text
}

fn ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|s| s.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn event_stream_replays_from_a_seq_and_resumes_after_last_event_id() {
    let api = api_with(PLAN).await;
    let (_, nodes) = api.get("/api/v1/media-nodes").await;
    let name = nodes[0]["name"].as_str().unwrap().to_owned();
    api.post(&format!("/api/v1/media-nodes/{name}/drain"), "")
        .await;
    let text = sse_messages(
        &api,
        "/api/v1/events?after=0&type=media_node_draining",
        None,
        1,
    )
    .await;
    assert!(text.contains("event: media_node_draining"), "{text}");
    assert!(text.contains(&format!("\"node\":\"{name}\"")), "{text}");
    let first = ids(&text);
    assert_eq!(first.len(), 1, "{text}");

    api.post(&format!("/api/v1/media-nodes/{name}/undrain"), "")
        .await;
    api.post(&format!("/api/v1/media-nodes/{name}/drain"), "")
        .await;
    // Resuming after the first draining event: the next draining event, not the first again.
    let text = sse_messages(
        &api,
        "/api/v1/events?type=media_node_draining",
        Some(&first[0]),
        1,
    )
    .await;
    let second = ids(&text);
    assert_eq!(second.len(), 1, "{text}");
    assert_ne!(second[0], first[0]);
    let (_, stats) = api.get("/api/v1/stats").await;
    assert!(
        stats["events_journaled_seq"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    let (status, err) = api
        .call("GET", "/api/v1/events?after=x", Some(TOKEN), "")
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, "after".into())
    );
    api.stop().await;
}

#[tokio::test]
async fn metrics_are_open_and_in_prometheus_text_format() {
    let api = api_with(PLAN).await;
    let resp = api
        .app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        "switchboard_calls_active 0",
        "switchboard_call_setup_seconds_bucket{le=\"+Inf\"} 0",
        "switchboard_sip_requests_received_total{method=\"INVITE\"} 0",
        "switchboard_registrations 0",
        "status=\"up\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // Every sample line is `name{labels} value` with a declared TYPE.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
        let base = name.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| base.strip_suffix(s))
            .unwrap_or(base);
        assert!(text.contains(&format!("# TYPE {family} ")), "{l}");
    }
    api.stop().await;
}
