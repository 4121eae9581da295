//! SIP transports seen from raw peers (RFC 3261 §18, RFC 5626 §4.4.1): TCP framing, pipelining and split
//! writes, CRLF keepalive, partial-message and idle timeouts, unframeable streams, peers that do not read,
//! IPv6, several listen addresses, oversized datagrams. Every wait is bounded; timeouts are configured to
//! 1-2 s.

#[path = "transport/peer.rs"]
mod peer;
mod support;

use std::io::{ErrorKind, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use peer::{
    TcpPeer, assert_tcp_served, options, sip_config, sip_listen, tcp_connections, udp_options,
    wait_tcp_connections,
};
use support::{Server, header, status};

#[test]
fn rfc3261_s18_2_2_tcp_options_answered_on_the_same_connection() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], ""));
    let mut peer = TcpPeer::connect(server.sip);
    let req = options(server.sip, peer.local(), "TCP", "tcp-same-conn");
    peer.send(req.as_bytes());
    let resp = peer.recv();
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(header(&resp, "Call-ID"), Some("tcp-same-conn"));
    assert!(
        header(&resp, "Via").is_some_and(|v| v.starts_with("SIP/2.0/TCP ")),
        "{resp}"
    );
    // The connection stays usable for the next transaction.
    let req = options(server.sip, peer.local(), "TCP", "tcp-same-conn-2");
    peer.send(req.as_bytes());
    let resp = peer.recv();
    assert_eq!(header(&resp, "Call-ID"), Some("tcp-same-conn-2"), "{resp}");
    // Exactly one connection: the server answered on ours instead of opening one back to us.
    assert_eq!(tcp_connections(&server), 1);
}

#[test]
fn rfc3261_s18_3_pipelined_tcp_requests_in_one_write_are_all_answered() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], ""));
    let mut peer = TcpPeer::connect(server.sip);
    let local = peer.local();
    // Same Call-ID, so one worker handles both in arrival order; a body exercises Content-Length framing.
    let first = options(server.sip, local, "TCP", "pipe").replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    );
    let second = options(server.sip, local, "TCP", "pipe")
        .replace("z9hG4bKpipe", "z9hG4bKpipe2")
        .replace("CSeq: 1 ", "CSeq: 2 ");
    peer.send(format!("{first}{second}").as_bytes());
    let a = peer.recv();
    let b = peer.recv();
    assert_eq!(status(&a), 200, "{a}");
    assert_eq!(status(&b), 200, "{b}");
    assert_eq!(header(&a, "CSeq"), Some("1 OPTIONS"), "{a}");
    assert_eq!(header(&b, "CSeq"), Some("2 OPTIONS"), "{b}");
}

#[test]
fn rfc3261_s18_3_many_pipelined_tcp_requests_of_different_calls_are_each_answered_once() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], ""));
    let mut peer = TcpPeer::connect(server.sip);
    let local = peer.local();
    // Different Call-IDs go to different workers, so only the set of answers is fixed, not their order.
    let mut want: Vec<String> = (0..20).map(|i| format!("many-{i}")).collect();
    let burst: String = want
        .iter()
        .map(|c| options(server.sip, local, "TCP", c))
        .collect();
    peer.send(burst.as_bytes());
    let mut got: Vec<String> = (0..want.len())
        .map(|_| {
            let resp = peer.recv();
            assert_eq!(status(&resp), 200, "{resp}");
            header(&resp, "Call-ID").expect("Call-ID").to_owned()
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Nothing more: no duplicate answers.
    let deadline = Instant::now() + Duration::from_millis(200);
    assert!(
        matches!(peer.fill(deadline), Err(e) if e.kind() == ErrorKind::TimedOut),
        "extra data: {:?}",
        String::from_utf8_lossy(&peer.buf)
    );
}

#[test]
fn rfc3261_s18_3_tcp_message_split_across_writes_is_framed_by_content_length() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], ""));
    let mut peer = TcpPeer::connect(server.sip);
    let req = options(server.sip, peer.local(), "TCP", "split").replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
    );
    let bytes = req.as_bytes();
    // Cut inside the request line, inside a header, between CR and LF of the blank line, inside the body.
    let blank = req.find("\r\n\r\n").expect("blank line") + 1;
    let cuts = [5, 60, blank, blank + 6, bytes.len()];
    let mut from = 0;
    for cut in cuts {
        peer.send(&bytes[from..cut]);
        from = cut;
        if cut < bytes.len() {
            // The server must not answer (or close) before the message is complete.
            let deadline = Instant::now() + Duration::from_millis(150);
            match peer.fill(deadline) {
                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                other => panic!("server reacted to a partial message: {other:?}"),
            }
        }
    }
    let resp = peer.recv();
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(header(&resp, "Call-ID"), Some("split"));
}

#[test]
fn rfc5626_s4_4_1_crlfcrlf_ping_gets_crlf_pong() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], ""));
    let mut peer = TcpPeer::connect(server.sip);
    peer.send(b"\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer.buf.len() < 2 {
        match peer.fill(deadline) {
            Ok(n) if n > 0 => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    assert_eq!(peer.buf, b"\r\n", "pong is exactly one CRLF");
    peer.buf.clear();
    // A single CRLF (a pong from the peer) is not answered, and the connection still carries SIP.
    peer.send(b"\r\n");
    let req = options(server.sip, peer.local(), "TCP", "after-ping");
    peer.send(req.as_bytes());
    let resp = peer.recv();
    assert_eq!(header(&resp, "Call-ID"), Some("after-ping"), "{resp}");
    assert!(peer.buf.is_empty(), "{:?}", peer.buf);
}

#[test]
fn rfc3261_s18_3_partial_tcp_message_is_closed_after_partial_message_timeout() {
    let server = Server::start(&sip_config(
        &["127.0.0.1:0"],
        "tcp_partial_message_timeout_secs = 1\ntcp_idle_timeout_secs = 60",
    ));
    let mut stuck = TcpPeer::connect(server.sip);
    let req = options(server.sip, stuck.local(), "TCP", "half");
    stuck.send(&req.as_bytes()[..req.len() / 2]);
    let started = Instant::now();
    // Meanwhile a complete message on another connection is answered.
    assert_tcp_served(server.sip, "other-conn");
    let waited = stuck.expect_close(Duration::from_secs(5));
    let total = started.elapsed();
    assert!(
        total >= Duration::from_millis(900),
        "closed too early ({total:?}, waited {waited:?})"
    );
    assert!(total < Duration::from_secs(4), "closed too late: {total:?}");
    assert_tcp_served(server.sip, "after-close");
}

#[test]
fn rfc3261_s18_3_trickled_message_is_still_bounded_by_partial_message_timeout() {
    // A peer that keeps sending one byte at a time never completes its message: the partial timer runs
    // from the message's first byte, not from the last read.
    let server = Server::start(&sip_config(
        &["127.0.0.1:0"],
        "tcp_partial_message_timeout_secs = 1\ntcp_idle_timeout_secs = 60",
    ));
    let mut peer = TcpPeer::connect(server.sip);
    let req = options(server.sip, peer.local(), "TCP", "trickle");
    let start = Instant::now();
    let mut closed = false;
    for b in req.as_bytes().iter().take(req.len() - 1) {
        if peer.stream.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        let deadline = Instant::now() + Duration::from_millis(100);
        match peer.fill(deadline) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            other => panic!("unexpected while trickling: {other:?}"),
        }
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    assert!(closed, "server kept a trickling partial message open");
    let t = start.elapsed();
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(4),
        "{t:?}"
    );
}

#[test]
fn rfc3261_s18_3_partial_timer_restarts_for_each_pipelined_message() {
    // A message that completes resets the partial timer: the next message started in the same write has
    // its own full `tcp_partial_message_timeout`, not the remainder of its predecessor's.
    let server = Server::start(&sip_config(
        &["127.0.0.1:0"],
        "tcp_partial_message_timeout_secs = 2\ntcp_idle_timeout_secs = 60",
    ));
    let mut peer = TcpPeer::connect(server.sip);
    let local = peer.local();
    let first = options(server.sip, local, "TCP", "restart-1");
    let second = options(server.sip, local, "TCP", "restart-2");
    let (a1, a2) = first.split_at(40);
    peer.send(a1.as_bytes());
    std::thread::sleep(Duration::from_millis(1500));
    // Complete the first message and start the second in the same write.
    peer.send(format!("{a2}{}", &second[..40]).as_bytes());
    let resp = peer.recv();
    assert_eq!(header(&resp, "Call-ID"), Some("restart-1"), "{resp}");
    // 1 s later the second message is 1 s old (not 2.5 s): the connection must still be open.
    std::thread::sleep(Duration::from_millis(1000));
    peer.send(&second.as_bytes()[40..]);
    let resp = peer.recv();
    assert_eq!(header(&resp, "Call-ID"), Some("restart-2"), "{resp}");
}

#[test]
fn rfc3261_s18_idle_tcp_connection_is_closed_after_idle_timeout() {
    let server = Server::start(&sip_config(
        &["127.0.0.1:0"],
        "tcp_idle_timeout_secs = 1\ntcp_partial_message_timeout_secs = 1",
    ));
    let mut peer = TcpPeer::connect(server.sip);
    let req = options(server.sip, peer.local(), "TCP", "idle");
    peer.send(req.as_bytes());
    assert_eq!(status(&peer.recv()), 200);
    assert_eq!(tcp_connections(&server), 1);
    let waited = peer.expect_close(Duration::from_secs(5));
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
    wait_tcp_connections(&server, 0);
    // A connection that never sent anything is closed as well.
    let mut silent = TcpPeer::connect(server.sip);
    silent.expect_close(Duration::from_secs(5));
    wait_tcp_connections(&server, 0);
}

#[test]
fn rfc3261_s18_3_tcp_message_without_content_length_closes_the_connection() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], ""));
    let mut peer = TcpPeer::connect(server.sip);
    let req =
        options(server.sip, peer.local(), "TCP", "no-cl").replace("Content-Length: 0\r\n", "");
    peer.send(req.as_bytes());
    peer.expect_close(Duration::from_secs(5));
    wait_tcp_connections(&server, 0);
    assert_tcp_served(server.sip, "after-no-cl");
}

#[test]
fn rfc3261_s18_3_tcp_message_over_max_message_size_closes_the_connection() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], "max_message_size = 2048"));
    let mut peer = TcpPeer::connect(server.sip);
    let req = options(server.sip, peer.local(), "TCP", "big-tcp")
        .replace("Content-Length: 0", "Content-Length: 5000");
    peer.send(req.as_bytes());
    peer.expect_close(Duration::from_secs(5));
    assert_tcp_served(server.sip, "after-big-tcp");
}

#[test]
fn rfc3261_s18_2_1_ipv6_udp_and_tcp_are_answered_with_unbracketed_received() {
    let server = Server::start(&sip_config(&["[::1]:0"], ""));
    assert!(server.sip.is_ipv6(), "{}", server.sip);
    // UDP: Via sent-by is a bracketed reference; rport is filled with our port, received is the bare
    // IPv6 address (RFC 3261 §18.2.1 / RFC 3581 §4: `received` takes an IPv6address, no brackets).
    let (resp, from, local) = udp_options("[::1]:0", server.sip, "v6-udp");
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(from, server.sip, "answered from the address we sent to");
    let via = header(&resp, "Via").expect("Via");
    assert!(
        via.starts_with(&format!("SIP/2.0/UDP [::1]:{}", local.port())),
        "{via}"
    );
    assert!(via.contains(";received=::1"), "{via}");
    assert!(via.contains(&format!(";rport={}", local.port())), "{via}");
    assert!(!via.contains("received=["), "{via}");

    let mut peer = TcpPeer::connect(server.sip);
    assert!(peer.local().is_ipv6());
    let req = options(server.sip, peer.local(), "TCP", "v6-tcp");
    peer.send(req.as_bytes());
    let resp = peer.recv();
    assert_eq!(status(&resp), 200, "{resp}");
    let via = header(&resp, "Via").expect("Via");
    assert!(
        via.starts_with(&format!("SIP/2.0/TCP [::1]:{}", peer.local().port())),
        "{via}"
    );
    assert!(
        via.contains(&format!(";rport={}", peer.local().port())),
        "{via}"
    );
    assert!(!via.contains("received=["), "{via}");
}

#[test]
fn rfc3261_s18_ipv4_and_ipv6_listeners_side_by_side() {
    let server = Server::start(&sip_config(&["127.0.0.1:0", "[::1]:0"], ""));
    let addrs = sip_listen(&server);
    let v4 = *addrs.iter().find(|a| a.is_ipv4()).expect("v4 listener");
    let v6 = *addrs.iter().find(|a| a.is_ipv6()).expect("v6 listener");
    let (resp, from, _) = udp_options("127.0.0.1:0", v4, "dual-v4");
    assert_eq!((status(&resp), from), (200, v4), "{resp}");
    let (resp, from, _) = udp_options("[::1]:0", v6, "dual-v6");
    assert_eq!((status(&resp), from), (200, v6), "{resp}");
    assert_tcp_served(v4, "dual-v4-tcp");
    assert_tcp_served(v6, "dual-v6-tcp");
}

#[test]
fn rfc3261_s18_2_2_each_listen_address_answers_from_itself() {
    let server = Server::start(&sip_config(&["127.0.0.1:0", "127.0.0.2:0"], ""));
    let addrs = sip_listen(&server);
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    for (i, addr) in addrs.iter().enumerate() {
        let call_id = format!("multi-{i}");
        let (resp, from, _) = udp_options("127.0.0.1:0", *addr, &call_id);
        assert_eq!(status(&resp), 200, "{resp}");
        assert_eq!(header(&resp, "Call-ID"), Some(call_id.as_str()));
        assert_eq!(
            from, *addr,
            "the response must come from the address the request was sent to"
        );
        let mut peer = TcpPeer::connect(*addr);
        let req = options(*addr, peer.local(), "TCP", &format!("{call_id}-tcp"));
        peer.send(req.as_bytes());
        assert_eq!(status(&peer.recv()), 200);
        assert_eq!(peer.stream.peer_addr().expect("peer"), *addr);
    }
}

#[test]
fn rfc3261_s18_1_1_oversized_udp_datagram_is_not_processed() {
    let server = Server::start(&sip_config(&["127.0.0.1:0"], "max_message_size = 2048"));
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = socket.local_addr().expect("local");
    let body = "x".repeat(3000);
    let big = options(server.sip, local, "UDP", "too-big").replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Type: text/plain\r\nContent-Length: 3000\r\n\r\n{body}"),
    );
    assert!(big.len() > 3000);
    socket.send_to(big.as_bytes(), server.sip).expect("send");
    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    let mut buf = [0u8; 65535];
    if let Ok((n, _)) = socket.recv_from(&mut buf) {
        let resp = String::from_utf8_lossy(&buf[..n]);
        // No 200 (and no 400 for a truncated body); 513 would be the only acceptable answer.
        assert_eq!(
            status(&resp),
            513,
            "oversized datagram was processed: {resp}"
        );
    }
    // The server keeps serving, and the exact limit is still accepted.
    let pad = 2048 - options(server.sip, local, "UDP", "at-limit").len() - "X-Pad: \r\n".len();
    let at_limit = options(server.sip, local, "UDP", "at-limit").replace(
        "Content-Length: 0",
        &format!("X-Pad: {}\r\nContent-Length: 0", "p".repeat(pad)),
    );
    assert_eq!(at_limit.len(), 2048);
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket
        .send_to(at_limit.as_bytes(), server.sip)
        .expect("send");
    let (n, _) = socket.recv_from(&mut buf).expect("answer at the limit");
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(header(&resp, "Call-ID"), Some("at-limit"));
}

#[test]
fn rfc3261_s18_4_tcp_peer_that_never_reads_does_not_stall_other_peers() {
    // A peer floods requests over TCP but never reads its responses, with a tiny receive window. Once the
    // server cannot hand it more bytes, that connection must be given up (a transport error, RFC 3261
    // §18.4), not waited on: other peers, whatever worker their Call-ID lands on, are still answered.
    // Flood bans are off: they would ban the flooding address (and with it the bystanders, who share
    // 127.0.0.1) before the connection fills, whenever the flood is fast enough.
    let config = format!(
        "{}[security]\nflood_max_per_sec = 0\n",
        sip_config(&["127.0.0.1:0"], "")
    );
    let server = Server::start(&config);
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    socket
        .connect_timeout(&server.sip.into(), Duration::from_secs(5))
        .expect("connect");
    let mut flood: TcpStream = socket.into();
    let local = flood.local_addr().expect("local");
    let sip = server.sip;
    flood
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    let writer = std::thread::spawn(move || {
        let mut sent = 0usize;
        // Keep flooding (bounded: 200,000 requests or 15 s) until the server gives up on us. Under
        // load it sheds part of the flood, so a fixed count may never fill its queue for us.
        let started = std::time::Instant::now();
        for chunk in 0..2000 {
            if started.elapsed() > Duration::from_secs(15) {
                break;
            }
            let burst: String = (0..100)
                .map(|i| options(sip, local, "TCP", &format!("flood-{chunk}-{i}")))
                .collect();
            if flood.write_all(burst.as_bytes()).is_err() {
                break; // the server gave up on us: that is the expected outcome
            }
            sent += 100;
        }
        (sent, flood)
    });
    // Keep the flooding connection open (unread) while the bystanders are served.
    let (sent, _flood) = writer.join().expect("flood thread");
    assert!(sent > 0);
    for i in 0..8 {
        let call_id = format!("bystander-{i}");
        let (resp, _, _) = udp_options("127.0.0.1:0", server.sip, &call_id);
        assert_eq!(status(&resp), 200, "{resp}");
        assert_eq!(header(&resp, "Call-ID"), Some(call_id.as_str()));
    }
    // The connection that did not drain was dropped by the server.
    wait_tcp_connections(&server, 0);
}
