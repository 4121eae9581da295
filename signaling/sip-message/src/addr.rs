//! Name-addr headers: From, To, Contact, Route, Record-Route, Refer-To, Referred-By, P-Asserted-Identity
//! (RFC 3261 §20.10, §20.20, §20.39; RFC 3515; RFC 3892; RFC 3325).

use std::borrow::Cow;
use std::fmt;

use crate::text::{
    Params, find_byte, find_top, split_byte, split_params, take_quoted, trim_lws, unescape_quoted,
    unquote,
};
use crate::uri::Uri;

/// `[display-name] <URI> ;params` or `URI ;params` (addr-spec: the params then belong to the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'b> {
    /// Display name as written: the inside of the quotes (escapes kept) or the unquoted tokens.
    pub display_name: Option<&'b str>,
    /// Whether the display name was quoted.
    pub quoted: bool,
    /// The URI.
    pub uri: Uri<'b>,
    /// Header parameters (`tag`, `expires`, `q`, `+sip.instance`, ...).
    pub params: Params<'b>,
}

impl<'b> NameAddr<'b> {
    /// Parses one value (already split from a comma list).
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let s = trim_lws(s);
        let (display_name, quoted, rest) = if s.starts_with('"') {
            let (inner, rest) = take_quoted(s)?;
            let rest = trim_lws(rest);
            if !rest.starts_with('<') {
                return Err("expected < after display name");
            }
            (Some(inner), true, rest)
        } else if let Some(lt) = find_top(s, b'<', false)? {
            let name = trim_lws(&s[..lt]);
            if name
                .bytes()
                .any(|b| matches!(b, b'"' | b'>' | b';' | b',' | b'\\') || b < b' ' && b != b'\t')
            {
                return Err("bad display name");
            }
            ((!name.is_empty()).then_some(name), false, &s[lt..])
        } else {
            if find_top(s, b'>', false)?.is_some() {
                return Err("> without <");
            }
            let (uri, params) = split_params(s)?;
            let uri = Uri::parse(uri)?;
            return Ok(NameAddr {
                display_name: None,
                quoted: false,
                uri,
                params,
            });
        };
        let inner = rest.strip_prefix('<').ok_or("expected <")?;
        let gt = find_byte(inner, b'>').ok_or("unterminated <")?;
        let uri = Uri::parse(&inner[..gt])?;
        let after = trim_lws(&inner[gt + 1..]);
        let params = if after.is_empty() {
            Params::default()
        } else {
            Params::parse(after.strip_prefix(';').ok_or("unexpected text after >")?)?
        };
        Ok(NameAddr {
            display_name,
            quoted,
            uri,
            params,
        })
    }

    /// The display name with quoted-pairs resolved.
    pub fn display_name(&self) -> Option<Cow<'b, str>> {
        let d = self.display_name?;
        Some(if self.quoted {
            unescape_quoted(d)
        } else {
            Cow::Borrowed(d)
        })
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'b str> {
        self.params.value("tag")
    }

    /// Any header parameter's raw value.
    pub fn param(&self, name: &str) -> Option<&'b str> {
        self.params.value(name)
    }

    /// Contact `expires` parameter; `Some(Err)` when present but not a number.
    pub fn expires(&self) -> Option<Result<u32, &'static str>> {
        self.params
            .value("expires")
            .map(|v| parse_delta(v).ok_or("bad expires parameter"))
    }

    /// Contact `q` parameter as thousandths (`q=0.7` → 700); `Some(Err)` when malformed.
    pub fn q(&self) -> Option<Result<u16, &'static str>> {
        self.params
            .value("q")
            .map(|v| parse_q(v).ok_or("bad q parameter"))
    }

    /// Contact `+sip.instance` parameter (RFC 5626), quotes removed.
    pub fn instance(&self) -> Option<Cow<'b, str>> {
        self.params.value("+sip.instance").map(unquote)
    }

    /// Contact `reg-id` parameter (RFC 5626).
    pub fn reg_id(&self) -> Option<u32> {
        self.params.value("reg-id").and_then(|v| v.parse().ok())
    }
}

/// `delta-seconds`: digits, saturating at `u32::MAX` (RFC 3261 §20.19 lets values exceed 2^32-1).
pub(crate) fn parse_delta(v: &str) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        v.parse::<u64>()
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
    )
}

fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = split_byte(v, b'.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut f: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        f += u16::from(b - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
    }
    (base + f <= 1000).then_some(base + f)
}

impl fmt::Display for NameAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.display_name, self.quoted) {
            (Some(d), true) => write!(f, "\"{d}\" ")?,
            (Some(d), false) => write!(f, "{d} ")?,
            (None, _) => {}
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// The Contact header of a message: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts<'b> {
    /// No Contact header.
    None,
    /// `Contact: *` (REGISTER removing all bindings, RFC 3261 §10.2.2).
    Wildcard,
    /// The addresses in order, across all Contact headers.
    List(Vec<NameAddr<'b>>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    #[test]
    fn name_addr_forms() {
        let a =
            NameAddr::parse(r#""Bob \"B\" Smith" <sip:bob@example.com;transport=tcp>;tag=abc;x"#)
                .expect("valid");
        assert_eq!(a.display_name().as_deref(), Some("Bob \"B\" Smith"));
        assert_eq!(a.uri.transport(), Some("tcp"));
        assert_eq!(a.tag(), Some("abc"));
        let b = NameAddr::parse("sip:bob@example.com;tag=1").expect("addr-spec");
        assert_eq!(b.tag(), Some("1"));
        assert!(b.uri.params.is_empty());
        assert_eq!(b.uri.host, Some(Host::Domain("example.com")));
        let c = NameAddr::parse("Bob Smith <sip:bob@[::1]:5070>").expect("tokens");
        assert_eq!(c.display_name().as_deref(), Some("Bob Smith"));
        assert_eq!(c.uri.port, Some(5070));
    }

    #[test]
    fn contact_params() {
        let c =
            NameAddr::parse("<sip:a@b>;expires=3600;q=0.7;+sip.instance=\"<urn:uuid:1>\";reg-id=2")
                .expect("valid");
        assert_eq!(c.expires(), Some(Ok(3600)));
        assert_eq!(c.q(), Some(Ok(700)));
        assert_eq!(c.instance().as_deref(), Some("<urn:uuid:1>"));
        assert_eq!(c.reg_id(), Some(2));
        assert!(
            NameAddr::parse("<sip:a@b>;q=1.5")
                .expect("parses")
                .q()
                .expect("present")
                .is_err()
        );
    }

    #[test]
    fn malformed_name_addrs() {
        assert_eq!(
            NameAddr::parse("\"Bob <sip:bob@x>"),
            Err("unterminated quoted string")
        );
        assert_eq!(NameAddr::parse("<sip:bob@x"), Err("unterminated <"));
        assert!(NameAddr::parse("<sip:bob@x> junk").is_err());
        assert!(NameAddr::parse("sip:bob@x>").is_err());
        assert!(NameAddr::parse("<sip:bob@x y>").is_err());
    }
}
