//! RFC 4568 SDES `a=crypto` attribute: parsing an offer/answer line and generating our own.

use std::fmt;

use thiserror::Error;

use super::base64;

/// Master key length of the AES_CM_128 suites.
pub const MASTER_KEY_LEN: usize = 16;
/// Master salt length of the AES_CM_128 suites.
pub const MASTER_SALT_LEN: usize = 14;
/// `inline:` key material length: key || salt.
pub const KEY_SALT_LEN: usize = MASTER_KEY_LEN + MASTER_SALT_LEN;

/// Supported SDES crypto suites (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpSuite {
    /// AES_CM_128_HMAC_SHA1_80: 80-bit SRTP auth tag.
    AesCm128HmacSha1_80,
    /// AES_CM_128_HMAC_SHA1_32: 32-bit SRTP auth tag (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// The suite name as written in SDP.
    pub fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::AesCm128HmacSha1_80, Self::AesCm128HmacSha1_32]
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// Why an `a=crypto` attribute is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdesError {
    /// The tag is missing or not a 1-9 digit decimal number.
    #[error("a=crypto: tag is missing or not a decimal number")]
    BadTag,
    /// The crypto-suite field is missing.
    #[error("a=crypto: crypto-suite is missing")]
    MissingSuite,
    /// The suite is not one we support.
    #[error("a=crypto: unsupported crypto-suite {0}")]
    UnsupportedSuite(String),
    /// The key-params field is missing or does not start with `inline:`.
    #[error("a=crypto: key-params must be inline:<base64 key||salt>")]
    BadKeyMethod,
    /// More than one key-params (`;`-separated) given.
    #[error("a=crypto: multiple key-params are not supported")]
    MultipleKeys,
    /// The key is not valid base64 or not 30 bytes of key||salt.
    #[error("a=crypto: inline key is not base64 of 30 bytes key||salt")]
    BadKey,
    /// The lifetime is not a decimal number or `2^n`.
    #[error("a=crypto: bad key lifetime {0:?}")]
    BadLifetime(String),
    /// An MKI was given; MKI is not supported.
    #[error("a=crypto: MKI is not supported")]
    MkiUnsupported,
    /// Session parameters (KDR, UNENCRYPTED_SRTP, ...) are not supported.
    #[error("a=crypto: unsupported session parameter {0}")]
    SessionParamUnsupported(String),
}

/// One `a=crypto` line's content: tag, suite and master key/salt. `Debug` does not print the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesCrypto {
    /// The tag that the answer echoes.
    pub tag: u32,
    /// The crypto suite.
    pub suite: SrtpSuite,
    /// Master key.
    pub key: [u8; MASTER_KEY_LEN],
    /// Master salt.
    pub salt: [u8; MASTER_SALT_LEN],
}

impl fmt::Debug for SdesCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdesCrypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Writes the attribute value (without `a=crypto:`): `1 AES_CM_128_HMAC_SHA1_80 inline:<base64>`.
impl fmt::Display for SdesCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; KEY_SALT_LEN];
        raw[..MASTER_KEY_LEN].copy_from_slice(&self.key);
        raw[MASTER_KEY_LEN..].copy_from_slice(&self.salt);
        let mut b64 = [0u8; 40];
        let b64 = base64::encode(&raw, &mut b64).ok_or(fmt::Error)?;
        write!(f, "{} {} inline:{}", self.tag, self.suite.name(), b64)
    }
}

impl SdesCrypto {
    /// Builds our key for an offer/answer from 30 injected random bytes (key || salt).
    pub fn generate(tag: u32, suite: SrtpSuite, random: &[u8; KEY_SALT_LEN]) -> Self {
        let mut key = [0u8; MASTER_KEY_LEN];
        let mut salt = [0u8; MASTER_SALT_LEN];
        key.copy_from_slice(&random[..MASTER_KEY_LEN]);
        salt.copy_from_slice(&random[MASTER_KEY_LEN..]);
        Self {
            tag,
            suite,
            key,
            salt,
        }
    }

    /// Parses an attribute, with or without the leading `a=crypto:` / `crypto:`. A lifetime is accepted
    /// and ignored (calls never come near 2^31 packets); MKI, several keys and session parameters are
    /// refused so the caller can try the next `a=crypto` line.
    pub fn parse(line: &str) -> Result<Self, SdesError> {
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let line = line.strip_prefix("crypto:").unwrap_or(line);
        let mut fields = line.split_ascii_whitespace();
        let tag = fields
            .next()
            .filter(|t| (1..=9).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or(SdesError::BadTag)?;
        let suite_name = fields.next().ok_or(SdesError::MissingSuite)?;
        let suite = SrtpSuite::from_name(suite_name)
            .ok_or_else(|| SdesError::UnsupportedSuite(suite_name.to_owned()))?;
        let key_params = fields.next().ok_or(SdesError::BadKeyMethod)?;
        if let Some(param) = fields.next() {
            return Err(SdesError::SessionParamUnsupported(param.to_owned()));
        }
        if key_params.contains(';') {
            return Err(SdesError::MultipleKeys);
        }
        let info = key_params
            .get(..7)
            .filter(|m| m.eq_ignore_ascii_case("inline:"))
            .and_then(|_| key_params.get(7..))
            .ok_or(SdesError::BadKeyMethod)?;
        let mut parts = info.split('|');
        let b64 = parts.next().unwrap_or_default();
        for part in parts {
            if part.contains(':') {
                return Err(SdesError::MkiUnsupported);
            }
            let valid = match part.strip_prefix("2^") {
                Some(exp) => exp.parse::<u8>().is_ok_and(|e| e <= 64),
                None => !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
            };
            if !valid {
                return Err(SdesError::BadLifetime(part.to_owned()));
            }
        }
        let mut raw = [0u8; KEY_SALT_LEN + 3];
        let n = base64::decode(b64.as_bytes(), &mut raw).ok_or(SdesError::BadKey)?;
        if n != KEY_SALT_LEN {
            return Err(SdesError::BadKey);
        }
        let mut key_salt = [0u8; KEY_SALT_LEN];
        key_salt.copy_from_slice(&raw[..KEY_SALT_LEN]);
        Ok(Self::generate(tag, suite, &key_salt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4568 §4 example key.
    const RFC_LINE: &str = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";

    #[test]
    fn rfc4568_s4_example_mki_is_refused_and_lifetime_ignored() {
        assert_eq!(SdesCrypto::parse(RFC_LINE), Err(SdesError::MkiUnsupported));
        let c = SdesCrypto::parse(
            "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20",
        )
        .expect("lifetime accepted");
        assert_eq!((c.tag, c.suite), (1, SrtpSuite::AesCm128HmacSha1_80));
        assert_eq!(&c.key[..4], b"=-n@");
        assert_eq!(
            c.to_string(),
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
        );
        assert!(!format!("{c:?}").contains("61"), "Debug hides key material");
    }

    #[test]
    fn generate_then_parse_round_trip() {
        let random: [u8; 30] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let c = SdesCrypto::generate(2, SrtpSuite::AesCm128HmacSha1_32, &random);
        let line = format!("a=crypto:{c}");
        assert!(line.starts_with("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"));
        assert_eq!(SdesCrypto::parse(&line), Ok(c));
    }

    #[test]
    fn bad_attributes_are_named() {
        let k = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        let cases = [
            (format!("x AES_CM_128_HMAC_SHA1_80 {k}"), SdesError::BadTag),
            ("1".to_owned(), SdesError::MissingSuite),
            (
                format!("1 F8_128_HMAC_SHA1_80 {k}"),
                SdesError::UnsupportedSuite("F8_128_HMAC_SHA1_80".into()),
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 uri:x".to_owned(),
                SdesError::BadKeyMethod,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {k};{k}"),
                SdesError::MultipleKeys,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVe".to_owned(),
                SdesError::BadKey,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:P!1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
                    .to_owned(),
                SdesError::BadKey,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {k}|2^x"),
                SdesError::BadLifetime("2^x".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {k} KDR=1"),
                SdesError::SessionParamUnsupported("KDR=1".into()),
            ),
        ];
        for (line, err) in cases {
            assert_eq!(SdesCrypto::parse(&line), Err(err), "{line}");
        }
    }
}
