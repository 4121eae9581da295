//! The message: start line, headers in order (borrowed from the input where possible), body; raw header
//! lookup through an index of the often-read names, and the parser's cache of the mandatory headers.

use std::borrow::Cow;

use crate::addr::{Contacts, NameAddr};
use crate::error::ParseError;
use crate::limits::{Framing, ParseLimits};
use crate::method::Method;
use crate::misc::CSeq;
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
    pub(crate) fn headers_from<'s>(&'s self, name: &HeaderName<'_>) -> &'s [Header<'a>] {
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
