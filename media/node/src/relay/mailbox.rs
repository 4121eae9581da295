//! A session's control mailbox: the queue of [`Control`] messages from the control plane to
//! the session task, and the task's waker.
//!
//! It lives inside the session's shared state, so a session pays a few dozen bytes for it
//! instead of a tokio mpsc channel (an `Arc`ed channel plus an eagerly allocated block of 32
//! message slots, about 1.8 KB). Control messages are rare (update, DTMF, snapshot, release):
//! a mutex held for one push or pop costs nothing on the packet path, which never touches it.

use std::collections::VecDeque;
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
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
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
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// The next message; `Ready(None)` once closed and drained; `Pending` registers `cx`.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Control>> {
        let mut state = self.lock();
        if let Some(msg) = state.queue.pop_front() {
            if state.queue.is_empty() {
                // Free the buffer: messages are rare, and an idle session should not keep it.
                state.queue = VecDeque::new();
            }
            return Poll::Ready(Some(msg));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Refuses further posts, drops queued messages (their repliers see the task gone) and
    /// wakes the task so it can see the mailbox closed.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
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
        assert_eq!(counter.0.load(Ordering::Relaxed), 1);
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
