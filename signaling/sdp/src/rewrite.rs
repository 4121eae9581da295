//! What a B2BUA does to an SDP to anchor media on a relay: point connection addresses and media ports at
//! the relay, bump the origin version, and read what the relay must know (payload types,
//! telephone-event, direction, SDES keys).

use std::net::IpAddr;

use crate::attribute::{Attribute, Crypto, Direction, Fmtp, RtpMap};
use crate::model::{Connection, MediaDescription, SessionDescription};

impl SessionDescription {
    /// Points all media at `ip`: the session-level `c=` is set (added when absent), media-level `c=`
    /// lines are replaced by none (the session-level one applies), and `a=rtcp` addresses are rewritten.
    /// The `o=` address is left alone (see [`SessionDescription::set_origin_address`]).
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        let conn = Connection::from_ip(ip);
        self.connection = Some(conn.clone());
        for m in &mut self.media {
            m.connections.clear();
            m.set_rtcp_address(&conn);
        }
    }

    /// Sets the `o=` address (and its address type) to `ip`.
    pub fn set_origin_address(&mut self, ip: IpAddr) {
        let conn = Connection::from_ip(ip);
        self.origin.addr_type = conn.addr_type;
        self.origin.address = conn.address;
    }

    /// Increments `o=` sess-version, as RFC 3264 §8 requires for a changed offer or answer.
    pub fn bump_version(&mut self) {
        self.origin.session_version = self.origin.session_version.wrapping_add(1);
    }

    /// Sets the port of media section `index`; false when there is no such section.
    pub fn set_media_port(&mut self, index: usize, port: u16) -> bool {
        match self.media.get_mut(index) {
            Some(m) => {
                m.set_port(port);
                true
            }
            None => false,
        }
    }

    /// The address media section `index` is sent to: its own `c=`, else the session's.
    pub fn media_address(&self, index: usize) -> Option<IpAddr> {
        let m = self.media.get(index)?;
        m.connections
            .first()
            .or(self.connection.as_ref())
            .and_then(Connection::ip)
    }

    /// The direction of media section `index`: its own attribute, else the session's, else `sendrecv`
    /// (RFC 3264 §5.1).
    pub fn media_direction(&self, index: usize) -> Direction {
        let own = self
            .media
            .get(index)
            .and_then(|m| direction_in(&m.attributes));
        own.or_else(|| direction_in(&self.attributes))
            .unwrap_or(Direction::SendRecv)
    }

    /// The text with `\r\n` line endings, as bytes for a SIP body.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

fn direction_in(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

impl MediaDescription {
    /// Sets the media port; a port-count and an `a=rtcp` port follow it (RTCP on port + 1, RFC 3605),
    /// unless `a=rtcp-mux` puts RTCP on the same port.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
        let mux = self.attributes.contains(&Attribute::RtcpMux);
        for a in &mut self.attributes {
            if let Attribute::Rtcp(r) = a {
                r.port = if mux { port } else { port.wrapping_add(1) };
            }
        }
    }

    fn set_rtcp_address(&mut self, conn: &Connection) {
        for a in &mut self.attributes {
            if let Attribute::Rtcp(r) = a {
                if r.address.is_some() {
                    r.address = Some((
                        conn.net_type.clone(),
                        conn.addr_type.clone(),
                        conn.address.clone(),
                    ));
                }
            }
        }
    }

    /// This section's own direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// Replaces (or adds) this section's direction attribute.
    pub fn set_direction(&mut self, d: Direction) {
        self.attributes
            .retain(|a| !matches!(a, Attribute::Direction(_)));
        self.attributes.push(Attribute::Direction(d));
    }

    /// The `a=rtpmap` lines.
    pub fn rtpmaps(&self) -> impl Iterator<Item = &RtpMap> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::RtpMap(r) => Some(r),
            _ => None,
        })
    }

    /// The `a=rtpmap` of payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// The `a=fmtp` of format `format`.
    pub fn fmtp(&self, format: &str) -> Option<&Fmtp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if f.format == format => Some(f),
            _ => None,
        })
    }

    /// The payload type of `telephone-event` (RFC 4733), preferring the one at `clock_rate` when given
    /// (8000 for narrowband audio), else the first listed in the `m=` line order.
    pub fn telephone_event_payload_type(&self, clock_rate: Option<u32>) -> Option<u8> {
        let listed = |r: &&RtpMap| self.formats.iter().any(|f| f.parse() == Ok(r.payload_type));
        let events: Vec<&RtpMap> = self
            .rtpmaps()
            .filter(|r| r.encoding.eq_ignore_ascii_case("telephone-event"))
            .filter(listed)
            .collect();
        clock_rate
            .and_then(|c| events.iter().find(|r| r.clock_rate == c))
            .or(events.first())
            .map(|r| r.payload_type)
    }

    /// The `a=crypto` lines (SDES, RFC 4568), in preference order.
    pub fn cryptos(&self) -> impl Iterator<Item = &Crypto> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Crypto(c) => Some(c),
            _ => None,
        })
    }

    /// Payload type numbers of the `m=` format list (non-numeric formats skipped).
    pub fn payload_types(&self) -> Vec<u8> {
        self.formats.iter().filter_map(|f| f.parse().ok()).collect()
    }
}
