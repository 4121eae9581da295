//! Test vocabulary for black-box tests: start the real `switchboard-signaling` binary on loopback with
//! ephemeral ports, run sipp scenarios from `tests/sipp/` against it, and talk raw SIP over UDP.

#![allow(dead_code, unreachable_pub)]

pub mod baresip;
pub mod certs;
pub mod media_node;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A running `switchboard-signaling` child process, killed (by its own PID) on drop.
pub struct Server {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    _dir: TempDir,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// The example users plus the given extra TOML, listening on 127.0.0.1 with ephemeral ports.
pub fn config_with(extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["127.0.0.1:0"]
[http]
listen = "127.0.0.1:0"
[registrar]
realm = "switchboard"
{extra}
[[users]]
username = "1001"
password = "1001pass"
[[users]]
username = "1002"
password = "1002pass"
"#
    )
}

impl Server {
    /// Starts the binary with the given config text and waits for its ready line.
    pub fn start(config: &str) -> Server {
        Self::start_with_args(config, &[])
    }

    pub fn start_with_args(config: &str, args: &[&str]) -> Server {
        let log = std::env::var("SWITCHBOARD_TEST_LOG").unwrap_or_else(|_| "info".into());
        Self::start_logging(config, args, &log)
    }

    /// Starts the binary with `RUST_LOG=log` (e.g. `info,switchboard::sip=trace` to keep every SIP
    /// message in [`Server::log`]).
    pub fn start_logging(config: &str, args: &[&str], log: &str) -> Server {
        let dir = TempDir::new("sb-signaling");
        let path = dir.path.join("switchboard.toml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard-signaling"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("RUST_LOG", log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard-signaling");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "server did not become ready; stderr:\n{}",
                    stderr.lock().map(|s| s.clone()).unwrap_or_default()
                )
            });
        // "switchboard-signaling ready: sip 127.0.0.1:P (udp+tcp), http 127.0.0.1:Q"
        let sip = line
            .split("sip ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .expect("sip addr in ready line");
        let http = line
            .split("http ")
            .nth(1)
            .map(str::trim)
            .expect("http addr in ready line");
        Server {
            child,
            sip: sip.parse().expect("sip addr"),
            http: http.parse().expect("http addr"),
            _dir: dir,
            stderr,
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// GET a path on the HTTP listener; returns (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path)
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    /// Sends `signal` (e.g. `HUP`) to the server process, by its PID.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Minimal HTTP/1.1 GET over loopback.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// Outcome of one sipp run.
pub struct SippRun {
    pub success: bool,
    pub output: String,
}

/// Runs a sipp scenario from `tests/sipp/` as UAC against `target`, `calls` times, bounded in time.
pub fn sipp(scenario: &str, target: SocketAddr, transport: &str, extra: &[&str]) -> SippRun {
    let dir = TempDir::new("sb-sipp");
    let scen = repo_root().join("tests/sipp").join(scenario);
    let t = match transport {
        "tcp" => "t1",
        _ => "u1",
    };
    let out = Command::new("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(&scen)
        .args([
            "-i",
            "127.0.0.1",
            "-t",
            t,
            "-m",
            "1",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args([
            "-max_recv_loops",
            "1000",
            "-nostdin",
            "-trace_err",
            "-trace_msg",
        ])
        .args(["-p", &free_port().to_string()])
        .args(extra)
        .current_dir(&dir.path)
        .stdin(Stdio::null())
        .output()
        .expect("run sipp (apt-get install sip-tester)");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    for entry in std::fs::read_dir(&dir.path).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("_errors.log") || name.ends_with("_messages.log") {
            output.push_str(&format!("\n--- {name} ---\n"));
            output.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    SippRun {
        success: out.status.success(),
        output,
    }
}

/// A loopback port free for both TCP and UDP right now (sipp, unlike us, cannot bind port 0, and on
/// TCP it does not move on from a busy default port).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(tcp) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = tcp.local_addr() else { continue };
        // sipp's `-mp P` also binds P+1 (RTCP) and P+2, P+3 (video), so all four must be free.
        let port = addr.port();
        let udp_free = (0..4u16).all(|i| {
            port.checked_add(i)
                .is_some_and(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        });
        if udp_free {
            return port;
        }
    }
    panic!("no free loopback port for TCP and UDP")
}

/// A temporary directory removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A raw SIP-over-UDP test peer.
pub struct UdpPeer {
    pub socket: UdpSocket,
    pub server: SocketAddr,
}

impl UdpPeer {
    pub fn new(server: SocketAddr) -> UdpPeer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        UdpPeer { socket, server }
    }

    pub fn local(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    pub fn send(&self, msg: &str) {
        self.socket
            .send_to(
                msg.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes(),
                self.server,
            )
            .expect("send");
    }

    /// Receives the next message (5 s limit).
    pub fn recv(&self) -> String {
        let mut buf = [0u8; 65535];
        let (n, _) = self
            .socket
            .recv_from(&mut buf)
            .expect("no answer from server within 5 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Value of the first header `name` (case-insensitive) in a message.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .skip(1)
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

/// Status code of a response.
pub fn status(msg: &str) -> u16 {
    msg.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A `k=v` or `k="v"` parameter of a digest challenge.
pub fn digest_param(challenge: &str, key: &str) -> Option<String> {
    let pos = challenge.find(&format!("{key}="))?;
    let rest = &challenge[pos + key.len() + 1..];
    if let Some(r) = rest.strip_prefix('"') {
        r.split('"').next().map(str::to_owned)
    } else {
        rest.split([',', ' ']).next().map(str::to_owned)
    }
}

/// MD5 digest response with qop=auth (RFC 2617 §3.2.2.1).
#[allow(clippy::too_many_arguments)]
pub fn md5_response(
    user: &str,
    realm: &str,
    pass: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    use md5::{Digest, Md5};
    let h = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let ha1 = h(format!("{user}:{realm}:{pass}"));
    let ha2 = h(format!("{method}:{uri}"));
    h(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

/// A sipp UAS running in the background on a fixed loopback port, killed (by its own PID) on drop.
pub struct SippUas {
    child: Option<Child>,
    dir: TempDir,
    pub port: u16,
}

impl SippUas {
    /// Starts scenario `scenario` from `tests/sipp/` as UAS on `port` for one call, bounded in time,
    /// and waits until it listens.
    pub fn start(scenario: &str, port: u16, extra: &[&str]) -> SippUas {
        let dir = TempDir::new("sb-sipp-uas");
        let scen = repo_root().join("tests/sipp").join(scenario);
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&scen)
            .args(["-i", "127.0.0.1", "-t", "u1", "-m", "1"])
            .args(["-timeout", "30s", "-timeout_error", "-nostdin"])
            .args(["-trace_err", "-trace_msg"])
            .args(["-p", &port.to_string()])
            .args(extra)
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path.join("uas.out")).expect("uas.out"))
            .stderr(std::fs::File::create(dir.path.join("uas.err")).expect("uas.err"))
            .spawn()
            .expect("run sipp (apt-get install sip-tester)");
        // sipp binds its SIP socket during start-up; wait until the port is taken.
        let deadline = Instant::now() + Duration::from_secs(5);
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        SippUas {
            child: Some(child),
            dir,
            port,
        }
    }

    /// Waits (up to `limit`) for the scenario to end and returns its outcome.
    pub fn finish(mut self, limit: Duration) -> SippRun {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut output = String::new();
        for f in ["uas.out", "uas.err"] {
            output.push_str(&std::fs::read_to_string(self.dir.path.join(f)).unwrap_or_default());
        }
        if status.is_none() {
            output.push_str("\n(sipp UAS did not finish in time)");
        }
        for entry in std::fs::read_dir(&self.dir.path)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("_errors.log") || name.ends_with("_messages.log") {
                output.push_str(&format!("\n--- {name} ---\n"));
                output.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        SippRun {
            success: status.is_some_and(|s| s.success()),
            output,
        }
    }
}

impl Drop for SippUas {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---- Call helpers (added for the in-dialog call tests; usable by any call test) ----

/// Registers `user` with digest from a raw peer, binding its AOR to `contact_port` on loopback.
pub fn register_user(server: &Server, user: &str, pass: &str, contact_port: u16) {
    register_user_q(server, user, pass, contact_port, "");
}

/// [`register_user`] with contact parameters `params` (e.g. `;q=0.5`).
pub fn register_user_q(server: &Server, user: &str, pass: &str, contact_port: u16, params: &str) {
    let contact = format!("<sip:{user}@127.0.0.1:{contact_port}>{params}");
    register_peer(server, &UdpPeer::new(server.sip), user, pass, &contact);
}

/// Registers `user` from `peer`'s socket with `contact` (a Contact header value), answering the
/// digest challenge.
pub fn register_peer(server: &Server, peer: &UdpPeer, user: &str, pass: &str, contact: &str) {
    let uri = format!("sip:{}", server.sip);
    let send = |cseq: u32, auth: &str| {
        peer.send(&format!(
            "REGISTER {uri} SIP/2.0\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bKreg{cseq};rport\n\
             From: <sip:{user}@127.0.0.1>;tag=r{user}\n\
             To: <sip:{user}@127.0.0.1>\n\
             Call-ID: reg-{user}@{local}\n\
             CSeq: {cseq} REGISTER\n\
             Contact: {contact}\n\
             Max-Forwards: 70\n\
             Expires: 300\n\
             {auth}Content-Length: 0\n\n",
            local = peer.local()
        ));
        peer.recv()
    };
    let first = send(1, "");
    assert_eq!(status(&first), 401, "{first}");
    let auth = register_authorization(&first, user, pass, &uri);
    let ok = send(2, &auth);
    assert_eq!(status(&ok), 200, "{ok}");
}

/// The `Authorization` header line (with its newline) answering the REGISTER digest challenge in
/// `challenged` (a 401) for `user` with `pass`, for the Request-URI `uri` (MD5, qop=auth).
pub fn register_authorization(challenged: &str, user: &str, pass: &str, uri: &str) -> String {
    let challenge = header(challenged, "WWW-Authenticate").expect("challenge");
    let realm = digest_param(challenge, "realm").expect("realm");
    let nonce = digest_param(challenge, "nonce").expect("nonce");
    let opaque = digest_param(challenge, "opaque").expect("opaque");
    let response = md5_response(
        user, &realm, pass, "REGISTER", uri, &nonce, "00000001", "c0ffee",
    );
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, \
         nc=00000001, opaque=\"{opaque}\"\n"
    )
}

/// Polls `attempt` every `every` until it gives `Ok`, for at most `limit`; then panics with the
/// last `Err` (what was seen instead). For state a test can only see by asking (an API, metrics, a
/// process's state), never to let time pass.
pub fn poll_until<T>(
    limit: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => panic!("after {limit:?}: {seen}"),
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// The first answered call listed by `GET /api/v1/calls` (with the API `token`), waiting up to 15 s.
pub fn answered_call(server: &Server, token: &str) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    poll_until(Duration::from_secs(15), Duration::from_millis(20), || {
        let (status, body) = http_request(
            server.http,
            "GET",
            "/api/v1/calls",
            &[("Authorization", &auth)],
            "",
        );
        let calls: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let answered = calls
            .as_array()
            .and_then(|a| a.iter().find(|c| c["state"] == "answered"));
        match (status, answered) {
            (200, Some(c)) => Ok(c.clone()),
            _ => Err(format!(
                "no answered call listed: {status} {body}\n{}",
                server.log()
            )),
        }
    })
}

/// A sipp caller (1001, in its own thread) calling 1002 through `server` with its media on
/// `media_port`, which stays in the call until it gets a BYE (`call_uac_callee_hangs_up.xml`): for
/// tests that end the call some other way (the API, the callee, a dying media node).
pub fn caller_until_bye(server: &Server, media_port: &str) -> std::thread::JoinHandle<SippRun> {
    let args = caller_sipp_args(server, "1002", media_port);
    let sip = server.sip;
    std::thread::spawn(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp("call_uac_callee_hangs_up.xml", sip, "udp", &refs)
    })
}

/// sipp arguments for caller 1001 (password `1001pass`) calling `callee` through `server`, with its
/// media on `media_port` (the digest `uri` is the Request-URI, as RFC 3261 §22.4 wants).
pub fn caller_sipp_args(server: &Server, callee: &str, media_port: &str) -> Vec<String> {
    [
        "-s",
        callee,
        "-au",
        "1001",
        "-ap",
        "1001pass",
        "-key",
        "caller",
        "1001",
        "-mi",
        "127.0.0.1",
        "-mp",
        media_port,
        "-auth_uri",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("{callee}@{}", server.sip)])
    .collect()
}

/// Polls `/health` until it shows no call and no media session, or 10 s pass; returns the last body.
pub fn health_until_idle(server: &Server) -> String {
    health_until_idle_within(server, Duration::from_secs(10), "")
}

/// [`health_until_idle`] with its own time limit, and `context` (e.g. the peers' message logs)
/// in the failure message.
pub fn health_until_idle_within(server: &Server, limit: Duration, context: &str) -> String {
    let idle = |b: &str| b.contains("\"calls\":0,") && b.contains("\"media_sessions\":0");
    let deadline = Instant::now() + limit;
    loop {
        let (_, body) = server.http_get("/health");
        if idle(&body) || Instant::now() > deadline {
            assert!(
                idle(&body),
                "calls and media sessions must return to 0: {body}\nserver log:\n{}\n{context}",
                server.log()
            );
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages a sipp run received (from its `-trace_msg` log in `output`) whose first line
/// starts with `start` (`"INVITE "`, `"SIP/2.0 200"`), in order.
pub fn sipp_received(output: &str, start: &str) -> Vec<String> {
    output
        .split("message received")
        .skip(1)
        .filter_map(|chunk| {
            let text = chunk.split_once("\n\n")?.1;
            let text = text.split("\n-----------").next().unwrap_or(text);
            text.trim_start()
                .starts_with(start)
                .then(|| text.trim().to_owned())
        })
        .collect()
}

/// The port of the first `m=audio` line of a message's SDP.
pub fn audio_port(message: &str) -> Option<u16> {
    message
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

/// The RTP packets the media node sent to each leg of the first released session, from the
/// server's `media released` log line (waits up to 5 s for it): (to A, to B).
pub fn released_rtp(server: &Server) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("media released") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("media released"))
        .unwrap_or_else(|| panic!("no media release logged:\n{log}"))
        .to_owned();
    let count = |key: &str| -> u64 {
        line.split(&format!("{key}="))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (count("rtp_to_a"), count("rtp_to_b"))
}

// ---- HTTP helper (added for the dashboard browser test; usable by any test) ----

/// One HTTP/1.1 request over loopback with extra headers and a body; returns (status, body). Reads
/// exactly the response (`Content-Length`, chunked, or until close), so a server that keeps the
/// connection alive despite `Connection: close` (chromedriver) does not stall it.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use std::io::Write;
    let s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    (&s).write_all(head.as_bytes()).expect("write");
    (&s).write_all(body.as_bytes()).expect("write");
    let mut reader = BufReader::new(&s);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .expect("read status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {status_line:?}"));
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut raw = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("read chunk size");
            let n =
                usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).expect("read chunk");
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        raw.resize(n, 0);
        reader.read_exact(&mut raw).expect("read body");
    } else {
        reader.read_to_end(&mut raw).expect("read body");
    }
    (status, String::from_utf8_lossy(&raw).into_owned())
}

/// Reads the SSE stream at `path` (with bearer `token`) until `done(text)` or 10 s pass.
pub fn sse_until(addr: SocketAddr, token: &str, path: &str, done: impl Fn(&str) -> bool) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    let mut buf = [0u8; 8192];
    while !done(&text) && Instant::now() < deadline {
        if let Ok(n) = s.read(&mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    text
}

/// User 1001 INVITEs `called` from a raw UDP peer, answering the 407 challenge; returns the
/// final response (ACKed).
pub fn invite_final(server: &Server, called: &str) -> String {
    let peer = UdpPeer::new(server.sip);
    let uri = format!("sip:{called}@{}", server.sip);
    let local = peer.local();
    let send = |cseq: u32, method: &str, auth: &str, to_tag: &str| {
        let body = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 0\n";
        let (ctype, body) = if method == "INVITE" {
            ("Content-Type: application/sdp\n", body)
        } else {
            ("", "")
        };
        peer.send(&format!(
            "{method} {uri} SIP/2.0\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bKdp{cseq};rport\n\
             From: <sip:1001@127.0.0.1>;tag=dp{called}\n\
             To: <{uri}>{to_tag}\n\
             Call-ID: dp-{called}-{local}\n\
             CSeq: {cseq} {method}\n\
             Contact: <sip:1001@{local}>\n\
             Max-Forwards: 70\n\
             {auth}{ctype}Content-Length: {}\n\n{body}",
            body.len()
        ));
    };
    let final_response = || loop {
        let r = peer.recv();
        if status(&r) >= 200 {
            return r;
        }
    };
    let ack = |cseq: u32, r: &str| {
        let tag = header(r, "To")
            .and_then(|t| t.split_once(";tag="))
            .map(|(_, t)| format!(";tag={t}"))
            .unwrap_or_default();
        send(cseq, "ACK", "", &tag);
    };
    send(1, "INVITE", "", "");
    let challenge_response = final_response();
    assert_eq!(status(&challenge_response), 407, "{challenge_response}");
    ack(1, &challenge_response);
    let challenge = header(&challenge_response, "Proxy-Authenticate").expect("challenge");
    let realm = digest_param(challenge, "realm").expect("realm");
    let nonce = digest_param(challenge, "nonce").expect("nonce");
    let opaque = digest_param(challenge, "opaque").expect("opaque");
    let response = md5_response(
        "1001", &realm, "1001pass", "INVITE", &uri, &nonce, "00000001", "c0ffee",
    );
    let auth = format!(
        "Proxy-Authorization: Digest username=\"1001\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, \
         nc=00000001, opaque=\"{opaque}\"\n"
    );
    send(2, "INVITE", &auth, "");
    let r = final_response();
    ack(2, &r);
    r
}
