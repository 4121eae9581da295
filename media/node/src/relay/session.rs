//! The session task: owns both legs and relays between them from one `poll` function.
//!
//! Each wake-up: control messages first, then the timer (stats publish, RTP timeout, DTMF
//! generation), then every socket drained until it would block (bounded by a budget so one
//! busy session cannot starve the others on its worker).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use switchboard_proto::v1::{self as pb, MediaEvent, SessionInfo, media_event};
use tokio::sync::{broadcast, oneshot};
use tokio::time::Sleep;

use super::Control;
use super::leg::{Leg, Port, unix_ms};
use super::mailbox::Mailbox;
use super::path;
use super::recv::RecvSlots;
use super::snapshot::{LegSnapshot, session_info};
use crate::stats::Totals;

thread_local! {
    /// One set of receive buffers per relay thread, shared by its sessions: a poll never yields
    /// while it holds them, and sessions on one thread are polled one at a time.
    static RECV: std::cell::RefCell<RecvSlots> = std::cell::RefCell::new(RecvSlots::new());
}

/// Packets handled per poll before yielding to the worker's other sessions.
const BUDGET: u32 = 256;

/// State shared between a session task and the control plane.
#[derive(Debug)]
pub(crate) struct SessionShared {
    pub(crate) id: String,
    pub(crate) call_id: String,
    pub(crate) created_unix_ms: u64,
    /// Both legs as of the last publish (tick or request); `None` before the first.
    pub(crate) snapshot: Mutex<Option<[LegSnapshot; 2]>>,
    pub(crate) events: broadcast::Sender<MediaEvent>,
    pub(crate) totals: Arc<Totals>,
    /// Control messages to the session task.
    pub(crate) mailbox: Mailbox,
}

impl SessionShared {
    /// The last published statistics in gRPC form.
    pub(crate) fn info(&self) -> SessionInfo {
        let legs = *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        session_info(&self.id, &self.call_id, self.created_unix_ms, legs.as_ref())
    }

    /// Publishes an event to WatchEvents subscribers (none listening is fine).
    pub(crate) fn emit(&self, kind: media_event::Kind) {
        let event = MediaEvent {
            session_id: self.id.clone(),
            call_id: self.call_id.clone(),
            unix_ms: unix_ms(SystemTime::now()),
            kind: Some(kind),
        };
        let _ = self.events.send(event);
    }
}

/// Why the poll loop ended.
enum Exit {
    Release(oneshot::Sender<SessionInfo>),
    ControlClosed,
}

/// One session's relay state, driven by a [`SessionFuture`].
pub(crate) struct SessionTask {
    shared: Arc<SessionShared>,
    legs: [Leg; 2],
    timer: Pin<Box<Sleep>>,
    interval: Duration,
    next_tick: Instant,
}

impl SessionTask {
    /// Builds the task; must run in the context of the worker runtime that will poll it (the
    /// legs' sockets and the timer register with that runtime's drivers).
    pub(crate) fn new(shared: Arc<SessionShared>, legs: [Leg; 2], interval: Duration) -> Self {
        let next_tick = Instant::now() + interval;
        SessionTask {
            shared,
            legs,
            timer: Box::pin(tokio::time::sleep_until(next_tick.into())),
            interval,
            next_tick,
        }
    }

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Exit> {
        while let Poll::Ready(msg) = self.shared.mailbox.poll_recv(cx) {
            match msg {
                None => return Poll::Ready(Exit::ControlClosed),
                Some(Control::Release(reply)) => return Poll::Ready(Exit::Release(reply)),
                Some(other) => self.on_control(other),
            }
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            self.on_timer(now);
            let next = self.next_deadline(now);
            self.timer.as_mut().reset(next.into());
        }
        let mut budget = BUDGET;
        for sock in 0..4 {
            while self.poll_socket(sock, cx, &mut budget).is_ready() {
                if budget == 0 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        Poll::Pending
    }

    /// Receives and handles the datagrams waiting on socket `sock` (leg = sock / 2, RTCP port
    /// when odd), up to two per call. `Ready` means datagrams (or a receive error) were consumed.
    fn poll_socket(&mut self, sock: usize, cx: &mut Context<'_>, budget: &mut u32) -> Poll<()> {
        let leg_idx = sock / 2;
        let port = if sock % 2 == 0 { Port::Rtp } else { Port::Rtcp };
        let Some(leg) = self.legs.get(leg_idx) else {
            return Poll::Pending;
        };
        let socket = match port {
            Port::Rtp => &leg.rtp,
            Port::Rtcp => match &leg.rtcp {
                Some(s) => s,
                None => return Poll::Pending,
            },
        };
        let v6 = leg.local_ip.is_ipv6();
        let n = match RECV.with_borrow_mut(|rx| rx.poll_recv(socket, v6, cx)) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => {
                *budget = budget.saturating_sub(1);
                return Poll::Ready(());
            }
            Poll::Ready(Ok(n)) => n,
        };
        let now = Instant::now();
        RECV.with_borrow_mut(|rx| {
            for i in 0..n {
                *budget = budget.saturating_sub(1);
                let (pkt, from) = rx.packet(i);
                path::relay(&mut self.legs, leg_idx, port, pkt, from, now, &self.shared);
            }
        });
        Poll::Ready(())
    }

    fn on_control(&mut self, msg: Control) {
        match msg {
            Control::Update(i, update, reply) => {
                let r = match self.legs.get_mut(i) {
                    Some(leg) => leg.update(&update),
                    None => Err(("leg", format!("leg index {i}"))),
                };
                let _ = reply.send(r);
            }
            Control::SendDtmf(i, req, reply) => {
                let now = Instant::now();
                let r = path::start_dtmf(&mut self.legs, i, req, now);
                // Generation packets are due now: re-arm the timer.
                let next = self.next_deadline(now);
                self.timer.as_mut().reset(next.into());
                let _ = reply.send(r);
            }
            Control::Snapshot(reply) => {
                let _ = reply.send(self.info(Instant::now()));
            }
            Control::Release(_) => {}
        }
    }

    fn on_timer(&mut self, now: Instant) {
        path::on_timer(&mut self.legs, now, &self.shared);
        if now >= self.next_tick {
            self.next_tick = now + self.interval;
            self.publish(now);
        }
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let legs = self.legs.iter().filter_map(Leg::next_deadline).min();
        legs.map_or(self.next_tick, |d| d.min(self.next_tick))
            .max(now)
    }

    /// Stores a fresh snapshot and adds the counters since the previous one to the node totals.
    /// Builds no strings: the gRPC form is made only when someone asks ([`Self::info`]).
    fn publish(&mut self, now: Instant) -> [LegSnapshot; 2] {
        let [a, b] = &mut self.legs;
        let legs = [a.snapshot(now), b.snapshot(now)];
        let shared = &*self.shared;
        let previous = shared
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(legs);
        for (i, leg) in legs.iter().enumerate() {
            let before = previous.map(|p| p[i].counters).unwrap_or_default();
            shared.totals.add_delta(&leg.counters, &before);
        }
        legs
    }

    /// Publishes and returns the fresh statistics in gRPC form.
    fn info(&mut self, now: Instant) -> SessionInfo {
        let legs = self.publish(now);
        let shared = &*self.shared;
        session_info(
            &shared.id,
            &shared.call_id,
            shared.created_unix_ms,
            Some(&legs),
        )
    }
}

impl Drop for SessionTask {
    /// A session that ends (or whose worker stops) takes no more control messages.
    fn drop(&mut self) {
        self.shared.mailbox.close();
    }
}

/// The future a relay worker runs for one session: relays until released (or the control
/// plane drops the session), then closes the sockets and replies with the final statistics.
///
/// Written by hand rather than as an `async` block, which kept up to three copies of the
/// task's state in its generator (the spawned future is most of a session's memory).
pub(crate) struct SessionFuture(Option<SessionTask>);

impl SessionFuture {
    /// Wraps a task built with [`SessionTask::new`].
    pub(crate) fn new(task: SessionTask) -> Self {
        SessionFuture(Some(task))
    }
}

impl Future for SessionFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(task) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        let Poll::Ready(exit) = task.poll_drive(cx) else {
            return Poll::Pending;
        };
        let info = task.info(Instant::now());
        // Dropping the task closes the sockets before the reply lets the node reuse the ports.
        self.0 = None;
        if let Exit::Release(reply) = exit {
            let _ = reply.send(info);
        }
        Poll::Ready(())
    }
}

/// The proto enum value of leg index `i`.
pub(crate) fn leg_code(i: usize) -> i32 {
    if i == 0 {
        pb::Leg::A as i32
    } else {
        pb::Leg::B as i32
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// The spawned future is most of a session's resident memory (the relay benchmark measures
    /// the whole: target < 4 KiB); a big field added inline to a leg shows up here first.
    #[test]
    fn the_session_future_stays_within_its_memory_budget() {
        let size = std::mem::size_of::<super::SessionFuture>();
        assert!(size <= 1536, "SessionFuture is {size} bytes");
    }
}
