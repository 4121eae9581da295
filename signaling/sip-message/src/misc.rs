//! Small typed headers: CSeq, RAck, RSeq, Session-Expires, Min-SE, Replaces, Reason, Content-Type and
//! token lists (Allow, Supported, Require, Proxy-Require, Unsupported).

use std::borrow::Cow;
use std::fmt;

use crate::addr::parse_delta;
use crate::method::Method;
use crate::text::{Params, is_token, split_byte, split_commas, split_params, trim_lws, unquote};

/// `CSeq: 314159 INVITE` (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq<'b> {
    /// Sequence number (below 2^31).
    pub seq: u32,
    /// Method.
    pub method: Method<'b>,
}

/// Parses a 32-bit decimal number (RFC 3261 limits CSeq and RSeq to below 2^31).
fn parse_seq(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n < 1 << 31)
}

fn two_words(s: &str) -> Option<(&str, &str)> {
    let s = trim_lws(s);
    let i = s.bytes().position(|b| b == b' ' || b == b'\t')?;
    Some((&s[..i], trim_lws(&s[i..])))
}

impl<'b> CSeq<'b> {
    /// Parses `number LWS method`.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (n, m) = two_words(s).ok_or("expected number and method")?;
        let seq = parse_seq(n).ok_or("sequence number is not a number below 2^31")?;
        let method = Method::parse(m).ok_or("bad method")?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `RAck: rseq cseq method` (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck<'b> {
    /// The RSeq being acknowledged.
    pub rseq: u32,
    /// CSeq number of the request the response belongs to.
    pub cseq: u32,
    /// CSeq method.
    pub method: Method<'b>,
}

impl<'b> RAck<'b> {
    /// Parses `rseq cseq method`.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (r, rest) = two_words(s).ok_or("expected rseq, cseq and method")?;
        let c = CSeq::parse(rest)?;
        Ok(RAck {
            rseq: parse_seq(r).ok_or("bad rseq")?,
            cseq: c.seq,
            method: c.method,
        })
    }
}

/// Parses `RSeq` (RFC 3262 §7.1): 1 to 2^31-1.
pub fn parse_rseq(s: &str) -> Result<u32, &'static str> {
    parse_seq(trim_lws(s))
        .filter(|&n| n > 0)
        .ok_or("not a number between 1 and 2^31-1")
}

/// Parses a `delta-seconds` value (Expires, Min-Expires, Max-Forwards, Content-Length).
pub fn parse_number(s: &str) -> Result<u32, &'static str> {
    parse_delta(trim_lws(s)).ok_or("not a number")
}

/// `Session-Expires: delta ;refresher=uac` or `Min-SE: delta` (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires<'b> {
    /// Interval in seconds.
    pub delta: u32,
    /// Parameters (`refresher`).
    pub params: Params<'b>,
}

impl<'b> SessionExpires<'b> {
    /// Parses `delta-seconds *(;param)`.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (d, params) = split_params(s)?;
        Ok(SessionExpires {
            delta: parse_delta(d).ok_or("not a number")?,
            params,
        })
    }

    /// `refresher` (`uac` or `uas`).
    pub fn refresher(&self) -> Option<&'b str> {
        self.params.value("refresher")
    }
}

/// `Replaces: call-id;to-tag=..;from-tag=..;early-only` (RFC 3891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'b> {
    /// Call-ID of the dialog to replace.
    pub call_id: &'b str,
    /// Parameters.
    pub params: Params<'b>,
}

impl<'b> Replaces<'b> {
    /// Parses a Replaces value; `to-tag` and `from-tag` are mandatory.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (call_id, params) = split_params(s)?;
        if call_id.is_empty() || call_id.contains([' ', '\t']) {
            return Err("bad call-id");
        }
        let r = Replaces { call_id, params };
        if r.to_tag().is_none() || r.from_tag().is_none() {
            return Err("missing to-tag or from-tag");
        }
        Ok(r)
    }
    /// `to-tag`
    pub fn to_tag(&self) -> Option<&'b str> {
        self.params.value("to-tag")
    }
    /// `from-tag`
    pub fn from_tag(&self) -> Option<&'b str> {
        self.params.value("from-tag")
    }
    /// `early-only` flag
    pub fn early_only(&self) -> bool {
        self.params.contains("early-only")
    }
}

/// `Reason: SIP ;cause=200 ;text="Call completed elsewhere"` (RFC 3326).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'b> {
    /// Protocol (`SIP`, `Q.850`, ...).
    pub protocol: &'b str,
    /// Parameters.
    pub params: Params<'b>,
}

impl<'b> Reason<'b> {
    /// Parses one Reason value.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (protocol, params) = split_params(s)?;
        if !is_token(protocol) {
            return Err("bad protocol");
        }
        let r = Reason { protocol, params };
        if r.params.contains("cause") && r.cause().is_none() {
            return Err("bad cause");
        }
        Ok(r)
    }
    /// `cause`
    pub fn cause(&self) -> Option<u16> {
        self.params.value("cause").and_then(|c| c.parse().ok())
    }
    /// `text`, unquoted
    pub fn text(&self) -> Option<Cow<'b, str>> {
        self.params.value("text").map(unquote)
    }
}

/// `Content-Type: type/subtype;params` (RFC 3261 §20.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'b> {
    /// Top-level type (`application`).
    pub kind: &'b str,
    /// Subtype (`sdp`).
    pub subtype: &'b str,
    /// Parameters (`boundary`, `charset`).
    pub params: Params<'b>,
}

impl<'b> MediaType<'b> {
    /// Parses `type/subtype *(;param)`.
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (mt, params) = split_params(s)?;
        let (kind, subtype) = split_byte(mt, b'/').ok_or("missing /")?;
        let (kind, subtype) = (trim_lws(kind), trim_lws(subtype));
        if !is_token(kind) || !is_token(subtype) {
            return Err("bad media type");
        }
        Ok(MediaType {
            kind,
            subtype,
            params,
        })
    }

    /// True when type and subtype match, ignoring case.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// The multipart `boundary` parameter, unquoted.
    pub fn boundary(&self) -> Option<Cow<'b, str>> {
        self.params.value("boundary").map(unquote)
    }
}

impl fmt::Display for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.kind, self.subtype, self.params)
    }
}

/// Splits a token list (Allow, Supported, Require, ...) and checks each entry is a token.
pub fn parse_tokens(s: &str) -> Result<Vec<&str>, &'static str> {
    split_commas(s)
        .map(|t| {
            if is_token(t) {
                Ok(t)
            } else {
                Err("bad token in list")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_and_rack() {
        assert_eq!(
            CSeq::parse("  4711   INVITE").expect("ok"),
            CSeq {
                seq: 4711,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        let r = RAck::parse("776656 1 INVITE").expect("ok");
        assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, Method::Invite));
        assert_eq!(parse_rseq("0"), Err("not a number between 1 and 2^31-1"));
    }

    #[test]
    fn small_headers() {
        let se = SessionExpires::parse("1800;refresher=uac").expect("ok");
        assert_eq!((se.delta, se.refresher()), (1800, Some("uac")));
        let r =
            Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only")
                .expect("ok");
        assert_eq!(
            (r.call_id, r.to_tag(), r.from_tag(), r.early_only()),
            (
                "98732@sip.example.com",
                Some("ff87ff"),
                Some("r33th4x0r"),
                true
            )
        );
        let reason = Reason::parse("Q.850 ;cause=16 ;text=\"Terminated\"").expect("ok");
        assert_eq!(
            (reason.protocol, reason.cause(), reason.text().as_deref()),
            ("Q.850", Some(16), Some("Terminated"))
        );
        let ct = MediaType::parse("multipart/mixed; boundary=\"unique-boundary-1\"").expect("ok");
        assert!(ct.is("Multipart", "MIXED"));
        assert_eq!(ct.boundary().as_deref(), Some("unique-boundary-1"));
        assert_eq!(
            parse_tokens("INVITE, ACK,BYE").expect("ok"),
            vec!["INVITE", "ACK", "BYE"]
        );
        assert!(parse_tokens("a b").is_err());
        assert_eq!(parse_number("99999999999"), Ok(u32::MAX));
        assert!(parse_number("-1").is_err());
    }
}
