//! Authorization, Proxy-Authorization, WWW-Authenticate and Proxy-Authenticate (RFC 3261 §20.7, §20.27,
//! §20.28, §20.44; RFC 7616/8760 digest parameters).

use std::borrow::Cow;
use std::fmt;

use crate::text::{is_token, is_token_byte, quoted_len, trim_lws, unquote, write_quoted};

/// Credentials or a challenge: an auth scheme and its comma-separated `name=value` parameters.
/// Values are read on demand with quotes removed; any parameter, known or not, is reachable by [`Auth::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'b> {
    /// Scheme as written (`Digest`).
    pub scheme: &'b str,
    /// The raw parameter list after the scheme.
    pub params: &'b str,
}

/// Authorization / Proxy-Authorization value.
pub type Credentials<'b> = Auth<'b>;
/// WWW-Authenticate / Proxy-Authenticate value.
pub type Challenge<'b> = Auth<'b>;

impl<'b> Auth<'b> {
    /// Parses one header value.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let s = trim_lws(s);
        let (scheme, params) = match s.bytes().position(|b| b == b' ' || b == b'\t') {
            Some(i) => (&s[..i], trim_lws(&s[i..])),
            None => (s, ""),
        };
        if !is_token(scheme) {
            return Err("bad auth scheme");
        }
        for p in AuthParams::new(params) {
            p?;
        }
        Ok(Auth { scheme, params })
    }

    /// True for the Digest scheme.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// All parameters as `(name, raw value)`; raw values keep their quotes.
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, &'b str)> + 'b {
        AuthParams::new(self.params).map_while(Result::ok)
    }

    /// A parameter's value with quotes removed (names compare case-insensitively).
    pub fn get(&self, name: &str) -> Option<Cow<'b, str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| unquote(v))
    }

    /// `username`
    pub fn username(&self) -> Option<Cow<'b, str>> {
        self.get("username")
    }
    /// `realm`
    pub fn realm(&self) -> Option<Cow<'b, str>> {
        self.get("realm")
    }
    /// `nonce`
    pub fn nonce(&self) -> Option<Cow<'b, str>> {
        self.get("nonce")
    }
    /// `uri` (digest-uri)
    pub fn uri(&self) -> Option<Cow<'b, str>> {
        self.get("uri")
    }
    /// `response`
    pub fn response(&self) -> Option<Cow<'b, str>> {
        self.get("response")
    }
    /// `algorithm` (absent means MD5)
    pub fn algorithm(&self) -> Option<Cow<'b, str>> {
        self.get("algorithm")
    }
    /// `cnonce`
    pub fn cnonce(&self) -> Option<Cow<'b, str>> {
        self.get("cnonce")
    }
    /// `qop` (a single value in credentials, a list in challenges)
    pub fn qop(&self) -> Option<Cow<'b, str>> {
        self.get("qop")
    }
    /// `nc` (nonce count, 8 hex digits)
    pub fn nc(&self) -> Option<Cow<'b, str>> {
        self.get("nc")
    }
    /// `opaque`
    pub fn opaque(&self) -> Option<Cow<'b, str>> {
        self.get("opaque")
    }
    /// All digest parameters in one pass over the value (quotes removed); unknown ones stay reachable
    /// through [`Auth::get`] and [`Auth::iter`].
    pub fn digest(&self) -> DigestParams<'b> {
        let mut d = DigestParams::default();
        for (name, value) in self.iter() {
            let slot = match name.len() {
                2 if name.eq_ignore_ascii_case("nc") => &mut d.nc,
                3 if name.eq_ignore_ascii_case("uri") => &mut d.uri,
                3 if name.eq_ignore_ascii_case("qop") => &mut d.qop,
                5 if name.eq_ignore_ascii_case("realm") => &mut d.realm,
                5 if name.eq_ignore_ascii_case("nonce") => &mut d.nonce,
                6 if name.eq_ignore_ascii_case("cnonce") => &mut d.cnonce,
                6 if name.eq_ignore_ascii_case("opaque") => &mut d.opaque,
                8 if name.eq_ignore_ascii_case("username") => &mut d.username,
                8 if name.eq_ignore_ascii_case("response") => &mut d.response,
                9 if name.eq_ignore_ascii_case("algorithm") => &mut d.algorithm,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(unquote(value));
            }
        }
        d
    }

    /// `stale` (challenges)
    pub fn stale(&self) -> bool {
        self.get("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    }
}

impl fmt::Display for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme)?;
        for (i, (n, v)) in self.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { " " } else { ", " })?;
        }
        Ok(())
    }
}

/// Reads `name = value` pairs separated by commas (RFC 3261 §25.1 `auth-param`) in one pass; values are
/// tokens or quoted strings, returned raw. Stops after the first error.
struct AuthParams<'b> {
    s: &'b str,
    pos: usize,
}

impl<'b> AuthParams<'b> {
    fn new(s: &'b str) -> Self {
        AuthParams { s, pos: 0 }
    }

    fn pair(&mut self) -> Result<Option<(&'b str, &'b str)>, &'static str> {
        let (s, b) = (self.s, self.s.as_bytes());
        let lws = |mut i: usize| {
            while matches!(b.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
            i
        };
        let mut i = self.pos;
        while matches!(b.get(i), Some(b' ' | b'\t' | b',')) {
            i += 1;
        }
        if i >= b.len() {
            return Ok(None);
        }
        let name_start = i;
        while b.get(i).is_some_and(|&c| is_token_byte(c)) {
            i += 1;
        }
        let name = s
            .get(name_start..i)
            .filter(|n| !n.is_empty())
            .ok_or("bad auth parameter name")?;
        i = lws(i);
        if b.get(i) != Some(&b'=') {
            return Err("auth parameter without value");
        }
        i = lws(i + 1);
        let value_start = i;
        if b.get(i) == Some(&b'"') {
            i += 1 + quoted_len(b.get(i + 1..).unwrap_or_default())?;
        } else {
            while b
                .get(i)
                .is_some_and(|&c| c > b' ' && c != b',' && c != b'"' && c != 0x7f)
            {
                i += 1;
            }
        }
        let value = s
            .get(value_start..i)
            .filter(|v| !v.is_empty())
            .ok_or("bad auth parameter value")?;
        i = lws(i);
        if i < b.len() && b.get(i) != Some(&b',') {
            return Err("text after auth parameter value");
        }
        self.pos = i;
        Ok(Some((name, value)))
    }
}

impl<'b> Iterator for AuthParams<'b> {
    type Item = Result<(&'b str, &'b str), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.pair().transpose();
        if matches!(r, Some(Err(_))) {
            self.pos = self.s.len();
        }
        r
    }
}

/// The RFC 7616 / RFC 8760 digest parameters of one credentials or challenge value, quotes removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams<'b> {
    /// `username`
    pub username: Option<Cow<'b, str>>,
    /// `realm`
    pub realm: Option<Cow<'b, str>>,
    /// `nonce`
    pub nonce: Option<Cow<'b, str>>,
    /// `uri`
    pub uri: Option<Cow<'b, str>>,
    /// `response`
    pub response: Option<Cow<'b, str>>,
    /// `algorithm` (absent means MD5)
    pub algorithm: Option<Cow<'b, str>>,
    /// `cnonce`
    pub cnonce: Option<Cow<'b, str>>,
    /// `qop`
    pub qop: Option<Cow<'b, str>>,
    /// `nc`
    pub nc: Option<Cow<'b, str>>,
    /// `opaque`
    pub opaque: Option<Cow<'b, str>>,
}

/// Builds a challenge or credentials value: `Digest realm="x", nonce="y", algorithm=MD5`.
///
/// ```
/// let v = switchboard_sip::AuthBuilder::new("Digest").quoted("realm", "example.com").token("algorithm", "SHA-256").build();
/// assert_eq!(v, r#"Digest realm="example.com", algorithm=SHA-256"#);
/// ```
#[derive(Debug, Clone)]
pub struct AuthBuilder {
    out: String,
    first: bool,
}

impl AuthBuilder {
    /// Starts a value with `scheme`.
    pub fn new(scheme: &str) -> Self {
        AuthBuilder {
            out: scheme.to_owned(),
            first: true,
        }
    }

    fn sep(&mut self, name: &str) {
        self.out.push_str(if self.first { " " } else { ", " });
        self.first = false;
        self.out.push_str(name);
        self.out.push('=');
    }

    /// Adds `name="value"` (escaping `"` and `\`).
    pub fn quoted(mut self, name: &str, value: &str) -> Self {
        self.sep(name);
        write_quoted(&mut self.out, value);
        self
    }

    /// Adds `name=value` unquoted (for `algorithm`, `stale`, `nc`, credential `qop`).
    pub fn token(mut self, name: &str, value: &str) -> Self {
        self.sep(name);
        self.out.extend(
            value
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n' | ',' | ' ')),
        );
        self
    }

    /// The finished header value.
    pub fn build(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_credentials() {
        let a = Auth::parse(
            r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae4", opaque="5ccc", algorithm=SHA-256, x-extra="a,b""#,
        )
        .expect("valid");
        assert!(a.is_digest());
        assert_eq!(a.username().as_deref(), Some("bob"));
        assert_eq!(a.realm().as_deref(), Some("biloxi.com"));
        assert_eq!(a.nonce().as_deref(), Some("dcd98b"));
        assert_eq!(a.uri().as_deref(), Some("sip:biloxi.com"));
        assert_eq!(a.qop().as_deref(), Some("auth"));
        assert_eq!(a.nc().as_deref(), Some("00000001"));
        assert_eq!(a.cnonce().as_deref(), Some("0a4f113b"));
        assert_eq!(a.response().as_deref(), Some("6629fae4"));
        assert_eq!(a.opaque().as_deref(), Some("5ccc"));
        assert_eq!(a.algorithm().as_deref(), Some("SHA-256"));
        assert_eq!(a.get("X-Extra").as_deref(), Some("a,b"));
        let d = a.digest();
        assert_eq!(d.username.as_deref(), Some("bob"));
        assert_eq!(d.realm.as_deref(), Some("biloxi.com"));
        assert_eq!(d.nonce.as_deref(), Some("dcd98b"));
        assert_eq!(d.uri.as_deref(), Some("sip:biloxi.com"));
        assert_eq!(d.response.as_deref(), Some("6629fae4"));
        assert_eq!(d.algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(d.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(
            (d.qop.as_deref(), d.nc.as_deref(), d.opaque.as_deref()),
            (Some("auth"), Some("00000001"), Some("5ccc"))
        );
    }

    #[test]
    fn malformed_credentials() {
        assert!(Auth::parse(r#"Digest username="bob"#).is_err());
        assert!(Auth::parse("Digest username").is_err());
        assert!(Auth::parse("Dig\"est a=b").is_err());
    }
}
