//! SIP transports: UDP sockets, TCP listeners/connections and TLS ones (RFC 3261 §18, §26.2).
//!
//! The transports only move bytes. Every received message becomes an [`Inbound`] handed to a [`Sink`]
//! (the signaling core, which shards by Call-ID); the core sends through [`Transports::send`]. TCP messages
//! are framed by Content-Length before they are handed on, idle connections are closed after
//! `tcp_idle_timeout`, and a connection that holds an incomplete message for `tcp_partial_message_timeout`
//! is closed (the timer runs from the first byte of the message at the front, so trickling cannot extend
//! it). Connections are reused: a message to a peer that has an open connection goes over it. Sending never
//! waits on one peer: a connection whose write queue is full (the peer does not read) is closed and the
//! send fails with [`SendError::NotDraining`]. IPv6 sockets are IPv6-only, so `0.0.0.0:P` and `[::]:P` can
//! both be listened on.

mod tcp;
mod tls;
mod udp;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

pub use tls::{TlsContext, TlsSetupError, check_client_tls};

/// Transport protocol of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, datagram framed.
    Udp,
    /// TCP: reliable, Content-Length framed.
    Tcp,
    /// TLS over TCP: framed like TCP.
    Tls,
}

impl Transport {
    /// Whether the transport is reliable (no retransmissions, timers D/I/J/K zero).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The Via transport token.
    pub fn as_via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_via())
    }
}

/// Identifies one TCP connection for the lifetime of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// A message received from the network.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The whole message (one datagram or one framed stream message).
    pub data: Bytes,
    /// Where it came from (the packet source, used for `received`/`rport`).
    pub source: SocketAddr,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// Transport it came over.
    pub transport: Transport,
    /// The TCP connection it came on.
    pub conn: Option<ConnId>,
    /// When it arrived: the kernel's receive timestamp for UDP (so time spent in the socket buffer
    /// counts), the read that completed it for TCP/TLS. The overload signal is how long messages wait
    /// from here to their worker.
    pub received: std::time::Instant,
}

/// Where a message should go.
#[derive(Debug, Clone)]
pub struct Target {
    /// Destination address.
    pub dest: SocketAddr,
    /// Transport to use.
    pub transport: Transport,
    /// Preferred local address (the one the request came in on), for UDP.
    pub local: Option<SocketAddr>,
    /// Preferred TCP connection (the one the request came in on).
    pub conn: Option<ConnId>,
}

/// Receives everything the transports read.
pub trait Sink: Send + Sync + 'static {
    /// Called for every complete message. Must not block.
    fn deliver(&self, msg: Inbound);
}

/// Transport settings.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Addresses to listen on (UDP + TCP each).
    pub listen: Vec<SocketAddr>,
    /// Largest message accepted.
    pub max_message_size: usize,
    /// TCP idle timeout.
    pub tcp_idle_timeout: Duration,
    /// TCP partial message timeout.
    pub tcp_partial_message_timeout: Duration,
    /// Addresses to listen on for TLS (TCP listeners with a handshake first).
    pub tls_listen: Vec<SocketAddr>,
    /// The TLS contexts (needed to listen for TLS and to send over it).
    pub tls: Option<TlsContext>,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No socket of that transport and address family.
    #[error("no {0} socket for {1}")]
    NoSocket(Transport, SocketAddr),
    /// The TCP connection to the peer has a full write queue (the peer does not read); it is closed.
    #[error("tcp connection to {0} is not draining; closed")]
    NotDraining(SocketAddr),
    /// The OS refused.
    #[error("send to {0} failed: {1}")]
    Io(SocketAddr, std::io::Error),
}

/// Handle to the running transports; cheap to clone.
#[derive(Clone)]
pub struct Transports {
    inner: Arc<Inner>,
}

struct Inner {
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    tcp_local: Vec<SocketAddr>,
    tls_local: Vec<SocketAddr>,
    conns: DashMap<ConnId, tcp::ConnHandle>,
    conn_by_peer: DashMap<SocketAddr, ConnId>,
    next_conn: AtomicU64,
    config: TransportConfig,
    sink: Arc<dyn Sink>,
    shutdown: CancellationToken,
}

/// Attempts at finding an ephemeral port free for both TCP and UDP.
const EPHEMERAL_ATTEMPTS: usize = 20;

/// Binds TCP then UDP on the same address. TCP goes first so that port 0 resolves to one port shared by
/// both transports; the kernel picks it free for TCP only, so when UDP finds it taken another is tried.
fn bind_pair(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, UdpSocket)> {
    let mut attempt = 0;
    loop {
        let listener = tcp::bind_listener(addr)?;
        let local = listener.local_addr()?;
        match udp::bind(local) {
            Ok(socket) => return Ok((listener, socket)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < EPHEMERAL_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

impl Transports {
    /// Binds every listen address (UDP and TCP) and starts reading. Port 0 binds an ephemeral port; the
    /// bound addresses are in [`Transports::local_addrs`].
    pub async fn bind(
        config: TransportConfig,
        sink: Arc<dyn Sink>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Transports> {
        let mut udp = HashMap::new();
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let (listener, socket) = bind_pair(*addr)?;
            udp.insert(socket.local_addr()?, Arc::new(socket));
            listeners.push(listener);
        }
        let tcp_local = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let mut tls_listeners = Vec::new();
        for addr in &config.tls_listen {
            tls_listeners.push(tcp::bind_listener(*addr)?);
        }
        let tls_local = tls_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let inner = Arc::new(Inner {
            udp,
            tcp_local,
            tls_local,
            conns: DashMap::new(),
            conn_by_peer: DashMap::new(),
            next_conn: AtomicU64::new(1),
            config,
            sink,
            shutdown,
        });
        let t = Transports { inner };
        for socket in t.inner.udp.values() {
            tokio::spawn(udp::read_loop(t.clone(), socket.clone()));
        }
        for listener in listeners {
            tokio::spawn(tcp::accept_loop(t.clone(), listener, Transport::Tcp));
        }
        for listener in tls_listeners {
            tokio::spawn(tcp::accept_loop(t.clone(), listener, Transport::Tls));
        }
        Ok(t)
    }

    /// The bound UDP addresses (TCP listens on the same addresses).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<_> = self.inner.udp.keys().copied().collect();
        v.sort();
        v
    }

    /// The bound TCP listener addresses.
    pub fn tcp_local_addrs(&self) -> &[SocketAddr] {
        &self.inner.tcp_local
    }

    /// The bound TLS listener addresses.
    pub fn tls_local_addrs(&self) -> &[SocketAddr] {
        &self.inner.tls_local
    }

    /// The TLS contexts, when configured.
    pub fn tls(&self) -> Option<&TlsContext> {
        self.inner.config.tls.as_ref()
    }

    /// Number of open TCP connections.
    pub fn tcp_connections(&self) -> usize {
        self.inner.conns.len()
    }

    /// Sends one message. Over TCP it reuses the given connection, else any connection to the peer, else
    /// opens a new one.
    pub async fn send(&self, target: &Target, data: Bytes) -> Result<(), SendError> {
        match target.transport {
            Transport::Udp => {
                let socket = self.udp_socket_for(target)?;
                socket
                    .send_to(&data, target.dest)
                    .await
                    .map_err(|e| SendError::Io(target.dest, e))?;
                Ok(())
            }
            Transport::Tcp | Transport::Tls => tcp::send(self, target, data).await,
        }
    }

    fn udp_socket_for(&self, target: &Target) -> Result<&Arc<UdpSocket>, SendError> {
        if let Some(s) = target.local.and_then(|l| self.inner.udp.get(&l)) {
            return Ok(s);
        }
        let want_v6 = target.dest.is_ipv6();
        self.inner
            .udp
            .iter()
            .find(|(a, _)| a.is_ipv6() == want_v6)
            .map(|(_, s)| s)
            .ok_or(SendError::NoSocket(Transport::Udp, target.dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn port_0_finds_a_port_free_for_both_tcp_and_udp() {
        // Occupy UDP ports so that some TCP-free ports are UDP-taken; every pair must still match.
        let taken: Vec<_> = (0..50)
            .filter_map(|_| std::net::UdpSocket::bind("127.0.0.1:0").ok())
            .collect();
        assert!(!taken.is_empty());
        for _ in 0..20 {
            let (l, u) = bind_pair("127.0.0.1:0".parse().expect("addr")).expect("bind pair");
            assert_eq!(l.local_addr().ok(), u.local_addr().ok());
        }
        let fixed = taken[0].local_addr().expect("local");
        assert_eq!(
            bind_pair(fixed).err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AddrInUse),
            "a configured port that is taken is an error, not silently another port"
        );
    }
}
