//! The API bearer token: from `[http] api_token` when set, else read from `[http] api_token_file`,
//! else generated at first start (256 random bits, hex) and written to that file with mode 0600.
//! There is no default token.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where the token came from (logged, never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `[http] api_token`.
    Config,
    /// Read from the token file.
    File,
    /// Generated now and written to the token file.
    Generated,
}

/// Resolves the token; `Err` names the file and the I/O problem.
pub fn resolve(configured: Option<&str>, file: &Path) -> Result<(String, TokenSource), String> {
    if let Some(t) = configured {
        return Ok((t.to_owned(), TokenSource::Config));
    }
    match std::fs::read_to_string(file) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok((text.trim().to_owned(), TokenSource::File));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    }
    let token = generate()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    f.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok((token, TokenSource::Generated))
}

fn generate() -> Result<String, String> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| format!("no random source for the API token: {e}"))?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without an early exit on the first differing byte.
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generated_once_then_read_back_with_owner_only_permissions() {
        let dir = std::env::temp_dir().join(format!("sb-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("api-token");
        let (first, src) = resolve(None, &file).unwrap();
        assert_eq!(src, TokenSource::Generated);
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, src) = resolve(None, &file).unwrap();
        assert_eq!((again.as_str(), src), (first.as_str(), TokenSource::File));
        let (cfg, src) = resolve(Some("s3cret"), &file).unwrap();
        assert_eq!((cfg.as_str(), src), ("s3cret", TokenSource::Config));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn comparison_needs_the_whole_token() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "ab"));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abc", "abd"));
        assert!(!matches("abc", ""));
    }
}
