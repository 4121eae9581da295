//! UDP: one socket per listen address, one read loop per socket.
//!
//! Datagrams are read with `recvmsg` and the kernel's receive timestamp (`SO_TIMESTAMPNS`), so
//! [`Inbound::received`] counts the time a datagram waited in the socket buffer, which is where a
//! backlog sits when the process cannot keep up (the overload signal, see `core::overload`).

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, recvmsg, setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::{Inbound, Transport, Transports};

/// Receive/send buffer asked of the kernel: a burst of REGISTERs must not be dropped by the socket.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Longest wait in the socket buffer believed: a larger age means the wall clock was stepped.
const MAX_AGE: Duration = Duration::from_secs(60);

pub(super) fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    // Best effort too: without it a datagram counts as received when it is read.
    if let Err(e) = setsockopt(socket.as_raw_fd(), sockopt::ReceiveTimestampns, &true) {
        tracing::debug!(%addr, error = %e, "no kernel receive timestamps");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// One datagram read: its length, source and when the kernel received it.
struct Datagram {
    len: usize,
    source: SocketAddr,
    received: Instant,
}

/// Reads one datagram into `buf` (`cmsg`: room for the timestamp control message).
fn recv_one(
    socket: &UdpSocket,
    buf: &mut [u8],
    cmsg: &mut Vec<u8>,
    v6: bool,
) -> std::io::Result<Datagram> {
    let fd = socket.as_raw_fd();
    let mut iov = [IoSliceMut::new(buf)];
    let (len, source, stamp) = if v6 {
        let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
        let source = msg.address.map(|a| SocketAddr::V6(a.into()));
        (msg.bytes, source, kernel_stamp(msg.cmsgs()))
    } else {
        let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
        let source = msg.address.map(|a| SocketAddr::V4(a.into()));
        (msg.bytes, source, kernel_stamp(msg.cmsgs()))
    };
    let source = source.ok_or_else(|| std::io::Error::other("datagram without source"))?;
    Ok(Datagram {
        len,
        source,
        received: arrival(stamp, SystemTime::now(), Instant::now()),
    })
}

fn kernel_stamp(mut cmsgs: impl Iterator<Item = ControlMessageOwned>) -> Option<TimeSpec> {
    cmsgs.find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(ts),
        _ => None,
    })
}

/// The monotonic instant of a kernel receive timestamp (wall clock) read at `wall_now` / `now`; `now`
/// when there is none or it is not believable.
fn arrival(stamp: Option<TimeSpec>, wall_now: SystemTime, now: Instant) -> Instant {
    let Some(ts) = stamp else { return now };
    let (Ok(secs), Ok(nanos)) = (u64::try_from(ts.tv_sec()), u32::try_from(ts.tv_nsec())) else {
        return now;
    };
    let at = UNIX_EPOCH + Duration::new(secs, nanos);
    match wall_now.duration_since(at) {
        Ok(age) if age <= MAX_AGE => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

pub(super) async fn read_loop(t: Transports, socket: Arc<UdpSocket>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    // One byte more than the limit tells an oversized datagram from one exactly at the limit.
    let mut buf = vec![0u8; t.inner.config.max_message_size + 1];
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    loop {
        let received = tokio::select! {
            r = socket.async_io(Interest::READABLE, || {
                recv_one(&socket, &mut buf, &mut cmsg, local.is_ipv6())
            }) => r,
            () = t.inner.shutdown.cancelled() => return,
        };
        match received {
            Ok(Datagram {
                len: n,
                source,
                received,
            }) => {
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
                    received,
                });
            }
            // ICMP port unreachable from an earlier send surfaces here on Linux; it is not fatal.
            Err(e) => tracing::debug!(%local, error = %e, "udp receive error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_timestamp_becomes_the_instant_it_stands_for() {
        let (wall, now) = (SystemTime::now(), Instant::now());
        let since_epoch =
            wall.duration_since(UNIX_EPOCH).expect("after 1970") - Duration::from_millis(750);
        let stamp = TimeSpec::new(since_epoch.as_secs() as _, since_epoch.subsec_nanos() as _);
        let at = arrival(Some(stamp), wall, now);
        assert_eq!(now - at, Duration::from_millis(750));
        assert_eq!(arrival(None, wall, now), now);
        // A stamp in the future (the clock was stepped back) or too old is not believed.
        let future = since_epoch + Duration::from_secs(10);
        let stamp = TimeSpec::new(future.as_secs() as _, future.subsec_nanos() as _);
        assert_eq!(arrival(Some(stamp), wall, now), now);
        let old = since_epoch - Duration::from_secs(3600);
        let stamp = TimeSpec::new(old.as_secs() as _, old.subsec_nanos() as _);
        assert_eq!(arrival(Some(stamp), wall, now), now);
    }

    #[tokio::test]
    async fn a_datagram_that_waited_in_the_socket_buffer_is_stamped_when_it_arrived() {
        let socket = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let local = socket.local_addr().expect("local");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        let (mut buf, mut cmsg) = (vec![0u8; 2048], nix::cmsg_space!(TimeSpec));
        let mut waits = Vec::new();
        // The kernel turns receive timestamping on (a system-wide switch) in deferred work after the
        // first socket asks; until then a datagram is stamped when it is read. So a few tries.
        for _ in 0..5 {
            peer.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", local)
                .expect("send");
            std::thread::sleep(Duration::from_millis(300));
            let d = socket
                .async_io(Interest::READABLE, || {
                    recv_one(&socket, &mut buf, &mut cmsg, false)
                })
                .await
                .expect("recv");
            assert_eq!(d.source, peer.local_addr().expect("peer addr"));
            assert_eq!(&buf[..d.len], b"OPTIONS sip:x SIP/2.0\r\n\r\n");
            waits.push(d.received.elapsed());
            if waits
                .last()
                .is_some_and(|w| *w >= Duration::from_millis(300))
            {
                return;
            }
        }
        panic!("no datagram stamped when it arrived: waits {waits:?}");
    }
}
