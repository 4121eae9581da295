//! [`TransactionLayer`]: many transactions keyed by [`TransactionKey`], one earliest deadline.

mod any;
mod decision;
mod key;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rfc6026;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

pub use decision::{LayerConfig, RequestDecision, ResponseDecision, Transmit};
pub use key::{MAGIC_COOKIE, RequestInfo, ResponseInfo, Role, TransactionKey};

use crate::{
    ClientInviteTransaction, ClientNonInviteTransaction, LayerError, ServerInviteTransaction,
    ServerNonInviteTransaction, TransactionEvent, TransactionMessage,
};
use any::AnyTransaction;
use key::MergeKey;

#[derive(Debug)]
struct Entry<M> {
    tsx: AnyTransaction<M>,
    /// The deadline last pushed on the heap; older heap entries are stale.
    scheduled: Option<Instant>,
    merge_key: Option<MergeKey>,
}

/// Owns every transaction of one worker: matches incoming messages, routes TU responses,
/// fires timers, and queues transmits and events. See the crate docs for the call order.
#[derive(Debug)]
pub struct TransactionLayer<M> {
    config: LayerConfig,
    entries: HashMap<TransactionKey, Entry<M>>,
    merge_index: HashMap<MergeKey, TransactionKey>,
    deadlines: BinaryHeap<Reverse<(Instant, TransactionKey)>>,
    server_count: usize,
    transmits: VecDeque<Transmit<M>>,
    events: VecDeque<(TransactionKey, TransactionEvent<M>)>,
}

impl<M: TransactionMessage> TransactionLayer<M> {
    /// An empty layer.
    pub fn new(config: LayerConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            merge_index: HashMap::new(),
            deadlines: BinaryHeap::new(),
            server_count: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Matches a received request (§17.2.3) and routes it; see [`RequestDecision`].
    pub fn receive_request(
        &mut self,
        now: Instant,
        info: &RequestInfo<'_>,
        request: M,
    ) -> RequestDecision {
        let key = info.key();
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.tsx.handle_request(now, request);
            self.service(&key);
            return RequestDecision::Matched { key };
        }
        if info.method == "ACK" {
            return RequestDecision::AckWithoutTransaction;
        }
        if self.server_count >= self.config.max_server_transactions {
            return RequestDecision::Overloaded;
        }
        let merge_key = info.merge_key();
        let original = merge_key
            .as_ref()
            .and_then(|m| self.merge_index.get(m))
            .cloned();
        let tsx = if info.method == "INVITE" {
            let mut tsx = ServerInviteTransaction::with_trying_delay(
                now,
                request,
                info.reliable,
                &self.config.timers,
                // A merged INVITE is answered with 482 at once; no 100 Trying.
                self.config.trying_delay.filter(|_| original.is_none()),
            );
            tsx.set_retransmit_2xx(self.config.retransmit_2xx);
            AnyTransaction::ServerInvite(tsx)
        } else {
            AnyTransaction::ServerNonInvite(ServerNonInviteTransaction::new(
                now,
                request,
                info.reliable,
                &self.config.timers,
            ))
        };
        // Only the original request owns the merge-index slot.
        let merge_key = if original.is_none() { merge_key } else { None };
        self.insert(key.clone(), tsx, merge_key);
        match original {
            Some(original) => RequestDecision::LoopDetected { key, original },
            None => {
                let cancels = key
                    .cancelled_invite()
                    .filter(|k| self.entries.contains_key(k));
                RequestDecision::New { key, cancels }
            }
        }
    }

    /// Matches a received response (§17.1.3) to its client transaction.
    pub fn receive_response(
        &mut self,
        now: Instant,
        info: &ResponseInfo<'_>,
        response: M,
    ) -> ResponseDecision {
        let key = info.key();
        match self.entries.get_mut(&key) {
            Some(entry) => {
                entry.tsx.handle_response(now, info.status, response);
                self.service(&key);
                ResponseDecision::Matched(key)
            }
            None => ResponseDecision::Stray,
        }
    }

    /// Starts a client transaction sending `request` (INVITE or non-INVITE by `key.method`).
    ///
    /// # Errors
    /// [`LayerError::DuplicateBranch`] if the key is live, [`LayerError::MissingMagicCookie`] if
    /// the branch was not generated per RFC 3261, [`LayerError::AckIsNotATransaction`] for ACK.
    pub fn send_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        request: M,
        reliable: bool,
    ) -> Result<(), LayerError> {
        if key.role != Role::Client {
            return Err(LayerError::WrongRole(key.to_string()));
        }
        if !key.has_magic_cookie() {
            return Err(LayerError::MissingMagicCookie(key.branch));
        }
        if request.is_ack() {
            return Err(LayerError::AckIsNotATransaction);
        }
        if self.entries.contains_key(&key) {
            return Err(LayerError::DuplicateBranch(key.branch));
        }
        let timers = &self.config.timers;
        let tsx = if key.method == "INVITE" {
            AnyTransaction::ClientInvite(ClientInviteTransaction::new(
                now, request, reliable, timers,
            ))
        } else {
            AnyTransaction::ClientNonInvite(ClientNonInviteTransaction::new(
                now, request, reliable, timers,
            ))
        };
        self.insert(key, tsx, None);
        Ok(())
    }

    /// The TU answers a request through its server transaction.
    ///
    /// # Errors
    /// [`LayerError::UnknownTransaction`] if the key is not live; the machine's
    /// [`crate::TransactionError`] if the state does not allow this response.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status: u16,
        response: M,
    ) -> Result<(), LayerError> {
        let entry = self.entries.get_mut(key).ok_or_else(|| unknown(key))?;
        let result = entry.tsx.send_response(now, status, response);
        self.service(key);
        Ok(result?)
    }

    /// The transport failed to send a message of this transaction.
    ///
    /// # Errors
    /// [`LayerError::UnknownTransaction`] if the key is not live.
    pub fn handle_transport_error(&mut self, key: &TransactionKey) -> Result<(), LayerError> {
        let entry = self.entries.get_mut(key).ok_or_else(|| unknown(key))?;
        entry.tsx.handle_transport_error();
        self.service(key);
        Ok(())
    }

    /// The TU (dialog) matched the ACK for the 2xx sent on this INVITE server transaction: stop
    /// the 2xx retransmission of [`LayerConfig::retransmit_2xx`].
    ///
    /// # Errors
    /// [`LayerError::UnknownTransaction`] if the key is not live.
    pub fn handle_2xx_ack(&mut self, key: &TransactionKey) -> Result<(), LayerError> {
        let entry = self.entries.get_mut(key).ok_or_else(|| unknown(key))?;
        entry.tsx.handle_2xx_ack();
        self.service(key);
        Ok(())
    }

    /// Fires every transaction timer due at `now`. Call when the sleep on
    /// [`Self::poll_timeout`] wakes (calling early or late is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, key))) = self.deadlines.pop() {
                if self
                    .entries
                    .get(&key)
                    .is_some_and(|e| e.scheduled == Some(at))
                {
                    due.push(key);
                }
            }
        }
        for key in due {
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.scheduled = None;
                entry.tsx.handle_timeout(now);
                self.service(&key);
            }
        }
    }

    /// The earliest deadline over all transactions: the driver keeps one sleep reset to it.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.deadlines.peek() {
            if self
                .entries
                .get(key)
                .is_some_and(|e| e.scheduled == Some(*at))
            {
                return Some(*at);
            }
            self.deadlines.pop();
        }
        None
    }

    /// The next message to send, with its transaction.
    pub fn poll_transmit(&mut self) -> Option<Transmit<M>> {
        self.transmits.pop_front()
    }

    /// The next event for the TU, with its transaction.
    pub fn poll_event(&mut self) -> Option<(TransactionKey, TransactionEvent<M>)> {
        self.events.pop_front()
    }

    /// The state name of a live transaction.
    pub fn state(&self, key: &TransactionKey) -> Option<&'static str> {
        self.entries.get(key).map(|e| e.tsx.state())
    }

    /// The live INVITE server transaction a CANCEL (by its key) refers to (§9.2).
    pub fn invite_for_cancel(&self, cancel: &TransactionKey) -> Option<TransactionKey> {
        cancel
            .cancelled_invite()
            .filter(|k| self.entries.contains_key(k))
    }

    /// Number of live transactions (client and server), for metrics and leak checks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of live client transactions.
    pub fn client_count(&self) -> usize {
        self.entries.len().saturating_sub(self.server_count)
    }

    /// Number of live server transactions (the ones the cap applies to).
    pub fn server_count(&self) -> usize {
        self.server_count
    }

    fn insert(&mut self, key: TransactionKey, tsx: AnyTransaction<M>, merge_key: Option<MergeKey>) {
        if key.role == Role::Server {
            self.server_count += 1;
        }
        if let Some(m) = &merge_key {
            self.merge_index.insert(m.clone(), key.clone());
        }
        let entry = Entry {
            tsx,
            scheduled: None,
            merge_key,
        };
        self.entries.insert(key.clone(), entry);
        self.service(&key);
    }

    /// Collects a machine's output after any input, reschedules it, removes it if terminated.
    fn service(&mut self, key: &TransactionKey) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        while let Some(message) = entry.tsx.poll_transmit() {
            self.transmits.push_back(Transmit {
                key: key.clone(),
                message,
            });
        }
        while let Some(event) = entry.tsx.poll_event() {
            self.events.push_back((key.clone(), event));
        }
        if entry.tsx.is_terminated() {
            self.remove(key);
            return;
        }
        let next = entry.tsx.poll_timeout();
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(at) = next {
                self.deadlines.push(Reverse((at, key.clone())));
            }
        }
        self.compact_deadlines();
    }

    fn remove(&mut self, key: &TransactionKey) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        if key.role == Role::Server {
            self.server_count = self.server_count.saturating_sub(1);
        }
        if let Some(m) = entry.merge_key {
            if self.merge_index.get(&m) == Some(key) {
                self.merge_index.remove(&m);
            }
        }
    }

    /// Drops stale heap entries once they outnumber live ones, bounding memory under churn.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() <= 2 * self.entries.len() + 64 {
            return;
        }
        let entries = &self.entries;
        self.deadlines.retain(|Reverse((at, key))| {
            entries.get(key).is_some_and(|e| e.scheduled == Some(*at))
        });
    }

    /// Number of heap entries, stale ones included (for tests of the compaction bound).
    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.deadlines.len()
    }
}

fn unknown(key: &TransactionKey) -> LayerError {
    LayerError::UnknownTransaction {
        branch: key.branch.clone(),
        method: key.method.clone(),
    }
}
