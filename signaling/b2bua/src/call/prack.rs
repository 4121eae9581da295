//! Reliable provisional responses from callees (RFC 3262). Our B-leg INVITEs say
//! `Supported: 100rel`, so a callee (typically a carrier trunk sending early media) may send its
//! 1xx reliably (`Require: 100rel`, `RSeq`); each is acknowledged by PRACK in its early dialog,
//! exactly once, and one whose RSeq is not the next in that dialog is neither acknowledged nor
//! processed (§4: a retransmission, or out of order). The caller is not involved: its provisional
//! responses stay unreliable.

use switchboard_sip::{HeaderName, Message, Method};

use super::{Call, Leg, LegTransport, TxMethod};
use crate::dialog::Dialog;

/// At most this many early dialogs (forks) are tracked for PRACK; later ones are not
/// acknowledged (their senders give up on them).
const MAX_EARLY: usize = 8;

/// An early dialog that sent reliable provisional responses.
#[derive(Debug, Clone)]
pub(super) struct Early {
    /// The dialog PRACKs are sent in, unless it is the B leg's own dialog (`None` then).
    dialog: Option<Dialog>,
    call_id: String,
    tag: String,
    last_rseq: u32,
}

impl<K: Clone> Call<K> {
    /// A provisional response to the INVITE `invite` (sent to `next_hop` over `transport`): PRACKs
    /// it when it is reliable and next in its dialog. `false`: a reliable response to drop
    /// unprocessed.
    pub(super) fn accept_provisional(
        &mut self,
        invite: &Message<'static>,
        response: &Message<'_>,
        (next_hop, transport): (std::net::SocketAddr, LegTransport),
    ) -> bool {
        let reliable = response
            .require()
            .is_ok_and(|r| r.iter().any(|t| t.eq_ignore_ascii_case("100rel")));
        let (Some(status), true) = (response.status(), reliable) else {
            return true;
        };
        let (Ok(Some(rseq)), Ok(call_id), Some(tag)) = (
            response.rseq(),
            response.call_id(),
            response.to().ok().and_then(|t| t.tag().map(str::to_owned)),
        ) else {
            // Reliable without RSeq or To tag: cannot be acknowledged; use it as unreliable.
            return status > 100;
        };
        let known = self
            .early
            .iter()
            .position(|e| e.call_id == call_id && e.tag == tag);
        let i = match known {
            Some(i) if self.early[i].last_rseq.checked_add(1) != Some(rseq) => return false,
            Some(i) => i,
            None if self.early.len() >= MAX_EARLY => return false,
            None => {
                let ours = self
                    .b_dialog
                    .as_ref()
                    .is_some_and(|d| d.id().call_id == call_id && d.id().remote_tag == tag);
                let dialog = if ours {
                    None
                } else {
                    match Dialog::new_uac(invite, response) {
                        Ok(d) => Some(d),
                        Err(_) => return false,
                    }
                };
                self.early.push(Early {
                    dialog,
                    call_id: call_id.to_owned(),
                    tag,
                    last_rseq: rseq,
                });
                self.early.len() - 1
            }
        };
        self.early[i].last_rseq = rseq;
        let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
        let via = self.via_over(transport);
        let prack = match self.early[i].dialog.as_mut() {
            Some(d) => d.new_request(Method::Prack, &via, None),
            None => match self.b_dialog.as_mut() {
                Some(d) => d.new_request(Method::Prack, &via, None),
                None => return false,
            },
        };
        let Ok(mut prack) = prack else {
            return false;
        };
        prack.push_header(HeaderName::RAck, format!("{rseq} {seq} INVITE"));
        self.send_request_to(Leg::B, TxMethod::Prack, prack, next_hop);
        true
    }

    /// The early dialog that PRACKed for (`call_id`, `tag`), to continue as the B leg's dialog
    /// when that fork answers (its CSeq already counts the PRACKs).
    pub(super) fn take_early_dialog(&mut self, call_id: &str, tag: &str) -> Option<Dialog> {
        let i = self
            .early
            .iter()
            .position(|e| e.call_id == call_id && e.tag == tag)?;
        self.early[i].dialog.take()
    }
}
