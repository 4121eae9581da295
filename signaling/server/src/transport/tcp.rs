//! TCP and TLS: accept loop, one reader and one writer task per connection, Content-Length framing,
//! idle and partial-message timeouts, connection reuse by peer address. A TLS connection is a TCP one
//! with the handshake done first (in its own task, bounded by [`HANDSHAKE_TIMEOUT`]).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::{Buf, Bytes, BytesMut};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ConnId, Inbound, SendError, Target, Transport, Transports};

/// Messages queued for one connection's writer. A peer that lets this many back up (after its receive
/// window and our socket buffer are full) is not reading: the connection is closed rather than waited on,
/// because the sender is a signaling worker that serves every other peer too.
const WRITE_QUEUE: usize = 256;

/// Bound on opening a connection to send a message (RFC 3261 §18.2.2 when the original one is gone).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Bound on a TLS handshake, either way: a peer that stalls it holds only its own task.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Pending-connection backlog of a listener.
const BACKLOG: i32 = 1024;

/// Binds a TCP listener. An IPv6 listener is IPv6-only, like the UDP socket beside it: otherwise `[::]:5060`
/// would also claim IPv4 and a configuration listing both `0.0.0.0:5060` and `[::]:5060` could not start.
pub(super) fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // A restarted server must not wait for the previous process's TIME_WAIT connections.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

pub(super) struct ConnHandle {
    tx: mpsc::Sender<Bytes>,
    transport: Transport,
    /// Cancelled to close the connection from outside its tasks (a peer that stopped reading).
    close: CancellationToken,
}

/// Accepts connections on `listener`, plain TCP or TLS (`transport`).
pub(super) async fn accept_loop(t: Transports, listener: TcpListener, transport: Transport) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = t.inner.shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().unwrap_or(peer);
                if transport == Transport::Tls {
                    handshake_in(&t, stream, peer, local);
                } else {
                    start_connection(&t, stream, (peer, local), Transport::Tcp);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                // Out of file descriptors and similar: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// The server side of a TLS handshake on an accepted connection, in its own task.
fn handshake_in(t: &Transports, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let Some(acceptor) = t
        .inner
        .config
        .tls
        .as_ref()
        .and_then(|c| c.acceptor())
        .cloned()
    else {
        return;
    };
    let t = t.clone();
    tokio::spawn(async move {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                start_connection(&t, tls, (peer, local), Transport::Tls);
            }
            Ok(Err(e)) => tracing::info!(%peer, error = %e, "tls handshake failed"),
            Err(_) => tracing::info!(%peer, "tls handshake timed out"),
        }
    });
}

fn start_connection<S>(
    t: &Transports,
    stream: S,
    (peer, local): (SocketAddr, SocketAddr),
    transport: Transport,
) -> ConnId
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let id = ConnId(t.inner.next_conn.fetch_add(1, Ordering::Relaxed));
    let (read, write) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    let close = CancellationToken::new();
    t.inner.conns.insert(
        id,
        ConnHandle {
            tx,
            transport,
            close: close.clone(),
        },
    );
    t.inner.conn_by_peer.insert(peer, id);
    // "tcp connection open peer=..." / "tls connection open peer=...": operators (and the baresip
    // tests) read the peers of stream connections from these lines.
    let kind = if transport == Transport::Tls {
        "tls"
    } else {
        "tcp"
    };
    tracing::debug!(%peer, conn = id.0, "{kind} connection open");
    tokio::spawn(write_loop(write, rx, close.clone()));
    let t2 = t.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = read_loop(&t2, read, (peer, local), (id, transport)) => {}
            () = close.cancelled() => {}
        }
        // Stops the writer too, even if it is blocked on a peer that does not read.
        close.cancel();
        t2.inner.conns.remove(&id);
        t2.inner.conn_by_peer.remove_if(&peer, |_, v| *v == id);
        tracing::debug!(%peer, conn = id.0, "{kind} connection closed");
    });
    id
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut write: W,
    mut rx: mpsc::Receiver<Bytes>,
    close: CancellationToken,
) {
    loop {
        let data = tokio::select! {
            d = rx.recv() => match d {
                Some(d) => d,
                None => break,
            },
            () = close.cancelled() => break,
        };
        tokio::select! {
            r = write.write_all(&data) => if r.is_err() {
                return;
            },
            () = close.cancelled() => return,
        }
    }
    let _ = write.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    t: &Transports,
    mut read: R,
    (peer, local): (SocketAddr, SocketAddr),
    (id, transport): (ConnId, Transport),
) {
    let cfg = &t.inner.config;
    let mut buf = BytesMut::with_capacity(4096);
    let mut last_activity = Instant::now();
    // Set while `buf` holds the start of a message that has not completed yet.
    let mut partial_since: Option<Instant> = None;
    loop {
        let deadline = match partial_since {
            Some(since) => {
                (since + cfg.tcp_partial_message_timeout).min(last_activity + cfg.tcp_idle_timeout)
            }
            None => last_activity + cfg.tcp_idle_timeout,
        };
        let n = tokio::select! {
            r = read.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            () = tokio::time::sleep_until(deadline) => {
                if partial_since.is_some() {
                    tracing::info!(%peer, "closing tcp connection: incomplete message timed out");
                } else {
                    tracing::debug!(%peer, "closing idle tcp connection");
                }
                return;
            }
            () = t.inner.shutdown.cancelled() => return,
        };
        debug_assert!(n > 0);
        last_activity = Instant::now();
        // Whether a message or keepalive was taken off the front: what is left then starts a new message.
        let mut consumed = false;
        loop {
            match switchboard_sip::framing::next_message(&buf, cfg.max_message_size) {
                switchboard_sip::framing::Frame::Complete { skip, len } => {
                    buf.advance(skip);
                    let data = buf.split_to(len).freeze();
                    consumed = true;
                    t.inner.sink.deliver(Inbound {
                        data,
                        source: peer,
                        local,
                        transport,
                        conn: Some(id),
                        // The read that completed it (the time it then waits counts as load).
                        received: last_activity.into_std(),
                    });
                }
                switchboard_sip::framing::Frame::Keepalive { len, ping } => {
                    buf.advance(len);
                    consumed = true;
                    if ping {
                        // RFC 5626 §4.4.1: answer a double-CRLF ping with a single CRLF pong.
                        if let Some(c) = t.inner.conns.get(&id) {
                            let _ = c.tx.try_send(Bytes::from_static(b"\r\n"));
                        }
                    }
                }
                switchboard_sip::framing::Frame::Incomplete => break,
                switchboard_sip::framing::Frame::Invalid(e) => {
                    // A stream that cannot be framed cannot be resynchronised: RFC 3261 §18.3.
                    tracing::info!(%peer, error = %e, "closing tcp connection: unframeable data");
                    return;
                }
            }
        }
        // The partial timer runs from the first byte of the message now at the front of the buffer: a
        // trickling peer cannot extend it, and a message that follows a completed one gets its own.
        partial_since = if buf.is_empty() {
            None
        } else if consumed {
            Some(last_activity)
        } else {
            partial_since.or(Some(last_activity))
        };
    }
}

pub(super) async fn send(t: &Transports, target: &Target, data: Bytes) -> Result<(), SendError> {
    let tls = match target.transport {
        Transport::Tls => match t.inner.config.tls.clone() {
            Some(tls) => Some(tls),
            None => return Err(SendError::NoSocket(Transport::Tls, target.dest)),
        },
        _ => None,
    };
    let existing = target
        .conn
        .filter(|c| t.inner.conns.contains_key(c))
        .or_else(|| t.inner.conn_by_peer.get(&target.dest).map(|id| *id));
    if let Some(id) = existing {
        if let Some(conn) = t
            .inner
            .conns
            .get(&id)
            .filter(|c| c.transport == target.transport)
        {
            match conn.tx.try_send(data.clone()) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Never wait on one peer: the caller serves everyone. RFC 3261 §18.4: report a
                    // transport error and drop the connection.
                    if !conn.close.is_cancelled() {
                        tracing::info!(peer = %target.dest, conn = id.0, "closing tcp connection: peer is not reading");
                    }
                    conn.close.cancel();
                    return Err(SendError::NotDraining(target.dest));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
    // RFC 3261 §18.2.2: if the connection is gone, open a new one to the same address. Connecting can take
    // seconds, and the caller (a signaling worker) serves every Call-ID of its shard, so the connect and
    // the first write run in their own task; a failure is logged (no retransmission exists over TCP, so the
    // transaction ends by its own timers).
    let t = t.clone();
    let dest = target.dest;
    tokio::spawn(async move {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return tracing::debug!(peer = %dest, error = %e, "tcp connect failed"),
            Err(_) => return tracing::debug!(peer = %dest, "tcp connect timed out"),
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(dest);
        let id = match tls {
            None => start_connection(&t, stream, (dest, local), Transport::Tcp),
            Some(tls) => {
                let name = tls.server_name(dest);
                let handshake = tls.connector().connect(name, stream);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(s)) => start_connection(&t, s, (dest, local), Transport::Tls),
                    Ok(Err(e)) => {
                        return tracing::info!(peer = %dest, error = %e, "tls handshake failed");
                    }
                    Err(_) => return tracing::info!(peer = %dest, "tls handshake timed out"),
                }
            }
        };
        let sent = t
            .inner
            .conns
            .get(&id)
            .is_some_and(|c| c.tx.try_send(data).is_ok());
        if !sent {
            tracing::debug!(peer = %dest, "tcp connection closed before the first write");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipv6_listener_is_ipv6_only_and_ipv4_listener_binds() {
        let v6 = bind_listener("[::1]:0".parse().expect("addr")).expect("bind [::1]");
        assert_eq!(socket2::SockRef::from(&v6).only_v6().ok(), Some(true));
        let v4 = bind_listener("127.0.0.1:0".parse().expect("addr")).expect("bind 127.0.0.1");
        let addr = v4.local_addr().expect("local");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (_, peer) = v4.accept().await.expect("accept");
        assert_eq!(Some(peer), client.local_addr().ok());
    }
}
