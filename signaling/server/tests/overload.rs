//! Overload protection seen from outside: a call beyond `sip.max_calls` gets 503 with Retry-After while
//! the call already up carries on; and when messages have waited too long (the server stopped with
//! SIGSTOP while INVITEs pile up in its socket buffer; the kernel's receive timestamps show how long),
//! new calls get an immediate 503 while a BYE of a call already up is still handled.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::{
    Server, SippUas, UdpPeer, answered_call, caller_sipp_args, caller_until_bye, config_with,
    free_port, header, health_until_idle, invite_final, poll_until, register_user, sipp, status,
};

const TOKEN: &str = "overload-test-token-0123456789";

/// The example users with `sip_extra` in `[sip]` and the test's API token.
fn server_with(sip_extra: &str) -> Server {
    Server::start(
        &config_with("")
            .replace(
                "[sip]\nlisten = [\"127.0.0.1:0\"]\n",
                &format!("[sip]\nlisten = [\"127.0.0.1:0\"]\n{sip_extra}\n"),
            )
            .replace(
                "[http]\nlisten = \"127.0.0.1:0\"\n",
                &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
            ),
    )
}

/// One HTTP/1.1 request with the bearer token; returns status and body.
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_owned())
}

fn metrics(server: &Server) -> String {
    let (status, body) = server.http_get("/metrics");
    assert_eq!(status, 200);
    body
}

fn assert_metrics(server: &Server, lines: &[&str]) {
    let text = metrics(server);
    for line in lines {
        assert!(text.contains(line), "missing {line:?}:\n{text}");
    }
}

/// A 503 refusing a new call: Retry-After as configured and a Warning that says why.
fn assert_refused(response: &str, retry_after: &str, why: &str) {
    assert_eq!(status(response), 503, "{response}");
    assert_eq!(
        header(response, "Retry-After"),
        Some(retry_after),
        "{response}"
    );
    assert!(
        header(response, "Warning").is_some_and(|w| w.contains(why)),
        "{response}"
    );
}

#[test]
fn a_call_beyond_max_calls_gets_503_with_retry_after_and_the_call_up_carries_on() {
    let server = server_with("max_calls = 1\noverload_retry_after_secs = 7");
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let caller = caller_until_bye(&server, &free_port().to_string());
    let uuid = answered_call(&server, TOKEN)["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();

    // A second caller, authenticated, is refused while the first call is up.
    let refused = invite_final(&server, "1002");
    assert_refused(&refused, "7", "call limit");
    // So is an operator's click-to-call: the cap counts every call.
    let (status, body) = support::http_request(
        server.http,
        "POST",
        "/api/v1/calls",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        r#"{"from": "1002", "to": "1002"}"#,
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"max_calls\""), "{body}");

    // The first call is untouched: it ends normally, both sides get their BYE.
    let (status, body) = http(server.http, "DELETE", &format!("/api/v1/calls/{uuid}"));
    assert_eq!(status, 200, "{body}");
    let caller = caller.join().expect("caller thread");
    let uas = uas.finish(Duration::from_secs(15));
    assert!(
        caller.success,
        "caller:\n{}\n{}",
        caller.output,
        server.log()
    );
    assert!(uas.success, "callee:\n{}", uas.output);
    health_until_idle(&server);

    // With the call gone there is room again.
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let args = caller_sipp_args(&server, "1002", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_load.xml", server.sip, "udp", &refs);
    let uas = uas.finish(Duration::from_secs(15));
    assert!(
        caller.success,
        "caller:\n{}\n{}",
        caller.output,
        server.log()
    );
    assert!(uas.success, "callee:\n{}", uas.output);
    assert_metrics(
        &server,
        &[
            "switchboard_calls_rejected_total{reason=\"max_calls\"} 2",
            "switchboard_calls_rejected_total{reason=\"overload\"} 0",
            "switchboard_calls_answered_total 2",
        ],
    );
}

/// The PID of the server child of this test process that holds UDP port `port` (found through
/// /proc: this process's children, and the socket inode of the port in /proc/net/udp).
fn server_pid(port: u16) -> u32 {
    let udp = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    let inode = udp
        .lines()
        .skip(1)
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let local_port = cols.get(1)?.split(':').nth(1)?;
            (u16::from_str_radix(local_port, 16).ok()? == port).then(|| cols.get(9).copied())?
        })
        .expect("server's UDP socket in /proc/net/udp");
    let socket = format!("socket:[{inode}]");
    let tasks = std::fs::read_dir("/proc/self/task").expect("tasks");
    let children: Vec<u32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    children
        .into_iter()
        .find(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_str() == Some(&socket)))
        })
        .expect("server child holding the SIP port")
}

/// Waits until process `pid` is stopped (state `T` in /proc/PID/stat).
fn wait_stopped(pid: u32) {
    poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        match stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]) {
            Some("T") => Ok(()),
            _ => Err(format!("server not stopped: {stat}")),
        }
    });
}

/// An INVITE without To tag (a new call) from `peer`, Call-ID `call_id`.
fn new_invite(peer: &UdpPeer, server: SocketAddr, call_id: &str) {
    let local = peer.local();
    peer.send(&format!(
        "INVITE sip:1002@{server} SIP/2.0\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id};rport\n\
         From: <sip:1001@127.0.0.1>;tag=f-{call_id}\n\
         To: <sip:1002@{server}>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:1001@{local}>\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n"
    ));
}

/// The next final response `peer` receives (5 s at most, else the test fails with the server's log).
fn final_response(peer: &UdpPeer, server: &Server) -> String {
    let mut buf = [0u8; 65535];
    loop {
        let Ok((n, _)) = peer.socket.recv_from(&mut buf) else {
            panic!(
                "no final response within 5 s; server log:\n{}",
                server.log()
            );
        };
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        if status(&r) >= 200 {
            return r;
        }
    }
}

/// The caller's BYE for the answered call whose 200 (as the caller got it) is `ok`, sent from `peer`.
fn bye(peer: &UdpPeer, ok: &str) {
    let value = |name| header(ok, name).unwrap_or_else(|| panic!("{name} in {ok}"));
    let contact = value("Contact");
    let uri = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or(contact);
    peer.send(&format!(
        "BYE {uri} SIP/2.0\n\
         Via: SIP/2.0/UDP {};branch=z9hG4bK-bye;rport\n\
         From: {}\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 3 BYE\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        peer.local(),
        value("From"),
        value("To"),
        value("Call-ID"),
    ));
}

#[test]
fn when_messages_waited_too_long_new_calls_get_503_at_once_and_a_call_up_still_hangs_up() {
    // One worker, so every message below goes through one detector, in order. A message that waited
    // 16 times overload_queue_delay_ms trips it on its own (the average weighs the newest by 1/16).
    let server =
        server_with("workers = 1\noverload_queue_delay_ms = 50\noverload_recovery_ms = 300");
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let media = free_port().to_string();
    let uas = SippUas::start(
        "overload_uas_answer.xml",
        uas_port,
        &["-mi", "127.0.0.1", "-mp", &media],
    );
    let ok = invite_final(&server, "1002");
    assert_eq!(status(&ok), 200, "{ok}\n{}", server.log());

    // Stopped, the server reads nothing: the new INVITEs and the call's BYE wait in its socket buffer.
    let pid = server_pid(server.sip.port());
    server.signal("STOP");
    wait_stopped(pid);
    let callers = UdpPeer::new(server.sip);
    let port = callers.local().port();
    let call_ids: Vec<String> = (0..5).map(|i| format!("shed-{i}-{port}")).collect();
    for id in &call_ids {
        new_invite(&callers, server.sip, id);
    }
    let hanging_up = UdpPeer::new(server.sip);
    bye(&hanging_up, &ok);
    std::thread::sleep(Duration::from_millis(1000));
    server.signal("CONT");

    // Every new call is refused at once (not challenged with 407, as it would be normally) ...
    let mut refused = Vec::new();
    while refused.len() < call_ids.len() {
        let r = final_response(&callers, &server);
        assert_refused(&r, "5", "Overloaded");
        refused.push(header(&r, "Call-ID").unwrap_or_default().to_owned());
    }
    refused.sort();
    let mut expected = call_ids.clone();
    expected.sort();
    assert_eq!(refused, expected);
    // ... while the BYE of the call already up is relayed and answered: that call ends normally.
    let r = final_response(&hanging_up, &server);
    assert_eq!(status(&r), 200, "{r}\n{}", server.log());
    let uas = uas.finish(Duration::from_secs(15));
    assert!(uas.success, "callee:\n{}\n{}", uas.output, server.log());
    assert_metrics(
        &server,
        &[
            "switchboard_calls_rejected_total{reason=\"overload\"} 5",
            "switchboard_calls_rejected_total{reason=\"max_calls\"} 0",
        ],
    );
    assert!(
        server.log().contains("refusing new calls with 503"),
        "{}",
        server.log()
    );

    // Once no message waited for overload_recovery_ms, new calls are taken again (challenged).
    poll_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || match metrics(&server).contains("switchboard_sip_overloaded 0") {
            true => Ok(()),
            false => Err(format!("still overloaded:\n{}", server.log())),
        },
    );
    assert!(server.log().contains("overload over"), "{}", server.log());
    let (_, health) = server.http_get("/health");
    assert!(health.contains("\"overloaded\":false"), "{health}");
    let peer = UdpPeer::new(server.sip);
    new_invite(&peer, server.sip, "after-overload");
    let r = final_response(&peer, &server);
    assert_eq!(status(&r), 407, "{r}");
}
