//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3) and the fields the caller extracts.

use std::fmt;

/// The RFC 3261 branch prefix that marks a globally unique branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Which side of the transaction this element plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// We sent the request (UAC, or a proxy's client side).
    Client,
    /// We received the request (UAS, or a proxy's server side).
    Server,
}

/// Identifies one transaction: role, top Via branch and sent-by, and method (CSeq method for
/// responses). ACK is keyed as `INVITE` so it matches its INVITE server transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionKey {
    /// Client or server side.
    pub role: Role,
    /// The top Via `branch` parameter (or a synthesized RFC 2543 stand-in, see
    /// [`RequestInfo::key`]).
    pub branch: String,
    /// The top Via sent-by (`host[:port]`), as it appears in the message.
    pub sent_by: String,
    /// The method of the request that created the transaction (`ACK` maps to `INVITE`).
    pub method: String,
}

impl TransactionKey {
    /// A client transaction key for a request we send with this top Via.
    pub fn client(branch: &str, sent_by: &str, method: &str) -> Self {
        Self::new(Role::Client, branch, sent_by, method)
    }

    /// A server transaction key for a request received with this top Via.
    pub fn server(branch: &str, sent_by: &str, method: &str) -> Self {
        Self::new(Role::Server, branch, sent_by, method)
    }

    fn new(role: Role, branch: &str, sent_by: &str, method: &str) -> Self {
        let method = if method == "ACK" { "INVITE" } else { method };
        Self {
            role,
            branch: branch.to_owned(),
            sent_by: sent_by.to_owned(),
            method: method.to_owned(),
        }
    }

    /// The key of the INVITE server transaction a CANCEL with this key refers to (§9.2).
    pub fn cancelled_invite(&self) -> Option<Self> {
        (self.method == "CANCEL").then(|| Self {
            method: "INVITE".to_owned(),
            ..self.clone()
        })
    }

    /// True if the branch carries the RFC 3261 magic cookie.
    pub fn has_magic_cookie(&self) -> bool {
        self.branch.starts_with(MAGIC_COOKIE)
    }
}

impl fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} {};branch={}",
            self.role, self.method, self.sent_by, self.branch
        )
    }
}

/// The fields of a received request the layer needs, extracted by the caller's parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestInfo<'a> {
    /// The request method (case-sensitive, RFC 3261 §7.1).
    pub method: &'a str,
    /// The top Via `branch` parameter (empty if absent).
    pub branch: &'a str,
    /// The top Via sent-by (`host[:port]`), compared exactly: normalize host case and the
    /// default port the same way for every message, or retransmissions will not match.
    pub sent_by: &'a str,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The From tag, if any.
    pub from_tag: Option<&'a str>,
    /// The To tag, if any (a request with one is in-dialog and never merged).
    pub to_tag: Option<&'a str>,
    /// The CSeq sequence number.
    pub cseq: u32,
    /// Whether it arrived over a reliable transport (TCP, TLS, SCTP).
    pub reliable: bool,
}

impl RequestInfo<'_> {
    /// The server transaction key of this request.
    ///
    /// A branch without the magic cookie comes from an RFC 2543 element (§17.2.3); its key uses
    /// a stand-in branch made of the Call-ID, From tag, CSeq number and branch, which matches
    /// retransmissions and the ACK of a non-2xx final (the Request-URI and To tag are not
    /// compared).
    pub fn key(&self) -> TransactionKey {
        if self.branch.starts_with(MAGIC_COOKIE) {
            return TransactionKey::server(self.branch, self.sent_by, self.method);
        }
        let branch = format!(
            "rfc2543;{};{};{};{}",
            self.call_id,
            self.from_tag.unwrap_or(""),
            self.cseq,
            self.branch
        );
        TransactionKey::server(&branch, self.sent_by, self.method)
    }

    /// The §8.2.2.2 merge key, for requests outside a dialog (no To tag) with a From tag.
    pub(crate) fn merge_key(&self) -> Option<MergeKey> {
        if self.to_tag.is_some() || self.method == "ACK" {
            return None;
        }
        Some(MergeKey {
            call_id: self.call_id.to_owned(),
            from_tag: self.from_tag?.to_owned(),
            cseq: self.cseq,
            method: self.method.to_owned(),
        })
    }
}

/// The fields of a received response the layer needs (§17.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseInfo<'a> {
    /// The top Via `branch` parameter.
    pub branch: &'a str,
    /// The top Via sent-by.
    pub sent_by: &'a str,
    /// The CSeq method.
    pub cseq_method: &'a str,
    /// The status code.
    pub status: u16,
}

impl ResponseInfo<'_> {
    /// The client transaction key this response matches.
    pub fn key(&self) -> TransactionKey {
        TransactionKey::client(self.branch, self.sent_by, self.cseq_method)
    }
}

/// What makes two requests "the same request" for loop detection (RFC 3261 §8.2.2.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey {
    call_id: String,
    from_tag: String,
    cseq: u32,
    method: String,
}
