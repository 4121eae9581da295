//! Blind transfer from a call's detail: caller 1001 (sipp) talks to 1002 (sipp); the operator
//! first tries a user who is not registered (refused, the call is untouched), then transfers the
//! caller to 1003 (a third sipp, registered). 1002 gets a BYE, 1003 is called and answers, the
//! call's B leg is now 1003's dialog, and the timeline shows `call_transferred`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    self, Server, SippUas, caller_sipp_args, free_port, register_user, sipp, sipp_received,
};
use crate::webdriver::Browser;

fn call(server: &Server, uuid: &str) -> Value {
    super::api(server, &format!("/calls/{uuid}"))
}

/// Waits (up to 15 s) until the call's B-leg Call-ID is no longer `old`; returns the new one.
fn new_b_leg(server: &Server, uuid: &str, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let c = call(server, uuid);
        if let Some(id) = c["b_call_id"].as_str().filter(|id| *id != old) {
            if c["state"] == "answered" {
                return id.to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the call never got its new, answered B leg: {c}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fills the transfer form with `target` and confirms.
fn transfer_to(b: &Browser, target: &str) {
    b.clear("#transfer-target");
    b.type_into("#transfer-target", target);
    b.click("#transfer-send");
    assert!(b.visible("#confirm-dialog"));
    let message = b.text("#confirm-message");
    assert!(
        message.contains(&format!(" to {target}?")) && message.contains("1001"),
        "{message}"
    );
    b.click("#confirm-ok");
}

pub(super) fn call_transferred_from_the_ui(
    b: &Browser,
    server: &Server,
    old_port: u16,
    shots: &Path,
) {
    let new_port = free_port();
    register_user(server, "1003", "1003pass", new_port);
    let (old_media, new_media) = (free_port().to_string(), free_port().to_string());
    // Both callees answer and hold the call until the B2BUA's BYE.
    let old = SippUas::start(
        "dashboard_uas_hold.xml",
        old_port,
        &["-mi", "127.0.0.1", "-mp", &old_media],
    );
    let new = SippUas::start(
        "dashboard_uas_hold.xml",
        new_port,
        &["-mi", "127.0.0.1", "-mp", &new_media],
    );
    super::open(b, "calls");
    let args = caller_sipp_args(server, "1002", &free_port().to_string());
    let target = server.sip;
    let caller = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp("call_uac_callee_hangs_up.xml", target, "udp", &args)
    });
    let answered = super::answered_call(server, super::TOKEN);
    let uuid = answered["uuid"].as_str().expect("uuid").to_owned();
    let old_b = answered["b_call_id"]
        .as_str()
        .expect("b_call_id")
        .to_owned();
    b.click(&format!(
        "button[data-action=details][data-call-uuid='{uuid}']"
    ));
    b.wait_for(
        "the call's timeline",
        "return document.querySelector('#call-timeline li[data-type=call_answered]') !== null",
        json!([]),
    );

    // 1004 matches the dialplan's user rule but is not registered: refused, the call goes on.
    transfer_to(b, "1004");
    b.wait_for(
        "the refusal",
        "const f = document.getElementById('flash'); \
         return f.className === 'error' && f.textContent.startsWith('Transfer failed: ')",
        json!([]),
    );
    eprintln!("a transfer to 1004 is refused: {}", b.text("#flash"));
    let c = call(server, &uuid);
    assert_eq!(
        (c["state"].as_str(), c["b_call_id"].as_str()),
        (Some("answered"), Some(old_b.as_str())),
        "a refused transfer leaves the call alone: {c}"
    );

    transfer_to(b, "1003");
    let request_uri = format!("sip:1003@127.0.0.1:{new_port}");
    b.wait_for(
        "the transfer confirmation",
        "return document.getElementById('flash').textContent.endsWith(` to ${arguments[0]}.`)",
        json!([request_uri]),
    );
    let old = old.finish(Duration::from_secs(15));
    assert!(
        old.success,
        "the old callee never got its BYE:\n{}\n{}",
        old.output,
        server.log()
    );
    let new_b = new_b_leg(server, &uuid, &old_b);
    b.wait_for(
        "the new B leg and the transfer in the detail",
        "const dd = (f) => document.querySelector(`#call-detail-fields dd[data-field=${f}]`)?.textContent; \
         return dd('b_call_id') === arguments[0] && dd('transferred_to') === `${arguments[1]} (by api)` \
           && dd('state') === 'answered' \
           && document.querySelector('#call-timeline li[data-type=call_transferred]') !== null",
        json!([new_b, request_uri]),
    );
    b.screenshot(&shots.join("call-transferred.png"));

    // Hanging up now ends the caller's call with 1003, not 1002.
    b.click("#call-hangup");
    b.click("#confirm-ok");
    let new = new.finish(Duration::from_secs(30));
    let caller = caller.join().expect("caller thread");
    assert!(
        new.success,
        "the new callee was not called, or never got the BYE:\n{}\n{}",
        new.output,
        server.log()
    );
    assert!(
        caller.success,
        "the caller did not stay connected until the hang-up:\n{}\n{}",
        caller.output,
        server.log()
    );
    let invites = sipp_received(&new.output, "INVITE ");
    let invite = invites.first().expect("the new callee's INVITE");
    assert!(
        invite.starts_with(&format!("INVITE {request_uri} SIP/2.0")),
        "{invite}"
    );
    assert_eq!(
        support::header(invite, "Call-ID"),
        Some(new_b.as_str()),
        "the dashboard's B-leg Call-ID is the new callee's dialog"
    );
    let events = support::sse_until(
        server.http,
        super::TOKEN,
        &format!("/api/v1/events?after=0&call_uuid={uuid}"),
        |t| t.contains("event: call_ended"),
    );
    assert!(
        events.contains(r#""type":"call_transferred""#)
            && events.contains(&format!(r#""target":"{request_uri}""#))
            && events.contains(r#""by":"api""#),
        "{events}"
    );
    b.wait_for(
        "the transferred call to leave the table",
        "return document.querySelector(arguments[0]) === null",
        json!([format!("#calls-table tr[data-call-uuid='{uuid}']")]),
    );
}
