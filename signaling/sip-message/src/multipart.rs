//! Multipart bodies (RFC 2046 §5.1, used by SIP for SDP + ISUP, SDP + PIDF, ...).

use std::borrow::Cow;

use crate::error::ParseError;
use crate::message::Message;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'b> {
    /// The part's header fields (`Content-Type`, ...), name and trimmed value, in order.
    pub headers: Vec<(&'b str, &'b str)>,
    /// The part's body, without the CRLF that precedes the next boundary.
    pub body: &'b [u8],
}

impl<'b> Part<'b> {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|i| i + from)
}

/// Splits `body` at `--boundary` delimiters into parts. The preamble and epilogue are ignored; the
/// closing `--boundary--` is required.
pub fn split<'b>(body: &'b [u8], boundary: &str) -> Result<Vec<Part<'b>>, ParseError> {
    let e = |r| ParseError::header("Content-Type", r);
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(e("bad multipart boundary"));
    }
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0).ok_or(e("multipart boundary not found"))?;
    let mut parts = Vec::new();
    loop {
        let after = pos + delim.len();
        if body.get(after..after + 2) == Some(b"--") {
            return Ok(parts);
        }
        let line_end = find(body, b"\n", after).ok_or(e("unterminated multipart body"))?;
        let start = line_end + 1;
        let close = format!("\n{delim}");
        let next = find(body, close.as_bytes(), start).ok_or(e("unterminated multipart body"))?;
        let mut end = next;
        if end > start && body.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        parts.push(parse_part(
            body.get(start..end.max(start)).unwrap_or_default(),
        )?);
        if parts.len() > 64 {
            return Err(e("too many multipart parts"));
        }
        pos = next + 1;
    }
}

fn parse_part(p: &[u8]) -> Result<Part<'_>, ParseError> {
    let bad = || ParseError::header("Content-Type", "bad multipart part headers");
    let (head, body) = if p.starts_with(b"\r\n") {
        (&[][..], p.get(2..).unwrap_or_default())
    } else if p.starts_with(b"\n") {
        (&[][..], p.get(1..).unwrap_or_default())
    } else {
        match crate::parse::header_end(p) {
            Some((h, b)) => (
                p.get(..h).unwrap_or_default(),
                p.get(b..).unwrap_or_default(),
            ),
            None => (p, &[][..]),
        }
    };
    let head = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut headers = Vec::new();
    for line in head
        .split_terminator('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
    {
        if line.is_empty() {
            continue;
        }
        let (n, v) = line.split_once(':').ok_or_else(bad)?;
        headers.push((n.trim(), v.trim()));
    }
    Ok(Part { headers, body })
}

impl Message<'_> {
    /// The parts of a `multipart/*` body (boundary from Content-Type); `Ok(None)` for other bodies.
    pub fn multipart(&self) -> Result<Option<Vec<Part<'_>>>, ParseError> {
        let Some(ct) = self.content_type()? else {
            return Ok(None);
        };
        if !ct.kind.eq_ignore_ascii_case("multipart") {
            return Ok(None);
        }
        let boundary: Cow<'_, str> = ct.boundary().ok_or(ParseError::header(
            "Content-Type",
            "multipart without boundary",
        ))?;
        split(self.body(), &boundary).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parts_with_headers() {
        let body = b"preamble\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
        let parts = split(body, "b1").expect("valid");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].header("content-type"), Some("application/sdp"));
        assert_eq!(parts[0].body, b"v=0\r\n");
        assert_eq!(parts[1].body, b"hi");
        assert!(split(b"--b1\r\nx", "b1").is_err());
        assert!(split(b"nothing", "b1").is_err());
    }
}
