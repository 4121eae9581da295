//! The `Digest k=v, k="v", ...` syntax of `Authorization` / `WWW-Authenticate` values (RFC 3261 §25.1
//! `digest-response`, RFC 7616 §3.4): tokens or quoted strings with `\` escapes, comma separated.

use super::DigestCredentials;

/// Upper bound on the size of one header value this parser accepts.
const MAX_VALUE_LEN: usize = 8 * 1024;

/// Why a Digest header value could not be read. Each variant names the parameter where it applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestParseError {
    /// The scheme is not `Digest` (for example `Basic`).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// Longer than the accepted maximum.
    #[error("value longer than {MAX_VALUE_LEN} bytes")]
    TooLong,
    /// A parameter name is missing or holds characters outside `token`.
    #[error("bad parameter name {0:?}")]
    BadName(String),
    /// A parameter without `=value`.
    #[error("parameter {0} has no value")]
    NoValue(String),
    /// A quoted string that never closes.
    #[error("parameter {0}: unterminated quoted string")]
    Unterminated(String),
    /// Text after a value that is not a comma.
    #[error("parameter {0}: unexpected text after the value")]
    Trailing(String),
    /// The same parameter twice.
    #[error("parameter {0} given twice")]
    Duplicate(String),
    /// A parameter the credentials need is absent.
    #[error("parameter {0} is missing")]
    Missing(&'static str),
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Splits `Digest a=b, c="d"` into `(name, value)` pairs, names lower-cased, values unquoted, in order.
/// Works for challenges and credentials alike; a name given twice is an error.
pub fn parse_auth_params(value: &str) -> Result<Vec<(String, String)>, DigestParseError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(DigestParseError::TooLong);
    }
    let rest = value.trim_start();
    let scheme_end = rest
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let (scheme, mut rest) = rest.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestParseError::NotDigest);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        if rest.is_empty() {
            return Ok(out);
        }
        let name_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        if name.is_empty() {
            let bad: String = rest.chars().take(16).collect();
            return Err(DigestParseError::BadName(bad));
        }
        rest = rest[name_end..].trim_start();
        let Some(after_eq) = rest.strip_prefix('=') else {
            return Err(DigestParseError::NoValue(name));
        };
        rest = after_eq.trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (v, after) =
                unquote(quoted).ok_or_else(|| DigestParseError::Unterminated(name.clone()))?;
            rest = after;
            v
        } else {
            let end = rest
                .find(|c: char| c == ',' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let v = rest[..end].to_owned();
            if v.is_empty() {
                return Err(DigestParseError::NoValue(name));
            }
            rest = &rest[end..];
            v
        };
        let trimmed = rest.trim_start();
        if !trimmed.is_empty() && !trimmed.starts_with(',') {
            return Err(DigestParseError::Trailing(name));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(DigestParseError::Duplicate(name));
        }
        out.push((name, value));
    }
}

/// Reads a quoted string whose opening quote is already consumed; returns the value and the rest after
/// the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &s[i + 1..])),
            _ => out.push(ch),
        }
    }
    None
}

/// Parses an `Authorization` / `Proxy-Authorization` Digest value into [`DigestCredentials`].
/// `username`, `realm`, `nonce`, `uri` and `response` must be present; unknown parameters are ignored.
pub fn parse_digest_params(value: &str) -> Result<DigestCredentials, DigestParseError> {
    let mut c = DigestCredentials::default();
    let mut seen = [false; 5];
    for (name, v) in parse_auth_params(value)? {
        let slot = match name.as_str() {
            "username" => (0, &mut c.username),
            "realm" => (1, &mut c.realm),
            "nonce" => (2, &mut c.nonce),
            "uri" => (3, &mut c.uri),
            "response" => (4, &mut c.response),
            "algorithm" => {
                c.algorithm = Some(v);
                continue;
            }
            "cnonce" => {
                c.cnonce = Some(v);
                continue;
            }
            "qop" => {
                c.qop = Some(v);
                continue;
            }
            "nc" => {
                c.nc = Some(v);
                continue;
            }
            "opaque" => {
                c.opaque = Some(v);
                continue;
            }
            _ => continue,
        };
        if let Some(flag) = seen.get_mut(slot.0) {
            *flag = true;
        }
        *slot.1 = v;
    }
    let names = ["username", "realm", "nonce", "uri", "response"];
    if let Some((name, _)) = names.iter().zip(seen).find(|(_, s)| !s) {
        return Err(DigestParseError::Missing(name));
    }
    Ok(c)
}
