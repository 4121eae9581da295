//! The transaction layer's message type: a parsed SIP message and where it goes, with the ACK and
//! 100 Trying the layer builds itself (RFC 3261 §17.1.1.3, §17.2.1).

use std::sync::Arc;

use switchboard_sip::{HeaderName, Message, Method};
use switchboard_transaction::TransactionMessage;

use super::handler::SERVER;
use crate::transport::Target;

/// A message owned by the transaction layer: the parsed message and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct SipMsg {
    pub(crate) msg: Arc<Message<'static>>,
    pub(crate) target: Option<Target>,
}

impl SipMsg {
    pub(crate) fn new(msg: Message<'static>, target: Option<Target>) -> SipMsg {
        SipMsg {
            msg: Arc::new(msg),
            target,
        }
    }
}

impl TransactionMessage for SipMsg {
    fn is_ack(&self) -> bool {
        matches!(self.msg.method(), Some(Method::Ack))
    }

    fn build_ack(request: &Self, response: &Self) -> Self {
        // RFC 3261 §17.1.1.3: Request-URI, Call-ID, From, CSeq number, top Via and Route of the request,
        // To of the response.
        let uri = request
            .msg
            .request_uri()
            .map(|u| u.to_string())
            .unwrap_or_default();
        let mut ack = Message::new_request(Method::Ack, uri)
            .unwrap_or_else(|_| Message::new_response(500, "unbuildable ACK"));
        for h in request.msg.headers() {
            match h.name {
                HeaderName::Via => {
                    ack.push_header(HeaderName::Via, h.value.to_string());
                    break;
                }
                _ => continue,
            }
        }
        let copy = |ack: &mut Message<'static>, m: &Message<'static>, name: HeaderName<'static>| {
            if let Some(v) = m.header(&name) {
                ack.push_header(name, v.to_owned());
            }
        };
        copy(&mut ack, &request.msg, HeaderName::From);
        copy(&mut ack, &response.msg, HeaderName::To);
        copy(&mut ack, &request.msg, HeaderName::CallId);
        if let Ok(cseq) = request.msg.cseq() {
            ack.push_header(HeaderName::CSeq, format!("{} ACK", cseq.seq));
        }
        for h in request
            .msg
            .headers()
            .iter()
            .filter(|h| h.name == HeaderName::Route)
        {
            ack.push_header(HeaderName::Route, h.value.to_string());
        }
        ack.push_header(HeaderName::MaxForwards, "70");
        ack.push_header(HeaderName::ContentLength, "0");
        SipMsg {
            msg: Arc::new(ack),
            target: request.target.clone(),
        }
    }

    fn build_trying(request: &Self) -> Self {
        let mut trying = request.msg.response(100, "Trying").into_owned();
        trying.set_header(HeaderName::Server, SERVER);
        SipMsg {
            msg: Arc::new(trying),
            target: request.target.clone(),
        }
    }
}
