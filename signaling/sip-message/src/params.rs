//! Parameter lists (`;name=value;flag`, RFC 3261 §25.1 `generic-param` / `uri-parameter`).

use std::fmt;

use crate::text::{find_top, is_token_byte, split_byte, take_quoted, trim_lws};

/// A parameter list (`;name=value;flag`), kept as the raw text after the first `;` and read on demand.
/// Names compare case-insensitively; values are returned raw (quoted values keep their quotes; see
/// [`crate::text::unquote`]).
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
    match split_byte(item, b'=') {
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
    use crate::text::unquote;

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
}
