//! A real `switchboard-media` child process for black-box tests of remote media nodes.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;

/// The `switchboard-media` binary next to ours (built by the workspace's test run; built here if
/// this package is tested alone).
pub fn media_binary() -> PathBuf {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_switchboard-signaling"));
    let dir = ours.parent().expect("profile dir").to_path_buf();
    let bin = dir.join("switchboard-media");
    if !bin.exists() {
        let target = dir.parent().expect("target dir");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-p", "switchboard-media", "--target-dir"])
            .arg(target);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().is_ok_and(|s| s.success()),
            "build switchboard-media"
        );
    }
    bin
}

/// An even-based range of `n` free UDP ports on loopback.
pub fn free_range(n: u16) -> (u16, u16) {
    for _ in 0..200 {
        let base = free_port() & !1;
        let ok = (0..n).all(|i| UdpSocket::bind(("127.0.0.1", base.saturating_add(i))).is_ok());
        if ok && base.checked_add(n).is_some() {
            return (base, base + n - 1);
        }
    }
    panic!("no free port range")
}

/// A `switchboard-media` child, killed by its PID on drop.
pub struct MediaNode {
    child: Child,
    /// Its gRPC address (`127.0.0.1:PORT`).
    pub grpc: String,
}

impl MediaNode {
    pub fn start() -> MediaNode {
        Self::start_with(&[])
    }

    /// A node started with `extra` flags (e.g. `--tls-cert`).
    pub fn start_with(extra: &[&str]) -> MediaNode {
        let (low, high) = free_range(16);
        let mut child = Command::new(media_binary())
            .args(["--grpc-listen", "127.0.0.1:0", "--rtp-ip", "127.0.0.1"])
            .args(["--ports", &format!("{low}-{high}")])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard-media");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("grpc=").nth(1) {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let grpc = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("media node reports its gRPC address");
        MediaNode { child, grpc }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MediaNode {
    fn drop(&mut self) {
        self.kill();
    }
}
