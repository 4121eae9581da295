//! Black-box dialplan and trunk tests: the release binary with a dialplan file, sipp UASs as
//! trunks and callees, sipp UACs and raw UDP peers as callers. Each test writes its own plan.

mod support;

use std::time::{Duration, Instant};

use support::{
    Server, SippUas, TempDir, caller_sipp_args, config_with, free_port, health_until_idle,
    invite_final, register_user, sipp, sipp_received, status,
};

/// A server whose `[dialplan]` is `plan` (written to a file in `dir`) and whose trunks are `trunks`
/// (TOML `[[trunks]]` tables).
fn server_with_plan(dir: &TempDir, plan: &str, trunks: &str) -> Server {
    let path = dir.path().join("dialplan.toml");
    std::fs::write(&path, plan).expect("write plan");
    Server::start(&config_with(&format!(
        "[dialplan]\nfile = \"{}\"\n{trunks}",
        path.display()
    )))
}

fn trunk(name: &str, port: u16, extra: &str) -> String {
    format!("[[trunks]]\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\n{extra}\n")
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn reason(response: &str) -> &str {
    response
        .lines()
        .next()
        .and_then(|l| l.splitn(3, ' ').nth(2))
        .unwrap_or_default()
        .trim()
}

const OUTBOUND_PLAN: &str = r#"
[[rules]]
name = "barred"
match.called = { prefix = "90" }
action = { kind = "reject", code = 403, reason = "Premium Numbers Barred" }

[[rules]]
name = "outside line"
match = { called = { regex = "^9\\d+$" }, source = "users" }
rewrite_called = { strip = 1 }
action = { kind = "trunk", trunks = ["primary", "secondary"] }

[[rules]]
name = "users"
match.called = { regex = "^100\\d$" }
action = { kind = "user" }
"#;

#[test]
fn outside_line_reaches_the_trunk_with_the_9_stripped_and_fails_over_on_503() {
    let dir = TempDir::new("sb-plan");
    let (primary, secondary) = (free_port(), free_port());
    let trunks = trunk("primary", primary, "")
        + &trunk("secondary", secondary, "domain = \"carrier.example\"");
    let server = server_with_plan(&dir, OUTBOUND_PLAN, &trunks);
    let down = SippUas::start("trunk_uas_unavailable.xml", primary, &[]);
    let up_media = free_port().to_string();
    let up = SippUas::start(
        "call_uas_answer.xml",
        secondary,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &up_media],
    );
    let uac_media = free_port().to_string();
    let uac = sipp(
        "call_uac_auth.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "95551234", &uac_media)),
    );
    let down = down.finish(Duration::from_secs(10));
    let up = up.finish(Duration::from_secs(15));
    let log = server.log();
    assert!(
        uac.success,
        "caller:\n{}\n--- server ---\n{log}",
        uac.output
    );
    assert!(down.success, "primary trunk:\n{}", down.output);
    assert!(
        up.success,
        "secondary trunk:\n{}\n--- server ---\n{log}",
        up.output
    );
    let first = sipp_received(&down.output, "INVITE ");
    assert!(
        first.first().is_some_and(
            |m| m.starts_with(&format!("INVITE sip:5551234@127.0.0.1:{primary} SIP/2.0"))
        ),
        "primary got {first:?}"
    );
    let second = sipp_received(&up.output, "INVITE ");
    assert!(
        second
            .first()
            .is_some_and(|m| m.starts_with("INVITE sip:5551234@carrier.example SIP/2.0")),
        "secondary got {second:?}"
    );
    health_until_idle(&server);
}

#[test]
fn reject_rules_answer_their_status_and_unmatched_calls_get_404() {
    let dir = TempDir::new("sb-plan");
    let server = server_with_plan(
        &dir,
        OUTBOUND_PLAN,
        &(trunk("primary", 5999, "") + &trunk("secondary", 5998, "")),
    );
    let barred = invite_final(&server, "9001234");
    assert_eq!(
        (status(&barred), reason(&barred)),
        (403, "Premium Numbers Barred"),
        "{barred}"
    );
    let unrouted = invite_final(&server, "5555");
    assert_eq!(
        (status(&unrouted), reason(&unrouted)),
        (404, "No Route"),
        "{unrouted}"
    );
    // A user rule for a configured user who is not registered.
    let absent = invite_final(&server, "1002");
    assert_eq!(status(&absent), 480, "{absent}");
    health_until_idle(&server);
}

#[test]
fn inbound_trunk_is_recognised_by_source_address_without_a_challenge() {
    let dir = TempDir::new("sb-plan");
    let plan = r#"
[[rules]]
name = "from the carrier"
match = { source = "trunk:carrier", called = "+15550102" }
rewrite_called = { set = "1002" }
action = { kind = "user" }
[[rules]]
name = "nobody else"
action = { kind = "reject", code = 403 }
"#;
    let server = server_with_plan(
        &dir,
        plan,
        &trunk("carrier", 5997, "inbound_ips = [\"127.0.0.2/32\"]"),
    );
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let media = free_port().to_string();
    let uac = sipp(
        "trunk_uac_call.xml",
        server.sip,
        "udp",
        &[
            "-i",
            "127.0.0.2",
            "-s",
            "+15550102",
            "-mi",
            "127.0.0.2",
            "-mp",
            &media,
        ],
    );
    let uas = uas.finish(Duration::from_secs(15));
    let log = server.log();
    assert!(
        uac.success,
        "trunk caller:\n{}\n--- server ---\n{log}",
        uac.output
    );
    assert!(
        uas.success,
        "callee:\n{}\n--- server ---\n{log}",
        uas.output
    );
    let invite = sipp_received(&uas.output, "INVITE ");
    assert!(
        invite
            .first()
            .is_some_and(|m| m.starts_with("INVITE sip:1002@127.0.0.1:")),
        "callee got {invite:?}"
    );
    // The same number from an ordinary user's address is not the trunk's: challenged, then refused.
    let from_user = invite_final(&server, "+15550102");
    assert_eq!(status(&from_user), 403, "{from_user}");
    health_until_idle(&server);
}

/// Waits up to 10 s for the server log to hold `needle` at least `times` times.
fn log_shows(server: &Server, needle: &str, times: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if server.log().matches(needle).count() >= times {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn reject_plan(code: u16) -> String {
    format!("[[rules]]\nname = \"all\"\naction = {{ kind = \"reject\", code = {code} }}\n")
}

#[test]
fn plan_reloads_on_sighup_and_on_file_change_and_a_broken_file_keeps_the_old_plan() {
    let dir = TempDir::new("sb-plan");
    let server = server_with_plan(&dir, &reject_plan(486), "");
    let path = dir.path().join("dialplan.toml");
    assert_eq!(status(&invite_final(&server, "777")), 486);

    // SIGHUP alone: the new file keeps the old modification time, so only the signal can load it.
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&path, reject_plan(603)).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    server.signal("HUP");
    assert!(
        log_shows(&server, "dialplan reloaded", 1),
        "{}",
        server.log()
    );
    assert!(server.log().contains("SIGHUP"), "{}", server.log());
    assert_eq!(status(&invite_final(&server, "777")), 603);

    // A broken file: refused with every error listed, the old plan keeps routing.
    std::fs::write(
        &path,
        "[[rules]]\nname = \"bad\"\nmatch.called = { regex = \"(\" }\naction = { kind = \"trunk\", trunks = [\"ghost\"] }\n",
    )
    .expect("write");
    assert!(
        log_shows(&server, "dialplan refused", 1),
        "{}",
        server.log()
    );
    let log = server.log();
    assert!(
        log.contains("rules[0].match.called.regex: invalid regex"),
        "{log}"
    );
    assert!(
        log.contains("rules[0].action.trunks[0]: unknown trunk"),
        "{log}"
    );
    assert_eq!(status(&invite_final(&server, "777")), 603);

    // Fixed on disk: picked up by the file watch, no signal needed.
    std::fs::write(&path, reject_plan(480)).expect("write");
    assert!(
        log_shows(&server, "dialplan reloaded", 2),
        "{}",
        server.log()
    );
    assert_eq!(status(&invite_final(&server, "777")), 480);
}

#[test]
fn hunt_rings_each_member_for_its_time_then_the_next_and_presents_the_rewritten_caller_id() {
    let dir = TempDir::new("sb-plan");
    let plan = r#"
[[rules]]
name = "sales hunt"
match.called = "200"
rewrite_calling = { set = "200" }
action = { kind = "hunt", members = ["1002", "1001"], timeout_secs = 2 }
"#;
    let server = server_with_plan(&dir, plan, "");
    let (first_port, second_port) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", first_port);
    register_user(&server, "1001", "1001pass", second_port);
    let first = SippUas::start("call_uas_ring_cancel.xml", first_port, &[]);
    let media = free_port().to_string();
    let second = SippUas::start(
        "call_uas_answer.xml",
        second_port,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &media],
    );
    let uac_media = free_port().to_string();
    let uac = sipp(
        "call_uac_auth.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "200", &uac_media)),
    );
    let first = first.finish(Duration::from_secs(10));
    let second = second.finish(Duration::from_secs(15));
    let log = server.log();
    assert!(
        uac.success,
        "caller:\n{}\n--- server ---\n{log}",
        uac.output
    );
    assert!(
        first.success,
        "first member (rings, is cancelled):\n{}\n{log}",
        first.output
    );
    assert!(
        second.success,
        "second member (answers):\n{}\n{log}",
        second.output
    );
    let invite = sipp_received(&second.output, "INVITE ");
    let from = invite
        .first()
        .and_then(|m| m.lines().find(|l| l.starts_with("From:")))
        .unwrap_or_default();
    assert!(from.contains("<sip:200@"), "caller ID rewritten: {from}");
    health_until_idle(&server);
}

/// Calls `called` as user 1001 while one callee (`ringing_port`) only rings and another
/// (`answering_port`) answers; both sipp callees must see their whole scenario (the ringing one
/// is cancelled once the other answers).
fn fork_call(server: &Server, called: &str, ringing_port: u16, answering_port: u16) {
    let ringing = SippUas::start("call_uas_ring_cancel.xml", ringing_port, &[]);
    let media = free_port().to_string();
    let answering = SippUas::start(
        "call_uas_answer.xml",
        answering_port,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &media],
    );
    let uac_media = free_port().to_string();
    let uac = sipp(
        "call_uac_auth.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(server, called, &uac_media)),
    );
    let ringing = ringing.finish(Duration::from_secs(10));
    let answering = answering.finish(Duration::from_secs(15));
    let log = server.log();
    assert!(uac.success, "caller:\n{}\n{log}", uac.output);
    assert!(
        answering.success,
        "answering callee:\n{}\n{log}",
        answering.output
    );
    assert!(
        ringing.success,
        "ringing callee (cancelled):\n{}\n{log}",
        ringing.output
    );
    let cancels = sipp_received(&ringing.output, "CANCEL ");
    assert_eq!(cancels.len(), 1, "{}", ringing.output);
    health_until_idle(server);
}

#[test]
fn ring_group_rings_every_member_at_once_and_cancels_the_others_when_one_answers() {
    let dir = TempDir::new("sb-plan");
    let plan = r#"
[[rules]]
name = "sales"
match.called = "600"
action = { kind = "ring_group", members = ["1002", "1001"], timeout_secs = 20 }
"#;
    let server = server_with_plan(&dir, plan, "");
    let (ringing, answering) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", ringing);
    register_user(&server, "1001", "1001pass", answering);
    // 1002 is rung first (the primary branch) and only rings; 1001's branch answers and wins.
    fork_call(&server, "600", ringing, answering);
}

#[test]
fn rfc3261_s16_6_a_lower_q_contact_is_not_rung_while_a_higher_q_one_answers() {
    let server = Server::start(&config_with(""));
    let (high, low) = (free_port(), free_port());
    // The lower-q phone is a bare socket: it must not be rung while a higher-q contact answers.
    let low_phone = std::net::UdpSocket::bind(("127.0.0.1", low)).expect("bind");
    support::register_user_q(&server, "1002", "1002pass", low, ";q=0.5");
    support::register_user_q(&server, "1002", "1002pass", high, ";q=1.0");
    let media = free_port().to_string();
    let answering = SippUas::start(
        "call_uas_answer.xml",
        high,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &media],
    );
    let uac = sipp(
        "call_uac_auth.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &free_port().to_string())),
    );
    let answering = answering.finish(Duration::from_secs(15));
    let log = server.log();
    assert!(uac.success, "caller:\n{}\n{log}", uac.output);
    assert!(
        answering.success,
        "q=1.0 phone:\n{}\n{log}",
        answering.output
    );
    low_phone
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    assert!(
        low_phone.recv_from(&mut buf).is_err(),
        "the q=0.5 phone was rung: {}",
        String::from_utf8_lossy(&buf)
    );
    health_until_idle(&server);
}

#[test]
fn every_registered_contact_of_the_called_user_rings_in_parallel() {
    // No dialplan file: every call goes to the called user's registered contacts.
    let server = Server::start(&config_with(""));
    let (ringing, answering) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", ringing);
    // The most recent binding is tried first: this one answers, the older one is cancelled.
    register_user(&server, "1002", "1002pass", answering);
    fork_call(&server, "1002", ringing, answering);
}
