//! Trunks, black-box, with sipp UASs as carriers:
//! - OPTIONS keepalive: the primary trunk answers probes for a while and then stops; it goes down
//!   (REST, metrics, log), calls skip it for the next trunk of the chain or get 503 when it was the
//!   only one, and it comes back up when a peer answers again.
//! - Outbound digest authentication: a carrier that challenges our INVITE gets it again with the
//!   trunk's credentials (verified by sipp) and answers.
//! - A trunk with `transport = "tcp"`: the call and its BYE reach it over TCP.
//! - Registration to a carrier: authenticated, refreshed halfway, and removed (Expires 0) at shutdown.
//! - An inbound trunk recognised by its credentials (`inbound_user`) is routed as that trunk.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Server, SippUas, TempDir, caller_sipp_args, config_with, free_port, health_until_idle,
    invite_final, sipp, sipp_received, status,
};

const TOKEN: &str = "trunk-keepalive-test-token";

const PLAN: &str = r#"
[[rules]]
name = "outside line with failover"
match = { called = { regex = "^9\\d+$" }, source = "users" }
rewrite_called = { strip = 1 }
action = { kind = "trunk", trunks = ["primary", "secondary"] }

[[rules]]
name = "primary only"
match = { called = { regex = "^8\\d+$" }, source = "users" }
rewrite_called = { strip = 1 }
action = { kind = "trunk", trunks = ["primary"] }
"#;

fn trunks(server: &Server) -> Vec<Value> {
    let (code, body) = support::http_request(
        server.http,
        "GET",
        "/api/v1/trunks",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls `/api/v1/trunks` until trunk `name` has `status`, up to 15 s; returns its entry.
fn wait_for(server: &Server, name: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = trunks(server);
        let t = all
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no trunk {name} in {all:?}"));
        if t["status"] == want {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "trunk {name} never became {want}: {t}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts the server logged `text` within 5 s (its stderr is read by another thread, so the log
/// may trail the state the API already shows).
fn assert_logged(server: &Server, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains(text) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log().contains(text),
        "{text:?} not logged:\n{}",
        server.log()
    );
}

#[test]
fn trunk_that_stops_answering_options_is_skipped_and_returns_when_it_answers_again() {
    let (primary, secondary) = (free_port(), free_port());
    // The primary trunk answers the first three probes, then is gone.
    let probes = SippUas::start("trunk_uas_options.xml", primary, &["-m", "3"]);
    let dir = TempDir::new("sb-keepalive");
    let plan = dir.path().join("dialplan.toml");
    std::fs::write(&plan, PLAN).expect("write plan");
    let extra = format!(
        "[dialplan]\nfile = \"{}\"\n\
         [[trunks]]\nname = \"primary\"\naddress = \"127.0.0.1:{primary}\"\n\
         keepalive_interval_s = 1\nkeepalive_failures = 2\n\
         [[trunks]]\nname = \"secondary\"\naddress = \"127.0.0.1:{secondary}\"\n",
        plan.display()
    );
    let server = Server::start(&config_with(&extra).replacen(
        "[http]\n",
        &format!("[http]\napi_token = \"{TOKEN}\"\n"),
        1,
    ));
    let probes = probes.finish(Duration::from_secs(15));
    assert!(
        probes.success,
        "primary's OPTIONS responder:\n{}",
        probes.output
    );
    let first = sipp_received(&probes.output, "OPTIONS ");
    assert!(
        first
            .first()
            .is_some_and(|m| m.starts_with(&format!("OPTIONS sip:127.0.0.1:{primary} SIP/2.0"))),
        "probe: {first:?}"
    );

    let down = wait_for(&server, "primary", "down");
    assert!(down["failures_in_row"].as_u64() >= Some(2), "{down}");
    assert_eq!(
        down["last_status"], 200,
        "the answered probes got 200: {down}"
    );
    assert!(down["probes"].as_u64() >= Some(5), "{down}");
    let all = trunks(&server);
    assert_eq!(all[1]["status"], "unprobed", "{all:?}");
    assert_eq!(
        (all[0]["address"].as_str(), all[0]["transport"].as_str()),
        (Some(format!("127.0.0.1:{primary}").as_str()), Some("udp")),
        "{all:?}"
    );
    assert_logged(&server, "trunk down");
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("switchboard_trunk_up{trunk=\"primary\"} 0"),
        "{metrics}"
    );

    // A call for the chain goes straight to the secondary trunk (nothing listens on the primary:
    // an INVITE sent there would only end by Timer B, long after this caller's 30 s limit).
    let media = free_port().to_string();
    let callee = SippUas::start(
        "call_uas_answer.xml",
        secondary,
        &["-mi", "127.0.0.1", "-mp", &media],
    );
    let caller_media = free_port().to_string();
    let args = caller_sipp_args(&server, "95551234", &caller_media);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let uac = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let callee = callee.finish(Duration::from_secs(15));
    assert!(uac.success, "caller:\n{}\n{}", uac.output, server.log());
    assert!(callee.success, "secondary trunk:\n{}", callee.output);
    assert!(
        sipp_received(&callee.output, "INVITE ")
            .first()
            .is_some_and(|m| m.starts_with("INVITE sip:5551234@127.0.0.1:")),
        "{}",
        callee.output
    );
    eprintln!("call over the secondary trunk took {:?}", started.elapsed());

    // The primary alone: refused at once.
    let refused = invite_final(&server, "85551234");
    assert_eq!(status(&refused), 503, "{refused}");
    assert!(refused.contains("Trunks Unavailable"), "{refused}");

    // The primary answers again: up at its next probe.
    let back = SippUas::start("trunk_uas_options.xml", primary, &["-m", "1"]);
    let up = wait_for(&server, "primary", "up");
    assert_eq!(up["failures_in_row"], 0, "{up}");
    assert!(up["last_rtt_ms"].as_f64().is_some(), "{up}");
    let back = back.finish(Duration::from_secs(5));
    assert!(back.success, "{}", back.output);
    assert_logged(&server, "trunk up");
    health_until_idle(&server);
}

#[test]
fn rfc3261_s22_2_carrier_challenge_is_answered_with_the_trunk_credentials() {
    let carrier = free_port();
    let dir = TempDir::new("sb-trunk-auth");
    let plan = dir.path().join("dialplan.toml");
    std::fs::write(&plan, PLAN).expect("write plan");
    let extra = format!(
        "[dialplan]\nfile = \"{}\"\n\
         [[trunks]]\nname = \"primary\"\naddress = \"127.0.0.1:{carrier}\"\n\
         domain = \"carrier.example\"\nusername = \"acct-17\"\npassword = \"s3cret\"\n\
         [[trunks]]\nname = \"secondary\"\naddress = \"127.0.0.1:{}\"\n",
        plan.display(),
        free_port()
    );
    let server = Server::start(&config_with(&extra));
    let media = free_port().to_string();
    let trunk = SippUas::start(
        "trunk_uas_digest.xml",
        carrier,
        &["-mi", "127.0.0.1", "-mp", &media],
    );
    let caller_media = free_port().to_string();
    let args = caller_sipp_args(&server, "85551234", &caller_media);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let uac = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let trunk = trunk.finish(Duration::from_secs(15));
    assert!(uac.success, "caller:\n{}\n{}", uac.output, server.log());
    assert!(trunk.success, "carrier:\n{}", trunk.output);
    let invites = sipp_received(&trunk.output, "INVITE ");
    assert_eq!(invites.len(), 2, "challenged, then authorized: {invites:?}");
    assert!(
        invites[1].contains("CSeq: 2 INVITE") && invites[1].contains("username=\"acct-17\""),
        "{}",
        invites[1]
    );
    assert!(
        !invites[1].contains("s3cret"),
        "the password never travels: {}",
        invites[1]
    );
    health_until_idle(&server);
}

#[test]
fn rfc3261_s10_registration_to_a_carrier_is_authenticated_and_refreshed_halfway() {
    let carrier = free_port();
    let registrar = SippUas::start("trunk_uas_register.xml", carrier, &[]);
    let extra = format!(
        "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{carrier}\"\n\
         domain = \"carrier.example\"\nusername = \"acct-17\"\npassword = \"s3cret\"\n\
         register = true\nregister_expires_s = 60\n"
    );
    let server = Server::start(&config_with(&extra).replacen(
        "[http]\n",
        &format!("[http]\napi_token = \"{TOKEN}\"\n"),
        1,
    ));
    let started = Instant::now();
    let registrar = registrar.finish(Duration::from_secs(20));
    assert!(
        registrar.success,
        "carrier registrar:\n{}\n{}",
        registrar.output,
        server.log()
    );
    let registers = sipp_received(&registrar.output, "REGISTER ");
    assert_eq!(registers.len(), 4, "two challenged rounds: {registers:?}");
    for (i, r) in registers.iter().enumerate() {
        assert!(r.starts_with("REGISTER sip:carrier.example SIP/2.0"), "{r}");
        assert!(r.contains(&format!("CSeq: {} REGISTER", i + 1)), "{r}");
        assert!(r.contains("To: <sip:acct-17@carrier.example>"), "{r}");
        assert!(
            r.contains(&format!("Contact: <sip:acct-17@{}>", server.sip)),
            "{r}"
        );
        assert!(r.contains("Expires: 60"), "{r}");
    }
    let call_id = |m: &str| support::header(m, "Call-ID").map(str::to_owned);
    assert!(
        registers
            .iter()
            .all(|r| call_id(r) == call_id(&registers[0])),
        "one Call-ID for the binding"
    );
    // The refresh came after about half of the 4 s granted.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "refreshed too early: {:?}",
        started.elapsed()
    );
    let all = trunks(&server);
    let reg = &all[0]["registration"];
    assert_eq!(reg["status"], "registered", "{all:?}");
    assert!(reg["expires_at"].as_str().is_some(), "{reg}");
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("switchboard_trunk_registered{trunk=\"carrier\"} 1"),
        "{metrics}"
    );
}

#[test]
fn rfc3261_s18_calls_to_a_tcp_trunk_go_over_tcp_both_ways() {
    let carrier = free_port();
    let media = free_port().to_string();
    let trunk = SippUas::start(
        "call_uas_answer.xml",
        carrier,
        &["-t", "t1", "-mi", "127.0.0.1", "-mp", &media],
    );
    let dir = TempDir::new("sb-tcp-trunk");
    let plan = dir.path().join("dialplan.toml");
    std::fs::write(&plan, PLAN).expect("write plan");
    let extra = format!(
        "[dialplan]\nfile = \"{}\"\n\
         [[trunks]]\nname = \"primary\"\naddress = \"127.0.0.1:{carrier}\"\ntransport = \"tcp\"\n\
         [[trunks]]\nname = \"secondary\"\naddress = \"127.0.0.1:{}\"\n",
        plan.display(),
        free_port()
    );
    let server = Server::start(&config_with(&extra));
    let args = caller_sipp_args(&server, "95551234", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let uac = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let trunk = trunk.finish(Duration::from_secs(15));
    assert!(uac.success, "caller:\n{}\n{}", uac.output, server.log());
    assert!(
        trunk.success,
        "TCP trunk:\n{}\n{}",
        trunk.output,
        server.log()
    );
    // Our INVITE and the relayed BYE both came over TCP, saying so, with a Contact to reach us
    // over TCP (RFC 3261 §18.1.1, §19.1.1).
    for method in ["INVITE ", "BYE "] {
        let got = sipp_received(&trunk.output, method);
        let m = got
            .first()
            .unwrap_or_else(|| panic!("no {method}: {}", trunk.output));
        assert!(m.contains("Via: SIP/2.0/TCP "), "{m}");
    }
    let invite = sipp_received(&trunk.output, "INVITE ");
    assert!(
        invite
            .first()
            .is_some_and(|m| m.contains(";transport=tcp>")),
        "Contact over TCP: {invite:?}"
    );
    health_until_idle(&server);
}

#[test]
fn rfc3261_s10_2_2_registration_to_a_carrier_is_removed_at_shutdown() {
    let carrier = free_port();
    let registrar = SippUas::start("trunk_uas_unregister.xml", carrier, &[]);
    let extra = format!(
        "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{carrier}\"\n\
         domain = \"carrier.example\"\nusername = \"acct-17\"\npassword = \"s3cret\"\n\
         register = true\nregister_expires_s = 600\n"
    );
    let server = Server::start(&config_with(&extra).replacen(
        "[http]\n",
        &format!("[http]\napi_token = \"{TOKEN}\"\n"),
        1,
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while trunks(&server)[0]["registration"]["status"] != "registered" {
        assert!(
            Instant::now() < deadline,
            "not registered:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let exit = server.terminate();
    assert!(exit.success(), "clean exit: {exit:?}");
    let registrar = registrar.finish(Duration::from_secs(10));
    assert!(
        registrar.success,
        "carrier registrar:\n{}",
        registrar.output
    );
    let registers = sipp_received(&registrar.output, "REGISTER ");
    assert_eq!(registers.len(), 4, "{registers:?}");
    for (i, r) in registers.iter().enumerate() {
        assert!(r.contains(&format!("CSeq: {} REGISTER", i + 1)), "{r}");
        let expires = if i < 2 { "Expires: 600" } else { "Expires: 0" };
        assert!(r.contains(expires), "{r}");
    }
    let call_id = |m: &str| support::header(m, "Call-ID").map(str::to_owned);
    assert_eq!(
        call_id(&registers[3]),
        call_id(&registers[0]),
        "the same binding"
    );
}

#[test]
fn an_inbound_trunk_recognised_by_its_credentials_is_routed_as_that_trunk() {
    let dir = TempDir::new("sb-inbound-user");
    let plan = dir.path().join("dialplan.toml");
    std::fs::write(
        &plan,
        r#"
[[rules]]
name = "from the pbx"
match = { called = { prefix = "555" }, source = "trunk:pbx" }
action = { kind = "reject", code = 486, reason = "Seen As PBX" }

[[rules]]
name = "from users"
match = { called = { prefix = "555" }, source = "users" }
action = { kind = "reject", code = 403, reason = "Seen As User" }
"#,
    )
    .expect("write plan");
    let with_trunk = |inbound_user: &str| {
        format!(
            "[dialplan]\nfile = \"{}\"\n[[trunks]]\nname = \"pbx\"\naddress = \"127.0.0.1:{}\"\n{inbound_user}",
            plan.display(),
            free_port()
        )
    };
    // 1001 authenticates its INVITE: without inbound_user it is a user, with it the PBX trunk.
    let server = Server::start(&config_with(&with_trunk("")));
    let seen = invite_final(&server, "5551234");
    assert_eq!(status(&seen), 403, "{seen}");
    let server = Server::start(&config_with(&with_trunk("inbound_user = \"1001\"\n")));
    let seen = invite_final(&server, "5551234");
    assert_eq!(status(&seen), 486, "{seen}");
    assert!(seen.contains("Seen As PBX"), "{seen}");
}
