//! The message: start line, headers in order (borrowed from the input where possible), body; and typed
//! access to the headers, parsed on demand from the stored text.

use std::borrow::Cow;

use crate::addr::{Contacts, NameAddr};
use crate::auth::Auth;
use crate::error::ParseError;
use crate::limits::{Framing, ParseLimits};
use crate::method::Method;
use crate::misc::{
    CSeq, MediaType, RAck, Reason, Replaces, SessionExpires, parse_number, parse_rseq, parse_tokens,
};
use crate::name::HeaderName;
use crate::text::split_commas;
use crate::uri::Uri;
use crate::via::Via;

/// First line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP/2.0`; the URI text was validated when parsed or set.
    Request {
        /// Method.
        method: Method<'a>,
        /// Request-URI text.
        uri: Cow<'a, str>,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
    Response {
        /// Status code, 100..=699.
        code: u16,
        /// Reason phrase (may be empty).
        reason: Cow<'a, str>,
    },
}

/// One header field: name and unfolded value (leading/trailing whitespace removed), in message order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Name.
    pub name: HeaderName<'a>,
    /// Value text; comma-joined values stay joined (typed accessors split them).
    pub value: Cow<'a, str>,
}

/// A SIP request or response.
///
/// Parsed messages borrow from the input buffer (`Message<'a>`); [`Message::into_owned`] detaches one.
/// Typed accessors parse the stored text on each call without allocating (except for lists, which
/// return a `Vec`); they return the same [`ParseError`] the parser would, so after a successful
/// [`Message::parse`] the mandatory ones (Via, From, To, Call-ID, CSeq) cannot fail.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub(crate) start: StartLine<'a>,
    pub(crate) headers: Vec<Header<'a>>,
    pub(crate) body: Cow<'a, [u8]>,
    pub(crate) index: Index,
    pub(crate) cache: Cache<'a>,
}

/// Equal start line, headers (names compared as [`HeaderName`]s, values as text) and body.
impl PartialEq for Message<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start && self.headers == other.headers && self.body == other.body
    }
}

impl Eq for Message<'_> {}

/// The mandatory headers as the parser read them, borrowed from the input buffer, so typed access right
/// after parsing does not parse again. Emptied by every edit; a header whose value had to be unfolded
/// (and so does not borrow from the input) is not cached.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cache<'a> {
    pub(crate) top_via: Option<Via<'a>>,
    pub(crate) from: Option<NameAddr<'a>>,
    pub(crate) to: Option<NameAddr<'a>>,
    pub(crate) call_id: Option<&'a str>,
    pub(crate) cseq: Option<CSeq<'a>>,
    pub(crate) contacts: Option<Contacts<'a>>,
}

/// Where the first header of each often-read kind sits, so lookups skip the scan. Rebuilt by every
/// method that adds, removes or reorders headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Index {
    first: [u8; HOT],
}

const HOT: usize = 9;
/// No such header.
const ABSENT: u8 = u8::MAX;
/// Present beyond the range a `u8` can say: scan.
const FAR: u8 = u8::MAX - 1;

fn hot_slot(name: &HeaderName<'_>) -> Option<usize> {
    Some(match name {
        HeaderName::Via => 0,
        HeaderName::From => 1,
        HeaderName::To => 2,
        HeaderName::CallId => 3,
        HeaderName::CSeq => 4,
        HeaderName::Contact => 5,
        HeaderName::ContentLength => 6,
        HeaderName::Expires => 7,
        HeaderName::MaxForwards => 8,
        _ => return None,
    })
}

impl Index {
    pub(crate) fn build(headers: &[Header<'_>]) -> Index {
        let mut first = [ABSENT; HOT];
        for (i, h) in headers.iter().enumerate() {
            if let Some(slot) = hot_slot(&h.name).and_then(|s| first.get_mut(s)) {
                if *slot == ABSENT {
                    *slot = u8::try_from(i).unwrap_or(FAR).min(FAR);
                }
            }
        }
        Index { first }
    }

    /// Records a header appended at position `i`.
    pub(crate) fn note(&mut self, i: usize, name: &HeaderName<'_>) {
        if let Some(slot) = hot_slot(name).and_then(|s| self.first.get_mut(s)) {
            if *slot == ABSENT {
                *slot = u8::try_from(i).unwrap_or(FAR).min(FAR);
            }
        }
    }

    /// Where to start looking for `name`: `None` when it is known to be absent.
    fn start(&self, name: &HeaderName<'_>) -> Option<usize> {
        match hot_slot(name).and_then(|s| self.first.get(s)) {
            Some(&ABSENT) => None,
            Some(&FAR) | None => Some(0),
            Some(&i) => Some(usize::from(i)),
        }
    }
}

/// Call-ID is one word (RFC 3261 §25.1 `callid`).
pub(crate) fn check_call_id(v: &str) -> Result<&str, &'static str> {
    if v.is_empty() || v.bytes().any(|b| b == b' ' || b == b'\t' || b == b',') {
        return Err("not a single word");
    }
    Ok(v)
}

/// Reads Contact values (already comma-split): `*` alone, or addresses.
pub(crate) fn parse_contacts<'x>(
    values: impl Iterator<Item = &'x str>,
) -> Result<Contacts<'x>, ParseError> {
    let mut values = values.peekable();
    if values.peek().is_none() {
        return Ok(Contacts::None);
    }
    let mut list = Vec::new();
    let mut star = false;
    for v in values {
        if v == "*" {
            star = true;
        } else {
            list.push(NameAddr::parse(v).map_err(|r| err(&HeaderName::Contact, r))?);
        }
    }
    match (star, list.is_empty()) {
        (true, true) => Ok(Contacts::Wildcard),
        (true, false) => Err(err(&HeaderName::Contact, "* mixed with addresses")),
        (false, _) => Ok(Contacts::List(list)),
    }
}

pub(crate) fn err(name: &HeaderName<'_>, reason: &'static str) -> ParseError {
    ParseError::header(name.canonical().unwrap_or("header"), reason)
}

impl<'a> Message<'a> {
    /// Parses one datagram with [`ParseLimits::DEFAULT`] (RFC 3261 §18.3 datagram rules).
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        crate::parse::parse(buf, &ParseLimits::DEFAULT, Framing::Datagram)
    }

    /// Parses with explicit limits and framing.
    pub fn parse_with(
        buf: &'a [u8],
        limits: &ParseLimits,
        framing: Framing,
    ) -> Result<Self, ParseError> {
        crate::parse::parse(buf, limits, framing)
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, `None` for responses.
    pub fn method(&self) -> Option<&Method<'a>> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, `None` for requests.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, `None` for requests.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI (an error for responses).
    pub fn request_uri(&self) -> Result<Uri<'_>, ParseError> {
        match &self.start {
            StartLine::Request { uri, .. } => {
                Uri::parse(uri).map_err(|r| ParseError::header("Request-URI", r))
            }
            StartLine::Response { .. } => Err(ParseError::message("not a request")),
        }
    }

    /// All headers in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The body (exactly Content-Length bytes when the header is present).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Headers from the first one named `name` on (empty when there is none), found through the index.
    pub(crate) fn from_first<'s>(&'s self, name: &HeaderName<'_>) -> &'s [Header<'a>] {
        self.index
            .start(name)
            .and_then(|i| self.headers.get(i..))
            .unwrap_or_default()
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &HeaderName<'_>) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == *name)
            .map(|h| &*h.value)
    }

    /// The values of every header named `name`, one per header line (not comma-split).
    pub fn header_all<'s, 'n>(
        &'s self,
        name: &'n HeaderName<'_>,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'n, 'a> {
        let rest = self
            .index
            .start(name)
            .and_then(|i| self.headers.get(i..))
            .unwrap_or_default();
        rest.iter()
            .filter(move |h| h.name == *name)
            .map(|h| &*h.value)
    }

    /// The values of every header named `name`, comma-split across lines (RFC 3261 §7.3.1).
    pub fn values<'s, 'n>(
        &'s self,
        name: &'n HeaderName<'_>,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'n, 'a> {
        self.header_all(name).flat_map(split_commas)
    }

    fn single(&self, name: HeaderName<'static>) -> Option<&str> {
        self.header(&name)
    }

    fn required(&self, name: HeaderName<'static>) -> Result<&str, ParseError> {
        self.single(name.clone())
            .ok_or_else(|| err(&name, "missing"))
    }

    fn parse_list<'s, T>(
        &'s self,
        name: HeaderName<'static>,
        f: impl Fn(&'s str) -> Result<T, &'static str>,
    ) -> Result<Vec<T>, ParseError> {
        self.headers
            .iter()
            .filter(|h| h.name == name)
            .flat_map(|h| split_commas(&h.value))
            .map(|v| f(v).map_err(|r| err(&name, r)))
            .collect()
    }

    fn parse_opt<'s, T>(
        &'s self,
        name: HeaderName<'static>,
        f: impl Fn(&'s str) -> Result<T, &'static str>,
    ) -> Result<Option<T>, ParseError> {
        match self.single(name.clone()) {
            Some(v) => f(v).map(Some).map_err(|r| err(&name, r)),
            None => Ok(None),
        }
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via<'_>>, ParseError> {
        self.parse_list(HeaderName::Via, Via::parse)
    }

    /// The topmost Via (the one a response is routed by).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        if let Some(v) = self.cache.top_via {
            return Ok(v);
        }
        let v = self
            .values(&HeaderName::Via)
            .next()
            .ok_or_else(|| err(&HeaderName::Via, "missing"))?;
        Via::parse(v).map_err(|r| err(&HeaderName::Via, r))
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        if let Some(v) = self.cache.from {
            return Ok(v);
        }
        NameAddr::parse(self.required(HeaderName::From)?).map_err(|r| err(&HeaderName::From, r))
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        if let Some(v) = self.cache.to {
            return Ok(v);
        }
        NameAddr::parse(self.required(HeaderName::To)?).map_err(|r| err(&HeaderName::To, r))
    }

    /// Call-ID.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        if let Some(v) = self.cache.call_id {
            return Ok(v);
        }
        check_call_id(self.required(HeaderName::CallId)?).map_err(|r| err(&HeaderName::CallId, r))
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq<'_>, ParseError> {
        if let Some(v) = &self.cache.cseq {
            return Ok(v.clone());
        }
        CSeq::parse(self.required(HeaderName::CSeq)?).map_err(|r| err(&HeaderName::CSeq, r))
    }

    /// Contact: absent, `*`, or the addresses across all Contact headers.
    pub fn contacts(&self) -> Result<Contacts<'_>, ParseError> {
        if let Some(c) = &self.cache.contacts {
            return Ok(c.clone());
        }
        parse_contacts(self.values(&HeaderName::Contact))
    }

    /// Expires (delta-seconds).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::Expires, parse_number)
    }

    /// Min-Expires.
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::MinExpires, parse_number)
    }

    /// Max-Forwards.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        let mf = self.parse_opt(HeaderName::MaxForwards, parse_number)?;
        if mf.is_some_and(|n| n > 255) {
            return Err(err(&HeaderName::MaxForwards, "larger than 255"));
        }
        Ok(mf)
    }

    /// Content-Length.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::ContentLength, parse_number)
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.parse_opt(HeaderName::ContentType, MediaType::parse)
    }

    /// Route, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.parse_list(HeaderName::Route, NameAddr::parse)
    }

    /// Record-Route, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.parse_list(HeaderName::RecordRoute, NameAddr::parse)
    }

    /// Allow.
    pub fn allow(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Allow)
    }

    /// Supported.
    pub fn supported(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Supported)
    }

    /// Require.
    pub fn require(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Require)
    }

    /// Proxy-Require.
    pub fn proxy_require(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::ProxyRequire)
    }

    /// Unsupported.
    pub fn unsupported(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Unsupported)
    }

    fn token_list(&self, name: HeaderName<'static>) -> Result<Vec<&str>, ParseError> {
        let mut out = Vec::new();
        for v in self.header_all(&name) {
            out.extend(parse_tokens(v).map_err(|r| err(&name, r))?);
        }
        Ok(out)
    }

    fn auth_list(&self, name: HeaderName<'static>) -> Result<Vec<Auth<'_>>, ParseError> {
        self.header_all(&name)
            .map(|v| Auth::parse(v).map_err(|r| err(&name, r)))
            .collect()
    }

    /// Authorization credentials, one per header.
    pub fn authorization(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::Authorization)
    }

    /// Proxy-Authorization credentials.
    pub fn proxy_authorization(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::ProxyAuthorization)
    }

    /// WWW-Authenticate challenges.
    pub fn www_authenticate(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::WwwAuthenticate)
    }

    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::ProxyAuthenticate)
    }

    /// Session-Expires (RFC 4028).
    pub fn session_expires(&self) -> Result<Option<SessionExpires<'_>>, ParseError> {
        self.parse_opt(HeaderName::SessionExpires, SessionExpires::parse)
    }

    /// Min-SE (RFC 4028).
    pub fn min_se(&self) -> Result<Option<SessionExpires<'_>>, ParseError> {
        self.parse_opt(HeaderName::MinSe, SessionExpires::parse)
    }

    /// RSeq (RFC 3262).
    pub fn rseq(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::RSeq, parse_rseq)
    }

    /// RAck (RFC 3262).
    pub fn rack(&self) -> Result<Option<RAck<'_>>, ParseError> {
        self.parse_opt(HeaderName::RAck, RAck::parse)
    }

    /// Refer-To (RFC 3515).
    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.parse_opt(HeaderName::ReferTo, NameAddr::parse)
    }

    /// Referred-By (RFC 3892).
    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.parse_opt(HeaderName::ReferredBy, NameAddr::parse)
    }

    /// Replaces (RFC 3891).
    pub fn replaces(&self) -> Result<Option<Replaces<'_>>, ParseError> {
        self.parse_opt(HeaderName::Replaces, Replaces::parse)
    }

    /// User-Agent, as written.
    pub fn user_agent(&self) -> Option<&str> {
        self.single(HeaderName::UserAgent)
    }

    /// Server, as written.
    pub fn server(&self) -> Option<&str> {
        self.single(HeaderName::Server)
    }

    /// Reason values (RFC 3326).
    pub fn reasons(&self) -> Result<Vec<Reason<'_>>, ParseError> {
        self.parse_list(HeaderName::Reason, Reason::parse)
    }

    /// P-Asserted-Identity values (RFC 3325).
    pub fn p_asserted_identity(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.parse_list(HeaderName::PAssertedIdentity, NameAddr::parse)
    }

    /// Copies everything borrowed so the message outlives its input buffer.
    pub fn into_owned(self) -> Message<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Message {
            start: match self.start {
                StartLine::Request { method, uri } => StartLine::Request {
                    method: method.into_owned(),
                    uri: own(uri),
                },
                StartLine::Response { code, reason } => StartLine::Response {
                    code,
                    reason: own(reason),
                },
            },
            headers: self
                .headers
                .into_iter()
                .map(|h| Header {
                    name: h.name.into_owned(),
                    value: own(h.value),
                })
                .collect(),
            body: Cow::Owned(self.body.into_owned()),
            index: self.index,
            cache: Cache::default(),
        }
    }
}
