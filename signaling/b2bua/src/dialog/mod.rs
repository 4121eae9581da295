//! One SIP dialog (RFC 3261 §12): its ID, sequence numbers, URIs, remote target and route set; its
//! creation on either side (§12.1.1 UAS, §12.1.2 UAC), in-dialog request building (§12.2.1.1) and
//! request matching with CSeq ordering (§12.2.2).

mod error;

use switchboard_sip::{Contacts, HeaderName, Message, Method, NameAddr, ParseError};

pub use error::{DialogError, RequestRejection};

/// Dialog identifier (RFC 3261 §12): Call-ID, local tag, remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From tag on the UAC side, To tag on the UAS side).
    pub local_tag: String,
    /// The peer's tag; empty when the peer sent none (RFC 2543 peers).
    pub remote_tag: String,
}

/// Where a dialog is in its life (RFC 3261 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// A 2xx was sent or received.
    Confirmed,
    /// Ended (BYE, a final non-2xx to the INVITE, or a failure).
    Terminated,
}

/// A dialog as seen by one UA (RFC 3261 §12). The B2BUA holds a UAS dialog on the A leg and a UAC
/// dialog on the B leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    state: DialogState,
    /// Last CSeq number we used; 0 = empty (a UAS dialog before its first request).
    local_seq: u32,
    remote_seq: Option<u32>,
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    route_set: Vec<String>,
    secure: bool,
    invite_seq: u32,
}

fn header_err(header: &'static str, reason: &'static str) -> DialogError {
    DialogError::Header { header, reason }
}

/// `"Name" <uri>` without header parameters (the tag is kept apart in the dialog).
pub(crate) fn bare_name_addr(a: &NameAddr<'_>) -> String {
    match (a.display_name, a.quoted) {
        (Some(d), true) => format!("\"{d}\" <{}>", a.uri),
        (Some(d), false) => format!("{d} <{}>", a.uri),
        (None, _) => format!("<{}>", a.uri),
    }
}

fn first_contact(m: &Message<'_>) -> Result<Option<String>, DialogError> {
    Ok(match m.contacts()? {
        Contacts::List(list) => list.first().map(|c| c.uri.to_string()),
        Contacts::None | Contacts::Wildcard => None,
    })
}

impl Dialog {
    /// The UAS side of a dialog created by responding to `request` (an INVITE) with To tag `local_tag`
    /// (RFC 3261 §12.1.1): route set = Record-Route in order, remote target = the request's Contact,
    /// remote CSeq = the request's. The dialog starts [`DialogState::Early`]; [`Dialog::confirm`] it
    /// when the 2xx is sent.
    pub fn new_uas(request: &Message<'_>, local_tag: &str) -> Result<Dialog, DialogError> {
        let from = request.from()?;
        let to = request.to()?;
        let cseq = request.cseq()?;
        let remote_target =
            first_contact(request)?.ok_or(header_err("Contact", "missing in INVITE"))?;
        let route_set = request
            .record_routes()?
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(Dialog {
            id: DialogId {
                call_id: request.call_id()?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: from.tag().unwrap_or_default().to_owned(),
            },
            state: DialogState::Early,
            local_seq: 0,
            remote_seq: Some(cseq.seq),
            local_uri: bare_name_addr(&to),
            remote_uri: bare_name_addr(&from),
            remote_target,
            route_set,
            secure: request.request_uri()?.is_secure(),
            invite_seq: cseq.seq,
        })
    }

    /// The UAC side of a dialog created by `response` (1xx with a To tag, or 2xx) to our `request`
    /// (RFC 3261 §12.1.2): route set = the response's Record-Route reversed, remote target = its
    /// Contact (the Request-URI when a provisional carries none), local CSeq = the request's.
    pub fn new_uac(request: &Message<'_>, response: &Message<'_>) -> Result<Dialog, DialogError> {
        let from = request.from()?;
        let to = response.to()?;
        let cseq = request.cseq()?;
        let local_tag = from.tag().ok_or(header_err("From", "no tag"))?;
        let remote_tag = to.tag().ok_or(header_err("To", "no tag in response"))?;
        let remote_target = match first_contact(response)? {
            Some(c) => c,
            None => request.request_uri()?.to_string(),
        };
        let confirmed = response.status().is_some_and(|s| (200..300).contains(&s));
        let mut route_set: Vec<String> = response
            .record_routes()?
            .iter()
            .map(ToString::to_string)
            .collect();
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: request.call_id()?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: remote_tag.to_owned(),
            },
            state: if confirmed {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: cseq.seq,
            remote_seq: None,
            local_uri: bare_name_addr(&from),
            remote_uri: bare_name_addr(&to),
            remote_target,
            route_set,
            secure: request.request_uri()?.is_secure(),
            invite_seq: cseq.seq,
        })
    }

    /// A terminated dialog for an INVITE that could not create one (no Contact), so its Call-ID and
    /// tags can still be reported; it matches no request.
    pub(crate) fn placeholder(request: &Message<'_>, local_tag: &str) -> Dialog {
        let text =
            |r: Result<NameAddr<'_>, ParseError>| r.map(|a| bare_name_addr(&a)).unwrap_or_default();
        Dialog {
            id: DialogId {
                call_id: request.call_id().unwrap_or_default().to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: request
                    .from()
                    .ok()
                    .and_then(|f| f.tag())
                    .unwrap_or_default()
                    .to_owned(),
            },
            state: DialogState::Terminated,
            local_seq: 0,
            remote_seq: request.cseq().ok().map(|c| c.seq),
            local_uri: text(request.to()),
            remote_uri: text(request.from()),
            remote_target: String::new(),
            route_set: Vec::new(),
            secure: false,
            invite_seq: request.cseq().map(|c| c.seq).unwrap_or_default(),
        }
    }

    /// The dialog ID.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The last local CSeq number used (0 before the first request of a UAS dialog).
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The last remote CSeq number seen.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// The remote target (the peer's Contact URI).
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, in the order Route headers are written.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// True when the dialog was created by a `sips` request (RFC 3261 §12.1.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The CSeq number of the INVITE that created the dialog (used by its ACK).
    pub fn invite_seq(&self) -> u32 {
        self.invite_seq
    }

    /// Early → confirmed (a 2xx was sent; UAS side).
    pub fn confirm(&mut self) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
    }

    /// Marks the dialog terminated.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// Applies a response to the dialog's INVITE (UAC side): a 2xx confirms an early dialog and
    /// recomputes the route set from its Record-Route (RFC 3261 §12.1.2, §13.2.2.4); a Contact in a
    /// 1xx or 2xx updates the remote target (§12.2.1.2).
    pub fn update_from_response(&mut self, response: &Message<'_>) -> Result<(), DialogError> {
        let Some(status) = response.status() else {
            return Ok(());
        };
        if self.state == DialogState::Terminated || !(101..300).contains(&status) {
            return Ok(());
        }
        if let Some(c) = first_contact(response)? {
            self.remote_target = c;
        }
        if status >= 200 && self.state == DialogState::Early {
            let mut routes: Vec<String> = response
                .record_routes()?
                .iter()
                .map(ToString::to_string)
                .collect();
            routes.reverse();
            self.route_set = routes;
            self.state = DialogState::Confirmed;
        }
        Ok(())
    }

    /// True when `request`'s Call-ID, To tag and From tag name this dialog (RFC 3261 §12.2.2).
    pub fn matches_request(&self, request: &Message<'_>) -> bool {
        let (Ok(call_id), Ok(from), Ok(to)) = (request.call_id(), request.from(), request.to())
        else {
            return false;
        };
        call_id == self.id.call_id
            && to.tag() == Some(self.id.local_tag.as_str())
            && from.tag().unwrap_or_default() == self.id.remote_tag
    }

    /// Accepts an in-dialog request (RFC 3261 §12.2.2): it must match the dialog, and unless it is an
    /// ACK or CANCEL its CSeq must not be lower than the remote sequence number, which it then becomes.
    pub fn receive_request(&mut self, request: &Message<'_>) -> Result<(), RequestRejection> {
        if self.state == DialogState::Terminated || !self.matches_request(request) {
            return Err(RequestRejection::NoMatch);
        }
        let Ok(cseq) = request.cseq() else {
            return Err(RequestRejection::NoMatch);
        };
        if matches!(cseq.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq {
            if cseq.seq < last {
                return Err(RequestRejection::OutOfOrder {
                    got: cseq.seq,
                    last,
                });
            }
        }
        self.remote_seq = Some(cseq.seq);
        Ok(())
    }

    /// Builds a new in-dialog request (BYE, re-INVITE, ...) per RFC 3261 §12.2.1.1 with the next local
    /// CSeq: Request-URI and Route from the remote target and route set (strict routing when the first
    /// route has no `lr`), To/From with the dialog's URIs and tags, Call-ID, Max-Forwards 70, the given
    /// Via value (top and only Via) and, when given, our Contact URI.
    pub fn new_request(
        &mut self,
        method: Method<'static>,
        via: &str,
        contact: Option<&str>,
    ) -> Result<Message<'static>, DialogError> {
        let seq = self.local_seq.checked_add(1).filter(|s| *s < 1 << 31);
        let seq = seq.ok_or(DialogError::CSeqExhausted)?;
        let m = self.build(method, seq, via, contact)?;
        self.local_seq = seq;
        Ok(m)
    }

    /// Builds the ACK for a 2xx to the dialog's INVITE (RFC 3261 §13.2.2.4): like any in-dialog
    /// request, but with the INVITE's CSeq number and method ACK, and a Via of its own.
    pub fn ack(&self, via: &str) -> Result<Message<'static>, DialogError> {
        self.build(Method::Ack, self.invite_seq, via, None)
    }

    /// Builds the ACK for a 2xx to a re-INVITE we sent in this dialog with CSeq number `seq`
    /// (RFC 3261 §13.2.2.4, §14.1).
    pub fn ack_for(&self, seq: u32, via: &str) -> Result<Message<'static>, DialogError> {
        self.build(Method::Ack, seq, via, None)
    }

    /// A target refresh (RFC 3261 §12.2: re-INVITE, UPDATE, or a 2xx to one) with a Contact
    /// replaces the remote target; one without Contact leaves it.
    pub fn refresh_target(&mut self, message: &Message<'_>) -> Result<(), DialogError> {
        if let Some(c) = first_contact(message)? {
            self.remote_target = c;
        }
        Ok(())
    }

    fn build(
        &self,
        method: Method<'static>,
        seq: u32,
        via: &str,
        contact: Option<&str>,
    ) -> Result<Message<'static>, DialogError> {
        let strict = self
            .route_set
            .first()
            .and_then(|r| NameAddr::parse(r).ok())
            .filter(|r| !r.uri.lr())
            .map(|r| r.uri.to_string());
        let (request_uri, routes) = match strict {
            Some(first) => {
                let mut rest: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
                rest.push(format!("<{}>", self.remote_target));
                (first, rest)
            }
            None => (self.remote_target.clone(), self.route_set.clone()),
        };
        let cseq = format!("{seq} {method}");
        let mut m = Message::new_request(method, request_uri)?;
        m.push_header(HeaderName::Via, via.to_owned());
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(
            HeaderName::From,
            self.tagged(&self.local_uri, &self.id.local_tag),
        );
        m.push_header(
            HeaderName::To,
            self.tagged(&self.remote_uri, &self.id.remote_tag),
        );
        m.push_header(HeaderName::CallId, self.id.call_id.clone());
        m.push_header(HeaderName::CSeq, cseq);
        for r in routes {
            m.push_header(HeaderName::Route, r);
        }
        if let Some(c) = contact {
            m.push_header(HeaderName::Contact, format!("<{c}>"));
        }
        m.push_header(HeaderName::ContentLength, "0");
        Ok(m)
    }

    fn tagged(&self, uri: &str, tag: &str) -> String {
        if tag.is_empty() {
            uri.to_owned()
        } else {
            format!("{uri};tag={tag}")
        }
    }
}

#[cfg(test)]
mod tests;
