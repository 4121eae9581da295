//! Header names: the known set with canonical and compact forms (RFC 3261 §7.3.3, IANA SIP parameters).

use std::borrow::Cow;
use std::fmt;

macro_rules! header_names {
    ($( $(#[$doc:meta])* $variant:ident => $canon:literal $(, $compact:literal)? ;)*) => {
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
                $( if name.len() == $canon.len() && name.eq_ignore_ascii_case($canon) { return HeaderName::$variant; } )*
                HeaderName::Other(Cow::Borrowed(name))
            }
        }
    };
}

header_names! {
    Accept => "Accept";
    AcceptContact => "Accept-Contact", 'a';
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    AlertInfo => "Alert-Info";
    Allow => "Allow";
    AllowEvents => "Allow-Events", 'u';
    AuthenticationInfo => "Authentication-Info";
    Authorization => "Authorization";
    CallId => "Call-ID", 'i';
    CallInfo => "Call-Info";
    Contact => "Contact", 'm';
    ContentDisposition => "Content-Disposition";
    ContentEncoding => "Content-Encoding", 'e';
    ContentLanguage => "Content-Language";
    ContentLength => "Content-Length", 'l';
    ContentType => "Content-Type", 'c';
    CSeq => "CSeq";
    Date => "Date";
    ErrorInfo => "Error-Info";
    Event => "Event", 'o';
    Expires => "Expires";
    From => "From", 'f';
    Identity => "Identity", 'y';
    InReplyTo => "In-Reply-To";
    MaxForwards => "Max-Forwards";
    MimeVersion => "MIME-Version";
    MinExpires => "Min-Expires";
    MinSe => "Min-SE";
    Organization => "Organization";
    PAssertedIdentity => "P-Asserted-Identity";
    PPreferredIdentity => "P-Preferred-Identity";
    Path => "Path";
    Priority => "Priority";
    Privacy => "Privacy";
    ProxyAuthenticate => "Proxy-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyRequire => "Proxy-Require";
    RAck => "RAck";
    Reason => "Reason";
    RecordRoute => "Record-Route";
    ReferTo => "Refer-To", 'r';
    ReferredBy => "Referred-By", 'b';
    RejectContact => "Reject-Contact", 'j';
    Replaces => "Replaces";
    ReplyTo => "Reply-To";
    RequestDisposition => "Request-Disposition", 'd';
    Require => "Require";
    RetryAfter => "Retry-After";
    Route => "Route";
    RSeq => "RSeq";
    Server => "Server";
    ServiceRoute => "Service-Route";
    SessionExpires => "Session-Expires", 'x';
    Subject => "Subject", 's';
    SubscriptionState => "Subscription-State";
    Supported => "Supported", 'k';
    Timestamp => "Timestamp";
    To => "To", 't';
    Unsupported => "Unsupported";
    UserAgent => "User-Agent";
    Via => "Via", 'v';
    Warning => "Warning";
    WwwAuthenticate => "WWW-Authenticate";
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
