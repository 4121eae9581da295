//! Receiving datagrams on a leg's socket with one system call per wake-up.
//!
//! A relay socket usually holds one packet when its task wakes (a stream sends every 20 ms). The
//! obvious loop, `recv_from` until `WouldBlock`, spends two system calls on it: one that returns
//! the packet and one that finds the socket empty, which is what tells tokio to clear the
//! socket's readiness and wait for the next epoll event. [`RecvSlots::poll_recv`] asks the kernel
//! for two datagrams at once (`recvmmsg`): when it returns fewer, the socket was drained by that
//! same call, and readiness is cleared right away (tokio re-arms it on the next edge, which every
//! new datagram raises). That is two system calls per relayed packet (receive, send) where the
//! one-socket-per-leg forwarder of the benchmark makes three. Measured with the relay benchmark,
//! together with the read-only registration below: relay CPU per packet at 100k packets/s went
//! from 1.03-1.07x the forwarder's to 0.98-1.01x; near saturation, where the kernel's send path
//! dominates, both cost the same (~4 us per packet on the benchmark machine).
//!
//! The sockets are registered with the worker's epoll for reading only ([`RelaySocket`]): every
//! datagram sent makes a socket writable again, and a socket registered for writing too (as a
//! tokio `UdpSocket` is) puts an event on the worker's epoll for each packet relayed, which the
//! relay then has to collect and dispatch for nothing (sends never wait: a full send buffer is a
//! dropped packet, counted).
//!
//! One [`RecvSlots`] per relay thread, shared by its sessions (sessions on a thread are polled one
//! at a time and a poll does not yield while it uses the slots): no memory per session, no
//! allocation per packet.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll, ready};

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, SockaddrIn6, SockaddrLike, recvmmsg};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A leg's socket: non-blocking, registered with the worker's epoll for reading only.
pub(crate) type RelaySocket = AsyncFd<std::net::UdpSocket>;

/// Registers a bound non-blocking socket with the current worker's reactor, for reading.
pub(crate) fn register(socket: std::net::UdpSocket) -> io::Result<RelaySocket> {
    socket.set_nonblocking(true)?;
    // Deprecated because an arbitrary `AsRawFd` might close or swap its descriptor while
    // registered; a `std::net::UdpSocket` owns its descriptor until it is dropped.
    #[allow(deprecated)]
    AsyncFd::with_interest(socket, Interest::READABLE)
}

/// Largest datagram relayed; longer ones are truncated by the kernel and then fail validation.
pub(crate) const BUF_LEN: usize = 4096;
/// Source recorded when the kernel gives none (never for UDP).
const UNSPECIFIED: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0));
/// Datagrams asked for per call: one to relay, one more to learn whether the socket is empty.
const SLOTS: usize = 2;

/// Receive buffers and `recvmmsg` headers of one relay thread.
pub(crate) struct RecvSlots {
    bufs: Box<[[u8; BUF_LEN]; SLOTS]>,
    /// Headers for IPv4 and for IPv6 sockets: each records the source address length the kernel
    /// may fill in, which is that of the socket's family.
    v4: MultiHeaders<SockaddrIn>,
    v6: MultiHeaders<SockaddrIn6>,
    /// Length and source of each datagram of the last receive.
    got: [(usize, SocketAddr); SLOTS],
}

impl RecvSlots {
    /// Allocates the buffers (once per thread).
    pub(crate) fn new() -> Self {
        RecvSlots {
            bufs: Box::new([[0; BUF_LEN]; SLOTS]),
            v4: MultiHeaders::preallocate(SLOTS, None),
            v6: MultiHeaders::preallocate(SLOTS, None),
            got: [(0, UNSPECIFIED); SLOTS],
        }
    }

    /// Receives up to two datagrams waiting on `socket` (bound to an IPv6 address when `v6`)
    /// and returns how many (at least one); `Pending` when none is waiting (the task is woken
    /// when one arrives). Read them with [`RecvSlots::packet`].
    pub(crate) fn poll_recv(
        &mut self,
        socket: &RelaySocket,
        v6: bool,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(socket.poll_read_ready(cx))?;
            let mut n = 0;
            let result = guard.try_io(|socket| {
                let socket = socket.get_ref();
                n = if v6 {
                    receive(socket, &mut self.v6, &mut self.bufs, &mut self.got, |a| {
                        SocketAddr::V6(SocketAddrV6::from(*a))
                    })?
                } else {
                    receive(socket, &mut self.v4, &mut self.bufs, &mut self.got, |a| {
                        SocketAddr::V4(SocketAddrV4::from(*a))
                    })?
                };
                // Fewer than asked for: the socket is empty now; `WouldBlock` makes tokio clear
                // its readiness, so the next poll waits for the next datagram's event.
                if n < SLOTS {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match result {
                // Readiness cleared: nothing was waiting after all, or the socket is now empty.
                Err(_would_block) if n == 0 => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_) | Ok(Ok(())) => return Poll::Ready(Ok(n)),
            }
        }
    }

    /// Datagram `i` (< the count [`RecvSlots::poll_recv`] returned) of the last receive and its
    /// source.
    pub(crate) fn packet(&mut self, i: usize) -> (&mut [u8], SocketAddr) {
        let (len, from) = self.got[i % SLOTS];
        let buf = &mut self.bufs[i % SLOTS];
        (&mut buf[..len.min(BUF_LEN)], from)
    }
}

impl Default for RecvSlots {
    fn default() -> Self {
        Self::new()
    }
}

/// One non-blocking `recvmmsg` into `bufs`, recording each datagram's length and source in `got`;
/// returns the number received.
fn receive<S: SockaddrLike + Copy>(
    socket: &std::net::UdpSocket,
    headers: &mut MultiHeaders<S>,
    bufs: &mut [[u8; BUF_LEN]; SLOTS],
    got: &mut [(usize, SocketAddr); SLOTS],
    to_std: impl Fn(&S) -> SocketAddr,
) -> io::Result<usize> {
    let [a, b] = bufs;
    let slices = [[IoSliceMut::new(a)], [IoSliceMut::new(b)]];
    let results = recvmmsg(
        socket.as_raw_fd(),
        headers,
        slices.iter(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    let mut n = 0;
    for (msg, slot) in results.zip(got.iter_mut()) {
        let from = msg.address.as_ref().map_or(UNSPECIFIED, &to_std);
        *slot = (msg.bytes, from);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;

    async fn recv(slots: &mut RecvSlots, socket: &RelaySocket, v6: bool) -> usize {
        let wait = poll_fn(|cx| slots.poll_recv(socket, v6, cx));
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("a datagram within 5 s")
            .expect("receive")
    }

    /// Whether a receive would wait now (nothing waiting on the socket).
    async fn would_wait(slots: &mut RecvSlots, socket: &RelaySocket, v6: bool) -> bool {
        poll_fn(|cx| Poll::Ready(slots.poll_recv(socket, v6, cx).is_pending())).await
    }

    #[tokio::test]
    async fn waiting_datagrams_arrive_two_at_a_time_with_their_source_on_v4_and_v6() {
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let v6 = ip.is_ipv6();
            let socket = register(std::net::UdpSocket::bind((ip, 0)).expect("bind")).expect("reg");
            let addr = socket.get_ref().local_addr().expect("addr");
            let peer = std::net::UdpSocket::bind((ip, 0)).expect("bind peer");
            for payload in [&b"one"[..], b"two", b"three"] {
                peer.send_to(payload, addr).expect("send");
            }
            // Loopback delivers within `send_to` unless the kernel defers its softirq work.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut slots = RecvSlots::new();
            assert_eq!(recv(&mut slots, &socket, v6).await, 2, "{ip}");
            let (pkt, from) = slots.packet(0);
            assert_eq!(
                (&*pkt, from),
                (&b"one"[..], peer.local_addr().expect("peer"))
            );
            assert_eq!(&*slots.packet(1).0, b"two");
            assert_eq!(recv(&mut slots, &socket, v6).await, 1, "{ip}");
            assert_eq!(&*slots.packet(0).0, b"three");
            assert!(would_wait(&mut slots, &socket, v6).await, "{ip}: drained");
            peer.send_to(b"four", addr).expect("send");
            assert_eq!(recv(&mut slots, &socket, v6).await, 1, "{ip}: woken again");
            assert_eq!(&*slots.packet(0).0, b"four");
        }
    }
}
