//! `a=` lines (RFC 8866 §6): the ones a B2BUA acts on are typed, every other one is kept verbatim.

use std::fmt::{self, Display, Formatter};

/// Stream direction (RFC 8866 §6.7, RFC 3264 §5.1). Absent means `sendrecv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv`.
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction the answerer states for this offer (RFC 3264 §6.1): send-only ↔ receive-only.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// RTP payload type, 0-127.
    pub payload_type: u8,
    /// `PCMU`, `opus`, `telephone-event`...
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters (audio channels), if given.
    pub params: Option<String>,
}

/// `a=fmtp:<format> <format specific parameters>` (RFC 8866 §6.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The format (payload type) it applies to.
    pub format: String,
    /// The parameters, verbatim (`0-16`, `minptime=10;useinbandfec=1`...).
    pub params: String,
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// `(nettype, addrtype, address)`, if given.
    pub address: Option<(String, String, String)>,
}

/// `inline:<key||salt>[|<lifetime>][|<MKI>:<length>]` (RFC 4568 §9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParam {
    /// The key method, `inline`.
    pub method: String,
    /// The key info after the method, verbatim.
    pub info: String,
}

impl KeyParam {
    /// The base64 key‖salt (before any `|lifetime|MKI`).
    pub fn key_salt(&self) -> &str {
        self.info.split('|').next().unwrap_or("")
    }
}

/// `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]` (RFC 4568 §9.1, SDES-SRTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag (decimal, up to 9 digits) that the answer echoes.
    pub tag: u32,
    /// `AES_CM_128_HMAC_SHA1_80`...
    pub suite: String,
    /// One or more key parameters, `;` separated in the text.
    pub key_params: Vec<KeyParam>,
    /// Session parameters (`UNENCRYPTED_SRTCP`, `KDR=..`), verbatim.
    pub session_params: Vec<String>,
}

/// One `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap`.
    RtpMap(RtpMap),
    /// `a=fmtp`.
    Fmtp(Fmtp),
    /// `a=ptime:<ms>`.
    Ptime(u32),
    /// `a=sendrecv` / `sendonly` / `recvonly` / `inactive`.
    Direction(Direction),
    /// `a=rtcp`.
    Rtcp(Rtcp),
    /// `a=rtcp-mux` (RFC 5761).
    RtcpMux,
    /// `a=crypto`.
    Crypto(Crypto),
    /// Any other attribute, as written: name and optional value.
    Other {
        /// The attribute name.
        name: String,
        /// The value after `:`, if any.
        value: Option<String>,
    },
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

fn split_space(s: &str) -> Option<(&str, &str)> {
    s.split_once(' ')
}

impl Attribute {
    /// Parses the text after `a=`. Errors name the attribute and the reason.
    pub fn parse(text: &str) -> Result<Attribute, String> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if !is_token(name) {
            return Err(format!("attribute name {name:?} is not a token"));
        }
        let bad = |why: &str| format!("a={name}: {why}");
        Ok(match (name, value) {
            ("sendrecv", None) => Attribute::Direction(Direction::SendRecv),
            ("sendonly", None) => Attribute::Direction(Direction::SendOnly),
            ("recvonly", None) => Attribute::Direction(Direction::RecvOnly),
            ("inactive", None) => Attribute::Direction(Direction::Inactive),
            ("rtcp-mux", None) => Attribute::RtcpMux,
            ("ptime", Some(v)) => Attribute::Ptime(v.parse().map_err(|_| bad("not a number"))?),
            ("rtpmap", Some(v)) => Attribute::RtpMap(parse_rtpmap(v).ok_or_else(|| {
                bad("expected <payload type> <encoding>/<clock rate>[/<params>]")
            })?),
            ("fmtp", Some(v)) => {
                let (format, params) = split_space(v).unwrap_or((v, ""));
                if !is_token(format) {
                    return Err(bad("format is not a token"));
                }
                Attribute::Fmtp(Fmtp {
                    format: format.into(),
                    params: params.into(),
                })
            }
            ("rtcp", Some(v)) => Attribute::Rtcp(
                parse_rtcp(v)
                    .ok_or_else(|| bad("expected <port> [<nettype> <addrtype> <address>]"))?,
            ),
            ("crypto", Some(v)) => Attribute::Crypto(parse_crypto(v).ok_or_else(|| {
                bad("expected <tag> <suite> <method>:<key info>[;...] [<session params>]")
            })?),
            _ => Attribute::Other {
                name: name.into(),
                value: value.map(str::to_owned),
            },
        })
    }
}

fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = split_space(v)?;
    let payload_type: u8 = pt.parse().ok().filter(|p| *p <= 127)?;
    let mut parts = rest.splitn(3, '/');
    let encoding = parts.next().filter(|e| is_token(e))?;
    let clock_rate = parts.next()?.parse().ok()?;
    let params = match parts.next() {
        Some(p) if is_token(p) => Some(p.to_owned()),
        Some(_) => return None,
        None => None,
    };
    Some(RtpMap {
        payload_type,
        encoding: encoding.into(),
        clock_rate,
        params,
    })
}

fn parse_rtcp(v: &str) -> Option<Rtcp> {
    let mut words = v.split(' ');
    let port = words.next()?.parse().ok()?;
    let address = match (words.next(), words.next(), words.next(), words.next()) {
        (None, ..) => None,
        (Some(n), Some(t), Some(a), None) if is_token(n) && is_token(t) && !a.is_empty() => {
            Some((n.to_owned(), t.to_owned(), a.to_owned()))
        }
        _ => return None,
    };
    Some(Rtcp { port, address })
}

fn parse_crypto(v: &str) -> Option<Crypto> {
    let mut words = v.split(' ');
    let tag = words.next().filter(|t| t.len() <= 9)?.parse().ok()?;
    let suite = words.next().filter(|s| is_token(s))?;
    let key_params = words
        .next()?
        .split(';')
        .map(|kp| {
            let (method, info) = kp.split_once(':')?;
            (is_token(method) && !info.is_empty()).then(|| KeyParam {
                method: method.into(),
                info: info.into(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let session_params: Vec<String> = words.map(str::to_owned).collect();
    if session_params.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(Crypto {
        tag,
        suite: suite.into(),
        key_params,
        session_params,
    })
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::RtpMap(r) => {
                write!(
                    f,
                    "rtpmap:{} {}/{}",
                    r.payload_type, r.encoding, r.clock_rate
                )?;
                if let Some(p) = &r.params {
                    write!(f, "/{p}")?;
                }
                Ok(())
            }
            Attribute::Fmtp(x) if x.params.is_empty() => write!(f, "fmtp:{}", x.format),
            Attribute::Fmtp(x) => write!(f, "fmtp:{} {}", x.format, x.params),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp(r) => {
                write!(f, "rtcp:{}", r.port)?;
                if let Some((n, t, a)) = &r.address {
                    write!(f, " {n} {t} {a}")?;
                }
                Ok(())
            }
            Attribute::RtcpMux => f.write_str("rtcp-mux"),
            Attribute::Crypto(c) => {
                write!(f, "crypto:{} {} ", c.tag, c.suite)?;
                for (i, k) in c.key_params.iter().enumerate() {
                    if i > 0 {
                        f.write_str(";")?;
                    }
                    write!(f, "{}:{}", k.method, k.info)?;
                }
                for p in &c.session_params {
                    write!(f, " {p}")?;
                }
                Ok(())
            }
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}
