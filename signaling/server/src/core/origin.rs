//! The `o=` line of every SDP the B2BUA sends (RFC 3264 §5, §8; RFC 8866 §5.2). Each party sees one
//! session of ours for the whole call: our username and session id, whoever is on the other side
//! (a transfer or a move to another media node changes the far party or the node, not what this
//! party sees), and a version that goes up by one exactly when what we send it changes. Passing the
//! far party's `o=` through instead would show a party a different session after a transfer, which
//! phones may ignore.

use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use switchboard_media_pool::proto as pb;
use switchboard_sdp::SessionDescription;

/// Our `o=` username.
const USERNAME: &str = "switchboard";

/// The origin shown to the party facing each node leg (A, B) of one call's session.
#[derive(Debug)]
pub(crate) struct Origins {
    legs: [Mutex<Owned>; 2],
}

#[derive(Debug)]
struct Owned {
    session_id: String,
    /// The version of the last SDP sent (0: none yet).
    version: u64,
    /// The last SDP sent, to tell a change from a repeat.
    last: Option<Vec<u8>>,
}

impl Owned {
    fn fresh() -> Self {
        // A random session id (RFC 8866 §5.2 suggests an NTP timestamp; uniqueness is what matters).
        let id = std::collections::hash_map::RandomState::new().hash_one(USERNAME) >> 2;
        Self {
            session_id: id.max(1).to_string(),
            version: 0,
            last: None,
        }
    }

    /// Continues the origin of `sent`, the SDP this party last got (a new session after a move).
    fn continuing(sent: &[u8]) -> Self {
        match SessionDescription::parse_bytes(sent) {
            Ok(sdp) if sdp.origin.username == USERNAME => Self {
                session_id: sdp.origin.session_id,
                version: sdp.origin.session_version,
                last: None,
            },
            _ => Self::fresh(),
        }
    }
}

impl Origins {
    /// New origins for a new call.
    pub(crate) fn new() -> Self {
        Self {
            legs: [Mutex::new(Owned::fresh()), Mutex::new(Owned::fresh())],
        }
    }

    /// Origins continuing what each party last got (`sent_a` faces node leg A).
    pub(crate) fn continuing(sent_a: &[u8], sent_b: &[u8]) -> Self {
        Self {
            legs: [
                Mutex::new(Owned::continuing(sent_a)),
                Mutex::new(Owned::continuing(sent_b)),
            ],
        }
    }

    /// Puts our origin on `sdp`, about to be sent to the party facing node leg `leg`: the same
    /// version as last time when nothing else changed, else one more. Keeps the address `sdp` has.
    pub(crate) fn stamp(&self, leg: pb::Leg, sdp: &mut SessionDescription) {
        let slot = match leg {
            pb::Leg::B => &self.legs[1],
            _ => &self.legs[0],
        };
        let mut owned = slot.lock().unwrap_or_else(PoisonError::into_inner);
        sdp.origin.username = USERNAME.to_owned();
        sdp.origin.session_id = owned.session_id.clone();
        sdp.origin.session_version = owned.version;
        if owned.last.as_deref() == Some(sdp.to_bytes().as_slice()) {
            return;
        }
        owned.version = owned.version.wrapping_add(1);
        sdp.origin.session_version = owned.version;
        owned.last = Some(sdp.to_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(origin: &str, port: u16) -> SessionDescription {
        let text = format!(
            "v=0\r\no={origin} IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0\r\n"
        );
        SessionDescription::parse_bytes(text.as_bytes()).expect("sdp")
    }

    #[test]
    fn rfc3264_s8_each_party_sees_one_session_whose_version_moves_only_on_change() {
        let origins = Origins::new();
        let mut first = sdp("bob 7 7", 4000);
        origins.stamp(pb::Leg::A, &mut first);
        assert_eq!(first.origin.username, "switchboard");
        assert_eq!(first.origin.session_version, 1);
        // The same SDP again (a refresh): same version.
        let mut again = sdp("bob 7 7", 4000);
        origins.stamp(pb::Leg::A, &mut again);
        assert_eq!(again.to_bytes(), first.to_bytes());
        // Another party's SDP after a transfer: still our session, next version.
        let mut carol = sdp("carol 99 1", 4002);
        origins.stamp(pb::Leg::A, &mut carol);
        assert_eq!(carol.origin.session_id, first.origin.session_id);
        assert_eq!(carol.origin.session_version, 2);
        // The other party has its own.
        let mut b = sdp("alice 5 5", 4000);
        origins.stamp(pb::Leg::B, &mut b);
        assert_eq!(b.origin.session_version, 1);
    }

    #[test]
    fn a_moved_call_continues_the_version_each_party_last_got() {
        let before = Origins::new();
        let mut sent_a = sdp("bob 7 7", 4000);
        before.stamp(pb::Leg::A, &mut sent_a);
        before.stamp(pb::Leg::A, &mut sdp("bob 7 7", 4010));
        let mut last_a = sdp("bob 7 7", 4010);
        before.stamp(pb::Leg::A, &mut last_a);
        let after = Origins::continuing(&last_a.to_bytes(), b"not sdp");
        let mut moved = sdp("bob 7 7", 5000);
        after.stamp(pb::Leg::A, &mut moved);
        assert_eq!(moved.origin.session_id, last_a.origin.session_id);
        assert_eq!(
            moved.origin.session_version,
            last_a.origin.session_version + 1
        );
        let mut b = sdp("alice 5 5", 4000);
        after.stamp(pb::Leg::B, &mut b);
        assert_eq!(b.origin.session_version, 1, "no usable SDP: a fresh origin");
    }
}
