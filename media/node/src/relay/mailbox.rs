//! A session's control mailbox: the queue of [`Control`] messages from the control plane to
//! the session task, and the task's waker.
//!
//! It lives inside the session's shared state, so a session pays a few dozen bytes for it
//! instead of a tokio mpsc channel (an `Arc`ed channel plus an eagerly allocated block of 32
//! message slots, about 1.8 KB). Control messages are rare (update, DTMF, snapshot, release):
//! a mutex held for one push or pop costs nothing on the packet path, which never touches it.
//! The task checks its mailbox at every wake-up, though, mostly to find it empty: that check
//! reads one atomic flag and takes the mutex only when a message (or the close) is waiting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::Control;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Control>,
    waker: Option<Waker>,
    closed: bool,
}

/// Messages for one session task; closed by either side (the control plane dropping the
/// session, or the task ending). Once closed, posts are refused and the queue is empty.
///
/// The task's waker stays registered once stored (a post wakes it by reference), so a task
/// polled with the same waker every time, as a spawned task is, finds an empty mailbox without
/// locking.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
    /// A message is queued or the mailbox was closed: `poll_recv` must look under the lock.
    signaled: AtomicBool,
    /// A waker is stored (and stays stored until the mailbox closes).
    registered: AtomicBool,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `msg` and wakes the task; gives the message back when the mailbox is closed.
    pub(crate) fn post(&self, msg: Control) -> Result<(), Control> {
        let mut state = self.lock();
        if state.closed {
            return Err(msg);
        }
        state.queue.push_back(msg);
        self.signaled.store(true, Ordering::Release);
        if let Some(w) = &state.waker {
            w.wake_by_ref();
        }
        Ok(())
    }

    /// The next message; `Ready(None)` once closed and drained; `Pending` registers `cx` (on
    /// the first call; later calls must come with a waker that wakes the same task).
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Control>> {
        // Both flags are set under the lock before the waker is woken, so a post that lands
        // after this check wakes the task, which then sees `signaled`.
        if !self.signaled.load(Ordering::Acquire) && self.registered.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let mut state = self.lock();
        if let Some(msg) = state.queue.pop_front() {
            if state.queue.is_empty() {
                // Free the buffer: messages are rare, and an idle session should not keep it.
                state.queue = VecDeque::new();
                self.signaled.store(state.closed, Ordering::Release);
            }
            return Poll::Ready(Some(msg));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        self.signaled.store(false, Ordering::Release);
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        self.registered.store(true, Ordering::Release);
        Poll::Pending
    }

    /// Refuses further posts, drops queued messages (their repliers see the task gone) and
    /// wakes the task so it can see the mailbox closed.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.signaled.store(true, Ordering::Release);
        let queued = std::mem::take(&mut state.queue);
        let waker = state.waker.take();
        drop(state);
        drop(queued);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use switchboard_proto::v1::SessionInfo;
    use tokio::sync::oneshot;

    use super::*;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot() -> (Control, oneshot::Receiver<SessionInfo>) {
        let (tx, rx) = oneshot::channel();
        (Control::Snapshot(tx), rx)
    }

    #[test]
    fn a_post_wakes_the_waiting_task_and_messages_arrive_in_order() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mailbox = Mailbox::default();
        assert!(mailbox.poll_recv(&mut cx).is_pending());
        let (first, _rx1) = snapshot();
        assert!(mailbox.post(first).is_ok());
        assert!(mailbox.post(Control::Release(oneshot::channel().0)).is_ok());
        assert_eq!(
            counter.0.load(Ordering::Relaxed),
            2,
            "each post wakes the task"
        );
        assert!(matches!(
            mailbox.poll_recv(&mut cx),
            Poll::Ready(Some(Control::Snapshot(_)))
        ));
        assert!(matches!(
            mailbox.poll_recv(&mut cx),
            Poll::Ready(Some(Control::Release(_)))
        ));
        assert!(mailbox.poll_recv(&mut cx).is_pending());
    }

    #[test]
    fn a_task_that_emptied_its_mailbox_is_woken_by_the_next_post() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mailbox = Mailbox::default();
        assert!(mailbox.post(snapshot().0).is_ok());
        assert!(matches!(mailbox.poll_recv(&mut cx), Poll::Ready(Some(_))));
        for _ in 0..3 {
            assert!(mailbox.poll_recv(&mut cx).is_pending());
        }
        assert_eq!(counter.0.load(Ordering::Relaxed), 0);
        let (later, _rx) = snapshot();
        assert!(mailbox.post(later).is_ok());
        assert_eq!(counter.0.load(Ordering::Relaxed), 1);
        assert!(matches!(
            mailbox.poll_recv(&mut cx),
            Poll::Ready(Some(Control::Snapshot(_)))
        ));
        assert!(mailbox.poll_recv(&mut cx).is_pending());
        mailbox.close();
        assert_eq!(counter.0.load(Ordering::Relaxed), 2, "closing wakes it too");
        assert!(matches!(mailbox.poll_recv(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn closing_refuses_posts_drops_queued_replies_and_ends_the_task() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mailbox = Mailbox::default();
        let (queued, mut rx) = snapshot();
        assert!(mailbox.post(queued).is_ok());
        mailbox.close();
        assert!(matches!(
            rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(mailbox.post(snapshot().0).is_err());
        assert!(matches!(mailbox.poll_recv(&mut cx), Poll::Ready(None)));
        assert_eq!(counter.0.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn closing_wakes_a_waiting_task() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mailbox = Mailbox::default();
        assert!(mailbox.poll_recv(&mut cx).is_pending());
        mailbox.close();
        assert_eq!(counter.0.load(Ordering::Relaxed), 1);
        assert!(matches!(mailbox.poll_recv(&mut cx), Poll::Ready(None)));
    }
}
