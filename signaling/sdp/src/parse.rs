//! The SDP reader (RFC 8866 §5, §9 grammar), lenient where real endpoints differ from the grammar
//! (`\n` or `\r\n`, blank lines, trailing blanks on structured lines, no `t=`), strict where a B2BUA relies
//! on the value (`v=0`, `o=`, `c=`, `m=`, typed attributes).

use crate::attribute::Attribute;
use crate::model::{
    Bandwidth, Connection, Line, MediaDescription, Origin, SessionDescription, Timing,
};

/// Limits on what [`SessionDescription::parse`] accepts, against memory blow-up from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpLimits {
    /// Largest body in bytes.
    pub max_bytes: usize,
    /// Most lines.
    pub max_lines: usize,
    /// Most `m=` sections.
    pub max_media: usize,
}

impl SdpLimits {
    /// 64 KiB, 2048 lines, 64 media sections.
    pub const DEFAULT: SdpLimits = SdpLimits {
        max_bytes: 64 * 1024,
        max_lines: 2048,
        max_media: 64,
    };
}

impl Default for SdpLimits {
    fn default() -> Self {
        SdpLimits::DEFAULT
    }
}

/// A rejected session description: the 1-based line (0 for the whole body) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {reason}")]
pub struct SdpError {
    /// 1-based line number; 0 when the problem is the body as a whole.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

fn err<T>(line: usize, reason: impl Into<String>) -> Result<T, SdpError> {
    Err(SdpError {
        line,
        reason: reason.into(),
    })
}

impl SessionDescription {
    /// Parses an SDP body with [`SdpLimits::DEFAULT`].
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        SessionDescription::parse_with(text, &SdpLimits::DEFAULT)
    }

    /// Parses an SDP body given as bytes (a SIP message body); it must be UTF-8.
    pub fn parse_bytes(body: &[u8]) -> Result<SessionDescription, SdpError> {
        match std::str::from_utf8(body) {
            Ok(text) => SessionDescription::parse(text),
            Err(e) => {
                let before = body.get(..e.valid_up_to()).unwrap_or_default();
                let line = 1 + before.iter().filter(|b| **b == b'\n').count();
                err(line, "not UTF-8")
            }
        }
    }

    /// Parses an SDP body within `limits`.
    pub fn parse_with(text: &str, limits: &SdpLimits) -> Result<SessionDescription, SdpError> {
        if text.len() > limits.max_bytes {
            return err(0, format!("body larger than {} bytes", limits.max_bytes));
        }
        let mut lines = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            if lines.len() == limits.max_lines {
                return err(i + 1, format!("more than {} lines", limits.max_lines));
            }
            let bytes = raw.as_bytes();
            let kind = match (bytes.first(), bytes.get(1)) {
                (Some(k), Some(b'=')) if k.is_ascii_alphabetic() => char::from(*k),
                _ => return err(i + 1, "expected <type>=<value>"),
            };
            let value = raw.get(2..).unwrap_or("");
            if value.contains('\r') {
                return err(i + 1, "carriage return inside a line");
            }
            lines.push((i + 1, kind, value));
        }
        Reader {
            limits,
            pos: 0,
            lines,
        }
        .session()
    }
}

struct Reader<'a> {
    limits: &'a SdpLimits,
    pos: usize,
    lines: Vec<(usize, char, &'a str)>,
}

impl<'a> Reader<'a> {
    /// The next line if it has type `kind`.
    fn take(&mut self, kind: char) -> Option<(usize, &'a str)> {
        match self.lines.get(self.pos) {
            Some(&(n, k, v)) if k == kind => {
                self.pos += 1;
                Some((n, v))
            }
            _ => None,
        }
    }

    fn require(&mut self, kind: char, what: &str) -> Result<(usize, &'a str), SdpError> {
        if let Some(l) = self.take(kind) {
            return Ok(l);
        }
        // At the end of the body, the line after the last one.
        let line = match self.lines.get(self.pos) {
            Some(l) => l.0,
            None => self.lines.last().map_or(0, |l| l.0 + 1),
        };
        err(line, format!("expected {kind}= ({what})"))
    }

    fn session(mut self) -> Result<SessionDescription, SdpError> {
        let (n, v) = self.require('v', "protocol version first")?;
        if v.trim_end() != "0" {
            return err(n, "v= must be 0");
        }
        let (n, o) = self.require('o', "origin")?;
        let origin = parse_origin(o.trim_end()).map_err(|r| SdpError { line: n, reason: r })?;
        let (_, s) = self.require('s', "session name")?;
        let mut sd = SessionDescription {
            origin,
            session_name: s.to_owned(),
            information: None,
            descriptive: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timings: Vec::new(),
            other: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        while let Some(&(n, kind, value)) = self.lines.get(self.pos) {
            if kind == 'm' {
                break;
            }
            self.pos += 1;
            let trimmed = value.trim_end();
            match kind {
                'i' if sd.information.is_none() => sd.information = Some(value.to_owned()),
                'c' if sd.connection.is_none() => {
                    sd.connection = Some(at(n, parse_connection(trimmed))?)
                }
                'b' => sd.bandwidths.push(at(n, parse_bandwidth(trimmed))?),
                't' => sd.timings.push(at(n, parse_timing(trimmed))?),
                'r' => match sd.timings.last_mut() {
                    Some(t) => t.repeats.push(trimmed.to_owned()),
                    None => return err(n, "r= without a preceding t="),
                },
                'a' => sd.attributes.push(at(n, Attribute::parse(trimmed))?),
                'i' | 'c' => return err(n, format!("second {kind}= at session level")),
                'v' | 'o' | 's' => {
                    return err(n, format!("{kind}= may appear only once, at the top"));
                }
                'u' | 'e' | 'p' => sd.descriptive.push(verbatim(kind, value)),
                _ => sd.other.push(verbatim(kind, value)),
            }
        }
        while let Some((n, m)) = self.take('m') {
            if sd.media.len() == self.limits.max_media {
                return err(
                    n,
                    format!("more than {} media sections", self.limits.max_media),
                );
            }
            let media = self.media(n, m.trim_end())?;
            sd.media.push(media);
        }
        Ok(sd)
    }

    fn media(&mut self, n: usize, m: &str) -> Result<MediaDescription, SdpError> {
        let mut md = at(n, parse_media_line(m))?;
        while let Some(&(n, kind, value)) = self.lines.get(self.pos) {
            if kind == 'm' {
                break;
            }
            self.pos += 1;
            let trimmed = value.trim_end();
            match kind {
                'i' if md.information.is_none() => md.information = Some(value.to_owned()),
                'c' => md.connections.push(at(n, parse_connection(trimmed))?),
                'b' => md.bandwidths.push(at(n, parse_bandwidth(trimmed))?),
                'a' => md.attributes.push(at(n, Attribute::parse(trimmed))?),
                'i' => return err(n, "second i= in a media section"),
                'v' | 'o' | 's' | 't' | 'r' | 'z' | 'u' | 'e' | 'p' => {
                    return err(n, format!("{kind}= is not allowed in a media section"));
                }
                _ => md.other.push(verbatim(kind, value)),
            }
        }
        Ok(md)
    }
}

fn at<T>(line: usize, r: Result<T, String>) -> Result<T, SdpError> {
    r.map_err(|reason| SdpError { line, reason })
}

fn verbatim(kind: char, value: &str) -> Line {
    Line {
        kind,
        value: value.to_owned(),
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

/// Non-empty, no spaces or control characters.
fn is_word(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn parse_origin(o: &str) -> Result<Origin, String> {
    let w: Vec<&str> = o.split(' ').collect();
    let [user, id, version, net, addr_type, address] = w.as_slice() else {
        return Err(
            "o= needs <username> <sess-id> <sess-version> <nettype> <addrtype> <address>".into(),
        );
    };
    if !is_word(user) || !is_word(address) || !is_token(net) || !is_token(addr_type) {
        return Err("o= has an empty or malformed field".into());
    }
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err("o= sess-id is not numeric".into());
    }
    let session_version = version
        .parse()
        .map_err(|_| "o= sess-version is not a number below 2^64".to_owned())?;
    Ok(Origin {
        username: (*user).into(),
        session_id: (*id).into(),
        session_version,
        net_type: (*net).into(),
        addr_type: (*addr_type).into(),
        address: (*address).into(),
    })
}

fn parse_connection(c: &str) -> Result<Connection, String> {
    let w: Vec<&str> = c.split(' ').collect();
    let [net, addr_type, address] = w.as_slice() else {
        return Err("c= needs <nettype> <addrtype> <connection-address>".into());
    };
    if !is_token(net) || !is_token(addr_type) || !is_word(address) {
        return Err("c= has an empty or malformed field".into());
    }
    let conn = Connection {
        net_type: (*net).into(),
        addr_type: (*addr_type).into(),
        address: (*address).into(),
    };
    let base = address.split('/').next().unwrap_or("");
    let ok = match *addr_type {
        "IP4" => base.parse::<std::net::Ipv4Addr>().is_ok() || is_fqdn(base),
        "IP6" => base.parse::<std::net::Ipv6Addr>().is_ok() || is_fqdn(base),
        _ => true,
    };
    if !ok {
        return Err(format!("c= address {base:?} is not an {addr_type} address"));
    }
    Ok(conn)
}

fn is_fqdn(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn parse_bandwidth(b: &str) -> Result<Bandwidth, String> {
    let (t, v) = b.split_once(':').ok_or("b= needs <bwtype>:<bandwidth>")?;
    if !is_token(t) {
        return Err("b= type is not a token".into());
    }
    let bandwidth = v
        .parse()
        .map_err(|_| "b= bandwidth is not a number".to_owned())?;
    Ok(Bandwidth {
        bw_type: t.into(),
        bandwidth,
    })
}

fn parse_timing(t: &str) -> Result<Timing, String> {
    let (a, b) = t
        .split_once(' ')
        .ok_or("t= needs <start-time> <stop-time>")?;
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("t= time {s:?} is not a number"))
    };
    Ok(Timing {
        start: num(a)?,
        stop: num(b)?,
        repeats: Vec::new(),
    })
}

fn parse_media_line(m: &str) -> Result<MediaDescription, String> {
    let mut w = m.split(' ');
    let media = w
        .next()
        .filter(|s| is_token(s))
        .ok_or("m= media type is not a token")?;
    let port_text = w.next().ok_or("m= needs <media> <port> <proto> <fmt>...")?;
    let (port, port_count) = match port_text.split_once('/') {
        Some((p, n)) => (
            p,
            Some(n.parse().map_err(|_| "m= port count is not a number")?),
        ),
        None => (port_text, None),
    };
    let port = port
        .parse()
        .map_err(|_| format!("m= port {port:?} is not 0-65535"))?;
    let proto = w
        .next()
        .filter(|s| is_word(s))
        .ok_or("m= needs a <proto>")?;
    let formats = w
        .map(|f| {
            if is_word(f) {
                Ok(f.to_owned())
            } else {
                Err("m= has an empty format (double space?)".to_owned())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MediaDescription {
        media: media.into(),
        port,
        port_count,
        proto: proto.into(),
        formats,
        information: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        other: Vec::new(),
        attributes: Vec::new(),
    })
}
