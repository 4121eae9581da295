//! Building and editing messages: responses per RFC 3261 §8.2.6, header edits, bodies with a computed
//! Content-Length, the RFC 3261 §18.2.1 / RFC 3581 `received`/`rport` stamp, and the `400` answer to a
//! rejected request.

use std::borrow::Cow;
use std::net::SocketAddr;

use crate::error::ParseError;
use crate::limits::{Framing, ParseLimits};
use crate::message::{Cache, Header, Index, Message, StartLine};
use crate::method::Method;
use crate::name::HeaderName;
use crate::parse::{can_respond, split};
use crate::text::find_top;
use crate::uri::Uri;
use crate::via::{Rport, Via};

fn clean<'a>(v: Cow<'a, str>) -> Cow<'a, str> {
    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
        Cow::Owned(v.replace(['\r', '\n'], " "))
    } else {
        v
    }
}

impl<'a> Message<'a> {
    /// A new request with no headers and an empty body. The URI is validated.
    pub fn new_request(
        method: Method<'a>,
        uri: impl Into<Cow<'a, str>>,
    ) -> Result<Self, ParseError> {
        let uri = uri.into();
        Uri::parse(&uri).map_err(|r| ParseError::header("Request-URI", r))?;
        Ok(Message {
            start: StartLine::Request { method, uri },
            headers: Vec::new(),
            body: Cow::Borrowed(&[]),
            index: Index::build(&[]),
            cache: Cache::default(),
        })
    }

    /// A new response with no headers and an empty body. CR and LF in `reason` become spaces.
    pub fn new_response(code: u16, reason: impl Into<Cow<'a, str>>) -> Self {
        Message {
            start: StartLine::Response {
                code,
                reason: clean(reason.into()),
            },
            headers: Vec::new(),
            body: Cow::Borrowed(&[]),
            index: Index::build(&[]),
            cache: Cache::default(),
        }
    }

    /// A response to this request per RFC 3261 §8.2.6.1: copies every Via (in order), From, To, Call-ID
    /// and CSeq (and Timestamp for a 100), and adds `Content-Length: 0`. Values borrow like the request's.
    pub fn response(&self, code: u16, reason: impl Into<Cow<'a, str>>) -> Message<'a> {
        let mut r = Message::new_response(code, reason);
        r.headers.reserve(8);
        for h in &self.headers {
            let copy = matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) || (code == 100 && h.name == HeaderName::Timestamp);
            if copy {
                r.headers.push(h.clone());
            }
        }
        r.headers.push(Header {
            name: HeaderName::ContentLength,
            value: Cow::Borrowed("0"),
        });
        r.index = Index::build(&r.headers);
        r.cache = Cache::default();
        r
    }

    /// Like [`Message::response`], and adds `;tag=to_tag` to To when it has no tag and the response is not
    /// a 100 (RFC 3261 §8.2.6.2).
    pub fn response_with_tag(
        &self,
        code: u16,
        reason: impl Into<Cow<'a, str>>,
        to_tag: &str,
    ) -> Message<'a> {
        let mut r = self.response(code, reason);
        if code != 100 && r.to().is_ok_and(|t| t.tag().is_none()) {
            r.cache.to = None;
            if let Some(h) = r.headers.iter_mut().find(|h| h.name == HeaderName::To) {
                h.value = Cow::Owned(format!(
                    "{};tag={}",
                    h.value,
                    to_tag.replace(['\r', '\n', ';', ',', ' '], "")
                ));
            }
        }
        r
    }

    /// Appends a header. CR and LF in the value become spaces (no header injection).
    pub fn push_header(
        &mut self,
        name: impl Into<HeaderName<'a>>,
        value: impl Into<Cow<'a, str>>,
    ) -> &mut Self {
        let name = name.into();
        self.index.note(self.headers.len(), &name);
        self.cache = Cache::default();
        self.headers.push(Header {
            name,
            value: clean(value.into()),
        });
        self
    }

    /// Inserts a header before all others (e.g. a new top Via).
    pub fn prepend_header(
        &mut self,
        name: impl Into<HeaderName<'a>>,
        value: impl Into<Cow<'a, str>>,
    ) -> &mut Self {
        self.headers.insert(
            0,
            Header {
                name: name.into(),
                value: clean(value.into()),
            },
        );
        self.index = Index::build(&self.headers);
        self.cache = Cache::default();
        self
    }

    /// Replaces every header named `name` by one with `value` (at the first one's place, or appended).
    pub fn set_header(
        &mut self,
        name: impl Into<HeaderName<'a>>,
        value: impl Into<Cow<'a, str>>,
    ) -> &mut Self {
        let name = name.into();
        let value = clean(value.into());
        match self.headers.iter().position(|h| h.name == name) {
            Some(i) => {
                self.headers.retain(|h| h.name != name);
                self.headers
                    .insert(i.min(self.headers.len()), Header { name, value });
            }
            None => self.headers.push(Header { name, value }),
        }
        self.index = Index::build(&self.headers);
        self.cache = Cache::default();
        self
    }

    /// Removes every header named `name`; returns how many were removed.
    pub fn remove_header(&mut self, name: &HeaderName<'_>) -> usize {
        let before = self.headers.len();
        self.headers.retain(|h| h.name != *name);
        self.index = Index::build(&self.headers);
        self.cache = Cache::default();
        before - self.headers.len()
    }

    /// Sets the body, Content-Length and (when given) Content-Type.
    pub fn set_body(
        &mut self,
        content_type: Option<&str>,
        body: impl Into<Cow<'a, [u8]>>,
    ) -> &mut Self {
        self.body = body.into();
        if let Some(ct) = content_type {
            self.set_header(HeaderName::ContentType, ct.to_owned());
        }
        self.set_header(HeaderName::ContentLength, self.body.len().to_string())
    }

    /// Stamps the top Via with the packet's source (RFC 3261 §18.2.1, RFC 3581 §4): adds `received` when
    /// the sent-by host differs from the source address or `rport` was requested, and fills `rport` with
    /// the source port when requested. Returns whether the Via changed.
    pub fn stamp_received(&mut self, source: SocketAddr) -> Result<bool, ParseError> {
        let idx = self
            .headers
            .iter()
            .position(|h| h.name == HeaderName::Via)
            .ok_or(ParseError::header("Via", "missing"))?;
        let value = &self
            .headers
            .get(idx)
            .ok_or(ParseError::header("Via", "missing"))?
            .value;
        let first_end = find_top(value, b',', true)
            .map_err(|r| ParseError::header("Via", r))?
            .unwrap_or(value.len());
        let (first, rest) = value.split_at(first_end);
        let via = Via::parse(first.trim_end()).map_err(|r| ParseError::header("Via", r))?;
        let ip = source.ip().to_canonical();
        let rport = matches!(via.rport(), Some(Rport::Requested)).then_some(source.port());
        if via.host.ip() == Some(ip) && rport.is_none() {
            return Ok(false);
        }
        let mut stamped = via.to_string_with_received(Some(&ip.to_string()), rport);
        stamped.push_str(rest);
        if let Some(h) = self.headers.get_mut(idx) {
            h.value = Cow::Owned(stamped);
        }
        self.cache.top_via = None;
        Ok(true)
    }
}

/// Builds the answer to a request [`Message::parse`] rejected: a `400` (or `505` for an unsupported version)
/// whose reason phrase is the error text, per RFC 3261 §8.2.6. `None` when `err.respondable` is false.
pub fn bad_request<'a>(buf: &'a [u8], err: &ParseError) -> Option<Message<'a>> {
    if !err.respondable {
        return None;
    }
    let limits = ParseLimits {
        max_message_size: usize::MAX,
        ..ParseLimits::DEFAULT
    };
    let m = split(buf, &limits, Framing::Datagram, true).ok()?;
    if !can_respond(&m) {
        return None;
    }
    let reason = match err.status {
        505 => "Version Not Supported".to_owned(),
        _ => err.to_string(),
    };
    Some(m.response(err.status, reason))
}

/// Formats a `Date` header value (RFC 3261 §20.17, RFC 1123 form in GMT) from seconds since the Unix epoch.
///
/// ```
/// assert_eq!(switchboard_sip::http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86400;
    let secs = unix_secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS.get((days % 7) as usize).copied().unwrap_or("Thu"),
        day,
        MONTHS.get((month - 1) as usize).copied().unwrap_or("Jan"),
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
