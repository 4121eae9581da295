//! The real `switchboard-media` binary: flags, config errors, serving, SIGTERM shutdown.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use switchboard_proto::v1 as pb;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard-media");

/// Kills only our own child (by its PID) if a test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's log (on a helper thread, with a deadline) until the
/// "media node serving grpc=ADDR" line.
fn grpc_addr(child: &mut Child) -> SocketAddr {
    let stderr = child.stderr.take().expect("stderr piped");
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
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("binary reports its gRPC address");
    addr.parse().expect("grpc address in log")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_and_sigterm_releases_sessions() {
    let range = free_range(4);
    let child = Command::new(BIN)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--rtp-ip",
            "127.0.0.1",
            "--max-sessions",
            "10",
        ])
        .args(["--ports", &format!("{}-{}", range.low, range.high)])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    let mut guard = Guard(child);
    let addr = grpc_addr(&mut guard.0);
    let mut client = connect(addr).await;
    let s = allocate(&mut client, "call-bin").await;
    let la = s.leg_a.clone().expect("a");
    assert_eq!(la.rtp_port as u16, range.low);
    let h = client
        .health(pb::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert_eq!((h.sessions, h.max_sessions), (1, 10));
    drop(client);

    let pid = guard.0.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(st) = guard.0.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "binary did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}");
    std::net::UdpSocket::bind(rtp_addr(&la)).expect("port freed");
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("sb-media-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("media.toml");
    std::fs::write(&path, "ports = \"30001-30010\"\nmax_sessions = 0\n").expect("write");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ports: low port 30001 must be even"), "{err}");
    assert!(err.contains("max_sessions"), "{err}");
    std::fs::write(&path, "bogus = 1\n").expect("write");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
    // Flags override the file.
    std::fs::write(&path, "ports = \"30001-30010\"\n").expect("write");
    let mut cmd = Command::new(BIN);
    let out = cmd
        .arg("--config")
        .arg(&path)
        .args(["--ports", "30000-30010", "--check-config"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
