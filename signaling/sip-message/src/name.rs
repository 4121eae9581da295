//! Header names: the known set with canonical and compact forms (RFC 3261 §7.3.3, IANA SIP parameters).

use std::borrow::Cow;
use std::fmt;

macro_rules! header_names {
    ($( $(#[$doc:meta])* $variant:ident => $canon:literal / $lower:literal $(, $compact:literal)? ;)*) => {
        /// A header name. Known names are matched case-insensitively, in full or compact form, and are
        /// printed in canonical full form; any other name is kept verbatim.
        #[derive(Debug, Clone)]
        pub enum HeaderName<'a> {
            $( $(#[$doc])* #[doc = concat!("`", $canon, "`")] $variant, )*
            /// Any other header, name as written.
            Other(Cow<'a, str>),
        }

        impl<'a> HeaderName<'a> {
            /// Canonical full name (`Call-ID`), or the name as written for [`HeaderName::Other`].
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Other(s) => s,
                }
            }

            /// Canonical name for known headers, `None` for [`HeaderName::Other`].
            pub fn canonical(&self) -> Option<&'static str> {
                match self {
                    $( HeaderName::$variant => Some($canon), )*
                    HeaderName::Other(_) => None,
                }
            }

            /// The compact form (RFC 3261 §7.3.3 and extensions), if the header has one.
            pub fn compact(&self) -> Option<char> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }

            /// Matches `name` (full or compact, any case) against the known set.
            pub fn parse(name: &'a str) -> HeaderName<'a> {
                if name.len() == 1 {
                    let c = name.as_bytes().first().map(|b| b.to_ascii_lowercase() as char);
                    $( $( if c == Some($compact) { return HeaderName::$variant; } )? )*
                    return HeaderName::Other(Cow::Borrowed(name));
                }
                let mut buf = [0u8; 24];
                let Some(lower) = buf.get_mut(..name.len()) else {
                    return HeaderName::Other(Cow::Borrowed(name));
                };
                for (d, b) in lower.iter_mut().zip(name.bytes()) {
                    *d = b.to_ascii_lowercase();
                }
                match std::str::from_utf8(lower) {
                    $( Ok($lower) => HeaderName::$variant, )*
                    _ => HeaderName::Other(Cow::Borrowed(name)),
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept" / "accept";
    AcceptContact => "Accept-Contact" / "accept-contact", 'a';
    AcceptEncoding => "Accept-Encoding" / "accept-encoding";
    AcceptLanguage => "Accept-Language" / "accept-language";
    AlertInfo => "Alert-Info" / "alert-info";
    Allow => "Allow" / "allow";
    AllowEvents => "Allow-Events" / "allow-events", 'u';
    AuthenticationInfo => "Authentication-Info" / "authentication-info";
    Authorization => "Authorization" / "authorization";
    CallId => "Call-ID" / "call-id", 'i';
    CallInfo => "Call-Info" / "call-info";
    Contact => "Contact" / "contact", 'm';
    ContentDisposition => "Content-Disposition" / "content-disposition";
    ContentEncoding => "Content-Encoding" / "content-encoding", 'e';
    ContentLanguage => "Content-Language" / "content-language";
    ContentLength => "Content-Length" / "content-length", 'l';
    ContentType => "Content-Type" / "content-type", 'c';
    CSeq => "CSeq" / "cseq";
    Date => "Date" / "date";
    ErrorInfo => "Error-Info" / "error-info";
    Event => "Event" / "event", 'o';
    Expires => "Expires" / "expires";
    From => "From" / "from", 'f';
    Identity => "Identity" / "identity", 'y';
    InReplyTo => "In-Reply-To" / "in-reply-to";
    MaxForwards => "Max-Forwards" / "max-forwards";
    MimeVersion => "MIME-Version" / "mime-version";
    MinExpires => "Min-Expires" / "min-expires";
    MinSe => "Min-SE" / "min-se";
    Organization => "Organization" / "organization";
    PAssertedIdentity => "P-Asserted-Identity" / "p-asserted-identity";
    PPreferredIdentity => "P-Preferred-Identity" / "p-preferred-identity";
    Path => "Path" / "path";
    Priority => "Priority" / "priority";
    Privacy => "Privacy" / "privacy";
    ProxyAuthenticate => "Proxy-Authenticate" / "proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization" / "proxy-authorization";
    ProxyRequire => "Proxy-Require" / "proxy-require";
    RAck => "RAck" / "rack";
    Reason => "Reason" / "reason";
    RecordRoute => "Record-Route" / "record-route";
    ReferTo => "Refer-To" / "refer-to", 'r';
    ReferredBy => "Referred-By" / "referred-by", 'b';
    RejectContact => "Reject-Contact" / "reject-contact", 'j';
    Replaces => "Replaces" / "replaces";
    ReplyTo => "Reply-To" / "reply-to";
    RequestDisposition => "Request-Disposition" / "request-disposition", 'd';
    Require => "Require" / "require";
    RetryAfter => "Retry-After" / "retry-after";
    Route => "Route" / "route";
    RSeq => "RSeq" / "rseq";
    Server => "Server" / "server";
    ServiceRoute => "Service-Route" / "service-route";
    SessionExpires => "Session-Expires" / "session-expires", 'x';
    Subject => "Subject" / "subject", 's';
    SubscriptionState => "Subscription-State" / "subscription-state";
    Supported => "Supported" / "supported", 'k';
    Timestamp => "Timestamp" / "timestamp";
    To => "To" / "to", 't';
    Unsupported => "Unsupported" / "unsupported";
    UserAgent => "User-Agent" / "user-agent";
    Via => "Via" / "via", 'v';
    Warning => "Warning" / "warning";
    WwwAuthenticate => "WWW-Authenticate" / "www-authenticate";
}

impl HeaderName<'_> {
    /// Copies a borrowed [`HeaderName::Other`] name so it no longer borrows.
    pub fn into_owned(self) -> HeaderName<'static> {
        match self {
            HeaderName::Other(s) => HeaderName::Other(Cow::Owned(s.into_owned())),
            // Every other variant has no data; rebuild it from its canonical name.
            known => match known.canonical() {
                Some(c) => HeaderName::parse(c),
                None => HeaderName::Other(Cow::Owned(String::new())),
            },
        }
    }
}

impl PartialEq for HeaderName<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName<'_> {}

impl fmt::Display for HeaderName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a> From<&'a str> for HeaderName<'a> {
    fn from(s: &'a str) -> Self {
        HeaderName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_names() {
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("V"), HeaderName::Via);
        assert_eq!(HeaderName::parse("call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("x"), HeaderName::SessionExpires);
        assert_eq!(
            HeaderName::parse("X-Custom"),
            HeaderName::Other("x-custom".into())
        );
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::Contact.compact(), Some('m'));
        assert_eq!(
            HeaderName::parse("WWW-authenticate").into_owned(),
            HeaderName::WwwAuthenticate
        );
    }
}
