//! The relay: worker threads, each running a current-thread tokio runtime, own sessions.
//!
//! A session is one task on one worker; it owns the four (or fewer, with rtcp-mux) sockets of
//! its two legs and relays packets directly between them inside a single `poll` function
//! ([`session::SessionTask`]): no lock, channel hop or allocation per packet. Control messages
//! ([`Control`]) arrive in a [`mailbox::Mailbox`] polled alongside the sockets; statistics are
//! published to a shared snapshot at each tick (and on request), not per packet.
//!
//! - [`leg`]: one leg's sockets, remote, counters and the per-packet inbound/outbound paths.
//! - [`mailbox`]: the session's control message queue.
//! - [`path`]: what happens to one received datagram; timer-driven work.
//! - [`recv`]: receiving a socket's datagrams with one system call per wake-up (`recvmmsg`).
//! - [`session`]: the session task (poll loop, timer, control handling).
//! - [`snapshot`]: the statistics a session publishes, and their gRPC form.

pub(crate) mod leg;
pub(crate) mod mailbox;
pub(crate) mod path;
pub(crate) mod recv;
pub(crate) mod session;
pub(crate) mod snapshot;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_proto::v1::SessionInfo;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::config::DtmfMode;

/// New remote parameters of one leg (validated by the gRPC layer).
#[derive(Debug, Clone)]
pub struct LegUpdate {
    /// Remote RTP endpoint.
    pub remote_rtp: SocketAddr,
    /// Remote RTCP endpoint (equal to `remote_rtp` with rtcp-mux).
    pub remote_rtcp: SocketAddr,
    /// RFC 5761 multiplexing negotiated.
    pub rtcp_mux: bool,
    /// RFC 4733 telephone-event payload type.
    pub telephone_event_pt: Option<u8>,
    /// Packetisation time for generated packets.
    pub ptime: Duration,
    /// SDES keying to unprotect inbound packets.
    pub srtp_inbound: Option<SrtpKeying>,
    /// SDES keying to protect outbound packets.
    pub srtp_outbound: Option<SrtpKeying>,
}

/// Crypto suite and decoded inline key material of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeying {
    /// Suite name as in RFC 4568 (`AES_CM_128_HMAC_SHA1_80`).
    pub suite: &'static str,
    /// The base64 `inline:` key||salt.
    pub inline_key: String,
}

/// One DTMF digit to generate on a leg.
#[derive(Debug, Clone, Copy)]
pub struct DtmfRequest {
    /// Event code (0-15, RFC 4733 §3.2).
    pub event: u8,
    /// Tone duration.
    pub duration: Duration,
    /// Power level in -dBm0.
    pub volume: u8,
}

/// Per-leg options fixed at allocation.
#[derive(Debug, Clone, Copy)]
pub struct LegOptions {
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// Telephone-event handling.
    pub dtmf_mode: DtmfMode,
    /// Silence before an RTP timeout event.
    pub rtp_timeout: Duration,
}

/// A message to a session task.
#[derive(Debug)]
pub(crate) enum Control {
    /// Apply a leg update (0 = A, 1 = B).
    Update(
        usize,
        Box<LegUpdate>,
        oneshot::Sender<Result<(), (&'static str, String)>>,
    ),
    /// Generate a digit on a leg.
    SendDtmf(usize, DtmfRequest, oneshot::Sender<Result<(), String>>),
    /// Reply with fresh statistics.
    Snapshot(oneshot::Sender<SessionInfo>),
    /// Stop, close the sockets and reply with the final statistics.
    Release(oneshot::Sender<SessionInfo>),
}

/// The relay worker threads.
#[derive(Debug)]
pub(crate) struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker threads (at least one).
    pub(crate) fn start(n: usize) -> std::io::Result<Self> {
        let mut w = Workers {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
            next: AtomicUsize::new(0),
        };
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            w.handles.push(rt.handle().clone());
            w.stops.push(stop_tx);
            let thread = std::thread::Builder::new()
                .name(format!("media-relay-{i}"))
                .spawn(move || {
                    let _ = rt.block_on(stop_rx);
                })?;
            w.threads.push(thread);
        }
        Ok(w)
    }

    /// Builds a task with `make` in the context of the next worker (round robin), so the
    /// sockets and timers it creates register with that worker's runtime, and spawns it there.
    pub(crate) fn spawn_with<F, T>(&self, make: F) -> std::io::Result<()>
    where
        F: FnOnce() -> std::io::Result<T>,
        T: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len().max(1);
        let Some(handle) = self.handles.get(i) else {
            return Err(std::io::Error::other("no relay worker running"));
        };
        let task = {
            let _runtime = handle.enter();
            make()?
        };
        handle.spawn(task);
        Ok(())
    }

    /// Stops every worker and joins its thread (tasks still running are dropped).
    pub(crate) fn stop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}
