//! Black-box B2BUA calls between registered users: the release binary with its embedded media node,
//! a sipp UAS registered as the callee and a sipp UAC (or a raw UDP peer) as the authenticated caller.

mod support;

use std::time::{Duration, Instant};

use support::{
    Server, SippRun, SippUas, UdpPeer, caller_sipp_args, config_with, free_port, header,
    health_until_idle, invite_final, register_peer, register_user, sipp, status,
};

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Both sipps ended their scenario successfully; otherwise their output and the server's log.
fn assert_both_succeeded(uac: &SippRun, uas: &SippRun, server: &Server) {
    assert!(
        uac.success,
        "caller failed:\n{}\n--- callee ---\n{}\n--- server ---\n{}",
        uac.output,
        uas.output,
        server.log()
    );
    assert!(
        uas.success,
        "callee failed:\n{}\n--- server ---\n{}",
        uas.output,
        server.log()
    );
}

/// 1001 calls 1002 through `server`: 1002 registered at a sipp UAS running `uas` (media on its own
/// free port, plus `uas_extra`), 1001 a sipp UAC running `uac`. Returns both runs (caller, callee).
fn call_1002(server: &Server, uac: &str, uas: &str, uas_extra: &[&str]) -> (SippRun, SippRun) {
    let uas_port = free_port();
    register_user(server, "1002", "1002pass", uas_port);
    let uas_media = free_port().to_string();
    let mut args = vec!["-mi", "127.0.0.1", "-mp", &uas_media];
    args.extend_from_slice(uas_extra);
    let callee = SippUas::start(uas, uas_port, &args);
    let caller = sipp(
        uac,
        server.sip,
        "udp",
        &refs(&caller_sipp_args(server, "1002", &free_port().to_string())),
    );
    (caller, callee.finish(Duration::from_secs(15)))
}

#[test]
fn registered_user_calls_registered_user_with_media_anchored_and_bye() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas_media = free_port().to_string();
    let uas = SippUas::start(
        "call_uas_answer.xml",
        uas_port,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &uas_media],
    );
    let uac_media = free_port().to_string();
    let started = Instant::now();
    let uac = sipp(
        "call_uac_auth.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let uac_time = started.elapsed();
    let uas = uas.finish(Duration::from_secs(15));
    assert_both_succeeded(&uac, &uas, &server);
    // Neither side saw the other's media address: both SDPs point at the media node.
    for (side, text) in [("caller", &uac.output), ("callee", &uas.output)] {
        assert!(
            !text.contains(&format!("m=audio {uas_media} ")) || side == "callee",
            "{side} saw the callee's port:\n{text}"
        );
        assert!(
            !text.contains(&format!("m=audio {uac_media} ")) || side == "caller",
            "{side} saw the caller's port:\n{text}"
        );
    }
    health_until_idle(&server);
    // The caller's pcap went through the node to the callee, and the callee's echo came back.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("media released") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log();
    let released = log
        .lines()
        .find(|l| l.contains("media released"))
        .unwrap_or_else(|| panic!("no media release logged:\n{log}"));
    let count = |key: &str| -> u64 {
        released
            .split(&format!("{key}="))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (to_a, to_b) = (count("rtp_to_a"), count("rtp_to_b"));
    assert!(to_b > 50 && to_a > 50, "RTP relayed both ways: {released}");
    eprintln!(
        "call with 3 s of media took {uac_time:?} at the caller; RTP to B {to_b}, to A {to_a}"
    );
}

/// A config with 8 workers: a B-leg message hashed instead of routed to the call's worker would land
/// on another worker 7 times in 8 and fail the call.
fn eight_workers() -> String {
    config_with("").replace("[sip]\n", "[sip]\nworkers = 8\n")
}

#[test]
fn rfc3261_s15_1_callee_hangs_up_bye_reaches_the_caller_through_the_owning_worker() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_hangup.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let uac = sipp(
        "call_uac_callee_hangs_up.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let uas = uas.finish(Duration::from_secs(15));
    assert_both_succeeded(&uac, &uas, &server);
    health_until_idle(&server);
}

#[test]
fn caller_over_tcp_callee_over_udp_callee_hangs_up() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_hangup.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let uac = sipp(
        "call_uac_callee_hangs_up.xml",
        server.sip,
        "tcp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let uas = uas.finish(Duration::from_secs(15));
    assert_both_succeeded(&uac, &uas, &server);
    // RFC 3261 §19.1.1: the caller is told to reach us over TCP for the rest of the dialog, and
    // the callee's BYE relayed to it says TCP in its Via.
    let ok = support::sipp_received(&uac.output, "SIP/2.0 200");
    assert!(
        ok.first().is_some_and(|m| m.contains(";transport=tcp>")),
        "200 Contact: {ok:?}"
    );
    let bye = support::sipp_received(&uac.output, "BYE ");
    assert!(
        bye.first().is_some_and(|m| m.contains("Via: SIP/2.0/TCP ")),
        "{bye:?}"
    );
    health_until_idle(&server);
}

#[test]
fn silent_call_is_hung_up_on_both_legs_after_the_rtp_timeout() {
    let config =
        eight_workers().replacen("[[users]]", "[media]\nrtp_timeout_secs = 1\n[[users]]", 1);
    let server = Server::start(&config);
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    // No RTP either way: the callee answers and waits for our BYE; so does the caller.
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let started = Instant::now();
    let uac = sipp(
        "call_uac_callee_hangs_up.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let took = started.elapsed();
    let uas = uas.finish(Duration::from_secs(15));
    assert_both_succeeded(&uac, &uas, &server);
    assert!(
        server.log().contains("RTP timeout: hanging up"),
        "{}",
        server.log()
    );
    assert!(took < Duration::from_secs(10), "hung up after {took:?}");
    health_until_idle(&server);
}

#[test]
fn rfc3261_s9_cancel_during_ringing_gives_487_upstream() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_ring_cancel.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let uac = sipp(
        "call_uac_cancel.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let uas = uas.finish(Duration::from_secs(15));
    assert_both_succeeded(&uac, &uas, &server);
    health_until_idle(&server);
}

#[test]
fn rfc3261_s16_callee_not_registered_404_unknown_480_known() {
    let server = Server::start(&config_with(""));
    let known = invite_final(&server, "1002");
    assert_eq!(status(&known), 480, "known user without binding:\n{known}");
    let unknown = invite_final(&server, "1999");
    assert_eq!(status(&unknown), 404, "unknown user:\n{unknown}");
    health_until_idle(&server);
}

#[test]
fn rfc4733_key_press_on_the_caller_leg_is_reported_once_as_a_call_event() {
    let server = Server::start(&eight_workers());
    // No -rtp_echo: an echoing callee would send the digit back and it would be reported on leg B too.
    let (uac, uas) = call_1002(&server, "call_uac_dtmf.xml", "call_uas_answer.xml", &[]);
    assert_both_succeeded(&uac, &uas, &server);
    health_until_idle(&server);
    let log = server.log();
    let digits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" dtmf ") || l.ends_with(" dtmf"))
        .collect();
    assert_eq!(digits.len(), 1, "exactly one key press reported:\n{log}");
    assert!(
        digits[0].contains("digit=1")
            && digits[0].contains("leg=\"a\"")
            && digits[0].contains("duration_ms=280"),
        "digit 1 of 280 ms on the caller's leg: {}",
        digits[0]
    );
}

#[test]
fn rfc3262_callee_ringing_reliably_gets_its_prack_and_the_call_completes() {
    let server = Server::start(&config_with(""));
    // The callee expects our PRACK (its scenario fails without it).
    let (uac, uas) = call_1002(
        &server,
        "call_uac_auth.xml",
        "call_uas_100rel.xml",
        &["-rtp_echo"],
    );
    assert_both_succeeded(&uac, &uas, &server);
    // The caller's 180 is unreliable: it never offered 100rel.
    let ringing = support::sipp_received(&uac.output, "SIP/2.0 180");
    assert!(
        ringing.first().is_some_and(|r| !r.contains("RSeq")),
        "{ringing:?}"
    );
    health_until_idle(&server);
}

#[test]
fn rfc3262_caller_requiring_100rel_gets_a_reliable_180_and_its_prack_answered() {
    let server = Server::start(&config_with(""));
    // The caller checks the reliable 180 (Require, RSeq), PRACKs it and expects 200 for the PRACK.
    let (uac, uas) = call_1002(
        &server,
        "call_uac_100rel.xml",
        "call_uas_answer.xml",
        &["-rtp_echo"],
    );
    assert_both_succeeded(&uac, &uas, &server);
    // The callee's leg knows nothing of it: its INVITE does not require 100rel.
    let invite = support::sipp_received(&uas.output, "INVITE sip:");
    assert!(
        invite.first().is_some_and(|i| !i.contains("Require:")),
        "{invite:?}"
    );
    health_until_idle(&server);
}

#[test]
fn rfc3264_s4_late_offer_caller_gets_the_offer_in_the_200_and_answers_in_the_ack() {
    let server = Server::start(&config_with(""));
    // The callee gets Switchboard's own offer (the caller made none).
    let (uac, uas) = call_1002(
        &server,
        "call_uac_late_offer.xml",
        "originate_uas_first.xml",
        &[],
    );
    assert_both_succeeded(&uac, &uas, &server);
    // The caller's answer (in its ACK) pointed the node at it: audio went both ways.
    let (to_a, to_b) = support::released_rtp(&server);
    assert!(
        to_a > 10 && to_b > 10,
        "to A {to_a}, to B {to_b}\n{}",
        server.log()
    );
    health_until_idle(&server);
}

/// A phone behind NAT registers the private Contact it has (192.168.77.10, unreachable here) from
/// its NAT binding (a loopback socket): its calls go where its REGISTER came from, with its
/// Contact as the Request-URI, and its answer (486) reaches the caller.
#[test]
fn phone_behind_nat_gets_its_calls_where_its_register_came_from() {
    let server = Server::start(&config_with(""));
    let phone = UdpPeer::new(server.sip);
    let contact = "<sip:1002@192.168.77.10:5060>";
    register_peer(&server, &phone, "1002", "1002pass", contact);
    std::thread::scope(|s| {
        let caller = s.spawn(|| invite_final(&server, "1002"));
        let invite = loop {
            let m = phone.recv();
            if m.starts_with("INVITE ") {
                break m;
            }
        };
        assert!(
            invite.starts_with("INVITE sip:1002@192.168.77.10:5060 SIP/2.0"),
            "{invite}"
        );
        let to = header(&invite, "To").expect("To");
        let copied: String = ["Via", "From", "Call-ID", "CSeq"]
            .iter()
            .map(|h| format!("{h}: {}\r\n", header(&invite, h).expect("header")))
            .collect();
        phone.send(&format!(
            "SIP/2.0 486 Busy Here\r\n{copied}To: {to};tag=natphone\r\nContent-Length: 0\r\n\r\n"
        ));
        let last = caller.join().expect("caller");
        assert_eq!(status(&last), 486, "{last}\n{}", server.log());
        let ack = phone.recv();
        assert!(ack.starts_with("ACK sip:1002@192.168.77.10:5060"), "{ack}");
    });
    health_until_idle(&server);
}
