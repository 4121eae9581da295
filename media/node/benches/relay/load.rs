//! The load generator and receiver: one thread (the caller's, pinned to core 0 by `main`) sends
//! paced RTP packets from one socket to every stream's ingress and, between sends, busy-polls one
//! receiver socket that every stream's egress delivers to. Busy polling a single socket keeps the
//! receive timestamp within a few microseconds of the packet's arrival, and sending from the same
//! loop means the generator never queues a burst: packet `k` goes out at `k / rate` seconds, so
//! with `n` streams at 50 packets/s stream `i` sends at `i * 20 ms / n` into each 20 ms period.
//!
//! The send time (a monotonic clock, nanoseconds since the generator started) is written into the
//! RTP payload; the receiver subtracts it from its own reading of the same clock.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// G.711 packet size at 20 ms: 12-byte RTP header + 160 bytes of payload.
pub(crate) const PKT: usize = 172;
/// Receive and send buffer asked for the generator's sockets (the kernel caps it at
/// `net.core.rmem_max` / `wmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;
/// How long the receiver keeps draining after the last send, at most.
const DRAIN_MAX: Duration = Duration::from_millis(1000);
/// A quiet receiver for this long ends the drain early (long enough to outlast a preempted relay).
const DRAIN_QUIET: Duration = Duration::from_millis(250);
/// Packets sent back to back, at most, when the generator is behind schedule.
const SEND_BATCH: u64 = 8;
/// A run whose sends fall this far behind schedule stops (the generator is the bottleneck).
const MAX_BEHIND: Duration = Duration::from_millis(2000);

/// What one run sent and received.
pub(crate) struct Outcome {
    /// Packets handed to the kernel.
    pub(crate) sent: u64,
    /// Packets of this run that reached the receiver.
    pub(crate) got: u64,
    /// Wall time of the sending phase, in seconds.
    pub(crate) send_secs: f64,
    /// Packets sent and not yet received when the last one was sent: what the relay is behind.
    pub(crate) in_flight: u64,
    /// One-way latency of every received packet, in nanoseconds (kept only when asked).
    pub(crate) latency_ns: Vec<u32>,
}

impl Outcome {
    /// Packets/s the generator actually offered.
    pub(crate) fn offered(&self) -> f64 {
        self.sent as f64 / self.send_secs.max(1e-9)
    }

    /// Adds a later run of the same kind (latency samples merged in order).
    pub(crate) fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.got += other.got;
        self.send_secs += other.send_secs;
        self.in_flight += other.in_flight;
        self.latency_ns.extend(other.latency_ns);
        self.latency_ns.sort_unstable();
    }

    /// Packets sent and not received.
    pub(crate) fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.got)
    }

    /// The `p` quantile (0..=1) of the latency, in microseconds (0 without samples).
    pub(crate) fn latency_us(&self, p: f64) -> f64 {
        let l = &self.latency_ns;
        let i = ((l.len().saturating_sub(1)) as f64 * p).round() as usize;
        l.get(i).map_or(0.0, |v| f64::from(*v) / 1000.0)
    }
}

/// The generator's sockets and clock.
pub(crate) struct Load {
    tx: UdpSocket,
    rx: UdpSocket,
    t0: Instant,
    tag: u8,
    pkt: [u8; PKT],
    buf: [u8; 2048],
}

impl Load {
    /// Binds the sending and the receiving socket on loopback (free ports).
    pub(crate) fn new() -> std::io::Result<Self> {
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        let rx = UdpSocket::bind("127.0.0.1:0")?;
        rx.set_nonblocking(true)?;
        let _ = SockRef::from(&rx).set_recv_buffer_size(SOCKET_BUFFER);
        let _ = SockRef::from(&tx).set_send_buffer_size(SOCKET_BUFFER);
        let mut pkt = [0xd5u8; PKT];
        pkt[0] = 0x80;
        pkt[1] = 0; // PCMU, no marker (a second byte of 200-204 would read as RTCP under rtcp-mux)
        Ok(Load {
            tx,
            rx,
            t0: Instant::now(),
            tag: 0,
            pkt,
            buf: [0; 2048],
        })
    }

    /// The address packets are sent from (every stream's signaled remote on the ingress side).
    pub(crate) fn tx_addr(&self) -> SocketAddr {
        self.tx.local_addr().expect("tx address")
    }

    /// The address the relay delivers to (every stream's remote on the egress side).
    pub(crate) fn rx_addr(&self) -> SocketAddr {
        self.rx.local_addr().expect("rx address")
    }

    fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// Sends `rate` packets/s in total for `secs` seconds, round-robin over `targets` (one per
    /// stream), in groups of `burst` packets sent back to back (1: every packet at its own
    /// time), receiving meanwhile, then drains what is still in flight. Bounded by
    /// `rate * secs` packets and by `secs` plus 2 s of lag plus 1 s of drain.
    pub(crate) fn run(
        &mut self,
        targets: &[SocketAddr],
        (rate, secs, burst): (f64, f64, u64),
        keep_latency: bool,
    ) -> Outcome {
        self.tag = self.tag.wrapping_add(1);
        let total = (rate * secs).ceil() as u64;
        let mut out = Outcome {
            sent: 0,
            got: 0,
            send_secs: 0.0,
            in_flight: 0,
            latency_ns: Vec::with_capacity(if keep_latency { total as usize } else { 0 }),
        };
        let interval = 1e9 / rate;
        let start = self.now_ns();
        let give_up = start + ((secs * 1e9) as u64) + MAX_BEHIND.as_nanos() as u64;
        let (mut k, burst) = (0u64, burst.max(1));
        let due = |k: u64| start + ((k / burst * burst) as f64 * interval) as u64;
        while k < total {
            let now = self.now_ns();
            if now > give_up {
                break;
            }
            // Every packet that is due, up to a batch when behind schedule (on schedule, that is
            // one burst per due time and the receiver is polled between bursts).
            let mut batch = 0;
            while k < total && batch < SEND_BATCH.max(burst) && now >= due(k) {
                let stream = (k % targets.len() as u64) as usize;
                self.stamp(stream, k / targets.len() as u64, self.now_ns());
                if self.tx.send_to(&self.pkt, targets[stream]).is_ok() {
                    out.sent += 1;
                }
                k += 1;
                batch += 1;
            }
            self.poll_rx(&mut out, keep_latency);
        }
        out.send_secs = (self.now_ns() - start) as f64 / 1e9;
        out.in_flight = out.sent.saturating_sub(out.got);
        self.drain(&mut out, keep_latency);
        out.latency_ns.sort_unstable();
        out
    }

    /// Writes stream `stream`'s `round`-th packet: sequence, timestamp, SSRC, send time, run tag.
    fn stamp(&mut self, stream: usize, round: u64, now_ns: u64) {
        let p = &mut self.pkt;
        p[2..4].copy_from_slice(&(round as u16).to_be_bytes());
        p[4..8].copy_from_slice(&((round as u32).wrapping_mul(160)).to_be_bytes());
        p[8..12].copy_from_slice(&(stream as u32 + 1).to_be_bytes());
        p[12..20].copy_from_slice(&now_ns.to_be_bytes());
        p[20] = self.tag;
    }

    /// Receives what is queued (at most 64 packets, so sends stay on schedule).
    fn poll_rx(&mut self, out: &mut Outcome, keep_latency: bool) -> usize {
        let mut n = 0;
        while n < 64 {
            match self.rx.recv(&mut self.buf) {
                Ok(len) => {
                    n += 1;
                    let now = self.now_ns();
                    if len != PKT || self.buf[20] != self.tag {
                        continue; // a late packet of an earlier run
                    }
                    out.got += 1;
                    if keep_latency {
                        let sent =
                            u64::from_be_bytes(self.buf[12..20].try_into().unwrap_or([0; 8]));
                        let ns = now.saturating_sub(sent).min(u64::from(u32::MAX));
                        out.latency_ns.push(ns as u32);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        n
    }

    /// Receives until everything sent arrived, the socket stays quiet, or [`DRAIN_MAX`].
    fn drain(&mut self, out: &mut Outcome, keep_latency: bool) {
        let start = Instant::now();
        let mut last = Instant::now();
        while out.got < out.sent && start.elapsed() < DRAIN_MAX && last.elapsed() < DRAIN_QUIET {
            if self.poll_rx(out, keep_latency) > 0 {
                last = Instant::now();
            }
        }
    }
}
