//! Typed access to the headers of a [`Message`]: each accessor reads the stored text (or the parser's
//! cache for the mandatory headers) and returns structs borrowing from the message.

use crate::addr::{Contacts, NameAddr};
use crate::auth::Auth;
use crate::error::ParseError;
use crate::message::Message;
use crate::misc::{
    CSeq, MediaType, RAck, Reason, Replaces, SessionExpires, parse_number, parse_rseq, parse_tokens,
};
use crate::name::HeaderName;
use crate::text::split_commas;
use crate::via::Via;

/// Call-ID is one word (RFC 3261 §25.1 `callid`).
pub(crate) fn check_call_id(v: &str) -> Result<&str, &'static str> {
    if v.is_empty() || v.bytes().any(|b| b == b' ' || b == b'\t' || b == b',') {
        return Err("not a single word");
    }
    Ok(v)
}

/// Reads Contact values (already comma-split): `*` alone, or addresses.
pub(crate) fn parse_contacts<'x>(
    values: impl Iterator<Item = &'x str>,
) -> Result<Contacts<'x>, ParseError> {
    let mut values = values.peekable();
    if values.peek().is_none() {
        return Ok(Contacts::None);
    }
    let mut list = Vec::new();
    let mut star = false;
    for v in values {
        if v == "*" {
            star = true;
        } else {
            list.push(NameAddr::parse(v).map_err(|r| err(&HeaderName::Contact, r))?);
        }
    }
    match (star, list.is_empty()) {
        (true, true) => Ok(Contacts::Wildcard),
        (true, false) => Err(err(&HeaderName::Contact, "* mixed with addresses")),
        (false, _) => Ok(Contacts::List(list)),
    }
}

pub(crate) fn err(name: &HeaderName<'_>, reason: &'static str) -> ParseError {
    ParseError::header(name.canonical().unwrap_or("header"), reason)
}

impl<'a> Message<'a> {
    fn single(&self, name: HeaderName<'static>) -> Option<&str> {
        self.header(&name)
    }

    fn required(&self, name: HeaderName<'static>) -> Result<&str, ParseError> {
        self.single(name.clone())
            .ok_or_else(|| err(&name, "missing"))
    }

    fn parse_list<'s, T>(
        &'s self,
        name: HeaderName<'static>,
        f: impl Fn(&'s str) -> Result<T, &'static str>,
    ) -> Result<Vec<T>, ParseError> {
        self.headers
            .iter()
            .filter(|h| h.name == name)
            .flat_map(|h| split_commas(&h.value))
            .map(|v| f(v).map_err(|r| err(&name, r)))
            .collect()
    }

    fn parse_opt<'s, T>(
        &'s self,
        name: HeaderName<'static>,
        f: impl Fn(&'s str) -> Result<T, &'static str>,
    ) -> Result<Option<T>, ParseError> {
        match self.single(name.clone()) {
            Some(v) => f(v).map(Some).map_err(|r| err(&name, r)),
            None => Ok(None),
        }
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via<'_>>, ParseError> {
        self.parse_list(HeaderName::Via, Via::parse)
    }

    /// The topmost Via (the one a response is routed by).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        if let Some(v) = self.cache.top_via {
            return Ok(v);
        }
        let v = self
            .values(&HeaderName::Via)
            .next()
            .ok_or_else(|| err(&HeaderName::Via, "missing"))?;
        Via::parse(v).map_err(|r| err(&HeaderName::Via, r))
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        if let Some(v) = self.cache.from {
            return Ok(v);
        }
        NameAddr::parse(self.required(HeaderName::From)?).map_err(|r| err(&HeaderName::From, r))
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        if let Some(v) = self.cache.to {
            return Ok(v);
        }
        NameAddr::parse(self.required(HeaderName::To)?).map_err(|r| err(&HeaderName::To, r))
    }

    /// Call-ID.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        if let Some(v) = self.cache.call_id {
            return Ok(v);
        }
        check_call_id(self.required(HeaderName::CallId)?).map_err(|r| err(&HeaderName::CallId, r))
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq<'_>, ParseError> {
        if let Some(v) = &self.cache.cseq {
            return Ok(v.clone());
        }
        CSeq::parse(self.required(HeaderName::CSeq)?).map_err(|r| err(&HeaderName::CSeq, r))
    }

    /// Contact: absent, `*`, or the addresses across all Contact headers.
    pub fn contacts(&self) -> Result<Contacts<'_>, ParseError> {
        if let Some(c) = &self.cache.contacts {
            return Ok(c.clone());
        }
        parse_contacts(self.values(&HeaderName::Contact))
    }

    /// Expires (delta-seconds).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::Expires, parse_number)
    }

    /// Min-Expires.
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::MinExpires, parse_number)
    }

    /// Max-Forwards.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        let mf = self.parse_opt(HeaderName::MaxForwards, parse_number)?;
        if mf.is_some_and(|n| n > 255) {
            return Err(err(&HeaderName::MaxForwards, "larger than 255"));
        }
        Ok(mf)
    }

    /// Content-Length.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::ContentLength, parse_number)
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.parse_opt(HeaderName::ContentType, MediaType::parse)
    }

    /// Route, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.parse_list(HeaderName::Route, NameAddr::parse)
    }

    /// Record-Route, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.parse_list(HeaderName::RecordRoute, NameAddr::parse)
    }

    /// Allow.
    pub fn allow(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Allow)
    }

    /// Supported.
    pub fn supported(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Supported)
    }

    /// Require.
    pub fn require(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Require)
    }

    /// Proxy-Require.
    pub fn proxy_require(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::ProxyRequire)
    }

    /// Unsupported.
    pub fn unsupported(&self) -> Result<Vec<&str>, ParseError> {
        self.token_list(HeaderName::Unsupported)
    }

    fn token_list(&self, name: HeaderName<'static>) -> Result<Vec<&str>, ParseError> {
        let mut out = Vec::new();
        for v in self.header_all(&name) {
            out.extend(parse_tokens(v).map_err(|r| err(&name, r))?);
        }
        Ok(out)
    }

    fn auth_list(&self, name: HeaderName<'static>) -> Result<Vec<Auth<'_>>, ParseError> {
        self.header_all(&name)
            .map(|v| Auth::parse(v).map_err(|r| err(&name, r)))
            .collect()
    }

    /// Authorization credentials, one per header.
    pub fn authorization(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::Authorization)
    }

    /// Proxy-Authorization credentials.
    pub fn proxy_authorization(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::ProxyAuthorization)
    }

    /// WWW-Authenticate challenges.
    pub fn www_authenticate(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::WwwAuthenticate)
    }

    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth_list(HeaderName::ProxyAuthenticate)
    }

    /// Session-Expires (RFC 4028).
    pub fn session_expires(&self) -> Result<Option<SessionExpires<'_>>, ParseError> {
        self.parse_opt(HeaderName::SessionExpires, SessionExpires::parse)
    }

    /// Min-SE (RFC 4028).
    pub fn min_se(&self) -> Result<Option<SessionExpires<'_>>, ParseError> {
        self.parse_opt(HeaderName::MinSe, SessionExpires::parse)
    }

    /// RSeq (RFC 3262).
    pub fn rseq(&self) -> Result<Option<u32>, ParseError> {
        self.parse_opt(HeaderName::RSeq, parse_rseq)
    }

    /// RAck (RFC 3262).
    pub fn rack(&self) -> Result<Option<RAck<'_>>, ParseError> {
        self.parse_opt(HeaderName::RAck, RAck::parse)
    }

    /// Refer-To (RFC 3515).
    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.parse_opt(HeaderName::ReferTo, NameAddr::parse)
    }

    /// Referred-By (RFC 3892).
    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.parse_opt(HeaderName::ReferredBy, NameAddr::parse)
    }

    /// Replaces (RFC 3891).
    pub fn replaces(&self) -> Result<Option<Replaces<'_>>, ParseError> {
        self.parse_opt(HeaderName::Replaces, Replaces::parse)
    }

    /// User-Agent, as written.
    pub fn user_agent(&self) -> Option<&str> {
        self.single(HeaderName::UserAgent)
    }

    /// Server, as written.
    pub fn server(&self) -> Option<&str> {
        self.single(HeaderName::Server)
    }

    /// Reason values (RFC 3326).
    pub fn reasons(&self) -> Result<Vec<Reason<'_>>, ParseError> {
        self.parse_list(HeaderName::Reason, Reason::parse)
    }

    /// P-Asserted-Identity values (RFC 3325).
    pub fn p_asserted_identity(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.parse_list(HeaderName::PAssertedIdentity, NameAddr::parse)
    }
}
