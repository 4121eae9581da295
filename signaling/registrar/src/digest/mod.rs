//! HTTP Digest for SIP (RFC 3261 §22, RFC 7616 semantics, RFC 8760 algorithms): algorithms, the
//! `Authorization` parameters, `WWW-Authenticate` formatting and response computation. Nonces live in
//! [`NonceIssuer`].

mod nonce;
mod parse;

pub use nonce::{NonceCheck, NonceIssuer};
pub use parse::{DigestParseError, parse_auth_params, parse_digest_params};

use md5::{Digest, Md5};
use sha2::Sha256;

/// A digest algorithm (RFC 8760 §2, RFC 7616 §3.4.2 for the `-sess` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 3261 default when `algorithm` is absent).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
    /// `MD5-sess`: HA1 = MD5(MD5(user:realm:password):nonce:cnonce).
    Md5Sess,
    /// `SHA-256-sess`: the same with SHA-256.
    Sha256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` parameter (case-insensitive); `None` for algorithms not supported.
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Sha256,
            Algorithm::Md5Sess,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The token written in challenges.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// The hash under the algorithm: `Md5` for `MD5` and `MD5-sess`, `Sha256` for the SHA-256 pair. A
    /// stored HA1 belongs to a hash, not to a `-sess` variant.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_sess(self) -> bool {
        self != self.base()
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &str) -> String {
        match self.base() {
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
            _ => hex::encode(Md5::digest(data.as_bytes())),
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

/// Formats one `WWW-Authenticate` value:
/// `Digest realm="..", nonce="..", opaque="..", algorithm=.., qop="auth"[, stale=true]`.
pub fn format_challenge(
    realm: &str,
    nonce: &str,
    opaque: &str,
    algorithm: Algorithm,
    stale: bool,
) -> String {
    let mut s = format!(
        "Digest realm=\"{}\", nonce=\"{}\", opaque=\"{}\", algorithm={}, qop=\"auth\"",
        quote(realm),
        quote(nonce),
        quote(opaque),
        algorithm.as_str()
    );
    if stale {
        s.push_str(", stale=true");
    }
    s
}

/// Escapes `\` and `"` for a quoted-string.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// HA1 = H(username:realm:password) (RFC 7616 §3.4.2). For a `-sess` algorithm this is the stored value;
/// [`session_ha1`] derives the per-nonce one.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hex(&format!("{username}:{realm}:{password}"))
}

/// The HA1 used in the response: `ha1` itself, or for `-sess` H(ha1:nonce:cnonce).
pub fn session_ha1(alg: Algorithm, ha1: &str, nonce: &str, cnonce: &str) -> String {
    if alg.is_sess() {
        alg.hex(&format!("{ha1}:{nonce}:{cnonce}"))
    } else {
        ha1.to_owned()
    }
}

/// Computes the expected `response` from the stored HA1 (H(user:realm:password)).
///
/// With `qop` (RFC 7616 §3.4.1): H(HA1:nonce:nc:cnonce:qop:HA2); without `qop` (RFC 2069 legacy):
/// H(HA1:nonce:HA2). HA2 = H(method:digest-uri). Whether the legacy form is acceptable is the caller's
/// policy.
pub fn expected_response(alg: Algorithm, ha1: &str, method: &str, c: &DigestCredentials) -> String {
    let cnonce = c.cnonce.as_deref().unwrap_or("");
    let ha1 = session_ha1(alg, ha1, &c.nonce, cnonce);
    let ha2 = alg.hex(&format!("{method}:{}", c.uri));
    match c.qop.as_deref() {
        Some(qop) => alg.hex(&format!(
            "{ha1}:{}:{}:{cnonce}:{qop}:{ha2}",
            c.nonce,
            c.nc.as_deref().unwrap_or(""),
        )),
        None => alg.hex(&format!("{ha1}:{}:{ha2}", c.nonce)),
    }
}

/// Equality that takes the same time wherever the first difference is (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
