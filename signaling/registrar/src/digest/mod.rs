//! HTTP Digest for SIP (RFC 3261 §22, RFC 7616 semantics, RFC 8760 algorithms): stateless nonces bound to
//! time, source address and realm; response verification for MD5 and SHA-256 with `qop=auth`.

use std::net::IpAddr;

use md5::{Digest, Md5};
use sha2::Sha256;

/// A digest algorithm (RFC 8760 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 3261 default when `algorithm` is absent).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// Parses the `algorithm` parameter; `None` for algorithms not supported (including `-sess` forms).
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// The token written in challenges.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// The digest parameters of an `Authorization` header, already unquoted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestCredentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (the digest-uri).
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `algorithm`, if given (absent means MD5).
    pub algorithm: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `nc`, eight hex digits.
    pub nc: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
}

/// Parses `Digest k=v, k="v", ...` (quoted strings with `\` escapes). Returns `None` when the scheme is
/// not Digest or the syntax is broken. Unknown parameters are ignored.
pub fn parse_digest_params(value: &str) -> Option<DigestCredentials> {
    let rest = value.trim_start();
    let (scheme, mut rest) = rest.split_at(rest.find(|c: char| c.is_whitespace())?);
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut c = DigestCredentials::default();
    loop {
        rest = rest.trim_start_matches(|ch: char| ch.is_whitespace() || ch == ',');
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(q) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => out.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => out.push(ch),
                }
            }
            rest = &q[end?..];
            out
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let v = rest[..end].trim().to_owned();
            rest = &rest[end..];
            v
        };
        match name.as_str() {
            "username" => c.username = value,
            "realm" => c.realm = value,
            "nonce" => c.nonce = value,
            "uri" => c.uri = value,
            "response" => c.response = value,
            "algorithm" => c.algorithm = Some(value),
            "cnonce" => c.cnonce = Some(value),
            "qop" => c.qop = Some(value),
            "nc" => c.nc = Some(value),
            "opaque" => c.opaque = Some(value),
            _ => {}
        }
    }
    Some(c)
}

/// Formats one `WWW-Authenticate` value.
pub fn format_challenge(
    realm: &str,
    nonce: &str,
    opaque: &str,
    algorithm: Algorithm,
    stale: bool,
) -> String {
    let mut s = format!(
        "Digest realm=\"{}\", nonce=\"{nonce}\", opaque=\"{opaque}\", algorithm={}, qop=\"auth\"",
        realm.replace('\\', "\\\\").replace('"', "\\\""),
        algorithm.as_str()
    );
    if stale {
        s.push_str(", stale=true");
    }
    s
}

/// Computes the expected `response` for `qop=auth` (RFC 7616 §3.4.1) from HA1.
pub fn expected_response(alg: Algorithm, ha1: &str, method: &str, c: &DigestCredentials) -> String {
    let ha2 = alg.hex(&format!("{method}:{}", c.uri));
    alg.hex(&format!(
        "{ha1}:{}:{}:{}:{}:{ha2}",
        c.nonce,
        c.nc.as_deref().unwrap_or(""),
        c.cnonce.as_deref().unwrap_or(""),
        c.qop.as_deref().unwrap_or("")
    ))
}

/// HA1 = H(username:realm:password).
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hex(&format!("{username}:{realm}:{password}"))
}

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

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
        if nonce.len() != 56 || !nonce.is_ascii() {
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
mod tests;
