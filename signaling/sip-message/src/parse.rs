//! The parser: start line, header lines (unfolding continuations), Content-Length body rules, and the
//! RFC 3261 checks that make a message acceptable.

use std::borrow::Cow;

use crate::addr::NameAddr;
use crate::error::ParseError;
use crate::limits::{Framing, ParseLimits};
use crate::message::{Cache, Header, Index, Message, StartLine};
use crate::method::Method;
use crate::misc::{CSeq, MediaType, parse_number};
use crate::name::HeaderName;
use crate::text::split_commas;
use crate::text::{has_ctl, is_token, trim_lws};
use crate::typed::{check_call_id, err, parse_contacts};
use crate::uri::Uri;
use crate::via::Via;

/// Parses and validates one message.
pub(crate) fn parse<'a>(
    buf: &'a [u8],
    limits: &ParseLimits,
    framing: Framing,
) -> Result<Message<'a>, ParseError> {
    let result = split(buf, limits, framing, false).and_then(|mut m| {
        m.cache = validate(&m)?;
        Ok(m)
    });
    result.map_err(|mut e| {
        if e.status != 513 {
            e.respondable = split(buf, limits, framing, true).is_ok_and(|m| can_respond(&m));
        }
        e
    })
}

/// Where the header block ends: index just past the last header line's `\n`, and where the body starts.
pub(crate) fn header_end(b: &[u8]) -> Option<(usize, usize)> {
    for i in memchr::memchr_iter(b'\n', b) {
        match b.get(i + 1) {
            Some(b'\n') => return Some((i + 1, i + 2)),
            Some(b'\r') if b.get(i + 2) == Some(&b'\n') => return Some((i + 1, i + 3)),
            _ => {}
        }
    }
    None
}

/// Splits a message into start line, headers and body. `lenient` accepts any SIP version and a bad
/// Request-URI, and tolerates a short body: it is used only to answer a rejected request.
pub(crate) fn split<'a>(
    buf: &'a [u8],
    limits: &ParseLimits,
    framing: Framing,
    lenient: bool,
) -> Result<Message<'a>, ParseError> {
    if buf.len() > limits.max_message_size {
        return Err(ParseError::message("message too large").with_status(513));
    }
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::message("empty message"))?;
    let buf = buf.get(start..).unwrap_or_default();
    let (block_end, body_start) = header_end(buf).ok_or(ParseError::message(
        "header section not terminated by an empty line",
    ))?;
    let block = std::str::from_utf8(buf.get(..block_end).unwrap_or_default())
        .map_err(|_| ParseError::message("illegal character (not UTF-8) in header section"))?;
    let mut pos = 0;
    let mut lines = std::iter::from_fn(|| {
        let rest = block.get(pos..).filter(|r| !r.is_empty())?;
        let end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        pos += end + 1;
        let line = rest.get(..end).unwrap_or_default();
        Some(line.strip_suffix('\r').unwrap_or(line))
    });
    let first = lines.next().ok_or(ParseError::message("empty message"))?;
    if first.len() > limits.max_line_length {
        return Err(ParseError::message("start line too long"));
    }
    let start_line = parse_start_line(first, lenient)?;
    let mut headers: Vec<Header<'a>> = Vec::with_capacity(16);
    let mut pending: Option<(HeaderName<'a>, Cow<'a, str>)> = None;
    for line in lines {
        let ctl = !lenient && has_ctl(line.as_bytes());
        if line.starts_with([' ', '\t']) {
            let Some((name, value)) = pending.as_mut() else {
                if lenient {
                    continue;
                }
                return Err(ParseError::message("continuation line before first header"));
            };
            if ctl {
                return Err(ParseError {
                    header: name.canonical(),
                    ..ParseError::message("illegal control character")
                });
            }
            let cont = trim_lws(line);
            if !cont.is_empty() {
                let v = value.to_mut();
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(cont);
            }
            if value.len() > limits.max_line_length {
                return Err(ParseError {
                    header: name.canonical(),
                    ..ParseError::message("header line too long")
                });
            }
            continue;
        }
        if let Some((name, value)) = pending.take() {
            headers.push(Header { name, value });
        }
        if line.len() > limits.max_line_length {
            return Err(ParseError::message("header line too long"));
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::message("too many headers"));
        }
        let colon = memchr::memchr(b':', line.as_bytes());
        let split = colon.and_then(|c| Some((line.get(..c)?, line.get(c + 1..)?)));
        let (name, value) = match split {
            Some((n, v)) if is_token(n.trim_end_matches([' ', '\t'])) => {
                (n.trim_end_matches([' ', '\t']), v)
            }
            _ if lenient => continue,
            Some(_) => return Err(ParseError::message("bad header name")),
            None => return Err(ParseError::message("header line without colon")),
        };
        let name = HeaderName::parse(name);
        if ctl {
            return Err(ParseError {
                header: name.canonical(),
                ..ParseError::message("illegal control character")
            });
        }
        pending = Some((name, Cow::Borrowed(trim_lws(value))));
    }
    if let Some((name, value)) = pending {
        headers.push(Header { name, value });
    }
    let rest = buf.get(body_start..).unwrap_or_default();
    let body = body(&headers, rest, framing, lenient)?;
    let index = Index::build(&headers);
    Ok(Message {
        cache: Cache::default(),
        start: start_line,
        headers,
        body: Cow::Borrowed(body),
        index,
    })
}

fn body<'a>(
    headers: &[Header<'_>],
    rest: &'a [u8],
    framing: Framing,
    lenient: bool,
) -> Result<&'a [u8], ParseError> {
    let cl = headers.iter().find(|h| h.name == HeaderName::ContentLength);
    let Some(cl) = cl else {
        if framing == Framing::Stream && !lenient {
            return Err(ParseError::header(
                "Content-Length",
                "missing on a stream transport",
            ));
        }
        return Ok(rest);
    };
    let n = match parse_number(&cl.value) {
        Ok(n) => n,
        Err(_) if lenient => return Ok(rest),
        Err(r) => return Err(ParseError::header("Content-Length", r)),
    };
    match rest.get(..n as usize) {
        Some(b) => Ok(b),
        None if lenient => Ok(rest),
        None => Err(ParseError::header("Content-Length", "larger than the body")),
    }
}

fn parse_start_line(line: &str, lenient: bool) -> Result<StartLine<'_>, ParseError> {
    if line.len() >= 4
        && line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        let (version, rest) = line
            .split_once(' ')
            .ok_or(ParseError::message("bad status line"))?;
        if !version.eq_ignore_ascii_case("SIP/2.0") && !lenient {
            return Err(ParseError::message("unsupported SIP version").with_status(505));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = match code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) {
            true => code
                .parse()
                .map_err(|_| ParseError::message("bad status code"))?,
            false => return Err(ParseError::message("bad status code")),
        };
        if !(100..=699).contains(&code) {
            return Err(ParseError::message("bad status code"));
        }
        return Ok(StartLine::Response {
            code,
            reason: Cow::Borrowed(reason),
        });
    }
    let mut parts = line.split(' ');
    let (method, uri, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(u), Some(v), None) => (m, u, v),
        _ if lenient => {
            // Keep method and version; whatever sits between them is the URI: enough to answer 400.
            let (m, rest) = line
                .split_once(' ')
                .ok_or(ParseError::message("bad request line"))?;
            let (u, v) = rest
                .rsplit_once(' ')
                .ok_or(ParseError::message("bad request line"))?;
            (m, u, v)
        }
        _ => return Err(ParseError::message("bad request line")),
    };
    let method = Method::parse(method).ok_or(ParseError::message("bad method in request line"))?;
    if !lenient {
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(
                match version
                    .get(..4)
                    .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
                {
                    true => ParseError::message("unsupported SIP version").with_status(505),
                    false => ParseError::message("bad request line"),
                },
            );
        }
        let parsed = Uri::parse(uri).map_err(|r| ParseError::header("Request-URI", r))?;
        // RFC 3261 §19.1.1 (table 1): URI headers are not allowed in a Request-URI.
        if parsed.headers.is_some() {
            return Err(ParseError::header(
                "Request-URI",
                "must not carry URI headers",
            ));
        }
    }
    Ok(StartLine::Request {
        method,
        uri: Cow::Borrowed(uri),
    })
}

/// The RFC 3261 checks on a split message.
pub(crate) fn validate<'a>(m: &Message<'a>) -> Result<Cache<'a>, ParseError> {
    let mut seen = [0u8; 7];
    for h in &m.headers {
        let slot = match h.name {
            HeaderName::From => 0,
            HeaderName::To => 1,
            HeaderName::CallId => 2,
            HeaderName::CSeq => 3,
            HeaderName::MaxForwards => 4,
            HeaderName::ContentLength => 5,
            HeaderName::ContentType => 6,
            _ => continue,
        };
        if let Some(c) = seen.get_mut(slot) {
            *c += 1;
            if *c > 1 {
                return Err(ParseError::header(
                    h.name.canonical().unwrap_or("header"),
                    "appears more than once",
                ));
            }
        }
    }
    let mut cache = Cache::default();
    let mut vias = 0;
    for h in m
        .headers_from(&HeaderName::Via)
        .iter()
        .filter(|h| h.name == HeaderName::Via)
    {
        match &h.value {
            Cow::Borrowed(value) => {
                for v in split_commas(value) {
                    let via = Via::parse(v).map_err(|r| err(&HeaderName::Via, r))?;
                    if vias == 0 {
                        cache.top_via = Some(via);
                    }
                    vias += 1;
                }
            }
            Cow::Owned(value) => {
                for v in split_commas(value) {
                    Via::parse(v).map_err(|r| err(&HeaderName::Via, r))?;
                    vias += 1;
                }
            }
        }
    }
    if vias == 0 {
        return Err(ParseError::header("Via", "missing"));
    }
    cache.from = match borrowed(m, &HeaderName::From) {
        Some(v) => Some(NameAddr::parse(v).map_err(|r| err(&HeaderName::From, r))?),
        None => m.from().map(|_| None)?,
    };
    cache.to = match borrowed(m, &HeaderName::To) {
        Some(v) => Some(NameAddr::parse(v).map_err(|r| err(&HeaderName::To, r))?),
        None => m.to().map(|_| None)?,
    };
    cache.call_id = match borrowed(m, &HeaderName::CallId) {
        Some(v) => Some(check_call_id(v).map_err(|r| err(&HeaderName::CallId, r))?),
        None => m.call_id().map(|_| None)?,
    };
    let cseq = match borrowed(m, &HeaderName::CSeq) {
        Some(v) => CSeq::parse(v).map_err(|r| err(&HeaderName::CSeq, r))?,
        None => {
            let c = m.cseq()?;
            CSeq {
                seq: c.seq,
                method: c.method.into_owned(),
            }
        }
    };
    if let Some(method) = m.method() {
        if cseq.method != *method {
            return Err(ParseError::header(
                "CSeq",
                "method does not match request line",
            ));
        }
    }
    cache.cseq = Some(cseq);
    let contact_values = m
        .headers_from(&HeaderName::Contact)
        .iter()
        .filter(|h| h.name == HeaderName::Contact);
    cache.contacts = if contact_values
        .clone()
        .all(|h| matches!(h.value, Cow::Borrowed(_)))
    {
        let values = contact_values.filter_map(|h| match &h.value {
            Cow::Borrowed(v) => Some(*v),
            Cow::Owned(_) => None,
        });
        Some(parse_contacts(values.flat_map(split_commas))?)
    } else {
        m.contacts().map(|_| None)?
    };
    // The remaining checked headers, in one pass.
    for h in &m.headers {
        let checked = match h.name {
            HeaderName::MaxForwards => parse_number(&h.value).and_then(|n| {
                if n > 255 {
                    Err("larger than 255")
                } else {
                    Ok(())
                }
            }),
            HeaderName::Expires | HeaderName::MinExpires => parse_number(&h.value).map(drop),
            HeaderName::ContentType => MediaType::parse(&h.value).map(drop),
            HeaderName::Route | HeaderName::RecordRoute => {
                split_commas(&h.value).try_for_each(|v| NameAddr::parse(v).map(drop))
            }
            _ => Ok(()),
        };
        checked.map_err(|r| err(&h.name, r))?;
    }
    Ok(cache)
}

/// The first `name` header's value when it borrows from the input buffer.
fn borrowed<'a>(m: &Message<'a>, name: &HeaderName<'_>) -> Option<&'a str> {
    match &m.headers_from(name).first()?.value {
        Cow::Borrowed(v) => Some(*v),
        Cow::Owned(_) => None,
    }
}

/// True when a response can be built: a request other than ACK with a readable top Via and the other
/// headers RFC 3261 §8.2.6 copies.
pub(crate) fn can_respond(m: &Message<'_>) -> bool {
    let request = matches!(m.method(), Some(method) if *method != Method::Ack);
    request
        && m.top_via().is_ok()
        && [
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ]
        .iter()
        .all(|n| m.header(n).is_some_and(|v| !v.is_empty()))
}
