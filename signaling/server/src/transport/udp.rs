//! UDP: one socket per listen address, one read loop per socket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::{Inbound, Transport, Transports};

/// Receive/send buffer asked of the kernel: a burst of REGISTERs must not be dropped by the socket.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

pub(super) fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

pub(super) async fn read_loop(t: Transports, socket: Arc<UdpSocket>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    // One byte more than the limit tells an oversized datagram from one exactly at the limit.
    let mut buf = vec![0u8; t.inner.config.max_message_size + 1];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = t.inner.shutdown.cancelled() => return,
        };
        match received {
            Ok((n, source)) => {
                if n == 0 || buf[..n].iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    continue; // keepalive
                }
                if n > t.inner.config.max_message_size {
                    tracing::debug!(%source, size = n, "dropping oversized datagram");
                    continue;
                }
                t.inner.sink.deliver(Inbound {
                    data: Bytes::copy_from_slice(&buf[..n]),
                    source,
                    local,
                    transport: Transport::Udp,
                    conn: None,
                });
            }
            // ICMP port unreachable from an earlier send surfaces here on Linux; it is not fatal.
            Err(e) => tracing::debug!(%local, error = %e, "udp receive error"),
        }
    }
}
