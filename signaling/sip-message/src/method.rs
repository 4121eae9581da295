//! SIP methods (RFC 3261 §7.1 and extensions); unknown methods are kept as written.

use std::borrow::Cow;
use std::fmt;

use crate::text::is_token;

macro_rules! methods {
    ($( $variant:ident => $s:literal, $rfc:literal ;)*) => {
        /// A request method. Method names are case-sensitive (RFC 3261 §7.1).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Method<'a> {
            $( #[doc = concat!("`", $s, "` (", $rfc, ")")] $variant, )*
            /// Any other method token, as written.
            Extension(Cow<'a, str>),
        }

        impl<'a> Method<'a> {
            /// Recognises `s`; `None` when it is not a token.
            pub fn parse(s: &'a str) -> Option<Method<'a>> {
                match s {
                    $( $s => Some(Method::$variant), )*
                    _ if is_token(s) => Some(Method::Extension(Cow::Borrowed(s))),
                    _ => None,
                }
            }

            /// The method name.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Method::$variant => $s, )*
                    Method::Extension(s) => s,
                }
            }

            /// Copies an extension method name so it no longer borrows.
            pub fn into_owned(self) -> Method<'static> {
                match self {
                    $( Method::$variant => Method::$variant, )*
                    Method::Extension(s) => Method::Extension(Cow::Owned(s.into_owned())),
                }
            }
        }
    };
}

methods! {
    Invite => "INVITE", "RFC 3261";
    Ack => "ACK", "RFC 3261";
    Bye => "BYE", "RFC 3261";
    Cancel => "CANCEL", "RFC 3261";
    Options => "OPTIONS", "RFC 3261";
    Register => "REGISTER", "RFC 3261";
    Prack => "PRACK", "RFC 3262";
    Subscribe => "SUBSCRIBE", "RFC 6665";
    Notify => "NOTIFY", "RFC 6665";
    Publish => "PUBLISH", "RFC 3903";
    Info => "INFO", "RFC 6086";
    Refer => "REFER", "RFC 3515";
    Message => "MESSAGE", "RFC 3428";
    Update => "UPDATE", "RFC 3311";
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
