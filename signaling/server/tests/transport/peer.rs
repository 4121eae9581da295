//! Test vocabulary for `transport.rs`: `[sip]` configs, OPTIONS requests, a Content-Length framing TCP
//! peer with bounded reads, and `/health` probes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::{Server, header, status};

/// A config with extra `[sip]` keys and the given listen addresses (the example users, HTTP on loopback).
pub(crate) fn sip_config(listen: &[&str], sip_extra: &str) -> String {
    let listen: Vec<String> = listen.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"
[sip]
listen = [{}]
{sip_extra}
[http]
listen = "127.0.0.1:0"
[registrar]
realm = "switchboard"
[[users]]
username = "1001"
password = "1001pass"
"#,
        listen.join(", ")
    )
}

/// An OPTIONS request from `local` over `transport` (`UDP`/`TCP`), CRLF line ends.
pub(crate) fn options(
    server: SocketAddr,
    local: SocketAddr,
    transport: &str,
    call_id: &str,
) -> String {
    format!(
        "OPTIONS sip:{server} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:probe@{local}>;tag=t{call_id}\r\n\
         To: <sip:{server}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A raw SIP-over-TCP peer that frames what it reads by Content-Length.
pub(crate) struct TcpPeer {
    pub(crate) stream: TcpStream,
    pub(crate) buf: Vec<u8>,
}

impl TcpPeer {
    pub(crate) fn connect(server: SocketAddr) -> TcpPeer {
        let stream =
            TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        TcpPeer {
            stream,
            buf: Vec::new(),
        }
    }

    pub(crate) fn local(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("tcp write");
    }

    /// Reads more bytes before `deadline`; `Ok(0)` on EOF, `Err(TimedOut)` when the deadline passes.
    pub(crate) fn fill(&mut self, deadline: Instant) -> std::io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(ErrorKind::TimedOut.into())
            }
            Err(e) => Err(e),
        }
    }

    /// The next whole message (Content-Length framed), 5 s limit.
    pub(crate) fn recv(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(msg) = self.take_message() {
                return msg;
            }
            match self.fill(deadline) {
                Ok(0) => panic!(
                    "server closed the connection; buffered: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!("no complete message from server within 5 s: {e}"),
            }
        }
    }

    pub(crate) fn take_message(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let head_end = text.find("\r\n\r\n")? + 4;
        let cl: usize = header(&text, "Content-Length")
            .and_then(|v| v.parse().ok())
            .expect("response has Content-Length");
        if self.buf.len() < head_end + cl {
            return None;
        }
        let msg: Vec<u8> = self.buf.drain(..head_end + cl).collect();
        Some(String::from_utf8_lossy(&msg).into_owned())
    }

    /// Waits up to `limit` for the server to close the connection; returns how long that took. Panics if
    /// the server sends a message instead or keeps the connection open.
    pub(crate) fn expect_close(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        let deadline = start + limit;
        loop {
            match self.fill(deadline) {
                Ok(0) => return start.elapsed(),
                Ok(_) => assert!(
                    self.take_message().is_none(),
                    "server answered instead of closing: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                // A reset is a close as well.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
                Err(e) => panic!("connection still open after {limit:?}: {e}"),
            }
        }
    }
}

/// OPTIONS over a fresh TCP connection; asserts a 200 with the request's Call-ID.
pub(crate) fn assert_tcp_served(server: SocketAddr, call_id: &str) {
    let mut peer = TcpPeer::connect(server);
    let req = options(server, peer.local(), "TCP", call_id);
    peer.send(req.as_bytes());
    let resp = peer.recv();
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(header(&resp, "Call-ID"), Some(call_id));
}

/// OPTIONS over UDP from `bind`; returns the response and the address it came from.
pub(crate) fn udp_options(
    bind: &str,
    server: SocketAddr,
    call_id: &str,
) -> (String, SocketAddr, SocketAddr) {
    let socket = UdpSocket::bind(bind).expect("bind udp");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = socket.local_addr().expect("local");
    socket
        .send_to(options(server, local, "UDP", call_id).as_bytes(), server)
        .expect("send");
    let mut buf = [0u8; 65535];
    let (n, from) = socket
        .recv_from(&mut buf)
        .expect("no UDP answer within 5 s");
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from, local)
}

/// `tcp_connections` from `/health`.
pub(crate) fn tcp_connections(server: &Server) -> u64 {
    let (code, body) = server.http_get("/health");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("health json");
    v["tcp_connections"].as_u64().expect("tcp_connections")
}

/// Polls `/health` until `tcp_connections == want` (20 s limit: on a loaded machine the server may
/// still be working through a flood's backlog before the connection's write queue fills).
pub(crate) fn wait_tcp_connections(server: &Server, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = tcp_connections(server);
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tcp_connections stayed {n}, expected {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sip_listen` from `/health`.
pub(crate) fn sip_listen(server: &Server) -> Vec<SocketAddr> {
    let (_, body) = server.http_get("/health");
    let v: serde_json::Value = serde_json::from_str(&body).expect("health json");
    v["sip_listen"]
        .as_array()
        .expect("sip_listen")
        .iter()
        .map(|a| a.as_str().expect("addr").parse().expect("socket addr"))
        .collect()
}
