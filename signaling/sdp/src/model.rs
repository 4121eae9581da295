//! The session description as typed values (RFC 8866 §5), and its printer. Printing writes the lines in
//! the order RFC 8866 §5 prescribes, `\r\n` terminated; lines this crate does not model are kept verbatim
//! as [`Line`]s and printed in their section.

use std::fmt::{self, Display, Formatter};
use std::net::IpAddr;

use crate::attribute::Attribute;

/// A line kept as written: its type letter and value (after `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The type letter (`u`, `e`, `p`, `z`, `k`, or an unknown one).
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// `o=` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>` (`-` when none).
    pub username: String,
    /// `<sess-id>`, a numeric string.
    pub session_id: String,
    /// `<sess-version>`; a B2BUA increments it when it changes its SDP.
    pub session_version: u64,
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<unicast-address>`.
    pub address: String,
}

/// `c=` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<connection-address>` as written (a multicast address may carry `/ttl/count`).
    pub address: String,
}

impl Connection {
    /// `IN IP4 a.b.c.d` or `IN IP6 x::y` for `ip`.
    pub fn from_ip(ip: IpAddr) -> Connection {
        Connection {
            net_type: "IN".into(),
            addr_type: match ip {
                IpAddr::V4(_) => "IP4",
                IpAddr::V6(_) => "IP6",
            }
            .into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, without any `/ttl/count` suffix; `None` for an FQDN.
    pub fn ip(&self) -> Option<IpAddr> {
        let base = self.address.split('/').next().unwrap_or("");
        base.parse().ok()
    }
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// `CT`, `AS`, `TIAS`...
    pub bw_type: String,
    /// Kilobits per second (bits for TIAS).
    pub bandwidth: u64,
}

/// `t=` with its `r=` lines (RFC 8866 §5.9, §5.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// `<start-time>` (NTP seconds; 0 = unbounded).
    pub start: u64,
    /// `<stop-time>`.
    pub stop: u64,
    /// `r=` lines, verbatim.
    pub repeats: Vec<String>,
}

/// `m=` and its section (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `<media>`: `audio`, `video`, `application`...
    pub media: String,
    /// `<port>`; 0 rejects or disables the stream.
    pub port: u16,
    /// `/<number of ports>`, if given.
    pub port_count: Option<u16>,
    /// `<proto>`: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`...
    pub proto: String,
    /// `<fmt>` list (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// `i=`.
    pub information: Option<String>,
    /// `c=` lines of this media.
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// Other lines of this section (`k=`, unknown types), verbatim.
    pub other: Vec<Line>,
    /// `a=` lines, typed where known.
    pub attributes: Vec<Attribute>,
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=` (a single space when the offerer had nothing to say).
    pub session_name: String,
    /// `i=`.
    pub information: Option<String>,
    /// `u=`, `e=`, `p=` lines, verbatim, printed before `c=`.
    pub descriptive: Vec<Line>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=`.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines (at least one).
    pub timings: Vec<Timing>,
    /// `z=`, `k=` and lines of unknown type at session level, verbatim, printed after the timings.
    pub other: Vec<Line>,
    /// Session-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// `m=` sections.
    pub media: Vec<MediaDescription>,
}

fn line(f: &mut Formatter<'_>, kind: char, value: impl Display) -> fmt::Result {
    write!(f, "{kind}={value}\r\n")
}

impl Display for Connection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl Display for Origin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl Display for Bandwidth {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bw_type, self.bandwidth)
    }
}

impl Display for MediaDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            line(f, 'i', i)?;
        }
        for c in &self.connections {
            line(f, 'c', c)?;
        }
        for b in &self.bandwidths {
            line(f, 'b', b)?;
        }
        for l in &self.other {
            line(f, l.kind, &l.value)?;
        }
        for a in &self.attributes {
            line(f, 'a', a)?;
        }
        Ok(())
    }
}

impl Display for SessionDescription {
    /// The SDP text, `\r\n` line endings (RFC 8866 §5).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        line(f, 'v', 0)?;
        line(f, 'o', &self.origin)?;
        line(f, 's', &self.session_name)?;
        if let Some(i) = &self.information {
            line(f, 'i', i)?;
        }
        for l in &self.descriptive {
            line(f, l.kind, &l.value)?;
        }
        if let Some(c) = &self.connection {
            line(f, 'c', c)?;
        }
        for b in &self.bandwidths {
            line(f, 'b', b)?;
        }
        for t in &self.timings {
            line(f, 't', format_args!("{} {}", t.start, t.stop))?;
            for r in &t.repeats {
                line(f, 'r', r)?;
            }
        }
        for l in &self.other {
            line(f, l.kind, &l.value)?;
        }
        for a in &self.attributes {
            line(f, 'a', a)?;
        }
        for m in &self.media {
            m.fmt(f)?;
        }
        Ok(())
    }
}
