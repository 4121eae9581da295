//! Stateless nonces (RFC 7616 §3.3 and §5.4): the issue time and a serial in clear, authenticated by an
//! HMAC-SHA-256 keyed with the server secret over (time, serial, source address, realm). Nothing is stored
//! to validate one; a nonce returned from another address, for another realm or altered is invalid.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::constant_time_eq;

/// HMAC-SHA-256 (RFC 2104) with a key of at most one block.
fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner.finalize());
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us, for this source and realm, still fresh.
    Valid {
        /// When it was issued (seconds).
        issued: u64,
    },
    /// Issued by us for this source and realm, but older than the lifetime: challenge with `stale=true`.
    Stale,
    /// Not ours, altered, or issued to another source or realm.
    Invalid,
}

/// Issues and checks stateless nonces: `hex(issued seconds) || hex(serial) || hex(HMAC(secret, issued, serial,
/// source, realm))`. The serial makes every challenge's nonce unique, so two challenges in one second do not
/// share a nonce-count space.
pub struct NonceIssuer {
    secret: [u8; 32],
    lifetime: u64,
    serial: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl NonceIssuer {
    /// A nonce issuer with a secret from the caller's random source and a lifetime in seconds.
    pub fn new(secret: [u8; 32], lifetime_secs: u64) -> NonceIssuer {
        NonceIssuer {
            secret,
            lifetime: lifetime_secs,
            serial: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// A nonce for `source` in `realm` at time `now` (seconds).
    pub fn issue(&self, now: u64, source: IpAddr, realm: &str) -> String {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mac = self.mac(now, serial, source, realm);
        format!("{now:016x}{serial:08x}{}", hex::encode(&mac[..16]))
    }

    /// Checks a nonce a client returned.
    pub fn check(&self, nonce: &str, now: u64, source: IpAddr, realm: &str) -> NonceCheck {
        // Exactly the form `issue` writes (lower-case hex only), so one nonce has one spelling.
        let canonical = nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if nonce.len() != 56 || !canonical {
            return NonceCheck::Invalid;
        }
        let Ok(issued) = u64::from_str_radix(&nonce[..16], 16) else {
            return NonceCheck::Invalid;
        };
        let Ok(serial) = u32::from_str_radix(&nonce[16..24], 16) else {
            return NonceCheck::Invalid;
        };
        let Ok(mac) = hex::decode(&nonce[24..]) else {
            return NonceCheck::Invalid;
        };
        if !constant_time_eq(&mac, &self.mac(issued, serial, source, realm)[..16]) {
            return NonceCheck::Invalid;
        }
        if issued > now.saturating_add(5) {
            return NonceCheck::Invalid;
        }
        if now.saturating_sub(issued) > self.lifetime {
            return NonceCheck::Stale;
        }
        NonceCheck::Valid { issued }
    }

    /// The nonce lifetime in seconds.
    pub fn lifetime(&self) -> u64 {
        self.lifetime
    }

    /// An opaque value for challenges, also bound to the secret (clients echo it back).
    pub fn opaque(&self, realm: &str) -> String {
        hex::encode(&hmac_sha256(&self.secret, &[b"opaque", realm.as_bytes()])[..8])
    }

    /// A keyed pseudo-random number for `data` under `label`: stable for one secret, unpredictable
    /// without it. Used to give unknown usernames a challenge shape drawn like a real user's.
    pub(crate) fn keyed_u64(&self, label: &[u8], data: &[u8]) -> u64 {
        let mac = hmac_sha256(&self.secret, &[label, data]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        u64::from_be_bytes(first)
    }

    fn mac(&self, issued: u64, serial: u32, source: IpAddr, realm: &str) -> [u8; 32] {
        let ip = match source {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        hmac_sha256(
            &self.secret,
            &[
                &issued.to_be_bytes(),
                &serial.to_be_bytes(),
                &ip,
                realm.as_bytes(),
            ],
        )
    }
}

#[cfg(test)]
mod hmac_tests {
    use super::hmac_sha256;

    #[test]
    fn rfc4231_test_case_2() {
        // A short key is zero-padded to the block size, so "Jefe" padded to 32 bytes is the same key.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex::encode(hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
