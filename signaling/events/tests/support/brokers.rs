//! Real brokers (`nats-server`, `redis-server`) on loopback ports, killed by PID on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `nats-server -js`.
    NatsJetStream,
    /// `nats-server` without JetStream.
    NatsCore,
    /// `redis-server` with an fsync-always AOF, so acknowledged entries survive a kill.
    Redis,
}

/// A broker process we started.
pub struct Broker {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Broker {
    /// Starts a broker on a free port, with its data in `dir`.
    pub fn start(kind: Kind, dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).expect("broker dir");
        let mut b = Broker {
            kind,
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        };
        b.spawn();
        b
    }

    /// The client URL.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}/0", self.port),
            _ => format!("nats://127.0.0.1:{}", self.port),
        }
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let dir = self.dir.to_str().expect("utf-8 dir").to_owned();
        let mut cmd = match self.kind {
            Kind::NatsJetStream | Kind::NatsCore => {
                let mut c = Command::new("nats-server");
                c.args(["-a", "127.0.0.1", "-p", &port]);
                if self.kind == Kind::NatsJetStream {
                    c.args(["-js", "-sd", &dir]);
                }
                c
            }
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                c.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--dir",
                    &dir,
                ]);
                c.args(["--appendonly", "yes", "--appendfsync", "always"]);
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {:?} (install nats-server and redis-server): {e}",
                    self.kind
                )
            });
        self.child = Some(child);
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{:?} did not listen on {}", self.kind, self.port);
    }

    /// Kills the broker (SIGKILL to its PID) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
