//! Browser test of the dashboard: the release binary, headless Chromium driven over the W3C WebDriver
//! protocol (chromedriver), sipp as caller, callees and carriers. An operator logs in with the API
//! token, sees the overview's numbers, sees a call appear in the calls table within 2 s of its
//! answer, hangs it up from the UI (the callee's sipp gets the BYE), blind-transfers another call's
//! caller to a third user (the old callee gets a BYE, the new one is called and answers), drains and
//! undrains the media node, validates a broken dialplan, runs the route simulator, reads the event
//! log, watches a trunk go down, up and down again and another one register, and removes a
//! registration. Each page's screenshot is saved under `tests/artifacts/dashboard/`.

mod support;
#[path = "dashboard/transfer.rs"]
mod transfer;
#[path = "dashboard/trunks.rs"]
mod trunks;
#[path = "dashboard/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{
    Server, SippUas, TempDir, answered_call, caller_until_bye, config_with, free_port,
    register_user, repo_root,
};
use webdriver::Browser;

const TOKEN: &str = "dashboard-browser-test-token-42";

const PLAN: &str = r#"
[[rules]]
name = "premium barred"
match.called = { prefix = "90" }
action = { kind = "reject", code = 403, reason = "Premium Barred" }

[[rules]]
name = "internal users"
match.called = { regex = "^100[1-4]$" }
action = { kind = "user" }
"#;

/// A candidate with two mistakes: the validator must list both.
const BROKEN_PLAN: &str = r#"
[[rules]]
name = "bad regex"
match.called = { regex = "^(100" }
action = { kind = "user" }

[[rules]]
name = "bad action"
action = { kind = "teleport" }
"#;

fn artifacts() -> PathBuf {
    let dir = repo_root().join("tests/artifacts/dashboard");
    std::fs::create_dir_all(&dir).expect("create tests/artifacts/dashboard");
    dir
}

/// The server, with a third user (1003, the transfer target) and the trunks of [`trunks::Carriers`].
fn server(dir: &TempDir, carriers: &trunks::Carriers) -> Server {
    let plan = dir.path().join("dialplan.toml");
    std::fs::write(&plan, PLAN).expect("write plan");
    let extra = format!(
        "[dialplan]\nfile = \"{}\"\n{}[[users]]\nusername = \"1003\"\npassword = \"1003pass\"\n",
        plan.display(),
        carriers.config()
    );
    let config =
        config_with(&extra).replacen("[http]\n", &format!("[http]\napi_token = \"{TOKEN}\"\n"), 1);
    Server::start(&config)
}

/// `GET /api/v1{path}` with the token, as JSON.
fn api(server: &Server, path: &str) -> Value {
    let (status, body) = support::http_request(
        server.http,
        "GET",
        &format!("/api/v1{path}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// `POST /api/v1{path}` with the token and no body; must succeed.
fn api_post(server: &Server, path: &str) -> Value {
    let (status, body) = support::http_request(
        server.http,
        "POST",
        &format!("/api/v1{path}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!(status, 200, "POST {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("POST {path}: {e}: {body}"))
}

fn open(b: &Browser, view: &str) {
    b.click(&format!("nav a[data-view={view}]"));
    b.wait_for(
        &format!("the {view} page"),
        "return document.body.dataset.view === arguments[0]",
        json!([view]),
    );
}

#[test]
fn operator_drives_switchboard_from_the_dashboard_in_a_real_browser() {
    let dir = TempDir::new("sb-dashboard");
    let carriers = trunks::Carriers::start();
    let server = server(&dir, &carriers);
    let shots = artifacts();
    let b = Browser::start();
    let base = format!("http://{}", server.http);

    // Without a token every page is the login page, even a deep link.
    b.goto(&format!("{base}/#calls"));
    b.wait_for(
        "the login page",
        "return document.body.dataset.view === 'login'",
        json!([]),
    );
    assert!(b.visible("#token-input"));
    b.screenshot(&shots.join("login.png"));
    b.type_into("#token-input", "not-the-token-at-all");
    b.click("#login-submit");
    b.wait_for(
        "the refused-token message",
        "const e = document.getElementById('login-error'); return !e.hidden && e.textContent",
        json!([]),
    );
    b.clear("#token-input");
    b.type_into("#token-input", TOKEN);
    b.click("#login-submit");
    b.wait_for(
        "the deep-linked calls page",
        "return document.body.dataset.view === 'calls'",
        json!([]),
    );
    let stored = b.js(
        "return sessionStorage.getItem('switchboard.api_token')",
        json!([]),
    );
    assert_eq!(stored, json!(TOKEN));
    assert!(
        !b.js("return location.href", json!([]))
            .to_string()
            .contains(TOKEN)
    );

    let callee_port = free_port();
    register_user(&server, "1002", "1002pass", callee_port);
    overview(&b, &shots);
    call_hung_up_from_the_ui(&b, &server, callee_port, &shots);
    transfer::call_transferred_from_the_ui(&b, &server, callee_port, &shots);
    media_node_drained(&b, &server, &shots);
    dialplan(&b, &shots);
    event_log(&b, &server, &shots);
    trunks::trunks_go_down_and_up(&b, &server, carriers, &shots);
    registration_removed(&b, &server, &shots);

    // On a phone-sized screen the pages reflow: nothing is wider than the screen (wide tables
    // scroll inside their own box).
    b.emulate_phone(390, 844);
    b.cmd("POST", "/refresh", Some(json!({})));
    for view in ["overview", "calls", "media", "trunks", "dialplan", "events"] {
        open(&b, view);
        let widths = b.js(
            "return [window.innerWidth, document.documentElement.scrollWidth]",
            json!([]),
        );
        let wide = b.js(
            "return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391)\
               .slice(0, 8).map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().width)}`)",
            json!([]),
        );
        assert_eq!(
            widths[0], 390,
            "phone emulation on {view}: wider than the screen: {wide}"
        );
        assert!(
            widths[1].as_i64() <= widths[0].as_i64(),
            "{view} overflows a phone screen: {widths}"
        );
    }
    open(&b, "overview");
    b.screenshot(&shots.join("overview-phone.png"));
}

fn overview(b: &Browser, shots: &std::path::Path) {
    open(b, "overview");
    b.wait_for(
        "the overview's numbers",
        "const t = (id) => document.getElementById(id).textContent; \
         return /^\\d+$/.test(t('stat-calls-active')) && t('stat-registrations') === '1' \
           && /^\\d+ %$/.test(t('stat-media-capacity')) && /^\\d+\\.\\d\\d$/.test(t('stat-calls-per-sec'))",
        json!([]),
    );
    assert_eq!(b.text("#stat-calls-active"), "0");
    assert!(
        b.text("#stat-media-detail").contains("1 of 1 nodes up"),
        "{}",
        b.text("#stat-media-detail")
    );
    // The charts draw what polling collected: wait for a few samples before the screenshot.
    b.wait_for(
        "charts with 3 samples",
        "return Number(document.getElementById('chart-calls').dataset.samples) >= 3",
        json!([]),
    );
    b.screenshot(&shots.join("overview.png"));
}

fn call_hung_up_from_the_ui(b: &Browser, server: &Server, uas_port: u16, shots: &std::path::Path) {
    let media = free_port().to_string();
    let uas = SippUas::start(
        "dashboard_uas_hold.xml",
        uas_port,
        &["-mi", "127.0.0.1", "-mp", &media],
    );
    open(b, "calls");
    let caller = caller_until_bye(server, &free_port().to_string());

    // The moment the API reports the call answered, the table must show it within 2 s.
    let uuid = answered_call(server, TOKEN)["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let answered = Instant::now();
    let row = format!("#calls-table tr[data-call-uuid='{uuid}'][data-state=answered]");
    let visible = b.poll_until(
        Duration::from_secs(2),
        "return document.querySelector(arguments[0]) !== null",
        json!([row]),
    );
    assert!(
        visible,
        "the answered call was not in the calls table within 2 s (waited {:?})",
        answered.elapsed()
    );
    eprintln!(
        "answered call visible in the calls table {:?} after the API reported it answered",
        answered.elapsed()
    );
    assert!(
        b.text(&format!("{row} td[data-field=from]"))
            .contains("1001")
    );
    assert!(b.text(&format!("{row} td[data-field=to]")).contains("1002"));
    assert_eq!(
        b.text(&format!("{row} td[data-field=codec]")),
        "PCMA/8000",
        "the codec the callee answered with"
    );
    b.screenshot(&shots.join("calls.png"));

    b.click(&format!(
        "button[data-action=details][data-call-uuid='{uuid}']"
    ));
    b.wait_for(
        "the call's timeline",
        "return document.querySelector('#call-timeline li[data-type=call_answered]') !== null",
        json!([]),
    );
    assert!(b.text("#call-timeline").contains("call_created"));
    b.screenshot(&shots.join("call-detail.png"));

    // The callee's SDP offers telephone-event (the caller's does not): key presses go to leg B.
    b.select("#dtmf-leg", "b");
    b.type_into("#dtmf-digits", "12#");
    b.click("#dtmf-send");
    b.wait_for(
        "the DTMF confirmation",
        "return document.getElementById('flash').textContent === 'Sent DTMF 12# to the B leg.'",
        json!([]),
    );
    b.click("#call-hangup");
    b.click("#confirm-ok");
    let uas = uas.finish(Duration::from_secs(30));
    let caller = caller.join().expect("caller thread");
    assert!(
        uas.success,
        "the callee never got the BYE:\n{}\n{}",
        uas.output,
        server.log()
    );
    assert!(
        caller.success,
        "the caller never got the BYE:\n{}\n{}",
        caller.output,
        server.log()
    );
    let node = &api(server, "/media-nodes")[0];
    assert_eq!(
        node["last_error"],
        Value::Null,
        "the media node refused the DTMF: {node}"
    );
    b.wait_for(
        "the hung-up call to leave the table",
        "return document.querySelector(arguments[0]) === null",
        json!([format!("#calls-table tr[data-call-uuid='{uuid}']")]),
    );
    b.wait_for(
        "call_ended in the timeline",
        "return document.querySelector('#call-timeline li[data-type=call_ended]') !== null",
        json!([]),
    );
}

fn media_node_drained(b: &Browser, server: &Server, shots: &std::path::Path) {
    let nodes = api(server, "/media-nodes");
    let name = nodes[0]["name"].as_str().expect("a media node").to_owned();
    open(b, "media");
    let row = format!("#media-table tr[data-node='{name}']");
    b.wait_for(
        "the node up",
        "return document.querySelector(arguments[0]) !== null",
        json!([format!("{row}[data-status=up]")]),
    );
    b.click(&format!("{row} button[data-action=drain]"));
    assert!(b.visible("#confirm-dialog"));
    assert!(b.text("#confirm-message").contains(&name));
    b.click("#confirm-ok");
    b.wait_for(
        "the node draining",
        "return document.querySelector(arguments[0] + ' td[data-field=status]')?.textContent.startsWith('draining')",
        json!([row]),
    );
    assert_eq!(api(server, "/media-nodes")[0]["status"], "draining");
    b.screenshot(&shots.join("media.png"));
    // Cancel leaves it draining; confirm undrains it.
    b.click(&format!("{row} button[data-action=undrain]"));
    b.click("#confirm-cancel");
    assert_eq!(api(server, "/media-nodes")[0]["status"], "draining");
    b.click(&format!("{row} button[data-action=undrain]"));
    b.click("#confirm-ok");
    b.wait_for(
        "the node up again",
        "return document.querySelector(arguments[0]) !== null",
        json!([format!("{row}[data-status=up]")]),
    );
    assert_eq!(api(server, "/media-nodes")[0]["status"], "up");
}

fn dialplan(b: &Browser, shots: &std::path::Path) {
    open(b, "dialplan");
    b.wait_for(
        "the active rules",
        "return document.querySelectorAll('#rules-table tr[data-rule]').length === 2",
        json!([]),
    );
    b.type_into("#validate-text", BROKEN_PLAN);
    b.click("#validate-button");
    b.wait_for(
        "the validation errors",
        "return document.querySelectorAll('#validate-errors li').length >= 2",
        json!([]),
    );
    let errors = b.text("#validate-errors");
    assert!(
        errors.contains("rules[0]") && errors.contains("rules[1]"),
        "{errors}"
    );
    b.type_into("#sim-called", "1002");
    b.type_into("#sim-domain", "127.0.0.1");
    b.click("#sim-submit");
    b.wait_for(
        "the simulated route",
        "return document.querySelector('#sim-result dd[data-field=rule]')?.textContent === 'internal users'",
        json!([]),
    );
    let result = b.text("#sim-result");
    assert!(
        b.text("#sim-result dd[data-field=refusal]") == "none",
        "{result}"
    );
    assert!(
        b.text("#sim-result dd[data-field=targets]")
            .contains("sip:1002@127.0.0.1:"),
        "{result}"
    );
    b.click("#reload-button");
    b.wait_for(
        "the reload result",
        "return document.getElementById('reload-result').textContent.startsWith('Reloaded')",
        json!([]),
    );
    b.screenshot(&shots.join("dialplan.png"));
}

fn event_log(b: &Browser, server: &Server, shots: &std::path::Path) {
    open(b, "events");
    b.wait_for(
        "the call's events in the log",
        "return document.querySelector('#events-table tr[data-type=call_ended]') !== null",
        json!([]),
    );
    b.screenshot(&shots.join("events.png"));

    // Drop the stream while the browser is offline: it keeps retrying; events published meanwhile
    // must appear once it is back (resumed with Last-Event-ID), with no seq missing from the log.
    let before = b.text("#events-reconnects");
    b.network_offline(true);
    b.click("#events-reconnect");
    b.wait_for(
        "the stream to notice the cut",
        "return document.getElementById('events-reconnects').textContent !== arguments[0]",
        json!([before]),
    );
    let name = api(server, "/media-nodes")[0]["name"]
        .as_str()
        .expect("node")
        .to_owned();
    for verb in ["drain", "undrain", "drain", "undrain"] {
        api_post(server, &format!("/media-nodes/{name}/{verb}"));
    }
    b.network_offline(false);
    b.wait_for(
        "the events published while offline",
        "return document.querySelectorAll('#events-table tr[data-type=media_node_draining]').length >= 3",
        json!([]),
    );
    let seqs = b.js(
        "return [...document.querySelectorAll('#events-table tbody tr[data-seq]')].map((r) => Number(r.dataset.seq))",
        json!([]),
    );
    let seqs: Vec<u64> = seqs
        .as_array()
        .expect("seqs")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let first = *seqs.last().expect("events");
    let expected: Vec<u64> = (first..first + seqs.len() as u64).rev().collect();
    assert_eq!(
        seqs, expected,
        "the log has a gap or a duplicate after the reconnect"
    );
    b.type_into("#events-type", "call_ans");
    b.click("#events-apply");
    b.wait_for(
        "only call_answered",
        "const rows = [...document.querySelectorAll('#events-table tbody tr[data-type]')]; \
         return rows.length > 0 && rows.every((r) => r.dataset.type === 'call_answered')",
        json!([]),
    );
}

fn registration_removed(b: &Browser, server: &Server, shots: &std::path::Path) {
    open(b, "registrations");
    let row = "#registrations-table tr[data-aor*='1002']";
    b.wait_for(
        "1002's registration",
        "return document.querySelector(arguments[0]) !== null",
        json!([row]),
    );
    b.screenshot(&shots.join("registrations.png"));
    b.click(&format!("{row} button[data-action=remove]"));
    b.click("#confirm-ok");
    b.wait_for(
        "the registration gone",
        "return document.querySelector(arguments[0]) === null",
        json!([row]),
    );
    // Only 1002's: the transfer target 1003 stays registered, in the API and on the page.
    let aors: Vec<Value> = api(server, "/registrations")
        .as_array()
        .expect("registrations")
        .iter()
        .map(|r| r["aor"].clone())
        .collect();
    assert!(
        aors.len() == 1 && aors[0].as_str().is_some_and(|a| a.contains("1003")),
        "{aors:?}"
    );
    assert!(b.visible("#registrations-table tr[data-aor*='1003']"));
}
