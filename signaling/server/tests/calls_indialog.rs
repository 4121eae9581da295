//! Black-box in-dialog flows through the B2BUA: re-INVITE hold/resume (RFC 3261 §14, RFC 3264
//! §8.4), INFO (RFC 6086) and UPDATE (RFC 3311, also in the early dialog) relayed between a sipp caller and a sipp callee, with the SDP on both
//! legs anchored on the embedded media node and every call and media session released afterwards.

mod support;

use std::time::Duration;

use support::{
    Server, SippRun, SippUas, audio_port, caller_sipp_args, config_with, free_port,
    health_until_idle, register_user, released_rtp, sipp, sipp_received,
};

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A config with 8 workers, so a B-leg message not routed to its call's worker fails the call.
fn eight_workers() -> String {
    config_with("").replace("[sip]\n", "[sip]\nworkers = 8\n")
}

fn assert_both_passed(server: &Server, uac: &SippRun, uas: &SippRun) {
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

/// Runs caller scenario `uac` against callee scenario `uas` (callee with `-rtp_echo`); returns
/// both runs and the two media ports (caller, callee).
fn call(server: &Server, uac: &str, uas: &str) -> (SippRun, SippRun, u16, u16) {
    let uas_port = free_port();
    register_user(server, "1002", "1002pass", uas_port);
    let uas_media = free_port();
    let callee = SippUas::start(
        uas,
        uas_port,
        &[
            "-rtp_echo",
            "-mi",
            "127.0.0.1",
            "-mp",
            &uas_media.to_string(),
        ],
    );
    let uac_media = free_port();
    let caller = sipp(
        uac,
        server.sip,
        "udp",
        &refs(&caller_sipp_args(server, "1002", &uac_media.to_string())),
    );
    let callee = callee.finish(Duration::from_secs(20));
    assert_both_passed(server, &caller, &callee);
    (caller, callee, uac_media, uas_media)
}

#[test]
fn rfc3261_s14_caller_holds_and_resumes_by_reinvite_through_the_media_node() {
    let server = Server::start(&eight_workers());
    let (uac, uas, uac_media, uas_media) = call(
        &server,
        "call_uac_reinvite_hold.xml",
        "call_uas_reinvite.xml",
    );
    // The callee got the first INVITE and both re-INVITEs, every offer anchored on the node's
    // B-side port (never the caller's own), with the caller's hold and resume directions.
    let invites = sipp_received(&uas.output, "INVITE ");
    assert_eq!(invites.len(), 3, "{}", uas.output);
    let ports: Vec<Option<u16>> = invites.iter().map(|m| audio_port(m)).collect();
    let node_b = ports
        .first()
        .copied()
        .flatten()
        .expect("port in the first offer");
    assert!(
        ports.iter().all(|p| *p == Some(node_b)),
        "re-INVITE offers not on the node's leg-B port {node_b}: {ports:?}"
    );
    assert_ne!(
        node_b, uac_media,
        "the callee must not see the caller's media port"
    );
    assert!(invites.get(1).is_some_and(|m| m.contains("a=sendonly")));
    assert!(invites.get(2).is_some_and(|m| m.contains("a=sendrecv")));
    // The caller got three answers, all on the node's A-side port, the hold one a=recvonly.
    let answers: Vec<String> = sipp_received(&uac.output, "SIP/2.0 200")
        .into_iter()
        .filter(|m| m.contains("m=audio"))
        .collect();
    assert_eq!(answers.len(), 3, "{}", uac.output);
    let ports: Vec<Option<u16>> = answers.iter().map(|m| audio_port(m)).collect();
    let node_a = ports
        .first()
        .copied()
        .flatten()
        .expect("port in the first answer");
    assert!(ports.iter().all(|p| *p == Some(node_a)), "{ports:?}");
    assert_ne!(
        node_a, uas_media,
        "the caller must not see the callee's media port"
    );
    assert_ne!(node_a, node_b);
    assert!(answers.get(1).is_some_and(|m| m.contains("a=recvonly")));
    health_until_idle(&server);
    // The caller only sent audio after the resume: it reached the callee and the echo came back.
    let (to_a, to_b) = released_rtp(&server);
    assert!(
        to_b > 50 && to_a > 50,
        "RTP after the resume: to A {to_a}, to B {to_b}"
    );
}

/// The value of header `name` in a message as sipp logged it.
fn header_of<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn rfc6086_info_dtmf_and_rfc3311_update_are_relayed_to_the_callee_and_answered() {
    let server = Server::start(&eight_workers());
    let (uac, uas, _, _) = call(&server, "call_uac_info.xml", "call_uas_info.xml");
    let infos = sipp_received(&uas.output, "INFO ");
    assert_eq!(infos.len(), 2, "{}", uas.output);
    let invite = sipp_received(&uas.output, "INVITE ");
    let b_call_id = invite.first().and_then(|m| header_of(m, "Call-ID"));
    for (info, (ctype, body)) in infos.iter().zip([
        ("application/dtmf-relay", "Signal=5"),
        ("application/dtmf", "#"),
    ]) {
        assert_eq!(header_of(info, "Content-Type"), Some(ctype), "{info}");
        assert!(info.contains(body), "{info}");
        // In the callee's dialog (B-leg Call-ID), nothing of the caller's.
        assert_eq!(header_of(info, "Call-ID"), b_call_id, "{info}");
        assert!(
            !info.contains("1001@127.0.0.1:"),
            "caller's Contact leaked: {info}"
        );
    }
    assert_eq!(sipp_received(&uas.output, "UPDATE ").len(), 1);
    // The callee's 200s came back: one per INFO and the UPDATE, plus the INVITE's and the BYE's.
    let oks = sipp_received(&uac.output, "SIP/2.0 200");
    let cseqs: Vec<&str> = oks.iter().filter_map(|m| header_of(m, "CSeq")).collect();
    for want in ["3 INFO", "4 INFO", "5 UPDATE"] {
        assert!(cseqs.contains(&want), "no 200 for {want}: {cseqs:?}");
    }
    health_until_idle(&server);
}

#[test]
fn rfc3264_s8_4_callee_holds_with_unspecified_address_and_resumes() {
    let server = Server::start(&eight_workers());
    let (uac, uas, uac_media, uas_media) = call(
        &server,
        "call_uac_reinvite_answer.xml",
        "call_uas_reinvite_c0_hold.xml",
    );
    // The caller's answer to the first INVITE names the node's A-side port; both re-INVITEs from
    // the callee reach the caller on that port, the hold one still with c=0.0.0.0.
    let answer = sipp_received(&uac.output, "SIP/2.0 200")
        .into_iter()
        .find(|m| m.contains("m=audio"))
        .expect("answer to the caller");
    let node_a = audio_port(&answer).expect("port");
    let reinvites = sipp_received(&uac.output, "INVITE ");
    assert_eq!(reinvites.len(), 2, "{}", uac.output);
    for m in &reinvites {
        assert_eq!(audio_port(m), Some(node_a), "{m}");
        assert!(!m.contains(&format!("m=audio {uas_media} ")), "{m}");
    }
    assert!(
        reinvites
            .first()
            .is_some_and(|m| m.contains("c=IN IP4 0.0.0.0"))
    );
    assert!(
        reinvites
            .get(1)
            .is_some_and(|m| m.contains("c=IN IP4 127.0.0.1"))
    );
    // The callee's answers come back anchored on the node's B-side port, never the caller's.
    let first_offer = sipp_received(&uas.output, "INVITE ")
        .first()
        .and_then(|m| audio_port(m))
        .expect("offer to the callee");
    let answers: Vec<String> = sipp_received(&uas.output, "SIP/2.0 200")
        .into_iter()
        .filter(|m| m.contains("m=audio"))
        .collect();
    assert_eq!(answers.len(), 2, "{}", uas.output);
    for m in &answers {
        assert_eq!(audio_port(m), Some(first_offer), "{m}");
        assert_ne!(audio_port(m), Some(uac_media));
    }
    health_until_idle(&server);
    let (to_a, to_b) = released_rtp(&server);
    assert!(
        to_b > 50 && to_a > 50,
        "RTP after the resume: to A {to_a}, to B {to_b}"
    );
}

#[test]
fn rfc4028_s9_caller_refreshed_session_timer_is_answered_and_refreshed_here() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    // The callee answers and waits for the BYE: an UPDATE reaching it would fail its scenario.
    let callee = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let caller = sipp(
        "call_uac_timer.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let callee = callee.finish(Duration::from_secs(20));
    assert_both_passed(&server, &caller, &callee);
    // The B leg asked for a timer of its own; this callee's 2xx set none, so it is never refreshed.
    let offer = sipp_received(&callee.output, "INVITE ");
    assert!(
        offer
            .first()
            .is_some_and(|m| header_of(m, "Session-Expires") == Some("1800")),
        "the B leg asks for its own session timer: {offer:?}"
    );
    health_until_idle(&server);
}

#[test]
fn rfc4028_callee_leg_session_timer_is_refreshed_by_us() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    // The callee's 2xx names us refresher of a 4 s session: our UPDATE must reach it at 2 s,
    // before the caller hangs up at 3 s (the scenario fails without it).
    let callee = SippUas::start("call_uas_timer.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let caller = sipp(
        "call_uac_auth.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let callee = callee.finish(Duration::from_secs(20));
    assert_both_passed(&server, &caller, &callee);
    // The caller ran no timer: nothing of the callee's reached it.
    let ok = sipp_received(&caller.output, "SIP/2.0 200");
    assert!(
        ok.iter().all(|m| header_of(m, "Session-Expires").is_none()),
        "{ok:?}"
    );
    health_until_idle(&server);
}

#[test]
fn rfc4028_s9_session_interval_below_min_se_gets_422() {
    let server = Server::start(&eight_workers());
    // Routed to a registered callee (never called): the 422 comes from the call itself.
    register_user(&server, "1002", "1002pass", free_port());
    let uac_media = free_port().to_string();
    let caller = sipp(
        "call_uac_timer_too_small.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    assert!(
        caller.success,
        "{}\n--- server ---\n{}",
        caller.output,
        server.log()
    );
    health_until_idle(&server);
}

#[test]
fn rfc3261_s14_2_reinvite_without_sdp_is_answered_with_our_offer_without_the_callee() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    // The callee answers and waits for the BYE: a re-INVITE reaching it would fail its scenario.
    let callee = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let caller = sipp(
        "call_uac_reinvite_no_sdp.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let callee = callee.finish(Duration::from_secs(20));
    assert_both_passed(&server, &caller, &callee);
    let offers: Vec<String> = sipp_received(&caller.output, "SIP/2.0 200")
        .into_iter()
        .filter(|m| m.contains("m=audio"))
        .collect();
    assert_eq!(offers.len(), 2, "{}", caller.output);
    assert_eq!(
        offers.first().and_then(|m| audio_port(m)),
        offers.get(1).and_then(|m| audio_port(m)),
        "the 2xx offer is the node's port again"
    );
    health_until_idle(&server);
}

#[test]
fn rfc3261_s13_3_1_4_lost_acks_get_the_2xx_retransmitted_for_the_invite_and_the_reinvite() {
    let server = Server::start(&eight_workers());
    let (uac, _, _, _) = call(
        &server,
        "call_uac_reinvite_lost_ack.xml",
        "call_uas_reinvite_once.xml",
    );
    let oks = sipp_received(&uac.output, "SIP/2.0 200");
    let invite_oks = oks
        .iter()
        .filter(|m| {
            m.lines()
                .any(|l| l.trim().ends_with(" INVITE") && l.contains("CSeq"))
        })
        .count();
    assert!(
        invite_oks >= 4,
        "each 2xx at least twice: {invite_oks}\n{}",
        uac.output
    );
    health_until_idle(&server);
}

#[test]
fn held_call_is_not_hung_up_by_the_rtp_timeout_while_silent() {
    let config =
        eight_workers().replacen("[[users]]", "[media]\nrtp_timeout_secs = 1\n[[users]]", 1);
    let server = Server::start(&config);
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    // No RTP either way (no -rtp_echo, no pcap): only the hold keeps the call up.
    let callee = SippUas::start("call_uas_reinvite_once.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let caller = sipp(
        "call_uac_reinvite_hold_silent.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let callee = callee.finish(Duration::from_secs(20));
    assert_both_passed(&server, &caller, &callee);
    let log = server.log();
    assert!(log.contains("RTP timeout, on hold"), "{log}");
    assert!(!log.contains("RTP timeout: hanging up"), "{log}");
    health_until_idle(&server);
}

#[test]
fn rfc3261_s14_2_callee_reinvite_crossing_ours_gets_491_and_the_hold_completes() {
    let server = Server::start(&eight_workers());
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let callee = SippUas::start("call_uas_reinvite_glare.xml", uas_port, &[]);
    let uac_media = free_port().to_string();
    let caller = sipp(
        "call_uac_reinvite_hold_silent.xml",
        server.sip,
        "udp",
        &refs(&caller_sipp_args(&server, "1002", &uac_media)),
    );
    let callee = callee.finish(Duration::from_secs(20));
    assert_both_passed(&server, &caller, &callee);
    // The caller never saw the callee's crossing re-INVITE: only the B2BUA's answer to its own.
    assert!(
        sipp_received(&caller.output, "INVITE ").is_empty(),
        "{}",
        caller.output
    );
    health_until_idle(&server);
}

#[test]
fn rfc3311_s5_1_caller_update_during_early_media_reaches_the_callee_anchored_on_the_node() {
    let server = Server::start(&eight_workers());
    let (uac, uas, uac_media, _) = call(
        &server,
        "call_uac_early_update.xml",
        "call_uas_early_update.xml",
    );
    // The callee got the UPDATE in the early dialog of its 183, the offer on the node's B-side
    // port (as in the INVITE), never the caller's own.
    let invite = sipp_received(&uas.output, "INVITE ");
    let updates = sipp_received(&uas.output, "UPDATE ");
    assert_eq!(updates.len(), 1, "{}", uas.output);
    let node_b = invite
        .first()
        .and_then(|m| audio_port(m))
        .expect("offer port");
    assert_eq!(audio_port(&updates[0]), Some(node_b), "{}", updates[0]);
    assert_ne!(node_b, uac_media);
    // The caller's answer to its UPDATE is on the node's A-side port, as the 183 was.
    let early = sipp_received(&uac.output, "SIP/2.0 183");
    let answers = sipp_received(&uac.output, "SIP/2.0 200");
    let node_a = early.first().and_then(|m| audio_port(m)).expect("183 port");
    assert!(
        answers
            .iter()
            .filter(|m| m.contains("UPDATE"))
            .all(|m| audio_port(m) == Some(node_a) && m.contains("a=recvonly")),
        "{answers:?}"
    );
    health_until_idle(&server);
}
