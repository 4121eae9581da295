//! `[registrar] shared_redis_url` and `nonce_secret_file`: several signaling nodes sharing their
//! registrations through Redis (DESIGN.md "Scale-out"), and accepting each other's digest nonces.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{ConfigIssue, RegistrarSection};

/// Shortest accepted nonce secret file, bytes.
pub(super) const MIN_NONCE_SECRET_BYTES: usize = 32;

/// Registrations shared between nodes, validated.
#[derive(Debug, Clone, Default)]
pub struct SharedRegistrations {
    /// `registrar.shared_redis_url`; `None` keeps the location service in this process only.
    pub redis_url: Option<String>,
    /// The nonce key derived from `registrar.nonce_secret_file`; `None` = random per process.
    pub nonce_secret: Option<NonceSecret>,
}

/// The digest nonce key: SHA-256 of the secret file's bytes, so every node reading the same file
/// issues and accepts the same nonces (and `opaque`).
#[derive(Clone, PartialEq, Eq)]
pub struct NonceSecret(pub [u8; 32]);

impl std::fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceSecret(..)")
    }
}

/// Validates the two keys, recording problems in `issues` with their key paths. A relative
/// `nonce_secret_file` is read relative to the config file's folder.
pub(super) fn validate(
    section: &RegistrarSection,
    base_dir: Option<&Path>,
    issues: &mut Vec<ConfigIssue>,
) -> SharedRegistrations {
    let mut issue = |key: &str, message: String| {
        issues.push(ConfigIssue {
            key: format!("registrar.{key}"),
            message,
        })
    };
    let redis_url = section.shared_redis_url.clone();
    if let Some(url) = &redis_url {
        let scheme_ok = url.starts_with("redis://") || url.starts_with("redis+unix://");
        if !scheme_ok || redis::Client::open(url.as_str()).is_err() {
            issue(
                "shared_redis_url",
                format!("`{url}` is not a Redis URL like redis://127.0.0.1:6379"),
            );
        }
    }
    let nonce_secret = match &section.nonce_secret_file {
        Some(file) => {
            let path = match base_dir {
                Some(dir) => dir.join(file),
                None => Path::new(file).to_path_buf(),
            };
            match read_secret(&path) {
                Ok(s) => Some(s),
                Err(e) => {
                    issue("nonce_secret_file", e);
                    None
                }
            }
        }
        None if redis_url.is_some() => {
            issue(
                "nonce_secret_file",
                "required with registrar.shared_redis_url: nodes must accept each other's nonces"
                    .into(),
            );
            None
        }
        None => None,
    };
    SharedRegistrations {
        redis_url,
        nonce_secret,
    }
}

/// The key from a secret file of at least [`MIN_NONCE_SECRET_BYTES`] bytes.
fn read_secret(path: &Path) -> Result<NonceSecret, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() < MIN_NONCE_SECRET_BYTES {
        return Err(format!(
            "{} holds {} bytes, fewer than {MIN_NONCE_SECRET_BYTES} (e.g. `openssl rand -hex 32 > {}`)",
            path.display(),
            bytes.len(),
            path.display()
        ));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&Sha256::digest(&bytes));
    Ok(NonceSecret(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(url: Option<&str>, file: Option<&str>) -> RegistrarSection {
        RegistrarSection {
            shared_redis_url: url.map(str::to_owned),
            nonce_secret_file: file.map(str::to_owned),
            ..RegistrarSection::default()
        }
    }

    fn keys(issues: &[ConfigIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn unset_keys_keep_registrations_in_process() {
        let mut issues = Vec::new();
        let s = validate(&section(None, None), None, &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!((s.redis_url, s.nonce_secret), (None, None));
    }

    #[test]
    fn errors_name_the_key() {
        let dir = std::env::temp_dir().join(format!("sb-shared-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("short"), b"too short").expect("write");
        let mut issues = Vec::new();
        validate(
            &section(Some("http://127.0.0.1:6379"), Some("short")),
            Some(&dir),
            &mut issues,
        );
        assert_eq!(
            keys(&issues),
            ["registrar.shared_redis_url", "registrar.nonce_secret_file"]
        );
        assert!(issues[1].message.contains("fewer than 32"), "{issues:?}");
        let mut issues = Vec::new();
        validate(
            &section(Some("redis://127.0.0.1:6379"), None),
            None,
            &mut issues,
        );
        assert_eq!(keys(&issues), ["registrar.nonce_secret_file"]);
        let mut issues = Vec::new();
        validate(&section(None, Some("missing")), Some(&dir), &mut issues);
        assert!(issues[0].message.contains("cannot read"), "{issues:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_same_file_gives_every_node_the_same_key() {
        let dir = std::env::temp_dir().join(format!("sb-shared-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("a"), [7u8; 40]).expect("write");
        std::fs::write(dir.join("b"), [8u8; 40]).expect("write");
        let key = |file: &str| {
            let mut issues = Vec::new();
            let s = validate(
                &section(Some("redis://127.0.0.1:6379/0"), Some(file)),
                Some(&dir),
                &mut issues,
            );
            assert!(issues.is_empty(), "{issues:?}");
            s.nonce_secret.expect("secret")
        };
        assert_eq!(key("a"), key("a"));
        assert_ne!(key("a"), key("b"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
