//! The transaction user for requests that end here: which methods exist, OPTIONS, REGISTER, and the
//! RFC 3261 §8.2 checks (416, 420, 481, 405, 501) every new request goes through.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use switchboard_sip::{HeaderName, Message, Method, Scheme};

use super::dialplan_glue::{Admitted, Dialing};
use super::registrar_glue::Registrar;
use crate::transport::Transport;

/// Methods this server accepts, for `Allow` (RFC 3261 §20.5).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, REFER";
/// Option tags this server supports, for `Supported`: `100rel` (RFC 3262 reliable provisional
/// responses on calls, both legs) and `timer` (RFC 4028 session timers on calls, both legs).
pub(crate) const SUPPORTED: &str = "100rel, timer";
/// `Server` / `User-Agent` value.
pub(crate) const SERVER: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

/// What the handler needs to know about where a request came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) source: SocketAddr,
    pub(crate) transport: Transport,
}

/// Answers new requests that terminate at this server.
pub(crate) struct Handler {
    registrar: Arc<Mutex<Registrar>>,
    dialing: Dialing,
}

impl Handler {
    pub(crate) fn new(registrar: Arc<Mutex<Registrar>>, dialing: Dialing) -> Handler {
        Handler { registrar, dialing }
    }

    /// The final response to a new request (never for ACK or CANCEL, which the worker matches to
    /// transactions itself).
    pub(crate) fn respond(
        &self,
        req: &Message<'_>,
        origin: Origin,
        now: Instant,
    ) -> Message<'static> {
        let mut resp = self.decide(req, origin, now);
        resp.set_header(HeaderName::Server, SERVER);
        resp
    }

    fn decide(&self, req: &Message<'_>, origin: Origin, now: Instant) -> Message<'static> {
        let Some(method) = req.method() else {
            return owned(req.response(500, "Not a request"));
        };
        // §8.2.1: a method we do not know at all is 501; one we know but do not accept here is 405.
        match method {
            Method::Invite
            | Method::Options
            | Method::Register
            | Method::Bye
            | Method::Update
            | Method::Info => {}
            Method::Extension(_) => return with_allow(req.response(501, "Not Implemented")),
            _ => return with_allow(req.response(405, "Method Not Allowed")),
        }
        // §8.2.2.1: the Request-URI scheme must be one we handle.
        match req.request_uri() {
            Ok(uri) if matches!(uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) => {}
            Ok(_) => return owned(req.response(416, "Unsupported URI Scheme")),
            Err(e) => return owned(req.response(400, e.to_string())),
        }
        // §8.2.2.3: option tags we do not support in Require are refused with 420 and Unsupported.
        match req.require() {
            Ok(tags) if !tags.is_empty() => {
                let mut r = owned(req.response(420, "Bad Extension"));
                r.set_header(HeaderName::Unsupported, tags.join(", "));
                return r;
            }
            Ok(_) => {}
            Err(e) => return owned(req.response(400, e.to_string())),
        }
        // §12.2.2: a To tag names a dialog, and this server holds no dialogs yet.
        if !matches!(method, Method::Register) && req.to().is_ok_and(|t| t.tag().is_some()) {
            return owned(req.response(481, "Call/Transaction Does Not Exist"));
        }
        match method {
            Method::Options => self.options(req),
            Method::Register => match self.registrar.lock() {
                Ok(mut r) => r.handle(req, origin, now, SystemTime::now()),
                Err(_) => owned(req.response(500, "Registrar unavailable")),
            },
            // A BYE, UPDATE or INFO without a To tag is not in any dialog (§15.1.2, RFC 3311 §5.2,
            // RFC 6086 §4.2.1).
            Method::Bye | Method::Update | Method::Info => {
                owned(req.response(481, "Call/Transaction Does Not Exist"))
            }
            // The worker starts calls for new INVITEs (see `admit_invite`); one reaching here is an
            // in-dialog INVITE without a dialog, answered 481 above.
            Method::Invite => owned(req.response(481, "Call/Transaction Does Not Exist")),
            _ => with_allow(req.response(405, "Method Not Allowed")),
        }
    }

    /// §8.2.2.1 for a new INVITE: the Request-URI scheme must be one we route (`sip`/`sips`). The
    /// rest of §8.2 (Require, Max-Forwards, Contact) is the B2BUA call's own check.
    pub(crate) fn precheck_invite(&self, req: &Message<'_>) -> Option<Message<'static>> {
        let mut resp = match req.request_uri() {
            Ok(uri) if matches!(uri.scheme, Scheme::Sip | Scheme::Sips) => return None,
            Ok(_) => owned(req.response(416, "Unsupported URI Scheme")),
            Err(e) => owned(req.response(400, e.to_string())),
        };
        resp.set_header(HeaderName::Server, SERVER);
        Some(resp)
    }

    /// Authenticates and routes a new INVITE through the dialplan (see `Dialing::admit`).
    pub(crate) fn admit_invite(
        &self,
        req: &Message<'_>,
        origin: Origin,
    ) -> Result<Admitted, Box<Message<'static>>> {
        self.dialing.admit(req, origin, &self.registrar)
    }

    /// Where a blind transfer of this call's caller to `target` goes (see `Dialing::transfer_route`).
    pub(crate) fn transfer_route(
        &self,
        a_invite: &Message<'_>,
        target: &str,
    ) -> Result<switchboard_b2bua::RouteTarget, (u16, String)> {
        self.dialing
            .transfer_route(a_invite, target, &self.registrar)
    }

    /// §11.2: OPTIONS to the server is answered like an INVITE would be accepted, listing capabilities.
    fn options(&self, req: &Message<'_>) -> Message<'static> {
        let mut r = with_allow(req.response_with_tag(200, "OK", &random_tag()));
        r.set_header(HeaderName::Supported, SUPPORTED);
        r.set_header(HeaderName::Accept, "application/sdp");
        r.set_header(HeaderName::AcceptLanguage, "en");
        r
    }
}

fn owned(m: Message<'_>) -> Message<'static> {
    m.into_owned()
}

fn with_allow(m: Message<'_>) -> Message<'static> {
    let mut m = m.into_owned();
    m.set_header(HeaderName::Allow, ALLOW);
    m
}

/// A To tag for a response (RFC 3261 §19.3: at least 32 bits of randomness).
pub(crate) fn random_tag() -> String {
    format!("{:016x}", rand_u64())
}

/// Seconds since the Unix epoch for `Date` headers.
pub(crate) fn unix_now(wall: SystemTime) -> u64 {
    wall.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 64 random bits from the standard library's randomly keyed SipHash (a fresh key per call).
pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
