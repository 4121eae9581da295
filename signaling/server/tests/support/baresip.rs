//! A baresip softphone (Debian package `baresip`) driven from a test: its own config directory and
//! free loopback ports, a sine tone as its microphone (`ausine`), the audio it receives dumped to a
//! WAV file (`sndfile`), commands and call events over `ctrl_tcp`. Killed by its own PID on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TempDir;

/// The SIP transport a phone registers, calls and answers over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SipTransport {
    /// SIP over UDP (the default).
    Udp,
    /// SIP over TCP: the account's registrar URI and its Contact carry `;transport=tcp`.
    Tcp,
}

impl SipTransport {
    /// The `transport` URI parameter's value.
    pub fn param(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
        }
    }
}

/// A running baresip with one account registering to Switchboard.
pub struct Phone {
    child: Child,
    dir: TempDir,
    ctrl: TcpStream,
    /// stdout, stderr and every `ctrl_tcp` message, in arrival order.
    log: Arc<Mutex<String>>,
    /// stdout only: its SIP trace is not interleaved with the control messages there.
    stdout: Arc<Mutex<String>>,
    /// The `ctrl_tcp` messages (JSON), in arrival order.
    messages: Arc<Mutex<Vec<serde_json::Value>>>,
    next_token: AtomicU32,
    /// The account's user.
    pub user: String,
    /// The transport its account registers and calls over.
    pub transport: SipTransport,
}

impl Phone {
    /// Starts baresip for `user` (digest password `password`) registering to `registrar` over UDP,
    /// answering calls automatically and sending a `tone_hz` sine as its audio. Waits until it is
    /// ready and its control port answers (a few attempts with new ports if one was taken meanwhile).
    pub fn start(user: &str, password: &str, registrar: SocketAddr, tone_hz: u32) -> Phone {
        Self::start_over(SipTransport::Udp, user, password, registrar, tone_hz)
    }

    /// [`Phone::start`] with the account on `transport` (`<sip:USER@REGISTRAR;transport=tcp>`
    /// for TCP: baresip registers over TCP with a `;transport=tcp` Contact).
    pub fn start_over(
        transport: SipTransport,
        user: &str,
        password: &str,
        registrar: SocketAddr,
        tone_hz: u32,
    ) -> Phone {
        let mut failures = String::new();
        for _ in 0..3 {
            match Self::try_start(transport, user, password, registrar, tone_hz) {
                Ok(phone) => return phone,
                Err(why) => failures.push_str(&format!("\n--- attempt ---\n{why}")),
            }
        }
        panic!("baresip {user} did not start:{failures}")
    }

    fn try_start(
        transport: SipTransport,
        user: &str,
        password: &str,
        registrar: SocketAddr,
        tone_hz: u32,
    ) -> Result<Phone, String> {
        let dir = TempDir::new(&format!("baresip-{user}"));
        let (sip_port, ctrl_port) = (free_sip_port(), free_tcp_port());
        write_config(&dir, sip_port, ctrl_port, tone_hz);
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{user}@{registrar};transport={}>;auth_pass={password};regint=120;answermode=auto\n",
                transport.param()
            ),
        )
        .expect("write baresip accounts");
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            // A bound on its life even if the test process is killed before the drop guard runs.
            .args(["-t", "300"])
            // Its SIP trace: every message it sends and receives, with the transport.
            .arg("-s")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baresip (apt-get install baresip)");
        let (log, stdout) = (Arc::default(), Arc::default());
        if let Some(pipe) = child.stdout.take() {
            collect(pipe, [Arc::clone(&log), Arc::clone(&stdout)]);
        }
        if let Some(pipe) = child.stderr.take() {
            collect(pipe, [Arc::clone(&log)]);
        }
        let ctrl = match wait_ready(&mut child, &log, ctrl_port) {
            Ok(ctrl) => ctrl,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{why}\n{}", clean(&lock(&log))));
            }
        };
        let messages = Arc::new(Mutex::new(Vec::new()));
        read_ctrl(
            ctrl.try_clone().expect("clone ctrl"),
            log.clone(),
            messages.clone(),
        );
        Ok(Phone {
            child,
            dir,
            ctrl,
            log,
            stdout,
            messages,
            next_token: AtomicU32::new(1),
            user: user.to_owned(),
            transport,
        })
    }

    /// Runs a menu command (`dial`, `hangup`, …) over `ctrl_tcp`; returns its `data` if it
    /// succeeded, or why not.
    pub fn command(&self, command: &str, params: &str) -> Result<String, String> {
        let token = format!("t{}", self.next_token.fetch_add(1, Ordering::Relaxed));
        let body =
            serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        (&self.ctrl)
            .write_all(format!("{}:{body},", body.len()).as_bytes())
            .map_err(|e| format!("ctrl_tcp write: {e}"))?;
        let response = self
            .wait_message(Duration::from_secs(10), |m| {
                m["response"] == true && m["token"] == token.as_str()
            })
            .ok_or_else(|| format!("no response to {command:?} within 10 s"))?;
        let data = response["data"].as_str().unwrap_or("").to_owned();
        if response["ok"] == true {
            Ok(data)
        } else {
            Err(data)
        }
    }

    /// Waits (up to `limit`) for a call event of `kind` (`CALL_ESTABLISHED`, `CALL_CLOSED`, …).
    pub fn wait_event(&self, kind: &str, limit: Duration) -> Option<serde_json::Value> {
        self.wait_message(limit, |m| m["event"] == true && m["type"] == kind)
    }

    /// Waits (up to `limit`) for a call event of `kind` whose `param` is `param` (the digit of a
    /// `CALL_DTMF_START`).
    pub fn wait_event_param(
        &self,
        kind: &str,
        param: &str,
        limit: Duration,
    ) -> Option<serde_json::Value> {
        self.wait_message(limit, |m| {
            m["event"] == true && m["type"] == kind && m["param"] == param
        })
    }

    fn wait_message(
        &self,
        limit: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(m) = lock(&self.messages).iter().find(|m| matches(m)) {
                return Some(m.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What baresip printed and every control message so far (call status lines left out).
    pub fn output(&self) -> String {
        format!("--- baresip {} ---\n{}", self.user, clean(&lock(&self.log)))
    }

    /// Every SIP message this phone sent or received so far, from its SIP trace (`baresip -s`).
    pub fn sip_trace(&self) -> Vec<TracedMessage> {
        // Each message: "\x1b[36;1m#\nTCP 127.0.0.1:A -> 127.0.0.1:B\n<message>\x1b[;m\n".
        lock(&self.stdout)
            .split("\x1b[36;1m#\n")
            .skip(1)
            .filter_map(|entry| {
                let mut lines = entry.lines();
                let (transport, route) = lines.next()?.split_once(' ')?;
                let (from, to) = route.split_once(" -> ")?;
                Some(TracedMessage {
                    transport: transport.to_owned(),
                    from: from.to_owned(),
                    to: to.to_owned(),
                    start_line: lines.next()?.trim_end().to_owned(),
                })
            })
            .collect()
    }

    /// The audio this phone received and decoded, from `sndfile`'s `dump-*-dec.wav` (complete
    /// once the call has ended).
    pub fn received_audio(&self) -> Option<Wav> {
        let file = std::fs::read_dir(self.dir.path())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))?;
        Wav::parse(&std::fs::read(file).ok()?)
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &TempDir, sip_port: u16, ctrl_port: u16, tone_hz: u32) {
    // ausine produces 48 kHz stereo only; baresip resamples it for G.711. No player module is
    // loaded, so no sound card is needed: the decoded audio goes to sndfile's dump only.
    let config = format!(
        "poll_method\tepoll\n\
         net_interface\t127.0.0.1\n\
         sip_listen\t127.0.0.1:{sip_port}\n\
         rtp_ports\t40000-49998\n\
         module_path\t/usr/lib/baresip/modules\n\
         module\tg711.so\n\
         module\tausine.so\n\
         module\tsndfile.so\n\
         module_app\taccount.so\n\
         module_app\tmenu.so\n\
         module_app\tctrl_tcp.so\n\
         ctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n\
         audio_source\tausine,{tone_hz}\n\
         ausrc_srate\t48000\n\
         ausrc_channels\t2\n\
         snd_path\t{}\n",
        dir.path().display()
    );
    std::fs::write(dir.path().join("config"), config).expect("write baresip config");
}

/// Waits for "baresip is ready." and a connection to the control port, or for an early exit.
fn wait_ready(child: &mut Child, log: &Mutex<String>, ctrl_port: u16) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock(log).contains("baresip is ready.") {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("baresip exited: {status}"));
        }
        if Instant::now() > deadline {
            return Err("baresip not ready within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    loop {
        match TcpStream::connect(("127.0.0.1", ctrl_port)) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("ctrl_tcp 127.0.0.1:{ctrl_port}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Appends everything read from `pipe` to each of `sinks`.
fn collect<const N: usize>(mut pipe: impl Read + Send + 'static, sinks: [Arc<Mutex<String>>; N]) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            for sink in &sinks {
                lock(sink).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
}

/// Reads the control connection's netstrings (`LEN:JSON,`) into `messages` and the log.
fn read_ctrl(
    mut ctrl: TcpStream,
    log: Arc<Mutex<String>>,
    messages: Arc<Mutex<Vec<serde_json::Value>>>,
) {
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = ctrl.read(&mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some((body, used)) = netstring(&pending) {
                let text = String::from_utf8_lossy(body).into_owned();
                let mut log = lock(&log);
                if !log.is_empty() && !log.ends_with('\n') {
                    log.push('\n');
                }
                log.push_str(&format!("[ctrl_tcp] {text}\n"));
                if let Ok(value) = serde_json::from_str(&text) {
                    lock(&messages).push(value);
                }
                pending.drain(..used);
            }
        }
    });
}

/// The first complete netstring in `buf`: its payload and the bytes it takes.
fn netstring(buf: &[u8]) -> Option<(&[u8], usize)> {
    let colon = buf.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&buf[..colon]).ok()?.parse().ok()?;
    let end = colon + 1 + len;
    (buf.len() > end).then(|| (&buf[colon + 1..end], end + 1))
}

/// The log without baresip's `\r`-rewritten call status lines (`[0:00:01] audio=64000/64000 (bit/s)`)
/// and without the colour codes around its SIP trace.
fn clean(log: &str) -> String {
    log.split('\r')
        .filter(|piece| !(piece.starts_with('[') && piece.trim_end().ends_with("(bit/s)")))
        .collect::<Vec<_>>()
        .join("")
        .replace("\x1b[36;1m", "")
        .replace("\x1b[;m", "")
}

/// A loopback port P free for UDP and TCP, with P+1 free for TCP: baresip listens for SIP on
/// UDP and TCP at P and for SIP over TLS at P+1.
fn free_sip_port() -> u16 {
    for _ in 0..100 {
        let port = free_tcp_port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", next)).is_ok()
        {
            return port;
        }
    }
    panic!("no free loopback port pair for baresip")
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback TCP port")
}

/// One SIP message in a phone's SIP trace.
#[derive(Debug, Clone)]
pub struct TracedMessage {
    /// The transport it went over as baresip names it: `UDP`, `TCP`, `TLS`.
    pub transport: String,
    /// Its source address.
    pub from: String,
    /// Its destination address.
    pub to: String,
    /// Its request or status line.
    pub start_line: String,
}

impl TracedMessage {
    /// The method of a request (`INVITE`, `ACK`, …); `None` for a response.
    pub fn method(&self) -> Option<&str> {
        (!self.start_line.starts_with("SIP/2.0 "))
            .then(|| self.start_line.split(' ').next())
            .flatten()
    }
}

/// 16-bit PCM audio read from a WAV file.
pub struct Wav {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples (first channel only).
    pub samples: Vec<i16>,
}

impl Wav {
    /// Parses a RIFF/WAVE file of 16-bit PCM; the `data` chunk may still be open (size not yet
    /// written), then everything after its header is taken.
    pub fn parse(bytes: &[u8]) -> Option<Wav> {
        if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
            return None;
        }
        let u16_at = |i: usize| Some(u16::from_le_bytes(bytes.get(i..i + 2)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
        let (mut pos, mut format) = (12, None);
        while pos + 8 <= bytes.len() {
            let (id, size) = (bytes.get(pos..pos + 4)?, u32_at(pos + 4)? as usize);
            let body = pos + 8;
            if id == b"fmt " {
                // (channels, sample rate, bits per sample)
                format = Some((u16_at(body + 2)?, u32_at(body + 4)?, u16_at(body + 14)?));
            } else if id == b"data" {
                let (channels, sample_rate, bits) = format?;
                if bits != 16 || channels == 0 {
                    return None;
                }
                // Still being written: the size is not final yet, so take what is there.
                let end = match body.checked_add(size) {
                    Some(end) if size > 0 && end <= bytes.len() => end,
                    _ => bytes.len(),
                };
                let data = &bytes[body..end];
                let samples = data
                    .chunks_exact(2 * usize::from(channels))
                    .map(|frame| i16::from_le_bytes([frame[0], frame[1]]))
                    .collect();
                return Some(Wav {
                    sample_rate,
                    samples,
                });
            }
            pos = body + size + size % 2;
        }
        None
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// The largest absolute sample value.
    pub fn peak(&self) -> u16 {
        self.samples
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    }

    /// The frequency of a pure tone, from its zero crossings.
    pub fn tone_hz(&self) -> f64 {
        let crossings = self
            .samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        crossings as f64 / 2.0 / self.seconds().max(f64::MIN_POSITIVE)
    }
}
