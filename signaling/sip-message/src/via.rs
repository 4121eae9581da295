//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`; RFC 5118 IPv6 `received`).

use std::fmt;

use crate::text::{Params, is_token, split_byte, split_params, trim_lws};
use crate::uri::Host;

/// One Via value: `SIP/2.0/UDP host:port;branch=...;params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'b> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'b str,
    /// Protocol version, normally `2.0`.
    pub version: &'b str,
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`, ...).
    pub transport: &'b str,
    /// The sent-by host.
    pub host: Host<'b>,
    /// The sent-by port, when written.
    pub port: Option<u16>,
    /// All parameters (`branch`, `received`, `rport`, `maddr`, `ttl` and any other).
    pub params: Params<'b>,
}

/// The RFC 3581 `rport` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    /// `rport` without a value: the client asks for the source port to be filled in.
    Requested,
    /// `rport=port`.
    Port(u16),
}

impl<'b> Via<'b> {
    /// Parses one Via value (already split from a comma list).
    pub fn parse(s: &'b str) -> Result<Self, &'static str> {
        let (protocol, rest) = split_byte(s, b'/').ok_or("missing protocol")?;
        let (version, rest) = split_byte(rest, b'/').ok_or("missing version")?;
        let rest = trim_lws(rest);
        let split = rest
            .bytes()
            .position(|b| b == b' ' || b == b'\t')
            .ok_or("missing sent-by")?;
        let (transport, sent) = (&rest[..split], trim_lws(&rest[split..]));
        let (protocol, version) = (trim_lws(protocol), trim_lws(version));
        if !is_token(protocol) || !is_token(version) || !is_token(transport) {
            return Err("bad sent-protocol");
        }
        let (sent_by, params) = split_params(sent)?;
        let (host, port) = Host::parse_with_port(sent_by)?;
        let via = Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        };
        via.check_params()?;
        Ok(via)
    }

    fn check_params(&self) -> Result<(), &'static str> {
        for p in self.params.iter() {
            let n = p.name;
            if n.eq_ignore_ascii_case("branch") {
                if !p.value.is_some_and(is_token) {
                    return Err("bad branch");
                }
            } else if n.eq_ignore_ascii_case("received") {
                Host::parse_address(p.value.ok_or("empty received")?)
                    .map_err(|_| "bad received")?;
            } else if n.eq_ignore_ascii_case("rport") {
                if let Some(v) = p.value {
                    crate::uri::parse_port(v).map_err(|_| "bad rport")?;
                }
            } else if n.eq_ignore_ascii_case("ttl") {
                p.value
                    .and_then(|t| t.parse::<u8>().ok())
                    .ok_or("bad ttl")?;
            } else if n.eq_ignore_ascii_case("maddr") {
                Host::parse_address(p.value.ok_or("empty maddr")?).map_err(|_| "bad maddr")?;
            }
        }
        Ok(())
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'b str> {
        self.params.value("branch")
    }

    /// True when the branch carries the RFC 3261 magic cookie `z9hG4bK`.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// The `received` parameter (as written; may be an unbracketed IPv6 address).
    pub fn received(&self) -> Option<&'b str> {
        self.params.value("received")
    }

    /// The `rport` parameter.
    pub fn rport(&self) -> Option<Rport> {
        match self.params.get("rport")? {
            None => Some(Rport::Requested),
            Some(p) => p.parse().ok().map(Rport::Port),
        }
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'b str> {
        self.params.value("maddr")
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|t| t.parse().ok())
    }

    /// Any parameter's raw value.
    pub fn param(&self, name: &str) -> Option<&'b str> {
        self.params.value(name)
    }

    /// True for connection-oriented transports (TCP, TLS, SCTP, WS, WSS).
    pub fn is_reliable(&self) -> bool {
        !self.transport.eq_ignore_ascii_case("UDP")
    }

    /// Writes this Via with `received` and `rport` replaced by the given values (RFC 3261 §18.2.1,
    /// RFC 3581 §4). Other parameters keep their order.
    pub fn to_string_with_received(&self, received: Option<&str>, rport: Option<u16>) -> String {
        let mut s = String::with_capacity(64 + self.params.raw().len());
        use fmt::Write;
        let _ = write!(
            s,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        );
        if let Some(p) = self.port {
            let _ = write!(s, ":{p}");
        }
        for p in self.params.iter() {
            let replaced = (received.is_some() && p.name.eq_ignore_ascii_case("received"))
                || (rport.is_some() && p.name.eq_ignore_ascii_case("rport"));
            if replaced {
                continue;
            }
            match p.value {
                Some(v) => {
                    let _ = write!(s, ";{}={}", p.name, v);
                }
                None => {
                    let _ = write!(s, ";{}", p.name);
                }
            }
        }
        if let Some(r) = received {
            let _ = write!(s, ";received={r}");
        }
        if let Some(p) = rport {
            let _ = write!(s, ";rport={p}");
        }
        s
    }
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_fields() {
        let v = Via::parse("SIP / 2.0 / UDP [2001:db8::9:1]:5062 ;branch=z9hG4bKas;rport;received=2001:db8::9:255;ttl=16;maddr=224.2.0.1;x")
            .expect("valid");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::Ipv6("2001:db8::9:1".parse().expect("v6")));
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.branch(), Some("z9hG4bKas"));
        assert_eq!(v.rport(), Some(Rport::Requested));
        assert_eq!(v.received(), Some("2001:db8::9:255"));
        assert_eq!(v.ttl(), Some(16));
        assert_eq!(v.maddr(), Some("224.2.0.1"));
        assert!(v.params.contains("x"));
        assert_eq!(
            v.to_string_with_received(Some("192.0.2.1"), Some(5070)),
            "SIP/2.0/UDP [2001:db8::9:1]:5062;branch=z9hG4bKas;ttl=16;maddr=224.2.0.1;x;received=192.0.2.1;rport=5070"
        );
    }

    #[test]
    fn bad_vias() {
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;ttl=300").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;branch").is_err());
        assert!(Via::parse("SIP/2.0/UDP 2001:db8::1;branch=z9hG4bK1").is_err());
    }
}
