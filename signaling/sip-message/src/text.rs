//! Lexical helpers from RFC 3261 §25.1: tokens, quoted strings, escapes, comma lists and `;params`.

use std::borrow::Cow;

pub(crate) use crate::params::split_params;
pub use crate::params::{Param, Params};

/// Byte classes, looked up once per byte.
pub(crate) const TOKEN: u8 = 1;
/// Not allowed anywhere in a URI as we accept it: CTL, SP, `<`, `>`, `"`, DEL.
pub(crate) const URI_BAD: u8 = 2;
/// Allowed in a domain name (plus `_`, seen in the wild).
pub(crate) const HOST: u8 = 4;
/// Digit or dot (IPv4 candidate).
pub(crate) const DIGIT_DOT: u8 = 8;

pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            c |= TOKEN;
        }
        if b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"') {
            c |= URI_BAD;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            c |= HOST;
        }
        if b.is_ascii_digit() || b == b'.' {
            c |= DIGIT_DOT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The class bits of `b`.
#[inline]
pub(crate) fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// `token` characters (RFC 3261 §25.1).
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    class(b) & TOKEN != 0
}

/// True for a non-empty `token`.
#[inline]
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Position of byte `b` in `s` (a plain loop: faster than a searcher on the short strings of a header).
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// Splits `s` around the first `b`.
#[inline]
pub(crate) fn split_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// True when `s` holds a control character other than HTAB (or DEL). Checks eight bytes at a time.
pub(crate) fn has_ctl(s: &[u8]) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let scalar = |b: &u8| (*b < b' ' && *b != b'\t') || *b == 0x7f;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        let below_space = x.wrapping_sub(LOW * 0x20) & !x & HIGH;
        let del = (x ^ (LOW * 0x7f)).wrapping_sub(LOW) & !(x ^ (LOW * 0x7f)) & HIGH;
        if (below_space | del) != 0 && c.iter().any(scalar) {
            return true;
        }
    }
    chunks.remainder().iter().any(scalar)
}

/// Strips spaces and tabs on both ends.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    s.get(start..end.max(start)).unwrap_or_default()
}

/// Index of the first `needle` outside quoted strings (and outside `<...>` when `angles`), or an error for an
/// unterminated quote or `<`. Jumps between interesting bytes with `memchr`.
pub(crate) fn find_top(s: &str, needle: u8, angles: bool) -> Result<Option<usize>, &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let rest = bytes.get(i..).unwrap_or_default();
        let next = if angles {
            memchr::memchr3(needle, b'"', b'<', rest)
        } else {
            memchr::memchr2(needle, b'"', rest)
        };
        let Some(off) = next else { return Ok(None) };
        let j = i + off;
        match bytes.get(j) {
            Some(&b) if b == needle => return Ok(Some(j)),
            Some(b'"') => i = j + 1 + quoted_len(bytes.get(j + 1..).unwrap_or_default())?,
            _ => {
                let close = memchr::memchr(b'>', bytes.get(j..).unwrap_or_default())
                    .ok_or("unterminated <")?;
                i = j + close + 1;
            }
        }
    }
}

/// Length of a quoted string's inside plus its closing quote; `rest` starts just after the opening quote.
pub(crate) fn quoted_len(rest: &[u8]) -> Result<usize, &'static str> {
    let mut k = 0;
    loop {
        let off = memchr::memchr2(b'"', b'\\', rest.get(k..).unwrap_or_default())
            .ok_or("unterminated quoted string")?;
        k += off;
        if rest.get(k) == Some(&b'"') {
            return Ok(k + 1);
        }
        k += 2;
        if k > rest.len() {
            return Err("unterminated quoted string");
        }
    }
}

/// Splits a header value at commas outside quotes and `<>` (RFC 3261 §7.3.1). Yields trimmed, non-empty
/// elements; an unterminated quote or `<` ends the split with the rest as one element (the element parser
/// then reports it).
#[derive(Debug, Clone)]
pub struct CommaSplit<'b> {
    rest: Option<&'b str>,
}

/// Splits `s` at top-level commas.
pub fn split_commas(s: &str) -> CommaSplit<'_> {
    CommaSplit { rest: Some(s) }
}

impl<'b> Iterator for CommaSplit<'b> {
    type Item = &'b str;

    fn next(&mut self) -> Option<&'b str> {
        loop {
            let rest = self.rest?;
            // Most values hold no comma at all: one scan settles it.
            let found = match memchr::memchr(b',', rest.as_bytes()) {
                None => Ok(None),
                Some(_) => find_top(rest, b',', true),
            };
            let (item, next) = match found {
                Ok(Some(i)) => (&rest[..i], Some(&rest[i + 1..])),
                _ => (rest, None),
            };
            self.rest = next;
            let item = trim_lws(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Returns the inner text of a complete quoted string at the start of `s` and the remainder after the
/// closing quote. `s` must start with `"`.
pub(crate) fn take_quoted(s: &str) -> Result<(&str, &str), &'static str> {
    let n = quoted_len(s.as_bytes().get(1..).unwrap_or_default())?;
    match (s.get(1..n), s.get(n + 1..)) {
        (Some(inner), Some(rest)) => Ok((inner, rest)),
        _ => Err("unterminated quoted string"),
    }
}

/// Removes surrounding quotes and resolves `\x` quoted-pairs; unquoted text is returned as is.
pub fn unquote(s: &str) -> Cow<'_, str> {
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => unescape_quoted(inner),
        None => Cow::Borrowed(s),
    }
}

/// Resolves quoted-pairs (`\"`, `\\`) in the inside of a quoted string.
pub fn unescape_quoted(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%HH` escapes (RFC 3261 §19.1.2). A `%` not followed by two hex digits is kept literally.
/// Bytes that do not form UTF-8 after decoding are replaced with U+FFFD.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&x| hex(x)),
                bytes.get(i + 2).and_then(|&x| hex(x)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let v: Vec<_> = split_commas(r#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z@w>,,"#).collect();
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z@w>"]);
    }

    #[test]
    fn control_characters_are_found_anywhere() {
        assert!(!has_ctl(
            b"plain text with\ttab and UTF-8 \xc3\xa9 ~~~~~~~~"
        ));
        for i in 0..20 {
            for bad in [0u8, 1, b'\r', b'\n', 0x1f, 0x7f] {
                let mut v = vec![b'a'; 20];
                v[i] = bad;
                assert!(has_ctl(&v), "byte {bad:#x} at {i}");
            }
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%zz%4"), "a@b%zz%4");
        assert_eq!(percent_decode("null-%00-null"), "null-\0-null");
        assert_eq!(unescape_quoted(r#"a\"b\\c"#), "a\"b\\c");
    }
}

/// The `user` part of a SIP URI for `user` (RFC 3261 §25.1): unreserved and user-unreserved
/// characters as they are, every other byte %-escaped.
pub fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod escape_tests {
    #[test]
    fn rfc3261_s25_1_user_keeps_user_unreserved_and_escapes_the_rest() {
        assert_eq!(super::escape_user("+1 555;x@y"), "+1%20555;x%40y");
        assert_eq!(super::escape_user("alice.b-1"), "alice.b-1");
    }
}
