//! Where responses go: RFC 3261 §18.2.2 with RFC 3581 (rport) and §18.2.1 (received).

use std::net::{IpAddr, SocketAddr};

use crate::transport::{ConnId, Target, Transport};

/// The fields of a request's top Via that decide where its responses go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaRoute {
    /// Sent-by host as written (a name, an IPv4 address or a bracketed IPv6 reference).
    pub host: String,
    /// Sent-by port, if written.
    pub port: Option<u16>,
    /// `maddr` parameter.
    pub maddr: Option<String>,
    /// `rport` present (RFC 3581), with or without a value.
    pub rport: bool,
}

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Packet source.
    pub source: SocketAddr,
    /// Local address it arrived on.
    pub local: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// TCP connection.
    pub conn: Option<ConnId>,
}

/// RFC 3261 §18.2.2 (+ RFC 3581 §4) target for a response to a request that arrived as `arrival`.
/// Names in sent-by are not resolved (no DNS here): a response for such a Via goes to the source address,
/// which is where a client behind NAT or with a name in its Via can be reached.
pub fn response_target(via: &ViaRoute, arrival: &Arrival) -> Target {
    let default_port = 5060;
    if arrival.transport.is_reliable() {
        // Reliable: the connection the request came on; if it is gone, a new one to the source.
        return Target {
            dest: arrival.source,
            transport: arrival.transport,
            local: Some(arrival.local),
            conn: arrival.conn,
        };
    }
    let dest = if let Some(ip) = via.maddr.as_deref().and_then(parse_host_ip) {
        SocketAddr::new(ip, via.port.unwrap_or(default_port))
    } else if via.rport {
        arrival.source
    } else {
        // received (always the source IP in our stamp) with the sent-by port.
        SocketAddr::new(arrival.source.ip(), via.port.unwrap_or(default_port))
    };
    Target {
        dest,
        transport: arrival.transport,
        local: Some(arrival.local),
        conn: None,
    }
}

fn parse_host_ip(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(source: &str, transport: Transport) -> Arrival {
        Arrival {
            source: source.parse().expect("addr"),
            local: "127.0.0.1:5060".parse().expect("addr"),
            transport,
            conn: Some(ConnId(7)),
        }
    }

    fn via(host: &str, port: Option<u16>, rport: bool) -> ViaRoute {
        ViaRoute {
            host: host.into(),
            port,
            maddr: None,
            rport,
        }
    }

    #[test]
    fn rfc3581_s4_rport_sends_to_source_port() {
        let t = response_target(
            &via("10.0.0.1", Some(5062), true),
            &arrival("192.0.2.9:40000", Transport::Udp),
        );
        assert_eq!(t.dest, "192.0.2.9:40000".parse().expect("addr"));
    }

    #[test]
    fn rfc3261_s18_2_2_udp_without_rport_uses_received_and_sent_by_port() {
        let t = response_target(
            &via("10.0.0.1", Some(5062), false),
            &arrival("192.0.2.9:40000", Transport::Udp),
        );
        assert_eq!(t.dest, "192.0.2.9:5062".parse().expect("addr"));
        let t = response_target(
            &via("10.0.0.1", None, false),
            &arrival("192.0.2.9:40000", Transport::Udp),
        );
        assert_eq!(t.dest.port(), 5060);
    }

    #[test]
    fn rfc3261_s18_2_2_maddr_wins() {
        let mut v = via("10.0.0.1", Some(5070), true);
        v.maddr = Some("239.1.1.1".into());
        let t = response_target(&v, &arrival("192.0.2.9:40000", Transport::Udp));
        assert_eq!(t.dest, "239.1.1.1:5070".parse().expect("addr"));
    }

    #[test]
    fn rfc3261_s18_2_2_reliable_uses_the_same_connection() {
        let t = response_target(
            &via("10.0.0.1", Some(5062), false),
            &arrival("192.0.2.9:40000", Transport::Tcp),
        );
        assert_eq!(t.conn, Some(ConnId(7)));
        assert_eq!(t.dest, "192.0.2.9:40000".parse().expect("addr"));
    }
}
