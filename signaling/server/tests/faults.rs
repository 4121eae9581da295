//! Fault scenarios through the B2BUA: 10 % packet loss on both hops, and a callee that never answers.
//! Every call ends with both legs and its media session released.

mod support;

use std::time::{Duration, Instant};

use support::{
    Server, SippUas, UdpPeer, caller_sipp_args, config_with, free_port, health_until_idle,
    health_until_idle_within, invite_final, register_user, sipp, status,
};

#[test]
fn ten_percent_loss_on_both_hops_still_completes_every_call() {
    // Every SIP message in and out is kept in the log, for the failure message.
    let server = Server::start_logging(&config_with(""), &[], "info,switchboard::sip=trace");
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let calls = "30";
    let uas = SippUas::start(
        "call_uas_lossy.xml",
        uas_port,
        &["-m", calls, "-timeout", "90s"],
    );
    let mut args = caller_sipp_args(&server, "1002", &free_port().to_string());
    args.extend(
        ["-m", calls, "-r", "10", "-timeout", "90s"]
            .iter()
            .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let uac = sipp("call_uac_lossy.xml", server.sip, "udp", &refs);
    let uas = uas.finish(Duration::from_secs(60));
    let log = server.log();
    assert!(
        uac.success,
        "caller side lost calls:\n{}\n{log}",
        uac.output
    );
    assert!(uas.success, "callee side lost calls:\n{}", uas.output);
    // A BYE whose 200 is lost on every retransmission while the callee lingers (its 4 s
    // `timewait`; sipp's resent 200 is subject to the same loss) is given up by its client
    // transaction at Timer F (64*T1 = 32 s, RFC 3261 §17.1.2.2), which ends the call then.
    health_until_idle_within(
        &server,
        Duration::from_secs(40),
        &format!("caller:\n{}\ncallee:\n{}", uac.output, uas.output),
    );
}

#[test]
fn rfc3261_s17_1_1_2_silent_callee_gets_408_upstream_after_timer_b_and_nothing_is_left() {
    // T1 = 50 ms: Timer B (64·T1) fires after 3.2 s instead of 32 s.
    let server = Server::start(&config_with("").replacen(
        "[http]\n",
        "[sip.timers]\nt1_ms = 50\n[http]\n",
        1,
    ));
    let callee = UdpPeer::new(server.sip);
    register_user(&server, "1002", "1002pass", callee.local().port());
    let started = Instant::now();
    let final_response = invite_final(&server, "1002");
    assert_eq!(status(&final_response), 408, "{final_response}");
    // The silent callee saw the INVITE and its retransmissions (Timer A), never a CANCEL.
    callee
        .socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut invites = 0;
    let mut buf = [0u8; 65535];
    while let Ok((n, _)) = callee.socket.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !text.starts_with("CANCEL"),
            "no CANCEL without a provisional (§9.1)"
        );
        invites += usize::from(text.starts_with("INVITE "));
    }
    assert!(invites >= 3, "INVITE retransmitted over UDP, got {invites}");
    eprintln!("408 after {:?}", started.elapsed());
    health_until_idle(&server);
}
