//! Lexical helpers from RFC 3261 §25.1: tokens, quoted strings, escapes, comma lists and `;params`.

use std::borrow::Cow;
use std::fmt;

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True for a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Strips spaces and tabs on both ends.
pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Index of the first `needle` outside quoted strings (and outside `<...>` when `angles`), or an error for an
/// unterminated quote.
pub(crate) fn find_top(s: &str, needle: u8, angles: bool) -> Result<Option<usize>, &'static str> {
    let bytes = s.as_bytes();
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_quote {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == needle && !in_angle {
            return Ok(Some(i));
        } else if b == b'"' {
            in_quote = true;
        } else if angles && b == b'<' {
            in_angle = true;
        } else if angles && b == b'>' {
            in_angle = false;
        }
        i += 1;
    }
    if in_quote {
        return Err("unterminated quoted string");
    }
    if in_angle {
        return Err("unterminated <");
    }
    Ok(None)
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
            let (item, next) = match find_top(rest, b',', true) {
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
    let bytes = s.as_bytes();
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Ok((&s[1..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    Err("unterminated quoted string")
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

/// A parameter list (`;name=value;flag`), kept as the raw text after the first `;` and read on demand.
/// Names compare case-insensitively; values are returned raw (quoted values keep their quotes; see
/// [`unquote`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params<'b>(&'b str);

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'b> {
    /// Name as written.
    pub name: &'b str,
    /// Raw value, `None` for a flag parameter.
    pub value: Option<&'b str>,
}

impl<'b> Params<'b> {
    /// No parameters.
    pub const EMPTY: Params<'static> = Params("");

    /// Validates `raw` (the text after the first `;`) and wraps it.
    pub(crate) fn parse(raw: &'b str) -> Result<Self, &'static str> {
        let p = Params(raw);
        for item in raw_items(raw) {
            let item = item?;
            let param = split_param(item);
            if param.name.is_empty() || !param.name.bytes().all(is_param_byte) {
                return Err("bad parameter name");
            }
            if let Some(v) = param.value {
                if v.starts_with('"') {
                    let (_, after) = take_quoted(v)?;
                    if !after.is_empty() {
                        return Err("text after quoted parameter value");
                    }
                } else if v.is_empty() || !v.bytes().all(is_param_value_byte) {
                    return Err("bad parameter value");
                }
            }
        }
        Ok(p)
    }

    /// The raw text after the first `;`.
    pub fn raw(&self) -> &'b str {
        self.0
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// All parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = Param<'b>> + 'b {
        raw_items(self.0).filter_map(|i| i.ok()).map(split_param)
    }

    /// `Some(value)` when `name` is present (`Some(None)` for a flag).
    pub fn get(&self, name: &str) -> Option<Option<&'b str>> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// The value of `name`, `None` when absent or a flag.
    pub fn value(&self, name: &str) -> Option<&'b str> {
        self.get(name).flatten()
    }

    /// True when `name` is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl fmt::Display for Params<'_> {
    /// Writes `;name=value` for each parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.iter() {
            match p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

fn is_param_byte(b: u8) -> bool {
    is_token_byte(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'$' | b'@')
}

fn is_param_value_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f && !matches!(b, b';' | b',' | b'"' | b'<' | b'>' | b'?' | b'\\')
}

fn raw_items(raw: &str) -> impl Iterator<Item = Result<&str, &'static str>> {
    let mut rest = Some(raw);
    std::iter::from_fn(move || {
        loop {
            let r = rest?;
            let (item, next) = match find_top(r, b';', false) {
                Ok(Some(i)) => (&r[..i], Some(&r[i + 1..])),
                Ok(None) => (r, None),
                Err(e) => {
                    rest = None;
                    return Some(Err(e));
                }
            };
            rest = next;
            let item = trim_lws(item);
            if !item.is_empty() {
                return Some(Ok(item));
            }
        }
    })
}

fn split_param(item: &str) -> Param<'_> {
    match item.split_once('=') {
        Some((n, v)) => Param {
            name: trim_lws(n),
            value: Some(trim_lws(v)),
        },
        None => Param {
            name: item,
            value: None,
        },
    }
}

/// Splits `s` at its first top-level `;` into the part before and the validated params after.
pub(crate) fn split_params(s: &str) -> Result<(&str, Params<'_>), &'static str> {
    match find_top(s, b';', false)? {
        Some(i) => Ok((trim_lws(&s[..i]), Params::parse(&s[i + 1..])?)),
        None => Ok((trim_lws(s), Params::default())),
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
    fn params_lookup_is_case_insensitive_and_keeps_flags() {
        let p = Params::parse("Branch=z9hG4bK1 ; rport;x=\"a;b\"").expect("valid");
        assert_eq!(p.value("branch"), Some("z9hG4bK1"));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.value("x"), Some("\"a;b\""));
        assert_eq!(unquote(p.value("x").unwrap_or_default()), "a;b");
        assert!(Params::parse("x=\"open").is_err());
        assert!(Params::parse("=v").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%zz%4"), "a@b%zz%4");
        assert_eq!(percent_decode("null-%00-null"), "null-\0-null");
        assert_eq!(unescape_quoted(r#"a\"b\\c"#), "a\"b\\c");
    }
}
