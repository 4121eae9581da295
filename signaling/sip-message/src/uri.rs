//! URIs (RFC 3261 §19.1, RFC 3966 `tel:`, any other absolute URI) and hosts (RFC 5118 IPv6 references).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::text::{DIGIT_DOT, HOST, Params, URI_BAD, class, find_byte, percent_decode, split_byte};

/// The URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme<'b> {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme, kept as written (e.g. `http`, `urn`, `im`).
    Other(&'b str),
}

impl Scheme<'_> {
    /// Scheme name as printed (`sip`, `sips`, `tel`, or the original text).
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// A host: domain name, IPv4 address or IPv6 reference (printed bracketed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'b> {
    /// A domain name as written.
    Domain(&'b str),
    /// A dotted IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written `[...]` in URIs and Via sent-by).
    Ipv6(Ipv6Addr),
}

impl<'b> Host<'b> {
    /// Parses a host: `[v6]`, dotted IPv4, or a domain name. Unbracketed IPv6 is rejected (RFC 5118 §4.1).
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or("unterminated IPv6 reference")?;
            return inner
                .parse()
                .map(Host::Ipv6)
                .map_err(|_| "bad IPv6 address");
        }
        if s.is_empty() {
            return Err("missing host");
        }
        let all = s.bytes().fold(HOST | DIGIT_DOT, |acc, b| acc & class(b));
        if all & DIGIT_DOT != 0 {
            return s.parse().map(Host::Ipv4).map_err(|_| "bad IPv4 address");
        }
        if all & HOST != 0 {
            return Ok(Host::Domain(s));
        }
        if s.contains(':') {
            return Err("IPv6 address must be in brackets");
        }
        Err("illegal character in host")
    }

    /// Parses `host[:port]`.
    pub fn parse_with_port(s: &'b str) -> Result<(Self, Option<u16>), &'static str> {
        let (host, port) = if s.starts_with('[') {
            let end = find_byte(s, b']').ok_or("unterminated IPv6 reference")?;
            let after = &s[end + 1..];
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("text after IPv6 reference")?),
            };
            (&s[..=end], port)
        } else {
            match split_byte(s, b':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            Some(p) => Some(parse_port(p)?),
            None => None,
        };
        Ok((Host::parse(host)?, port))
    }

    /// Parses an address that may be an unbracketed IPv6 address (Via `received`, RFC 5118 §4.5).
    pub fn parse_address(s: &'b str) -> Result<Self, &'static str> {
        match s.parse::<Ipv6Addr>() {
            Ok(v6) => Ok(Host::Ipv6(v6)),
            Err(_) => Host::parse(s),
        }
    }

    /// The IP address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

pub(crate) fn parse_port(p: &str) -> Result<u16, &'static str> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad port");
    }
    p.parse().map_err(|_| "bad port")
}

/// A parsed URI, borrowing from the text it was read from. `user`, `password` and `headers` are raw
/// (still %-escaped); the `*_decoded` accessors decode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'b> {
    /// The scheme.
    pub scheme: Scheme<'b>,
    /// `user` part (SIP/SIPS) or the telephone number (`tel:`), raw.
    pub user: Option<&'b str>,
    /// `password` part (SIP/SIPS), raw.
    pub password: Option<&'b str>,
    /// The host (SIP/SIPS only).
    pub host: Option<Host<'b>>,
    /// The port, when written.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'b>,
    /// URI headers after `?`, raw.
    pub headers: Option<&'b str>,
    /// For schemes other than sip/sips/tel: everything after `scheme:`.
    pub opaque: Option<&'b str>,
}

impl<'b> Uri<'b> {
    /// Parses an absolute URI. Whitespace, control characters, `<`, `>` and `"` are rejected.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        if s.bytes().fold(0, |acc, b| acc | class(b)) & URI_BAD != 0 {
            return Err("illegal character in URI");
        }
        let (scheme, rest) = split_byte(s, b':').ok_or("missing URI scheme")?;
        let mut sb = scheme.bytes();
        if !sb.next().is_some_and(|b| b.is_ascii_alphabetic())
            || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err("bad URI scheme");
        }
        if scheme.eq_ignore_ascii_case("sip") {
            Self::parse_sip(Scheme::Sip, rest)
        } else if scheme.eq_ignore_ascii_case("sips") {
            Self::parse_sip(Scheme::Sips, rest)
        } else if scheme.eq_ignore_ascii_case("tel") {
            let (number, params) = match split_byte(rest, b';') {
                Some((n, p)) => (n, Params::parse(p)?),
                None => (rest, Params::default()),
            };
            if number.is_empty() {
                return Err("empty telephone number");
            }
            Ok(Uri {
                user: Some(number),
                params,
                ..Self::empty(Scheme::Tel)
            })
        } else {
            if rest.is_empty() {
                return Err("empty URI");
            }
            Ok(Uri {
                opaque: Some(rest),
                ..Self::empty(Scheme::Other(scheme))
            })
        }
    }

    fn empty(scheme: Scheme<'b>) -> Self {
        Uri {
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: Params::default(),
            headers: None,
            opaque: None,
        }
    }

    fn parse_sip(scheme: Scheme<'b>, rest: &'b str) -> Result<Self, &'static str> {
        let (userinfo, hostpart) = match find_byte(rest, b'@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(ui) => {
                let (u, p) = match split_byte(ui, b':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err("empty user part");
                }
                (Some(u), p)
            }
            None => (None, None),
        };
        let end = hostpart
            .bytes()
            .position(|b| b == b';' || b == b'?')
            .unwrap_or(hostpart.len());
        let (host, port) = Host::parse_with_port(&hostpart[..end])?;
        let after = &hostpart[end..];
        let (params, headers) = match find_byte(after, b'?') {
            Some(q) => (&after[..q], Some(&after[q + 1..])),
            None => (after, None),
        };
        let params = match params.strip_prefix(';') {
            Some(p) => Params::parse(p)?,
            None => Params::default(),
        };
        Ok(Uri {
            user,
            password,
            host: Some(host),
            port,
            params,
            headers,
            ..Self::empty(scheme)
        })
    }

    /// The user part with %-escapes decoded.
    pub fn user_decoded(&self) -> Option<Cow<'b, str>> {
        self.user.map(percent_decode)
    }

    /// The password with %-escapes decoded.
    pub fn password_decoded(&self) -> Option<Cow<'b, str>> {
        self.password.map(percent_decode)
    }

    /// A URI parameter's raw value (`None` when absent or a flag).
    pub fn param(&self, name: &str) -> Option<&'b str> {
        self.params.value(name)
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'b str> {
        self.params.value("transport")
    }

    /// True when the URI carries the `lr` parameter (RFC 3261 §19.1.1 loose routing).
    pub fn lr(&self) -> bool {
        self.params.contains("lr")
    }

    /// The decoded value of URI header `name` (after `?`), if present.
    pub fn header(&self, name: &str) -> Option<Cow<'b, str>> {
        self.headers?
            .split('&')
            .filter_map(|h| split_byte(h, b'='))
            .find(|(n, _)| percent_decode(n).eq_ignore_ascii_case(name))
            .map(|(_, v)| percent_decode(v))
    }

    /// True for `sips:`.
    pub fn is_secure(&self) -> bool {
        self.scheme == Scheme::Sips
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if let Some(o) = self.opaque {
            return f.write_str(o);
        }
        if let Some(u) = self.user {
            f.write_str(u)?;
            if let Some(p) = self.password {
                write!(f, ":{p}")?;
            }
            if self.host.is_some() {
                f.write_str("@")?;
            }
        }
        if let Some(h) = &self.host {
            write!(f, "{h}")?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u =
            Uri::parse("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi%20there")
                .expect("valid");
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Some(Host::Ipv6("2001:db8::1".parse().expect("v6"))));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.header("Subject").as_deref(), Some("hi there"));
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi%20there"
        );
    }

    #[test]
    fn user_part_with_semicolons_and_escapes() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").expect("valid");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.user_decoded().as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host, Some(Host::Domain("example.com")));
    }

    #[test]
    fn rfc5118_unbracketed_ipv6_rejected() {
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert!(Uri::parse("sip:user@2001:db8::10:5070").is_err());
        assert!(Uri::parse("sip:[2001:db8::10]:5070").is_ok());
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
    }

    #[test]
    fn tel_and_unknown_schemes() {
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").expect("tel");
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user, Some("+1-201-555-0123"));
        assert_eq!(t.param("phone-context"), Some("example.com"));
        assert_eq!(
            t.to_string(),
            "tel:+1-201-555-0123;phone-context=example.com"
        );
        let o = Uri::parse("urn:service:sos").expect("urn");
        assert_eq!(o.scheme, Scheme::Other("urn"));
        assert_eq!(o.to_string(), "urn:service:sos");
        assert!(Uri::parse("sip:user@exa mple.com").is_err());
        assert!(Uri::parse("nocolon").is_err());
    }
}
