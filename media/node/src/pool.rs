//! The RTP/RTCP port pool: even RTP ports with RTCP on the next odd port.
//!
//! [`PortPool::allocate`] binds the sockets itself, so a port held by another process is
//! skipped (moved to the back of the free list) and the next free pair is tried; only when
//! no pair binds is [`PoolError::Exhausted`] returned. Released pairs go back to the free list.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;

use crate::config::PortRange;

/// Failure to allocate a port pair.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every free pair is taken or failed to bind.
    #[error("no free RTP/RTCP port pair in {low}-{high}")]
    Exhausted {
        /// Range low port.
        low: u16,
        /// Range high port.
        high: u16,
    },
}

/// Bound, non-blocking sockets of one leg.
#[derive(Debug)]
pub struct PortPair {
    /// The RTP port (even).
    pub rtp_port: u16,
    /// The RTP socket.
    pub rtp: UdpSocket,
    /// The RTCP socket on `rtp_port + 1`, `None` with rtcp-mux.
    pub rtcp: Option<UdpSocket>,
}

#[derive(Debug)]
struct PoolState {
    free: VecDeque<u16>,
    in_use: HashSet<u16>,
}

/// A pool of RTP/RTCP port pairs over a [`PortRange`]; shared between sessions.
#[derive(Debug)]
pub struct PortPool {
    ip: IpAddr,
    range: PortRange,
    state: Mutex<PoolState>,
}

impl PortPool {
    /// Creates a pool of every pair in `range`, binding on `ip`.
    pub fn new(ip: IpAddr, range: PortRange) -> Self {
        let free = (0..range.pairs())
            .filter_map(|i| u16::try_from(i * 2).ok())
            .map(|o| range.low + o);
        Self {
            ip,
            range,
            state: Mutex::new(PoolState {
                free: free.collect(),
                in_use: HashSet::new(),
            }),
        }
    }

    /// Total pairs in the pool.
    pub fn total(&self) -> usize {
        self.range.pairs()
    }

    /// Pairs currently free (not allocated; some may still fail to bind).
    pub fn free(&self) -> usize {
        self.lock().free.len()
    }

    /// Binds the next free pair (RTP only when `rtcp_mux`), skipping ports in use elsewhere.
    pub fn allocate(&self, rtcp_mux: bool) -> Result<PortPair, PoolError> {
        let mut state = self.lock();
        for _ in 0..state.free.len() {
            let Some(port) = state.free.pop_front() else {
                break;
            };
            match self.bind_pair(port, rtcp_mux) {
                Ok(pair) => {
                    state.in_use.insert(port);
                    return Ok(pair);
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "port pair failed to bind, skipping");
                    state.free.push_back(port);
                }
            }
        }
        Err(PoolError::Exhausted {
            low: self.range.low,
            high: self.range.high,
        })
    }

    /// Returns a pair to the pool (after its sockets are closed). Unknown ports are ignored.
    pub fn release(&self, rtp_port: u16) {
        let mut state = self.lock();
        if state.in_use.remove(&rtp_port) {
            state.free.push_back(rtp_port);
        }
    }

    fn bind_pair(&self, port: u16, rtcp_mux: bool) -> io::Result<PortPair> {
        let rtp = bind(SocketAddr::new(self.ip, port))?;
        let rtcp = if rtcp_mux {
            None
        } else {
            Some(bind(SocketAddr::new(self.ip, port + 1))?)
        };
        Ok(PortPair {
            rtp_port: port,
            rtp,
            rtcp,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(addr)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn free_range(pairs: u16, start: u16) -> PortRange {
        // Probe for a range that is currently free on loopback.
        for base in (start..start + 10_000).step_by(200) {
            let ok =
                (0..pairs * 2).all(|i| UdpSocket::bind((Ipv4Addr::LOCALHOST, base + i)).is_ok());
            if ok {
                return PortRange::new(base, base + pairs * 2 - 1).expect("valid");
            }
        }
        panic!("no free port range on loopback");
    }

    #[test]
    fn allocates_even_rtp_and_odd_rtcp_then_exhausts_and_recovers() {
        let range = free_range(2, 40000);
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), range);
        let a = pool.allocate(false).expect("first pair");
        assert_eq!(a.rtp_port % 2, 0);
        let rtcp = a
            .rtcp
            .as_ref()
            .expect("rtcp socket")
            .local_addr()
            .expect("addr");
        assert_eq!(rtcp.port(), a.rtp_port + 1);
        let b = pool.allocate(true).expect("second pair");
        assert!(b.rtcp.is_none());
        assert!(matches!(
            pool.allocate(false),
            Err(PoolError::Exhausted { .. })
        ));
        let port = a.rtp_port;
        drop(a);
        pool.release(port);
        assert_eq!(pool.free(), 1);
        assert_eq!(pool.allocate(false).expect("recycled").rtp_port, port);
    }

    #[test]
    fn skips_ports_bound_by_someone_else() {
        let range = free_range(2, 50000);
        let squatter = UdpSocket::bind((Ipv4Addr::LOCALHOST, range.low + 1)).expect("squat");
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), range);
        let pair = pool.allocate(false).expect("second pair binds");
        assert_eq!(pair.rtp_port, range.low + 2);
        assert!(matches!(
            pool.allocate(false),
            Err(PoolError::Exhausted { .. })
        ));
        drop(squatter);
    }
}
